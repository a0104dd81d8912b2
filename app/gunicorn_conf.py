"""The gunicorn settings Herald recommends: ``gunicorn -c python:app.gunicorn_conf wsgi:app``.

``flask serve`` and the benchmarks use them too. Flags on the command line override them.
"""

from __future__ import annotations

import gc
import os
import sys

from app import gunicorn_worker

# One worker per core: Herald's requests are CPU-bound Python, and more processes than
# cores only queue for the CPU (and for SQLite's write lock).
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
# gthread keeps connections alive (without keep-alive every redirect pays for a new connection);
# Herald's subclass spreads those connections evenly over the workers (app/gunicorn_worker.py:
# the kernel's accept race gave 15/1 splits of 16 connections, its reuse_port hashing 11/5,
# and the worker with the most connections sets everyone's latency).
worker_class = "app.gunicorn_worker.BalancedThreadWorker"
reuse_port = False  # the workers share one socket; the connection table decides who accepts


def on_starting(server):
    """In the master, before any worker: the table of open connections per worker."""
    gunicorn_worker.install(server)


def pre_fork(server, worker):
    gunicorn_worker.assign_slot(server, worker)


def child_exit(server, worker):
    gunicorn_worker.release_slot(server, worker)


# How long a Python thread may hold the GIL before another waiting one gets it (CPython's
# default is 5 ms). A gthread worker hands every request from its accept/poll thread to a
# worker thread and back; with the default, a finished request or a newly readable
# connection can wait up to 5 ms for the GIL while the other thread renders a page, which
# shows in the tail latency (docs/performance.md).
SWITCH_INTERVAL = 0.0005


def post_fork(server, worker):
    """Per worker process, after the fork."""
    sys.setswitchinterval(SWITCH_INTERVAL)


# A request allocates thousands of short-lived objects (rows, template output); with
# CPython's default threshold (700) the collector runs every few requests and walks the
# whole young heap. Objects alive once the app is loaded (modules, templates, the URL map)
# never become garbage: frozen, later full collections skip them (docs/performance.md).
GC_THRESHOLD = (20_000, 50, 100)


def post_worker_init(worker):
    """Per worker process, after the app is loaded."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
