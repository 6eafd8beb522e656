"""The Salesforce OAuth 2.0 JWT-bearer assertion: a compact JWS signed RS256 by an asymmetric KMS key.

RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3), which is exactly KMS's
``RSASSA_PKCS1_V1_5_SHA_256`` over the raw signing input (``MessageType=RAW``: KMS hashes it; the
input is a few hundred bytes, far below the 4,096-byte limit of a raw message). The key is an
``RSA_2048`` ``SIGN_VERIFY`` KMS key: its private half never leaves KMS, so it is in no secret, no
environment variable and no bundle, and no crypto library is bundled (boto3 comes with the Lambda
runtime). The connected app holds a certificate of the key's public half, made by
``claimsync salesforce-certificate`` (docs/runbook.md). Why KMS and not a key in the secret:
docs/architecture.md, "Signing the JWT-bearer assertion".
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

LIFETIME_S = 180  # Salesforce accepts an ``exp`` at most 3 minutes ahead
HEADER = {"alg": "RS256", "typ": "JWT"}
KEY_SPEC = "RSA_2048"
KEY_USAGE = "SIGN_VERIFY"
SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"  # = RS256
# KMS answers worth retrying later (the login fails as ``SalesforceUnavailable``).
TRANSIENT_KMS_ERRORS = frozenset(
    {
        "ThrottlingException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
        "LimitExceededException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "InternalFailure",
    }
)

Signer = Callable[[bytes], bytes]


class SigningError(Exception):
    """KMS did not sign. ``code`` is KMS's error code (or the botocore exception's name): no key
    material, no claim value. ``transient``: worth retrying later."""

    def __init__(self, code: str, *, transient: bool) -> None:
        super().__init__(code)
        self.code = code
        self.transient = transient


def signing_input(client_id: str, username: str, audience: str, now: int) -> bytes:
    """``base64url(header) "." base64url(claims)``: ``iss`` = the connected app's consumer key,
    ``sub`` = the Salesforce username, ``aud`` = the login URL, ``exp`` = ``now`` + 3 minutes."""
    claims = {"iss": client_id, "sub": username, "aud": audience, "exp": int(now) + LIFETIME_S}
    return f"{_b64url(_json(HEADER))}.{_b64url(_json(claims))}".encode("ascii")


def assertion(client_id: str, username: str, audience: str, now: int, sign: Signer) -> str:
    """The signed assertion for the JWT-bearer grant; ``sign`` makes the RS256 signature."""
    message = signing_input(client_id, username, audience, now)
    return f"{message.decode('ascii')}.{_b64url(sign(message))}"


class KmsSigner:
    """RS256 signatures from KMS ``Sign`` with the given key (id, ARN or ``alias/…``)."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self.key_id = key_id

    def __call__(self, message: bytes) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError  # botocore: provided by the runtime

        try:
            answer = self._kms.sign(
                KeyId=self.key_id, Message=message, MessageType="RAW", SigningAlgorithm=SIGNING_ALGORITHM
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code") or "ClientError")
            raise SigningError(code, transient=code in TRANSIENT_KMS_ERRORS) from None
        except BotoCoreError as exc:  # connection, timeout, credentials: nothing KMS refused
            raise SigningError(type(exc).__name__, transient=True) from None
        signature: bytes = answer["Signature"]
        return signature


def kms_client_for(key_id: str) -> Any:
    """A KMS client in the key's own region when ``key_id`` is an ARN, else the default region."""
    import boto3  # provided by the Lambda runtime; imported only for the JWT grant

    parts = key_id.split(":")
    region = parts[3] if key_id.startswith("arn:") and len(parts) > 3 and parts[3] else None
    return boto3.client("kms", region_name=region)


def _json(value: Mapping[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
