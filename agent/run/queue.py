"""The run queue of a served app: at most `max_running` runs at once, one per visitor, within a memory budget.

Sixteen visitors clicking Run together on a 2-core machine started sixteen workers at once: every trace stalled
until the summaries came out together. Here a run takes a `Ticket`; the ticket says at once how many runs are
ahead of it ("2 runs ahead of you") and the run starts when its turn comes. Order is first come, first served.

Memory: each ticket carries an estimate of what its run holds (its worker's imports and its table, see
`run_cost_bytes`); running tickets and the loaded-file cache (`cache_bytes`, a callable) together stay within
`memory_budget_bytes`. A run that could never fit is refused at once with a message saying so; one that fits but
not now waits its turn like any other.

A closed tab: Streamlit calls nothing when a session ends, but it knows whether one is still connected. A ticket
may carry `alive`, a callable the app builds from that (`ui.serving.session_liveness`); the queue's sweeper asks
it every `sweep_s` seconds. A ticket whose visitor has been gone for `gone_after_s` (a reload or a network blip
reconnects within that) leaves the queue: waiting, its place goes; running, its slot is freed at once and its
`on_gone` callback stops the run (the run then kills its worker). A ticket without `alive` leaves once its page
has stopped polling (`touch`) for `idle_s` seconds.

Several runs of one click (the Compare page's two agents, every scenario of a file) share one ticket: one visitor,
one place in the line. A ticket may take several `slots` (two agents side by side use two cores).

Standard library only; no `st.*` calls (the page draws what `Ticket.position` says).
"""

from __future__ import annotations

import contextlib
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
# A visitor whose session has been disconnected this long is gone (Streamlit reconnects a reload within it).
DEFAULT_GONE_AFTER_S = 2.0
# How often the sweeper looks for tickets whose visitor is gone.
DEFAULT_SWEEP_S = 0.5


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


class Liveness:
    """Whether a visitor is still there, from a callable that says whether its session is connected now.

    A disconnection counts only once it has lasted `gone_after_s`: a reload or a network blip reconnects sooner.
    A callable that fails counts as connected (a broken check must not end anyone's run).
    """

    def __init__(
        self,
        connected: Callable[[], bool],
        gone_after_s: float = DEFAULT_GONE_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connected = connected
        self.gone_after_s = gone_after_s
        self._clock = clock
        self._lost_at: float | None = None

    def gone(self) -> bool:
        """True once the session has been disconnected for `gone_after_s` seconds without a break."""
        try:
            connected = bool(self.connected())
        except Exception:
            connected = True
        if connected:
            self._lost_at = None
            return False
        now = self._clock()
        if self._lost_at is None:
            self._lost_at = now
        return now - self._lost_at >= self.gone_after_s


@dataclass(eq=False)
class Ticket:
    """One run's place in the queue.

    Attributes:
        visitor: Who asked for it (a browser session); a visitor holds at most one ticket.
        cost: The run's expected peak memory in bytes (`run_cost_bytes`).
        state: "waiting", "running" or "left".
        slots: How many of the `max_running` slots it takes while it runs.
        liveness: Whether its visitor is still there (None: only the `idle_s` time-out applies).
        on_gone: Called (once, on the sweeper's thread) when it leaves because its visitor has gone.
        gone: True once it left because its visitor had gone (tab closed, or it stopped polling).
    """

    queue: RunQueue
    visitor: str
    cost: int
    state: str = "waiting"
    number: int = 0
    slots: int = 1
    liveness: Liveness | None = None
    on_gone: Callable[[], None] | None = None
    gone: bool = False
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

        The queue's sweeper removes it meanwhile if its visitor goes (`RunQueue.sweep`).
        """
        self._turn.wait(timeout)
        return self.state == "running"

    def leave(self) -> None:
        """Gives the place (waiting) or the slot (running) up; the next ticket that fits starts."""
        self.queue.leave(self)

    def waiting_message(self) -> str | None:
        """`message()` while the ticket waits for its turn; None once it runs or has left."""
        return self.message() if self.state == "waiting" else None

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
        idle_s: A waiting ticket without liveness, not touched for this long, leaves the queue.
        sweep_s: How often the sweeper (a daemon thread, alive while the queue holds tickets) looks for tickets
            whose visitor is gone.
    """

    def __init__(
        self,
        max_running: int | None = None,
        memory_budget_bytes: int = 0,
        cache_bytes: Callable[[], int] | None = None,
        idle_s: float = DEFAULT_IDLE_S,
        sweep_s: float = DEFAULT_SWEEP_S,
    ) -> None:
        self.max_running = max(1, int(max_running or os.cpu_count() or 1))
        self.memory_budget_bytes = max(0, int(memory_budget_bytes))
        self.cache_bytes = cache_bytes or (lambda: 0)
        self.idle_s = idle_s
        self.sweep_s = sweep_s
        self._lock = threading.Lock()
        self._waiting: list[Ticket] = []
        self._running: list[Ticket] = []
        self._numbers = 0
        self._sweeping = False

    # ----------------------------------------------------------------------------------------------- entering
    def enter(
        self,
        visitor: str,
        cost: int = 0,
        slots: int = 1,
        alive: Callable[[], bool] | Liveness | None = None,
        on_gone: Callable[[], None] | None = None,
    ) -> Ticket:
        """A ticket for one run of `visitor`: running at once when a slot and the memory allow, else waiting.

        Args:
            visitor: Who asks (a browser session); one ticket per visitor.
            cost: The run's expected peak memory in bytes.
            slots: Slots it takes while running (at most `max_running`: two agents on a one-slot server share it).
            alive: Whether the visitor's session is connected now (a callable, or a `Liveness` built on one).
            on_gone: Called when the ticket leaves because its visitor has gone, to stop its run.

        Raises:
            QueueRefused: The visitor has a run waiting or running already, or the run alone is over the budget.
        """
        self.sweep()
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
            liveness = Liveness(alive) if alive is not None and not isinstance(alive, Liveness) else alive
            ticket = Ticket(
                self,
                visitor,
                max(0, int(cost)),
                number=self._numbers,
                slots=min(max(1, int(slots)), self.max_running),
                liveness=liveness,
                on_gone=on_gone,
            )
            self._waiting.append(ticket)
            self._promote()
            self._start_sweeper()
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

    def sweep(self) -> int:
        """Removes tickets whose visitor has gone: waiting or running ones whose session is disconnected
        (`Ticket.liveness`), and waiting ones without liveness whose page stopped polling (`idle_s`). Calls their
        `on_gone` callbacks; returns how many left."""
        now = time.monotonic()
        with self._lock:
            gone = [
                t
                for t in (*self._running, *self._waiting)
                if (t.liveness is not None and t.liveness.gone())
                or (t.liveness is None and t.state == "waiting" and now - t.touched > self.idle_s)
            ]
            for ticket in gone:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                else:
                    self._running.remove(ticket)
                ticket.state = "left"
                ticket.gone = True
                ticket._turn.set()
            if gone:
                self._promote()
        for (
            ticket
        ) in gone:  # outside the lock: a callback may stop a run, which leaves its (left) ticket again
            if ticket.on_gone is not None:
                # One broken callback must not keep the others' runs going.
                with contextlib.suppress(Exception):
                    ticket.on_gone()
        return len(gone)

    def _start_sweeper(self) -> None:
        """Starts the sweeper thread unless it runs (the lock is held); it ends when the queue is empty."""
        if self._sweeping:
            return
        self._sweeping = True
        threading.Thread(target=self._sweep_while_held, name="kpi-queue-sweeper", daemon=True).start()

    def _sweep_while_held(self) -> None:
        while True:
            time.sleep(self.sweep_s)
            with self._lock:
                if not self._waiting and not self._running:
                    self._sweeping = False
                    return
            self.sweep()

    # ------------------------------------------------------------------------------------------------ reading
    def ahead_of(self, ticket: Ticket) -> int:
        """How many runs are ahead of a waiting ticket: every running one, and the waiting ones before it."""
        with self._lock:
            if ticket not in self._waiting:
                return 0
            return len(self._running) + self._waiting.index(ticket)

    @property
    def running(self) -> int:
        """How many tickets run now (a ticket of two agents counts once)."""
        with self._lock:
            return len(self._running)

    @property
    def slots_used(self) -> int:
        """How many of the `max_running` slots the running tickets take."""
        with self._lock:
            return sum(t.slots for t in self._running)

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
        used = sum(t.slots for t in self._running)
        while self._waiting:
            head = self._waiting[0]
            head.slots = min(head.slots, self.max_running)  # the operator may have lowered max_running
            if used + head.slots > self.max_running:
                break
            if self.memory_budget_bytes and self._running and held + head.cost > self.memory_budget_bytes:
                break  # it fits alone (checked on entry): it starts once running ones have finished
            self._waiting.pop(0)
            self._running.append(head)
            head.state = "running"
            held += head.cost
            used += head.slots
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
            with _shared._lock:  # more slots: waiting tickets may start now
                _shared._promote()
        return _shared
