import azure.durable_functions as df

from ..shared_code.shapes import Box


def orchestrator_function(context: df.DurableOrchestrationContext):
    greetings = yield context.call_sub_orchestrator("HelloSequence")
    box = yield context.call_activity("Measure", Box(3))
    return {"greetings": greetings, "area": box.side}


main = df.Orchestrator.create(orchestrator_function)
