"""The log formatters of --log-format, and the fields perdure's records carry."""

from __future__ import annotations

import json
import logging

import pytest

from perdure.observe import JsonFormatter, TextFormatter, configure_logging, fields


def record(message: str = "step of %s failed", *args: object, exc: bool = False,
           **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad")
        except ValueError:
            import sys
            exc_info = sys.exc_info()
    rec = logging.LogRecord("perdure.worker.worker", logging.WARNING, __file__, 1, message,
                            args or ("abc",), exc_info)
    rec.__dict__.update(extra)
    return rec


def test_json_is_one_object_per_line_with_the_fields() -> None:
    line = JsonFormatter().format(record(exc=True, **fields("abc", "e1", orchestrator="o"),
                                         unrelated="not a field"))
    assert "\n" not in line
    out = json.loads(line)
    assert out["message"] == "step of abc failed"
    assert (out["level"], out["logger"]) == ("warning", "perdure.worker.worker")
    assert (out["instance_id"], out["execution_id"], out["orchestrator"]) == ("abc", "e1", "o")
    assert "unrelated" not in out and "activity" not in out
    assert "ValueError: bad" in out["exception"] and out["time"].endswith("Z")


def test_text_appends_the_fields() -> None:
    line = TextFormatter().format(record(**fields("abc", activity="greet", task_id=3)))
    assert line.endswith("step of abc failed instance_id=abc activity=greet task_id=3")


def test_fields_leave_out_what_is_unknown() -> None:
    assert fields("i") == {"instance_id": "i"}
    assert fields("i", "e", activity="a", task_id=0) == {
        "instance_id": "i", "execution_id": "e", "activity": "a", "task_id": 0}


def test_configure_replaces_its_own_handler_only(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        configure_logging("text", "info")
        handler = configure_logging("json", "debug")
        assert [h for h in root.handlers if h not in before] == [handler]
        assert root.level == logging.DEBUG
        logging.getLogger("perdure.test").debug("hello %s", "there",
                                                extra={"instance_id": "x"})
        assert json.loads(capsys.readouterr().err.splitlines()[-1])["instance_id"] == "x"
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)
        root.setLevel(level)
