"""Keyed hashes and signatures made with a secret: one table of purposes, one function.

Every value the service derives from SECRET_KEY (or a site's voter secret) is
`digest(secret, PURPOSE, message)`. New purposes take the one derivation, keyed BLAKE2b
under a subkey of their own (`subkey`: HMAC-SHA512 of the purpose's label). The purposes
marked *frozen* were made by HMAC-SHA256 over `label.message` before this module existed,
and their values are stored (API token and session hashes, sign-in throttle keys) or held
by people (view links): changing their derivation would lock out every token, session and
link, so they keep it byte for byte (tests/identity/test_keys.py pins today's values).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal


@dataclass(frozen=True, slots=True)
class Purpose:
    label: str
    scheme: Literal["blake2b", "hmac-sha256"] = "blake2b"
    hex_chars: int = 0  # 0: the whole digest


# The one derivation: keyed BLAKE2b, 128 bits, under the purpose's subkey.
IDENTITY = Purpose("identity")  # voter, address, network, idempotency hashes (votes, comments)
WIDGET_TOKEN = Purpose("widget-token")  # the embed form's signed token
# Frozen (see above): values stored in PostgreSQL or handed out.
API_TOKEN = Purpose("", "hmac-sha256")  # api_tokens.token_hash
SESSION = Purpose("session", "hmac-sha256")  # console_sessions.id_hash
SIGN_IN_THROTTLE = Purpose("login", "hmac-sha256")  # the sign-in throttle's keys
SIGN_IN_FORM = Purpose("signin", "hmac-sha256")  # the sign-in form's pre-session token
VIEW_LINK = Purpose("view", "hmac-sha256", 32)  # dashboard view keys
# A host portal computes this one with its site's voter secret (a public contract).
SITE_SIGNED_VOTER = Purpose("", "hmac-sha256")


@lru_cache(maxsize=16)
def subkey(secret_key: bytes, label: str) -> bytes:
    """A 64-byte key for one purpose, derived from the secret (HMAC-SHA512); the ALTCHA
    library takes its key this way too (label "altcha")."""
    return hmac.new(secret_key, f"civicpoll/{label}".encode(), hashlib.sha512).digest()


def keyed_hash(key: bytes, message: str) -> str:
    """BLAKE2b in its keyed (MAC) mode, 128 bits: one C call, where HMAC-SHA256 from Python
    takes three objects and five calls; the vote path makes three of these per vote."""
    return hashlib.blake2b(message.encode(), key=key, digest_size=16).hexdigest()


def digest(secret: bytes, purpose: Purpose, message: str) -> str:
    """The keyed hash (or signature) of `message` for `purpose`, as lower-case hex."""
    if purpose.scheme == "blake2b":
        return keyed_hash(subkey(secret, purpose.label), message)
    framed = f"{purpose.label}.{message}" if purpose.label else message
    mac = hmac.new(secret, framed.encode(), hashlib.sha256).hexdigest()
    return mac[: purpose.hex_chars] if purpose.hex_chars else mac


def matches(secret: bytes, purpose: Purpose, message: str, mac: str) -> bool:
    """Whether `mac` is `message`'s digest, compared in constant time (ASCII only)."""
    return mac.isascii() and hmac.compare_digest(digest(secret, purpose, message), mac)


class Hasher:
    """The IDENTITY digest of parts joined by US (0x1F), with the subkey derived once:
    so that no raw address or reader id is ever stored."""

    def __init__(self, secret_key: bytes) -> None:
        self._key = subkey(secret_key, IDENTITY.label)

    def __call__(self, *parts: str) -> str:
        return keyed_hash(self._key, "\x1f".join(parts))
