"""Graph's error envelope and the errors the simulated Cloud API answers with (reference §4).

HTTP statuses follow what BSPs report for each code (190 → 401, 2 → 503); Graph's own status
for most errors is 400, which a client must not depend on either way: the code decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

OAUTH = "OAuthException"


@dataclass(frozen=True)
class GraphError:
    """One Graph error and the HTTP status it travels with."""

    status: int
    code: int
    message: str
    type: str = OAUTH
    subcode: int | None = None
    transient: bool | None = None

    def body(self, fbtrace_id: str) -> dict[str, Any]:
        """The envelope: `{"error": {message, type, code, error_subcode, fbtrace_id}}`."""
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.transient is not None:
            error["is_transient"] = self.transient
        error["fbtrace_id"] = fbtrace_id
        return {"error": error}


# The brief's contract for a missing or unknown token: 190/467 ("invalid access token"). Graph
# itself may answer a request without any token with code 104 ("An access token is required")
# instead; a client that treats every 190 and 104 as "fix the token" is right under either.
INVALID_TOKEN = GraphError(401, 190, "Invalid OAuth access token.", subcode=467)

# Graph's description of code 2 (reference §4, [G-ERR]); BSPs report it as HTTP 503.
UNAVAILABLE = GraphError(503, 2, "Service temporarily unavailable", transient=True)

MISSING_INPUT_TOKEN = GraphError(400, 100, "(#100) The parameter input_token is required")


def expired_token(expired_at: float, now: float) -> GraphError:
    """190/463, in the words Graph uses (it prints Pacific time; UTC here, since the
    simulator's clock has no zone)."""
    return GraphError(
        401,
        190,
        f"Error validating access token: Session has expired on {_when(expired_at)}. "
        f"The current time is {_when(now)}.",
        subcode=463,
    )


def throttled(status: int) -> GraphError:
    """80008: the WABA's management budget is used up (reference §4)."""
    return GraphError(
        status,
        80008,
        "(#80008) There have been too many calls to this WhatsApp Business account. Wait a bit "
        "and try again. For more info, please refer to "
        "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
    )


def unsupported_request(method: str, node: str) -> GraphError:
    """An unknown node id: Graph's well-known 100/33 "Unsupported get request" (plausible: it
    is what Graph answers for an id that does not exist or that the token may not see)."""
    return GraphError(
        400,
        100,
        f"Unsupported {method.lower()} request. Object with ID '{node}' does not exist, cannot "
        "be loaded due to missing permissions, or does not support this operation. Please read "
        "the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        type="GraphMethodException",
        subcode=33,
    )


def nonexisting_field(field: str, node_type: str) -> GraphError:
    """A `fields` entry the node does not have: Graph refuses the whole request."""
    return GraphError(
        400, 100, f"(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})"
    )


def unknown_path(rest: str) -> GraphError:
    """An edge the node does not have (plausible wording; Graph's code for it is 2500)."""
    return GraphError(400, 2500, f"Unknown path components: /{rest}")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")
