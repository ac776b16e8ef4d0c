"""ML-KEM-512 keys on the emulator's own FIPS 203 code (``_kyber``).

The ``cryptography`` package offers ML-KEM-768 and ML-KEM-1024 only. These classes give
ML-KEM-512 the part of its key interface that ``pqckeys.PQCKey`` uses, with the same encodings
that ``cryptography`` writes for the other two sets: the SubjectPublicKeyInfo of RFC 9935 (OID
2.16.840.1.101.3.4.4.1, no parameters) and a PKCS #8 PrivateKeyInfo that contains the 64-byte
seed d || z in the ``[0] IMPLICIT OCTET STRING`` choice.
"""

import os

from cryptography.hazmat.primitives import serialization

from . import _kyber
from .der import DERError, encode_element, encode_oid, read_element

VARIANT = "ml-kem-512"
OID = encode_oid("2.16.840.1.101.3.4.4.1")
SEED_BYTES = 64
_SEQUENCE = 0x30
_BIT_STRING = 0x03
_OCTET_STRING = 0x04
_SEED_CHOICE = 0x80
_INTEGER_ZERO = b"\x02\x01\x00"
_ALGORITHM = encode_element(_SEQUENCE, OID)
PUBLIC_KEY_BYTES, PRIVATE_KEY_BYTES, CIPHERTEXT_BYTES, SHARED_SECRET_BYTES = _kyber.sizes(VARIANT)


class MLKEM512KeyError(ValueError):
    """The DER is not an ML-KEM-512 key."""


class MLKEM512PublicKey:
    """An ML-KEM-512 encapsulation key."""

    def __init__(self, public_key: bytes):
        _kyber.check_public_key(VARIANT, public_key)
        self._public_key = public_key

    @classmethod
    def from_spki(cls, der: bytes) -> "MLKEM512PublicKey":
        try:
            content, end = read_element(der, 0, _SEQUENCE)
            algorithm, offset = read_element(content, 0, _SEQUENCE)
            bits, offset = read_element(content, offset, _BIT_STRING)
        except DERError as error:
            raise MLKEM512KeyError(f"not an ML-KEM-512 SubjectPublicKeyInfo: {error}") from None
        if end != len(der) or offset != len(content) or algorithm != OID:
            raise MLKEM512KeyError("not an ML-KEM-512 SubjectPublicKeyInfo")
        if bits[:1] != b"\x00" or len(bits) != PUBLIC_KEY_BYTES + 1:
            raise MLKEM512KeyError(f"an ML-KEM-512 public key is {PUBLIC_KEY_BYTES} bytes")
        try:
            return cls(bits[1:])
        except ValueError as error:
            raise MLKEM512KeyError(str(error)) from None

    def public_bytes(self, encoding, format) -> bytes:
        if (encoding, format) != (
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        ):
            raise ValueError("ML-KEM-512 public keys are written as DER SubjectPublicKeyInfo only")
        bits = encode_element(_BIT_STRING, b"\x00" + self._public_key)
        return encode_element(_SEQUENCE, _ALGORITHM + bits)

    def encapsulate(self):
        """Return (shared secret, ciphertext), like ``cryptography``'s ML-KEM keys."""
        ciphertext, shared_secret = _kyber.encapsulate(
            VARIANT, self._public_key, os.urandom(32)
        )
        return shared_secret, ciphertext


class MLKEM512PrivateKey:
    """An ML-KEM-512 decapsulation key, kept as its seed and the expanded keys."""

    def __init__(self, seed: bytes):
        if len(seed) != SEED_BYTES:
            raise ValueError(f"an ML-KEM seed is {SEED_BYTES} bytes, got {len(seed)}")
        self._seed = bytes(seed)
        self._public_key, self._private_key = _kyber.keypair(VARIANT, self._seed)

    @classmethod
    def generate(cls) -> "MLKEM512PrivateKey":
        return cls(os.urandom(SEED_BYTES))

    @classmethod
    def from_pkcs8(cls, der: bytes) -> "MLKEM512PrivateKey":
        try:
            content, end = read_element(der, 0, _SEQUENCE)
            if not content.startswith(_INTEGER_ZERO):
                raise MLKEM512KeyError("not a version 0 PKCS #8 PrivateKeyInfo")
            algorithm, offset = read_element(content, len(_INTEGER_ZERO), _SEQUENCE)
            octets, offset = read_element(content, offset, _OCTET_STRING)
            seed, seed_end = read_element(octets, 0, _SEED_CHOICE)
        except DERError as error:
            raise MLKEM512KeyError(f"not an ML-KEM-512 PKCS #8 private key: {error}") from None
        if end != len(der) or algorithm != OID:
            raise MLKEM512KeyError("not an ML-KEM-512 PKCS #8 private key")
        # NOTE: only the seed form is read; the expanded-key and both-forms choices of
        # RFC 9935 are rejected, as ``cryptography`` writes the seed form.
        if offset != len(content) or seed_end != len(octets) or len(seed) != SEED_BYTES:
            raise MLKEM512KeyError("an ML-KEM-512 PKCS #8 key must hold the 64-byte seed form")
        return cls(seed)

    def public_key(self) -> MLKEM512PublicKey:
        return MLKEM512PublicKey(self._public_key)

    def private_bytes(self, encoding, format, encryption_algorithm) -> bytes:
        if (encoding, format) != (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8):
            raise ValueError("ML-KEM-512 private keys are written as DER PKCS #8 only")
        if not isinstance(encryption_algorithm, serialization.NoEncryption):
            raise ValueError("ML-KEM-512 private keys are written without encryption")
        seed = encode_element(_SEED_CHOICE, self._seed)
        return encode_element(
            _SEQUENCE,
            _INTEGER_ZERO + _ALGORITHM + encode_element(_OCTET_STRING, seed),
        )

    def decapsulate(self, ciphertext: bytes) -> bytes:
        return _kyber.decapsulate(VARIANT, self._private_key, bytes(ciphertext))
