"""``SalesforceGateway`` logs in with the JWT-bearer grant (assertion signed by ``claimsync.jwt_bearer``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimsync.salesforce import SalesforceAuthError, SalesforceCredentials, SalesforceGateway
from local.salesforce_emulator.server import SalesforceCredentials as EmulatorCredentials
from local.salesforce_emulator.server import SalesforceEmulator
from local.tls import TlsMaterial

pytestmark = pytest.mark.contract


def jwt_credentials(
    emu: SalesforceEmulator, creds: EmulatorCredentials, **changes: str
) -> SalesforceCredentials:
    data = {
        "grant": "jwt",
        "token_url": emu.token_url,
        "client_id": creds.client_id,
        "username": creds.username,
        "private_key": Path(emu.jwt_private_key_path).read_text(),
        **changes,
    }
    return SalesforceCredentials.from_secret(data)


def test_gateway_logs_in_with_the_jwt_grant(
    clean: SalesforceEmulator, creds: EmulatorCredentials, tls: TlsMaterial
) -> None:
    gateway = SalesforceGateway(jwt_credentials(clean, creds), ca_bundle=str(tls.ca_cert), timeout_s=10)
    gateway.login()
    assert gateway.logged_in and gateway.stats.logins == 1
    result = gateway.query_page("SELECT Id FROM Account")
    assert result["totalSize"] == 0


def test_gateway_jwt_grant_with_unknown_user_is_an_auth_error(
    clean: SalesforceEmulator, creds: EmulatorCredentials, tls: TlsMaterial
) -> None:
    gateway = SalesforceGateway(
        jwt_credentials(clean, creds, username="nobody@example.com"), ca_bundle=str(tls.ca_cert), timeout_s=10
    )
    with pytest.raises(SalesforceAuthError) as caught:
        gateway.login()
    assert caught.value.code == "invalid_grant"
    assert not gateway.logged_in


def test_an_unusable_signing_key_is_an_auth_error_without_key_material(
    clean: SalesforceEmulator, creds: EmulatorCredentials, tls: TlsMaterial
) -> None:
    bad_key = "-----BEGIN PRIVATE KEY-----\nTUlJQm9ndXM=\n-----END PRIVATE KEY-----\n"
    gateway = SalesforceGateway(
        jwt_credentials(clean, creds, private_key=bad_key), ca_bundle=str(tls.ca_cert)
    )
    with pytest.raises(SalesforceAuthError) as caught:
        gateway.login()
    assert caught.value.code == "INVALID_SIGNING_KEY"
    assert "TUlJQm9ndXM" not in str(caught.value) + caught.value.detail
    assert gateway.stats.logins == 0, "nothing was sent to Salesforce"
