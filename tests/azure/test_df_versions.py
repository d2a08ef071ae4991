"""host.json's versioning for a hosted Durable Functions app: defaultVersion stamps
instances, versionMatchStrategy and versionFailureStrategy drive its workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from perdure.azure import read_host_json
from perdure.cli.apps import load_any_app
from perdure.core.errors import InvalidArgumentError

APP = Path(__file__).parent / "apps" / "versioned"


def test_host_json_versioning_is_read() -> None:
    settings = read_host_json(APP)
    assert (settings.default_version, settings.version_match, settings.version_failure) == \
        ("2.0", "strict", "fail")


@pytest.mark.parametrize(("durable", "message"), [
    ({"versionMatchStrategy": "Newest"}, "versionMatchStrategy 'Newest' is not one of"),
    ({"versionFailureStrategy": 1}, "versionFailureStrategy 1 is not one of"),
    ({"defaultVersion": 2}, "defaultVersion must be a string"),
])
def test_bad_host_json_versioning_names_the_setting(tmp_path: Path, durable: dict[str, Any],
                                                    message: str) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"durableTask": durable}}))
    with pytest.raises(InvalidArgumentError, match=message):
        read_host_json(tmp_path)


async def test_the_app_runs_as_host_json_says(hub_factory: Any) -> None:
    app = load_any_app(str(APP))
    assert app.version == "2.0"
    hub = await hub_factory(app)
    assert (hub.worker.versioning.match.value, hub.worker.versioning.failure.value) == \
        ("strict", "fail")
    own = await hub.client.start_new("which_version")
    assert (await hub.client.wait_for_completion(own, 10)).output == "2.0"
    older = await hub.client.start_new("which_version", version="1.0")
    failed = await hub.client.wait_for_completion(older, 10)
    assert failed.failure_details.error_type == "VersionMismatch"
    assert "'1.0' does not match the worker version '2.0'" in failed.failure_details.message
