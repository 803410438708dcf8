"""Names, types and help texts of every metric and stat the simulated API reports.

Webapp metrics follow reference §2.4, app stats §3.4, db stats §3.5. Help texts are our own
paraphrases. Where the reference marks a type UNCONFIRMED, the most plausible one is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge"]


@dataclass(frozen=True)
class Definition:
    kind: Kind
    help: str


WEBAPP: dict[str, Definition] = {
    "web_uptime": Definition("gauge", "Seconds since the web server started"),
    "web_connections": Definition("counter", "Connections accepted by the web server"),
    "web_pending_connections": Definition("gauge", "Connections waiting in the queue"),
    "web_max_pending_connections": Definition("gauge", "Maximum pending connections seen"),
    "web_queue_len": Definition("gauge", "Size of the pending-connection queue"),
    "web_idle_processes": Definition("gauge", "Idle worker processes"),
    "web_total_processes": Definition("gauge", "Worker process limit"),
    "web_process_limit_hit": Definition("counter", "Times the process limit was reached"),
    "web_handled_requests": Definition("counter", "Requests handled by the web server"),
    "web_out_kbytes": Definition("counter", "Outgoing traffic in kB"),
    "web_requests": Definition("gauge", "In-flight requests by state"),
    "api_requests_duration_ms_sum": Definition("counter", "Total time spent in API requests (ms)"),
    "api_requests_duration_ms_count": Definition("counter", "Number of API requests"),
    "api_requests_db_duration_ms_sum": Definition(
        "counter", "Total time spent in database calls (ms)"
    ),
    "api_requests_db_duration_ms_count": Definition("counter", "Number of database calls"),
    "api_requests_coreapp_duration_ms_sum": Definition(
        "counter", "Total time spent in calls to the Coreapp (ms)"
    ),
    "api_requests_coreapp_duration_ms_count": Definition(
        "counter", "Number of calls to the Coreapp"
    ),
}

WEB_REQUEST_STATES = (
    "idle", "connect", "close", "error", "keep-alive", "read", "read-POST", "write",
    "handle-request", "request-start", "request-end", "response-start", "response-end",
)  # fmt: skip

APP: dict[str, Definition] = {
    "callback_queue_size": Definition("gauge", "Callbacks waiting in the webhook queue"),
    "callback_requests_duration_ms_count": Definition("counter", "Callbacks made, by result"),
    "callback_requests_duration_ms_sum": Definition("counter", "Total time of callbacks (ms)"),
    # Type UNCONFIRMED; it counts events, so a counter.
    "concurrent_rate_limit_triggered": Definition(
        "counter", "Times the concurrent rate limit was triggered"
    ),
    "db_request_duration_us_count": Definition("counter", "Successful SQL queries"),
    "db_request_duration_us_sum": Definition(
        "counter", "Total time of successful SQL queries (us)"
    ),
    "db_request_error_duration_us_count": Definition("counter", "Failed SQL queries"),
    "db_request_error_duration_us_sum": Definition(
        "counter", "Total time of failed SQL queries (us)"
    ),
    "endpoint_requests_duration_ms_count": Definition("counter", "Endpoint requests"),
    "endpoint_requests_duration_ms_sum": Definition(
        "counter", "Total time of endpoint requests (ms)"
    ),
    "in_message_decoded": Definition("counter", "Incoming messages decrypted"),
    "in_message_from_server": Definition("counter", "Encrypted incoming messages from the server"),
    "in_message_persisted": Definition("counter", "Incoming messages cached in the database"),
    "in_messages_pending_processing": Definition(
        "gauge", "Encrypted messages received and not yet processed"
    ),
    "internal_server_conn_duration_ms_count": Definition(
        "counter", "Connections to the internal server"
    ),
    "internal_server_conn_duration_ms_sum": Definition(
        "counter", "Total time of connections to the internal server (ms)"
    ),
    "internal_server_requests_duration_ms_count": Definition(
        "counter", "Requests to the internal server"
    ),
    "internal_server_requests_duration_ms_sum": Definition(
        "counter", "Total time of requests to the internal server (ms)"
    ),
    "media_downloads": Definition("counter", "Media downloads"),
    "media_uploads": Definition("counter", "Media uploads"),
    "out_message_persisted": Definition("counter", "Outgoing messages stored"),
    "out_message_sent_duration_ms_count": Definition("counter", "Outgoing messages sent"),
    "out_message_sent_duration_ms_sum": Definition(
        "counter", "Total time to send outgoing messages (ms)"
    ),
    "pending_callbacks": Definition("gauge", "Callbacks waiting to be sent"),
    "pending_messages": Definition("gauge", "Messages waiting to be sent"),
}

DB: dict[str, Definition] = {
    "db_contacts": Definition("gauge", "Contacts in the database"),
    "db_message_receipts": Definition("gauge", "Message receipts in the database"),
    "db_messages": Definition("gauge", "Messages in the database"),
    "db_pending_callbacks": Definition("gauge", "Pending callbacks in the database"),
    "db_pending_messages": Definition("gauge", "Pending messages in the database"),
}
