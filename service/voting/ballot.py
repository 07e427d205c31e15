"""The ballot: what a vote says, and the policy that turns it and its request headers into
the one thing the engine decides on (origin, choices, voter identity, form token,
idempotency key, de-duplication keys, page and browser family).

Plain values in, domain errors out: headers are the ASGI scope's raw dict, read once by
the handler; nothing here knows Starlette or HTTP statuses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import msgspec

from service.core.errors import BadRequest, Forbidden
from service.core.invisible import shows_nothing
from service.core.settings import Settings
from service.core.urls import site_page_url
from service.core.validation import clean_text, decode, parse_form, whole_number
from service.identity.keys import Hasher
from service.identity.request import RequestIdentity
from service.identity.tokens import check_widget_token, verify_voter
from service.polls.model import Poll
from service.voting.challenge import check_solution
from service.voting.keys import VOTER_MARK_TTL

Headers = dict[bytes, bytes]


@dataclass(slots=True)
class Ballot:
    """One vote as the engine needs it: already validated, identities already hashed."""

    poll: Poll
    choices: tuple[str, ...]
    voter_hash: str
    ip_hash: str
    network_hash: str
    voter_key: str | None  # ledger de-duplication keys (None: the mode ignores it)
    ip_key: str | None
    voter_mark_ttl: int  # Redis mark lifetimes in seconds, 0 = no check
    ip_mark_ttl: int
    limited: bool  # False for a site's allowlisted networks
    idempotency_key: str | None = None
    token_nonce: str | None = None
    page_url: str | None = None
    user_agent: str | None = None
    other_text: str | None = None  # the voter's own words, stored with the vote
    proof: str | None = None  # the spent-mark id of a verified proof of work (ALTCHA)
    fresh: bool = False  # the voter came without a cookie
    form: bool = False  # the no-JavaScript form, which cannot solve a challenge


# The limits below are the ones checked_choices, check_widget_token and verify_voter
# apply; msgspec only documents them (extra_json_schema), so decoding a vote costs no
# more and each refusal keeps its own code (invalid_choice_count, bad_token, bad_voter).
class VoteBody(msgspec.Struct, forbid_unknown_fields=True):
    choices: Annotated[
        list[str],
        msgspec.Meta(
            extra_json_schema={"maxItems": 20, "uniqueItems": True},
            description="option ids, each once; as many as the poll's min/max choices allow"
            " (choice polls)",
        ),
    ] = []
    rating: (
        Annotated[
            int,
            msgspec.Meta(
                extra_json_schema={"minimum": 0, "maximum": 10},
                description="the point chosen on a rating (1..range), NPS (0..10) or Likert"
                " (1..5 or 1..7) scale",
            ),
        ]
        | None
    ) = None
    other_text: (
        Annotated[
            str,
            msgspec.Meta(
                extra_json_schema={"maxLength": 1000},
                description="the voter's own words, with the option marked other: up to 1000"
                " characters, no control characters, not only invisible ones; it enters the"
                " moderation queue",
            ),
        ]
        | None
    ) = None
    # the widget form's signed token
    token: (
        Annotated[
            str,
            msgspec.Meta(
                extra_json_schema={"maxLength": 100, "pattern": "^[0-9]+\\.[^.]*\\.[^.]*$"}
            ),
        ]
        | None
    ) = None
    # a voter id signed by the host portal ("verified" polls): <id>.<expiry>.<signature>
    voter: (
        Annotated[
            str,
            msgspec.Meta(extra_json_schema={"pattern": "^[^\\n]{1,128}\\.[0-9]+\\.[0-9a-f]{64}$"}),
        ]
        | None
    ) = None
    # a solved challenge, after a 428 answer
    altcha: (
        Annotated[
            str,
            msgspec.Meta(
                extra_json_schema={"maxLength": 2000},
                description="an ALTCHA payload (base64 JSON) solving the challenge of a 428"
                " answer: the retried vote carries it",
            ),
        ]
        | None
    ) = None
    # the article the poll sits beside
    page: (
        Annotated[
            str,
            msgspec.Meta(
                description="an http(s) address; kept up to 500 characters, without query or"
                " fragment (anything else is ignored)"
            ),
        ]
        | None
    ) = None


def parse_vote_body(raw: bytes, is_form: bool) -> VoteBody:
    """The body as JSON, or as the widget's plain form (`choice` repeated)."""
    if not is_form:
        return decode(raw, VoteBody)
    choices: list[str] = []
    fields: dict[str, str] = {}
    for key, value in parse_form(raw):
        if key == "choice":
            choices.append(value)
        elif key in ("token", "voter", "page", "rating", "other_text"):
            fields[key] = value
    rating = fields.get("rating")
    return VoteBody(
        choices=choices,
        rating=_form_rating(rating) if rating is not None else None,
        # A form always sends its text box, empty when the voter wrote nothing.
        other_text=fields.get("other_text") or None,
        token=fields.get("token"),
        voter=fields.get("voter"),
        page=fields.get("page"),
    )


def _form_rating(raw: str) -> int:
    value = whole_number(raw, max_digits=3)
    if value is None:
        raise BadRequest("rating must be a whole number", field="rating")
    return value


def checked_answer(
    poll: Poll, body: VoteBody, form: bool = False
) -> tuple[tuple[str, ...], str | None]:
    """The options a vote chooses and the voter's own words, as the poll's kind takes them.
    The widget's form keeps its own-words box in the page (it works without a script) and
    hides it once the reader picks another option: from a form, text beside another
    option is no longer what the reader says, and is left out instead of refused."""
    if poll.is_rating:
        if body.other_text is not None:
            raise BadRequest("this question takes no text with its rating", field="other_text")
        if body.choices:
            # A scale's points are options too: a client may name one by its id, as for
            # any poll (what generic clients and the benchmark send).
            if body.rating is not None:
                raise BadRequest("send a rating or a choice, not both", field="choices")
            return checked_choices(poll, body.choices), None
        values = poll.option_of_value
        if body.rating is None or body.rating not in values:
            low, high = min(values), max(values)
            raise BadRequest(
                f"choose a rating from {low} to {high}", field="rating", code="invalid_rating"
            )
        return (values[body.rating],), None
    if body.rating is not None:
        raise BadRequest("this question takes choices, not a rating", field="rating")
    choices = checked_choices(poll, body.choices)
    text = body.other_text
    if text is None or (form and poll.other_option not in choices):
        return choices, None
    if poll.other_option not in choices:
        raise BadRequest(
            "own words go with the option for another opinion; choose it too",
            field="other_text",
        )
    cleaned = clean_text(text, "other_text", max_len=1000, min_len=0, multiline=True)
    if cleaned and shows_nothing(cleaned):
        # An empty box is a plain vote; a box of invisible characters is someone's test of
        # the moderation queue, refused like an empty comment.
        raise BadRequest(
            "own words must not be empty: these are only invisible characters",
            field="other_text",
            code="other_text_empty",
        )
    return choices, cleaned or None


def checked_choices(poll: Poll, choices: list[str]) -> tuple[str, ...]:
    if len(choices) != len(set(choices)):
        raise BadRequest("each option may be chosen once", field="choices")
    if not poll.min_choices <= len(choices) <= poll.max_choices:
        if poll.max_choices == 1:
            message = "choose one option"
        else:
            message = f"choose between {poll.min_choices} and {poll.max_choices} options"
        raise BadRequest(message, field="choices", code="invalid_choice_count")
    unknown = [c for c in choices if c not in poll.option_ids]
    if unknown:
        raise BadRequest(
            f"{unknown[0][:40]!r} is not an option of this poll",
            field="choices",
            code="unknown_option",
        )
    return tuple(choices)


_UA_FAMILIES = (
    ("bot", "bot"),
    ("spider", "bot"),
    ("curl", "curl"),
    ("python", "script"),
    ("wrk", "script"),
    ("edg/", "Edge"),
    ("firefox", "Firefox"),
    ("chrome", "Chrome"),
    ("safari", "Safari"),
)


def user_agent_family(raw: bytes | None) -> str | None:
    """A coarse browser family: enough to spot a script flood, too little to fingerprint."""
    if not raw:
        return None
    lowered = raw.decode("latin-1").lower()
    for needle, family in _UA_FAMILIES:
        if needle in lowered:
            return family
    return "other"


def idempotency_header(headers: Headers) -> str | None:
    """The client's Idempotency-Key as sent (hashed later, with the poll's other ids)."""
    raw = headers.get(b"idempotency-key")
    if raw is None:
        return None
    key = raw.decode("latin-1")
    if not (1 <= len(key) <= 200 and key.isascii() and key.isprintable()):
        raise BadRequest(
            "Idempotency-Key must be 1 to 200 printable ASCII characters", field="Idempotency-Key"
        )
    return key


def build_ballot(
    headers: Headers,
    who: RequestIdentity,
    settings: Settings,
    hasher: Hasher,
    poll: Poll,
    body: VoteBody,
    voter_id: str,
    *,
    fresh: bool = False,
    form: bool = False,
) -> Ballot:
    """The ballot of a vote on an open poll; `who` is the request's identity and
    `voter_id` the browser's cookie id (replaced by the signed id on verified polls);
    `fresh`: the browser brought no cookie; `form`: the no-JavaScript form."""
    mode = poll.dedupe_mode
    if mode == "verified":
        voter_id = verify_voter(poll.site.voter_secret, body.voter)
    token_nonce = None
    if body.token:
        token_nonce = check_widget_token(settings.secret_key, poll.id, body.token)
    elif poll.site.require_widget_token:
        raise Forbidden(
            "this site accepts votes only through its poll widget",
            field="token",
            code="token_required",
        )
    idem = idempotency_header(headers)
    choices, other_text = checked_answer(poll, body, form)
    proof = check_solution(settings.secret_key, poll.id, body.altcha) if body.altcha else None
    hashes = who.hashes(hasher, poll.id, voter_id)
    voter_hash, ip_hash = hashes.voter, hashes.address
    window = poll.dedupe_window_hours * 3600
    dedupe_voter = mode in ("cookie", "cookie_ip", "verified")
    dedupe_ip = mode in ("ip", "cookie_ip")
    referer = headers.get(b"referer")
    return Ballot(
        poll=poll,
        choices=choices,
        voter_hash=voter_hash,
        ip_hash=ip_hash,
        network_hash=hashes.network,
        voter_key=voter_hash if dedupe_voter else None,
        # Fixed windows in the ledger: two votes a full window apart always get
        # different keys, so the ledger never refuses what Redis's sliding mark allowed.
        ip_key=f"{ip_hash}:{int(time.time()) // window}" if dedupe_ip else None,
        voter_mark_ttl=VOTER_MARK_TTL if dedupe_voter else 0,
        ip_mark_ttl=window if dedupe_ip else 0,
        limited=who.limited(poll.site.allowlisted_networks),
        idempotency_key=hasher(poll.id, "idem", idem) if idem else None,
        token_nonce=token_nonce,
        page_url=site_page_url(
            body.page or (referer.decode("latin-1") if referer else None),
            poll.site.allowed_origins,
        ),
        user_agent=user_agent_family(headers.get(b"user-agent")),
        other_text=other_text,
        proof=proof,
        fresh=fresh,
        form=form,
    )
