"""Opened key objects, the curve table and key check values."""

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Dict, Optional

from . import _crypto
from .constants import CKA, CKK, CKO, CKR
from .der import encode_integer_sequence, encode_oid
from .errors import PKCS11Error
from .blskeys import BLSKey, BLSKeyError
from .latticekeys import InvalidLatticeKeyError, LatticeKey, LatticeKeyError
from .pqckeys import PQCKey, PQCKeyError

CHECK_VALUE_BYTES = 3


class CurveFamily(enum.Enum):
    """The curve forms, which decide the mechanisms a key on the curve serves."""

    WEIERSTRASS = "short Weierstrass"  # ECDSA, ECDH
    EDWARDS = "twisted Edwards"  # EdDSA
    MONTGOMERY = "Montgomery"  # X25519, X448 key agreement
    PAIRING = "pairing-friendly"  # BLS signatures (ep11core.blskeys)


@dataclass(frozen=True)
class Curve:
    """A named curve: its name, the OpenSSL short name, its OID, size in bits and family.

    ``bits`` is the bit length of the group order (Weierstrass curves) or of the raw key
    (Edwards and Montgomery curves). ``name`` is also accepted as the EP11 ASCII form of
    CKA_EC_PARAMS when ``ascii_params`` is set.
    """

    name: str
    openssl_name: str
    oid: str
    bits: int
    family: CurveFamily = CurveFamily.WEIERSTRASS
    ascii_params: bool = True

    @property
    def der_oid(self) -> bytes:
        return encode_oid(self.oid)


_BRAINPOOL_OID = "1.3.36.3.3.2.8.1.1"
# NOTE: EP11 documents ASCII CKA_EC_PARAMS names for the brainpool r1 curves ("BP-256R") but
# none for the twisted t1 curves, so those are accepted by OID only.
# RFC 5639: the r1 curve of each size has OID arc 2n - 1 under _BRAINPOOL_OID, its twist t1 2n.
_BRAINPOOL = tuple(
    Curve(
        f"BP-{bits}{form.upper()}",
        f"brainpoolP{bits}{form}1",
        f"{_BRAINPOOL_OID}.{2 * index + offset}",
        bits,
        ascii_params=form == "r",
    )
    for index, bits in enumerate((160, 192, 224, 256, 320, 384, 512), start=1)
    for form, offset in (("r", -1), ("t", 0))
)
# The Edwards and Montgomery curves of RFC 8410, with OpenSSL's key type names.
_RFC8410 = (
    Curve("Ed25519", "ED25519", "1.3.101.112", 256, CurveFamily.EDWARDS, False),
    Curve("Ed448", "ED448", "1.3.101.113", 456, CurveFamily.EDWARDS, False),
    Curve("X25519", "X25519", "1.3.101.110", 256, CurveFamily.MONTGOMERY, False),
    Curve("X448", "X448", "1.3.101.111", 448, CurveFamily.MONTGOMERY, False),
)
CURVES = (
    Curve("P-192", "prime192v1", "1.2.840.10045.3.1.1", 192),
    Curve("P-224", "secp224r1", "1.3.132.0.33", 224),
    Curve("P-256", "prime256v1", "1.2.840.10045.3.1.7", 256),
    Curve("P-384", "secp384r1", "1.3.132.0.34", 384),
    Curve("P-521", "secp521r1", "1.3.132.0.35", 521),
    Curve("secp256k1", "secp256k1", "1.3.132.0.10", 256),
    *_BRAINPOOL,
    *_RFC8410,
    # BLS12-381 keys are ``blskeys.BLSKey`` objects, whose curve name takes the place of an OpenSSL
    # name; their size is the field size that the name counts.
    Curve("BLS12-381", "BLS12-381", "1.3.6.1.4.1.2.267.999.3.2", 381, CurveFamily.PAIRING, False),
)
CURVE_BY_PARAMS: Dict[bytes, Curve] = {}
for _curve in CURVES:
    CURVE_BY_PARAMS[_curve.der_oid] = _curve
    if _curve.ascii_params:
        CURVE_BY_PARAMS[_curve.name.encode()] = _curve
CURVE_BY_OPENSSL_NAME = {curve.openssl_name: curve for curve in CURVES}


def curve_from_params(ec_params: bytes) -> Curve:
    """Look up CKA_EC_PARAMS given as a DER OID or as an EP11 ASCII curve name."""
    curve = CURVE_BY_PARAMS.get(bytes(ec_params))
    if curve is None:
        raise PKCS11Error(
            CKR.CURVE_NOT_SUPPORTED,
            f"CKA_EC_PARAMS {bytes(ec_params).hex()} names no supported curve",
        )
    return curve


@dataclass
class Key:
    """An opened key object.

    ``value`` is the secret key value, the DER PKCS #8 of a private key, or the DER SPKI of a
    public key. ``blob`` is the object as the caller sent it. ``concatenated`` marks the
    aggregate of a concatenation of BLS12-381 public key objects.
    """

    object_class: int
    key_type: int
    attributes: Dict[int, object]
    value: bytes
    blob: bytes = b""
    maced: bool = True
    _pkey: Optional[object] = field(default=None, repr=False)
    concatenated: bool = False

    def __repr__(self) -> str:  # never show key material
        return f"Key(class={self.object_class:#x}, type={self.key_type:#x})"

    @property
    def pkey(self):
        """The parsed key of a private or public key, parsed once."""
        if self._pkey is None:
            if self.object_class == CKO.PRIVATE_KEY:
                # The engine sealed this PKCS #8 itself, after checking it on import.
                self._pkey = load_pkcs8(self.value, pairwise_check=False)
            else:
                self._pkey = load_spki(self.value)
        return self._pkey

    @property
    def bits(self) -> int:
        if self.object_class == CKO.SECRET_KEY:
            return len(self.value) * 8
        return self.pkey.bits


def load_spki(der: bytes):
    """Parse a DER SubjectPublicKeyInfo with libcrypto, or as a post-quantum key.

    Raises ``_crypto.KeyFormatError`` when none of them parses it. BLS12-381 keys, which
    libcrypto does not know, are recognised by their fixed DER prefix first.
    """
    if BLSKey.is_spki(der):
        return _load_bls(BLSKey.from_spki, der)
    try:
        return _crypto.PKey.from_spki(der)
    except _crypto.KeyFormatError:
        pass
    try:
        return PQCKey.from_spki(der)
    except PQCKeyError:
        pass
    try:
        return LatticeKey.from_spki(der)
    except LatticeKeyError:
        raise _crypto.KeyFormatError("not a supported SubjectPublicKeyInfo") from None


def load_pkcs8(der: bytes, pairwise_check: bool = True):
    """Parse a DER PKCS #8 private key like ``load_spki``."""
    if BLSKey.is_pkcs8(der):
        return _load_bls(BLSKey.from_pkcs8, der, pairwise_check)
    try:
        return _crypto.PKey.from_pkcs8(der, pairwise_check=pairwise_check)
    except _crypto.KeyFormatError:
        pass
    try:
        return PQCKey.from_pkcs8(der)
    except PQCKeyError:
        pass
    try:
        return LatticeKey.from_pkcs8(der, pairwise_check=pairwise_check)
    except InvalidLatticeKeyError as error:
        raise _crypto.KeyFormatError(str(error)) from None
    except LatticeKeyError:
        raise _crypto.KeyFormatError("not a supported PKCS #8 private key") from None


def aggregate_public_keys(pkeys) -> BLSKey:
    """Return the sum of BLS12-381 public keys, the key that a concatenation of them represents.

    Raises ``_crypto.KeyFormatError`` when a key is of another kind or the sum is the point at
    infinity, because only BLS public keys aggregate.
    """
    pkeys = list(pkeys)
    if not all(isinstance(pkey, BLSKey) for pkey in pkeys):
        raise _crypto.KeyFormatError("only BLS12-381 public keys can be concatenated")
    return _load_bls(BLSKey.aggregate, pkeys)


def _load_bls(parse, *arguments):
    try:
        return parse(*arguments)
    except BLSKeyError as error:
        raise _crypto.KeyFormatError(str(error)) from None


def check_value(key_type: int, value: bytes) -> bytes:
    """Return the 3-byte key check value of a secret key.

    Block-cipher keys encrypt an all-zero block; other secret keys, which cannot encrypt, use
    the first bytes of SHA-1 of the value, as PKCS #11 3.0 defines for generic secrets.
    """
    if key_type == CKK.AES:
        return _crypto.cipher("aes-ecb", True, value, None, bytes(16), False)[:CHECK_VALUE_BYTES]
    if key_type in (CKK.DES2, CKK.DES3):
        return _crypto.cipher("des3-ecb", True, value, None, bytes(8), False)[:CHECK_VALUE_BYTES]
    return hashlib.sha1(value).digest()[:CHECK_VALUE_BYTES]


def secret_checksum(key_type: int, value: bytes) -> bytes:
    """Return the checksum output of a secret key: check value, then the bit length (4 bytes)."""
    return check_value(key_type, value) + (len(value) * 8).to_bytes(4, "big")


def struct_params(pkey) -> bytes:
    """Return the CKA_IBM_STRUCT_PARAMS of a DSA key (Dss-Parms) or a DH key (DHParameter)."""
    p, q, g = (int.from_bytes(value, "big") if value else None for value in pkey.ffc_params)
    if pkey.key_type == "DSA":
        return encode_integer_sequence([p, q, g])
    return encode_integer_sequence([p, g])


def public_properties(pkey) -> Dict[int, object]:
    """Return the public attributes a key implies (modulus bits, exponent, curve, parameters)."""
    if pkey.key_type in ("DSA", "DH"):
        return {CKA.IBM_STRUCT_PARAMS: struct_params(pkey)}
    if pkey.key_type == "RSA":
        exponent = pkey.public_exponent
        return {
            CKA.MODULUS_BITS: pkey.bits,
            CKA.PUBLIC_EXPONENT: exponent.to_bytes((exponent.bit_length() + 7) // 8, "big"),
        }
    if isinstance(pkey, PQCKey):
        return {CKA.IBM_PARAMETER_SET: pkey.parameter_set.number}
    if isinstance(pkey, LatticeKey):
        return {CKA.IBM_PQC_PARAMS: pkey.parameter_set.der_oid}
    curve = CURVE_BY_OPENSSL_NAME.get(pkey.curve)
    return {CKA.EC_PARAMS: curve.der_oid} if curve else {}
