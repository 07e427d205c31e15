"""Structured logs: one JSON object a line, and the per-request access log."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any, TextIO

import msgspec

# An extra that JSON cannot hold is logged as its str() rather than losing the line.
_encode = msgspec.json.Encoder(enc_hook=str).encode
# uvicorn adds a terminal-coloured copy of its message; JSON logs need only one.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"color_message"}


# uvicorn logs its start, stop and worker lines at INFO under "uvicorn.error" (a
# historical name for its general logger): shown as that, a routine line reads as a fault.
_LOGGER_NAMES = {"uvicorn.error": "uvicorn"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": _LOGGER_NAMES.get(record.name, record.name),
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _encode(entry).decode()


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours.
    logging.getLogger("uvicorn.access").disabled = True


class AccessLog:
    """One JSON line per request, in the format of the other logs, buffered and written a
    few times a second. The logging module's per-record work and per-line flush cost more
    than the rest of a cached request; a crash loses at most the last fraction of a second.
    """

    def __init__(self, stream: TextIO | None = None, flush_every: float = 0.25) -> None:
        self._stream = stream
        self._flush_every = flush_every
        self._lines: list[bytes] = []
        self._second = -1
        self._stamp = ""

    def write(self, method: str, path: str, status: int, ms: float, request_id: str) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:  # formatting the date once a second is plenty
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        entry = {
            "ts": f"{self._stamp}.{int((now - second) * 1000):03d}Z",
            "level": "info",
            "logger": "civicpoll.access",
            "msg": f"{method} {path} {status}",
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "ms": ms,
        }
        self._lines.append(_encode(entry))
        if len(self._lines) >= 2000:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        text = b"\n".join(self._lines).decode() + "\n"
        self._lines.clear()
        stream = self._stream or sys.stdout  # looked up late: tests and tools swap stdout
        stream.write(text)
        stream.flush()

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._flush_every)
                self.flush()
        finally:
            self.flush()
