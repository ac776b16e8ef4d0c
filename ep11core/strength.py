"""The security strength of a key object, in bits, computed from its attributes.

EP11 control points 23 to 28 allow keys by strength class, and control point 44 compares the
strength of a wrapped key with that of its wrapping key. EP11 does not publish how it rates a
key, so the emulator uses NIST SP 800-57 Part 1 Rev. 5, Table 2 ("comparable security
strengths"), and NIST's post-quantum security categories:

- AES: the key length in bits. DES: 56. Two-key triple DES: 80. Three-key triple DES: 112.
- Generic secret and HMAC keys: the key length in bits. SP 800-57 has no row for them, so this
  is an estimate, which rates a key by the work of guessing it.
- RSA, DSA and DH: the modulus or prime p, rated by the table's IFC and FFC column (1024 bits:
  80, 2048: 112, 3072: 128, 7680: 192, 15360: 256, less than 1024: below 80). A DSA key is
  also limited to half the bit length of its subprime q.
- EC: half the bit length of the group order (the table's ECC column), from the curve table in
  ``keys.py``. BLS12-381, which is not in that table, has a 255-bit group order.
- ML-DSA, ML-KEM, Dilithium and Kyber: NIST security category 1 or 2 rates 128, category 3 or 4
  rates 192, category 5 rates 256 (the categories compare with AES-128, SHA-256, AES-192,
  SHA-384 and AES-256).

``key_strength`` returns None for a key it cannot rate; the policy then applies no strength rule.
"""

from typing import Dict, Optional, Tuple

from .constants import CKA, CKK, CKO
from .der import DERError, decode_integer_sequence
from .keys import CURVE_BY_PARAMS, encode_oid
from .latticekeys import STRENGTHS

# SP 800-57 Part 1 Rev. 5, Table 2: (smallest modulus or prime p in bits, strength).
MODULUS_STRENGTHS = ((15360, 256), (7680, 192), (3072, 128), (2048, 112), (1024, 80))
# The strength given to keys below the smallest row of the table; any value under 80 would do.
BELOW_80 = 0

FIXED_STRENGTHS: Dict[int, int] = {CKK.DES: 56, CKK.DES2: 80, CKK.DES3: 112}
BIT_LENGTH_KEY_TYPES = frozenset(
    {
        CKK.AES,
        CKK.GENERIC_SECRET,
        CKK.SHA_1_HMAC,
        CKK.SHA224_HMAC,
        CKK.SHA256_HMAC,
        CKK.SHA384_HMAC,
        CKK.SHA512_HMAC,
    }
)

# Group order bits of curves that keys.CURVE_BY_PARAMS does not list.
EXTRA_CURVE_ORDER_BITS: Dict[bytes, int] = {
    encode_oid("1.3.6.1.4.1.2.267.999.3.2"): 255,  # BLS12-381
}

_CATEGORY_STRENGTH = {1: 128, 2: 128, 3: 192, 4: 192, 5: 256}
# CKA_IBM_PQC_PARAMS (DER OID) -> NIST security category, from the strength table.
PQC_PARAMS_CATEGORY: Dict[bytes, int] = {entry.der_oid: entry.category for entry in STRENGTHS}
# (key type, CKA_IBM_PARAMETER_SET) -> category: ML-DSA-44/65/87 are 2, 3 and 5 (FIPS 204),
# ML-KEM-512/768/1024 are 1, 3 and 5 (FIPS 203). The numbers are those of pqckeys.PARAMETER_SETS.
PARAMETER_SET_CATEGORY: Dict[Tuple[int, int], int] = {
    (CKK.IBM_ML_DSA, 1): 2,
    (CKK.IBM_ML_DSA, 2): 3,
    (CKK.IBM_ML_DSA, 3): 5,
    (CKK.IBM_ML_KEM, 1): 1,
    (CKK.IBM_ML_KEM, 2): 3,
    (CKK.IBM_ML_KEM, 3): 5,
}


def modulus_strength(bits: int) -> int:
    """Return the strength of an RSA modulus or a DSA or DH prime of ``bits`` bits."""
    for smallest, strength in MODULUS_STRENGTHS:
        if bits >= smallest:
            return strength
    return BELOW_80


def _ffc_strength(key_type: int, attributes: dict) -> Optional[int]:
    params = attributes.get(CKA.IBM_STRUCT_PARAMS)
    if params is not None:
        try:
            values = decode_integer_sequence(params)
        except DERError:
            return None
        p = values[0] if values else None
        q = values[1] if key_type == CKK.DSA and len(values) == 3 else None
    else:
        p = _integer(attributes.get(CKA.PRIME))
        q = _integer(attributes.get(CKA.SUBPRIME))
    if not p:
        return None
    strength = modulus_strength(p.bit_length())
    if key_type == CKK.DSA and q:
        strength = min(strength, q.bit_length() // 2)
    return strength


def _integer(value) -> Optional[int]:
    return int.from_bytes(value, "big") if value else None


def _ec_strength(attributes: dict) -> Optional[int]:
    params = attributes.get(CKA.EC_PARAMS)
    if params is None:
        return None
    params = bytes(params)
    order_bits = EXTRA_CURVE_ORDER_BITS.get(params)
    if order_bits is None:
        curve = CURVE_BY_PARAMS.get(params)
        if curve is None:
            return None
        order_bits = curve.bits
    return order_bits // 2


def key_strength(attributes: dict) -> Optional[int]:
    """Return the security strength in bits of the key object with ``attributes``, or None."""
    key_type = attributes.get(CKA.KEY_TYPE)
    if attributes.get(CKA.CLASS) == CKO.SECRET_KEY:
        if key_type in FIXED_STRENGTHS:
            return FIXED_STRENGTHS[key_type]
        length = attributes.get(CKA.VALUE_LEN)
        if key_type in BIT_LENGTH_KEY_TYPES and length:
            return 8 * length
        return None
    if key_type == CKK.RSA:
        bits = attributes.get(CKA.MODULUS_BITS)
        return modulus_strength(bits) if bits else None
    if key_type in (CKK.DSA, CKK.DH):
        return _ffc_strength(key_type, attributes)
    if key_type == CKK.EC:
        return _ec_strength(attributes)
    if key_type in (CKK.IBM_PQC_DILITHIUM, CKK.IBM_PQC_KYBER):
        params = attributes.get(CKA.IBM_PQC_PARAMS)
        category = PQC_PARAMS_CATEGORY.get(bytes(params)) if params else None
    else:
        category = PARAMETER_SET_CATEGORY.get((key_type, attributes.get(CKA.IBM_PARAMETER_SET)))
    return _CATEGORY_STRENGTH[category] if category else None
