"""Request bodies: size limit, strict decoding, and text rules (NFC, no control characters)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import msgspec
from starlette.requests import ClientDisconnect, Request

from service.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from service.core.http import raw_header
from service.core.invisible import is_invisible

MAX_BODY = 64 * 1024
T = TypeVar("T")

# msgspec names the offending field in its message; we hand that name back to the client.
_PATH = re.compile(r"at `\$\.([A-Za-z_][A-Za-z0-9_]*)")
_NAMED = re.compile(r"field `([^`]+)`")
# Bidi embeddings, overrides, isolates and marks (LRM, RLM, the Arabic letter mark) can
# make text read differently from what it holds ("Trojan Source"); no poll text needs them.
_BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit`, declared or
    not (chunked): never buffered beyond it. Reads the ASGI messages directly: the usual
    case is one message, and Request.stream()'s async generator costs more than that."""
    declared = raw_header(request, b"content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise BadRequest("Content-Length is not a number", field="Content-Length")
        # int() refuses digit strings over 4300 long; any over 18 is too large anyway.
        if len(declared) > 18 or int(declared) > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    chunks = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def whole_number(text: str, max_digits: int = 18) -> int | None:
    """`text` as a plain decimal number, or None. Strict where int() is not: only ASCII
    digits ("²" passes str.isdigit() and fails int()) and a bounded length (int() refuses
    over 4300 digits, and takes time before that)."""
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def decode(body: bytes, type_: type[T]) -> T:
    """Decode a JSON body into a msgspec type; errors become 400s naming the field."""
    if not body:
        raise BadRequest("request body is empty; send a JSON object")
    try:
        try:
            return msgspec.json.decode(body, type=type_, strict=True)
        except msgspec.ValidationError as exc:
            if "got `float`" not in str(exc):
                raise
            # JSON Schema's integer is any number without a fractional part, 4.0 too, and
            # the document says integer: take what it promises (off the fast path).
            try:
                whole = _whole(msgspec.json.decode(body))
            except RecursionError:  # deeper than any of our bodies
                raise BadRequest("malformed JSON: nested too deeply") from None
            return msgspec.convert(whole, type_, strict=True)
    except msgspec.ValidationError as exc:
        # msgspec checks types while it parses: a body cut short after a wrong-typed value
        # (`{"choices": [1`) is reported as that type error. Say what is really wrong.
        try:
            msgspec.json.decode(body, type=msgspec.Raw)  # syntax only: builds nothing
        except msgspec.DecodeError as broken:
            raise BadRequest(f"malformed JSON: {broken}") from None
        except RecursionError:  # nested deeper than any of our bodies: not ours to parse
            raise BadRequest("malformed JSON: nested too deeply") from None
        message = str(exc)
        match = _PATH.search(message) or _NAMED.search(message)
        raise BadRequest(message, field=match.group(1) if match else None) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None


def _whole(value: Any) -> Any:
    """`value` with every float that is a whole number (4.0, 1e3) made an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    return value


async def read_json(request: Request, type_: type[T]) -> T:
    content_type = request.headers.get("content-type", "")
    if content_type and not content_type.startswith("application/json"):
        raise UnsupportedMediaType("send the body as application/json", field="Content-Type")
    return decode(await read_body(request), type_)


def parse_form(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("malformed form body") from None


def clean_text(
    value: str, field: str, *, max_len: int, min_len: int = 1, multiline: bool = False
) -> str:
    """NFC-normalise, trim, and refuse control characters and bad lengths. Multi-line text
    has its line breaks made LF first: a browser's form sends a textarea's breaks as CRLF
    (HTML's form encoding), so CR is a line break there, not a control character."""
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", value).strip()
    for ch in text:
        if (unicodedata.category(ch) in ("Cc", "Cs", "Co") or ch in _BIDI_CONTROLS) and not (
            multiline and ch in "\n\t"
        ):
            raise BadRequest(f"{field} contains a control character (U+{ord(ch):04X})", field=field)
    # Text of nothing but invisible characters (zero-width space, BOM, variation
    # selectors, Hangul fillers: core/invisible.py) is empty.
    visible = sum(1 for ch in text if not is_invisible(ch))
    if visible < min_len:
        raise BadRequest(f"{field} must not be empty", field=field)
    if len(text) > max_len:
        raise BadRequest(f"{field} must be at most {max_len} characters", field=field)
    return text
