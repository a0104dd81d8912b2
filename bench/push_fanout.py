"""Fan one call to action out to N Web Push subscriptions, end to end, and check each arrived once.

A fresh instance and database; N people (``--devices`` subscriptions each, quiet hours off,
so every notification takes the full decision path: settings, the daily cap); one published
post. ``--receivers`` processes of ``tests/push_receiver.py`` play the push service and the
browsers: each checks the VAPID JWT of every push (py_vapid: signature, ``aud``, ``exp``,
``sub``, the key) and decrypts the message (http_ece) before answering 201. ``--consumers``
real Huey consumer processes (``huey_consumer app.worker.huey -w <workers> -k thread``) are
started and idle; then the call to action is sent through ``services.send_cta`` (what the
admin's form calls), which queues the fan-out, and the clock runs until the last push
arrives. Measured: deliveries per second from the first to the last push the receivers got,
and from the call to action's commit; the CPU each part used; and, in the same run, the
encryption-only ceiling (pywebpush's encryption and the VAPID signature, no HTTP, one core).

Checked: every subscription got the push exactly once (receivers: N pushes, N endpoints,
no duplicate, nothing rejected), and the database recorded each delivery once as sent. The
last line is

    push deliveries_per_s=… delivered=… duplicates=… lost=… ceiling_per_s=…

and a failed check makes the exit code nonzero. Run from the repository root, alone:

    .venv/bin/python bench/push_fanout.py --subscriptions 10000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import ROOT, Instance, log, stop_process

TARGET = 600  # deliveries per second (issue 15)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscriptions", type=int, default=10_000, help="devices to push to (default 10,000)")
    parser.add_argument("--devices", type=int, default=1, help="subscriptions per person (default 1)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--consumers", type=int, default=os.cpu_count() or 2, help="consumer processes (cores)")
    parser.add_argument("--workers", type=int, default=2, help="worker threads per consumer (-w)")
    parser.add_argument("--receivers", type=int, default=1, help="receiver processes")
    parser.add_argument("--timeout", type=float, default=300, help="give up when no push arrived for this long")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- the receivers


class Receiver:
    """One ``tests/push_receiver.py`` process with its share of the subscriptions."""

    def __init__(self, key: str, count: int, folder: Path, n: int):
        self.out = folder / f"receiver{n}.json"
        self.log = folder / f"receiver{n}.log"
        argv = [sys.executable, "-m", "tests.push_receiver", "--key", key, "--subscriptions", str(count),
                "--out", str(self.out)]  # fmt: skip
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self.out.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start:\n" + self.log.read_text()[-2000:])
            time.sleep(0.05)
        self.subscriptions = json.loads(self.out.read_text())
        self.origin = self.subscriptions[0]["endpoint"].split("/push/")[0] if self.subscriptions else ""

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.origin}/stats", timeout=10) as response:
            return json.load(response)

    def stop(self) -> None:
        import signal

        stop_process(self.proc, signal.SIGTERM)


def receivers_stats(receivers: list[Receiver]) -> dict:
    parts = [r.stats() for r in receivers]
    firsts = [p["first"] for p in parts if p["first"] is not None]
    lasts = [p["last"] for p in parts if p["last"] is not None]
    return {
        "received": sum(p["received"] for p in parts),
        "endpoints": sum(p["endpoints"] for p in parts),
        "duplicates": sum(p["duplicates"] for p in parts),
        "rejected": sum(p["rejected"] for p in parts),
        "rejected_sample": [s for p in parts for s in p["rejected_sample"]][:3],
        "first": min(firsts) if firsts else None,
        "last": max(lasts) if lasts else None,
    }


# --------------------------------------------------------------------------- data


def seed(app, subscriptions: list[dict], devices: int) -> tuple[int, int]:
    """A published post, then the people and their devices (bulk inserts); (post id, people)."""
    from app.accounts.models import User
    from app.content import services as content
    from app.extensions import db
    from app.notifications.models import NotificationSettings, PushSubscription
    from app.timeutil import utcnow

    with app.test_request_context():
        post = content.create_post(
            content.PostData(title="Launch day", url="https://example.com/launch", action="publish"), None
        )
        db.session.commit()
        post_id = post.id
    now = utcnow() - timedelta(minutes=1)
    people = (len(subscriptions) + devices - 1) // devices
    with app.app_context(), db.engine.begin() as conn:
        common.bulk_insert(conn, User, [
            {"id": 1000 + n, "email": f"person{n}@push.example", "display_name": f"Person {n}", "status": "active",
             "timezone": "Europe/Warsaw" if n % 2 else "UTC", "locale": "pl" if n % 3 == 0 else "en",
             "session_version": 1, "created_at": now, "is_demo": False, "hide_from_leaderboards": False,
             "notifications_unread": 0}
            for n in range(people)
        ])  # fmt: skip
        common.bulk_insert(conn, NotificationSettings, [
            {"user_id": 1000 + n, "cta": True, "streak": True, "rewards": True, "surveys": True, "badges": True,
             "kudos": True, "posts": True, "digest": True, "quiet_start": None, "quiet_end": None}
            for n in range(people)
        ])  # fmt: skip
        common.bulk_insert(conn, PushSubscription, [
            {"user_id": 1000 + n // devices, "endpoint": sub["endpoint"], "p256dh": sub["keys"]["p256dh"],
             "auth": sub["keys"]["auth"], "device": "Bench phone", "created_at": now, "last_seen_at": now}
            for n, sub in enumerate(subscriptions)
        ])  # fmt: skip
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('\"user\"', 'id'), (SELECT max(id) FROM \"user\"))"
            )
            conn.exec_driver_sql("ANALYZE")
    return post_id, people


def send_cta(app, post_id: int) -> tuple[int, float]:
    """The admin's call to action (not urgent, deadline in two hours); (its id, seconds the request's work took)."""
    from app.content.models import Post
    from app.extensions import db
    from app.notifications import services
    from app.timeutil import utcnow

    started = time.monotonic()
    with app.test_request_context():
        data = services.CtaData([], [], utcnow() + timedelta(hours=2), False, "", 200)
        cta = services.send_cta(db.session.get(Post, post_id), None, data)
        db.session.commit()  # queues the fan-out tasks
        return cta.id, time.monotonic() - started


def database_figures(app, cta_id: int) -> dict:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.notifications.models import Delivery, Notification

    with app.app_context():
        statuses = dict(
            db.session.execute(
                select(Delivery.status, func.count())
                .join(Notification, Notification.id == Delivery.notification_id)
                .where(Notification.cta_id == cta_id)
                .group_by(Delivery.status)
            ).all()
        )
        states = dict(
            db.session.execute(
                select(Notification.push_state, func.count())
                .where(Notification.cta_id == cta_id)
                .group_by(Notification.push_state)
            ).all()
        )
        db.session.remove()
    return {"statuses": statuses, "states": states}


# --------------------------------------------------------------------------- the ceiling


def encryption_ceiling(app, subscriptions: list[dict], seconds: float = 3.0) -> float:
    """Pushes per second one core encrypts and signs (what ``sender.send`` does before the HTTP request)."""
    from pywebpush import WebPusher

    from app.notifications import sender, vapid

    with app.app_context():
        key = vapid.vapid()
        subject = app.config["VAPID_SUBJECT"]
        data = sender.payload("Call to action: Launch day", "Share it before the deadline.",
                              "https://herald.example/notifications/12345/open", "en", badge=1)  # fmt: skip
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        sub = subscriptions[done % len(subscriptions)]
        WebPusher(sub).encode(data.encode(), content_encoding="aes128gcm")
        key.sign({"sub": subject, "aud": sub["endpoint"].split("/push/")[0], "exp": int(time.time()) + 43_200})
        done += 1
    return done / (time.perf_counter() - started)


def steal_seconds() -> float:
    """CPU time the hypervisor gave to other guests (``steal`` in /proc/stat): a slow run shows it here."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / common.CLK_TCK if len(fields) > 8 else 0.0


# --------------------------------------------------------------------------- run


def main(argv=None) -> int:
    args = parse_args(argv)
    for line in common.machine_lines():
        log(line)
    log(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
    instance = Instance("sqlite" if args.db == "sqlite" else "postgresql", "push")
    os.environ["HERALD_FETCH_ALLOW_HOSTS"] = "127.0.0.1"  # the receivers listen there
    os.environ["HERALD_BASE_URL"] = "https://herald.example"
    instance.env |= {k: v for k, v in os.environ.items() if k.startswith("HERALD_")}
    receivers: list[Receiver] = []
    consumers: list[subprocess.Popen] = []
    failures: list[str] = []
    try:
        instance.migrate()
        from app import create_app
        from app.notifications import tasks, vapid
        from app.tasks import huey

        app = create_app()
        with app.app_context():
            key = vapid.public_key()  # made once into the instance; the consumers read the same file
        t0 = time.monotonic()
        share = [args.subscriptions // args.receivers + (n < args.subscriptions % args.receivers)
                 for n in range(args.receivers)]  # fmt: skip
        receivers = [Receiver(key, count, instance.tmp, n) for n, count in enumerate(share)]
        subscriptions = [s for r in receivers for s in r.subscriptions]
        post_id, people = seed(app, subscriptions, args.devices)
        huey.flush()  # the post's "new posts" task (nobody to tell yet)
        log(f"{args.db}: {people:,} people, {len(subscriptions):,} subscriptions on {args.receivers} receiver "
            f"process(es), seeded in {time.monotonic() - t0:.1f} s")  # fmt: skip

        for n in range(args.consumers):
            out = open(instance.tmp / f"consumer{n}.log", "wb")  # noqa: SIM115 - closed with the process
            consumers.append(subprocess.Popen(
                [sys.executable, "-m", "huey.bin.huey_consumer", "app.worker.huey", "-w", str(args.workers),
                 "-k", "thread", "-n"],
                cwd=ROOT, env=instance.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            ))  # fmt: skip
        time.sleep(1.0)
        for proc in consumers:  # imported the app and idle
            common.wait_idle(proc.pid, limit=30)
        if any(proc.poll() is not None for proc in consumers):
            raise RuntimeError("a consumer exited:\n" + (instance.tmp / "consumer0.log").read_text()[-3000:])
        log(f"{args.consumers} consumer process(es) x {args.workers} worker threads x {tasks.THREADS} sender "
            f"threads; batches of {tasks.BATCH} notifications, claims of {tasks.CHUNK} deliveries")  # fmt: skip
        common.settle()
        load_at_start = Path("/proc/loadavg").read_text().split()[:3]

        cpu = {"consumers": lambda: sum(common.tree_cpu(p.pid) for p in consumers),
               "receivers": lambda: sum(common.tree_cpu(r.proc.pid) for r in receivers),
               "database": lambda: common.process_cpu(None)[1]}  # fmt: skip
        cpu_before = {name: f() for name, f in cpu.items()}
        bench_before = resource.getrusage(resource.RUSAGE_SELF)
        busy0, total0 = common.system_cpu()
        steal0 = steal_seconds()
        started = time.monotonic()
        cta_id, request_s = send_cta(app, post_id)
        committed = time.monotonic()
        log(f"call to action sent: {people:,} notifications created and {-(-people // tasks.BATCH)} fan-out tasks "
            f"queued in {request_s:.2f} s (the admin's request)")  # fmt: skip

        seen, progress_at = 0, time.monotonic()
        while True:
            time.sleep(0.5)
            stats = receivers_stats(receivers)
            if stats["received"] != seen:
                seen, progress_at = stats["received"], time.monotonic()
            if seen >= len(subscriptions) or time.monotonic() - progress_at > args.timeout:
                break
        finished = time.monotonic()
        busy1, total1 = common.system_cpu()
        steal = steal_seconds() - steal0
        cpu_used = {name: f() - cpu_before[name] for name, f in cpu.items()}
        bench_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu_used["bench (the request)"] = (bench_after.ru_utime - bench_before.ru_utime) + (
            bench_after.ru_stime - bench_before.ru_stime
        )
        # Let the last chunks record their results before counting rows.
        deadline = time.monotonic() + 30
        while True:
            figures = database_figures(app, cta_id)
            settled = "sending" not in figures["states"] and "pending" not in figures["states"]
            if (settled and "claimed" not in figures["statuses"]) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        stats = receivers_stats(receivers)
        ceiling = encryption_ceiling(app, subscriptions)
    finally:
        import signal

        for proc in consumers:
            stop_process(proc, signal.SIGINT, group=True)
        for receiver in receivers:
            receiver.stop()
        keep = os.environ.get("PUSH_BENCH_KEEP")
        if keep:
            log(f"kept {instance.tmp}")
        else:
            instance.close()

    n = len(subscriptions)
    window = (stats["last"] - stats["first"]) if stats["first"] is not None else 0.0
    rate = stats["received"] / window if window > 0 else 0.0
    sent_rows = figures["statuses"].get("sent", 0)
    lost = n - stats["endpoints"]
    end_to_end = stats["received"] / max(stats["last"] - committed, 1e-9) if stats["last"] else 0.0
    wall = finished - started
    machine = (busy1 - busy0) / max(total1 - total0, 1e-9) * (os.cpu_count() or 1)
    log(f"receivers: {stats['received']:,} pushes to {stats['endpoints']:,} endpoints, {stats['duplicates']} "
        f"duplicates, {stats['rejected']} rejected {stats['rejected_sample'] or ''}")  # fmt: skip
    log(f"database: deliveries {figures['statuses']}, notifications {figures['states']}")
    log(f"first to last push: {window:.2f} s = {rate:,.0f} deliveries/s; from the call to action's commit: "
        f"{end_to_end:,.0f}/s (first push {stats['first'] - committed:.2f} s after it)"
        if stats["first"] else "no push arrived")  # fmt: skip
    parts = ", ".join(f"{name} {used:.1f}" for name, used in cpu_used.items())
    log(f"CPU seconds while fanning out ({wall:.1f} s wall, machine busy {machine:.2f} of {os.cpu_count()} cores, "
        f"stolen by the hypervisor {steal:.1f} s): {parts}")  # fmt: skip
    if sent_rows:
        log(f"per delivery: consumers {cpu_used['consumers'] / sent_rows * 1000:.2f} ms CPU, receivers "
            f"{cpu_used['receivers'] / sent_rows * 1000:.2f} ms")  # fmt: skip
    log(f"encryption-only ceiling (pywebpush encrypt + VAPID sign, no HTTP, one core): {ceiling:,.0f}/s")
    log(f"load average at start: {load_at_start}; target {TARGET}/s: {'met' if rate >= TARGET else 'MISSED'}")

    if stats["duplicates"]:
        failures.append(f"{stats['duplicates']} pushes arrived twice")
    if lost:
        failures.append(f"{lost} subscriptions got no push")
    if stats["rejected"]:
        failures.append(f"{stats['rejected']} pushes failed the receiver's checks")
    if sent_rows != n or sum(figures["statuses"].values()) != n:
        failures.append(f"deliveries recorded: {figures['statuses']} (expected {n} sent)")
    if figures["states"] != {"done": people}:
        failures.append(f"notifications: {figures['states']} (expected {people} done)")
    for failure in failures:
        log(f"FAILED: {failure}")
    if args.json:
        args.json.write_text(json.dumps({
            "deliveries_per_s": rate, "end_to_end_per_s": end_to_end, "delivered": stats["received"],
            "duplicates": stats["duplicates"], "lost": lost, "ceiling_per_s": ceiling, "cpu": cpu_used,
            "request_s": request_s, "failures": failures, "load": load_at_start,
        }, indent=2))  # fmt: skip
    log(f"push deliveries_per_s={rate:.0f} delivered={stats['received']} duplicates={stats['duplicates']} "
        f"lost={lost} ceiling_per_s={ceiling:.0f}")  # fmt: skip
    return 1 if failures else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
