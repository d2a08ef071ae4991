"""A Durable Functions app whose host.json sets its versioning (defaultVersion 2.0,
Strict, Fail)."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def which_version(context: df.DurableOrchestrationContext):
    return context.version
