import threading

from agent.run.runner import RunRequest
from agent.run.session import BackgroundRun


def test_a_background_run_delivers_every_event(revenue_dataset):
    run = BackgroundRun(RunRequest(revenue_dataset)).start()
    assert run.wait(60)
    events = run.poll()
    assert run.finished
    assert events[0].type == "run_started" and events[-1].type == "run_finished"
    assert run.result.status == "success" and "-132,919.66" in run.result.narrative
    assert run.poll() == []  # drained once


def test_stop_keeps_the_steps_made(revenue_dataset, scripted_model):
    gate = threading.Event()

    class SlowModel(scripted_model):
        def generate(self, messages, **kwargs):
            if self.calls:
                gate.wait(10)  # hold step 2 until the test has asked to stop
            return super().generate(messages, **kwargs)

    model = SlowModel(
        ["Thought: a.\n<code>\nprint(1)\n</code>", "Thought: b.\n<code>\nprint(2)\n</code>"] * 3
    )
    run = BackgroundRun(RunRequest(revenue_dataset, executor="local"), model).start()
    while not any(step["done"] for step in run.result.steps):
        run.poll()
    run.stop()
    gate.set()
    assert run.wait(30)  # it ended, not merely timed out waiting
    run.poll()
    assert run.finished
    assert run.result.status == "stopped"
    assert run.result.steps[0]["observation"]


def test_a_bad_request_ends_as_an_error_not_a_crash(revenue_dataset):
    run = BackgroundRun(RunRequest(revenue_dataset, ratio="orders/users")).start()
    assert run.wait(30)
    run.poll()
    assert run.result.status == "error"
    assert "the ratio names" in run.result.error and "--" not in run.result.error


def test_the_page_can_wait_for_the_first_step(revenue_dataset):
    run = BackgroundRun(RunRequest(revenue_dataset, executor="local")).start()
    assert run.wait_for_first_step(30)
    assert 1 in [step["number"] for step in _polled_steps(run)]  # drawn in the same rerun as the click
    assert run.wait(60)


def test_waiting_for_a_first_step_ends_when_the_run_fails_before_it(revenue_dataset):
    run = BackgroundRun(RunRequest(revenue_dataset, metric="no_such_metric")).start()
    assert run.wait_for_first_step(30) and run.wait(30)


def _polled_steps(run):
    run.poll()
    return run.result.steps
