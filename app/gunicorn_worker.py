"""A gthread worker that takes new connections only while it holds the fewest.

Browsers, proxies and load generators keep connections alive and send request after
request over them, so how connections are spread over the worker processes decides how
the load is spread: a worker holding 11 of 16 busy connections answers each of them 11
requests' time late while the other idles through its 5. Neither of the kernel's ways
spreads them evenly: with one shared socket the worker that wins the accept race takes
most (a busy worker's poll thread waits for the GIL, so the idle one wins: 15 of 16 seen);
with a socket per worker (``reuse_port``) the kernel hashes each connection to a socket
(8/8 to 11/5 seen). So the workers share one listening socket and a small table of their
open connection counts, and a worker listens for new connections only while no other
worker holds fewer. Ties listen together; the first to accept stops listening, so counts
never differ by more than one while connections arrive.

The master keeps the table: ``pre_fork`` gives each new worker a free slot,
``child_exit`` frees it (``app.gunicorn_conf`` wires both). A worker started without a
slot (another configuration) behaves exactly like gunicorn's gthread worker.
"""

from __future__ import annotations

import mmap
import struct

from gunicorn.workers.gthread import ThreadWorker

SLOTS = 256
ABSENT = -1
# A worker that stopped listening for balance looks at the table again at least this often,
# so a peer taking connections meanwhile never leaves the socket without a listener for long.
RECHECK_SECONDS = 0.005

_INT = struct.Struct("i")


class ConnectionTable:
    """Open-connection counts per worker slot, in memory shared by the master and its workers.

    Slots past the highest one ever claimed are never read, so a worker's look at the table
    costs a few microseconds (it looks once per request while it is not listening).
    """

    def __init__(self, slots: int = SLOTS):
        self._memory = mmap.mmap(-1, (slots + 1) * _INT.size)  # anonymous and shared: forks see one table
        whole = memoryview(self._memory).cast("i")
        self._used = whole[:1]  # how many slots have ever been claimed
        self.counts = whole[1:]
        for slot in range(slots):
            self.counts[slot] = ABSENT

    def claim(self, taken: set[int]) -> int | None:
        """A free slot for a new worker (called in the master, one fork at a time).

        None when all are taken (more than SLOTS workers): that worker runs unbalanced.
        """
        for slot in range(len(self.counts)):
            if slot not in taken:
                self.counts[slot] = 0
                self._used[0] = max(self._used[0], slot + 1)
                return slot
        return None

    def release(self, slot: int) -> None:
        self.counts[slot] = ABSENT

    def fewest_elsewhere(self, slot: int) -> int | None:
        """The smallest count among the other live workers (None when there is none)."""
        counts = self.counts[: self._used[0]].tolist()
        if slot < len(counts):
            counts[slot] = ABSENT
        others = [count for count in counts if count != ABSENT]
        return min(others) if others else None


table: ConnectionTable | None = None  # created in the master before the first fork


def install(server) -> None:
    """``on_starting`` hook: create the table the workers will share."""
    global table
    table = ConnectionTable()


def assign_slot(server, worker) -> None:
    """``pre_fork`` hook: give the worker about to be forked a slot of its own."""
    if table is None:
        return
    taken = {w.connection_slot for w in server.WORKERS.values() if getattr(w, "connection_slot", None) is not None}
    worker.connection_slot = table.claim(taken)


def release_slot(server, worker) -> None:
    """``child_exit`` hook: a dead worker's connections count for nothing."""
    slot = getattr(worker, "connection_slot", None)
    if table is not None and slot is not None:
        table.release(slot)


class BalancedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, listening for new connections only while it holds the fewest."""

    connection_slot: int | None = None

    def init_process(self):
        self._wants_to_accept = False
        super().init_process()

    def _balanced(self) -> bool:
        return self.connection_slot is not None and table is not None

    def _publish(self) -> None:
        # A stopping worker takes nothing new: it must not hold the others back while it drains.
        table.counts[self.connection_slot] = self.nr_conns if self.alive else ABSENT

    def _my_turn(self) -> bool:
        fewest = table.fewest_elsewhere(self.connection_slot)
        return fewest is None or self.nr_conns <= fewest

    def set_accept_enabled(self, enabled):
        if not self._balanced():
            return super().set_accept_enabled(enabled)
        self._wants_to_accept = enabled  # what gunicorn wants (worker_connections, shutdown)
        return super().set_accept_enabled(enabled and self._my_turn())

    def accept(self, listener):
        if not self._balanced():
            return super().accept(listener)
        if not self._my_turn():
            # Listening on a stale decision (a peer has fewer connections since): leave this
            # connection to that peer, which listens or looks again within RECHECK_SECONDS.
            super().set_accept_enabled(False)
            return None
        super().accept(listener)
        self._publish()  # before anything else: a peer deciding now must see this connection
        return None

    def wait_for_and_dispatch_events(self, timeout):
        if self._balanced():
            self._publish()
            # Not listening although gunicorn wants to: look again (a listening worker looks in accept()).
            if self._wants_to_accept and not self._accepting:
                super().set_accept_enabled(self._my_turn())
                if not self._accepting:
                    timeout = min(timeout, RECHECK_SECONDS)
        return super().wait_for_and_dispatch_events(timeout)
