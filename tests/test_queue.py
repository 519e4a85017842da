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
