"""Proof of work for votes over a rate limit: ALTCHA challenges (HMAC-signed, bound to the
poll, expiring) and the server-side check of a solution, through the `altcha` package's
v1 format, so that ALTCHA's own client libraries and widget can solve them too."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any
from urllib.parse import parse_qs

from altcha.v1 import ChallengeOptions, create_challenge, verify_solution

from service.core.errors import BadRequest, Forbidden
from service.identity.keys import subkey
from service.polls.model import Limits
from service.voting.keys import CHALLENGE_TTL

MAX_PAYLOAD = 2000  # characters of a base64 payload; a genuine one is about 400
# Pressure (over-limit attempts of the address in the signal window) that adds the base
# difficulty once more: at 100 attempts a challenge costs twice as much, at 500 six times.
PRESSURE_STEP = 100


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
    if len(payload) > MAX_PAYLOAD or not payload.isascii():
        raise BadRequest("altcha must be an ALTCHA payload (base64 JSON)", field="altcha")
    ok, error = verify_solution(payload, subkey(secret_key, "altcha"), check_expires=True)
    if error == "Altcha payload expired":
        raise _refused("the challenge has expired; vote again for a new one", "proof_expired")
    if not ok:
        raise _refused("the proof of work does not solve a challenge of ours")
    # Verified: the payload is base64 JSON whose salt our key signed.
    solved = json.loads(base64.b64decode(payload))
    params = parse_qs(str(solved["salt"]).partition("?")[2])
    if params.get("poll") != [poll_id] or "expires" not in params:
        raise _refused("the proof of work was made for another poll")
    return str(solved["signature"])[:32]
