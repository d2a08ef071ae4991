import azure.durable_functions as df

app = df.DFApp()


@app.entity_trigger(context_name="context", entity_name="Tally")
def tally(context: df.DurableEntityContext):
    entries = context.get_state(list)
    if context.operation_name == "append":
        entries = [*entries, context.get_input()]
    context.set_state(entries)
    context.set_result(entries)


@app.orchestration_trigger(context_name="context")
def append_twice(context: df.DurableOrchestrationContext):
    entity = df.EntityId("tally", "t")
    context.signal_entity(entity, "append", "a")
    yield context.call_entity(entity, "append", "b")
    return (yield context.call_entity(entity, "get"))
