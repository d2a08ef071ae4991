"""Versions in the worker: ctx.version, inheritance, version-aware claims (leave, fail,
strict), and parked nondeterminism resumed by a rollback. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from scenarios import eventually

import perdure
from perdure import OrchestrationRuntimeStatus as S


def versioned_app(version: str | None, **options: object) -> perdure.App:
    app = perdure.App(version=version, **options)  # type: ignore[arg-type]

    @app.activity
    def echo(value: object) -> object:
        return value

    @app.orchestrator
    def which(ctx: perdure.OrchestrationContext):
        yield ctx.call_activity("echo", 1)
        return ctx.version

    @app.orchestrator
    def family(ctx: perdure.OrchestrationContext):
        own = yield ctx.call_sub_orchestrator("which")
        pinned = yield ctx.call_sub_orchestrator("which", version="1.5")
        return [ctx.version, own, pinned]

    @app.orchestrator
    def calls_newer(ctx: perdure.OrchestrationContext):
        try:
            yield ctx.call_sub_orchestrator("which", version="9.0")
        except perdure.TaskFailedError as exc:
            return str(exc)
        return "ran"

    return app


async def test_ctx_version_and_sub_orchestrations_inherit_it(hub_factory):
    hub = await hub_factory(versioned_app("2.1"))
    iid = await hub.client.start_new("family")
    done = await hub.client.wait_for_completion(iid, 20)
    assert done.runtime_status is S.Completed, done.output
    assert done.output == ["2.1", "2.1", "1.5"]
    assert done.version == "2.1"
    children = (await hub.client.get_status_by(instance_id_prefix=f"{iid}:")).instances
    assert sorted(c.version for c in children) == ["1.5", "2.1"]
    # start_new(version=) overrides the app's; an older version runs on a newer worker.
    old = await hub.client.start_new("which", version="1.0")
    assert (await hub.client.wait_for_completion(old, 10)).output == "1.0"


async def test_a_worker_leaves_newer_instances_to_newer_workers(hub_factory):
    hub = await hub_factory(versioned_app("1.0"))
    newer = await hub.client.start_new("which", version="2.0")
    unversioned = await hub.client.start_new("which", version="")
    current = await hub.client.start_new("which")
    for iid, version in ((unversioned, ""), (current, "1.0")):
        assert (await hub.client.wait_for_completion(iid, 10)).output == version
    status = await hub.client.get_status(newer)
    assert status.runtime_status is S.Pending and status.failure_details is None
    record = await hub.store.get_instance(newer)
    assert record.history_len == 0  # never stepped, never even leased
    page = await hub.client.get_status_by(version="2.0", runtime_status=["Pending"])
    assert [s.instance_id for s in page.instances] == [newer]
    await hub.restart_worker(versioned_app("2.0"))
    assert (await hub.client.wait_for_completion(newer, 10)).output == "2.0"


async def test_version_failure_fail_names_both_versions(hub_factory):
    hub = await hub_factory(versioned_app("1.0"), version_failure="fail")
    newer = await hub.client.start_new("which", version="1.10")
    failed = await hub.client.wait_for_completion(newer, 10)
    assert failed.runtime_status is S.Failed
    assert failed.failure_details.error_type == "VersionMismatch"
    assert failed.failure_details.message == (
        "The orchestration version '1.10' is greater than the worker version '1.0'.")
    # A sub-orchestration failed so reports to its parent.
    parent = await hub.client.start_new("calls_newer")
    done = await hub.client.wait_for_completion(parent, 10)
    assert done.runtime_status is S.Completed
    assert "VersionMismatch" in done.output and "'9.0'" in done.output


async def test_strict_runs_only_its_own_version(hub_factory):
    hub = await hub_factory(versioned_app("2.0"), version_match="strict",
                            version_failure="fail")
    older = await hub.client.start_new("which", version="1.0")
    same = await hub.client.start_new("which", version="2.0.0")  # not 2.0: 2.0 < 2.0.0
    own = await hub.client.start_new("which")
    assert (await hub.client.wait_for_completion(own, 10)).output == "2.0"
    for iid, version in ((older, "1.0"), (same, "2.0.0")):
        failed = await hub.client.wait_for_completion(iid, 10)
        assert failed.failure_details.message == (
            f"The orchestration version '{version}' does not match the worker version '2.0'.")


async def test_match_none_runs_everything(hub_factory):
    hub = await hub_factory(versioned_app("1.0"), version_match="none")
    newer = await hub.client.start_new("which", version="5.0")
    assert (await hub.client.wait_for_completion(newer, 10)).output == "5.0"


def test_bad_versioning_options_are_refused() -> None:
    store = perdure.create_store("sqlite:///:memory:")
    with pytest.raises(perdure.InvalidArgumentError, match="needs a worker version"):
        perdure.Worker(versioned_app(None), store,
                       options=perdure.WorkerOptions(version_match="strict"))
    with pytest.raises(perdure.InvalidArgumentError, match="version_match must be one of"):
        perdure.Worker(versioned_app("1.0"), store,
                       options=perdure.WorkerOptions(version_match="newest"))
    with pytest.raises(perdure.InvalidArgumentError, match="version_failure must be one of"):
        perdure.Worker(versioned_app("1.0"), store,
                       options=perdure.WorkerOptions(version_failure="explode"))
    with pytest.raises(perdure.InvalidArgumentError, match="on_nondeterminism"):
        perdure.App(on_nondeterminism="retry")
    with pytest.raises(perdure.InvalidArgumentError, match="control character"):
        perdure.App(version="1\n0")
    # The worker's own version overrides the app's.
    worker = perdure.Worker(versioned_app("1.0"), store,
                            options=perdure.WorkerOptions(version="3.0"))
    assert (worker.versioning.version, worker.versioning.match.value) == \
        ("3.0", "current-or-older")


def evolving(step: str, **options: object) -> perdure.App:
    app = perdure.App(**options)  # type: ignore[arg-type]

    @app.activity
    def step_a(value: str) -> str:
        return value

    @app.activity
    def step_b(value: str) -> str:
        return value

    @app.orchestrator(name="evolving")
    def orchestrator(ctx: perdure.OrchestrationContext):
        yield ctx.call_activity(step, "a")
        yield ctx.wait_for_external_event("go")
        return step

    return app


async def test_parked_nondeterminism_resumes_after_a_rollback(hub_factory):
    good = evolving("step_a", on_nondeterminism="park")
    hub = await hub_factory(good, cache_mb=0)
    await hub.client.start_new("evolving", "nd")

    async def waiting() -> bool:
        history = (await hub.client.get_status("nd", show_history=True)).history
        return any(e["EventType"] == "TaskCompleted" for e in history)
    await eventually(waiting)
    await hub.restart_worker(evolving("step_b", on_nondeterminism="park"))
    await hub.client.raise_event("nd", "go")

    async def parked() -> bool:
        return (await hub.client.get_status("nd")).parked
    await eventually(parked)
    status = await hub.client.get_status("nd")
    assert status.runtime_status is S.Running
    assert status.failure_details.error_type == "NonDeterminismError"
    assert "'step_a'" in status.failure_details.message
    before = await hub.store.get_instance("nd")
    # Parked, not retried: more events change nothing while this code runs.
    await hub.client.raise_event("nd", "go")
    other = await hub.client.start_new("evolving", "fresh")
    await hub.client.raise_event(other, "go")
    assert (await hub.client.wait_for_completion(other, 10)).output == "step_b"
    record = await hub.store.get_instance("nd")
    assert record.parked and (record.history_len, record.updated_at) == \
        (before.history_len, before.updated_at)
    # An explicit resume retries it once: this code parks it again, once.
    parks = hub.worker.metrics.nondeterminism
    await hub.client.resume("nd")

    async def parked_again() -> bool:
        return hub.worker.metrics.nondeterminism == parks + 1 and \
            (await hub.client.get_status("nd")).parked
    await eventually(parked_again)
    # Rolling back (a worker start with code that replays it) resumes it.
    await hub.restart_worker(good)
    done = await hub.client.wait_for_completion("nd", 10)
    assert done.runtime_status is S.Completed and done.output == "step_a"
    assert done.failure_details is None and not done.parked


async def test_without_park_nondeterminism_fails(hub_factory):
    hub = await hub_factory(evolving("step_a"), cache_mb=0)
    await hub.client.start_new("evolving", "nd")

    async def waiting() -> bool:
        history = (await hub.client.get_status("nd", show_history=True)).history
        return any(e["EventType"] == "TaskCompleted" for e in history)
    await eventually(waiting)
    # The worker option overrides the app's choice.
    await hub.restart_worker(evolving("step_b", on_nondeterminism="park"),
                             on_nondeterminism="fail")
    await hub.client.raise_event("nd", "go")
    failed = await hub.client.wait_for_completion("nd", 10)
    assert failed.runtime_status is S.Failed and not failed.parked


def test_runs_says_what_the_claim_filter_lets_a_worker_lease() -> None:
    from perdure.worker.versioning import Versioning

    def runs(version: str | None, match: str | None, failure: str | None = None,
             instance: str = "") -> bool:
        options = perdure.WorkerOptions(version=version, version_match=match,
                                        version_failure=failure)
        return Versioning.of(perdure.App(), options).runs(instance)
    assert runs(None, None, instance="9.0")
    assert runs("2.0", None, instance="1.0") and runs("2.0", None, instance="")
    assert not runs("2.0", None, instance="3.0")
    assert runs("2.0", "strict", instance="2.0") and not runs("2.0", "strict", instance="1.0")
    assert runs("2.0", "none", instance="3.0")
    assert runs("2.0", "strict", "fail", instance="1.0")  # claimed, to be failed


@pytest.mark.sqlite_only
async def test_an_idle_worker_takes_no_start_of_a_version_it_leaves(hub_factory):
    hub = await hub_factory(versioned_app("1.0"))

    async def idle() -> bool:
        return hub.worker._claims_idle
    await eventually(idle)
    iid = await hub.client.start_new("which", version="2.0")
    assert hub.worker._started == []
    # Not leased to the 1.0 worker: a 2.0 worker's claim takes it at once.
    [item] = await hub.store.claim_orchestrations("newer", 10, 30.0)
    assert item.instance.instance_id == iid and item.attempts == 1
