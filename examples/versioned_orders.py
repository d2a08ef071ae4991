"""Versions and safe deploys: an order workflow that changed in version 2.0.

Version 1.0 charged the card and shipped. Version 2.0 also sends a receipt.
Instances started under 1.0 still replay their own history on 2.0 code,
because the new step runs only for instances started at 2.0 or later:

    perdure worker examples/versioned_orders.py --store postgresql://...

runs instances of version 2.0 and older (``current-or-older``, the default for
a versioned app); workers still on 1.0 code never lease a 2.0 instance, so a
rolling deploy needs no downtime. Watch the old version drain with
``perdure list --version 1.0 --status Running --status Pending``.

``ORDERS_VERSION`` overrides the version (to play the old deployment).
"""

import os

import perdure

app = perdure.App(version=os.environ.get("ORDERS_VERSION", "2.0"))


@app.activity
def charge(order: dict) -> str:
    return f"charged {order['amount']} for order {order['id']}"


@app.activity
def ship(order: dict) -> str:
    return f"shipped order {order['id']}"


@app.activity
def send_receipt(order: dict) -> str:  # new in 2.0
    return f"receipt for order {order['id']} sent"


@app.orchestrator
def place_order(ctx: perdure.OrchestrationContext):
    order = ctx.get_input()
    steps = [(yield ctx.call_activity("charge", order))]
    if perdure.compare_versions(ctx.version, "2.0") >= 0:
        steps.append((yield ctx.call_activity("send_receipt", order)))
    steps.append((yield ctx.call_activity("ship", order)))
    return {"version": ctx.version, "steps": steps}
