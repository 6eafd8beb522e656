"""The connected app's certificate built from a KMS signing key and signed through KMS (moto, in-process),
and the operator command ``claimsync salesforce-certificate`` that writes it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from moto import mock_aws

from claimsync import jwt_bearer
from local import cli
from local.connected_app import (
    DEFAULT_KEY_ALIAS,
    CertificateError,
    KmsRsaKey,
    build_certificate,
    create_signing_key,
)
from local.exits import ExitCode

pytestmark = pytest.mark.unit

REGION = "us-east-1"


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


def test_the_certificate_holds_the_kms_public_key_and_kms_signed_it(kms: Any) -> None:
    key = create_signing_key(kms, "test")
    now = datetime(2030, 1, 1, tzinfo=UTC)
    cert = build_certificate(kms, key, common_name="claimsync prod", days=730, now=now)

    kms_public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    assert cert.public_key() == kms_public
    cert.verify_directly_issued_by(cert)  # self-signed, and the signature is KMS's
    assert cert.signature_hash_algorithm is not None and cert.signature_hash_algorithm.name == "sha256"
    assert cert.subject.rfc4514_string() == "CN=claimsync prod" == cert.issuer.rfc4514_string()
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=730)
    assert cert.not_valid_before_utc <= now
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign

    # What Salesforce does with it: verify an assertion KMS signed against the certificate's key.
    token = jwt_bearer.assertion("cid", "user@example.com", "https://login.salesforce.com", 1_900_000_000,
                                 jwt_bearer.KmsSigner(kms, key))  # fmt: skip
    claims = jwt.decode(
        token, cert.public_key(), algorithms=["RS256"], audience="https://login.salesforce.com"
    )
    assert claims["sub"] == "user@example.com"


def test_the_kms_key_adapter_never_yields_private_material(kms: Any) -> None:
    key = KmsRsaKey(kms, create_signing_key(kms, "test"))
    assert key.key_size == 2048
    for attempt in (
        key.private_numbers,
        lambda: key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        lambda: key.decrypt(b"x", padding.PKCS1v15()),
    ):
        with pytest.raises(CertificateError, match="only inside KMS"):
            attempt()


def test_a_key_that_cannot_sign_rs256_makes_no_certificate(kms: Any) -> None:
    symmetric = kms.create_key(KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["Arn"]
    with pytest.raises(CertificateError):
        build_certificate(kms, symmetric)
    with pytest.raises(CertificateError, match="NotFoundException"):
        build_certificate(kms, "alias/no-such-key")
    ecc = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    with pytest.raises(CertificateError, match="RSASSA_PKCS1_V1_5_SHA_256"):
        build_certificate(kms, ecc)
    with pytest.raises(CertificateError, match="days"):
        build_certificate(kms, create_signing_key(kms, "test"), days=0)


def test_the_operator_command_writes_the_certificate_of_the_aliased_key(
    kms: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = create_signing_key(kms, "the stack's key")
    kms.create_alias(AliasName=DEFAULT_KEY_ALIAS, TargetKeyId=key)
    out = tmp_path / "connected-app.crt"

    assert cli.main(["salesforce-certificate", "--out", str(out), "--days", "365"]) == 0

    cert = x509.load_pem_x509_certificate(out.read_bytes())
    assert cert.public_key() == serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    cert.verify_directly_issued_by(cert)
    err = capsys.readouterr().err
    assert DEFAULT_KEY_ALIAS in err and "SHA-256 fingerprint" in err


def test_the_operator_command_explains_an_unusable_key_in_one_line(
    kms: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ecc = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    assert cli.main(["salesforce-certificate", "--key-id", ecc]) == ExitCode.AWS
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
