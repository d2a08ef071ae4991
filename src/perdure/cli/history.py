"""``perdure history export``: an instance's history, lossless or in the display format."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import STORE_OPTION, _command, _fail, _status_json, _with_client, main


@main.group()
def history() -> None:
    """Export instance histories."""


@history.command("export")
@click.argument("instance_id")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True),
              default=None, help="Write to FILE instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["perdure", "df"]), default="perdure",
              show_default=True,
              help="perdure: every stored event, replayable (perdure replay-check, "
                   "perdure.testing.replay_histories); df: Durable Functions' display format "
                   "(the HTTP status with historyEvents), which cannot be replayed.")
@STORE_OPTION
@_command
async def export(instance_id: str, out_path: str | None, fmt: str,
                 store_url: str | None) -> None:
    """Export INSTANCE_ID's history as JSON."""
    if fmt == "perdure":
        exported = await _with_client(store_url, None, lambda c: c.export_history(instance_id))
        text = exported.to_json()
    else:
        found = await _with_client(store_url, None, lambda c: c.get_status(
            instance_id, show_history=True, show_history_output=True))
        if found is None:
            _fail(f"no orchestration instance with id {instance_id!r}")
            return
        text = json.dumps(_status_json(found), indent=1, ensure_ascii=False) + "\n"
    if out_path is None:
        click.echo(text, nl=False)
    else:
        Path(out_path).write_text(text, encoding="utf-8")
        click.echo(f"exported {instance_id} to {out_path}", err=True)
