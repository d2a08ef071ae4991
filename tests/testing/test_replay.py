"""perdure.testing.replay_history / replay_histories / assert_replays."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

import perdure
from perdure.client.export import HistoryExport
from perdure.core.history import event_to_dict
from perdure.testing import (
    OrchestrationHarness,
    ReplayMismatchError,
    assert_replays,
    history_files,
    replay_histories,
    replay_history,
)

S = perdure.OrchestrationRuntimeStatus


def make_app(second: str = "b", stop_early: bool = False, crash: bool = False) -> perdure.App:
    app = perdure.App()

    @app.activity
    def a(x: int) -> int:
        return x + 1

    @app.activity
    def b(x: int) -> int:
        return x * 2

    @app.activity
    def c(x: int) -> int:
        return x - 1

    @app.orchestrator
    def flow(ctx: perdure.OrchestrationContext):
        x = yield ctx.call_activity("a", ctx.get_input())
        if crash:
            raise KeyError("new bug")
        if stop_early:
            return x
        y = yield ctx.call_activity(second, x)
        yield ctx.create_timer(timedelta(hours=1))
        return y
    return app


def recorded(app: perdure.App, advance: bool = True) -> HistoryExport:
    h = OrchestrationHarness(app)
    run = h.start("flow", 1, instance_id="inst-1")
    if advance:
        h.advance(timedelta(hours=2))
    result = run.result
    return HistoryExport("inst-1", "flow", result.history,
                         runtime_status=result.runtime_status.value)


def test_the_same_code_replays_its_history():
    export = recorded(make_app())
    report = replay_history(make_app(), export)
    assert report.compatible and report.status is S.Completed
    assert report.instance_id == "inst-1" and report.events == len(export.events)


def test_an_in_flight_history_replays_as_running():
    report = replay_history(make_app(), recorded(make_app(), advance=False))
    assert report.compatible and report.status is S.Running


def test_a_changed_activity_is_named_with_position_expected_and_actual():
    export = recorded(make_app())
    with pytest.raises(ReplayMismatchError) as info:
        replay_history(make_app(second="c"), export)
    error = info.value
    assert isinstance(error, perdure.NonDeterminismError)
    assert (error.instance_id, error.position) == ("inst-1", 1)
    assert error.expected == "call activity 'b'"
    assert error.actual == "tried to call activity 'c'"
    assert "inst-1" in str(error) and "position 1" in str(error)


def test_code_returning_early_is_a_mismatch():
    report = replay_history(make_app(stop_early=True), recorded(make_app()),
                            raise_on_mismatch=False)
    assert report.mismatch is not None and report.mismatch.position == 1
    assert report.mismatch.actual == "returned before scheduling it"


def test_code_that_now_fails_is_a_mismatch():
    report = replay_history(make_app(crash=True), recorded(make_app()),
                            raise_on_mismatch=False)
    assert report.mismatch is not None and "KeyError" in report.mismatch.actual


def test_a_plain_event_list_and_dicts_are_accepted():
    export = recorded(make_app())
    assert replay_history(make_app(), export.events).compatible
    assert replay_history(make_app(), [event_to_dict(e) for e in export.events]).compatible
    assert replay_history(make_app(), export.to_dict()).compatible


def test_files_and_directories_and_the_pytest_helper(tmp_path: Path):
    good = recorded(make_app())
    good.save(tmp_path / "good.json")
    (tmp_path / "sub").mkdir()
    HistoryExport.from_json(good.to_json()).save(tmp_path / "sub" / "again.json")
    assert history_files(tmp_path) == [tmp_path / "good.json", tmp_path / "sub" / "again.json"]
    reports = replay_histories(make_app(), [tmp_path])
    assert [r.compatible for r in reports] == [True, True]
    assert reports[0].source == str(tmp_path / "good.json")
    assert_replays(make_app(), tmp_path)
    with pytest.raises(ReplayMismatchError, match="good.json"):
        replay_histories(make_app(second="c"), [tmp_path])
    with pytest.raises(AssertionError, match="again.json"):
        assert_replays(make_app(second="c"), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AssertionError, match="no history exports"):
        assert_replays(make_app(), tmp_path / "empty")
    with pytest.raises(perdure.InvalidArgumentError, match="cannot read"):
        assert_replays(make_app(), tmp_path / "missing.json")


def test_bad_input(tmp_path: Path):
    app = make_app()
    with pytest.raises(perdure.InvalidArgumentError, match="cannot read"):
        replay_history(app, tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(perdure.InvalidArgumentError, match="not JSON"):
        replay_history(app, tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(perdure.InvalidArgumentError, match="not a perdure history export"):
        replay_history(app, tmp_path / "y.json")
    data = recorded(app).to_dict()
    data["version"] = 99
    with pytest.raises(perdure.InvalidArgumentError, match="version 99"):
        replay_history(app, data)
    with pytest.raises(perdure.InvalidArgumentError, match="ExecutionStarted"):
        replay_history(app, [])
    with pytest.raises(perdure.InvalidArgumentError):
        replay_history(app, 42)
    data = recorded(app).to_dict()
    data["name"] = "gone"
    with pytest.raises(perdure.UnknownFunctionError):
        replay_history(app, data)


def input_app(offset: int) -> perdure.App:
    app = perdure.App()

    @app.activity
    def a(x: int) -> int:
        return x

    @app.orchestrator
    def child(ctx: perdure.OrchestrationContext):
        return ctx.get_input()

    @app.orchestrator
    def flow(ctx: perdure.OrchestrationContext):
        x = yield ctx.call_activity("a", {"n": 1, "m": 2})
        y = yield ctx.call_sub_orchestrator("child", [offset])
        return [x, y]
    return app


def test_strict_replay_compares_inputs_the_default_does_not():
    result = OrchestrationHarness(input_app(0)).run("flow", instance_id="s1")
    history = result.history
    assert replay_history(input_app(0), history, strict=True).compatible
    # A changed input is no mismatch for the engine's check (kind and name)...
    assert replay_history(input_app(5), history).compatible
    # ... but is for the strict one, which compares JSON values (not key order).
    with pytest.raises(ReplayMismatchError) as info:
        replay_history(input_app(5), history, strict=True)
    assert info.value.position == 1
    assert info.value.expected == "call sub-orchestrator 'child' with input [0]"
    assert info.value.actual == "passed input [5]"
