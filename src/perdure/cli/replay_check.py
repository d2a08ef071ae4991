"""``perdure replay-check``: the deploy gate, replaying in-flight instances against new code.

Exit status: 0 when every checked instance replays, 1 when any is incompatible,
2 when the check could not run (an app that does not load, a hub that does
not open, a bad option).
"""

from __future__ import annotations

import asyncio
import json
import sys

import click

from ..app import App, load_app
from ..client import Client
from ..core.errors import PerdureError
from ..core.status import OrchestrationRuntimeStatus as Status
from ..store import create_store
from ..testing import ReplayReport, replay_instances
from . import STORE_OPTION, main


def _statuses(text: str) -> list[Status]:
    return [Status.parse(part) for part in text.split(",") if part.strip()]


async def _check(app: App, store_url: str | None, statuses: list[Status],
                 names: tuple[str, ...], strict: bool) -> list[ReplayReport]:
    client = Client(create_store(store_url))
    try:
        return await replay_instances(app, client, statuses=statuses, names=names or None,
                                      strict=strict)
    finally:
        await client.close()


@main.command("replay-check")
@click.argument("app_spec", metavar="APP")
@click.option("--status", "status_text", default="Running,Suspended,Pending", show_default=True,
              help="Comma-separated runtime statuses of the instances to check.")
@click.option("--name", "names", multiple=True,
              help="Only instances of this orchestrator (repeatable).")
@click.option("--strict", is_flag=True,
              help="Also compare the inputs of activities and sub-orchestrations.")
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def replay_check(app_spec: str, status_text: str, names: tuple[str, ...], strict: bool,
                 store_url: str | None, as_json: bool) -> None:
    """Replay matching instances against APP's code without writing anything.

    Prints how many were checked, compatible and incompatible (with the first
    mismatch of each) and exits 1 when any is incompatible: run it before
    switching a deployment to new code.
    """
    try:
        statuses = _statuses(status_text)
        if not statuses:
            raise click.BadParameter("give at least one status", param_hint="--status")
        app = load_app(app_spec)
        reports = asyncio.run(_check(app, store_url, statuses, names, strict))
    except click.BadParameter:
        raise
    except (PerdureError, OSError, ValueError) as exc:
        click.echo(f"error: {' '.join(str(exc).split())}", err=True)
        sys.exit(2)
    bad = [r for r in reports if r.mismatch is not None]
    if as_json:
        click.echo(json.dumps({
            "checked": len(reports), "compatible": len(reports) - len(bad),
            "incompatible": [{"instanceId": r.instance_id, "name": r.name,
                              "runtimeStatus": r.status.value,
                              "position": r.mismatch.position, "expected": r.mismatch.expected,
                              "actual": r.mismatch.actual, "message": str(r.mismatch)}
                             for r in bad if r.mismatch is not None]}))
    else:
        click.echo(f"checked {len(reports)}, compatible {len(reports) - len(bad)}, "
                   f"incompatible {len(bad)}")
        for report in bad:
            click.echo(f"  {report.instance_id}: {report.mismatch}")
    sys.exit(1 if bad else 0)
