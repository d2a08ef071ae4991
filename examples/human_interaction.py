"""Human interaction: wait for an approval event, escalating when a timer runs out first.

    perdure start approval_workflow --id order-42 --input '{"order": 42}'
    perdure raise-event order-42 Approval --data true
"""

from datetime import timedelta

import perdure

app = perdure.App()


@app.activity
def request_approval(order: dict) -> str:
    """Ask a human (here: just record that we asked)."""
    return f"approval requested for order {order['order']}"


@app.activity
def escalate(order: dict) -> str:
    """Nobody answered in time."""
    return f"order {order['order']} escalated to a manager"


@app.orchestrator
def approval_workflow(ctx: perdure.OrchestrationContext):
    """Request approval, then wait up to a day (input ``timeout_seconds``) for the answer."""
    order = ctx.get_input()
    yield ctx.call_activity("request_approval", order)
    timeout = timedelta(seconds=order.get("timeout_seconds", 86400))
    approval = ctx.wait_for_external_event("Approval")
    deadline = ctx.create_timer(ctx.current_utc_datetime + timeout)
    winner = yield ctx.task_any([approval, deadline])
    if winner is approval:
        return "approved" if approval.result else "rejected"
    return (yield ctx.call_activity("escalate", order))
