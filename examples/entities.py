"""Durable entities: a counter, a bank account class, and a transfer in a critical section.

    perdure serve examples/entities.py
    perdure start transfer --input '{"from": "alice", "to": "bob", "amount": 30}'
"""

import perdure

app = perdure.App()


@app.entity
def counter(ctx: perdure.EntityContext) -> None:
    """A counter: ``add`` (input: an amount), ``reset``, ``get``."""
    value = ctx.get_state(0)
    if ctx.operation_name == "add":
        ctx.set_state(value + ctx.get_input())
    elif ctx.operation_name == "reset":
        ctx.set_state(0)
    elif ctx.operation_name == "get":
        ctx.set_result(value)


@app.entity
class Account:
    """A bank account: its attributes are its state, its public methods its operations."""

    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance

    def withdraw(self, amount: int) -> int:
        if amount > self.balance:
            raise ValueError(f"insufficient funds: {self.balance} < {amount}")
        self.balance -= amount
        return self.balance

    def balance_of(self) -> int:
        return self.balance


@app.orchestrator
def transfer(ctx: perdure.OrchestrationContext):
    """Move ``amount`` between two accounts atomically: no other orchestration can touch
    either account until the critical section ends."""
    order = ctx.get_input()
    source = perdure.EntityId("Account", order["from"])
    target = perdure.EntityId("Account", order["to"])
    with (yield ctx.lock([source, target])):
        balance = yield ctx.call_entity(source, "balance_of")
        if balance < order["amount"]:
            return {"ok": False, "balance": balance}
        yield ctx.call_entity(source, "withdraw", order["amount"])
        yield ctx.call_entity(target, "deposit", order["amount"])
    ctx.signal_entity(perdure.EntityId("counter", "transfers"), "add", 1)
    return {"ok": True, "balance": balance - order["amount"]}
