"""ops/logs.py: JSON log lines."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from service.ops.logs import JsonFormatter, configure


def test_json_formatter_carries_extras_and_exceptions() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("bad")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("civicpoll.x", logging.ERROR, __file__, 1, "a %s", ("b",), exc_info)
    record.request_id = "abc"
    record.unserialisable = object()
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "a b"
    assert entry["level"] == "error"
    assert entry["request_id"] == "abc"
    assert entry["unserialisable"].startswith("<object")
    assert "ValueError: bad" in entry["exc"]
    assert "args" not in entry and "levelno" not in entry


def test_configure_sends_json_lines_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("uvicorn.access").disabled)
    try:
        configure("warning")
        assert root.level == logging.WARNING
        assert logging.getLogger("uvicorn.access").disabled
        logging.getLogger("civicpoll.test").warning("hello %s", "world", extra={"poll": "p1"})
        logging.getLogger("civicpoll.test").info("not shown")
    finally:
        root.handlers[:], root.level, logging.getLogger("uvicorn.access").disabled = saved
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["msg"] for line in lines] == ["hello world"]
    assert json.loads(lines[0])["poll"] == "p1"


def test_uvicorn_info_lines_are_not_labelled_error() -> None:
    """uvicorn's "Application startup complete" comes through its "uvicorn.error" logger:
    the line names it "uvicorn", at its own level."""
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "started", (), None)
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["logger"], entry["level"]) == ("uvicorn", "info")
    record = logging.LogRecord("civicpoll.engine", logging.INFO, __file__, 1, "x", (), None)
    assert json.loads(JsonFormatter().format(record))["logger"] == "civicpoll.engine"
