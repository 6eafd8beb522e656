"""OAuth 2.0 token endpoint (password, client credentials, JWT bearer) and session checks.

JWT-bearer assertions are verified (PyJWT, RS256) against the connected app's certificate
(``ConnectedAppCertificate``): the emulator's default one, or one uploaded through the admin
interface, e.g. the certificate of a KMS signing key made by ``claimsync salesforce-certificate``.

Answers are shaped like Salesforce's: ``{"access_token", "instance_url", "id", "token_type",
"issued_at", "signature"}`` on success, ``400 {"error", "error_description"}`` on failure. Tokens are
random, stored in SQLite with their expiry, and checked on every API call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from local.private import write_private
from local.salesforce_emulator.store import Store

GRANT_PASSWORD = "password"  # noqa: S105 - the grant type name, not a secret
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass(frozen=True)
class SalesforceCredentials:
    """The integration user and connected app the emulator accepts (random per state directory)."""

    username: str
    password: str
    security_token: str
    client_id: str
    client_secret: str

    @classmethod
    def generate(cls) -> SalesforceCredentials:
        return cls(
            username=f"integration.{secrets.token_hex(4)}@claimsync.local",
            password=secrets.token_urlsafe(18),
            security_token=secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")[:24],
            client_id="3MVG9" + secrets.token_urlsafe(60).replace("-", "x").replace("_", "y")[:80],
            client_secret=secrets.token_hex(32).upper(),
        )

    @classmethod
    def load(cls, path: Path) -> SalesforceCredentials:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            **{
                k: str(data[k])
                for k in ("username", "password", "security_token", "client_id", "client_secret")
            }
        )

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(asdict(self), indent=2) + "\n")


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def ensure_jwt_key(directory: Path) -> tuple[Path, bytes]:
    """The emulator's own RSA key and a self-signed certificate of it (PEM): the connected app's
    default certificate, so a client holding ``jwt_private_key.pem`` can sign assertions (tests).
    ``claimsync salesforce-certificate`` replaces the certificate with one of a KMS key."""
    private = directory / "jwt_private_key.pem"
    if not private.exists():
        new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_private(
            private,
            new_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
    certificate = directory / "jwt_default_certificate.pem"
    if not certificate.exists():
        key = serialization.load_pem_private_key(private.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "claimsync local connected app")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return private, certificate.read_bytes()


def load_certificate(pem: bytes) -> x509.Certificate:
    """A connected-app certificate as Salesforce takes one: one X.509 PEM, an RSA key of at least
    2048 bits, valid now. ``ValueError`` with the reason otherwise."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ValueError("not an X.509 certificate in PEM form") from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the certificate's key is not an RSA key (JWT bearer assertions are RS256)")
    if key.key_size < 2048:
        raise ValueError("RSA keys shorter than 2048 bits are not accepted")
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ValueError("the certificate is not valid now (notBefore/notAfter)")
    return cert


class ConnectedAppCertificate:
    """The certificate the connected app verifies JWT-bearer signatures with ("Use digital
    signatures" in Salesforce). An uploaded one persists in the state directory until removed,
    which restores the emulator's default (``ensure_jwt_key``)."""

    def __init__(self, directory: Path, default_pem: bytes) -> None:
        self.path = directory / "connected_app_certificate.pem"
        self.default_pem = default_pem
        self._mutex = threading.Lock()
        pem = self.path.read_bytes() if self.path.exists() else default_pem
        self._cert = load_certificate(pem)
        self._uploaded = self.path.exists()

    def public_key(self) -> rsa.RSAPublicKey:
        with self._mutex:
            key = self._cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        return key

    def replace(self, pem: bytes) -> None:
        cert = load_certificate(pem)
        with self._mutex:
            self.path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            self._cert, self._uploaded = cert, True

    def restore_default(self) -> None:
        with self._mutex:
            self.path.unlink(missing_ok=True)
            self._cert, self._uploaded = load_certificate(self.default_pem), False

    def describe(self) -> dict[str, Any]:
        with self._mutex:
            cert, uploaded = self._cert, self._uploaded
        return {
            "uploaded": uploaded,
            "subject": cert.subject.rfc4514_string(),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "sha256_fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
            "pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        }


class OAuth:
    def __init__(
        self,
        credentials: SalesforceCredentials,
        store: Store,
        *,
        token_ttl_s: int,
        certificate: ConnectedAppCertificate,
        org_id: str,
        user_id: str,
    ) -> None:
        self.credentials = credentials
        self.store = store
        self.token_ttl_s = token_ttl_s
        self.certificate = certificate
        self.org_id = org_id
        self.user_id = user_id
        self._cache: dict[str, float] = {}
        self._mutex = threading.Lock()

    # -- token endpoint ---------------------------------------------------------------------------

    def grant(self, form: dict[str, str], instance_url: str) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        c = self.credentials
        if grant_type == GRANT_PASSWORD:
            self._check_client(form, need_secret=True)
            expected = {c.password + c.security_token} if c.security_token else {c.password}
            if form.get("username") != c.username or form.get("password") not in expected:
                raise OAuthError("invalid_grant", "authentication failure")
        elif grant_type == GRANT_CLIENT_CREDENTIALS:
            self._check_client(form, need_secret=True)
        elif grant_type == GRANT_JWT:
            self._check_assertion(form.get("assertion", ""), instance_url)
        elif not grant_type:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        else:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        return self._issue(instance_url, c.client_secret)

    def _check_client(self, form: dict[str, str], *, need_secret: bool) -> None:
        if not hmac.compare_digest(form.get("client_id", ""), self.credentials.client_id):
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if need_secret and not hmac.compare_digest(
            form.get("client_secret", ""), self.credentials.client_secret
        ):
            raise OAuthError("invalid_client", "invalid client credentials")

    def _check_assertion(self, assertion: str, instance_url: str) -> None:
        if not assertion:
            raise OAuthError("invalid_request", "assertion is required")
        try:
            claims = jwt.decode(
                assertion,
                self.certificate.public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["iss", "sub", "aud", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_grant", "expired authorization code") from None
        except jwt.MissingRequiredClaimError as exc:
            raise OAuthError("invalid_grant", f"invalid assertion: missing {exc.claim}") from None
        except jwt.InvalidTokenError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != self.credentials.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        allowed = {*JWT_AUDIENCES, instance_url.rstrip("/")}
        if not any(isinstance(a, str) and a.rstrip("/") in allowed for a in audiences):
            raise OAuthError("invalid_grant", "audience is invalid")
        if claims.get("sub") != self.credentials.username:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")

    def _issue(self, instance_url: str, secret: str) -> dict[str, Any]:
        now = time.time()
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(72)}"
        self.store.save_token(
            token, self.credentials.username, self.credentials.client_id, now, now + self.token_ttl_s
        )
        with self._mutex:
            self._cache[token] = now + self.token_ttl_s
        identity = f"{instance_url}/id/{self.org_id}/{self.user_id}"
        issued_at = str(int(now * 1000))
        signature = base64.b64encode(
            hmac.new(secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        return {
            "access_token": token,
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
        }

    # -- session checks ---------------------------------------------------------------------------

    def session_valid(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token.strip():
            return False
        token = token.strip()
        with self._mutex:
            expiry = self._cache.get(token)
        if expiry is None:
            expiry = self.store.token_expiry(token)
            if expiry is None:
                return False
            with self._mutex:
                self._cache[token] = expiry
        return time.time() < expiry

    def expire_all(self) -> None:
        self.store.expire_tokens()
        with self._mutex:
            self._cache.clear()
