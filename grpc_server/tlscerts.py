"""The TLS certificates of the GREP11 TLS port, kept in ``<state-dir>/tls/``.

The first start creates a CA and a server certificate signed by it, both with EC P-256 keys.
Later starts load them, so clients keep trusting the same CA file (``ca.pem``). The server
certificate names DNS ``localhost`` and IP 127.0.0.1 and ::1; clients that dial any other name
fail host name verification.

Private keys are written with mode 0600. Every file is written to a temporary name first and
then renamed, so a crash leaves either the old file or the complete new one.
"""

import datetime
import fcntl
import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

TLS_FOLDER = "tls"
CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
LOCK_FILE = ".lock"

CA_VALIDITY = datetime.timedelta(days=3650)
SERVER_VALIDITY = datetime.timedelta(days=825)
# A server certificate this close to its expiry is replaced on start.
RENEWAL_MARGIN = datetime.timedelta(days=30)
SERVER_NAMES = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    x509.IPAddress(ipaddress.ip_address("::1")),
)


class TLSFilesError(Exception):
    """The TLS files in the state folder are incomplete or unreadable."""


@dataclass(frozen=True)
class ServerCredentials:
    """PEM files and bytes that the TLS port serves, and the CA that signed them."""

    ca_cert_path: str
    server_cert_path: str
    server_key_path: str
    server_cert_pem: bytes
    server_key_pem: bytes


def _write_atomically(path: str, data: bytes, mode: int) -> None:
    temporary = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate_builder(subject: x509.Name, issuer: x509.Name, key, validity):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _create_ca():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "grep11-emulator local CA")])
    certificate = (
        _certificate_builder(name, name, key, CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
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
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _create_server_certificate(ca_certificate: x509.Certificate, ca_key):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    certificate = (
        _certificate_builder(name, ca_certificate.subject, key, SERVER_VALIDITY)
        .add_extension(x509.SubjectAlternativeName(list(SERVER_NAMES)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return certificate, key


def _server_files_usable(paths: dict, ca_certificate: x509.Certificate) -> bool:
    """Return whether the server certificate and key exist, match, and are issued by the CA."""
    try:
        with open(paths[SERVER_CERT_FILE], "rb") as handle:
            certificate = x509.load_pem_x509_certificate(handle.read())
        with open(paths[SERVER_KEY_FILE], "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
    except (OSError, ValueError):
        return False
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        certificate.not_valid_after_utc - RENEWAL_MARGIN > now
        and certificate.issuer == ca_certificate.subject
        and certificate.public_key() == key.public_key()
    )


def ensure_server_credentials(state_dir: str) -> ServerCredentials:
    """Load the CA and server certificate from ``state_dir``, creating what is missing.

    A missing CA certificate is created with a new key, together with a new server certificate.
    A missing, mismatched, expiring or foreign server certificate is reissued under the existing
    CA. A CA certificate whose key is missing or unreadable raises ``TLSFilesError``, because
    replacing the CA would break every client that trusts it.
    """
    folder = os.path.join(state_dir, TLS_FOLDER)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    paths = {
        name: os.path.join(folder, name)
        for name in (CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE)
    }

    # Two processes that start on one state folder must not create two different CAs.
    with open(os.path.join(folder, LOCK_FILE), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _ensure_files(paths)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    with open(paths[SERVER_CERT_FILE], "rb") as handle:
        server_cert_pem = handle.read()
    with open(paths[SERVER_KEY_FILE], "rb") as handle:
        server_key_pem = handle.read()
    return ServerCredentials(
        ca_cert_path=paths[CA_CERT_FILE],
        server_cert_path=paths[SERVER_CERT_FILE],
        server_key_path=paths[SERVER_KEY_FILE],
        server_cert_pem=server_cert_pem,
        server_key_pem=server_key_pem,
    )


def _ensure_files(paths: dict) -> None:
    if not os.path.exists(paths[CA_CERT_FILE]):
        # The certificate is written after the key, so a key without a certificate is the
        # remains of an interrupted first start, which no client can trust yet.
        ca_certificate, ca_key = _create_ca()
        _write_atomically(paths[CA_KEY_FILE], _key_pem(ca_key), 0o600)
        _write_atomically(
            paths[CA_CERT_FILE], ca_certificate.public_bytes(serialization.Encoding.PEM), 0o644
        )
        logger.info("created TLS CA certificate %s", paths[CA_CERT_FILE])
    else:
        ca_certificate, ca_key = _load_ca(paths)

    if not _server_files_usable(paths, ca_certificate):
        certificate, key = _create_server_certificate(ca_certificate, ca_key)
        _write_atomically(paths[SERVER_KEY_FILE], _key_pem(key), 0o600)
        _write_atomically(
            paths[SERVER_CERT_FILE], certificate.public_bytes(serialization.Encoding.PEM), 0o644
        )
        logger.info("issued TLS server certificate %s", paths[SERVER_CERT_FILE])


def _load_ca(paths: dict):
    try:
        with open(paths[CA_CERT_FILE], "rb") as handle:
            ca_certificate = x509.load_pem_x509_certificate(handle.read())
        with open(paths[CA_KEY_FILE], "rb") as handle:
            ca_key = serialization.load_pem_private_key(handle.read(), password=None)
    except (OSError, ValueError) as error:
        raise TLSFilesError(
            f"cannot load the TLS CA from {os.path.dirname(paths[CA_CERT_FILE])}: {error}. "
            "Restore ca.pem and ca-key.pem, or delete the tls folder to create a new CA that "
            "clients must then trust"
        ) from error
    return ca_certificate, ca_key
