"""The curated public API: what ``import perdure`` offers is a deliberate choice."""

import perdure

EXPECTED = {
    "ActivityContext", "App", "Client", "EventTimeoutError", "FailureDetails",
    "InstanceAlreadyExistsError", "InstanceError", "InstanceFinishedError",
    "InstanceNotFoundError", "InvalidArgumentError", "InvalidInstanceStateError",
    "NonDeterminismError", "OrchestrationContext",
    "OrchestrationRuntimeStatus", "OrchestrationStatus", "OrchestrationTimeoutError",
    "PerdureError", "RetryOptions", "SerializationError", "StatusPage", "Store", "SyncClient",
    "Task", "TaskFailedError", "UnknownFunctionError", "Worker", "WorkerOptions",
    "create_store", "load_app",
    # Hardening: activity timeouts and value limits.
    "ActivityTimeoutError", "ValueLimits", "ValueTooLargeError", "set_value_limits",
    "value_limits",
    # The clock a store runs by, which tests advance instead of sleeping.
    "Clock",
    # Durable entities: ids, the operation context, critical sections, client results.
    "EntityId", "EntityContext", "CriticalSection", "EntityOperationFailedError",
    "LockingRulesError", "EntityMetadata", "EntityPage", "CleanEntityStorageResult",
    # Version-aware orchestrator code: DurableTask's comparison of ctx.version.
    "compare_versions",
    # Removed: LeaseLostError. Nothing raised it: a worker whose lease was lost
    # finds its commit refused (Store.commit_steps says which) and drops the step
    # itself; no caller ever has a lost lease to handle.
}


def test_all_is_pinned():
    assert set(perdure.__all__) == EXPECTED
    for name in perdure.__all__:
        assert getattr(perdure, name).__doc__, f"{name} has no docstring"


def test_every_error_derives_from_the_root():
    for name in perdure.__all__:
        obj = getattr(perdure, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, perdure.PerdureError), name
