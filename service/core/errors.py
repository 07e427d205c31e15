"""The one error hierarchy of the service layer: what went wrong, in domain terms (a code,
a message, the field at fault, when to retry). No HTTP here: the routes' layer
(`service.core.http`) gives each kind its status and renders the JSON error shape."""

from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        self.retry_after = retry_after  # seconds until trying again makes sense
        # Extra response headers, for errors raised by the HTTP layer itself (auth
        # challenges, rate-limit policies); the service layer never sets them.
        self.headers = dict(headers or {})

    def body(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class BadRequest(ServiceError):
    code = "invalid"


class Unauthorized(ServiceError):
    code = "unauthorized"


class Forbidden(ServiceError):
    code = "forbidden"


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    code = "conflict"


class Unprocessable(ServiceError):
    """Well-formed, yet not acceptable as sent (an Idempotency-Key reused for another request)."""

    code = "unprocessable"


class PayloadTooLarge(ServiceError):
    code = "too_large"


class UnsupportedMediaType(ServiceError):
    code = "unsupported_media_type"


class RateLimited(ServiceError):
    code = "rate_limited"


class NotSupported(ServiceError):
    """A valid request for something this service does not offer (oEmbed XML)."""

    code = "not_implemented"


class Unavailable(ServiceError):
    """A dependency (Redis, PostgreSQL) or the process itself cannot serve just now."""

    code = "unavailable"


class Internal(ServiceError):
    code = "internal"
