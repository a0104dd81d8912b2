"""Click attribution: visitor hashing, bot flags, and a durable spool between the redirect and the database.

The redirect answers from memory and appends one line per click to a per-process
spool file *before* it sends the 302, so a click answered is a click on disk: a
worker killed with SIGKILL loses nothing it answered (the kernel keeps the write).
The ``ingest-clicks`` process moves spooled clicks into the database in batches
and adopts the files of processes that died (see ``Flusher``). Ingestion is
idempotent (each click carries a unique id), so a crash between the database
commit and deleting the file only makes the next pass skip what is already in.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from flask import current_app
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from app import events, rawsql
from app.content.models import Post
from app.database import read_intent
from app.extensions import db
from app.tracking.models import Click, NetworkVisit, TrackedLink, UniqueVisit, VisitorSalt

log = logging.getLogger("herald.clicks")

# Crawlers and link-preview fetchers: recorded, flagged, never counted.
BOT_RE = re.compile(
    r"bot|crawl|spider|slurp|preview|facebookexternalhit|facebookcatalog|linkedinbot|twitterbot|slackbot"
    r"|whatsapp|telegrambot|discordbot|skypeuripreview|embedly|quora link|pinterest|vkshare|redditbot"
    r"|google-inspectiontool|headlesschrome|python-requests|curl/|wget/|go-http-client|okhttp|axios",
    re.IGNORECASE,
)
BATCH = 2000


@lru_cache(maxsize=4096)
def is_bot(user_agent: str) -> bool:
    """True for crawlers, link-preview fetchers, scripts, and requests without a user agent.

    Cached: visitors' user agents repeat (a few browser versions make most of them), and the
    pattern search was a noticeable part of a redirect's CPU.
    """
    return not user_agent or bool(BOT_RE.search(user_agent))


class SaltBook:
    """Today's visitor salt, shared by every host through the database, cached per process."""

    def __init__(self):
        self._day: date | None = None
        self._salt: bytes = b""
        self._lock = threading.Lock()

    def salt_for(self, day: date, engine) -> bytes:
        """The salt of ``day`` (created by whichever process asks first)."""
        if day == self._day:
            return self._salt
        with self._lock:
            if day != self._day:
                self._salt = self._load(day, engine)
                self._day = day
        return self._salt

    def forget(self) -> None:
        """Drop the cached salt (the next click reads the day's salt from the database again)."""
        with self._lock:
            self._day, self._salt = None, b""

    @staticmethod
    def _load(day: date, engine) -> bytes:
        table = VisitorSalt.__table__
        with read_intent(), engine.connect() as conn:
            found = conn.execute(select(table.c.salt).where(table.c.day == day)).scalar()
        if found is None:
            # Another process may insert the same day at the same moment; its salt then wins.
            with contextlib.suppress(IntegrityError), engine.begin() as conn:
                conn.execute(insert(table).values(day=day, salt=secrets.token_hex(32)))
            with read_intent(), engine.connect() as conn:
                found = conn.execute(select(table.c.salt).where(table.c.day == day)).scalar()
        return found.encode()


salts = SaltBook()


def visitor_hash(salt: bytes, ip: str, user_agent: str) -> str:
    """A keyed hash of IP and user agent: the same visitor links up within a day, never across days."""
    return hmac.new(salt, f"{ip}|{user_agent}".encode(), hashlib.sha256).hexdigest()[:32]


def _network_of(ip: str) -> str:
    """The address an office behind NAT shares: the IPv4 address itself, or the IPv6 /64 (one site's prefix)."""
    if ":" not in ip:
        return ip  # IPv4 (the common case, without parsing on the redirect's path)
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address)


def network_hash(salt: bytes, ip: str) -> str:
    """A keyed hash of the visitor's network (see ``_network_of``): unlinkable across days, like the visitor hash."""
    return hmac.new(salt, f"net|{_network_of(ip)}".encode(), hashlib.sha256).hexdigest()[:32]


def forget_old_salts(keep_days: int = 2) -> int:
    """Delete salts older than ``keep_days``: yesterday's hashes can then never be recomputed.

    The per-network visitor counts of those days go too: they are only needed while the day's clicks arrive.
    """
    cutoff = datetime.now(UTC).date() - timedelta(days=keep_days)
    db.session.execute(delete(NetworkVisit).where(NetworkVisit.day < cutoff))
    return db.session.execute(delete(VisitorSalt).where(VisitorSalt.day < cutoff)).rowcount


class Spool:
    """Append-only click files in ``<instance>/spool``; one active file per process."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = socket.gethostname().replace("-", "_")
        self._lock = threading.Lock()
        self._pid = None
        self._fd = None
        self._path: Path | None = None
        self._seq = 0
        self._token = ""
        self._lines = 0

    def _open(self):
        self._pid = os.getpid()
        self._token = secrets.token_hex(4)
        self._path = self.folder / f"clicks-{self.host}-{self._pid}-{self._token}.active"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._lines = 0

    def append(self, record: dict) -> None:
        """Write one click (the write reaches the kernel before this returns)."""
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child
                self._open()
            self._seq += 1
            record["uid"] = f"{self.host}-{self._pid}-{self._token}-{self._seq}"
            os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
            self._lines += 1

    def rotate(self) -> None:
        """Hand this process's active file to the ingester and start a new one."""
        with self._lock:
            if self._pid != os.getpid() or not self._lines:
                return
            os.close(self._fd)
            self._path.rename(self._path.with_name(self._path.name.partition(".")[0] + ".ready"))
            self._open()

    def claimable(self) -> list[Path]:
        """Files ready to ingest: rotated ones, and files of processes on this host that died."""
        out = []
        for path in sorted(self.folder.glob("clicks-*")):
            host, writer_pid, state = _parse(path)
            if host != self.host or path == self._path:
                continue
            claimer = int(state[3:]) if state.startswith("ing") and state[3:].isdigit() else None
            orphaned = (state == "active" and not _alive(writer_pid)) or (claimer is not None and not _alive(claimer))
            if state == "ready" or orphaned:
                out.append(path)
        return out


def _parse(path: Path) -> tuple[str, int, str]:
    """``clicks-<host>-<pid>-<token>.<state>`` -> (host, pid, state)."""
    base, _, state = path.name.partition(".")
    parts = base.split("-")
    try:
        return parts[1], int(parts[2]), state
    except (IndexError, ValueError):
        return "", 0, state


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(path: Path) -> Path | None:
    """Rename a file so only this process ingests it (rename is atomic)."""
    base = path.name.partition(".")[0]
    target = path.with_name(f"{base}.ing{os.getpid()}")
    try:
        path.rename(target)
    except FileNotFoundError:
        return None
    return target


def _read(path: Path) -> list[dict]:
    records = []
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # a torn last line from a killed writer: it was never answered
            try:
                records.append(json.loads(raw))
            except ValueError:
                log.warning("skipping an unreadable click line in %s", path.name)
    return records


def ingest_records(records: list[dict]) -> int:
    """Insert spooled clicks (skipping ones already in), decide uniqueness, emit ``click`` events.

    Set-based: ``INSERT .. ON CONFLICT DO NOTHING RETURNING`` on ``unique_visit``
    decides a whole batch's unique clicks (whoever inserts a (link, day, visitor)
    row first owns the unique click, also across concurrent ingesters); counters
    move with one statement per link and post. Returns the number of clicks
    inserted. Runs in the caller's transaction.
    """
    if not records:
        return 0
    uids = [r["uid"] for r in records]
    present = set()
    for start in range(0, len(uids), 500):
        present.update(db.session.scalars(select(Click.uid).where(Click.uid.in_(uids[start : start + 500]))))
    fresh = [r for r in records if r["uid"] not in present]
    if not fresh:
        return 0
    candidates: dict[tuple, str] = {}
    rows = []
    for r in fresh:
        when = datetime.fromtimestamp(r["ts"], UTC)
        day = when.date()
        if not r["bot"] and not r["self"]:
            candidates.setdefault((r["link"], day, r["vh"]), r["uid"])  # the first in the batch wins
        rows.append({
            "uid": r["uid"], "link_id": r["link"], "post_id": r["post"], "sharer_id": r["sharer"],
            "network": r["net"], "clicked_at": when, "day": day, "referrer_host": r.get("ref", "")[:255],
            "visitor_hash": r["vh"], "is_bot": r["bot"], "is_self": r["self"], "is_unique": False,
        })  # fmt: skip
    winners = _first_visits(candidates)
    if winners:
        winners = _cap_per_network(fresh, winners, current_app.config.get("CLICK_VISITORS_PER_NETWORK", 5))
    link_clicks: dict[int, int] = {}
    post_clicks: dict[int, int] = {}
    for row in rows:
        if row["uid"] in winners:
            row["is_unique"] = True
            link_clicks[row["link_id"]] = link_clicks.get(row["link_id"], 0) + 1
            post_clicks[row["post_id"]] = post_clicks.get(row["post_id"], 0) + 1
    db.session.execute(insert(Click), rows)
    _add_clicks(TrackedLink.__table__, link_clicks)
    _add_clicks(Post.__table__, post_clicks)
    if winners:
        sender = current_app._get_current_object()
        for click in db.session.scalars(select(Click).where(Click.uid.in_(list(winners))).order_by(Click.id)):
            events.click.send(sender, click=click)
    return len(rows)


def _first_visits(candidates: dict[tuple, str]) -> set[str]:
    """Insert (link, day, visitor) rows; return the uids of the clicks whose row was new."""
    if not candidates:
        return set()
    dialect_insert = rawsql.dialect_insert(db.session.get_bind().dialect)
    table = UniqueVisit.__table__
    winners: set[str] = set()
    keys = list(candidates)
    for start in range(0, len(keys), 300):
        stmt = (
            dialect_insert(table)
            .values([{"link_id": k[0], "day": k[1], "visitor_hash": k[2]} for k in keys[start : start + 300]])
            .on_conflict_do_nothing()
            .returning(table.c.link_id, table.c.day, table.c.visitor_hash)
        )
        for link_id, day, vh in db.session.execute(stmt):
            winners.add(candidates[(link_id, day, vh)])
    return winners


def _cap_per_network(records: list[dict], winners: set[str], cap: int) -> set[str]:
    """Keep at most ``cap`` point-earning visitors per (link, day, network address); return the kept uids.

    A visitor is a hash of address and user agent, so one machine rotating user agents
    looked like many visitors (35 user agents from one address earned a whole daily cap).
    Offices share an address behind NAT, so a few colleagues still count. Counts live in
    ``network_visit`` and grow with one upsert per batch (``visitors + n RETURNING``), so
    concurrent ingesters on several hosts agree. A visit over the cap is recorded as a
    plain click: not unique, no points. ``cap`` 0 turns the limit off.
    """
    if cap <= 0:
        return winners
    groups: dict[tuple, list[str]] = {}
    for r in records:  # spool order: the first visitors of a network keep their click
        if r["uid"] in winners and r.get("nh"):
            day = datetime.fromtimestamp(r["ts"], UTC).date()
            groups.setdefault((r["link"], day, r["nh"]), []).append(r["uid"])
    if not groups:
        return winners
    kept = set(winners)
    dialect_insert = rawsql.dialect_insert(db.session.get_bind().dialect)
    table = NetworkVisit.__table__
    keys = list(groups)
    for start in range(0, len(keys), 300):
        stmt = dialect_insert(table).values(
            [{"link_id": k[0], "day": k[1], "network_hash": k[2], "visitors": len(groups[k])}
             for k in keys[start : start + 300]]
        )  # fmt: skip
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.link_id, table.c.day, table.c.network_hash],
            set_={"visitors": table.c.visitors + stmt.excluded.visitors},
        ).returning(table.c.link_id, table.c.day, table.c.network_hash, table.c.visitors)
        for link_id, day, nh, total in db.session.execute(stmt):
            uids = groups[(link_id, day, nh)]
            allowed = max(0, cap - (total - len(uids)))
            kept.difference_update(uids[allowed:])
    return kept


def _add_clicks(table, counts: dict[int, int]) -> None:
    """``click_count += n`` for each id in ``counts``, in one executemany."""
    if counts:
        bump = update(table).where(table.c.id == bindparam("p_id"))
        db.session.connection().execute(
            bump.values(click_count=table.c.click_count + bindparam("p_n")),
            [{"p_id": k, "p_n": n} for k, n in counts.items()],
        )


def ingest_spool(spool: Spool) -> int:
    """Move every claimable spool file into the database; returns clicks inserted."""
    from app.database import write_intent

    total = 0
    for path in spool.claimable():
        claimed = _claim(path)
        if claimed is None:
            continue
        records = _read(claimed)
        for start in range(0, len(records), BATCH):
            with write_intent():
                try:
                    total += ingest_records(records[start : start + BATCH])
                    db.session.commit()
                except Exception:
                    db.session.rollback()
                    # Give the file back so the next pass retries it (ingestion is idempotent).
                    claimed.rename(claimed.with_name(claimed.name.partition(".")[0] + ".ready"))
                    raise
        claimed.unlink(missing_ok=True)
    return total


class Flusher:
    """Moves a host's spooled clicks on: a web process hands its file over, the ingester writes them.

    There is one way clicks reach the database: the ``ingest-clicks`` process (``serve``
    starts it beside gunicorn) calls ``flush()`` in a loop, at the lowest CPU priority, so
    redirects never wait for it. In each web process a daemon thread only rotates the
    spool every ``interval`` seconds, handing the finished file over. Tests call
    ``flush()`` themselves: the same pass the ingester runs.
    """

    def __init__(self, app, spool: Spool, interval: float = 0.5):
        self.app = app
        self.spool = spool
        self.interval = interval
        self._pid = None
        self._lock = threading.Lock()
        # One pass at a time in a process: an explicit flush waits for the thread's pass
        # in progress, so when it returns every click spooled before the call is committed.
        self._pass = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def ensure_running(self) -> None:
        """Start the thread in this process if it is not running yet (cheap when it is)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name="herald-click-flusher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop this process's thread (after a pass in progress ends); it does not start again here."""
        with self._lock:
            self._pid = os.getpid()
            self._stop.set()
            thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout=10)

    @contextlib.contextmanager
    def paused(self):
        """Hold off every ingestion pass in this process while the block runs.

        A pass in progress finishes first. Tests empty the database inside this block: a
        PostgreSQL TRUNCATE meeting the thread's open ingestion transaction deadlocks.
        """
        with self._pass:
            yield

    def flush(self) -> int:
        """Rotate and ingest now: one pass of the ingester (it calls this in a loop; tests call it too).

        Waits for the background thread's pass in progress first: it may have claimed a
        file this call would otherwise miss, and its clicks must be committed on return.
        """
        with self._pass:
            self.spool.rotate()
            with self.app.app_context():
                try:
                    return ingest_spool(self.spool)
                finally:
                    db.session.remove()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.spool.rotate()  # hand the finished file to the ingester
            except Exception:  # keep going; the clicks stay on disk in the active file
                log.exception("could not hand the click spool over; will retry")
                time.sleep(self.interval)
