"""What both SQL task hubs share: prefix ranges, tokens, time and event rows, status rules."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perdure.core.errors import (
    InstanceAlreadyExistsError,
    InstanceFinishedError,
    InvalidArgumentError,
    InvalidInstanceStateError,
)
from perdure.core.history import EVENT_TYPES, FailureDetails, TaskFailed, TimerFired
from perdure.core.status import OrchestrationRuntimeStatus as Status
from perdure.store.base import Message, NewInstance
from perdure.store.codec import (
    decode_event,
    decode_failure,
    decode_json,
    encode_event,
    encode_failure,
    encode_json,
    from_us,
    to_us,
)
from perdure.store.migrate import split_sql
from perdure.store.paging import decode_token, encode_token, prefix_upper_bound
from perdure.store.rules import check_can_send, conflict_message, purgeable_status_values

texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)


@given(prefix=texts, candidate=texts)
def test_prefix_range_is_startswith(prefix: str, candidate: str) -> None:
    upper = prefix_upper_bound(prefix)
    in_range = prefix <= candidate and (upper is None or candidate < upper)
    assert in_range == candidate.startswith(prefix)
    # SQLite compares UTF-8 bytes: the bound must order the same way there.
    if upper is not None:
        assert (candidate.encode() < upper.encode()) == (candidate < upper)


def test_prefix_upper_bound_edges() -> None:
    assert prefix_upper_bound("abc") == "abd"
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\U0010ffff") is None
    assert prefix_upper_bound("\ud7ff") == "\ue000"


@given(st.integers(min_value=0, max_value=2**62),
       st.text(st.characters(exclude_categories=("Cc", "Cs"))))
def test_token_round_trip(created_at: int, instance_id: str) -> None:
    token = encode_token(created_at, instance_id)
    assert token.isascii() and "=" not in token
    assert decode_token(token) == (created_at, instance_id)


def test_a_token_hiding_a_control_character_is_refused() -> None:
    import pytest

    from perdure import InvalidArgumentError

    for instance_id in ("a\x00b", "\x1f", "x\n"):
        with pytest.raises(InvalidArgumentError, match="malformed continuation token"):
            decode_token(encode_token(1, instance_id))


@given(st.text())
def test_garbage_tokens_raise_invalid_argument(token: str) -> None:
    try:
        decode_token(token)
    except InvalidArgumentError:
        pass


@pytest.mark.parametrize("raw", [b"[1" * 100_000, b'[99999999999999999999999, "a"]',
                                 b'[1.5, "a"]', b'[true, "a"]', b'[1, 2]', b'{"a": 1}'])
def test_tokens_that_decode_to_nonsense(raw: bytes) -> None:
    with pytest.raises(InvalidArgumentError):
        decode_token(base64.urlsafe_b64encode(raw).decode())


def test_time_round_trip() -> None:
    when = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert from_us(to_us(when)) == when
    assert from_us(to_us(when)).tzinfo is not None
    other_zone = when.astimezone(timezone(timedelta(hours=5)))
    assert to_us(other_zone) == to_us(when)
    assert to_us(when.replace(tzinfo=None)) == to_us(when)  # naive is read as UTC


def test_event_rows() -> None:
    failure = FailureDetails("E", "m", "tb")
    for event in (TaskFailed(task_id=1, failure=failure),
                  TimerFired(task_id=2, fire_at=datetime(2030, 1, 1, tzinfo=UTC))):
        text = encode_event(event)
        assert ", " not in text and ": " not in text  # compact
        assert decode_event(text) == event
    assert decode_failure(encode_failure(failure)) == failure
    assert encode_failure(None) is None and decode_failure(None) is None
    assert len(EVENT_TYPES) > 10


def test_status_rules() -> None:
    assert conflict_message(NewInstance("a", "o", "e"), "Completed") is None  # replaced
    with pytest.raises(InstanceAlreadyExistsError):
        conflict_message(NewInstance("a", "o", "e"), "Suspended")
    raised = Message("a", TimerFired(task_id=1, fire_at=datetime(2030, 1, 1, tzinfo=UTC)))
    assert conflict_message(NewInstance("a", "o", "e", on_conflict=raised), "Running") is raised
    check_can_send("a", "Running", "op", {Status.Running})
    with pytest.raises(InstanceFinishedError):
        check_can_send("a", "Failed", "op", {Status.Running})
    with pytest.raises(InvalidInstanceStateError):
        check_can_send("a", "Pending", "op", {Status.Running})
    assert purgeable_status_values(None) == ["Completed", "Failed", "Terminated"]
    assert purgeable_status_values({Status.Running, Status.Failed}) == ["Failed"]


def test_split_sql() -> None:
    script = ("-- a comment; with a semicolon\nCREATE TABLE t (x);\n\n"
              "-- more\nCREATE INDEX i ON t (x);\n")
    assert split_sql(script) == ["CREATE TABLE t (x)", "CREATE INDEX i ON t (x)"]


def test_split_sql_keeps_function_and_trigger_bodies_whole() -> None:
    pg = ("CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
          "    DELETE FROM t;\n    RETURN NULL;\nEND\n$$;\nCREATE TABLE u (x);\n")
    assert split_sql(pg) == [
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        "    DELETE FROM t;\n    RETURN NULL;\nEND\n$$", "CREATE TABLE u (x)"]
    sqlite = ("CREATE TRIGGER g AFTER DELETE ON t\nBEGIN\n    DELETE FROM u;\n"
              "    DELETE FROM v;\nEND;\nCREATE TRIGGER h AFTER DELETE ON u "
              "EXECUTE FUNCTION f();\n")
    assert split_sql(sqlite) == [
        "CREATE TRIGGER g AFTER DELETE ON t\nBEGIN\n    DELETE FROM u;\n"
        "    DELETE FROM v;\nEND", "CREATE TRIGGER h AFTER DELETE ON u EXECUTE FUNCTION f()"]


# The store's own values (events, failures, ids): integers within 64 bits, finite floats.
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


@given(_JSON)
def test_compact_encoder_round_trips_what_the_standard_one_reads(value: object) -> None:
    import json

    text = encode_json(value)
    assert json.loads(text) == value
    assert decode_json(text) == value
    if not _has_float(value):  # float digits may differ (1e+16 / 1e16); all else is the same
        assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _has_float(value: object) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    return isinstance(value, list) and any(_has_float(v) for v in value)


def test_events_sharing_a_timestamp_encode_it_each_time() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    later = when + timedelta(seconds=1)
    texts = [encode_event(TimerFired(task_id=i, fire_at=at, timestamp=at))
             for i, at in enumerate((when, when, later, when))]
    assert [decode_event(t).fire_at for t in texts] == [when, when, later, when]  # type: ignore[attr-defined]


@given(st.datetimes(timezones=st.sampled_from([UTC, None, timezone(timedelta(hours=-3))])))
def test_event_times_are_written_as_their_isoformat(when: datetime) -> None:
    """orjson writes the UTC ones, isoformat() the rest: the text is the same either way."""
    import json

    event = TimerFired(task_id=1, fire_at=when, timestamp=when)
    text = encode_event(event)
    assert json.loads(text)["fire_at"] == when.isoformat()
    assert json.loads(text)["timestamp"] == when.isoformat()
    assert decode_event(text) == event
