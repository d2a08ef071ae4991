"""A rolling deploy on one PostgreSQL task hub: two ``perdure worker`` processes of
different app versions. The old worker never runs a step of a newer instance; the
new worker runs both; once the old worker is gone the old version drains."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

from store.pg import postgres, scratch_hub
from workers import start_worker, stop

import perdure
from perdure import OrchestrationRuntimeStatus as S

pytestmark = postgres
APP = "versions_app.py"


def steps(log: Path) -> dict[str, set[tuple[str, int]]]:
    """instance id -> the (version, pid) of every live step it took."""
    seen: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for line in log.read_text().splitlines() if log.exists() else []:
        iid, version, pid = line.split()
        seen[iid].add((version, int(pid)))
    return seen


async def migrated(url: str) -> None:
    """Create the schema before worker processes start (they would race to it)."""
    store = perdure.create_store(url)
    await store.open()
    await store.close()


async def start_all(client: perdure.Client, prefix: str, count: int) -> dict[str, str]:
    """Start ``count`` instances of each version, interleaved; id -> version."""
    ids = {f"{prefix}-{version}-{i:02d}": version for i in range(count)
           for version in ("1.0", "2.0")}
    for iid, version in ids.items():
        await client.start_new("versioned_job", iid, version=version)
    return ids


async def completed(client: perdure.Client, iid: str, version: str) -> None:
    done = await client.wait_for_completion(iid, timeout=60)
    assert done.runtime_status is S.Completed, (iid, done.output)
    assert done.output["version"] == version and done.version == version


async def test_an_old_worker_never_runs_newer_instances(tmp_path: Path) -> None:
    log = tmp_path / "steps.log"
    env = {"VERSIONS_APP_LOG": str(log)}
    async with scratch_hub() as url:
        await migrated(url)
        old = start_worker(url, {**env, "VERSIONS_APP_VERSION": "1.0"}, app=APP)
        new: subprocess.Popen[bytes] | None = None
        client = perdure.Client(url, orchestrators=["versioned_job"])
        try:
            # Only the old worker: it runs the old instances, never touches the new ones.
            first = await start_all(client, "first", 15)
            for iid, version in first.items():
                if version == "1.0":
                    await completed(client, iid, version)
            for iid, version in first.items():
                if version == "2.0":
                    record = await client.store.get_instance(iid)
                    assert record is not None and record.runtime_status is S.Pending
                    assert record.history_len == 0  # never leased, never stepped
            # The new worker joins: it runs the waiting new instances, and both run
            # what starts now.
            new = start_worker(url, {**env, "VERSIONS_APP_VERSION": "2.0"}, app=APP)
            second = await start_all(client, "second", 15)
            for iid, version in (first | second).items():
                await completed(client, iid, version)
            seen = steps(log)
            for iid, version in (first | second).items():
                pids = {pid for _, pid in seen[iid]}
                assert pids, iid
                if version == "2.0":
                    assert pids == {new.pid}, (iid, pids)  # never a step on the old worker
                elif iid in first:
                    assert pids == {old.pid}, (iid, pids)
            # The old worker leaves; the new one runs what the old version still starts.
            stop(old)
            late = [f"late-{i}" for i in range(5)]
            for iid in late:
                await client.start_new("versioned_job", iid, version="1.0")
            for iid in late:
                await completed(client, iid, "1.0")
                assert {pid for _, pid in steps(log)[iid]} == {new.pid}
            active = await client.get_status_by(version="1.0",
                                                runtime_status=["Pending", "Running"])
            assert active.instances == []  # version 1.0 has drained
        finally:
            stop(old)
            if new is not None:
                stop(new)
            await client.close()
