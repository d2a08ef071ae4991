import azure.durable_functions as df


def entity_function(context: df.DurableEntityContext):
    """A counter: add, reset, get; fail raises after changing the state."""
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += int(context.get_input())  # the SDK client sends "5" for 5, as to the host
    elif operation == "reset":
        value = 0
    elif operation == "fail":
        context.set_state(value + 1000)
        raise ValueError("counter refused")
    context.set_state(value)
    context.set_result(value)


main = df.Entity.create(entity_function)
