"""OAuth 2.0 token endpoint and session handling, through plain requests and simple-salesforce."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from local.salesforce_emulator.server import SalesforceCredentials, SalesforceEmulator
from local.tls import TlsMaterial

from .conftest import API_VERSION, client_credentials_token, new_session, wait_for

pytestmark = pytest.mark.contract

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def assertion(emu: SalesforceEmulator, creds: SalesforceCredentials, **overrides: object) -> str:
    claims: dict[str, object] = {
        "iss": creds.client_id,
        "sub": creds.username,
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    claims.update(overrides)
    key = overrides.pop("_key", None) or Path(emu.jwt_private_key_path).read_bytes()
    claims.pop("_key", None)
    return jwt.encode(claims, key, algorithm="RS256")


def assert_token_response(body: dict[str, str], emu: SalesforceEmulator) -> None:
    assert set(body) >= {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == emu.instance_url
    assert body["issued_at"].isdigit()


def test_password_grant_with_security_token(
    clean: SalesforceEmulator, creds: SalesforceCredentials, http: requests.Session
) -> None:
    r = http.post(
        clean.token_url,
        data={
            "grant_type": "password",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "username": creds.username,
            "password": creds.password + creds.security_token,
        },
    )
    assert r.status_code == 200
    assert_token_response(r.json(), clean)
    sf = Salesforce(
        instance_url=clean.instance_url,
        session_id=r.json()["access_token"],
        session=http,
        version=API_VERSION,
    )
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"password": "wrong"}, "invalid_grant"),
        ({"username": "nobody@example.com"}, "invalid_grant"),
        ({"password": "<plain>"}, "invalid_grant"),  # the security token must be appended
        ({"client_id": "unknown"}, "invalid_client_id"),
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
    ],
)
def test_password_grant_failures(
    clean: SalesforceEmulator,
    creds: SalesforceCredentials,
    http: requests.Session,
    change: dict[str, str],
    error: str,
) -> None:
    form = {
        "grant_type": "password",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        "username": creds.username,
        "password": creds.password + creds.security_token,
    }
    form.update(change)
    if form["password"] == "<plain>":
        form["password"] = creds.password
    r = http.post(clean.token_url, data=form)
    assert r.status_code == 400
    assert r.json()["error"] == error
    assert r.json()["error_description"]


def test_invalid_grant_message_is_the_real_one(
    clean: SalesforceEmulator, creds: SalesforceCredentials, http: requests.Session
) -> None:
    r = http.post(
        clean.token_url,
        data={
            "grant_type": "password",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "username": creds.username,
            "password": "nope",
        },
    )
    assert r.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


def test_client_credentials_grant(
    clean: SalesforceEmulator, creds: SalesforceCredentials, http: requests.Session
) -> None:
    ok = http.post(
        clean.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
    )
    assert ok.status_code == 200
    assert_token_response(ok.json(), clean)
    bad = http.post(
        clean.token_url,
        data={"grant_type": "client_credentials", "client_id": creds.client_id, "client_secret": "x"},
    )
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_client")


@pytest.mark.parametrize("audience", ["https://login.salesforce.com", "https://test.salesforce.com", "self"])
def test_jwt_bearer_grant(
    clean: SalesforceEmulator, creds: SalesforceCredentials, http: requests.Session, audience: str
) -> None:
    aud = clean.instance_url if audience == "self" else audience
    r = http.post(
        clean.token_url, data={"grant_type": JWT_GRANT, "assertion": assertion(clean, creds, aud=aud)}
    )
    assert r.status_code == 200, r.text
    assert_token_response(r.json(), clean)
    sf = Salesforce(
        instance_url=clean.instance_url,
        session_id=r.json()["access_token"],
        session=http,
        version=API_VERSION,
    )
    assert sf.Account.create({"Name": "Via JWT"})["success"] is True


def test_jwt_bearer_failures(
    clean: SalesforceEmulator, creds: SalesforceCredentials, http: requests.Session
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cases = {
        "wrong audience": (assertion(clean, creds, aud="https://evil.example.com"), "invalid_grant"),
        "expired": (assertion(clean, creds, exp=int(time.time()) - 60), "invalid_grant"),
        "unknown user": (assertion(clean, creds, sub="someone@else.com"), "invalid_grant"),
        "unknown client": (assertion(clean, creds, iss="3MVGunknown"), "invalid_client_id"),
        "foreign key": (assertion(clean, creds, _key=other_key), "invalid_grant"),
        "garbage": ("not-a-jwt", "invalid_grant"),
    }
    for name, (token, error) in cases.items():
        r = http.post(clean.token_url, data={"grant_type": JWT_GRANT, "assertion": token})
        assert r.status_code == 400, name
        assert r.json()["error"] == error, name


def test_missing_or_unknown_token_is_invalid_session(
    clean: SalesforceEmulator, http: requests.Session
) -> None:
    url = f"{clean.instance_url}/services/data/v{API_VERSION}/limits"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = http.get(url, headers=headers)
        assert r.status_code == 401
        assert r.json() == [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]


def test_admin_expire_tokens(
    clean: SalesforceEmulator, creds: SalesforceCredentials, http: requests.Session
) -> None:
    token = client_credentials_token(clean, creds, http)
    sf = Salesforce(instance_url=clean.instance_url, session_id=token, session=http, version=API_VERSION)
    sf.query("SELECT Id FROM Account")
    assert http.post(clean.admin_url + "/expire-tokens").status_code == 200
    with pytest.raises(SalesforceExpiredSession) as info:
        sf.query("SELECT Id FROM Account")
    assert info.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_token_expires_after_ttl(tmp_path: Path, tls: TlsMaterial, creds: SalesforceCredentials) -> None:
    emu = SalesforceEmulator(tmp_path, tls, creds, token_ttl_s=1).start()
    try:
        s = new_session(tls)
        token = client_credentials_token(emu, creds, s)
        url = f"{emu.instance_url}/services/data/v{API_VERSION}/limits"
        assert s.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200

        def rejected() -> list[dict[str, str]] | None:
            resp = s.get(url, headers={"Authorization": f"Bearer {token}"})
            return resp.json() if resp.status_code == 401 else None

        assert wait_for(rejected)[0]["errorCode"] == "INVALID_SESSION_ID"
    finally:
        emu.stop()


def test_oauth_calls_do_not_use_the_daily_allocation(
    clean: SalesforceEmulator, creds: SalesforceCredentials, http: requests.Session
) -> None:
    before = http.get(clean.admin_url + "/limits").json()["used"]
    for _ in range(3):
        client_credentials_token(clean, creds, http)
    assert http.get(clean.admin_url + "/limits").json()["used"] == before
    assert http.get(clean.admin_url + "/counters").json()["logins"] == 3
