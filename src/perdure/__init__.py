"""perdure: durable orchestrations for Python, in the model of Azure Durable Functions."""

from .app import App, load_app
from .client import (
    CleanEntityStorageResult,
    Client,
    EntityMetadata,
    EntityPage,
    OrchestrationStatus,
    StatusPage,
    SyncClient,
)
from .core.context import OrchestrationContext
from .core.entities import EntityId, EntityOperationFailedError, LockingRulesError
from .core.entity_batch import EntityContext
from .core.entity_calls import CriticalSection
from .core.errors import (
    ActivityTimeoutError,
    EventTimeoutError,
    InstanceAlreadyExistsError,
    InstanceError,
    InstanceFinishedError,
    InstanceNotFoundError,
    InvalidArgumentError,
    InvalidInstanceStateError,
    NonDeterminismError,
    OrchestrationTimeoutError,
    PerdureError,
    SerializationError,
    TaskFailedError,
    UnknownFunctionError,
    ValueTooLargeError,
)
from .core.history import FailureDetails
from .core.retry import RetryOptions
from .core.serialization import ValueLimits, set_value_limits, value_limits
from .core.status import OrchestrationRuntimeStatus
from .core.task import Task
from .core.versions import compare_versions
from .store import Clock, Store, create_store
from .worker import ActivityContext, Worker, WorkerOptions, set_client_factory

# This package is the library's composition root, as the CLI is the command's:
# the worker layer does not import the client, so a Worker built without a
# client learns here how to make the one it hands activities.
set_client_factory(lambda store, app: Client(store, app=app))

__version__ = "0.1.0"

__all__ = [
    "ActivityContext",
    "ActivityTimeoutError",
    "App",
    "CleanEntityStorageResult",
    "Client",
    "Clock",
    "CriticalSection",
    "EntityContext",
    "EntityId",
    "EntityMetadata",
    "EntityOperationFailedError",
    "EntityPage",
    "EventTimeoutError",
    "FailureDetails",
    "InstanceAlreadyExistsError",
    "InstanceError",
    "InstanceFinishedError",
    "InstanceNotFoundError",
    "InvalidArgumentError",
    "InvalidInstanceStateError",
    "LockingRulesError",
    "NonDeterminismError",
    "OrchestrationContext",
    "OrchestrationRuntimeStatus",
    "OrchestrationStatus",
    "OrchestrationTimeoutError",
    "PerdureError",
    "RetryOptions",
    "SerializationError",
    "StatusPage",
    "Store",
    "SyncClient",
    "Task",
    "TaskFailedError",
    "UnknownFunctionError",
    "ValueLimits",
    "ValueTooLargeError",
    "Worker",
    "WorkerOptions",
    "compare_versions",
    "create_store",
    "load_app",
    "set_value_limits",
    "value_limits",
]
