"""Concrete ``func.Context`` and ``func.Out``: what the Functions worker passes functions."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import azure.functions as func


class FunctionContext(func.Context):
    """The invocation context of one call of a function (id, name, directory)."""

    def __init__(self, function_name: str, function_directory: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        """A fresh id per invocation."""
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        """Thread-local storage of this invocation."""
        return self._local

    @property
    def function_name(self) -> str:
        """The function's name."""
        return self._function_name

    @property
    def function_directory(self) -> str:
        """The folder of the app's ``function_app.py``."""
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        """No distributed tracing: ``None``."""
        return None

    @property
    def retry_context(self) -> Any:
        """No retry policies on triggers: ``None``."""
        return None


class OutValue(func.Out):  # type: ignore[type-arg]
    """An output binding parameter (``message.set(response)``), read back after the call."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        """Set the output's value."""
        self._value = val

    def get(self) -> Any:
        """The value set, or ``None``."""
        return self._value
