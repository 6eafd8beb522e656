"""The local claim sync logs in to Salesforce as deployed: the JWT-bearer grant, the assertion signed
by an asymmetric key in moto's KMS, whose certificate the emulator's connected app holds."""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from local.syncrun import aws_client
from local.syncworld import SALESFORCE_SECRET
from tests.sync.conftest import World, clean_rows

pytestmark = pytest.mark.workflow


def test_the_sync_signs_in_with_a_kms_signed_jwt_assertion(world: World) -> None:
    secret = json.loads(
        aws_client(world.endpoints, "secretsmanager").get_secret_value(SecretId=SALESFORCE_SECRET)[
            "SecretString"
        ]
    )
    assert secret["grant"] == "jwt"
    assert set(secret) == {"grant", "token_url", "client_id", "username", "kms_key_id"}, "no key material"

    kms_public = aws_client(world.endpoints, "kms").get_public_key(KeyId=secret["kms_key_id"])["PublicKey"]
    certificate = world.sf("GET", "/connected-app/certificate")
    assert certificate["uploaded"] is True
    cert = x509.load_pem_x509_certificate(certificate["pem"].encode())
    assert cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == kms_public

    world.sf("POST", "/expire-tokens")  # every handler's cached session: the next call logs in again
    world.set_rows(clean_rows(20))
    summary = world.sync()
    assert summary["status"] == "SUCCEEDED" and summary["succeeded"] == 20
    assert world.sf_counters()["logins"] >= 1
