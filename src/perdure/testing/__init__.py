"""Test tools for orchestrations: an in-memory harness on a virtual clock, and replay checks.

* :class:`OrchestrationHarness` runs orchestrators synchronously, with no task
  hub, real or fake activities, sub-orchestrations, timers on a virtual clock
  and external events; every step is checked against a fresh replay, so tests
  catch nondeterministic orchestrator code.
* :func:`replay_history` / :func:`replay_histories` / :func:`assert_replays`
  replay recorded histories (``perdure history export``) against current code;
  :func:`replay_instances` replays a task hub's in-flight instances (what
  ``perdure replay-check`` runs).

This package sits above the worker and the client in the layers: the harness
runs steps with the worker's own step functions and activity runner, and the
replay checks read the client's history exports.
"""

from .harness import (
    DEFAULT_START,
    Event,
    HarnessError,
    OrchestrationHarness,
    OrchestrationResult,
    OrchestrationRun,
    ScheduledCall,
)
from .replay import (
    ReplayMismatch,
    ReplayMismatchError,
    ReplayReport,
    assert_replays,
    history_files,
    replay_histories,
    replay_history,
    replay_instances,
)

__all__ = [
    "DEFAULT_START", "Event", "HarnessError", "OrchestrationHarness", "OrchestrationResult",
    "OrchestrationRun",
    "ReplayMismatch", "ReplayMismatchError", "ReplayReport", "ScheduledCall", "assert_replays",
    "history_files", "replay_histories", "replay_history",
    "replay_instances",
]
