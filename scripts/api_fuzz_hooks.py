"""Schemathesis hooks for scripts/api-fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

A few request fields are valid or not according to the deployment or the clock, not to their
schema: which models it serves, which plans it sells, whether a host name resolves, whether a
time is still in the future. Left as generated, nearly every such value would be refused (rightly,
with 422), and the "schema-valid request accepted" check could never pass on these operations.

So, before each call, a value of the right type is replaced with one that the deployment of the
fuzz run accepts. Values of the wrong type, or that break their schema, are left alone: the
negative cases stay negative. The refusals themselves (a model not served, a plan not sold, an
expiry in the past, a private or unresolvable webhook host) are covered by the test suite.
"""

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

import schemathesis

SERVED_MODEL = "gpt-4o-mini"
SOLD_PLAN = "pro"


def _label(context) -> str:
    operation = getattr(context, "operation", None)
    return operation.label if operation is not None else ""


def _future_if_past(text):
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return text
    if at.tzinfo is None:
        return text
    if at <= datetime.now(timezone.utc) + timedelta(minutes=1):
        return (datetime.now(timezone.utc) + timedelta(days=365)).isoformat()
    return text


def _loopback_host(url):
    """The same URL with its host name replaced by 127.0.0.1: nothing is looked up in DNS."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return url
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return url
    netloc = "127.0.0.1" if port is None else f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@schemathesis.hook
def before_call(context, case, **kwargs):
    body = case.body
    if not isinstance(body, dict):
        return
    label = _label(context)
    if label in (
        "POST /api/v1/analyses",
        "POST /api/v1/comparisons",
        "POST /v1/chat/completions",
    ) and isinstance(body.get("model"), str):
        body["model"] = SERVED_MODEL
    elif label == "POST /api/v1/billing/checkout" and isinstance(body.get("plan"), str) and body["plan"]:
        body["plan"] = SOLD_PLAN
    elif label == "POST /api/v1/keys" and isinstance(body.get("expires_at"), str):
        body["expires_at"] = _future_if_past(body["expires_at"])
    elif label == "POST /api/v1/webhook-endpoints" and isinstance(body.get("url"), str):
        body["url"] = _loopback_host(body["url"])
