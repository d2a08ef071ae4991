"""Replay recorded histories against current code: the nondeterminism check.

The replay core compares each action the code schedules with the action the
history recorded at the same position (kind and name). These functions run
that replay without a store or worker and, when they disagree, name the
instance, the position, and the expected and actual actions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..app import App
from ..client.client import Client
from ..client.export import HistoryExport
from ..core.actions import (
    RECORDING_EVENTS,
    Action,
    ScheduleActivity,
    ScheduleSubOrchestration,
    describe,
    recorded_action,
)
from ..core.errors import InstanceNotFoundError, InvalidArgumentError, NonDeterminismError
from ..core.executor import OrchestrationExecutor
from ..core.history import (
    ExecutionCompleted,
    ExecutionStarted,
    HistoryEvent,
    event_from_dict,
)
from ..core.serialization import loads
from ..core.status import ACTIVE_STATUSES
from ..core.status import OrchestrationRuntimeStatus as Status

Orchestrator = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class ReplayMismatch:
    """Where replaying a history against current code went wrong."""

    instance_id: str
    """The replayed instance."""
    name: str
    """The orchestrator's name."""
    position: int | None
    """The task id (sequence number) of the first disagreement; ``None`` when the code
    failed or its outcome differs rather than an action."""
    expected: str
    """What the history recorded there, e.g. ``call activity 'charge'``."""
    actual: str
    """What the code did instead, e.g. ``call activity 'refund'`` or ``nothing``."""

    def __str__(self) -> str:
        where = f"at position {self.position}" if self.position is not None else "at the end"
        return (f"instance {self.instance_id!r} (orchestrator {self.name!r}): {where} history "
                f"expected {self.expected}, but the code {self.actual}")


class ReplayMismatchError(NonDeterminismError):
    """A replay disagreed with its history; ``mismatch`` says where and how."""

    def __init__(self, mismatch: ReplayMismatch) -> None:
        super().__init__(f"non-deterministic orchestrator: {mismatch}")
        self.mismatch = mismatch

    @property
    def instance_id(self) -> str:
        """The replayed instance."""
        return self.mismatch.instance_id

    @property
    def position(self) -> int | None:
        """The position of the first disagreement."""
        return self.mismatch.position

    @property
    def expected(self) -> str:
        """What the history recorded."""
        return self.mismatch.expected

    @property
    def actual(self) -> str:
        """What the code did."""
        return self.mismatch.actual


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """The outcome of replaying one history."""

    instance_id: str
    """The replayed instance."""
    name: str
    """The orchestrator's name."""
    events: int
    """How many events were replayed."""
    status: Status
    """The runtime status the replay reached."""
    mismatch: ReplayMismatch | None = None
    """The first disagreement, or ``None`` when the code is compatible."""
    source: str | None = None
    """The file the history came from, if any."""

    @property
    def compatible(self) -> bool:
        """Whether current code replays the history without disagreeing with it."""
        return self.mismatch is None


def _did(action: Action | None) -> str:
    return "scheduled nothing there" if action is None else f"tried to {describe(action)}"


def scheduled_actions(orchestrator: Orchestrator, instance_id: str,
                      history: Sequence[HistoryEvent]) -> dict[int, Action]:
    """What the code schedules at each position when replayed over ``history``.

    The history is replayed without its recording events (which only match
    actions and change nothing else), so every action the code takes stays
    pending and is collected, inputs included.
    """
    executor = OrchestrationExecutor(orchestrator, instance_id)
    executor.process([e for e in history if not isinstance(e, RECORDING_EVENTS)],
                     replaying=True)
    return {action.task_id: action for action in executor.take_actions()}


def _input_mismatch(orchestrator: Orchestrator, instance_id: str, name: str,
                    history: Sequence[HistoryEvent]) -> ReplayMismatch | None:
    actions = scheduled_actions(orchestrator, instance_id, history)
    for event in history:
        expected = recorded_action(event)
        if not isinstance(expected, ScheduleActivity | ScheduleSubOrchestration):
            continue
        actual = actions.get(expected.task_id)
        if not isinstance(actual, ScheduleActivity | ScheduleSubOrchestration) or \
                loads(actual.input) == loads(expected.input):
            continue
        return ReplayMismatch(instance_id, name, expected.task_id,
                              f"{describe(expected)} with input {expected.input}",
                              f"passed input {actual.input}")
    return None


def find_mismatch(orchestrator: Orchestrator, instance_id: str, name: str,
                  history: Sequence[HistoryEvent], *,
                  strict: bool = False) -> tuple[ReplayMismatch | None, Status]:
    """Replay ``history`` with ``orchestrator``; the first mismatch (if any) and the status.

    Reports, as the engine does when an instance resumes, an action whose kind
    or name differs from the recorded one and code that returns before
    scheduling actions its history recorded; also code that now fails where the
    history recorded no failure. With ``strict``, also an activity or
    sub-orchestration called with another input (compared as JSON values).
    """
    executor = OrchestrationExecutor(orchestrator, instance_id)
    processed = 0
    for index, event in enumerate(history):
        if executor.completion is not None:
            break
        processed = index + 1
        executor.process([event], replaying=True)
        done = executor.completion
        if done is None or done.failure is None:
            continue
        if done.failure.error_type == "NonDeterminismError" and isinstance(
                event, RECORDING_EVENTS):
            expected = recorded_action(event)
            assert expected is not None
            actual = scheduled_actions(orchestrator, instance_id,
                                       history[:index]).get(expected.task_id)
            if actual is not None and type(actual) is type(expected) and \
                    actual.name == expected.name:  # a strict executor: the input differs
                differs = _input_mismatch(orchestrator, instance_id, name,
                                          history[:index + 1])
                if differs is not None:
                    return differs, done.status
            return ReplayMismatch(instance_id, name, expected.task_id, describe(expected),
                                  _did(actual)), done.status
    done = executor.completion
    rest = history[processed:]
    recorded_end = next((e for e in reversed(history) if isinstance(e, ExecutionCompleted)),
                        None)
    if done is not None and done.status in (Status.Completed, Status.ContinuedAsNew):
        later = next((e for e in rest if isinstance(e, RECORDING_EVENTS)), None)
        if later is not None:
            action = recorded_action(later)
            assert action is not None
            return ReplayMismatch(instance_id, name, action.task_id, describe(action),
                                  "returned before scheduling it"), done.status
    if strict:
        mismatch = _input_mismatch(orchestrator, instance_id, name, history)
        if mismatch is not None:
            return mismatch, executor.status
    if done is not None and done.failure is not None and (
            recorded_end is None or recorded_end.failure is None):
        return ReplayMismatch(instance_id, name, None, "no failure",
                              f"failed: {done.failure.summary()}"), done.status
    return None, executor.status


def _coerce(history: Any, instance_id: str | None, source: str) -> HistoryExport:
    if isinstance(history, HistoryExport):
        return history
    if isinstance(history, dict):
        return HistoryExport.from_dict(history, source)
    if isinstance(history, str | Path):
        return HistoryExport.load(history)
    if isinstance(history, Iterable):
        events: list[HistoryEvent] = []
        for item in history:
            if isinstance(item, HistoryEvent):
                events.append(item)
            elif isinstance(item, dict):
                events.append(event_from_dict(item))
            else:
                raise InvalidArgumentError(f"{source}: a history holds events or event dicts, "
                                           f"not {type(item).__name__}")
        started = next((e for e in events if isinstance(e, ExecutionStarted)), None)
        if started is None:
            raise InvalidArgumentError(f"{source}: the history has no ExecutionStarted event")
        return HistoryExport(instance_id or "replayed", started.name, events)
    raise InvalidArgumentError(f"{source}: expected a HistoryExport, an export dict, a path "
                               f"or a list of events, got {type(history).__name__}")


def replay_history(app: App, history: Any, *, instance_id: str | None = None,
                   raise_on_mismatch: bool = True, strict: bool = False) -> ReplayReport:
    """Replay one recorded history against ``app``'s current code.

    ``history`` is a :class:`~perdure.client.export.HistoryExport` (what
    ``Client.export_history`` returns), its dict or file path, or a list of
    history events. Raises :class:`ReplayMismatchError` (a
    :class:`~perdure.NonDeterminismError`) naming the instance, position,
    expected and actual action, unless ``raise_on_mismatch`` is false: the
    report then carries the mismatch. An orchestrator ``app`` does not know
    raises :class:`~perdure.UnknownFunctionError`. ``strict`` (the default for an
    ``App(strict_replay=True)``) also compares the inputs of activities and
    sub-orchestrations (see :func:`find_mismatch`).
    """
    if not isinstance(app, App):
        raise InvalidArgumentError(f"replay_history needs a perdure.App, got "
                                   f"{type(app).__name__}")
    export = _coerce(history, instance_id, "history")
    fn = app.get_orchestrator(export.name)
    mismatch, status = find_mismatch(fn, export.instance_id, export.name, export.events,
                                     strict=strict or app.strict_replay)
    source = str(history) if isinstance(history, str | Path) else None
    report = ReplayReport(export.instance_id, export.name, len(export.events), status,
                          mismatch, source)
    if mismatch is not None and raise_on_mismatch:
        raise ReplayMismatchError(mismatch)
    return report


async def replay_instances(app: App, client: Client, *,
                           statuses: Iterable[Status | str] = ACTIVE_STATUSES,
                           names: Iterable[str] | None = None,
                           strict: bool = False) -> list[ReplayReport]:
    """Replay every instance of ``client``'s task hub in ``statuses`` (by default the
    in-flight ones: Pending, Running, Suspended) against ``app``'s code, writing nothing.

    ``names`` keeps only instances of those orchestrators. An instance whose
    orchestrator ``app`` does not define is reported incompatible. The reports
    come oldest instance first; this is what ``perdure replay-check`` runs.
    """
    wanted = [s if isinstance(s, Status) else Status.parse(s) for s in statuses]
    if not wanted:
        raise InvalidArgumentError("give at least one runtime status to check")
    only = set(names) if names is not None else None
    reports: list[ReplayReport] = []
    token: str | None = None
    while True:
        page = await client.get_status_by(runtime_status=wanted, page_size=500,
                                          continuation_token=token, show_input=False)
        for status in page.instances:
            if only is not None and status.name not in only:
                continue
            if status.name not in app.orchestrators:
                reports.append(ReplayReport(
                    status.instance_id, status.name, 0, status.runtime_status,
                    ReplayMismatch(status.instance_id, status.name, None,
                                   f"orchestrator {status.name!r}",
                                   "does not define it")))
                continue
            try:
                export = await client.export_history(status.instance_id)
            except InstanceNotFoundError:
                continue  # purged meanwhile
            reports.append(replay_history(app, export, raise_on_mismatch=False,
                                          strict=strict))
        token = page.continuation_token
        if token is None:
            return reports


def history_files(*paths: str | Path) -> list[Path]:
    """The ``*.json`` files under each directory in ``paths`` (files are kept as given),
    sorted: the cases to feed ``pytest.mark.parametrize``."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(path.rglob("*.json")))
        else:
            found.append(path)
    return found


def replay_histories(app: App, paths: Iterable[str | Path], *,
                     raise_on_mismatch: bool = True,
                     strict: bool = False) -> list[ReplayReport]:
    """Replay every history export in ``paths`` (files or directories of ``*.json``).

    Replays them all, then raises one :class:`ReplayMismatchError` for the
    first mismatch (its message lists every incompatible file) unless
    ``raise_on_mismatch`` is false; returns a report per file.
    """
    reports = [replay_history(app, path, raise_on_mismatch=False, strict=strict)
               for path in history_files(*paths)]
    bad = [r for r in reports if r.mismatch is not None]
    if bad and raise_on_mismatch:
        first = bad[0].mismatch
        assert first is not None
        error = ReplayMismatchError(first)
        error.args = ("non-deterministic orchestrators:\n" + "\n".join(
            f"  {r.source}: {r.mismatch}" for r in bad),)
        raise error
    return reports


def assert_replays(app: App, *paths: str | Path, strict: bool = False) -> None:
    """The pytest form: fail with an ``AssertionError`` listing every history under
    ``paths`` that current code no longer replays (and when there is none to check)."""
    files = history_files(*paths)
    assert files, f"no history exports found under {', '.join(map(str, paths))}"
    reports = replay_histories(app, files, raise_on_mismatch=False, strict=strict)
    bad = [r for r in reports if r.mismatch is not None]
    assert not bad, "histories the current code no longer replays:\n" + "\n".join(
        f"  {r.source}: {r.mismatch}" for r in bad)
