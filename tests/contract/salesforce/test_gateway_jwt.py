"""``SalesforceGateway`` logs in with the JWT-bearer grant: the assertion is signed by a KMS key (moto's
KMS, in-process) and the emulator verifies its signature against the connected app's certificate —
the certificate ``claimsync salesforce-certificate`` builds, uploaded through the admin interface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from moto import mock_aws

from claimsync.jwt_bearer import KmsSigner
from claimsync.salesforce.auth import SalesforceCredentials
from claimsync.salesforce.errors import SalesforceAuthError, SalesforceUnavailable
from claimsync.salesforce.gateway import SalesforceGateway
from local.connected_app import build_certificate, certificate_pem, create_signing_key
from local.salesforce_emulator.server import SalesforceCredentials as EmulatorCredentials
from local.salesforce_emulator.server import SalesforceEmulator
from local.tls import TlsMaterial

pytestmark = pytest.mark.contract


@pytest.fixture
def kms() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


@pytest.fixture
def kms_app(clean: SalesforceEmulator, http: requests.Session, kms: Any) -> Iterator[str]:
    """A KMS signing key whose certificate the emulator's connected app holds; the default after."""
    key = create_signing_key(kms, "test")
    resp = http.put(
        clean.admin_url + "/connected-app/certificate", data=certificate_pem(build_certificate(kms, key))
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["uploaded"] is True
    yield key
    assert http.delete(clean.admin_url + "/connected-app/certificate").json()["uploaded"] is False


def gateway(
    emu: SalesforceEmulator, creds: EmulatorCredentials, tls: TlsMaterial, kms: Any, key: str, **changes: str
) -> SalesforceGateway:
    secret = {
        "grant": "jwt",
        "token_url": emu.token_url,
        "client_id": creds.client_id,
        "username": creds.username,
        "kms_key_id": key,
        **changes,
    }
    return SalesforceGateway(
        SalesforceCredentials.from_secret(secret),
        ca_bundle=str(tls.ca_cert),
        timeout_s=10,
        signer=KmsSigner(kms, key),
    )


def test_gateway_logs_in_with_a_kms_signed_assertion(
    clean: SalesforceEmulator, creds: EmulatorCredentials, tls: TlsMaterial, kms: Any, kms_app: str
) -> None:
    gw = gateway(clean, creds, tls, kms, kms_app)
    gw.login()
    assert gw.logged_in and gw.stats.logins == 1
    assert gw.query_page("SELECT Id FROM Account")["totalSize"] == 0


def test_the_emulator_refuses_a_kms_signature_the_connected_app_has_no_certificate_for(
    clean: SalesforceEmulator, creds: EmulatorCredentials, tls: TlsMaterial, kms: Any, kms_app: str
) -> None:
    other_key = create_signing_key(kms, "not uploaded")
    gw = gateway(clean, creds, tls, kms, other_key)
    with pytest.raises(SalesforceAuthError) as caught:
        gw.login()
    assert (caught.value.code, caught.value.detail) == ("invalid_grant", "invalid assertion")
    assert not gw.logged_in


def test_gateway_jwt_grant_with_unknown_user_is_an_auth_error(
    clean: SalesforceEmulator, creds: EmulatorCredentials, tls: TlsMaterial, kms: Any, kms_app: str
) -> None:
    gw = gateway(clean, creds, tls, kms, kms_app, username="nobody@example.com")
    with pytest.raises(SalesforceAuthError) as caught:
        gw.login()
    assert caught.value.code == "invalid_grant"
    assert not gw.logged_in


@pytest.mark.parametrize(
    ("kms_code", "error"),
    [("DisabledException", SalesforceAuthError), ("ThrottlingException", SalesforceUnavailable)],
)
def test_kms_refusing_to_sign_fails_the_login_before_anything_is_sent(
    clean: SalesforceEmulator,
    creds: EmulatorCredentials,
    tls: TlsMaterial,
    kms: Any,
    kms_app: str,
    kms_code: str,
    error: type[Exception],
) -> None:
    gw = gateway(clean, creds, tls, kms, kms_app)
    stubber = Stubber(kms)
    stubber.add_client_error("sign", service_error_code=kms_code, http_status_code=400)
    with stubber, pytest.raises(error) as caught:
        gw.login()
    assert isinstance(caught.value, SalesforceAuthError | SalesforceUnavailable)
    assert caught.value.code == "JWT_SIGNING_FAILED"
    assert caught.value.detail == f"KMS Sign: {kms_code}"
    assert gw.stats.logins == 0, "nothing was sent to Salesforce"


def test_the_default_signer_is_kms_sign_with_the_secrets_key(
    clean: SalesforceEmulator, creds: EmulatorCredentials, tls: TlsMaterial, kms: Any, kms_app: str
) -> None:
    secret = {
        "grant": "jwt",
        "token_url": clean.token_url,
        "client_id": creds.client_id,
        "username": creds.username,
        "kms_key_id": kms_app,  # an ARN: the client is made in its region, here moto's
    }
    gw = SalesforceGateway(
        SalesforceCredentials.from_secret(secret), ca_bundle=str(tls.ca_cert), timeout_s=10
    )
    gw.login()
    assert gw.logged_in


def _certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, *, days: int = 30, start: datetime | None = None
) -> bytes:
    """A self-signed certificate of ``key``, valid from ``start`` (default: yesterday) for ``days``."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    begin = start or datetime.now(UTC) - timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(begin)
        .not_valid_after(begin + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda: b"not a certificate", id="garbage"),
        pytest.param(lambda: _certificate(ec.generate_private_key(ec.SECP256R1())), id="ec-key"),
        pytest.param(
            lambda: _certificate(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505
            id="rsa-1024",
        ),
        pytest.param(
            lambda: _certificate(
                rsa.generate_private_key(public_exponent=65537, key_size=2048),
                start=datetime.now(UTC) - timedelta(days=400),
                days=30,
            ),
            id="expired",
        ),
    ],
)
def test_the_connected_app_refuses_an_unusable_certificate(
    clean: SalesforceEmulator, http: requests.Session, body: Any
) -> None:
    before = http.get(clean.admin_url + "/connected-app/certificate").json()
    resp = http.put(clean.admin_url + "/connected-app/certificate", data=body())
    assert resp.status_code == 400
    assert resp.json()[0]["errorCode"] == "INVALID_CERTIFICATE"
    assert http.get(clean.admin_url + "/connected-app/certificate").json() == before
