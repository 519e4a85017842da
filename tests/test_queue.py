"""The served app's run queue: order, one run per visitor, leaving, the memory budget, and its use by a run."""

import os
import threading
from pathlib import Path

import pytest

from agent.run.queue import Liveness, QueueRefused, RunQueue, run_cost_bytes
from agent.run.runner import RunRequest
from agent.run.session import BackgroundRun, RunGroup

MB = 1024**2


def test_runs_start_in_the_order_they_came_and_each_knows_how_many_are_ahead():
    queue = RunQueue(max_running=2)
    tickets = [queue.enter(f"visitor{i}") for i in range(5)]
    assert [t.state for t in tickets] == ["running", "running", "waiting", "waiting", "waiting"]
    assert [t.position for t in tickets] == [0, 0, 2, 3, 4]
    assert tickets[3].message().startswith("3 runs ahead of you")
    tickets[1].leave()
    assert [t.state for t in tickets] == ["running", "left", "running", "waiting", "waiting"]
    assert tickets[4].position == 3
    tickets[0].leave()
    assert tickets[3].state == "running" and tickets[4].position == 2
    assert queue.running == 2 and queue.waiting == 1


def test_a_visitor_has_one_run_at_a_time():
    queue = RunQueue(max_running=1)
    first = queue.enter("alice")
    queue.enter("bob")
    with pytest.raises(QueueRefused, match="one run at a time"):
        queue.enter("alice")
    with pytest.raises(QueueRefused):
        queue.enter("bob")  # a waiting run counts too
    first.leave()
    assert queue.enter("alice").state == "waiting"  # after bob, who came first


def test_a_waiting_visitor_who_leaves_frees_its_place():
    queue = RunQueue(max_running=1)
    running, leaving, staying = (queue.enter(name) for name in ("a", "b", "c"))
    assert staying.position == 2
    leaving.leave()
    assert leaving.state == "left" and staying.position == 1
    assert not leaving.wait_turn(0)
    running.leave()
    assert staying.wait_turn(0) and staying.state == "running"


def test_a_closed_tab_leaves_the_queue_once_it_stops_polling():
    queue = RunQueue(max_running=1, idle_s=0.2)
    running = queue.enter("a")
    closed, open_tab = queue.enter("closed"), queue.enter("open")
    gone = threading.Event()

    def keep_polling():  # the open tab's page polls its run; the closed one does not
        while not gone.wait(0.05):
            open_tab.touch()

    poller = threading.Thread(target=keep_polling)
    poller.start()
    try:
        assert not closed.wait_turn(1.0)  # expires (it was not touched) instead of waiting for good
        assert queue.sweep() == 0  # the open tab is still there
    finally:
        gone.set()
        poller.join()
    assert closed.state == "left" and open_tab.state == "waiting" and open_tab.position == 1
    running.leave()
    assert open_tab.state == "running"


def test_the_budget_refuses_a_run_that_could_never_fit_with_a_clear_message():
    queue = RunQueue(max_running=4, memory_budget_bytes=1000 * MB, cache_bytes=lambda: 300 * MB)
    with pytest.raises(QueueRefused) as refused:
        queue.enter("big", cost=800 * MB)
    message = str(refused.value)
    assert "800 MB" in message and "700 MB free" in message and "1,000 MB" in message
    assert "smaller file" in message and "serving.memory_budget_mb" in message
    assert queue.running == 0 and queue.waiting == 0


def test_runs_that_fit_alone_but_not_together_wait_for_memory_in_order():
    queue = RunQueue(max_running=4, memory_budget_bytes=1000 * MB)
    first = queue.enter("a", cost=600 * MB)
    second = queue.enter("b", cost=600 * MB)
    small = queue.enter("c", cost=10 * MB)  # fits now, but does not overtake the run before it
    assert (first.state, second.state, small.state) == ("running", "waiting", "waiting")
    assert queue.held_bytes() == 600 * MB
    first.leave()
    assert second.state == "running" and small.state == "running"


def test_a_runs_cost_grows_with_its_table():
    assert run_cost_bytes(100 * MB) - run_cost_bytes(0) == 3 * 100 * MB


def test_a_queued_run_shows_its_position_then_runs_when_its_turn_comes(revenue_dataset):
    queue = RunQueue(max_running=1)
    blocker = queue.enter("someone else")
    run = BackgroundRun(RunRequest(revenue_dataset, executor="local"), run_queue=queue, visitor="me").start()
    assert not run.wait_for_first_step(5)  # returns at once: the page shows the position instead
    assert run.queue_message.startswith("1 run ahead of you")
    with pytest.raises(QueueRefused):
        BackgroundRun(RunRequest(revenue_dataset, executor="local"), run_queue=queue, visitor="me").start()
    assert run.poll() == []  # nothing runs before its turn
    blocker.leave()
    assert run.wait(60)
    run.poll()
    assert run.result.status == "success" and run.queue_message is None
    assert queue.running == 0 and queue.waiting == 0  # its slot was given back


def test_stop_while_waiting_ends_the_run_and_leaves_the_queue(revenue_dataset):
    queue = RunQueue(max_running=1)
    blocker = queue.enter("someone else")
    run = BackgroundRun(RunRequest(revenue_dataset, executor="local"), run_queue=queue, visitor="me").start()
    run.stop()
    assert run.wait(10)
    run.poll()
    assert run.result.status == "stopped" and run.result.steps == []
    assert queue.waiting == 0 and blocker.state == "running"


# ---- a closed tab: the session's liveness, checked by the queue's sweeper ----------------------------------------
class Session:
    """A browser session as the queue sees it: connected or not (the test closes the tab by setting it)."""

    def __init__(self) -> None:
        self.connected = True

    def __call__(self) -> bool:
        return self.connected

    def closed_now(self) -> Liveness:
        """A liveness on this session that counts a disconnection at once (no grace for a reload)."""
        return Liveness(self, gone_after_s=0)


def test_a_disconnection_counts_only_once_it_has_lasted_the_grace_period():
    clock, session = Clock(), Session()
    liveness = Liveness(session, gone_after_s=2.0, clock=clock)
    session.connected = False
    assert not liveness.gone()
    clock.now = 1.5
    session.connected = True  # a reload reconnected in time
    assert not liveness.gone()
    session.connected = False
    clock.now = 3.0
    assert not liveness.gone()  # the grace period starts again
    clock.now = 5.0
    assert liveness.gone()
    broken = Liveness(lambda: 1 / 0, gone_after_s=0)
    assert not broken.gone()  # a check that fails keeps the visitor


def test_a_closed_tab_leaves_the_queue_without_waiting_for_the_idle_time_out():
    queue = RunQueue(max_running=1, idle_s=3600, sweep_s=0.05)
    running = queue.enter("a")
    tab = Session()
    closed = queue.enter("closed", alive=tab.closed_now())
    behind = queue.enter("behind", alive=Session().closed_now())
    assert behind.position == 2
    tab.connected = False
    assert not closed.wait_turn(10)  # the sweeper took it out: the idle time-out is an hour
    assert closed.state == "left" and closed.gone and behind.position == 1
    running.leave()
    assert behind.state == "running"


def test_a_running_ticket_whose_tab_closed_frees_its_slot_and_is_told():
    queue = RunQueue(max_running=1, sweep_s=0.05)
    tab, told = Session(), threading.Event()
    running = queue.enter("a", alive=tab.closed_now(), on_gone=told.set)
    next_one = queue.enter("b")
    tab.connected = False
    assert next_one.wait_turn(10) and told.is_set()
    assert running.state == "left" and queue.running == 1


def test_a_ticket_of_two_slots_runs_when_both_are_free_and_takes_one_on_a_one_slot_server():
    queue = RunQueue(max_running=2)
    alone = queue.enter("a")
    pair = queue.enter("b", slots=2)
    after = queue.enter("c")
    assert (pair.state, after.state) == ("waiting", "waiting")  # one slot is free, the pair needs two
    alone.leave()
    assert pair.state == "running" and queue.slots_used == 2 and after.position == 1
    assert RunQueue(max_running=1).enter("d", slots=2).slots == 1


def _child_pids() -> set[int]:
    """This process's children (a worker runs as one, or as bubblewrap's child)."""
    pids = set()
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        pids.update(int(pid) for pid in children.read_text().split())
    return pids


def test_a_run_whose_tab_closed_is_stopped_its_slot_freed_and_its_worker_killed(
    revenue_dataset, scripted_model
):
    from agent.sandbox import worker_pool

    worker_pool.discard_spare()
    before = _child_pids()
    gate = threading.Event()

    class SlowModel(scripted_model):
        def generate(self, messages, **kwargs):
            if self.calls:
                gate.wait(30)  # step 2 waits on the model, as a slow LLM call would
            return super().generate(messages, **kwargs)

    model = SlowModel(["Thought: a.\n<code>\nx = 1\nprint(x)\n</code>"] * 4)
    queue, tab = RunQueue(max_running=1, sweep_s=0.05), Session()
    run = BackgroundRun(
        RunRequest(revenue_dataset),
        model,
        conversation=True,
        run_queue=queue,
        visitor="me",
        alive=tab.closed_now(),
    ).start()
    try:
        while not any(step["done"] for step in run.result.steps):
            run.poll()
            assert not run.finished, run.result.error
        assert _child_pids() - before  # its worker is running
        waiting = queue.enter("next visitor")
        tab.connected = False
        assert waiting.wait_turn(10)  # the slot is the next visitor's while the model call still hangs
    finally:
        gate.set()
    assert run.wait(30)
    run.poll()
    assert run.result.status == "stopped" and run.stop_event.is_set()
    assert not run.can_follow_up  # the conversation ended too
    assert _child_pids() <= before  # nothing left behind


def test_a_conversation_waiting_for_a_follow_up_ends_when_its_tab_closes(revenue_dataset):
    tab = Session()
    run = BackgroundRun(
        RunRequest(revenue_dataset, executor="local"), conversation=True, alive=tab.closed_now()
    ).start()
    assert run.wait_idle(60) and run.can_follow_up
    assert not run.wait(1.5)  # it waits for a question while the tab is open
    tab.connected = False
    assert run.wait(10)  # within seconds, not the five minutes a conversation waits for a question
    assert not run.ask("Anything else?")


def test_a_run_starts_a_worker_for_the_next_one_in_line(revenue_dataset, scripted_model):
    from agent.sandbox import worker_pool

    gate = threading.Event()

    class SlowModel(scripted_model):
        def generate(self, messages, **kwargs):
            if self.calls:
                gate.wait(30)  # holds the run after its first step
            return super().generate(messages, **kwargs)

    def held_run(visitor):
        return BackgroundRun(
            RunRequest(revenue_dataset),
            SlowModel(["Thought: a.\n<code>\nprint(1)\n</code>"] * 2),
            run_queue=queue,
            visitor=visitor,
        ).start()

    worker_pool.discard_spare()
    queue = RunQueue(max_running=1)
    try:
        alone = held_run("alone")
        assert alone.wait_for_first_step(60)
        assert worker_pool.spare() is None  # nobody waits: no worker started for nothing
        gate.set()
        assert alone.wait(60)
        gate.clear()
        blocker = queue.enter("blocker")
        first, second = held_run("first"), held_run("second")
        blocker.leave()
        assert first.wait_for_first_step(60)
        assert worker_pool.spare() is not None  # started for `second` while `first` runs
        gate.set()
        assert first.wait(60) and second.wait(60)
        second.poll()
        assert second.result.status == "success"
        assert worker_pool.spare() is None  # `second` took it
    finally:
        gate.set()
        worker_pool.discard_spare()


def test_a_follow_up_takes_a_ticket_and_waits_its_turn(revenue_dataset):
    queue = RunQueue(max_running=1)
    run = BackgroundRun(
        RunRequest(revenue_dataset, executor="local"), conversation=True, run_queue=queue, visitor="me"
    ).start()
    try:
        assert run.wait_idle(60) and run.result.status == "success"
        assert queue.running == 0  # the first turn gave its slot back
        blocker = queue.enter("someone else")
        assert run.ask("Which country fell most?")
        assert run.queue_message.startswith("1 run ahead of you")
        with pytest.raises(QueueRefused):
            queue.enter("me")  # the follow-up is this visitor's one run
        assert not run.wait_idle(0.5) and run.result.turns == []  # nothing runs before its turn
        blocker.leave()
        assert run.wait_idle(60)
        assert run.result.turns[0].status == "success" and run.queue_message is None
        assert queue.running == 0 and queue.waiting == 0
    finally:
        run.close()


def test_the_compare_pair_is_one_ticket_of_one_visitor_and_runs_one_after_the_other_on_one_slot(
    revenue_dataset,
):
    queue = RunQueue(max_running=1)
    blocker = queue.enter("someone else")
    runs = {
        kind: BackgroundRun(RunRequest(revenue_dataset, agent=kind, executor="local"))
        for kind in ("code", "tool-calling")
    }
    group = RunGroup(runs, run_queue=queue, visitor="me").start()
    assert group.queue_message.startswith("1 run ahead of you") and queue.waiting == 1
    with pytest.raises(QueueRefused, match="one run at a time"):
        queue.enter("me")
    blocker.leave()
    assert group.wait(120)
    for run in runs.values():
        run.poll()
    code, tools = runs["code"], runs["tool-calling"]
    assert code.result.status == tools.result.status == "success"
    # One slot: the tool-calling agent started once the code agent had finished.
    assert code.finished_at <= tools.started_at
    assert queue.running == 0 and queue.waiting == 0


def test_the_scenario_comparison_waits_for_its_turn_under_one_ticket(tmp_path):
    from agent.run.session import ScenarioComparison
    from tools.loading import load_dataset

    path = tmp_path / "scenarios.csv"  # one "before" column, one "after" column per scenario
    path.write_text(
        "country,revenue_before,revenue_after_a,revenue_after_b\n"
        "UK,100,90,120\nFrance,200,150,210\nSpain,50,55,40\n"
    )
    queue = RunQueue(max_running=1)
    blocker = queue.enter("someone else")
    loaded = []

    def load(scenario):
        loaded.append(scenario)
        return load_dataset(path, after=scenario)

    comparison = ScenarioComparison(
        ["a", "b"], load, lambda dataset: RunRequest(dataset, executor="local"), run_queue=queue, visitor="me"
    ).start()
    assert not comparison.wait_for_first_step(5)  # at once: the page shows the position
    assert comparison.queue_message.startswith("1 run ahead of you")
    assert loaded == []  # not even loaded before its turn
    with pytest.raises(QueueRefused):
        queue.enter("me")
    blocker.leave()
    assert comparison.wait(120)
    comparison.poll()
    assert [row.scenario for row in comparison.rows()] == ["a", "b"]
    assert all(run.result.status == "success" for run in comparison.runs.values())
    assert queue.running == 0 and queue.waiting == 0


# ---- the loaded-file cache: bounded by size, count and age, counted in the budget --------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_file_cache_keeps_what_fits_and_evicts_the_least_recently_used():
    from ui.file_cache import FileCache

    cache = FileCache(max_bytes=100, max_entries=10, clock=Clock())
    size = len
    assert cache.get_or_load("a", lambda: "x" * 40, size) == "x" * 40
    cache.get_or_load("b", lambda: "y" * 40, size)
    cache.get_or_load("a", lambda: "never loaded again", size)  # a hit: "a" is now the most recent
    cache.get_or_load("c", lambda: "z" * 40, size)  # 120 bytes: the least recent ("b") goes
    assert cache.loads == 3 and cache.bytes_held == 80 and len(cache) == 2
    assert cache.get_or_load("b", lambda: "b again", size) == "b again"
    cache.get_or_load("huge", lambda: "h" * 500, size)  # bigger than the whole cache: returned, not kept
    assert cache.bytes_held <= 100 and cache.get_or_load("huge", lambda: "loaded", size) == "loaded"


def test_the_file_cache_bounds_entries_and_age():
    from ui.file_cache import FileCache

    clock = Clock()
    cache = FileCache(max_bytes=10**9, max_entries=2, ttl_s=60, clock=clock)
    for key in "abc":
        cache.get_or_load(key, lambda key=key: key, len)
    assert len(cache) == 2
    clock.now = 61
    assert len(cache) == 0 and cache.bytes_held == 0  # an hour-old upload is not kept for good
    cache.get_or_load("a", lambda: "fresh", len)
    assert cache.loads == 4


def test_a_failed_load_is_not_cached():
    from ui.file_cache import FileCache

    cache = FileCache(max_bytes=100)

    def broken():
        raise ValueError("bad file")

    with pytest.raises(ValueError):
        cache.get_or_load("a", broken, len)
    assert len(cache) == 0 and cache.get_or_load("a", lambda: "ok", len) == "ok"


def test_the_cache_counts_against_the_run_budget(revenue_dataset):
    from ui.file_cache import FileCache, dataset_bytes

    cache = FileCache(max_bytes=10**9)
    cache.get_or_load("revenue", lambda: revenue_dataset, dataset_bytes)
    held = cache.bytes_held
    assert held == dataset_bytes(revenue_dataset) > 0
    queue = RunQueue(max_running=2, memory_budget_bytes=held + 100, cache_bytes=lambda: cache.bytes_held)
    with pytest.raises(QueueRefused, match="budget"):
        queue.enter("a", cost=101)
    assert queue.enter("a", cost=100).state == "running"


def test_the_operator_sets_the_queue_and_cache_limits():
    from ui.serving import SettingsError, parse_settings

    settings = parse_settings(
        {
            "max_runs": 3,
            "memory_budget_mb": 2048,
            "file_cache_mb": 256,
            "file_cache_entries": 4,
            "file_cache_ttl_s": 600,
        }
    )
    assert settings.run_limits() == (3, 2048 * MB)
    assert (settings.file_cache_mb, settings.file_cache_entries, settings.file_cache_ttl_s) == (256, 4, 600)
    runs, budget = parse_settings({}).run_limits()  # defaults: the cores, 3/4 of the memory
    assert runs >= 1 and budget > 0
    with pytest.raises(SettingsError, match=r"serving\.max_runs must be a number of 0 or more"):
        parse_settings({"max_runs": "two"}, "secrets.toml")
    with pytest.raises(SettingsError, match=r"secrets\.toml: serving\.file_cache_mb"):
        parse_settings({"file_cache_mb": -1}, "secrets.toml")


# ---- in a browser: sixteen visitors at once; a closed tab ---------------------------------------------------------
def _browser(request):
    """pytest-playwright's browser (Debian's chromium, offline: tests/conftest.py): one Playwright per process."""
    from tests.streamlit_server import CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    return request.getfixturevalue("browser")


@pytest.mark.browser
def test_sixteen_visitors_clicking_together_each_see_a_step_or_their_place_and_get_their_own_result(
    tmp_path, request
):
    """Sixteen browser contexts, each with a file of its own, click Run together on a two-slot server. Correctness
    only: the timings are the page benchmark's (`python -m benchmarks --only page`)."""
    from tests.streamlit_server import streamlit_app
    from tests.visitors import visitor_burst

    browser = _browser(request)
    settings = tmp_path / "settings.toml"
    settings.write_text("[serving]\nmax_runs = 2\n")
    env = {"KPI_NARRATOR_SETTINGS": str(settings), "KPI_NARRATOR_HISTORY": str(tmp_path / "history.sqlite")}
    files = tmp_path / "files"
    files.mkdir()
    with streamlit_app(tmp_path / "streamlit.log", env=env) as url:
        seen = visitor_burst(browser, url, 16, files)
    assert len(seen) == 16
    for index, visit in enumerate(seen):
        assert visit["told_s"] is not None, f"visitor {index} saw neither a step nor its place"
        assert visit["right"], f"visitor {index} did not get its own file's summary"
        assert visit["foreign"] == 0, f"visitor {index} was shown another visitor's figures"
        assert visit["exceptions"] == 0
    assert any(visit["queued"] for visit in seen)  # two slots for sixteen: some waited, and were told so


@pytest.mark.browser
def test_a_closed_tab_leaves_the_queue_and_the_next_visitor_gets_the_slot(tmp_path, request):
    """One slot. A runs an LLM whose first reply takes two minutes; B and C wait. B closes its tab: C moves up
    while A still runs. A closes its tab: C's run starts and finishes while A's model call is still pending (the
    LLM server has seen no second request), so A's slot was freed without waiting for its run to end."""
    from tests.helpers import COMPUTE
    from tests.openai_server import ScriptedChatServer
    from tests.streamlit_server import streamlit_app

    browser = _browser(request)
    with ScriptedChatServer([{**COMPUTE, "delay": 120}]) as llm:
        settings = tmp_path / "settings.toml"
        settings.write_text(
            '[serving]\nmode = "served"\nmax_runs = 1\nmodels = ["builtin", "openai/test-model"]\n'
            f'[serving.api_base]\n"openai/test-model" = "{llm.url}"\n'
            '[serving.api_key_env]\n"openai/test-model" = "OPERATOR_KEY"\n'
        )
        env = {
            "KPI_NARRATOR_SETTINGS": str(settings),
            "KPI_NARRATOR_HISTORY": str(tmp_path / "history.sqlite"),
            "OPERATOR_KEY": "sk-test-" + "k" * 20,
        }
        with streamlit_app(tmp_path / "streamlit.log", env=env) as url:
            a, b, c = (
                browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in "abc"
            )
            for page in (a, b, c):
                page.goto(url)
                page.get_by_text("revenue_by_country.tsv · wide layout · 6 rows").wait_for(timeout=120_000)
            a.get_by_role("combobox", name="Model").click()
            a.get_by_role("option", name="openai/test-model").click()
            a.get_by_role("button", name="Run", exact=True).click()
            a.get_by_text("Step 1 ·").first.wait_for(timeout=60_000)
            b.get_by_role("button", name="Run", exact=True).click()
            b.get_by_text("1 run ahead of you").wait_for(timeout=60_000)
            c.get_by_role("button", name="Run", exact=True).click()
            c.get_by_text("2 runs ahead of you").wait_for(timeout=60_000)
            b.context.close()
            c.get_by_text("1 run ahead of you").wait_for(timeout=60_000)  # B's place is gone, A still runs
            assert len(llm.requests) == 1
            a.context.close()
            c.get_by_text("20 claims: 20 verified.").wait_for(timeout=90_000)
            c.get_by_text("Revenue fell 7.67%").first.wait_for(timeout=10_000)
            assert len(llm.requests) == 1  # A's model call is still pending: its slot was freed, not finished
            assert c.locator('[data-testid="stException"]').count() == 0
            c.context.close()
