"""The gunicorn settings Herald recommends: ``gunicorn -c python:app.gunicorn_conf wsgi:app``.

``flask serve`` and the benchmarks use them too. Flags on the command line override them.
"""

from __future__ import annotations

import gc
import os
import sys

# One worker per core: Herald's requests are CPU-bound Python, and more processes than
# cores only queue for the CPU (and for SQLite's write lock).
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
# gthread keeps connections alive (a redirect costs ~0.35 ms more without keep-alive).
worker_class = "gthread"
# Each worker gets its own listening socket and the kernel spreads connections over them.
# With one shared socket the accept race is biased: a worker busy rendering holds the GIL,
# so the idle one takes most new connections (seen: 15 of 16 keep-alive connections).
reuse_port = True

# How long a Python thread may hold the GIL before another waiting one gets it (CPython's
# default is 5 ms). A gthread worker hands every request from its accept/poll thread to a
# worker thread and back; with the default, a finished request or a newly readable
# connection can wait up to 5 ms for the GIL while the other thread renders a page.
# Measured on the feed page at 16 connections: p90 39 -> 33 ms, throughput slightly up.
SWITCH_INTERVAL = 0.0005


def post_fork(server, worker):
    """Per worker process, after the fork."""
    sys.setswitchinterval(SWITCH_INTERVAL)


# A request allocates thousands of short-lived objects (rows, template output); with
# CPython's default threshold (700) the collector runs every few requests and walks the
# whole young heap. Objects alive once the app is loaded (modules, templates, the URL map)
# never become garbage: frozen, later full collections skip them. Measured in-process on
# the feed page: 2.65 -> 2.45 ms of CPU a page, p99 6.5 -> 5.1 ms.
GC_THRESHOLD = (20_000, 50, 100)


def post_worker_init(worker):
    """Per worker process, after the app is loaded."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
