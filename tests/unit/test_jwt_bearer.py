"""The JWT-bearer assertion signed by an asymmetric KMS key (moto's KMS, in-process), verified by PyJWT
against the key's public half; KMS failures become ``SigningError`` with KMS's code only."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives import serialization
from moto import mock_aws

from claimsync import jwt_bearer
from claimsync.salesforce.auth import SalesforceCredentials

pytestmark = pytest.mark.unit

REGION = "us-east-1"
CLIENT_ID = "3MVG9" + "x" * 80
USERNAME = "integration@example.com"
AUDIENCE = "https://login.salesforce.com"
NOW = 1_900_000_000  # far enough ahead that PyJWT's own exp check passes


@pytest.fixture
def kms() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


def signing_key(kms: Any, **kwargs: str) -> str:
    spec = {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY", **kwargs}
    return str(kms.create_key(**spec)["KeyMetadata"]["Arn"])


def public_pem(kms: Any, key_id: str) -> bytes:
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    return serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_assertion_signed_by_kms_verifies_with_pyjwt(kms: Any) -> None:
    key = signing_key(kms)
    token = jwt_bearer.assertion(CLIENT_ID, USERNAME, AUDIENCE, NOW, jwt_bearer.KmsSigner(kms, key))

    claims = jwt.decode(token, public_pem(kms, key), algorithms=["RS256"], audience=AUDIENCE)
    assert claims == {"iss": CLIENT_ID, "sub": USERNAME, "aud": AUDIENCE, "exp": NOW + 180}
    header, payload, _ = token.split(".")
    assert b64decode(header) == b'{"alg":"RS256","typ":"JWT"}'
    assert json.loads(b64decode(payload))["exp"] - NOW == jwt_bearer.LIFETIME_S == 180


def test_a_changed_claim_or_another_key_does_not_verify(kms: Any) -> None:
    key, other = signing_key(kms), signing_key(kms)
    token = jwt_bearer.assertion(CLIENT_ID, USERNAME, AUDIENCE, NOW, jwt_bearer.KmsSigner(kms, key))
    header, _, signature = token.split(".")
    forged = base64.urlsafe_b64encode(
        json.dumps({"iss": CLIENT_ID, "sub": "admin@example.com", "aud": AUDIENCE, "exp": NOW + 180}).encode()
    )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            f"{header}.{forged.rstrip(b'=').decode()}.{signature}",
            public_pem(kms, key),
            algorithms=["RS256"],
            audience=AUDIENCE,
        )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, public_pem(kms, other), algorithms=["RS256"], audience=AUDIENCE)


def test_the_signer_asks_kms_for_rs256_over_the_raw_signing_input(kms: Any) -> None:
    key = signing_key(kms)
    stubber = Stubber(kms)
    message = jwt_bearer.signing_input(CLIENT_ID, USERNAME, AUDIENCE, NOW)
    stubber.add_response(
        "sign",
        {"KeyId": key, "Signature": b"sig", "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"},
        {
            "KeyId": key,
            "Message": message,
            "MessageType": "RAW",
            "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256",
        },
    )
    with stubber:
        token = jwt_bearer.assertion(CLIENT_ID, USERNAME, AUDIENCE, NOW, jwt_bearer.KmsSigner(kms, key))
    assert token == f"{message.decode()}.{base64.urlsafe_b64encode(b'sig').rstrip(b'=').decode()}"
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("setup", "code"),
    # KMS answers InvalidKeyUsageException for a symmetric key; moto 5.2.5 ValidationException.
    [
        ("unknown", {"NotFoundException"}),
        ("encrypt-key", {"InvalidKeyUsageException", "ValidationException"}),
    ],
)
def test_a_key_kms_will_not_sign_with_is_a_terminal_signing_error(
    kms: Any, setup: str, code: set[str]
) -> None:
    if setup == "unknown":
        key = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    else:
        key = signing_key(kms, KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")
    with pytest.raises(jwt_bearer.SigningError) as caught:
        jwt_bearer.KmsSigner(kms, key)(b"header.claims")
    assert caught.value.code in code
    assert caught.value.transient is False


# moto signs with a disabled key and has no key policies: KMS's answers for those, as documented.
@pytest.mark.parametrize("code", ["DisabledException", "AccessDeniedException", "KMSInvalidStateException"])
def test_a_disabled_or_forbidden_key_is_a_terminal_signing_error(kms: Any, code: str) -> None:
    stubber = Stubber(kms)
    stubber.add_client_error("sign", service_error_code=code, http_status_code=400)
    with stubber, pytest.raises(jwt_bearer.SigningError) as caught:
        jwt_bearer.KmsSigner(kms, "alias/claimsync-salesforce-jwt")(b"header.claims")
    assert (caught.value.code, caught.value.transient) == (code, False)


@pytest.mark.parametrize("code", ["ThrottlingException", "KMSInternalException", "KeyUnavailableException"])
def test_kms_throttling_or_outage_is_a_transient_signing_error(kms: Any, code: str) -> None:
    stubber = Stubber(kms)
    stubber.add_client_error("sign", service_error_code=code, http_status_code=500)
    with stubber, pytest.raises(jwt_bearer.SigningError) as caught:
        jwt_bearer.KmsSigner(kms, "alias/claimsync-salesforce-jwt")(b"header.claims")
    assert (caught.value.code, caught.value.transient) == (code, True)


def test_the_kms_client_follows_the_region_of_a_key_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # botocore resolves credentials when it builds a client: dummies, so it never asks the instance metadata
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    arn = "arn:aws:kms:eu-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert jwt_bearer.kms_client_for(arn).meta.region_name == "eu-west-2"
    assert jwt_bearer.kms_client_for("alias/claimsync-salesforce-jwt").meta.region_name == "us-east-1"


def test_the_jwt_secret_names_a_kms_key_and_refuses_a_private_key() -> None:
    base = {"grant": "jwt", "token_url": "https://login.salesforce.com/services/oauth2/token"}
    creds = SalesforceCredentials.from_secret(
        {**base, "client_id": CLIENT_ID, "username": USERNAME, "kms_key_id": "alias/k"}
    )
    assert creds.kms_key_id == "alias/k"
    with pytest.raises(ValueError, match="kms_key_id"):
        SalesforceCredentials.from_secret({**base, "client_id": CLIENT_ID, "username": USERNAME})
    pem = "-----BEGIN PRIVATE KEY-----\nTUlJQm9ndXM=\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ValueError, match="private key in the secret is not supported") as caught:
        SalesforceCredentials.from_secret(
            {**base, "client_id": CLIENT_ID, "username": USERNAME, "private_key": pem}
        )
    assert "TUlJQm9ndXM" not in str(caught.value)
    assert "alias/k" not in repr(creds)
