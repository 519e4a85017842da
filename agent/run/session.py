"""A run in a background thread, feeding its events to whoever polls: the page's auto-refreshing fragment.

A Streamlit rerun abandons a generator the script is iterating, so a run must not live in the script's loop. This
thread makes no `st.*` calls; the page drains `poll()` and draws `result`.
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from agent.models import tokens
from agent.run import events as ev
from agent.run.queue import Liveness, RunQueue, Ticket, run_cost_bytes
from agent.run.result import RunResult
from agent.run.runner import RunRequest, run_events
from agent.sandbox import worker_pool

if TYPE_CHECKING:
    from agent.run.scenarios import ScenarioRow
    from tools.loading import Dataset


def prepare_next_run(agent: str = "code") -> None:
    """Makes ready, in the background, what the next run needs: the tokenizer the built-in analysts count with (it
    holds the GIL for 0.2 s) and the worker process (a second of imports) that runs the code agent's code or the
    tool-calling agent's tools. Call it while no run is going: on two cores the worker's imports would slow a run."""
    tokens.preload()
    worker_pool.prestart()


def run_cost(dataset: Dataset) -> int:
    """The queue's memory estimate for one run of a loaded file (`agent.run.queue.run_cost_bytes`)."""
    return run_cost_bytes(int(dataset.frame.memory_usage(deep=False).sum()))


_CONVERSATIONS: weakref.WeakSet = weakref.WeakSet()


def close_all_conversations() -> None:
    """Ends every conversation waiting for a follow-up (their workers are let go): for tests and shutdown."""
    for run in list(_CONVERSATIONS):
        run.close()


class _Queued:
    """A run (or runs) holding a ticket of the server's run queue, or None without a queue."""

    ticket: Ticket | None

    @property
    def queue_message(self) -> str | None:
        """While it waits for its turn: "2 runs ahead of you ..."; None once it runs (or without a queue)."""
        return self.ticket.waiting_message() if self.ticket is not None else None


class BackgroundRun(_Queued):
    """One run of the agent in a daemon thread.

    Args:
        request: What to analyse.
        model: The smolagents model (None: the built-in analyst).
        run_queue: The served app's run queue (`agent.run.queue`): the run waits there for its turn; None: it starts
            at once. Its slot is given back when a turn ends; each follow-up question takes a new ticket (`ask`).
        visitor: Who runs it (the browser session), for the queue's one run per visitor.
        alive: Whether the visitor's session is still connected (`ui.serving.session_liveness`). Once it has gone,
            the queue drops the run's ticket and the run stops (its worker is let go); a conversation waiting for
            a follow-up ends. None: only the queue's idle time-out applies.
        ticket: A ticket taken by a group of runs (`RunGroup`, `ScenarioComparison`): the run waits for that
            ticket's turn and leaves giving it back to the group.
    """

    # A conversation waits this long for a follow-up question before its worker process is let go.
    FOLLOW_UP_IDLE_S = 300.0

    def __init__(
        self,
        request: RunRequest,
        model: Any = None,
        conversation: bool = False,
        run_queue: RunQueue | None = None,
        visitor: str = "",
        alive: Callable[[], bool] | Liveness | None = None,
        ticket: Ticket | None = None,
    ) -> None:
        self.request = request
        self.run_queue = run_queue
        self.visitor = visitor
        self.liveness = Liveness(alive) if alive is not None and not isinstance(alive, Liveness) else alive
        self.ticket: Ticket | None = ticket
        self._owns_ticket = ticket is None
        self.model = model
        self.result = RunResult()
        self.events: list[ev.Event] = []  # every event polled so far, for saving
        self.saved_id: int | None = None  # its row in the run history, once saved (-1: saving failed)
        self.saved_turns = 0  # turns in the saved copy: a conversation is saved again after each follow-up
        self.stop_event = threading.Event()
        self.conversation = conversation  # keep the agent for follow-up questions (`ask`)
        if conversation:
            _CONVERSATIONS.add(self)
        self._questions: queue.Queue[str | None] = queue.Queue()
        self._turns_asked = 1
        self._turns_done = 0
        self._queue: queue.Queue[ev.Event] = queue.Queue()
        self._news = threading.Event()  # set whenever an event is queued: `wait_idle` wakes at once
        self._thread = threading.Thread(target=self._work, name="kpi-narrator-run", daemon=True)
        self._finished = threading.Event()
        self._stepping = threading.Event()  # set once the first step has started (or the run ended)
        self.started_at: float | None = None  # time.monotonic() when its turn came and the agent started
        self.finished_at: float | None = None  # ... and when its thread ended

    def start(self) -> BackgroundRun:
        """Starts the thread; with a queue, takes a ticket first (QueueRefused: one run per visitor, or too big)."""
        if self.run_queue is not None and self._owns_ticket:
            self.ticket = self._enter()
        self._thread.start()
        return self

    def _enter(self) -> Ticket:
        assert self.run_queue is not None
        return self.run_queue.enter(
            self.visitor, run_cost(self.request.dataset), alive=self.liveness, on_gone=self.abandon
        )

    def abandon(self) -> None:
        """The visitor has gone (its tab closed): the run stops after the current step, a conversation takes no
        more follow-ups, and the worker is let go when the agent's stream ends."""
        self.stop_event.set()
        self.close()

    def cancel(self, message: str) -> None:
        """Ends a run that was never started (its group stopped first): it reads as stopped, with `message`."""
        self._put(ev.RunFinished("stopped", {}, message))
        self._finished.set()
        self._stepping.set()

    def _wait_turn(self) -> bool:
        """Waits in the queue until the run's turn; False when it was stopped or left the queue meanwhile."""
        ticket = self.ticket
        if ticket is None:
            return True
        while not self.stop_event.is_set():
            if ticket.wait_turn(0.25):
                return True
            if ticket.state == "left":
                return False
        if self._owns_ticket:
            ticket.leave()
        return False

    def _ready_next_in_line(self) -> None:
        """Starts a worker for the next run in the queue while this one runs (this run has taken its own by its
        first step): in a busy queue every run started a cold worker, a second of imports, after the one before
        it had ended."""
        ticket = self.ticket
        if ticket is not None and ticket.queue.waiting:
            worker_pool.prestart()

    def _leave_queue(self) -> None:
        if self.ticket is not None and self._owns_ticket:
            self.ticket.leave()

    def _visitor_gone(self) -> bool:
        return self.liveness is not None and self.liveness.gone()

    def _follow_ups(self) -> Iterator[str]:
        """The questions asked with `ask`, as they come, each once its ticket's turn has come; ends on `close`, on
        Stop, when the visitor has gone, or after a long idle wait."""
        while not self.stop_event.is_set():
            waited = 0.0
            question: str | None = ""
            while question == "":
                try:
                    # In short waits: a closed tab ends the conversation (and lets its worker go) within seconds.
                    question = self._questions.get(timeout=1.0)
                except queue.Empty:
                    waited += 1.0
                    if waited >= self.FOLLOW_UP_IDLE_S or self._visitor_gone():
                        return
            if question is None:
                return
            if not self._wait_turn():  # the follow-up's ticket (`ask`) waits its turn like any run
                # The turn is shown as asked and stopped (its RunFinished alone would end the first turn again).
                self._put(ev.TurnStarted(self._turns_asked, question, question))
                self._put(ev.RunFinished("stopped", {}, "Stopped before its turn came."))
                return
            yield question

    def _work(self) -> None:
        follow_ups = self._follow_ups() if self.conversation else ()
        try:
            if not self._wait_turn():
                stopped = self.stop_event.is_set()
                message = (
                    "Stopped before its turn came."
                    if stopped
                    else "The run left the queue (the page went away)."
                )
                self._put(ev.RunFinished("stopped" if stopped else "error", {}, message))
                return
            self.started_at = time.monotonic()
            for event in run_events(self.request, self.model, stop=self.stop_event, follow_ups=follow_ups):
                if isinstance(event, ev.RunFinished):
                    # The turn is over: the next visitor's run may start. Before the event is out, so that a page
                    # that sees the run finished may start another one for this visitor.
                    self._leave_queue()
                self._put(event)
                if isinstance(event, ev.StepStarted) and not self._stepping.is_set():
                    self._stepping.set()
                    self._ready_next_in_line()
        except Exception as error:  # a bad request or a bug: the page shows it, the thread ends cleanly
            message = f"{type(error).__name__}: {error}" if not isinstance(error, ValueError) else str(error)
            self._put(ev.StepError(None, message))
            self._put(ev.RunFinished("error", {}, message))
        finally:
            self._leave_queue()
            self.finished_at = time.monotonic()
            self._finished.set()
            self._stepping.set()

    def _put(self, event: ev.Event) -> None:
        self._queue.put(event)
        self._news.set()

    def poll(self) -> list[ev.Event]:
        """Events since the last poll, already applied to `result`; polling keeps a waiting run in the queue."""
        if self.ticket is not None:
            self.ticket.touch()
        new = []
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            self.result.apply(event)
            self.events.append(event)
            new.append(event)
            if isinstance(event, ev.RunFinished):
                self._turns_done += 1
        return new

    def ask(self, question: str) -> bool:
        """A follow-up question in the same conversation (the agent keeps its memory and variables); False when
        the conversation has ended (closed, stopped, or idle too long). With a queue the question takes a ticket
        of its own and waits its turn (`queue_message` says its position).

        Raises:
            QueueRefused: The visitor has another run going, or the file no longer fits the memory budget.
        """
        if not self.conversation or self._finished.is_set() or self.stop_event.is_set():
            return False
        if self.run_queue is not None and self._owns_ticket:
            self.ticket = self._enter()
        self._turns_asked += 1
        self._questions.put(question)
        return True

    def close(self) -> None:
        """Ends the conversation: no more follow-ups, the worker process is let go."""
        self._questions.put(None)

    @property
    def idle(self) -> bool:
        """True when every asked turn has finished (the run may still wait for a follow-up)."""
        return self.finished or (self._turns_done >= self._turns_asked and self._queue.empty())

    @property
    def can_follow_up(self) -> bool:
        """True while the conversation takes another question."""
        return self.conversation and not self._finished.is_set() and self.idle

    def stop(self) -> None:
        """Asks the run to end after the current step; the steps made so far are kept."""
        self.stop_event.set()

    @property
    def finished(self) -> bool:
        """True once the thread has ended and every event has been polled."""
        return self._finished.is_set() and self._queue.empty()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the thread ends (for tests and scripts)."""
        return self._finished.wait(timeout)

    def wait_for_first_step(self, timeout: float) -> bool:
        """Blocks until the first step has started, at most `timeout` seconds: the page that started the run can
        then show it at once instead of on its next refresh. A run waiting in the queue returns at once (False):
        the page shows its position instead."""
        if self.ticket is not None and self.ticket.state == "waiting":
            return False
        return self._stepping.wait(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """Polls until every asked turn has finished, at most `timeout` seconds; False on time-out. It wakes as
        soon as an event comes: the page that waits a moment for a quick run draws its summary at once."""
        deadline = time.monotonic() + timeout
        while True:
            self._news.clear()  # before polling: an event queued after the poll wakes the wait below
            self.poll()
            if self.idle:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._news.wait(min(remaining, 0.25))


class Replay:
    """A saved run played back: the same interface as `BackgroundRun`, fed from recorded events, no model.

    Args:
        events: The recorded events.
        pace_s: Seconds between events (0: everything at once).
        run_id: The saved run it plays, if any.
    """

    def __init__(self, events: list[ev.Event], pace_s: float = 0.0, run_id: int | None = None):
        self.run_id = run_id
        self._pending = list(events)
        self.events: list[ev.Event] = []
        self.result = RunResult()
        self.pace_s = pace_s
        self._started = time.monotonic()

    def poll(self) -> list[ev.Event]:
        if self.pace_s:
            due = (
                int((time.monotonic() - self._started) / self.pace_s) + 1
            )  # events that should be out by now
            count = max(due - len(self.events), 0)
        else:
            count = len(self._pending)
        released, self._pending = self._pending[:count], self._pending[count:]
        for event in released:
            self.result.apply(event)
            self.events.append(event)
        return released

    def stop(self) -> None:
        self.poll()

    @property
    def finished(self) -> bool:
        return not self._pending


class RunGroup(_Queued):
    """The runs of one click that belong together (the Compare page's two agents), under one ticket of the queue.

    One visitor, one place in the line: the group takes a single ticket for all its runs, worth as many slots as
    it has runs (at most the queue's `max_running`). When the ticket got a slot per run they run side by side;
    on a server of fewer slots they run one after the other, so the group never runs more agents at once than
    the slots it holds. The ticket is given back when the last run ends.

    Args:
        runs: The runs, by name, not started (made without `run_queue` or `ticket`).
        run_queue: The served app's run queue; None: every run starts at once.
        visitor: Who runs them (one ticket per visitor).
        alive: Whether the visitor's session is still connected (see `BackgroundRun`).
    """

    def __init__(
        self,
        runs: dict[str, BackgroundRun],
        run_queue: RunQueue | None = None,
        visitor: str = "",
        alive: Callable[[], bool] | Liveness | None = None,
    ) -> None:
        self.runs = runs
        self.run_queue = run_queue
        self.visitor = visitor
        self.alive = alive
        self.ticket: Ticket | None = None
        self.stop_event = threading.Event()
        self._thread = threading.Thread(target=self._work, name="kpi-narrator-group", daemon=True)

    def start(self) -> RunGroup:
        """Takes the group's ticket (QueueRefused: one run per visitor, or too big) and starts its runs."""
        if self.run_queue is not None:
            self.ticket = self.run_queue.enter(
                self.visitor,
                sum(run_cost(run.request.dataset) for run in self.runs.values()),
                slots=len(self.runs),
                alive=self.alive,
                on_gone=self.stop,
            )
        for run in self.runs.values():
            run.ticket, run._owns_ticket = self.ticket, False
            run.stop_event = self.stop_event  # one Stop (or a closed tab) ends them all
        self._thread.start()
        return self

    def _work(self) -> None:
        side_by_side = self.ticket is None or self.ticket.slots >= len(self.runs)
        pending = list(self.runs.values())
        try:
            if side_by_side:
                for run in pending:
                    run.start()
                for run in pending:
                    run.wait()
            else:
                while pending and not self.stop_event.is_set():
                    pending.pop(0).start().wait()
        finally:
            for run in pending if not side_by_side else ():
                run.cancel("Stopped before its turn came.")
            if self.ticket is not None:
                self.ticket.leave()

    def poll(self) -> None:
        """Polls every run (polling keeps the group's place in the queue)."""
        if self.ticket is not None:
            self.ticket.touch()
        for run in self.runs.values():
            run.poll()

    def stop(self) -> None:
        self.stop_event.set()

    @property
    def finished(self) -> bool:
        return all(run.finished for run in self.runs.values())

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


class ScenarioComparison(_Queued):
    """Every scenario of a file, one `BackgroundRun` after another in a supervising thread (no `st.*` calls).

    In a served app the comparison takes one ticket of the run queue for all its scenarios (one click, one place
    in the line, one slot: the runs never overlap); it waits for its turn before the first scenario is loaded.

    Args:
        scenarios: The scenarios to run, in order.
        load: Loads the file with one scenario chosen.
        request_for: The run request for a loaded scenario.
        model: The smolagents model, shared by the runs (they never overlap).
        run_queue: The served app's run queue; None: it starts at once.
        visitor: Who runs it (one ticket per visitor).
        cost: The queue's memory estimate for one scenario's run (`run_cost` of the loaded file).
        alive: Whether the visitor's session is still connected (see `BackgroundRun`).
    """

    def __init__(
        self,
        scenarios: list[str],
        load: Callable[[str | None], Dataset],
        request_for: Callable[[Dataset], RunRequest],
        model: Any = None,
        run_queue: RunQueue | None = None,
        visitor: str = "",
        cost: int = 0,
        alive: Callable[[], bool] | Liveness | None = None,
    ) -> None:
        self.scenarios = list(scenarios)
        self.runs: dict[str, BackgroundRun] = {}
        self.load_errors: dict[str, str] = {}
        self._load, self._request_for, self._model = load, request_for, model
        self.run_queue, self.visitor, self.cost, self.alive = run_queue, visitor, cost, alive
        self.ticket: Ticket | None = None
        self.stop_event = threading.Event()
        self._started = threading.Event()  # set once the first run exists (or every load failed)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._work, name="kpi-narrator-scenarios", daemon=True)

    def start(self) -> ScenarioComparison:
        """Takes the comparison's ticket (QueueRefused: one run per visitor, or too big) and starts it."""
        if self.run_queue is not None:
            self.ticket = self.run_queue.enter(self.visitor, self.cost, alive=self.alive, on_gone=self.stop)
        self._thread.start()
        return self

    def _wait_turn(self) -> bool:
        ticket = self.ticket
        while ticket is not None and not self.stop_event.is_set():
            if ticket.wait_turn(0.25):
                return True
            if ticket.state == "left":
                return False
        return ticket is None

    def _work(self) -> None:
        try:
            if not self._wait_turn():
                return
            for scenario in self.scenarios:
                if self.stop_event.is_set():
                    break
                try:
                    dataset = self._load(scenario)
                except ValueError as error:  # DataError: a metric this scenario lacks; the others still run
                    self.load_errors[scenario] = str(error)
                    continue
                run = BackgroundRun(self._request_for(dataset), self._model, ticket=self.ticket)
                run.stop_event = self.stop_event  # one Stop ends the comparison
                self.runs[scenario] = run.start()
                self._started.set()
                run.wait()
        finally:
            if self.ticket is not None:
                self.ticket.leave()
            self._done.set()
            self._started.set()

    def poll(self) -> None:
        if self.ticket is not None:
            self.ticket.touch()
        for run in list(self.runs.values()):
            run.poll()

    @property
    def current(self) -> tuple[str, BackgroundRun] | None:
        """The scenario running now (or the last one), with its run."""
        return next(reversed(self.runs.items()), None)

    def rows(self) -> list[ScenarioRow]:
        """One row per scenario, from the runs polled so far (see `agent.run.scenarios.scenario_row`)."""
        from agent.run.scenarios import scenario_row

        rows = []
        for scenario in self.scenarios:
            if scenario in self.runs:
                rows.append(scenario_row(scenario, self.runs[scenario].result))
            elif scenario in self.load_errors:
                failed = RunResult(status="error", error=self.load_errors[scenario])
                rows.append(scenario_row(scenario, failed))
        return rows

    def stop(self) -> None:
        self.stop_event.set()

    @property
    def finished(self) -> bool:
        return self._done.is_set() and all(run.finished for run in self.runs.values())

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def wait_for_first_step(self, timeout: float) -> bool:
        if self.ticket is not None and self.ticket.state == "waiting":
            return False  # the page shows the position instead
        if not self._started.wait(timeout):
            return False
        current = self.current
        return current[1].wait_for_first_step(timeout) if current else True
