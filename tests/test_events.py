import json

import pytest

from agent.run import events as ev
from agent.run.result import collect
from agent.run.runner import RunRequest, run_events


def test_every_event_round_trips_through_json(revenue_dataset):
    events = list(run_events(RunRequest(revenue_dataset)))
    assert {e.type for e in events} >= {
        "run_started",
        "analysis",
        "step_started",
        "thought",
        "code",
        "observation",
        "chart",
        "step_finished",
        "final_answer",
        "verification",
        "run_finished",
    }
    replayed = [ev.event_from_dict(json.loads(json.dumps(e.to_dict()))) for e in events]
    assert replayed == events


def test_replay_gives_the_same_result(revenue_dataset):
    events = list(run_events(RunRequest(revenue_dataset)))
    recorded = [json.loads(json.dumps(e.to_dict())) for e in events]
    assert collect(ev.event_from_dict(d) for d in recorded).to_json() == collect(events).to_json()


def test_unknown_event_type_is_refused():
    with pytest.raises(ValueError, match="unknown event type"):
        ev.event_from_dict({"type": "nope"})
