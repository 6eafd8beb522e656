"""The JWT-bearer assertion's RS256 signature: three ways to make it, measured for the Lambda bundle.

    .venv/bin/python -m bench.jwt_signing [--repeat N] [--signs N]

Candidates (each installed for the deployed target with ``stacks.bundling``, pinned):

- ``rsa``: the pure-Python ``rsa`` 4.9.1 + ``pyasn1`` 0.6.5 (archived by its maintainer in 2025;
  what claimsync used before), private key PEM held in the secret;
- ``pyjwt+cryptography``: PyJWT 2.15.1 with ``cryptography`` 50.0.2 (OpenSSL), private key PEM in
  the secret;
- ``kms``: nothing bundled: ``boto3`` (provided by the Lambda runtime) calls KMS ``Sign`` on an
  asymmetric key (RSA_2048, RSASSA_PKCS1_V1_5_SHA_256); the private key never leaves KMS. Here
  KMS is moto's, over HTTP on 127.0.0.1: its latency is loopback + moto's own signing, **not**
  AWS's; a real ``Sign`` is one in-region HTTPS call.

Figures: bytes added to the deployed (arm64 / cp312) bundle; in a clean interpreter
(``-S -E -B``) of the x86_64 / cp311 variant: import time, the first assertion (key load or
client creation + sign), and the median of ``--signs`` further assertions. Median of ``--repeat``
interpreters.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from stacks.bundling import CACHE_DIR, BundleTarget, install_requirements, runtime_provided_dir

DEPLOYED = BundleTarget(python_version="3.12", architecture="aarch64")
HOST = BundleTarget(python_version=f"{sys.version_info[0]}.{sys.version_info[1]}", architecture="x86_64")
CANDIDATES: dict[str, list[str]] = {
    "rsa": ["rsa==4.9.1", "pyasn1==0.6.5"],
    "pyjwt+cryptography": ["pyjwt==2.15.1", "cryptography==50.0.2"],
    "kms": [],
}

# Run in the clean interpreter: argv = [paths..., "--", candidate, key_or_endpoint, key_id, signs]
PROBE = r"""
import base64, json, statistics, sys, time
split = sys.argv.index("--")
sys.path[:0] = sys.argv[1:split]
candidate, secret, key_id, signs = sys.argv[split + 1], sys.argv[split + 2], sys.argv[split + 3], int(sys.argv[split + 4])
claims = {"iss": "3MVG9" + "x" * 80, "sub": "integration@example.com", "aud": "https://login.salesforce.com", "exp": 1900000000}
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
signing_input = (b64(b'{"alg":"RS256","typ":"JWT"}') + "." + b64(json.dumps(claims, separators=(",", ":")).encode())).encode()
t0 = time.perf_counter()
if candidate == "rsa":
    import rsa
    t1 = time.perf_counter()
    key = rsa.PrivateKey.load_pkcs1(open(secret, "rb").read())
    sign = lambda: rsa.sign(signing_input, key, "SHA-256")
elif candidate == "pyjwt+cryptography":
    import jwt
    from cryptography.hazmat.primitives import serialization
    t1 = time.perf_counter()
    key = serialization.load_pem_private_key(open(secret, "rb").read(), password=None)
    sign = lambda: jwt.encode(claims, key, algorithm="RS256")
else:
    import boto3
    t1 = time.perf_counter()
    kms = boto3.client("kms", endpoint_url=secret, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    sign = lambda: kms.sign(KeyId=key_id, Message=signing_input, MessageType="RAW",
                            SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
t2 = time.perf_counter()
sign()
t3 = time.perf_counter()
warm = []
for _ in range(signs):
    s = time.perf_counter(); sign(); warm.append(time.perf_counter() - s)
print(json.dumps({"import": t1 - t0, "setup": t2 - t1, "first": t3 - t2, "warm": statistics.median(warm)}))
"""


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.name != ".complete")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="JWT signing: bundle size, cold start, latency")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--signs", type=int, default=20)
    args = parser.parse_args(argv)

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per Sign otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        kms = boto3.client(
            "kms",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            pem = Path(tmp) / "key.pem"
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem.write_bytes(
                private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                )
            )
            runtime = runtime_provided_dir(HOST)
            for name, lines in CANDIDATES.items():
                deployed = (
                    tree_size(install_requirements(f"bench-{name}", lines, DEPLOYED, CACHE_DIR, hashed=False))
                    if lines
                    else 0
                )
                paths = (
                    [str(install_requirements(f"bench-{name}", lines, HOST, CACHE_DIR, hashed=False))]
                    if lines
                    else []
                )
                secret = endpoint if name == "kms" else str(pem)
                samples = []
                for _ in range(args.repeat):
                    out = subprocess.run(
                        [sys.executable, "-S", "-E", "-B", "-c", PROBE, *paths, str(runtime), "--",
                         name, secret, key_id, str(args.signs)],
                        env={"PATH": "/usr/bin:/bin"},
                        capture_output=True, text=True, check=True,
                    )  # fmt: skip
                    samples.append(json.loads(out.stdout))
                results[name] = {
                    "bundle_bytes": deployed,
                    **{
                        k: statistics.median(s[k] for s in samples)
                        for k in ("import", "setup", "first", "warm")
                    },
                }
    finally:
        server.stop()
    print(
        f"{'candidate':20s} {'bundle +':>10s} {'import':>9s} {'key/client':>11s} {'first sign':>11s} {'warm sign':>10s}"
    )
    for name, r in results.items():
        print(
            f"{name:20s} {r['bundle_bytes'] / 1e6:8.1f} MB {r['import'] * 1000:7.0f} ms {r['setup'] * 1000:8.1f} ms "
            f"{r['first'] * 1000:8.1f} ms {r['warm'] * 1000:8.2f} ms"
        )
    print(
        "kms: moto on 127.0.0.1 (loopback + moto's signing), not AWS; import = boto3 itself, which every handler already imports"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
