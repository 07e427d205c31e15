"""One keyed-hash module, and the values it makes are those stored before it existed:
tokens, sessions, ledger and comment hashes, throttle keys and links keep working after the
upgrade. Each literal below was computed by the code of a4c86ca (voting/identity.py,
admin/auth.py, console/sessions.py, console/throttle.py, console/signin.py, live/links.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from service.identity import keys
from service.identity.keys import Hasher, digest, matches, subkey
from service.identity.links import key_token, view_key
from service.identity.principal import hash_token
from service.identity.tokens import check_widget_token, sign_voter, verify_voter

SECRET = b"s" * 32


def test_ledger_and_comment_hashes_are_those_already_stored() -> None:
    hasher = Hasher(SECRET)
    assert hasher("pollid1234", "voter", "reader-cookie-1") == "ddcdba4ad045f4bcb7aaed134b67bbae"
    assert hasher("pollid1234", "ip", "2001:db8:1:2::/64") == "5e91f46b430148345647c0e9e1b789c7"
    assert digest(SECRET, keys.IDENTITY, "pollid1234\x1fvoter\x1freader-cookie-1") == (
        "ddcdba4ad045f4bcb7aaed134b67bbae"
    )


@pytest.mark.parametrize(
    ("purpose", "message", "stored"),
    [
        # api_tokens.token_hash: every issued API token must still sign in.
        (
            keys.API_TOKEN,
            "cp_example-token",
            "adfd69ce6e8abd359c4dd6f10656f144c89db90559ea52f41f2e850ed161560a",
        ),
        # console_sessions.id_hash: nobody is signed out by the upgrade.
        (
            keys.SESSION,
            "session-id-1",
            "5e46afb6d5f43c6988655b3dc956f818a61e6a95b0d61f320ef4fc24630e643b",
        ),
        # login_failures keys: a throttle in force stays in force.
        (
            keys.SIGN_IN_THROTTLE,
            "account.editor@example.vn",
            "29c9369c68e46fac9be239f12f08f537735323ef51d8d1fbd6d6661415a7644d",
        ),
        (
            keys.SIGN_IN_FORM,
            "pre-1",
            "3b6c1a4ee2e58458d1cfb933016827f8f61a8437df2d40558a0e315d1b181565",
        ),
        (keys.VIEW_LINK, "poll:abc.1900000000.7", "ba5245047bbc2a9c7ba12669fa6912dd"),
        (
            keys.WIDGET_TOKEN,
            "pollid1234.1700000000.00112233445566778899aabb",
            "6ebafd6365d5dafadd1a7aaa57c95d8c",
        ),
    ],
)
def test_frozen_purposes_reproduce_the_stored_values(
    purpose: keys.Purpose, message: str, stored: str
) -> None:
    assert digest(SECRET, purpose, message) == stored
    assert matches(SECRET, purpose, message, stored)
    assert not matches(SECRET, purpose, message + "x", stored)
    assert not matches(SECRET, purpose, message, "ü" * len(stored))  # no TypeError


def test_the_callers_make_the_old_values() -> None:
    assert hash_token(SECRET, "cp_example-token").startswith("adfd69ce6e8a")
    assert view_key(SECRET, "poll:abc", 1900000000, 7) == (
        "1900000000.7.ba5245047bbc2a9c7ba12669fa6912dd"
    )
    assert key_token(SECRET, "1900000000.7.ba5245047bbc2a9c7ba12669fa6912dd", "poll:abc") == 7
    signed = "voter-9.1900000000.43883a61eafef01e84de54300bc83153c3c5c20324b429c5e95829ceec8f25ba"
    assert sign_voter(b"site-secret", "voter-9", 1900000000) == signed
    assert verify_voter(b"site-secret", signed, now=1800000000) == "voter-9"
    token = "1700000000.00112233445566778899aabb.6ebafd6365d5dafadd1a7aaa57c95d8c"
    assert check_widget_token(SECRET, "pollid1234", token, now=1700000001) == (
        "00112233445566778899aabb"
    )
    assert subkey(SECRET, "altcha").hex()[:32] == "541024e2fdd6ca3d8822dc12ed1c0af0"


def test_keyed_hashing_lives_in_one_module() -> None:
    """No module but identity/keys.py makes a keyed hash or MAC (hmac.new, keyed blake2b).
    Unkeyed digests (ETags, fingerprints) are no secret's business and may stay."""
    root = Path(__file__).resolve().parents[2] / "service"
    pending: set[str] = set()
    makers = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name == "identity/keys.py" or name in pending:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                keyed = any(k.arg == "key" for k in node.keywords)
                if node.func.attr == "new" and getattr(node.func.value, "id", "") == "hmac":
                    makers.append(f"{name}:{node.lineno}")
                elif node.func.attr.startswith("blake2") and keyed:
                    makers.append(f"{name}:{node.lineno}")
    assert makers == []
