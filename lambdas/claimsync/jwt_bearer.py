"""The Salesforce OAuth 2.0 JWT-bearer assertion: a compact JWS signed RS256, with the ``rsa`` package.

RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3). The pure-Python ``rsa`` package does the
signing (with blinding), so the Lambda bundle needs no compiled crypto library.

The private key is a PEM, either PKCS#1 (``BEGIN RSA PRIVATE KEY``) or unencrypted PKCS#8
(``BEGIN PRIVATE KEY``, an RSA ``PrivateKeyInfo``). Anything else (encrypted keys, EC keys, a
certificate, garbage) raises ``ValueError`` with a message that never contains key material.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping

import rsa

LIFETIME_S = 180  # Salesforce accepts an ``exp`` at most 3 minutes ahead
HEADER = {"alg": "RS256", "typ": "JWT"}

_PEM = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----",
    re.DOTALL,
)
_RSA_ENCRYPTION_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1
_SEQUENCE, _INTEGER, _OCTET_STRING, _OID, _NULL = 0x30, 0x02, 0x04, 0x06, 0x05


class _BadKey(Exception):
    """Internal: why a key was refused (a fixed text, never key material)."""


def assertion(client_id: str, username: str, audience: str, private_key_pem: str | bytes, now: int) -> str:
    """The signed assertion for the JWT-bearer grant: ``iss`` = the connected app's consumer key,
    ``sub`` = the Salesforce username, ``aud`` = the login URL, ``exp`` = ``now`` + 3 minutes."""
    key = load_private_key(private_key_pem)
    claims = {"iss": client_id, "sub": username, "aud": audience, "exp": int(now) + LIFETIME_S}
    signing_input = f"{_b64url(_json(HEADER))}.{_b64url(_json(claims))}"
    signature = rsa.sign(signing_input.encode("ascii"), key, "SHA-256")
    return f"{signing_input}.{_b64url(signature)}"


def load_private_key(pem: str | bytes) -> rsa.PrivateKey:
    """An RSA private key from a PKCS#1 or unencrypted PKCS#8 PEM; ``ValueError`` otherwise."""
    try:
        return _load(pem.encode("ascii") if isinstance(pem, str) else pem)
    except _BadKey as exc:
        raise ValueError(f"JWT signing key: {exc}") from None
    except UnicodeEncodeError:
        raise ValueError("JWT signing key: not a PEM (non-ASCII text)") from None


def _load(pem: bytes) -> rsa.PrivateKey:
    blocks = _PEM.findall(pem)
    if len(blocks) != 1:
        raise _BadKey("expected exactly one PEM block (RSA PRIVATE KEY or PRIVATE KEY)")
    label, body = blocks[0]
    if label == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type:" in body or b"DEK-Info:" in body:
        raise _BadKey("encrypted private keys are not supported; store the key unencrypted in the secret")
    if label not in (b"RSA PRIVATE KEY", b"PRIVATE KEY"):
        raise _BadKey(f"unsupported PEM type {label.decode('ascii')!r}; expected an RSA private key")
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _BadKey("the PEM body is not valid base64") from None
    pkcs1 = der if label == b"RSA PRIVATE KEY" else _unwrap_pkcs8(der)
    try:
        key = rsa.PrivateKey.load_pkcs1(pkcs1, format="DER")
    except Exception:  # pyasn1 / rsa errors may quote the bytes: never pass them on
        raise _BadKey("not a valid PKCS#1 RSAPrivateKey") from None
    if key.p * key.q != key.n:
        raise _BadKey("not a valid PKCS#1 RSAPrivateKey (inconsistent)")
    if key.n.bit_length() < 2048:
        raise _BadKey("RSA keys shorter than 2048 bits are not accepted")
    return key


def _unwrap_pkcs8(der: bytes) -> bytes:
    """The ``privateKey`` OCTET STRING of an RSA ``PrivateKeyInfo`` (RFC 5208 / 5958)::

    PrivateKeyInfo ::= SEQUENCE { version INTEGER, privateKeyAlgorithm AlgorithmIdentifier,
                                  privateKey OCTET STRING, attributes [0] ... OPTIONAL, ... }
    """
    body, rest = _tlv(der, 0, _SEQUENCE)
    if rest != len(der):
        raise _BadKey("trailing data after the PKCS#8 structure")
    version, pos = _tlv(body, 0, _INTEGER)
    if version not in (b"\x00", b"\x01"):
        raise _BadKey("unsupported PKCS#8 version")
    algorithm, pos = _tlv(body, pos, _SEQUENCE)
    oid, after_oid = _tlv(algorithm, 0, _OID)
    if oid != _RSA_ENCRYPTION_OID:
        raise _BadKey("the PKCS#8 key is not an RSA key (EC and other key types are not supported)")
    if after_oid != len(algorithm):
        params, end = _tlv(algorithm, after_oid, _NULL)
        if params or end != len(algorithm):
            raise _BadKey("unexpected rsaEncryption parameters")
    private_key, _ = _tlv(body, pos, _OCTET_STRING)
    return private_key


def _tlv(data: bytes, pos: int, tag: int) -> tuple[bytes, int]:
    """The contents of the DER element of ``tag`` at ``pos``, and the position after it."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise _BadKey("not a PKCS#8 PrivateKeyInfo")
    length, pos = data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data):
            raise _BadKey("not a PKCS#8 PrivateKeyInfo")
        length, pos = int.from_bytes(data[pos : pos + count], "big"), pos + count
    if pos + length > len(data):
        raise _BadKey("not a PKCS#8 PrivateKeyInfo (truncated)")
    return data[pos : pos + length], pos + length


def _json(value: Mapping[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
