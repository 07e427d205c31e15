"""The running service against its own OpenAPI document: schemathesis generates requests
for every operation from /openapi.json (valid ones, and ones that break the document on
purpose) and sends them to a real uvicorn on the test PostgreSQL and Redis. No answer may
be a 5xx, and every answer must be one the document describes: status, content type,
headers and body schema; and a request the document calls valid is not refused (but for
the rules listed in STORED_RULES). Bounded (a fixed number of cases per operation) and derandomized,
so a run is reproducible and takes seconds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.core.errors import BadRequest, Forbidden
from service.identity.tokens import check_widget_token, verify_voter
from tests.serving import admin_token, uvicorn_process

SECRET = "conformance-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
# Cases per operation and generation mode: about 1,000 requests in all (some 20 s).
EXAMPLES = 20
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,
]

# Schema-valid requests the service may still refuse (400), by operation and the field
# its error names: rules that depend on the stored poll or on several fields at once,
# which the document states in its descriptions, not as schema. A vote's choices must be
# the poll's own options, as many as the poll takes; its kind says whether a rating or
# own words may come; a poll's kind says whether it has options or a range; option labels
# are screened (distinct, one script each). Everything else the document accepts, the
# service must accept (positive_data_acceptance).
STORED_RULES: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/v1/polls/{poll_id}/votes"): frozenset({"choices", "rating", "other_text"}),
    ("POST", "/v1/admin/polls"): frozenset({"options", "range", "min_choices", "max_choices"}),
    ("PATCH", "/v1/admin/polls/{poll_id}"): frozenset(
        {"options", "range", "kind", "min_choices", "max_choices", "scale"}
    ),
    # A placement's page must be on the site's stored allowed origins (page_not_allowed).
    ("GET", "/v1/sites/{slug}/placement"): frozenset({"page"}),
    # A placement's match must be on those origins, its poll one of the site's own.
    ("POST", "/v1/admin/sites/{slug}/placements"): frozenset({"match", "poll_id"}),
}


@dataclass
class Server:
    url: str
    token: str
    ids: dict[str, str]  # path parameter -> an id that exists (a site, an open poll)


@pytest.fixture(scope="module")
async def conformance_token(database_url: str) -> str:
    return await admin_token(database_url, SECRET)


@pytest.fixture(scope="module")
def server(database_url: str, redis_url: str, conformance_token: str) -> Iterator[Server]:
    """`uvicorn service.app:app` on a free port, with a site and an open poll in it."""
    with uvicorn_process(
        database_url,
        redis_url,
        SECRET,
        conformance_token,
        host="127.0.0.1",
        log_name="conformance-uvicorn.log",
    ) as (url, admin):
        slug = f"conformance-{url.rsplit(':', 1)[1]}"
        r = admin.post("/v1/admin/sites", json={"slug": slug, "name": "Conformance"})
        assert r.status_code == 201, r.text
        r = admin.post(
            "/v1/admin/polls", json={"site": slug, "question": "Có?", "options": ["Có", "Không"]}
        )
        assert r.status_code == 201, r.text
        poll_id = r.json()["id"]
        assert admin.post(f"/v1/admin/polls/{poll_id}/open").status_code == 200
        yield Server(url, conformance_token, {"poll_id": poll_id, "slug": slug, "site": slug})


def _server_error(case: Any, response: requests.Response) -> str | None:
    """A 5xx is a failure, but for oEmbed's own 501 for a format it does not offer."""
    if response.status_code < 500:
        return None
    if response.status_code == 501 and case.path == "/oembed":
        return None
    return f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"


def _excused(case: Any, response: requests.Response, exc: Exception | FailureGroup) -> bool:
    """A schema-valid request refused by a rule the document states in words only, as
    STORED_RULES lists; every other failure counts."""
    found = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
    if not all(isinstance(e, RejectedPositiveData) for e in found):
        return False
    fields = STORED_RULES.get((case.method.upper(), case.path), frozenset())
    try:
        field = response.json()["error"]["field"]
    except (ValueError, KeyError, TypeError):
        return False
    return response.status_code == 400 and field in fields


def _failure(case: Any, response: requests.Response, exc: Exception | FailureGroup) -> str:
    """What failed, for which request, and the answer: enough to reproduce it by hand."""
    found = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
    what = "; ".join(getattr(e, "title", type(e).__name__) for e in found)
    sent = {"query": case.query, "body": case.body}
    return (
        f"{case.method} {case.formatted_path} {sent!r:.300}: {what}"
        f" -> {response.status_code} {response.text[:300]}"
    )


def test_every_answer_conforms_to_the_document(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    # Streams stay open until the client leaves: no bounded request could read one.
    schema = schema.exclude(path_regex="/stream$")
    session = requests.Session()
    auth = {"Authorization": f"Bearer {server.token}"}
    failures: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        known = {k: v for k, v in server.ids.items() if k in names}
        strategies = [operation.as_strategy(mode) for mode in GenerationMode]
        if known:
            # Random ids find nothing; the real ones reach the handlers behind the 404.
            strategies += [
                operation.as_strategy(mode, path_parameters=known) for mode in GenerationMode
            ]

        @given(case=st.one_of(strategies))
        @settings(
            max_examples=EXAMPLES * len(strategies) // 2,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            nonlocal tested
            tested += 1
            response = case.call(base_url=server.url, session=session, headers=auth, timeout=10)
            error = _server_error(case, response)
            if error:
                failures.append(error)
                return
            try:
                case.validate_response(response, checks=CHECKS, headers=auth)
            except (AssertionError, FailureGroup) as exc:
                if not _excused(case, response, exc):
                    failures.append(_failure(case, response, exc))

        run()
    session.close()
    assert tested > 500
    assert failures == [], "\n\n".join(sorted(set(failures))[:20])


@pytest.mark.parametrize("token", ["1.abc.é", "².abc.def", "1.é.abc"])
def test_a_non_ascii_widget_token_is_malformed_not_a_crash(token: str) -> None:
    # Found by the run above: hmac.compare_digest raised TypeError on non-ASCII text.
    with pytest.raises(Forbidden):
        check_widget_token(SECRET.encode(), "abcdefghij", token)


@pytest.mark.parametrize("voter", ["reader.1.é", "reader.².abc", "độc-giả.1.abc"])
def test_a_non_ascii_signed_voter_is_refused_not_a_crash(voter: str) -> None:
    with pytest.raises((BadRequest, Forbidden)):
        verify_voter(b"site-secret", voter)
