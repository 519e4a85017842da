"""The served app's run queue: order, one run per visitor, leaving, the memory budget, and its use by a run."""

import threading

import pytest

from agent.run.queue import QueueRefused, RunQueue, run_cost_bytes
from agent.run.runner import RunRequest
from agent.run.session import BackgroundRun

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
        assert queue.expire_idle() == 0  # the open tab is still there
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


# ---- in a browser: several visitors at once, one slot ---------------------------------------------------------------
@pytest.mark.browser
def test_visitors_clicking_together_see_a_step_or_their_place_and_each_gets_their_result(tmp_path, request):
    """Three browser contexts (three visitors) on a server that runs one run at a time."""
    import time
    from pathlib import Path

    from tests.streamlit_server import CHROMIUM, streamlit_app

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    # pytest-playwright's browser (Debian's chromium, offline: tests/conftest.py): one Playwright per process.
    browser = request.getfixturevalue("browser")
    settings = tmp_path / "settings.toml"
    settings.write_text("[serving]\nmax_runs = 1\n")
    env = {"KPI_NARRATOR_SETTINGS": str(settings), "KPI_NARRATOR_HISTORY": str(tmp_path / "history.sqlite")}
    with streamlit_app(tmp_path / "streamlit.log", env=env) as url:
        pages = []
        for _ in range(3):
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(url)
            page.get_by_text("revenue_by_country.tsv · wide layout · 6 rows").wait_for(timeout=120_000)
            pages.append(page)
        for page in pages:
            page.get_by_role("button", name="Run", exact=True).click()
        told = []
        for page in pages:  # each one: its first step, or its place in the queue
            clicked = time.monotonic()
            page.get_by_text("Step 1 ·").or_(page.get_by_text("ahead of you")).first.wait_for(timeout=120_000)
            told.append(time.monotonic() - clicked)
        for page in pages:
            page.get_by_text("Revenue fell 7.67%").first.wait_for(timeout=180_000)
            page.get_by_text("20 claims: 20 verified.").wait_for(timeout=60_000)
            assert page.locator('[data-testid="stException"]').count() == 0
        for page in pages:
            page.context.close()
    print(
        f"\nqueue in the browser: step or place shown {', '.join(f'{s:.2f}' for s in told)} s after the clicks"
    )
