"""Proof of work for votes over a rate limit: ALTCHA challenges (HMAC-signed, bound to the
poll, expiring) and the server-side check of a solution, through the `altcha` package's
v1 format, so that ALTCHA's own client libraries and widget can solve them too."""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

import msgspec
from altcha.v1 import ChallengeOptions, create_challenge, verify_solution

from service.core.errors import BadRequest, Forbidden
from service.identity.keys import subkey
from service.polls.model import Limits
from service.voting.keys import CHALLENGE_TTL

MAX_PAYLOAD = 2000  # characters of a base64 payload; a genuine one is about 400
# Pressure (over-limit attempts of the address in the signal window) that adds the base
# difficulty once more: at 100 attempts a challenge costs twice as much, at 500 six times.
PRESSURE_STEP = 100


# What a solution must look like before the altcha library sees it: the library indexes and
# str()s whatever JSON it gets, so a salt of [] or a top-level 5 raised inside it (500).
# Bounds: our challenges' fields are hex digests (up to SHA-512's 128 digits), a salt of
# about 60 characters and a number below the largest maxnumber a site may set.
_Hex = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern="^[0-9a-f]+$")]


class AltchaPayload(msgspec.Struct):
    """An ALTCHA v1 solution (base64 JSON); unknown fields (the widget's `took`) pass."""

    algorithm: Literal["SHA-1", "SHA-256", "SHA-512"]
    challenge: _Hex
    number: Annotated[int, msgspec.Meta(ge=0, le=10**12)]
    salt: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    signature: _Hex


_AT_FIELD = re.compile(r"at `\$\.([a-z]+)`|field `([a-z]+)`")


def _bad_payload(message: str, part: str | None = None) -> BadRequest:
    field = f"altcha.{part}" if part else "altcha"
    return BadRequest(f"altcha must be an ALTCHA payload (base64 JSON): {message}", field=field)


def parse_payload(payload: str) -> AltchaPayload:
    """The payload's shape checked, or a 400 naming the part (`altcha.salt`) that is wrong."""
    if len(payload) > MAX_PAYLOAD or not payload.isascii():
        raise _bad_payload(f"at most {MAX_PAYLOAD} ASCII characters")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _bad_payload("not base64") from None
    try:
        return msgspec.json.decode(raw, type=AltchaPayload, strict=True)
    except msgspec.ValidationError as exc:
        found = _AT_FIELD.search(str(exc))
        raise _bad_payload(
            str(exc), (found.group(1) or found.group(2)) if found else None
        ) from None
    except msgspec.DecodeError:
        raise _bad_payload("not JSON") from None


def difficulty(limits: Limits, pressure: int) -> int:
    """ALTCHA's maxnumber for an address under `pressure`: the expected work is half of it."""
    return min(limits.max_difficulty, limits.difficulty * (1 + max(pressure, 0) // PRESSURE_STEP))


def new_challenge(secret_key: bytes, poll_id: str, maxnumber: int) -> dict[str, Any]:
    """A challenge as ALTCHA's widget reads it (v1: algorithm, challenge, maxnumber, salt,
    signature); the salt carries the poll and the expiry, which the signature covers."""
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=CHALLENGE_TTL)
    made = create_challenge(
        ChallengeOptions(
            max_number=maxnumber,
            hmac_key=subkey(secret_key, "altcha"),
            expires=expires,
            params={"poll": poll_id},
        )
    )
    return {
        "algorithm": made.algorithm,
        "challenge": made.challenge,
        "maxnumber": made.max_number,
        "salt": made.salt,
        "signature": made.signature,
    }


def _refused(message: str, code: str = "bad_proof") -> Forbidden:
    return Forbidden(message, field="altcha", code=code)


def check_solution(secret_key: bytes, poll_id: str, payload: str) -> str:
    """The id that spends the solution (its challenge's signature, itself an HMAC) when the
    payload solves a challenge we issued for this poll and it has not expired; vote.lua
    marks the id spent, so each solution counts once."""
    solved = parse_payload(payload)
    ok, error = verify_solution(
        {
            "algorithm": solved.algorithm,
            "challenge": solved.challenge,
            "number": solved.number,
            "salt": solved.salt,
            "signature": solved.signature,
        },
        subkey(secret_key, "altcha"),
        check_expires=True,
    )
    if error == "Altcha payload expired":
        raise _refused("the challenge has expired; vote again for a new one", "proof_expired")
    if not ok:
        raise _refused("the proof of work does not solve a challenge of ours")
    # Verified: our key signed the salt.
    params = parse_qs(solved.salt.partition("?")[2])
    if params.get("poll") != [poll_id] or "expires" not in params:
        raise _refused("the proof of work was made for another poll")
    return solved.signature[:32]
