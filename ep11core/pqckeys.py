"""ML-DSA and ML-KEM keys, through the OpenSSL build inside the ``cryptography`` package.

The system libcrypto (OpenSSL 3.0) has no post-quantum algorithms, so these keys use
``cryptography`` (version 50, the one tested: ML-DSA-44/65/87 with contexts, ML-KEM-768/1024).
ML-KEM-512, which ``cryptography`` lacks, runs on the emulator's own FIPS 203 code
(``mlkem512``). ``PQCKey`` offers
the part of the ``_crypto.PKey`` interface that the engine uses (``key_type``, ``is_private``,
``bits``, ``curve``, ``spki()``, ``pkcs8()``) plus the signature and KEM operations.

Algorithms: ML-DSA is FIPS 204 (pure ML-DSA with a context string, hedged signing), ML-KEM
is FIPS 203.
Keys use the seed form of RFC 9881 (ML-DSA) and RFC 9935 (ML-KEM) in PKCS #8, as
``cryptography`` writes them, and the SubjectPublicKeyInfo with the NIST OIDs
2.16.840.1.101.3.4.3.17-19 and 2.16.840.1.101.3.4.4.2-3.
"""

from dataclasses import dataclass
from typing import Dict, Optional

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

from .constants import CKK
from .mlkem512 import MLKEM512KeyError, MLKEM512PrivateKey, MLKEM512PublicKey

ML_DSA = "ML-DSA"
ML_KEM = "ML-KEM"


@dataclass(frozen=True)
class ParameterSet:
    """One ML-DSA or ML-KEM parameter set and its ``cryptography`` classes."""

    algorithm: str
    name: str
    number: int  # CKP_IBM_ML_DSA_* or CKP_IBM_ML_KEM_*, the value of CKA_IBM_PARAMETER_SET
    private_class: type
    public_class: type
    public_key_bytes: int
    output_bytes: int  # signature bytes (ML-DSA) or ciphertext bytes (ML-KEM)

    @property
    def key_type(self) -> int:
        return CKK.IBM_ML_DSA if self.algorithm == ML_DSA else CKK.IBM_ML_KEM


# The numbers are CKP_IBM_ML_DSA_44/65/87 = 1/2/3 (IBM ICSF samples). NOTE: CKP_IBM_ML_KEM_* are
# taken to be 512/768/1024 = 1/2/3 like the PKCS #11 3.2 CKP_ML_KEM_* values; no public IBM
# header shows them.
PARAMETER_SETS = (
    ParameterSet(ML_DSA, "ML-DSA-44", 1, mldsa.MLDSA44PrivateKey, mldsa.MLDSA44PublicKey, 1312, 2420),
    ParameterSet(ML_DSA, "ML-DSA-65", 2, mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey, 1952, 3309),
    ParameterSet(ML_DSA, "ML-DSA-87", 3, mldsa.MLDSA87PrivateKey, mldsa.MLDSA87PublicKey, 2592, 4627),
    ParameterSet(ML_KEM, "ML-KEM-512", 1, MLKEM512PrivateKey, MLKEM512PublicKey, 800, 768),
    ParameterSet(ML_KEM, "ML-KEM-768", 2, mlkem.MLKEM768PrivateKey, mlkem.MLKEM768PublicKey, 1184, 1088),
    ParameterSet(ML_KEM, "ML-KEM-1024", 3, mlkem.MLKEM1024PrivateKey, mlkem.MLKEM1024PublicKey, 1568, 1568),
)
PARAMETER_SET_BY_NUMBER: Dict[tuple, ParameterSet] = {
    (entry.algorithm, entry.number): entry for entry in PARAMETER_SETS
}


class PQCKeyError(ValueError):
    """The DER is not an ML-DSA or ML-KEM key of a supported parameter set."""


def _parameter_set_of(key) -> ParameterSet:
    for entry in PARAMETER_SETS:
        if isinstance(key, (entry.private_class, entry.public_class)):
            return entry
    raise PQCKeyError(f"{type(key).__name__} is not an ML-DSA or ML-KEM key")


class PQCKey:
    """An ML-DSA or ML-KEM private or public key."""

    curve: Optional[str] = None

    def __init__(self, key, parameter_set: ParameterSet):
        self._key = key
        self.parameter_set = parameter_set
        self.key_type = parameter_set.algorithm
        self.is_private = isinstance(key, parameter_set.private_class)

    def __repr__(self) -> str:  # never show key material
        kind = "private" if self.is_private else "public"
        return f"PQCKey({self.parameter_set.name}, {kind})"

    @classmethod
    def generate(cls, parameter_set: ParameterSet) -> "PQCKey":
        return cls(parameter_set.private_class.generate(), parameter_set)

    @classmethod
    def from_pkcs8(cls, der: bytes) -> "PQCKey":
        try:
            key = serialization.load_der_private_key(der, None)
        except (ValueError, UnsupportedAlgorithm):
            try:
                key = MLKEM512PrivateKey.from_pkcs8(der)
            except MLKEM512KeyError:
                raise PQCKeyError("not a DER PKCS #8 private key") from None
        return cls(key, _parameter_set_of(key))

    @classmethod
    def from_spki(cls, der: bytes) -> "PQCKey":
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, UnsupportedAlgorithm):
            try:
                key = MLKEM512PublicKey.from_spki(der)
            except MLKEM512KeyError:
                raise PQCKeyError("not a DER SubjectPublicKeyInfo") from None
        return cls(key, _parameter_set_of(key))

    def _public(self):
        return self._key.public_key() if self.is_private else self._key

    @property
    def bits(self) -> int:
        """Bits of the encoded public key (PQC keys have no modulus or order size)."""
        return 8 * self.parameter_set.public_key_bytes

    def spki(self) -> bytes:
        return self._public().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def pkcs8(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign(self, data: bytes, context: bytes = b"") -> bytes:
        """Sign ``data`` with pure ML-DSA and the FIPS 204 ``context`` string."""
        return self._key.sign(data, context)

    def verify(self, data: bytes, signature: bytes, context: bytes = b"") -> bool:
        try:
            self._public().verify(signature, data, context)
        except InvalidSignature:
            return False
        return True

    def encapsulate(self):
        """Return (shared secret, ciphertext) under this public key."""
        return self._public().encapsulate()

    def decapsulate(self, ciphertext: bytes) -> bytes:
        return self._key.decapsulate(ciphertext)
