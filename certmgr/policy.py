"""What the certificate manager accepts: identifiers, limits and checks of uploaded CA certificates.

IBM publishes no limits for the certificate manager, so these are the emulator's own choices:

- Certificate IDs: 1 to 128 characters from ``A-Z a-z 0-9 . _ ~ -`` (the URL unreserved set, so
  an ID needs no escaping in a path), starting with a letter or digit. IDs are unique per
  administrator; two administrators may use the same ID.
- Administrator names (the IAM identity, or the ``X-Certmgr-Admin`` header while IAM is off):
  1 to 128 characters from ``A-Z a-z 0-9 . _ @ + -``, starting with a letter or digit.
- At most 100 CA certificates per administrator, 500 per instance and 100 administrators with an
  admin key. Every TLS handshake of the GREP11 side loads the whole trust store, so it stays
  small.
- A certificate PEM is at most 32,768 characters and contains exactly one certificate.

``check_ca_certificate`` accepts a certificate only when the PEM parses, basicConstraints has
CA:TRUE, keyUsage (when present) allows keyCertSign, the current time is within its validity
period, and its key is RSA of at least 2048 bits or EC on P-256, P-384 or P-521 (the keys that
TLS 1.2 and 1.3 client chains use).
"""

import contextlib
import datetime
import re
from dataclasses import dataclass
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# The header that names the administrator while IAM is off, and its default.
ADMIN_HEADER = "X-Certmgr-Admin"
DEFAULT_ADMIN = "admin"
CERT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$"
ADMIN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$"
MAX_CERTIFICATES_PER_ADMIN = 100
MAX_CERTIFICATES_TOTAL = 500
MAX_ADMINS = 100
MAX_PEM_CHARS = 32_768
MIN_RSA_BITS = 2048
ACCEPTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")

_PEM_CERTIFICATE_BEGIN = "-----BEGIN CERTIFICATE-----"


class CertificateRejected(ValueError):
    """An uploaded certificate fails a check. ``code`` names the check, the message the reason."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CheckedCertificate:
    """An accepted CA certificate: normalised PEM and the fields the store keeps."""

    pem: str
    subject: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    fingerprint_sha256: str


def is_cert_id(text: str) -> bool:
    return re.fullmatch(CERT_ID_PATTERN, text) is not None


def is_admin_name(text: str) -> bool:
    return re.fullmatch(ADMIN_NAME_PATTERN, text) is not None


def parse_ca_certificate(pem: str) -> x509.Certificate:
    """Parse one PEM certificate and check that it is a CA certificate, without the checks of
    its validity period and key.

    Raises ``CertificateRejected`` with one of the codes ``pem_too_large``, ``invalid_pem``,
    ``multiple_certificates``, ``not_a_ca`` or ``no_key_cert_sign``. The ``grep11-certmgr``
    command runs it on a local file before the upload.
    """
    if len(pem) > MAX_PEM_CHARS:
        raise CertificateRejected(
            "pem_too_large",
            f"the certificate PEM has {len(pem)} characters; the maximum is {MAX_PEM_CHARS}",
        )
    count = pem.count(_PEM_CERTIFICATE_BEGIN)
    if count == 0:
        raise CertificateRejected(
            "invalid_pem", f"no '{_PEM_CERTIFICATE_BEGIN}' block found: the file is not a PEM "
            "certificate"
        )
    if count > 1:
        raise CertificateRejected(
            "multiple_certificates",
            f"the PEM holds {count} certificates; upload each CA certificate with its own ID",
        )
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("utf-8", "surrogatepass"))
    except (ValueError, UnicodeError) as error:
        raise CertificateRejected(
            "invalid_pem", f"the PEM certificate does not parse: {error}"
        ) from error

    # cryptography parses names, times and extensions lazily, so a malformed field raises
    # ValueError only when a check reads it.
    with _malformed_fields_rejected():
        _check_ca_extensions(certificate)
    return certificate


def check_ca_certificate(
    pem: str, now: Optional[datetime.datetime] = None
) -> CheckedCertificate:
    """Check an uploaded CA certificate and return it normalised.

    Raises ``CertificateRejected`` with a code of ``parse_ca_certificate`` or one of
    ``not_yet_valid``, ``expired`` or ``unsupported_key``.
    """
    certificate = parse_ca_certificate(pem)
    with _malformed_fields_rejected():
        _check_validity(certificate, now or datetime.datetime.now(datetime.timezone.utc))
        _check_key(certificate)
        return CheckedCertificate(
            pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            subject=certificate.subject.rfc4514_string(),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex(),
        )


@contextlib.contextmanager
def _malformed_fields_rejected():
    """Turn a ValueError from a lazily parsed certificate field into ``invalid_pem``."""
    try:
        yield
    except CertificateRejected:
        raise
    except ValueError as error:
        raise CertificateRejected(
            "invalid_pem", f"the certificate has a malformed field: {error}"
        ) from error


def _check_ca_extensions(certificate: x509.Certificate) -> None:
    subject = certificate.subject.rfc4514_string()
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        raise CertificateRejected(
            "not_a_ca",
            f"certificate {subject} is not a CA certificate: it has no basicConstraints "
            "extension (CA:TRUE is required)",
        ) from None
    if not constraints.value.ca:
        raise CertificateRejected(
            "not_a_ca",
            f"certificate {subject} is not a CA certificate: basicConstraints has CA:FALSE",
        )
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return
    if not usage.value.key_cert_sign:
        raise CertificateRejected(
            "no_key_cert_sign",
            f"certificate {subject} cannot sign certificates: its keyUsage lacks keyCertSign",
        )


def _check_validity(certificate: x509.Certificate, now: datetime.datetime) -> None:
    subject = certificate.subject.rfc4514_string()
    if now < certificate.not_valid_before_utc:
        raise CertificateRejected(
            "not_yet_valid",
            f"certificate {subject} is not valid before "
            f"{certificate.not_valid_before_utc.isoformat()}",
        )
    if now > certificate.not_valid_after_utc:
        raise CertificateRejected(
            "expired",
            f"certificate {subject} expired on {certificate.not_valid_after_utc.isoformat()}",
        )


def _check_key(certificate: x509.Certificate) -> None:
    subject = certificate.subject.rfc4514_string()
    try:
        key = certificate.public_key()
    except (ValueError, TypeError) as error:
        raise CertificateRejected(
            "unsupported_key", f"the public key of certificate {subject} is unusable: {error}"
        ) from error
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CertificateRejected(
                "unsupported_key",
                f"certificate {subject} has an RSA key of {key.key_size} bits; the minimum is "
                f"{MIN_RSA_BITS}",
            )
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ACCEPTED_CURVES:
            raise CertificateRejected(
                "unsupported_key",
                f"certificate {subject} uses curve {key.curve.name}; accepted curves are "
                f"{', '.join(ACCEPTED_CURVES)}",
            )
        return
    raise CertificateRejected(
        "unsupported_key",
        f"certificate {subject} has a {type(key).__name__} key; accepted keys are RSA and EC",
    )
