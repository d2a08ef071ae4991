"""Fixtures for the pure replay tests: no database, no asyncio, no clock."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# The suite runs from a plain checkout too (perdure not installed in the venv).
_SRC = str(Path(__file__).resolve().parents[2] / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from .histories import asyncified  # noqa: E402 - needs the path above


@pytest.fixture(params=["generator", "async"])
def flavor(request: pytest.FixtureRequest) -> Callable[[Any], Any]:
    """Run a generator orchestrator as written, or as the same ``async def`` using ``await``."""
    if request.param == "generator":
        return lambda fn: fn
    return asyncified
