"""Unit tests of human_interaction.py with perdure.testing: no task hub, no waiting.

    pytest examples/test_human_interaction.py
"""

from datetime import timedelta
from pathlib import Path

import perdure
from perdure.testing import Event, OrchestrationHarness

app = perdure.load_app(str(Path(__file__).with_name("human_interaction.py")))


def test_approved_in_time():
    result = OrchestrationHarness(app).run(
        "approval_workflow", {"order": 1}, events=[Event("Approval", True)])
    assert result.output == "approved"
    assert [c.name for c in result.activity_calls()] == ["request_approval"]


def test_escalated_after_a_day_without_an_answer():
    h = OrchestrationHarness(app)
    escalations = []
    result = h.run("approval_workflow", {"order": 2},
                   activities={"escalate": lambda order: escalations.append(order) or "paged"},
                   events=[Event("Approval", True, at=timedelta(days=2))])
    assert result.output == "paged" and escalations == [{"order": 2}]


def test_step_by_step():
    h = OrchestrationHarness(app)
    run = h.start("approval_workflow", {"order": 3})
    h.advance(timedelta(hours=23))
    assert run.status is perdure.OrchestrationRuntimeStatus.Running
    run.raise_event("Approval", False)
    assert run.result.output == "rejected"
