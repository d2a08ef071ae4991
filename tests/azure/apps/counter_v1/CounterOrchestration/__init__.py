import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    """Signals the counter, then calls it; a failing operation raises here."""
    entity = df.EntityId("Counter", context.get_input() or "myCounter")
    context.signal_entity(entity, "add", 3)
    state = yield context.call_entity(entity, "get")
    try:
        yield context.call_entity(entity, "fail")
        failure = None
    except Exception as exc:  # noqa: BLE001
        failure = str(exc)
    after = yield context.call_entity(entity, "get")
    return [state, failure, after]


main = df.Orchestrator.create(orchestrator_function)
