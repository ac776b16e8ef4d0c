"""Certificates, servers and clients shared by the ``test_certmgr_*`` modules.

Test modules import the fixtures they use from here. Every server is a real uvicorn server over
TLS on a free loopback port, with a real SQLite store in the test's temporary folder.
"""

import datetime
import ipaddress
import json
import os
import ssl
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Optional

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from certmgr import iam, signing
from certmgr.http import create_app, serve_in_thread
from certmgr.store import CertificateStore

UTC = datetime.timezone.utc
TOKEN_SIGNING_KEY = b"k" * 32
API_KEYS = [
    {"apikey": "alice-key", "name": "alice", "roles": ["Certificate Manager"]},
    {"apikey": "bob-key", "name": "bob", "roles": ["Manager", "Certificate Manager"]},
    {"apikey": "writer-key", "name": "carol", "roles": ["Writer"]},
]


# --- certificates


@dataclass
class Issued:
    """A certificate with its key, as objects and as PEM text."""

    certificate: x509.Certificate
    key: object

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def make_certificate(
    common_name: str,
    ca: Optional[bool] = True,
    issuer: Optional[Issued] = None,
    not_before: Optional[datetime.datetime] = None,
    not_after: Optional[datetime.datetime] = None,
    key=None,
    key_cert_sign: Optional[bool] = True,
    san_ip: Optional[str] = None,
) -> Issued:
    """Issue a certificate; ``ca=None`` leaves out basicConstraints, ``key_cert_sign=None``
    leaves out keyUsage."""
    now = datetime.datetime.now(UTC)
    key = key or ec.generate_private_key(ec.SECP256R1())

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.certificate.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - datetime.timedelta(days=1))
        .not_valid_after(not_after or now + datetime.timedelta(days=365))
    )

    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=None), critical=True
        )

    if key_cert_sign is not None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=key_cert_sign,
                crl_sign=key_cert_sign,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )

    if san_ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san_ip))]),
            critical=False,
        )

    signer = issuer.key if issuer else key
    # Ed25519 signs without a separate hash.
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer, algorithm), key)


def rsa_key(bits: int):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass
class TLSFiles:
    ca_path: str
    cert_path: str
    key_path: str


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> TLSFiles:
    """A CA and a server certificate for 127.0.0.1, written as PEM files."""
    folder = tmp_path_factory.mktemp("certmgr-tls")
    ca = make_certificate("certmgr test CA")
    server = make_certificate("127.0.0.1", ca=False, issuer=ca, key_cert_sign=None,
                              san_ip="127.0.0.1")
    paths = TLSFiles(str(folder / "ca.pem"), str(folder / "server.pem"),
                     str(folder / "server-key.pem"))
    with open(paths.ca_path, "w") as handle:
        handle.write(ca.pem)
    with open(paths.cert_path, "w") as handle:
        handle.write(server.pem)
    with open(paths.key_path, "wb") as handle:
        handle.write(server.key_pem)
    return paths


# --- servers


class Clock:
    """A settable clock in Unix seconds, starting at the real time."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class RunningServer:
    """A certificate-manager server under test and what a test needs to reach it."""

    url: str
    port: int
    store: CertificateStore
    store_path: str
    tls: TLSFiles
    token_service: Optional[iam.TokenService]
    clock: Clock

    def http(self, **kwargs) -> httpx.Client:
        context = ssl.create_default_context(cafile=self.tls.ca_path)
        return httpx.Client(base_url=self.url, verify=context, timeout=30, **kwargs)


def start_server(tmp_path, tls: TLSFiles, with_iam: bool):
    store_path = str(tmp_path / "certmgr.db")
    store = CertificateStore(store_path)
    clock = Clock()
    token_service = None
    if with_iam:
        config = iam.IAMConfig.from_document(API_KEYS)
        token_service = iam.TokenService(config, TOKEN_SIGNING_KEY, clock=clock)
    app = create_app(store, token_service=token_service)
    handle = serve_in_thread(app, "127.0.0.1", 0, tls.cert_path, tls.key_path)
    server = RunningServer(
        url=f"https://127.0.0.1:{handle.port}",
        port=handle.port,
        store=store,
        store_path=store_path,
        tls=tls,
        token_service=token_service,
        clock=clock,
    )
    return server, handle


@pytest.fixture
def certmgr_server(tmp_path, tls_files):
    """A server without IAM: administrators are named by the X-Certmgr-Admin header."""
    server, handle = start_server(tmp_path, tls_files, with_iam=False)
    yield server
    handle.stop()
    server.store.close()


@pytest.fixture
def certmgr_iam_server(tmp_path, tls_files):
    """A server with IAM on, over the API keys in ``API_KEYS``."""
    server, handle = start_server(tmp_path, tls_files, with_iam=True)
    yield server
    handle.stop()
    server.store.close()


# --- requests


def admin_headers(admin: Optional[str]) -> dict:
    return {"X-Certmgr-Admin": admin} if admin else {}


def signed_call(client: httpx.Client, key, method: str, path: str, body=None,
                headers: Optional[dict] = None, **signing_options) -> httpx.Response:
    """Send a request signed with ``key``; ``signing_options`` go to ``sign_request``."""
    content = json.dumps(body).encode() if body is not None else b""
    all_headers = dict(headers or {})
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    all_headers.update(signing.sign_request(key, method, path, content, **signing_options))
    return client.request(method, path, content=content, headers=all_headers)


def register_admin(client: httpx.Client, admin: Optional[str] = None, key=None,
                   headers: Optional[dict] = None):
    """Register a new (or the given) admin key for ``admin`` and return the private key."""
    key = key or signing.generate_admin_key()
    response = client.post(
        "/v1/admin-key",
        json={"key_id": str(uuid.uuid4()), "public_key": signing.public_key_pem(key)},
        headers={**admin_headers(admin), **(headers or {})},
    )
    assert response.status_code == 201, response.text
    return key


def error_of(response: httpx.Response) -> str:
    """Return the ``error`` code of an error response, asserting the error body's shape."""
    body = response.json()
    assert set(body) <= {"error", "message", "details"}, body
    assert isinstance(body["message"], str) and body["message"], body
    return body["error"]


def certmgr_command() -> list:
    """Return the installed ``grep11-certmgr`` next to this Python, else ``python -m``."""
    script = os.path.join(os.path.dirname(sys.executable), "grep11-certmgr")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "certmgr.cli"]
