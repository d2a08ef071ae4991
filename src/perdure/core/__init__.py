"""The pure replay core: history, actions, tasks, the context and the replay driver.

Imports nothing but the standard library: no store, no worker, no asyncio.
"""

from .actions import Action, CreateTimer, ScheduleActivity, ScheduleSubOrchestration, SendEvent
from .context import OrchestrationContext
from .executor import Completion, OrchestrationExecutor, ReplayResult, replay
from .history import FailureDetails, HistoryEvent
from .retry import RetryOptions
from .status import OrchestrationRuntimeStatus
from .task import Task

__all__ = [
    "Action", "Completion", "CreateTimer", "FailureDetails", "HistoryEvent",
    "OrchestrationContext", "OrchestrationExecutor", "OrchestrationRuntimeStatus",
    "ReplayResult", "RetryOptions", "ScheduleActivity", "ScheduleSubOrchestration",
    "SendEvent", "Task", "replay",
]
