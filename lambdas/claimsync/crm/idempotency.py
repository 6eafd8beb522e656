"""Idempotent creates: the ``Idempotency-Key`` header, Powertools' idempotency over DynamoDB, and the
key Salesforce itself deduplicates on.

An answer to a create can be lost in two places, and each needs its own layer:

1. **Between the API and its caller** (API Gateway's 29 s limit, a dropped connection, a client
   timeout). The first answer is stored (Powertools idempotency utility, DynamoDB table, kept
   ``ttl_s``) and a retry with the same key gets it back byte for byte without calling Salesforce.
   A retry while the first request still runs is ``IdempotencyInProgress`` (409); the same key with
   another body or on another route is ``IdempotencyKeyReused`` (422).
2. **Between the API and Salesforce** (Salesforce committed the create, its answer never arrived, the
   caller got 502). Powertools stores answers only, never failures, so the retry runs again. It must
   not create a second record, so a keyed create is an *upsert* on the external-id field
   ``Claimsync_Request_Key__c`` (each object's ``CrmObject.request_key_field``; ``salesforce/`` metadata)
   whose value is derived from the caller, the key, the route and the body: the retry finds the
   record the first attempt made and answers with it. Batch items get one derived value each.

Keys are scoped to the caller (the IAM principal or API key API Gateway authenticated): two clients
choosing the same key never see each other's answers.

Nothing here knows about Lambda events; the store takes a boto3 DynamoDB client (moto locally).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.idempotency.serialization.base import BaseIdempotencySerializer

from claimsync.crm.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidIdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Printable ASCII without space, quote, comma (repeated headers may arrive joined by commas) and backslash.
KEY_PATTERN = r"^[!#-+\--\[\]-~]{1,255}$"
_KEY = re.compile(KEY_PATTERN)
_RECORD_PREFIX = "claimsync-crm-create"  # DynamoDB record ids: <prefix>#<sha256 of scope and key>
# The table's shape (the CRM API stack and the local API server create it so): partition key and
# TTL attribute of Powertools' DynamoDB persistence layer.
TABLE_KEY_ATTRIBUTE = "id"
TABLE_TTL_ATTRIBUTE = "expiration"


def parse_key(values: Sequence[str]) -> str | None:
    """The ``Idempotency-Key`` of a request (``None`` without one). Accepts a bare token or a
    structured-field string (``"..."``, draft-ietf-httpapi-idempotency-key-header)."""
    if not values:
        return None
    if len(values) > 1:
        raise InvalidIdempotencyKey(f"send one {HEADER} header")
    key = values[0].strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not _KEY.fullmatch(key):
        raise InvalidIdempotencyKey(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
            " (no spaces, quotes, commas or backslashes), e.g. a UUID"
        )
    return key


_ASSUMED_ROLE = re.compile(r"(arn:[\w-]+:sts::\d+:assumed-role/[^/]+)/.*")


def caller_scope(user_arn: str | None, api_key_id: str | None) -> str:
    """Whose keys these are: the IAM principal (an assumed role without its session name, so a
    client that restarts, and gets a new session, still finds its keys) and the API key id."""
    principal = user_arn or ""
    assumed = _ASSUMED_ROLE.fullmatch(principal)
    if assumed:
        principal = assumed.group(1)
    return f"{principal}|{api_key_id or ''}"


@dataclass(frozen=True)
class KeyedRequest:
    """One create sent with an ``Idempotency-Key``."""

    scope: str  # who asks: caller identity as API Gateway authenticated it ("" locally)
    key: str
    route: str  # "POST /accounts"
    body: Any  # the parsed JSON body (whitespace and key order do not matter)

    @property
    def salesforce_key(self) -> str:
        """The value of ``Claimsync_Request_Key__c`` for this request: the same for a retry, different
        for anything else (another caller, key, route or body)."""
        canonical = json.dumps(
            [self.scope, self.key, self.route, self.body], sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def item_key(request_key: str, index: int) -> str:
    """The ``Claimsync_Request_Key__c`` of the ``index``-th record of a keyed batch."""
    return hashlib.sha256(f"{request_key}:{index}".encode("ascii")).hexdigest()


class _Gzipped(BaseIdempotencySerializer):
    """Stored answers are gzipped JSON: a 1,000-record batch answer stays far below DynamoDB's
    400 KB item limit."""

    def to_dict(self, data: Any) -> dict[str, Any]:
        raw = json.dumps(data, separators=(",", ":")).encode("utf-8")
        return {"gz": base64.b64encode(gzip.compress(raw, compresslevel=6)).decode("ascii")}

    def from_dict(self, data: dict[str, Any]) -> Any:
        return json.loads(gzip.decompress(base64.b64decode(data["gz"])))


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}


def _answer_once(request: dict[str, Any], answer: Callable[[], Any]) -> dict[str, Any]:
    """What Powertools runs at most once per (scope, key): ``request`` is hashed, ``answer`` is not."""
    return {"answer": answer()}


class IdempotencyStore:
    """Stored first answers of keyed creates (Powertools idempotency over one DynamoDB table whose
    partition key is ``TABLE_KEY_ATTRIBUTE`` and whose TTL attribute is ``TABLE_TTL_ATTRIBUTE``)."""

    def __init__(self, table_name: str, *, ttl_s: int, client: Any = None) -> None:
        self.table_name = table_name
        self.config = IdempotencyConfig(
            event_key_jmespath="[scope, key]",
            payload_validation_jmespath="[route, body]",
            expires_after_seconds=ttl_s,
            hash_function="sha256",
            response_hook=_mark_replayed,
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr=TABLE_KEY_ATTRIBUTE,
            expiry_attr=TABLE_TTL_ATTRIBUTE,
            boto3_client=client,
        )
        self._run = idempotent_function(
            _answer_once,
            data_keyword_argument="request",
            persistence_store=persistence,
            config=self.config,
            output_serializer=_Gzipped(),
            key_prefix=_RECORD_PREFIX,
        )

    def run(
        self, request: KeyedRequest, answer: Callable[[], Any], *, lambda_context: Any = None
    ) -> tuple[Any, bool]:
        """``(answer, replayed)``: ``answer()`` the first time, the stored answer after that.

        ``answer`` raising stores nothing (the key is free for a retry). ``lambda_context`` bounds
        how long a request that died mid-way blocks its key (its remaining time)."""
        if lambda_context is not None:
            self.config.register_lambda_context(lambda_context)
        data = {"scope": request.scope, "key": request.key, "route": request.route, "body": request.body}
        try:
            out = self._run(request=data, answer=answer)
        except IdempotencyValidationError:
            raise IdempotencyKeyReused(
                f"this {HEADER} was already used for a request with another body or route;"
                " use a new key for a new request"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise IdempotencyInProgress(
                f"a request with this {HEADER} is still being processed; retry in a few seconds"
            ) from None
        return out["answer"], bool(out.get("replayed"))
