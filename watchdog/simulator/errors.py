"""The API's error envelope and the error codes the simulator answers with.

Codes, titles and HTTP statuses follow the 2019 Webapp source's `ApiError::codemap`
(reference §5.2); only the codes the monitoring surface can produce are listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Code(int, Enum):
    """API error codes (reference §5.2)."""

    ACCESS_DENIED = 1005
    NOT_FOUND = 1006
    PARAMETER_INVALID = 1009
    SERVICE_NOT_READY = 1011
    INTERNAL_ERROR = 1014
    TOO_MANY_REQUESTS = 1015
    SYSTEM_OVERLOADED = 1016
    PASSWORD_CHANGE_REQUIRED = 1024
    INVALID_REQUEST = 1025


TITLES: dict[Code, str] = {
    Code.ACCESS_DENIED: "Access denied",
    Code.NOT_FOUND: "Resource not found",
    Code.PARAMETER_INVALID: "Parameter value is not valid",
    Code.SERVICE_NOT_READY: "Service not ready",
    Code.INTERNAL_ERROR: "Internal error",
    Code.TOO_MANY_REQUESTS: "Too many requests",
    Code.SYSTEM_OVERLOADED: "System overloaded",
    Code.PASSWORD_CHANGE_REQUIRED: "Password change required",
    Code.INVALID_REQUEST: "Request is not valid",
}


@dataclass(frozen=True)
class ApiError:
    """One entry of the `errors` array plus the HTTP status it travels with."""

    status: int
    code: Code
    details: str = ""

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"code": int(self.code), "title": TITLES[self.code]}
        # The source only adds `details` when it is non-empty (reference §5.1).
        if self.details:
            entry["details"] = self.details
        return entry


def envelope(meta: dict[str, str], *errors: ApiError) -> dict[str, Any]:
    """The body of an error answer: `meta` next to the `errors` array."""
    return {"meta": meta, "errors": [e.as_json() for e in errors]}


MISSING_CREDENTIALS = ApiError(
    401, Code.ACCESS_DENIED, "Missing or invalid authentication credentials"
)
# Symfony's message for a failed authenticator (reference §1.4: "the details carry the Symfony
# auth-failure message"); the exact wording per version is UNCONFIRMED.
INVALID_CREDENTIALS = ApiError(401, Code.ACCESS_DENIED, "Invalid credentials.")
NO_PERMISSION = ApiError(403, Code.ACCESS_DENIED, "User doesn't have permission")
PATH_NOT_FOUND = ApiError(404, Code.NOT_FOUND, "URL path not found")
HEALTH_RATE_LIMITED = ApiError(
    429, Code.TOO_MANY_REQUESTS, "Rate limiting exceeded on health check"
)
LOGIN_RATE_LIMITED = ApiError(
    429, Code.TOO_MANY_REQUESTS, "Rate limiting exceeded on bad login attempts"
)
# The capacity page gives no body for request-rate 429s; this wording is UNCONFIRMED.
REQUEST_RATE_LIMITED = ApiError(429, Code.TOO_MANY_REQUESTS, "Rate limiting exceeded")
# 1016 is documented as "System overloaded"; the details text is UNCONFIRMED.
OVERLOADED = ApiError(503, Code.SYSTEM_OVERLOADED, "System overloaded. Please retry later")
PASSWORD_CHANGE = ApiError(401, Code.PASSWORD_CHANGE_REQUIRED, "Password must be changed")
# The Coreapp's answer while it starts, relayed with the code map's status for 1011 (500); the
# reference has no details text for it, so this wording is UNCONFIRMED.
SERVICE_NOT_READY = ApiError(
    500, Code.SERVICE_NOT_READY, "Coreapp is not ready yet. Please retry later"
)
# index.php's error handler for an unhandled exception with PDO error 2002 (reference §5.2).
DATABASE_UNREACHABLE = ApiError(
    500, Code.INTERNAL_ERROR, "Can't connect to the Database server through socket"
)
# The 2019 source's wording for a new password that fails `Util::validatePassword`: code 1009
# (a parameter value), not 1025, which it keeps for a body that does not decode.
WEAK_PASSWORD = ApiError(
    400,
    Code.PARAMETER_INVALID,
    "Password doesn't meet complexity requirements: length between 8 and 64 characters, at "
    "least 1 each of upper-case character, lower-case character, digit, special character "
    "(!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~) are required",
)
# `json_last_error_msg()` says "Syntax error" for most broken bodies; other PHP messages (depth,
# encoding) are not imitated.
UNDECODABLE_REQUEST = ApiError(
    400, Code.INVALID_REQUEST, "Unable to decode the request: Syntax error"
)


def coreapp_unreachable(address: str) -> ApiError:
    """The 500/1014 the Webapp answers when it cannot reach a Coreapp (reference §1.4)."""
    return ApiError(
        500,
        Code.INTERNAL_ERROR,
        f"Connection refused. Please check if wacore is running: {address}",
    )
