"""The bench workloads as an Azure Durable Functions app (run by perdure_df_workloads.py)."""

import azure.durable_functions as df

app = df.DFApp()
CITIES = ("Tokyo", "Seattle", "London")


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@app.activity_trigger(input_name="i")
def double(i: int) -> int:
    return i * 2


@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    out = []
    for city in CITIES:
        out.append((yield context.call_activity("say_hello", city)))
    return out


@app.orchestration_trigger(context_name="context")
def hello_once(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("say_hello", CITIES[0]))


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    tasks = [context.call_activity("double", i) for i in range(context.get_input())]
    return sum((yield context.task_all(tasks)))


@app.orchestration_trigger(context_name="context")
def sequential(context: df.DurableOrchestrationContext):
    total = 0
    for i in range(context.get_input()):
        total += yield context.call_activity("double", i)
    return total
