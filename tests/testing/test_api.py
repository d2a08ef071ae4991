"""perdure.testing's public names are pinned and documented."""

import perdure.testing


def test_public_names_have_docstrings():
    assert set(perdure.testing.__all__) == {
        "DEFAULT_START", "Event", "HarnessError", "OrchestrationHarness", "OrchestrationResult",
        "OrchestrationRun", "ReplayMismatch", "ReplayMismatchError", "ReplayReport",
        "ScheduledCall", "assert_replays", "history_files", "replay_histories",
        "replay_history", "replay_instances"}
    for name in perdure.testing.__all__:
        if name != "DEFAULT_START":
            assert getattr(perdure.testing, name).__doc__, name
    assert issubclass(perdure.testing.HarnessError, perdure.PerdureError)
    assert issubclass(perdure.testing.ReplayMismatchError, perdure.NonDeterminismError)
