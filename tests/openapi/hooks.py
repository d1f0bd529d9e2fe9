"""Schemathesis hooks for tests/openapi/run.sh: credentials for the hub under test.

Every generated request that needs a token gets a freshly minted HS256 JWT granting publishing
and subscribing on every topic, signed with the test hub's key (HERALD_OPENAPI_JWT_KEY). Its
`exp` is a second or two ahead: the hub ends a subscription at its token's `exp`, so an event
stream (Server-Sent Events, NDJSON, the forever frame) ends by itself soon after it opens and
the check can read the whole response, and a long-poll waiting past it is answered `401`, as
the document says. Schemathesis still sends requests without the token, or with tokens of its
own, to check that they are refused.
"""

import base64
import hashlib
import hmac
import json
import math
import os
import time

import schemathesis

KEY = os.environ["HERALD_OPENAPI_JWT_KEY"].encode()
# How long a token lives, in seconds: how long a subscription stream stays open.
LIFETIME = 1.0
# The subscription parameters that name topics.
MATCHERS = ("match", "match_exact", "match_urlpattern", "topic")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(lifetime: float = LIFETIME) -> str:
    """A token valid for publishing and subscribing everywhere, expiring `lifetime` seconds from now."""
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "exp": math.ceil(time.time() + lifetime),
        "mercure": {"publish": ["*"], "subscribe": ["*"]},
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(KEY, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@schemathesis.serializer("application/x-ndjson")
def ndjson(context, value):
    """A batch publish body: each generated update as a JSON object on a line of its own."""
    items = value if isinstance(value, list) else [value]
    return {"data": "".join(json.dumps(item) + "\n" for item in items).encode()}


@schemathesis.auth(refresh_interval=None)
class FreshToken:
    """A new token for every request, sent as `Authorization: Bearer`."""

    def get(self, case, context):
        return mint()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def map_case(context, case):
    """Keeps the subscription parameters of a schema-valid request together as the document says.

    A subscription needs at least one of the four optional matcher parameters; `timeout` goes
    only with `transport=long-poll` (or `0` with `transport=poll`) and `callback` only with
    `transport=htmlfile`. An OpenAPI schema cannot state rules across parameters, so
    schemathesis would combine them at random and most requests would be refused with 400
    before they subscribe: a request with no matcher gets `match=*`, and a `timeout` or
    `callback` its transport does not take is dropped. Requests meant to be invalid are left as
    they are.
    """
    operation = context.operation
    if operation is None or operation.path != "/.well-known/mercure" or operation.method.upper() != "GET":
        return case
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return case
    if case.query is None:
        case.query = {}
    query = case.query
    if not any(name in query for name in MATCHERS):
        query["match"] = ["*"]
    transport = query.get("transport")
    if "timeout" in query and (transport not in ("long-poll", "poll") or (transport == "poll" and query["timeout"] != 0)):
        del query["timeout"]
    if "callback" in query and transport != "htmlfile":
        del query["callback"]
    return case
