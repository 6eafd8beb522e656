"""The Salesforce connected app's certificate for the JWT-bearer grant, made from the KMS signing key.

Salesforce verifies JWT-bearer assertions with the certificate uploaded to the connected app
("Use digital signatures"). claimsync signs with an asymmetric KMS key (``RSA_2048``,
``SIGN_VERIFY``) whose private half never leaves KMS, so the certificate is built here from the
key's public half (KMS ``GetPublicKey``) and self-signed **by KMS**: ``cryptography`` builds the
X.509 TBSCertificate and asks ``KmsRsaKey.sign`` — one KMS ``Sign`` call,
``RSASSA_PKCS1_V1_5_SHA_256`` (sha256WithRSAEncryption) — for its signature.

    claimsync salesforce-certificate [--key-id alias/claimsync-salesforce-jwt] [--days 730] [--out FILE]

Locally the same code runs on moto's KMS: the local world creates a signing key in moto, uploads
its certificate to the Salesforce emulator's admin interface (instead of Setup) and stores a
``grant: jwt`` secret, so every local sync logs in through KMS-signed assertions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import NoDigestInfo, Prehashed
from cryptography.x509.oid import NameOID

from claimsync import jwt_bearer

DEFAULT_KEY_ALIAS = "alias/claimsync-salesforce-jwt"  # stacks/secrets.py names it for the default prefix
DEFAULT_DAYS = 730
DEFAULT_COMMON_NAME = "claimsync JWT bearer"


class CertificateError(Exception):
    """The key cannot make a connected-app certificate (wrong key type, or KMS refused)."""


class KmsRsaKey(rsa.RSAPrivateKey):
    """An RSA private key whose only operation is KMS ``Sign`` (PKCS#1 v1.5, SHA-256).

    ``cryptography``'s certificate builder calls ``sign(data, PKCS1v15(), SHA256())``; everything
    that would need the private numbers raises: they do not exist outside KMS.
    """

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self.key_id = key_id
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = kms.get_public_key(KeyId=key_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            raise CertificateError(f"KMS GetPublicKey of {key_id} failed: {code}") from None
        except BotoCoreError as exc:
            raise CertificateError(f"KMS GetPublicKey of {key_id} failed: {type(exc).__name__}") from None
        if answer.get("KeyUsage") != jwt_bearer.KEY_USAGE or jwt_bearer.SIGNING_ALGORITHM not in answer.get(
            "SigningAlgorithms", []
        ):
            raise CertificateError(
                f"KMS key {key_id} is not an RSA SIGN_VERIFY key that supports {jwt_bearer.SIGNING_ALGORITHM}"
            )
        public = serialization.load_der_public_key(answer["PublicKey"])
        if not isinstance(public, rsa.RSAPublicKey):
            raise CertificateError(f"KMS key {key_id} is not an RSA key")
        self._public = public
        self.key_arn = str(answer.get("KeyId", key_id))

    def sign(
        self,
        data: bytes,
        padding: padding.AsymmetricPadding,
        algorithm: Prehashed | hashes.HashAlgorithm | NoDigestInfo,
    ) -> bytes:
        if not isinstance(padding, _PKCS1v15) or not isinstance(algorithm, hashes.SHA256):
            raise CertificateError("the KMS key signs PKCS#1 v1.5 with SHA-256 only")
        try:
            return jwt_bearer.KmsSigner(self._kms, self.key_id)(data)
        except jwt_bearer.SigningError as exc:
            raise CertificateError(f"KMS Sign failed: {exc.code}") from None

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        _no_private_material()

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _no_private_material()

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        _no_private_material()

    def __copy__(self) -> KmsRsaKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> KmsRsaKey:
        return self


_PKCS1v15 = padding.PKCS1v15


def _no_private_material() -> NoReturn:
    raise CertificateError("the private key exists only inside KMS")


def build_certificate(
    kms: Any,
    key_id: str,
    *,
    common_name: str = DEFAULT_COMMON_NAME,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
) -> x509.Certificate:
    """A self-signed X.509 certificate of the KMS key, signed by that key through KMS."""
    if not 1 <= days <= 3650:
        raise CertificateError("days must be between 1 and 3650")
    key = KmsRsaKey(kms, key_id)
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)  # tolerate clock skew at upload
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    try:  # KMS signed with the key whose public half is in the certificate
        certificate.verify_directly_issued_by(certificate)
    except Exception as exc:
        raise CertificateError(
            f"the certificate's signature does not verify ({type(exc).__name__})"
        ) from None
    return certificate


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def describe(certificate: x509.Certificate) -> str:
    return (
        f"subject {certificate.subject.rfc4514_string()}, valid until "
        f"{certificate.not_valid_after_utc:%Y-%m-%d}, SHA-256 fingerprint "
        f"{certificate.fingerprint(hashes.SHA256()).hex(':').upper()}"
    )


# -- the local world ----------------------------------------------------------------------------------


def create_signing_key(kms: Any, description: str) -> str:
    """A new asymmetric KMS signing key like the stack's (RSA_2048, SIGN_VERIFY); its ARN."""
    metadata = kms.create_key(
        KeySpec=jwt_bearer.KEY_SPEC, KeyUsage=jwt_bearer.KEY_USAGE, Description=description
    )["KeyMetadata"]
    return str(metadata["Arn"])


def local_jwt_secret(kms: Any, endpoints: dict[str, Any]) -> dict[str, str]:
    """For the local world: a KMS signing key in moto, its certificate uploaded to the Salesforce
    emulator's connected app, and the ``grant: jwt`` secret that signs with it."""
    import requests

    sf = endpoints["salesforce"]
    key_arn = create_signing_key(kms, "claimsync local: Salesforce JWT bearer signing key")
    pem = certificate_pem(build_certificate(kms, key_arn, common_name="claimsync local JWT bearer"))
    resp = requests.put(
        f"{sf['admin_url']}/connected-app/certificate", data=pem, verify=sf["ca_cert"], timeout=30
    )
    resp.raise_for_status()
    return {
        "grant": "jwt",
        "token_url": sf["token_url"],
        "client_id": sf["client_id"],
        "username": sf["username"],
        "kms_key_id": key_arn,
    }
