"""Admin signature keys and the signed requests of the certificate manager.

IBM does not publish the plug-in's key type or signature scheme, so the emulator defines both.

Admin keys: ``grep11-certmgr`` generates ECDSA keys on NIST P-521, the curve of HPCS's TKE
administrator signature keys, and writes them as PEM PKCS #8 (``<uuid>.priv``, unencrypted, mode
0600) and PEM SubjectPublicKeyInfo (``<uuid>.pub``). The UUID is a random version-4 UUID made per
key pair and registered with the server as the key ID. The server also accepts keys made
elsewhere on P-256 and P-384.

Signed requests (``cert set``, ``cert delete``, ``adminkey update``, ``adminkey delete``) carry
three headers:

- ``X-Certmgr-Timestamp``: Unix time in whole seconds, decimal;
- ``X-Certmgr-Nonce``: 16 to 64 characters from ``A-Z a-z 0-9 _ -``, fresh for every request;
- ``X-Certmgr-Signature``: standard base64 of the DER ECDSA signature over the canonical request,
  hashed with SHA-256 on P-256, SHA-384 on P-384 and SHA-512 on P-521.

The canonical request is these six lines joined by ``\\n`` (no trailing newline), UTF-8 encoded::

    grep11-certmgr-v1
    <HTTP method in capitals>
    <request path without the query string, for example /v1/certs/my-ca>
    <lower-case hex SHA-256 of the request body; the body of a DELETE is empty>
    <the X-Certmgr-Timestamp value>
    <the X-Certmgr-Nonce value>

The server accepts a timestamp within ``TIMESTAMP_WINDOW_SECONDS`` of its clock and stores each
nonce until the timestamp leaves that window, so a captured request cannot be sent twice.
"""

import base64
import binascii
import hashlib
import re
import secrets
import time
from typing import Optional

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE_VERSION = "grep11-certmgr-v1"
TIMESTAMP_HEADER = "X-Certmgr-Timestamp"
NONCE_HEADER = "X-Certmgr-Nonce"
SIGNATURE_HEADER = "X-Certmgr-Signature"
TIMESTAMP_WINDOW_SECONDS = 300
NONCE_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
TIMESTAMP_PATTERN = r"^[0-9]{1,12}$"
# A DER ECDSA signature on P-521 is at most 139 bytes, 188 base64 characters.
MAX_SIGNATURE_CHARS = 256
MAX_PUBLIC_KEY_CHARS = 1024
ADMIN_KEY_CURVE = ec.SECP521R1()

_CURVE_HASHES = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


class SignatureRejected(ValueError):
    """A signed request fails verification. ``code`` names the check that failed."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class AdminKeyRejected(ValueError):
    """An uploaded admin public key is unusable."""


def generate_admin_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ADMIN_KEY_CURVE)


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key) -> str:
    """Return the PEM SubjectPublicKeyInfo of a private or public EC key."""
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """Parse an unencrypted PEM admin private key; ``ValueError`` names what is wrong."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError as error:
        raise ValueError(
            "the private key is encrypted; the emulator reads unencrypted PEM keys only"
        ) from error
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVE_HASHES:
        raise ValueError("the private key is not an EC key on P-256, P-384 or P-521")
    return key


def check_public_key(pem: str) -> str:
    """Parse an uploaded admin public key and return it as normalised PEM.

    Raises ``AdminKeyRejected`` unless it is a PEM SubjectPublicKeyInfo of an EC key on P-256,
    P-384 or P-521.
    """
    if len(pem) > MAX_PUBLIC_KEY_CHARS:
        raise AdminKeyRejected(
            f"the public key PEM has {len(pem)} characters; the maximum is {MAX_PUBLIC_KEY_CHARS}"
        )
    try:
        key = serialization.load_pem_public_key(pem.encode("utf-8", "surrogatepass"))
    except (ValueError, UnicodeError) as error:
        raise AdminKeyRejected(f"the public key is not a PEM public key: {error}") from error
    except UnsupportedAlgorithm as error:
        raise AdminKeyRejected(f"the public key uses an unsupported algorithm: {error}") from error
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVE_HASHES:
        raise AdminKeyRejected(
            "the admin key must be an EC key on P-256, P-384 or P-521 "
            "(grep11-certmgr makes P-521 keys)"
        )
    return public_key_pem(key)


def key_algorithm(public_key_pem_text: str) -> str:
    """Return a label such as ``ECDSA P-521`` for a stored admin public key."""
    key = serialization.load_pem_public_key(public_key_pem_text.encode("ascii"))
    return f"ECDSA P-{key.curve.key_size}"


def canonical_request(method: str, path: str, body: bytes, timestamp: str, nonce: str) -> bytes:
    """Return the bytes that a signed request's signature covers."""
    lines = (
        SIGNATURE_VERSION,
        method.upper(),
        path,
        hashlib.sha256(body).hexdigest(),
        timestamp,
        nonce,
    )
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def sign_request(
    key: ec.EllipticCurvePrivateKey,
    method: str,
    path: str,
    body: bytes,
    timestamp: Optional[int] = None,
    nonce: Optional[str] = None,
) -> dict:
    """Return the three signature headers for a request; a fresh nonce and now by default."""
    timestamp_text = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(24)
    message = canonical_request(method, path, body, timestamp_text, nonce)
    signature = key.sign(message, ec.ECDSA(_CURVE_HASHES[key.curve.name]()))
    return {
        TIMESTAMP_HEADER: timestamp_text,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
    }


def verify_request(
    public_key_pem_text: str,
    method: str,
    path: str,
    body: bytes,
    timestamp: Optional[str],
    nonce: Optional[str],
    signature: Optional[str],
    now: Optional[float] = None,
) -> int:
    """Verify a signed request against a registered public key and return its timestamp.

    Raises ``SignatureRejected`` with code ``missing_signature``, ``invalid_signature_headers``,
    ``stale_timestamp`` or ``invalid_signature``. The caller checks the nonce against the store.
    """
    missing = [
        name
        for name, value in (
            (TIMESTAMP_HEADER, timestamp),
            (NONCE_HEADER, nonce),
            (SIGNATURE_HEADER, signature),
        )
        if not value
    ]
    if missing:
        raise SignatureRejected(
            "missing_signature",
            f"this request must be signed with the admin private key; missing header(s): "
            f"{', '.join(missing)}",
        )
    if re.fullmatch(TIMESTAMP_PATTERN, timestamp) is None:
        raise SignatureRejected(
            "invalid_signature_headers",
            f"{TIMESTAMP_HEADER} must be Unix time in whole seconds",
        )
    if re.fullmatch(NONCE_PATTERN, nonce) is None:
        raise SignatureRejected(
            "invalid_signature_headers",
            f"{NONCE_HEADER} must be 16 to 64 characters from A-Z a-z 0-9 _ -",
        )
    if len(signature) > MAX_SIGNATURE_CHARS:
        raise SignatureRejected(
            "invalid_signature_headers", f"{SIGNATURE_HEADER} is longer than a signature can be"
        )
    try:
        signature_bytes = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureRejected(
            "invalid_signature_headers", f"{SIGNATURE_HEADER} is not valid base64"
        ) from None

    current = time.time() if now is None else now
    skew = int(timestamp) - current
    if abs(skew) > TIMESTAMP_WINDOW_SECONDS:
        raise SignatureRejected(
            "stale_timestamp",
            f"the request timestamp is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} "
            f"the server clock; the limit is {TIMESTAMP_WINDOW_SECONDS} s. Check the clock and "
            "send a newly signed request",
        )

    public_key = serialization.load_pem_public_key(public_key_pem_text.encode("ascii"))
    message = canonical_request(method, path, body, timestamp, nonce)
    try:
        public_key.verify(
            signature_bytes, message, ec.ECDSA(_CURVE_HASHES[public_key.curve.name]())
        )
    except InvalidSignature:
        raise SignatureRejected(
            "invalid_signature",
            "the signature does not verify against the registered admin public key; sign with "
            "the private key of the current admin key (--admin-priv-key)",
        ) from None
    return int(timestamp)
