"""IBM's pre-standard CRYSTALS keys: CKK_IBM_PQC_DILITHIUM and CKK_IBM_PQC_KYBER.

CKA_IBM_PQC_PARAMS, the DER OID of a strength, selects the variant. ``STRENGTHS`` lists them
with the algorithm each one runs; ``_dilithium.pyx`` and ``_kyber.pyx`` implement them, and
docs/ASYMMETRIC.md states exactly which specification version each follows.

IBM publishes no key encodings for these keys. The emulator uses:

- SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { strength OID, NULL }, BIT STRING public key }, with
  the public key in the reference encoding of the variant.
- PKCS #8 (sealed in private key blobs only): version 0, the same AlgorithmIdentifier, and an
  OCTET STRING that contains SEQUENCE { OCTET STRING private key, OCTET STRING public key }.

``LatticeKey`` offers the interface of ``pqckeys.PQCKey``, so the signature and KEM schemes of
``mechanisms/pqc.py`` serve both.
"""

import os
from dataclasses import dataclass
from typing import Dict, Optional

from . import _dilithium, _kyber
from .constants import CKK
from .der import DERError, encode_element, encode_oid, read_element

DILITHIUM = "DILITHIUM"
KYBER = "KYBER"

_SEQUENCE = 0x30
_OID = 0x06
_NULL = b"\x05\x00"
_INTEGER_ZERO = b"\x02\x01\x00"
_BIT_STRING = 0x03
_OCTET_STRING = 0x04
SEED_BYTES = {DILITHIUM: 32, KYBER: 64}
KEM_RANDOMNESS_BYTES = 32


@dataclass(frozen=True)
class Strength:
    """One Dilithium or Kyber strength: its OID, the variant that runs it, and its sizes."""

    algorithm: str
    name: str
    oid: str
    variant: str  # the variant name of _dilithium or _kyber
    public_key_bytes: int
    private_key_bytes: int
    output_bytes: int  # signature bytes (Dilithium) or ciphertext bytes (Kyber)
    category: int  # NIST post-quantum security category, 1 to 5

    @property
    def key_type(self) -> int:
        return CKK.IBM_PQC_DILITHIUM if self.algorithm == DILITHIUM else CKK.IBM_PQC_KYBER

    @property
    def der_oid(self) -> bytes:
        return encode_oid(self.oid)


def _dilithium_strength(name: str, oid: str, variant: str, category: int) -> Strength:
    public, private, signature = _dilithium.sizes(variant)
    return Strength(DILITHIUM, name, oid, variant, public, private, signature, category)


def _kyber_strength(name: str, oid: str, variant: str, category: int) -> Strength:
    public, private, ciphertext, _ = _kyber.sizes(variant)
    return Strength(KYBER, name, oid, variant, public, private, ciphertext, category)


# The OIDs are IBM's (ep11.h and the GREP11 samples). IBM names round-2 6-5 "high". The CEX7
# card offers only that strength, and the CEX8 card adds the others. The categories are NIST's
# for round 3 Dilithium2/3/5 and Kyber768/1024. NOTE: the round-2 Dilithium sets take the
# category of the round-3 set with the same matrix dimensions.
STRENGTHS = (
    _dilithium_strength("Dilithium round 2 6-5", "1.3.6.1.4.1.2.267.1.6.5", "r2-6x5", 3),
    _dilithium_strength("Dilithium round 2 8-7", "1.3.6.1.4.1.2.267.1.8.7", "r2-8x7", 5),
    _dilithium_strength("Dilithium round 3 4-4", "1.3.6.1.4.1.2.267.7.4.4", "r3-4x4", 2),
    _dilithium_strength("Dilithium round 3 6-5", "1.3.6.1.4.1.2.267.7.6.5", "r3-6x5", 3),
    _dilithium_strength("Dilithium round 3 8-7", "1.3.6.1.4.1.2.267.7.8.7", "r3-8x7", 5),
    _kyber_strength("Kyber round 2 768", "1.3.6.1.4.1.2.267.5.3.3", "kyber768-r2", 3),
    _kyber_strength("Kyber round 2 1024", "1.3.6.1.4.1.2.267.5.4.4", "kyber1024-r2", 5),
)
STRENGTH_BY_OID: Dict[bytes, Strength] = {entry.der_oid: entry for entry in STRENGTHS}
# Without CKA_IBM_PQC_PARAMS, Dilithium key pairs are round-2 6-5 (our choice: the only strength
# of the CEX7, the first card with Dilithium). Kyber has no default.
DEFAULT_STRENGTH = {DILITHIUM: STRENGTHS[0]}


class LatticeKeyError(ValueError):
    """The DER is not a Dilithium or Kyber key of a supported strength."""


class InvalidLatticeKeyError(LatticeKeyError):
    """The DER names a Dilithium or Kyber strength, but the key it contains is invalid."""


def _algorithm_identifier(strength: Strength) -> bytes:
    return encode_element(_SEQUENCE, strength.der_oid + _NULL)


def _read_algorithm(data: bytes, offset: int):
    """Return the strength named by the AlgorithmIdentifier at ``offset`` and the next offset."""
    identifier, offset = read_element(data, offset, _SEQUENCE)
    _, after = read_element(identifier, 0, _OID)
    strength = STRENGTH_BY_OID.get(identifier[: after])
    if strength is None:
        raise LatticeKeyError("the algorithm is not a Dilithium or Kyber strength")
    if identifier[after:] not in (b"", _NULL):
        raise LatticeKeyError("the AlgorithmIdentifier parameters must be NULL or absent")
    return strength, offset


def _check_length(strength: Strength, part: str, value: bytes, expected: int) -> None:
    if len(value) != expected:
        raise InvalidLatticeKeyError(f"a {strength.name} {part} is {expected} bytes, got {len(value)}")


class LatticeKey:
    """A Dilithium or Kyber private or public key."""

    curve: Optional[str] = None

    def __init__(self, strength: Strength, public_key: bytes, private_key: Optional[bytes]):
        self.parameter_set = strength
        self.key_type = strength.algorithm
        self.is_private = private_key is not None
        self._public_key = public_key
        self._private_key = private_key

    def __repr__(self) -> str:  # never show key material
        kind = "private" if self.is_private else "public"
        return f"LatticeKey({self.parameter_set.name}, {kind})"

    @classmethod
    def generate(cls, strength: Strength) -> "LatticeKey":
        seed = os.urandom(SEED_BYTES[strength.algorithm])
        module = _dilithium if strength.algorithm == DILITHIUM else _kyber
        public_key, private_key = module.keypair(strength.variant, seed)
        return cls(strength, public_key, private_key)

    @classmethod
    def from_spki(cls, der: bytes) -> "LatticeKey":
        der = bytes(der)
        try:
            content, end = read_element(der, 0, _SEQUENCE)
            if end != len(der):
                raise LatticeKeyError("bytes follow the SubjectPublicKeyInfo")
            strength, offset = _read_algorithm(content, 0)
            bits, offset = read_element(content, offset, _BIT_STRING)
        except DERError as error:
            raise LatticeKeyError(f"not a DER SubjectPublicKeyInfo: {error}") from None
        if offset != len(content) or bits[:1] != b"\x00":
            raise LatticeKeyError("the public key BIT STRING is malformed")
        public_key = bits[1:]
        _check_length(strength, "public key", public_key, strength.public_key_bytes)
        if strength.algorithm == KYBER:
            _kyber.check_public_key(strength.variant, public_key)
        return cls(strength, public_key, None)

    @classmethod
    def from_pkcs8(cls, der: bytes, pairwise_check: bool = True) -> "LatticeKey":
        """Parse the PKCS #8 form.

        With ``pairwise_check``, a Dilithium public key must equal the one that the private key
        gives, which also rejects private keys with coefficients out of range, and a Kyber
        public key must equal the one that the private key contains.
        """
        der = bytes(der)
        try:
            content, end = read_element(der, 0, _SEQUENCE)
            if end != len(der) or not content.startswith(_INTEGER_ZERO):
                raise LatticeKeyError("not a version 0 PKCS #8 PrivateKeyInfo")
            strength, offset = _read_algorithm(content, len(_INTEGER_ZERO))
            octets, offset = read_element(content, offset, _OCTET_STRING)
            pair, pair_end = read_element(octets, 0, _SEQUENCE)
            private_key, inner = read_element(pair, 0, _OCTET_STRING)
            public_key, inner = read_element(pair, inner, _OCTET_STRING)
        except DERError as error:
            raise LatticeKeyError(f"not a DER PKCS #8 private key: {error}") from None
        if offset != len(content) or pair_end != len(octets) or inner != len(pair):
            raise InvalidLatticeKeyError("bytes follow the key pair in the PKCS #8 private key")
        _check_length(strength, "private key", private_key, strength.private_key_bytes)
        _check_length(strength, "public key", public_key, strength.public_key_bytes)
        if pairwise_check and strength.algorithm == DILITHIUM:
            try:
                derived = _dilithium.public_key_of(strength.variant, private_key)
            except ValueError as error:
                message = f"invalid {strength.name} private key: {error}"
                raise InvalidLatticeKeyError(message) from None
            if derived != public_key:
                raise InvalidLatticeKeyError("the public key does not belong to the private key")
        if pairwise_check and strength.algorithm == KYBER:
            # The private key dk_PKE || ek || H(ek) || z contains the public key ek, which
            # decapsulation re-encrypts under, so it must be the public key given beside it.
            start = strength.private_key_bytes - strength.public_key_bytes - 64
            if private_key[start : start + strength.public_key_bytes] != public_key:
                raise InvalidLatticeKeyError("the public key does not belong to the private key")
        return cls(strength, public_key, private_key)

    @property
    def bits(self) -> int:
        """Bits of the encoded public key (lattice keys have no modulus or order size)."""
        return 8 * self.parameter_set.public_key_bytes

    def spki(self) -> bytes:
        bits = encode_element(_BIT_STRING, b"\x00" + self._public_key)
        return encode_element(_SEQUENCE, _algorithm_identifier(self.parameter_set) + bits)

    def pkcs8(self) -> bytes:
        if self._private_key is None:
            raise LatticeKeyError("a public key has no PKCS #8 form")
        pair = encode_element(
            _SEQUENCE,
            encode_element(_OCTET_STRING, self._private_key)
            + encode_element(_OCTET_STRING, self._public_key),
        )
        return encode_element(
            _SEQUENCE,
            _INTEGER_ZERO
            + _algorithm_identifier(self.parameter_set)
            + encode_element(_OCTET_STRING, pair),
        )

    def sign(self, data: bytes) -> bytes:
        return _dilithium.sign(self.parameter_set.variant, self._private_key, bytes(data))

    def verify(self, data: bytes, signature: bytes) -> bool:
        return _dilithium.verify(
            self.parameter_set.variant, self._public_key, bytes(data), bytes(signature)
        )

    def encapsulate(self):
        """Return (shared secret, ciphertext) under this public key."""
        randomness = os.urandom(KEM_RANDOMNESS_BYTES)
        ciphertext, shared_secret = _kyber.encapsulate(
            self.parameter_set.variant, self._public_key, randomness
        )
        return shared_secret, ciphertext

    def decapsulate(self, ciphertext: bytes) -> bytes:
        return _kyber.decapsulate(self.parameter_set.variant, self._private_key, bytes(ciphertext))
