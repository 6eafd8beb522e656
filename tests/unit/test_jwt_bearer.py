"""The JWT-bearer assertion signed with the pure-Python ``rsa`` package, verified by PyJWT."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from claimsync import jwt_bearer

pytestmark = pytest.mark.unit

CLIENT_ID = "3MVG9testconsumerkey"
USERNAME = "integration@claimsync.local"
AUDIENCE = "https://login.salesforce.com"
NOW = 1_900_000_000  # far enough ahead that PyJWT's own exp check passes


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def segments(token: str) -> list[bytes]:
    return [base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".")]


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [
        (serialization.PrivateFormat.TraditionalOpenSSL, "BEGIN RSA PRIVATE KEY"),
        (serialization.PrivateFormat.PKCS8, "BEGIN PRIVATE KEY"),
    ],
)
def test_assertion_verifies_with_pyjwt(
    key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat, marker: str
) -> None:
    private = pem(key, fmt)
    assert marker in private
    token = jwt_bearer.assertion(CLIENT_ID, USERNAME, AUDIENCE, private, NOW)

    claims = jwt.decode(token, public_pem(key), algorithms=["RS256"], audience=AUDIENCE)
    assert claims == {"iss": CLIENT_ID, "sub": USERNAME, "aud": AUDIENCE, "exp": NOW + 180}
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT"}
    header, payload, signature = segments(token)
    assert header == b'{"alg":"RS256","typ":"JWT"}'
    assert json.loads(payload) == claims
    assert len(signature) == 256  # one RSA-2048 block
    assert "=" not in token  # base64url without padding


def test_both_pem_formats_give_the_same_signature(key: rsa.RSAPrivateKey) -> None:
    # RSASSA-PKCS1-v1_5 is deterministic: same key, same input, same bytes.
    a = jwt_bearer.assertion(CLIENT_ID, USERNAME, AUDIENCE, pem(key, serialization.PrivateFormat.PKCS8), NOW)
    b = jwt_bearer.assertion(
        CLIENT_ID, USERNAME, AUDIENCE, pem(key, serialization.PrivateFormat.TraditionalOpenSSL).encode(), NOW
    )
    assert a == b


def test_signature_matches_cryptography_pkcs1v15_sha256(key: rsa.RSAPrivateKey) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    token = jwt_bearer.assertion(
        CLIENT_ID, USERNAME, AUDIENCE, pem(key, serialization.PrivateFormat.PKCS8), NOW
    )
    signing_input, _, _ = token.rpartition(".")
    expected = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    assert segments(token)[2] == expected


def test_tampered_payload_fails_verification(key: rsa.RSAPrivateKey) -> None:
    token = jwt_bearer.assertion(
        CLIENT_ID, USERNAME, AUDIENCE, pem(key, serialization.PrivateFormat.PKCS8), NOW
    )
    header, _, signature = token.split(".")
    forged_claims = {"iss": CLIENT_ID, "sub": "admin@claimsync.local", "aud": AUDIENCE, "exp": NOW + 180}
    forged = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{header}.{forged}.{signature}", public_pem(key), algorithms=["RS256"], audience=AUDIENCE)


def test_other_key_fails_verification(key: rsa.RSAPrivateKey) -> None:
    token = jwt_bearer.assertion(
        CLIENT_ID, USERNAME, AUDIENCE, pem(key, serialization.PrivateFormat.PKCS8), NOW
    )
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, public_pem(other), algorithms=["RS256"], audience=AUDIENCE)


def test_pem_with_surrounding_text_and_crlf_is_accepted(key: rsa.RSAPrivateKey) -> None:
    private = pem(key, serialization.PrivateFormat.PKCS8).replace("\n", "\r\n")
    token = jwt_bearer.assertion(CLIENT_ID, USERNAME, AUDIENCE, f"  \n{private}\n", NOW)
    jwt.decode(token, public_pem(key), algorithms=["RS256"], audience=AUDIENCE)


# -- refused keys ----------------------------------------------------------------------------------


def _key_fragments(text: str) -> list[str]:
    """Pieces of the PEM body that must never show up in an error message."""
    body = [line for line in text.splitlines() if line and not line.startswith("-----")]
    return [line[i : i + 16] for line in body for i in range(0, max(len(line) - 16, 1), 16)]


def _refused(text: str | bytes, expected: str) -> str:
    with pytest.raises(ValueError, match=expected) as caught:
        jwt_bearer.assertion(CLIENT_ID, USERNAME, AUDIENCE, text, NOW)
    message = str(caught.value)
    assert message.startswith("JWT signing key: ")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    as_text = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    for fragment in _key_fragments(as_text):
        assert fragment not in message
    return message


def test_encrypted_pkcs8_key_is_refused(key: rsa.RSAPrivateKey) -> None:
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    assert "ENCRYPTED PRIVATE KEY" in encrypted
    _refused(encrypted, "encrypted private keys are not supported")


def test_encrypted_traditional_key_is_refused(key: rsa.RSAPrivateKey) -> None:
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    assert "Proc-Type: 4,ENCRYPTED" in encrypted
    _refused(encrypted, "encrypted private keys are not supported")


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (serialization.PrivateFormat.PKCS8, "not an RSA key"),
        (serialization.PrivateFormat.TraditionalOpenSSL, "unsupported PEM type 'EC PRIVATE KEY'"),
    ],
)
def test_ec_keys_are_refused(fmt: serialization.PrivateFormat, expected: str) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    text = ec_key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
    _refused(text, expected)


def test_public_key_is_refused(key: rsa.RSAPrivateKey) -> None:
    _refused(public_pem(key).decode(), "unsupported PEM type 'PUBLIC KEY'")


def test_short_rsa_key_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test
    _refused(pem(small, serialization.PrivateFormat.PKCS8), "shorter than 2048 bits")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nno end marker\n",
        "-----BEGIN PRIVATE KEY-----\n!!!not base64!!!\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nMIIBVgIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n-----END RSA PRIVATE KEY-----\n",
        "clé privée",
    ],
)
def test_malformed_pems_are_refused(text: str) -> None:
    _refused(text, "JWT signing key: ")


def test_corrupted_key_body_is_refused_without_echoing_it(key: rsa.RSAPrivateKey) -> None:
    text = pem(key, serialization.PrivateFormat.TraditionalOpenSSL)
    lines = text.splitlines()
    lines[5] = lines[5][::-1]  # still base64, no longer a consistent key
    message = _refused("\n".join(lines), "JWT signing key: ")
    assert len(message) < 120


def test_two_keys_in_one_pem_are_refused(key: rsa.RSAPrivateKey) -> None:
    one = pem(key, serialization.PrivateFormat.PKCS8)
    _refused(one + one, "exactly one PEM block")
