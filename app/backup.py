"""Backups an operator can trust: ``flask --app wsgi backup PATH`` and ``restore PATH``.

One ``.tar.gz`` holds everything a Herald instance needs to come back on another machine:

- ``database/herald.sqlite3``: a snapshot taken with SQLite's online backup API while
  Herald serves (one step, so one consistent read: every balance equals its ledger sum),
  or ``database/herald.pgdump``: ``pg_dump --format=custom`` (one snapshot transaction);
- ``secrets/<name>``: every secret file of the instance folder (the rule is
  ``instance_secret_files``: today ``secret_key`` and ``giftcard_key``, tomorrow a
  push key, without a change here);
- ``media/...``: the uploaded images under ``HERALD_MEDIA_ROOT``;
- ``spool/clicks.jsonl``: clicks answered but not yet moved into the database;
- ``manifest.json`` (the last member): format, Herald version, date, database kind,
  schema revision and every other member's size and SHA-256.

The spool is read before the database snapshot: a click ingested in between is in both,
and ingestion skips a click already present (each carries a unique id), so no answered
click falls between the two. Media are read after the snapshot, so every file the
snapshot refers to was complete when it was read (an upload is stored before its row
commits).

``restore`` checks the whole archive against its manifest before it writes anything,
refuses an archive whose schema is newer than this code, and refuses an instance that
holds data (database tables, media or spooled clicks).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import text

from app.extensions import db

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/herald.sqlite3"
PG_MEMBER = "database/herald.pgdump"
SPOOL_MEMBER = "spool/clicks.jsonl"
SQLITE_HEADER = b"SQLite format 3\x00"
# Files SQLite keeps beside a database; they belong to it, never to the secrets.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
PRIVATE = 0o600
CHUNK = 1024 * 1024
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
# gzip's fastest level: the default level packs hardly smaller for much more CPU,
# which the web workers want while a backup runs beside them (docs/performance.md).
GZIP_LEVEL = 1


def _fail(message: str) -> click.ClickException:
    return click.ClickException(message)


def _damaged(reason: str) -> click.ClickException:
    return _fail(f"the archive is damaged or not a Herald backup ({reason}); nothing was restored")


def human(size: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def instance_secret_files(folder: Path, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """The instance's secret files: every regular file at the top of the instance folder
    except SQLite databases (recognised by their header, e.g. ``herald.db``, ``tasks.db``)
    and their ``-wal``/``-shm``/``-journal`` companions.

    Herald generates secrets there (``read_or_create_secret``) and keeps its data in
    sub-folders (``spool/``, ``uploads/``), so a key added later is backed up without a
    change here. Hidden files and paths in ``exclude`` (the archive being written) are left out.
    """
    if not folder.is_dir():
        return []
    skip = {p.resolve() for p in exclude}
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.is_symlink() or path.resolve() in skip:
            continue
        if _is_sqlite(path) or any(
            path.name.endswith(suffix) and (folder / path.name[: -len(suffix)]).exists() for suffix in SQLITE_COMPANIONS
        ):
            continue
        out.append(path)
    return out


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _database_kind(engine) -> str:
    name = engine.dialect.name
    if name not in ("sqlite", "postgresql"):
        raise _fail(f"backups support SQLite and PostgreSQL, not {name}")
    return name


def _sqlite_path(engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise _fail(f"cannot back up the SQLite database {database!r}: give it a file path")
    return Path(database).resolve()


def _migrations_dir(app) -> Path:
    configured = Path(app.extensions["migrate"].directory)
    if configured.is_absolute() and configured.is_dir():
        return configured
    beside_code = Path(app.root_path).parent / configured
    return beside_code if beside_code.is_dir() else configured.resolve()


def _schema_revisions(app):
    """Alembic's view of this code's migrations (to tell an older or newer archive)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(_migrations_dir(app)))


# --- taking a backup -------------------------------------------------------------------------------


def _snapshot_sqlite(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` with the online backup API; return its schema revision.

    One ``backup()`` step copies every page inside one read transaction: writers carry on
    (WAL), and the copy is the database as of one commit. Copying in several steps would
    restart whenever another process commits, so under load it might never finish.
    """
    if not source.exists():
        raise _fail(f"no SQLite database at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
    try:
        dst.execute("PRAGMA journal_mode=DELETE")  # a standalone file; Herald turns WAL on again when it opens it
        check = dst.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise _fail(f"the database snapshot failed SQLite's check ({check}); the database itself may be damaged")
        try:
            revision = dst.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            revision = None
    finally:
        dst.close()
    if not revision:
        raise _fail(f"{source} has no Herald schema yet (run `flask --app wsgi db upgrade` first)")
    return revision[0]


def pg_tool(name: str, engine=None) -> str:
    """The path of ``pg_dump``/``pg_restore``, or a clear error saying how to get it."""
    found = shutil.which(name)
    if found is None:
        major = "<server major version>"
        if engine is not None:
            with contextlib.suppress(Exception), engine.connect() as conn:
                major = str(conn.dialect.server_version_info[0])
        raise _fail(
            f"{name} was not found on PATH. Install the PostgreSQL client tools of the server's major version "
            f"or newer (Debian/Ubuntu: apt-get install postgresql-client-{major}) or put their bin folder first "
            f"on PATH (PATH=/usr/lib/postgresql/{major}/bin:$PATH)."
        )
    return found


def _display_url(engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=True)


def _pg_connection(engine) -> tuple[str, dict]:
    """A libpq URL for the command-line tools, with the password in the environment (not in ``ps``)."""
    url = engine.url.set(drivername="postgresql")
    env = os.environ.copy()
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(password=None).render_as_string(hide_password=False), env


def _run_pg(args: list[str], env: dict, what: str) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise _fail(f"{what} failed (exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return result


def _pg_revision(engine) -> str:
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        except Exception as exc:
            raise _fail(f"the database has no Herald schema yet ({exc.__class__.__name__})") from exc


def _dump_postgresql(engine, target: Path) -> str:
    """``pg_dump --format=custom`` into ``target`` (one snapshot transaction); return the schema revision."""
    pg_dump, pg_restore = pg_tool("pg_dump", engine), pg_tool("pg_restore", engine)
    dsn, env = _pg_connection(engine)
    revision = _pg_revision(engine)
    _run_pg([pg_dump, "--format=custom", "--file", str(target), "--dbname", dsn], env, "pg_dump")
    # Read the dump back: a file pg_restore cannot list is no backup.
    listing = _run_pg([pg_restore, "--list", str(target)], env, "pg_restore --list").stdout
    if "alembic_version" not in listing:
        raise _fail("the dump has no alembic_version table; is HERALD_DATABASE_URL Herald's database?")
    return revision


def _complete_lines(data: bytes) -> bytes:
    """Drop a torn last line (a writer mid-append): it was never answered."""
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def _read_spool(folder: Path) -> bytes:
    """Every click waiting in the spool, whatever state its file is in.

    A file is renamed as it moves on (``.active`` -> ``.ready`` -> ``.ing<pid>``) but keeps
    its base name; one that vanished between listing and reading is looked up again by
    base name. One that is gone altogether was ingested, i.e. committed before the
    database snapshot that follows.
    """
    if not folder.is_dir():
        return b""
    seen: set[str] = set()
    out = []
    for _attempt in range(20):
        pending = [p for p in sorted(folder.glob("clicks-*")) if p.name.partition(".")[0] not in seen]
        if not pending:
            break
        for path in pending:
            base = path.name.partition(".")[0]
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue  # renamed or ingested meanwhile: the next listing decides
            seen.add(base)
            out.append(_complete_lines(data))
    return b"".join(out)


def _media_files(root: Path, skip: tuple[Path, ...]) -> list[Path]:
    if not root.is_dir():
        return []
    skipped = {p.resolve() for p in skip}
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p.resolve() not in skipped)


def _tar_add(tar: tarfile.TarFile, name: str, size: int, fileobj) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = PRIVATE
    info.mtime = int(time.time())
    tar.addfile(info, fileobj)


def _herald_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("herald")
    except PackageNotFoundError:
        return "unknown"


def default_archive_name() -> str:
    """``herald-backup-20250101-120000.tar.gz`` (UTC)."""
    return f"herald-backup-{datetime.now(UTC):%Y%m%d-%H%M%S}.tar.gz"


def write_backup(app, path: Path, echo=click.echo) -> Path:
    """Write the instance's backup archive to ``path`` (a new file, or a folder to put one in)."""
    started = time.monotonic()
    path = path.expanduser()
    if path.is_dir():
        path = path / default_archive_name()
    path = path.resolve()
    if path.exists():
        raise _fail(f"{path} already exists; choose a new name (a backup never overwrites another)")
    if not path.parent.is_dir():
        raise _fail(f"the folder {path.parent} does not exist")
    instance = Path(app.config["INSTANCE_PATH"])
    media_root = Path(app.config["MEDIA_ROOT"])
    engine = db.engine
    kind = _database_kind(engine)
    partial = path.with_name(f".{path.name}.partial")
    echo(f"Backing up Herald {_herald_version()} ({kind}) to {path}")
    files: list[dict] = []
    try:
        # Created 0600 before anything is written: the archive holds the secrets.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
        with (
            tempfile.TemporaryDirectory(prefix=".herald-backup-", dir=path.parent) as staging,
            os.fdopen(fd, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w:gz", compresslevel=GZIP_LEVEL) as tar,
        ):

            def add_file(name: str, source: Path, kind_: str) -> dict:
                entry = {"path": name, "kind": kind_, "size": source.stat().st_size, "sha256": _sha256_file(source)}
                with source.open("rb") as fh:
                    _tar_add(tar, name, entry["size"], fh)
                files.append(entry)
                return entry

            def add_bytes(name: str, data: bytes, kind_: str) -> dict:
                entry = {"path": name, "kind": kind_, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                _tar_add(tar, name, len(data), io.BytesIO(data))
                files.append(entry)
                return entry

            spool = _read_spool(instance / "spool")  # before the snapshot: see the module docstring
            t0 = time.monotonic()
            snapshot = Path(staging) / "database"
            if kind == "sqlite":
                revision = _snapshot_sqlite(_sqlite_path(engine), snapshot)
                how = "SQLite online backup, quick_check ok"
            else:
                revision = _dump_postgresql(engine, snapshot)
                how = "pg_dump --format=custom"
            entry = add_file(SQLITE_MEMBER if kind == "sqlite" else PG_MEMBER, snapshot, "database")
            snapshot.unlink()
            echo(f"  database  {entry['path']}: {human(entry['size'])}, schema {revision} "
                 f"({how}, {time.monotonic() - t0:.2f} s)")  # fmt: skip
            for secret in instance_secret_files(instance, exclude=(path, partial)):
                entry = add_bytes(f"secrets/{secret.name}", secret.read_bytes(), "secret")
                echo(f"  secret    {secret.name} ({human(entry['size'])})")
            media_bytes = 0
            media = _media_files(media_root, skip=(path, partial))
            for item in media:
                try:
                    data = item.read_bytes()
                except FileNotFoundError:
                    continue  # deleted since the listing (its row was deleted first)
                media_bytes += add_bytes(f"media/{item.relative_to(media_root).as_posix()}", data, "media")["size"]
            media_count = sum(1 for f in files if f["kind"] == "media")
            echo(f"  media     {media_count} files, {human(media_bytes)} from {media_root}")
            clicks = spool.count(b"\n")
            if spool:
                add_bytes(SPOOL_MEMBER, spool, "spool")
            echo(f"  spool     {clicks} clicks waiting to be ingested")
            manifest = {
                "format": FORMAT,
                "herald_version": _herald_version(),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "hostname": socket.gethostname(),
                "database": {"kind": kind, "path": files[0]["path"], "schema_revision": revision},
                "spooled_clicks": clicks,
                "files": files,
            }
            data = json.dumps(manifest, indent=2).encode()
            _tar_add(tar, MANIFEST, len(data), io.BytesIO(data))
        with partial.open("rb") as done:  # closed above, so gzip's last block is in it too
            os.fsync(done.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    size = path.stat().st_size
    echo(f"Wrote {path}: {human(size)}, {len(files)} files, in {time.monotonic() - started:.2f} s "
         f"(mode 0600: it holds the instance's secrets)")  # fmt: skip
    echo(f"  sha256    {_sha256_file(path)}")
    for variable in ("SECRET_KEY", "GIFTCARD_KEY"):
        if os.environ.get(f"HERALD_{variable}"):
            echo(f"Note: HERALD_{variable} is set in the environment, not in the archive: keep it beside it.")
    return path


# --- restoring -------------------------------------------------------------------------------------

_KINDS = {"database", "secret", "media", "spool"}


def _safe_member(entry: dict) -> None:
    name, kind = entry.get("path"), entry.get("kind")
    if not isinstance(name, str) or kind not in _KINDS:
        raise _damaged(f"bad file entry {entry!r}")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or "\\" in name or len(parts) < 2:
        raise _damaged(f"unsafe path {name!r}")
    expected_prefix = {"database": "database", "secret": "secrets", "media": "media", "spool": "spool"}[kind]
    if parts[0] != expected_prefix or (kind == "secret" and (len(parts) != 2 or parts[1].startswith("."))):
        raise _damaged(f"unexpected path {name!r} for a {kind} file")
    if kind == "database" and name not in (SQLITE_MEMBER, PG_MEMBER):
        raise _damaged(f"unexpected database file {name!r}")
    if kind == "spool" and name != SPOOL_MEMBER:
        raise _damaged(f"unexpected spool file {name!r}")


def read_manifest(path: Path) -> dict:
    """Read the whole archive and check every member against the manifest; return the manifest.

    Writes nothing. Any difference (a flipped byte, a truncated file, a member too many or
    missing) refuses the archive.
    """
    seen: dict[str, tuple[int, str]] = {}
    manifest = None
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            for member in tar:
                if not member.isfile():
                    raise _damaged(f"{member.name!r} is not a regular file")
                if member.name in seen or (member.name == MANIFEST and manifest is not None):
                    raise _damaged(f"{member.name!r} appears twice")
                fh = tar.extractfile(member)
                if member.name == MANIFEST:
                    if member.size > MAX_MANIFEST_BYTES:
                        raise _damaged("the manifest is too large")
                    manifest = json.loads(fh.read())
                    continue
                if manifest is not None:
                    raise _damaged(f"{member.name!r} comes after the manifest")
                digest, size = hashlib.sha256(), 0
                while chunk := fh.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                seen[member.name] = (size, digest.hexdigest())
    except click.ClickException:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError) as exc:
        raise _damaged(f"{exc.__class__.__name__}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise _damaged("no manifest.json")
    if manifest.get("format") != FORMAT:
        raise _fail(f"this archive has format {manifest.get('format')!r}; this Herald reads format {FORMAT}")
    database = manifest.get("database") or {}
    if database.get("kind") not in ("sqlite", "postgresql") or not database.get("schema_revision"):
        raise _damaged("the manifest does not describe a database")
    listed = manifest.get("files")
    if not isinstance(listed, list):
        raise _damaged("the manifest lists no files")
    for entry in listed:
        if not isinstance(entry, dict):
            raise _damaged(f"bad file entry {entry!r}")
        _safe_member(entry)
        found = seen.pop(entry["path"], None)
        if found is None:
            raise _damaged(f"{entry['path']} is listed but missing")
        if found != (entry.get("size"), entry.get("sha256")):
            raise _damaged(f"{entry['path']} does not match its size and SHA-256 in the manifest")
    if seen:
        raise _damaged(f"{sorted(seen)[0]} is not listed in the manifest")
    if database.get("path") not in [e["path"] for e in listed if e["kind"] == "database"]:
        raise _damaged("the database file is missing")
    return manifest


def _sqlite_table_count(path: Path) -> int:
    if not path.exists() or path.stat().st_size == 0:
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise _fail(f"{path} exists and is not a readable SQLite database ({exc}); remove it or choose another")
    finally:
        conn.close()


def _pg_table_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
        ).scalar_one()


def _spooled_files(folder: Path) -> list[Path]:
    return [p for p in folder.glob("clicks-*") if p.is_file() and p.stat().st_size > 0] if folder.is_dir() else []


def instance_contents(app) -> list[str]:
    """What makes this instance non-empty: database tables, media files, spooled clicks."""
    found = []
    engine = db.engine
    if engine.dialect.name == "sqlite":
        db_path = _sqlite_path(engine)
        if tables := _sqlite_table_count(db_path):
            found.append(f"the database {db_path} has {tables} tables")
    elif tables := _pg_table_count(engine):
        found.append(f"the database {_display_url(engine)} has {tables} tables")
    media_root = Path(app.config["MEDIA_ROOT"])
    if media := _media_files(media_root, skip=()):
        found.append(f"{media_root} holds {len(media)} files")
    if spooled := _spooled_files(Path(app.config["INSTANCE_PATH"]) / "spool"):
        found.append(f"the click spool holds {len(spooled)} files")
    return found


def _process_started_at() -> float | None:
    """When this process started (Linux), to recognise a secret it generated itself at start-up."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
        btime = next(
            int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime ")
        )
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _write_file(target: Path, chunks, mode: int) -> tuple[int, str]:
    """Write ``chunks`` to ``target`` through a temporary file beside it (exact ``mode``); return size and hash."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restoring")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)  # exact, whatever the umask
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def _chunks(fh):
    while chunk := fh.read(CHUNK):
        yield chunk


def restore_backup(app, path: Path, echo=click.echo) -> dict:
    """Put the archive at ``path`` back into this (empty) instance; return its manifest."""
    started = time.monotonic()
    path = path.expanduser().resolve()
    echo(f"Checking {path} ({human(path.stat().st_size)})")
    manifest = read_manifest(path)
    database = manifest["database"]
    echo(f"  archive   Herald {manifest.get('herald_version')}, {manifest.get('created_at')} on "
         f"{manifest.get('hostname')}: {database['kind']}, schema {database['schema_revision']}, "
         f"{len(manifest['files'])} files, every SHA-256 matches")  # fmt: skip
    engine = db.engine
    kind = _database_kind(engine)
    if database["kind"] != kind:
        raise _fail(
            f"this archive holds a {database['kind']} database but this instance is configured for {kind} "
            "(HERALD_DATABASE_URL); restore it into an instance of the same kind"
        )
    revisions = _schema_revisions(app)
    head = revisions.get_current_head()
    try:
        known = revisions.get_revision(database["schema_revision"])
    except Exception:
        known = None
    if known is None:
        raise _fail(
            f"the archive's schema ({database['schema_revision']}) is newer than this code's ({head}); "
            "install the Herald version that wrote it (or newer) and restore again"
        )
    contents = instance_contents(app)
    if contents:
        raise _fail(
            "refusing to restore into an instance that is not empty: " + "; ".join(contents)
            + ". Restore into a new instance folder (HERALD_INSTANCE_PATH), an empty media folder and an "
            "empty database. Nothing was changed."
        )  # fmt: skip
    if kind == "postgresql":
        pg_tool("pg_restore", engine)  # before anything is written
    instance = Path(app.config["INSTANCE_PATH"])
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    media_root = Path(app.config["MEDIA_ROOT"])
    expected = {e["path"]: (e["size"], e["sha256"]) for e in manifest["files"]}
    kinds = {e["path"]: e["kind"] for e in manifest["files"]}
    started_at = _process_started_at()
    aside: Path | None = None
    media_count = media_bytes = 0
    with tarfile.open(path, mode="r|gz") as tar:
        for member in tar:
            if member.name == MANIFEST:
                continue
            fh = tar.extractfile(member)
            name = member.name
            kind_ = kinds[name]
            if kind_ == "database":
                t0 = time.monotonic()
                if kind == "sqlite":
                    target = _sqlite_path(engine)
                    engine.dispose()  # this process's connections to the empty file, before it goes
                    for suffix in ("", *SQLITE_COMPANIONS):
                        Path(f"{target}{suffix}").unlink(missing_ok=True)
                    written = _write_file(target, _chunks(fh), PRIVATE)
                else:
                    target = instance / ".herald-restore.pgdump"
                    written = _write_file(target, _chunks(fh), PRIVATE)
                _check_written(name, written, expected)
                if kind == "postgresql":
                    try:
                        _restore_postgresql(engine, target)
                    finally:
                        target.unlink(missing_ok=True)
                    target = _display_url(engine)
                echo(f"  database  {target}: {human(written[0])} ({time.monotonic() - t0:.2f} s)")
            elif kind_ == "secret":
                target = instance / PurePosixPath(name).name
                data = fh.read()
                if target.exists() and target.read_bytes() != data:
                    generated_now = started_at is not None and target.stat().st_mtime >= started_at - 1
                    if not generated_now:  # keep an operator's own file; never lose a key
                        aside = aside or instance / f"pre-restore-{datetime.now(UTC):%Y%m%d-%H%M%S}"
                        aside.mkdir(mode=0o700, exist_ok=True)
                        os.replace(target, aside / target.name)
                        echo(f"  kept      the instance's previous {target.name} as {aside / target.name}")
                _check_written(name, _write_file(target, [data], PRIVATE), expected)
                echo(f"  secret    {target} (mode 0600)")
            elif kind_ == "media":
                target = media_root.joinpath(*PurePosixPath(name).parts[1:])
                written = _write_file(target, _chunks(fh), 0o644)
                _check_written(name, written, expected)
                media_count += 1
                media_bytes += written[0]
            elif kind_ == "spool":
                # Named for this host, ready to ingest: the spool only adopts its own host's files.
                host = socket.gethostname().replace("-", "_")
                target = instance / "spool" / f"clicks-{host}-0-restored{os.urandom(4).hex()}.ready"
                _check_written(name, _write_file(target, _chunks(fh), PRIVATE), expected)
                echo(f"  spool     {manifest.get('spooled_clicks', '?')} clicks ready to ingest ({target.name})")
    echo(f"  media     {media_count} files, {human(media_bytes)} into {media_root}")
    if database["schema_revision"] != head:
        echo(f"The archive's schema ({database['schema_revision']}) is older than this code's ({head}): "
             "run `flask --app wsgi db upgrade` (serve does it when it starts).")  # fmt: skip
    for variable in ("SECRET_KEY", "GIFTCARD_KEY"):
        if os.environ.get(f"HERALD_{variable}"):
            echo(f"Note: HERALD_{variable} is set and overrides the restored file; it must be the backed-up value.")
    echo(f"Restored in {time.monotonic() - started:.2f} s. Start Herald as usual.")
    return manifest


def _check_written(name: str, written: tuple[int, str], expected: dict) -> None:
    if written != expected[name]:
        raise _fail(f"{name} changed while it was being restored (the archive was modified); the restore is "
                    "incomplete: empty the instance and restore from a good copy")  # fmt: skip


def _restore_postgresql(engine, dump: Path) -> None:
    """``pg_restore`` into the (empty) database in one transaction: all of it or nothing."""
    pg_restore = pg_tool("pg_restore")
    dsn, env = _pg_connection(engine)
    engine.dispose()
    _run_pg(
        [pg_restore, "--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges",
         "--dbname", dsn, str(dump)],
        env, "pg_restore",
    )  # fmt: skip


# --- commands --------------------------------------------------------------------------------------


@click.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
@with_appcontext
def backup(path: Path):
    """Write the database, instance secrets, uploaded media and spooled clicks to one .tar.gz.

    PATH is a new file, or a folder to create herald-backup-<UTC time>.tar.gz in. Safe while
    Herald serves.
    """
    write_backup(current_app._get_current_object(), path)


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def restore(path: Path):
    """Restore a backup archive into an empty instance (refuses one that holds data)."""
    restore_backup(current_app._get_current_object(), path)
