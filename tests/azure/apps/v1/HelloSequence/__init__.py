import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    out = []
    for city in ("Tokyo", "Seattle", "London"):
        out.append((yield context.call_activity("SayHello", city)))
        context.set_custom_status(f"{len(out)} of 3")
    return out


main = df.Orchestrator.create(orchestrator_function)
