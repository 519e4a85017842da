"""The run queue of a served app: at most `max_running` runs at once, one per visitor, within a memory budget.

Sixteen visitors clicking Run together on a 2-core machine started sixteen workers at once: every trace stalled
until the summaries came out together. Here a run takes a `Ticket`; the ticket says at once how many runs are
ahead of it ("2 runs ahead of you") and the run starts when its turn comes. Order is first come, first served.

Memory: each ticket carries an estimate of what its run holds (its worker's imports and its table, see
`run_cost_bytes`); running tickets and the loaded-file cache (`cache_bytes`, a callable) together stay within
`memory_budget_bytes`. A run that could never fit is refused at once with a message saying so; one that fits but
not now waits its turn like any other. A visitor whose tab is closed stops polling: a waiting ticket not touched
for `idle_s` seconds leaves the queue (Streamlit has no reliable "tab closed" callback).

Standard library only; no `st.*` calls (the page draws what `Ticket.position` says).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# What one worker holds before any data: the interpreter with pandas, pyarrow and smolagents imported (measured
# 180-230 MB resident on this machine), rounded up.
WORKER_BASE_BYTES = 256 * 1024**2
# A run's table lives in the app (the loaded frame), in the worker (its copy) and in the analysis' group sums.
TABLE_COPIES = 3
DEFAULT_IDLE_S = 60.0


class QueueRefused(Exception):
    """The run cannot take a place in the queue; the message says why and what to do."""


def run_cost_bytes(table_bytes: int) -> int:
    """What one run is expected to hold at its peak, from the size of its loaded table in memory."""
    return WORKER_BASE_BYTES + TABLE_COPIES * max(int(table_bytes), 0)


def machine_memory_bytes() -> int:
    """Physical memory of this machine (0 when unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _mb(size: int) -> str:
    return f"{size / 1024**2:,.0f} MB"


@dataclass(eq=False)
class Ticket:
    """One run's place in the queue.

    Attributes:
        visitor: Who asked for it (a browser session); a visitor holds at most one ticket.
        cost: The run's expected peak memory in bytes (`run_cost_bytes`).
        state: "waiting", "running" or "left".
    """

    queue: RunQueue
    visitor: str
    cost: int
    state: str = "waiting"
    number: int = 0
    touched: float = field(default_factory=time.monotonic)
    _turn: threading.Event = field(default_factory=threading.Event)

    @property
    def position(self) -> int:
        """How many runs are ahead of this one: the running ones and those waiting before it (0 once it runs)."""
        return self.queue.ahead_of(self)

    def touch(self) -> None:
        """The visitor is still there (the page polls its run): keeps a waiting ticket in the queue."""
        self.touched = time.monotonic()

    def wait_turn(self, timeout: float | None = None) -> bool:
        """Blocks until this ticket runs (True) or leaves the queue or `timeout` passes (False).

        Waiting tickets check the queue for idle ones as they wait: no thread of its own is needed for that.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.queue.expire_idle()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return self.state == "running"
            step = self.queue.idle_s / 4 if remaining is None else min(remaining, self.queue.idle_s / 4)
            if self._turn.wait(step):
                return self.state == "running"

    def leave(self) -> None:
        """Gives the place (waiting) or the slot (running) up; the next ticket that fits starts."""
        self.queue.leave(self)

    def message(self) -> str:
        """What the visitor reads while the run waits: "2 runs ahead of you"."""
        ahead = self.position
        if self.state == "running":
            return "Your run is starting."
        if self.state == "left":
            return "This run left the queue."
        runs = "1 run" if ahead == 1 else f"{ahead} runs"
        return (
            f"{runs} ahead of you: this server runs {self.queue.max_running} at a time. Your trace starts when "
            "your turn comes; keep this tab open."
        )


class RunQueue:
    """At most `max_running` runs at once, first come first served, within a memory budget.

    Args:
        max_running: Runs at once (default: the machine's cores).
        memory_budget_bytes: What running runs and the file cache may hold together (0: no budget).
        cache_bytes: What the loaded-file cache holds now (counted against the budget).
        idle_s: A waiting ticket not touched for this long leaves the queue (its tab was closed).
    """

    def __init__(
        self,
        max_running: int | None = None,
        memory_budget_bytes: int = 0,
        cache_bytes: Callable[[], int] | None = None,
        idle_s: float = DEFAULT_IDLE_S,
    ) -> None:
        self.max_running = max(1, int(max_running or os.cpu_count() or 1))
        self.memory_budget_bytes = max(0, int(memory_budget_bytes))
        self.cache_bytes = cache_bytes or (lambda: 0)
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._waiting: list[Ticket] = []
        self._running: list[Ticket] = []
        self._numbers = 0

    # ----------------------------------------------------------------------------------------------- entering
    def enter(self, visitor: str, cost: int = 0) -> Ticket:
        """A ticket for one run of `visitor`: running at once when a slot and the memory allow, else waiting.

        Raises:
            QueueRefused: The visitor has a run waiting or running already, or the run alone is over the budget.
        """
        self.expire_idle()
        with self._lock:
            if any(t.visitor == visitor for t in (*self._running, *self._waiting)):
                raise QueueRefused(
                    "You have a run going already: one run at a time per visitor. Wait for it to finish or press "
                    "Stop, then run again."
                )
            budget = self.memory_budget_bytes
            if budget and cost + self._cache_bytes() > budget:
                raise QueueRefused(
                    f"This file needs about {_mb(cost)} of memory to analyse, more than this server can give one "
                    f"run ({_mb(max(budget - self._cache_bytes(), 0))} free of its {_mb(budget)} budget). Upload "
                    "a smaller file (fewer rows, or only the columns you need), or ask the operator to raise "
                    "serving.memory_budget_mb."
                )
            self._numbers += 1
            ticket = Ticket(self, visitor, max(0, int(cost)), number=self._numbers)
            self._waiting.append(ticket)
            self._promote()
        return ticket

    def leave(self, ticket: Ticket) -> None:
        """Takes a ticket out of the queue (waiting or running); the next ones that fit start."""
        with self._lock:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            if ticket in self._running:
                self._running.remove(ticket)
            ticket.state = "left"
            ticket._turn.set()
            self._promote()

    def expire_idle(self) -> int:
        """Removes waiting tickets whose page stopped polling (`idle_s`); returns how many left."""
        now = time.monotonic()
        with self._lock:
            gone = [t for t in self._waiting if now - t.touched > self.idle_s]
            for ticket in gone:
                self._waiting.remove(ticket)
                ticket.state = "left"
                ticket._turn.set()
            if gone:
                self._promote()
        return len(gone)

    # ------------------------------------------------------------------------------------------------ reading
    def ahead_of(self, ticket: Ticket) -> int:
        with self._lock:
            if ticket not in self._waiting:
                return 0
            return len(self._running) + self._waiting.index(ticket)

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def held_bytes(self) -> int:
        """Memory the running runs are expected to hold, plus the file cache."""
        with self._lock:
            return sum(t.cost for t in self._running) + self._cache_bytes()

    # ------------------------------------------------------------------------------------------------ helpers
    def _cache_bytes(self) -> int:
        try:
            return max(0, int(self.cache_bytes()))
        except Exception:  # a cache that cannot say its size must not stop the queue
            return 0

    def _promote(self) -> None:
        """Starts waiting tickets in order while a slot and the budget allow (the lock is held).

        Strict order: a big run at the head waits for memory rather than being overtaken for good by small ones.
        """
        held = sum(t.cost for t in self._running) + self._cache_bytes()
        while self._waiting and len(self._running) < self.max_running:
            head = self._waiting[0]
            if self.memory_budget_bytes and self._running and held + head.cost > self.memory_budget_bytes:
                break  # it fits alone (checked on entry): it starts once running ones have finished
            self._waiting.pop(0)
            self._running.append(head)
            head.state = "running"
            held += head.cost
            head._turn.set()


_shared: RunQueue | None = None
_shared_lock = threading.Lock()


def shared_queue(
    max_running: int | None = None, memory_budget_bytes: int = 0, cache_bytes: Any = None
) -> RunQueue:
    """The app's one queue (every session of the server shares it), made on first use and updated after."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RunQueue(max_running, memory_budget_bytes, cache_bytes)
        else:  # the operator changed the settings: applied to the tickets that come next
            _shared.max_running = max(1, int(max_running or os.cpu_count() or 1))
            _shared.memory_budget_bytes = max(0, int(memory_budget_bytes))
            if cache_bytes is not None:
                _shared.cache_bytes = cache_bytes
        return _shared
