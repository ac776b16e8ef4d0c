"""Helpers of the second-layer tests: certificates, the grep11-certmgr CLI and GREP11 calls.

Certificates come from ``cryptography`` here; the seed workflow in ``test_mtls.py`` makes its own
with the ``openssl`` command. Uploads and deletions run the real ``grep11-certmgr`` command in a
subprocess against the emulator's HTTPS port.
"""

import datetime
import glob
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import grpc
import pytest
from conftest import grep11_error
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ep11core.constants import CKR
from grpc_server.generated import grep11_pb2 as pb
from grpc_server.generated import grep11_pb2_grpc

CLI_TIMEOUT_SECONDS = 60
START_TIMEOUT_SECONDS = 60
CALL_TIMEOUT_SECONDS = 20
CRN = "crn:v1:bluemix:public:hs-crypto:us-south:a/0123456789:00000000-0000-0000-0000-000000000000::"


def console_command(script: str, module: str) -> list:
    """Return the installed console script next to this Python, else ``python -m module``."""
    path = os.path.join(os.path.dirname(sys.executable), script)
    if os.path.exists(path):
        return [path]
    return [sys.executable, "-m", module]


# --- certificates


@dataclass
class Issued:
    """A certificate with its key and the paths of their PEM files."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: str
    key_path: str

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


class CertificateFactory:
    """Issue CA and client certificates with EC P-256 keys into ``folder``."""

    def __init__(self, folder):
        self.folder = str(folder)

    def _save(self, name: str, certificate, key) -> Issued:
        issued = Issued(
            certificate,
            key,
            os.path.join(self.folder, f"{name}.pem"),
            os.path.join(self.folder, f"{name}-key.pem"),
        )
        with open(issued.cert_path, "wb") as handle:
            handle.write(issued.cert_pem)
        with open(issued.key_path, "wb") as handle:
            handle.write(issued.key_pem)
        return issued

    @staticmethod
    def _builder(common_name: str, issuer: Optional[Issued], key, not_before, not_after):
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.certificate.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )

    def ca(self, name: str, issuer: Optional[Issued] = None) -> Issued:
        """Issue a CA certificate, self-signed or under ``issuer`` (an intermediate)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = self._builder(
            name, issuer, key, now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30)
        ).add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                critical=False,
            )
        signer = issuer.key if issuer is not None else key
        return self._save(name, builder.sign(signer, hashes.SHA256()), key)

    def client(
        self,
        name: str,
        issuer: Issued,
        usages: Optional[Sequence[x509.ObjectIdentifier]] = (ExtendedKeyUsageOID.CLIENT_AUTH,),
        not_before: Optional[datetime.datetime] = None,
        not_after: Optional[datetime.datetime] = None,
    ) -> Issued:
        """Issue a client certificate; ``usages=None`` leaves out extendedKeyUsage."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = self._builder(
            name,
            issuer,
            key,
            not_before or now - datetime.timedelta(hours=1),
            not_after or now + datetime.timedelta(days=7),
        ).add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        if usages is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        return self._save(name, builder.sign(issuer.key, hashes.SHA256()), key)


# --- grep11-certmgr


class Administrator:
    """A certificate administrator using the real ``grep11-certmgr`` command."""

    def __init__(self, name: str, config_dir, endpoint: str, cacert: str):
        self.name = name
        self.config_dir = str(config_dir)
        self.endpoint = endpoint
        self.cacert = cacert

    def run(self, *arguments: str) -> subprocess.CompletedProcess:
        """Run one grep11-certmgr command as this administrator; fail the test on an error."""
        command = console_command("grep11-certmgr", "certmgr.cli") + list(arguments)
        command += [
            "--crn", CRN,
            "--endpoint", self.endpoint,
            "--cacert", self.cacert,
            "--config-dir", self.config_dir,
            "--admin-name", self.name,
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS
        )
        assert result.returncode == 0, (
            f"{' '.join(arguments)} exited with {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
        return result

    @property
    def private_key_path(self) -> str:
        paths = glob.glob(os.path.join(self.config_dir, "*.priv"))
        assert len(paths) == 1, f"expected one admin key in {self.config_dir}, found {paths}"
        return paths[0]

    def register(self) -> None:
        self.run("adminkey", "set")

    def upload(self, cert_id: str, cert_path: str) -> None:
        self.run(
            "cert", "set",
            "--admin-priv-key", self.private_key_path,
            "--cert-id", cert_id,
            "--cert", cert_path,
        )

    def delete(self, cert_id: str) -> None:
        self.run(
            "cert", "delete", "--admin-priv-key", self.private_key_path, "--cert-id", cert_id
        )


# --- GREP11 calls


def tls_channel(
    address: str,
    server_ca: bytes,
    client: Optional[Issued] = None,
    intermediates: Sequence[Issued] = (),
    options: Sequence[tuple] = (),
) -> grpc.Channel:
    """Open a TLS channel that trusts ``server_ca``.

    With ``client``, the channel presents that certificate followed by ``intermediates``.
    """
    if client is None:
        credentials = grpc.ssl_channel_credentials(root_certificates=server_ca)
    else:
        chain = client.cert_pem + b"".join(issued.cert_pem for issued in intermediates)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=server_ca, private_key=client.key_pem, certificate_chain=chain
        )
    return grpc.secure_channel(address, credentials, options=list(options))


def random_bytes(channel: grpc.Channel, metadata=None) -> bytes:
    """Call GenerateRandom for 16 bytes on ``channel``; raises ``grpc.RpcError`` on failure."""
    stub = grep11_pb2_grpc.CryptoStub(channel)
    request = pb.GenerateRandomRequest(Len=16)
    return stub.GenerateRandom(request, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS).Rnd


def expect_rejected(
    channel: grpc.Channel,
    status_code=grpc.StatusCode.UNAUTHENTICATED,
    metadata=None,
) -> str:
    """Expect GenerateRandom on ``channel`` to fail with ``status_code`` and a ``Grep11Error``.

    Returns the ``Grep11Error.Detail``, which names the failed check.
    """
    with pytest.raises(grpc.RpcError) as raised:
        random_bytes(channel, metadata)
    status, detail = grep11_error(raised.value, status_code)
    assert detail.Code == CKR.IBM_GREP11_NOT_AUTHENTICATED
    assert status.message == "CKR_IBM_GREP11_NOT_AUTHENTICATED"
    assert detail.Retry is False
    return detail.Detail


# --- grep11-emulator serve


class ServeProcess:
    """A ``grep11-emulator serve`` subprocess on free loopback ports, with its log in a file."""

    def __init__(self, folder, extra_arguments: Sequence[str] = ()):
        folder = str(folder)
        self.state_dir = os.path.join(folder, "state")
        self.ready_file = os.path.join(folder, "ready.json")
        self.log_file = os.path.join(folder, "serve.log")
        self.extra_arguments = list(extra_arguments)
        self.process: Optional[subprocess.Popen] = None
        self.ready: dict = {}

    def start(self) -> dict:
        command = console_command("grep11-emulator", "grpc_server.cli") + [
            "serve",
            "--state-dir", self.state_dir,
            "--port", "0",
            "--tls-port", "0",
            "--http-port", "0",
            "--ready-file", self.ready_file,
        ] + self.extra_arguments
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not os.path.exists(self.ready_file):
            if self.process.poll() is not None:
                pytest.fail(f"serve exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no ready file after {START_TIMEOUT_SECONDS} s:\n{self.log()}")
            time.sleep(0.05)
        with open(self.ready_file) as handle:
            self.ready = json.load(handle)
        return self.ready

    def log(self) -> str:
        with open(self.log_file, errors="replace") as handle:
            return handle.read()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=START_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
