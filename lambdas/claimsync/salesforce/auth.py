"""How claimsync obtains a Salesforce session: the credentials read from the secret, the token request
each OAuth grant makes, and the session a token response grants.

No HTTP here: the gateway posts the form this module builds (``SalesforceGateway.login``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

from claimsync import jwt_bearer
from claimsync.jwt_bearer import Signer
from claimsync.salesforce.errors import SalesforceAuthError, SalesforceUnavailable

Grant = Literal["password", "client_credentials", "jwt"]
JWT_BEARER_GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# The secret keys each grant needs (a key with an empty value counts as missing).
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "password": ("token_url", "client_id", "client_secret", "username", "password"),
    "client_credentials": ("token_url", "client_id", "client_secret"),
    "jwt": ("token_url", "client_id", "username", "kms_key_id"),
}


@dataclass(frozen=True, repr=False)
class SalesforceCredentials:
    """How to obtain a session. Built from the Secrets Manager secret (``from_secret``)."""

    token_url: str
    grant: Grant
    client_id: str
    client_secret: str = ""
    username: str = ""
    password: str = ""  # password followed by the security token, where the org needs one
    kms_key_id: str = ""  # the JWT bearer grant's asymmetric KMS signing key (ARN, id or alias/...)
    audience: str = "https://login.salesforce.com"

    def __repr__(self) -> str:  # never print secrets
        return f"SalesforceCredentials(token_url={self.token_url!r}, grant={self.grant!r})"

    @classmethod
    def from_secret(cls, data: Mapping[str, Any]) -> SalesforceCredentials:
        """The credentials of the secret's JSON; ``ValueError`` names the keys at fault, never a value."""
        grant = data.get("grant", "password")
        if grant not in _REQUIRED:
            raise ValueError("salesforce secret: grant must be password, client_credentials or jwt")
        if grant == "jwt" and data.get("private_key") and not data.get("kms_key_id"):
            raise ValueError(
                "salesforce secret: the jwt grant signs with a KMS key (kms_key_id); a private key in the "
                "secret is not supported (docs/runbook.md, JWT bearer grant)"
            )
        missing = [k for k in _REQUIRED[grant] if not data.get(k)]
        if missing:
            raise ValueError(f"salesforce secret: missing keys {missing} for grant {grant}")
        allowed = {f.name for f in fields(cls)}
        return cls(**{k: str(v) for k, v in data.items() if k in allowed})  # type: ignore[arg-type]


@dataclass
class Session:
    """What a successful token request grants."""

    access_token: str
    instance_url: str

    @classmethod
    def from_token_response(cls, body: Mapping[str, Any]) -> Session:
        return cls(access_token=body["access_token"], instance_url=body["instance_url"].rstrip("/"))


def token_form(credentials: SalesforceCredentials, signer: Signer | None = None) -> dict[str, str]:
    """The form the token endpoint is posted for ``credentials``' grant.

    The JWT bearer grant needs ``signer`` (RS256 over the assertion, KMS ``Sign`` in production); a
    signing failure names KMS's error code only — no key material exists here."""
    c = credentials
    if c.grant == "password":
        return {
            "grant_type": "password",
            "client_id": c.client_id,
            "client_secret": c.client_secret,
            "username": c.username,
            "password": c.password,
        }
    if c.grant == "client_credentials":
        return {
            "grant_type": "client_credentials",
            "client_id": c.client_id,
            "client_secret": c.client_secret,
        }
    if signer is None:
        raise ValueError("the jwt grant needs a signer")
    try:
        assertion = jwt_bearer.assertion(
            c.client_id, c.username, c.audience, now=int(time.time()), sign=signer
        )
    except jwt_bearer.SigningError as exc:
        cls = SalesforceUnavailable if exc.transient else SalesforceAuthError
        raise cls("JWT_SIGNING_FAILED", operation="login", detail=f"KMS Sign: {exc.code}") from None
    return {"grant_type": JWT_BEARER_GRANT_TYPE, "assertion": assertion}
