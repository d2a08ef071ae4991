"""Version comparison: DurableTask's CompareVersions, case by case, and its SQL key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perdure.core.errors import InvalidArgumentError
from perdure.core.versions import (
    VersionMatch,
    allowed_range,
    check_version,
    compare_keys,
    compare_versions,
    parse_dotnet_version,
    version_key,
)


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("", "", 0), (None, "", 0), (" ", "", 0),           # empty and whitespace are no version
    ("", "1.0", -1), ("1.0", "", 1), ("  ", "0.1", -1),  # no version is the oldest
    ("1.0", "1.0", 0), ("1.0", "2.0", -1), ("2.0", "1.0", 1),
    ("1.9", "1.10", -1), ("1.10", "1.9", 1),             # numeric, not textual
    ("1.0", "1.0.0", -1), ("1.0.0", "1.0.0.0", -1),      # a missing component is below 0
    ("01.2", "1.2", 0), ("1. 2", "1.2", 0), ("+1.2", "1.2", 0),  # int.TryParse's leniency
    ("1", "2", -1),                                      # one component: text (no parse)
    ("10", "9", -1),                                     # ... so "10" < "9"
    ("1.0a", "1.0", 1), ("1.10x", "1.9", -1),            # mixed: ordinal text
    ("v2", "V2", 0), ("abc", "ABD", -1),                 # ignoring case
    ("1.2.3.4.5", "1.2.3.4", 1),                         # five components do not parse
    ("3000000000.0", "400.0", -1),                       # past int32: text, "3" < "4"
])
def test_compare_versions_as_durabletask_does(a: str | None, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


def test_parse_follows_system_version() -> None:
    assert parse_dotnet_version("1.2") == (1, 2, -1, -1)
    assert parse_dotnet_version("1.2.3.4") == (1, 2, 3, 4)
    assert parse_dotnet_version("-0.1") == (0, 1, -1, -1)
    for bad in ("1", "1.", ".1", "1.-1", "1.2.3.4.5", "1.a", "2147483648.0", "1.٣"):
        assert parse_dotnet_version(bad) is None, bad


def test_match_strategies_allow_what_durabletask_allows() -> None:
    def allowed(match: VersionMatch, instance: str, worker: str) -> bool:
        low, high = allowed_range(match)
        return low <= compare_versions(instance, worker) <= high

    older = VersionMatch.CURRENT_OR_OLDER
    assert allowed(older, "1.0", "2.0") and allowed(older, "2.0", "2.0")
    assert allowed(older, "", "2.0") and not allowed(older, "2.1", "2.0")
    assert allowed(VersionMatch.STRICT, "2.0", "2.0")
    assert not allowed(VersionMatch.STRICT, "1.0", "2.0")
    assert not allowed(VersionMatch.STRICT, "", "2.0")
    assert allowed(VersionMatch.NONE, "9.0", "2.0")


def test_bad_versions_are_refused() -> None:
    for bad in ("a\x00b", "x" * 101, "tab\there"):
        with pytest.raises(InvalidArgumentError):
            check_version(bad)
    with pytest.raises(InvalidArgumentError):
        check_version(2)  # type: ignore[arg-type]
    assert check_version("release 2.1-beta") == "release 2.1-beta"


_versions = st.one_of(
    st.sampled_from(["", " ", "1.0", "1.0.0", "2.0", "1.10", "1.9", "1", "10", "v1", "V1",
                     "1.0a", "2.0.0.1"]),
    st.lists(st.integers(0, 20), min_size=1, max_size=5).map(lambda p: ".".join(map(str, p))),
    st.text(alphabet="0123456789.abAB ", max_size=8))


@given(_versions, _versions)
def test_the_sql_key_orders_as_the_comparison(a: str, b: str) -> None:
    """The claim SQL compares keys: fixed-width digits sort as the numbers do."""
    ka, kb = version_key(a), version_key(b)
    assert compare_keys(ka, kb) == -compare_keys(kb, ka)
    pa, pb = parse_dotnet_version(a.strip()) if a.strip() else None, \
        parse_dotnet_version(b.strip()) if b.strip() else None
    if pa is not None and pb is not None and ka.num and kb.num:
        assert compare_keys(ka, kb) == (pa > pb) - (pa < pb)
