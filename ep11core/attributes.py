"""The attribute table, the template codec and the serialised attribute list of a blob.

Templates arrive in several value forms (a GREP11 ``AttributeValue`` may be bytes, a Boolean or
an integer); ``normalize_template`` turns each value into the canonical Python form of its
attribute: ``bool``, ``int`` (CK_ULONG) or ``bytes``. Booleans and CK_ULONGs may come as bytes or
integers, and byte strings as integers (clients send CKA_PUBLIC_EXPONENT as an integer), but a
Boolean for a byte-string attribute is rejected: no client sends one, and it is a type error.

``check_template`` rejects attributes that the key type does not take (``KEY_TYPE_ATTRIBUTES``).
"""

import enum
import struct
from dataclasses import dataclass
from typing import Container, Dict, FrozenSet, Optional, Union

from .constants import CKA, CKK, CKO, CKR
from .errors import PKCS11Error

AttributeValue = Union[bool, int, bytes]


class Kind(enum.Enum):
    BOOL = 0
    ULONG = 1
    BYTES = 2


@dataclass(frozen=True)
class AttributeSpec:
    """One row of the attribute table.

    ``blob_bit`` is the ``XCP_BLOB_*`` bit that carries a Boolean in the blob header.
    ``can_clear`` and ``can_set`` state whether SetAttributeValue may later change the Boolean
    from TRUE to FALSE and from FALSE to TRUE. ``settable`` is False for attributes that only
    the HSM computes, which a template must not name. ``lengths`` lists the byte lengths a
    byte-string value may have (None: any length).
    """

    type: int
    kind: Kind
    blob_bit: Optional[int] = None
    can_clear: bool = False
    can_set: bool = False
    settable: bool = True
    lengths: Optional[Container[int]] = None


def _bool(type_, bit=None, clear=False, set_=False, settable=True):
    return AttributeSpec(type_, Kind.BOOL, bit, clear, set_, settable)


def _ulong(type_, settable=True):
    return AttributeSpec(type_, Kind.ULONG, settable=settable)


def _bytes(type_, settable=True, lengths=None):
    return AttributeSpec(type_, Kind.BYTES, settable=settable, lengths=lengths)


# A CK_DATE is 8 characters (YYYYMMDD); PKCS #11 allows an empty value for "no date".
_DATE_LENGTHS = frozenset({0, 8})
# Parameters, OIDs and exponents mean nothing when empty.
_NOT_EMPTY = range(1, 1 << 32)


# Booleans with an XCP_BLOB_* bit follow the EP11 rules for SetAttributeValue: usage flags move
# both ways, EXTRACTABLE, MODIFIABLE, TRUSTED and PROTKEY_EXTRACTABLE may only be cleared, the
# rest never change.
ATTRIBUTES: Dict[int, AttributeSpec] = {
    spec.type: spec
    for spec in (
        _bool(CKA.EXTRACTABLE, 0x1, clear=True),
        _bool(CKA.NEVER_EXTRACTABLE, 0x2, settable=False),
        _bool(CKA.MODIFIABLE, 0x4, clear=True),
        _bool(CKA.IBM_NEVER_MODIFIABLE, 0x8),
        _bool(CKA.IBM_RESTRICTABLE, 0x10),
        _bool(CKA.LOCAL, 0x20, settable=False),
        _bool(CKA.IBM_ATTRBOUND, 0x40),
        _bool(CKA.IBM_USE_AS_DATA, 0x80, clear=True, set_=True),
        _bool(CKA.SIGN, 0x100, clear=True, set_=True),
        _bool(CKA.SIGN_RECOVER, 0x200),
        _bool(CKA.DECRYPT, 0x400, clear=True, set_=True),
        _bool(CKA.ENCRYPT, 0x800, clear=True, set_=True),
        _bool(CKA.DERIVE, 0x1000, clear=True, set_=True),
        _bool(CKA.UNWRAP, 0x2000, clear=True, set_=True),
        _bool(CKA.WRAP, 0x4000, clear=True, set_=True),
        _bool(CKA.VERIFY, 0x8000, clear=True, set_=True),
        _bool(CKA.VERIFY_RECOVER, 0x10000),
        _bool(CKA.TRUSTED, 0x20000, clear=True),
        _bool(CKA.WRAP_WITH_TRUSTED, 0x40000, clear=True, set_=True),
        _bool(CKA.IBM_PROTKEY_EXTRACTABLE, 0x200000, clear=True),
        _bool(CKA.IBM_PROTKEY_NEVER_EXTRACTABLE, 0x400000, settable=False),
        _bool(CKA.TOKEN),
        _bool(CKA.PRIVATE),
        _bool(CKA.SENSITIVE),
        _bool(CKA.ALWAYS_SENSITIVE, settable=False),
        _bool(CKA.ALWAYS_AUTHENTICATE),
        _ulong(CKA.CLASS),
        _ulong(CKA.KEY_TYPE),
        _ulong(CKA.VALUE_LEN),
        _ulong(CKA.MODULUS_BITS),
        _ulong(CKA.PRIME_BITS),
        _ulong(CKA.SUBPRIME_BITS),
        _ulong(CKA.VALUE_BITS),
        _ulong(CKA.KEY_GEN_MECHANISM, settable=False),
        _ulong(CKA.IBM_STD_COMPLIANCE1),
        _ulong(CKA.IBM_PARAMETER_SET),
        _bytes(CKA.LABEL),
        _bytes(CKA.ID),
        _bytes(CKA.SUBJECT),
        _bytes(CKA.APPLICATION),
        _bytes(CKA.START_DATE, lengths=_DATE_LENGTHS),
        _bytes(CKA.END_DATE, lengths=_DATE_LENGTHS),
        _bytes(CKA.EC_PARAMS, lengths=_NOT_EMPTY),
        _bytes(CKA.PUBLIC_EXPONENT, lengths=_NOT_EMPTY),
        _bytes(CKA.PRIME, lengths=_NOT_EMPTY),
        _bytes(CKA.SUBPRIME, lengths=_NOT_EMPTY),
        _bytes(CKA.BASE, lengths=_NOT_EMPTY),
        _bytes(CKA.IBM_STRUCT_PARAMS, lengths=_NOT_EMPTY),
        _bytes(CKA.IBM_PQC_PARAMS, lengths=_NOT_EMPTY),
        # In a template, the PIN blob of the login session that binds the new key.
        _bytes(CKA.IBM_LOGIN_SESSION),
        _bytes(CKA.GREP11_TOKEN_LABEL),
        _bytes(CKA.VALUE, settable=False),
        _bytes(CKA.EC_POINT, settable=False),
        _bytes(CKA.MODULUS, settable=False),
        _bytes(CKA.CHECK_VALUE, settable=False),
        _bytes(CKA.PUBLIC_KEY_INFO, settable=False),
        _bytes(CKA.IBM_MACED_PUBLIC_KEY_INFO, settable=False),
        _bytes(CKA.GREP11_WKID, settable=False),
    )
}

BLOB_BITS = {spec.type: spec.blob_bit for spec in ATTRIBUTES.values() if spec.blob_bit}

USAGE_FLAGS = (
    CKA.ENCRYPT,
    CKA.DECRYPT,
    CKA.SIGN,
    CKA.VERIFY,
    CKA.WRAP,
    CKA.UNWRAP,
    CKA.DERIVE,
)

# Attributes a template may name but that mean nothing for the key being made; they are
# accepted and dropped (the GREP11 clients send them).
IGNORED_IN_TEMPLATE = frozenset({CKA.TOKEN})

# The attributes that only some key types take, by key type. An attribute that appears in no
# row (the Booleans, CKA_CLASS, CKA_KEY_TYPE, CKA_LABEL, CKA_ID, the dates and so on) is valid
# for every key. To add a key type, add its row. A key type without a row takes none of these.
# CKA_VALUE_LEN belongs to secret keys only, so a key type row implies the object class too.
_SECRET_KEY_ATTRIBUTES = frozenset({CKA.VALUE_LEN})
KEY_TYPE_ATTRIBUTES: Dict[int, FrozenSet[int]] = {
    **{
        key_type: _SECRET_KEY_ATTRIBUTES
        for key_type in (
            CKK.GENERIC_SECRET,
            CKK.AES,
            CKK.DES,
            CKK.DES2,
            CKK.DES3,
            CKK.SHA_1_HMAC,
            CKK.SHA224_HMAC,
            CKK.SHA256_HMAC,
            CKK.SHA384_HMAC,
            CKK.SHA512_HMAC,
        )
    },
    CKK.RSA: frozenset({CKA.MODULUS_BITS, CKA.PUBLIC_EXPONENT}),
    CKK.EC: frozenset({CKA.EC_PARAMS}),
    CKK.DSA: frozenset(
        {CKA.PRIME, CKA.SUBPRIME, CKA.BASE, CKA.PRIME_BITS, CKA.SUBPRIME_BITS,
         CKA.IBM_STRUCT_PARAMS}
    ),
    CKK.DH: frozenset(
        {CKA.PRIME, CKA.BASE, CKA.PRIME_BITS, CKA.VALUE_BITS, CKA.IBM_STRUCT_PARAMS}
    ),
    CKK.IBM_PQC_DILITHIUM: frozenset({CKA.IBM_PQC_PARAMS}),
    CKK.IBM_PQC_KYBER: frozenset({CKA.IBM_PQC_PARAMS}),
    CKK.IBM_ML_DSA: frozenset({CKA.IBM_PARAMETER_SET}),
    CKK.IBM_ML_KEM: frozenset({CKA.IBM_PARAMETER_SET}),
}
TYPE_SPECIFIC_ATTRIBUTES: FrozenSet[int] = frozenset().union(*KEY_TYPE_ATTRIBUTES.values())


def _to_ulong(type_: int, value: AttributeValue) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if value < 0 or value >= 1 << 64:
            raise PKCS11Error(
                CKR.ATTRIBUTE_VALUE_INVALID, f"{CKA(type_).name} = {value} is not a CK_ULONG"
            )
        return value
    if not 1 <= len(value) <= 8:
        raise PKCS11Error(
            CKR.ATTRIBUTE_VALUE_INVALID,
            f"{CKA(type_).name} must be 1 to 8 bytes when sent as bytes, got {len(value)}",
        )
    return int.from_bytes(value, "big")


def normalize_value(type_: int, value: AttributeValue) -> AttributeValue:
    """Return ``value`` in the canonical form of attribute ``type_``."""
    spec = ATTRIBUTES.get(type_)
    if spec is None:
        raise PKCS11Error(CKR.ATTRIBUTE_TYPE_INVALID, f"unknown attribute type {type_:#x}")
    if not isinstance(value, (bool, int, bytes)):
        raise PKCS11Error(
            CKR.ATTRIBUTE_VALUE_INVALID, f"{CKA(type_).name} has no value of a known form"
        )
    if spec.kind is Kind.BOOL:
        number = _to_ulong(type_, value)
        if number not in (0, 1):
            raise PKCS11Error(
                CKR.ATTRIBUTE_VALUE_INVALID, f"{CKA(type_).name} must be a Boolean, got {number}"
            )
        return bool(number)
    if spec.kind is Kind.ULONG:
        return _to_ulong(type_, value)
    if isinstance(value, bool):
        raise PKCS11Error(
            CKR.ATTRIBUTE_VALUE_INVALID,
            f"{CKA(type_).name} is a byte string, got the Boolean {value}",
        )
    if isinstance(value, int):
        if value < 0:
            raise PKCS11Error(
                CKR.ATTRIBUTE_VALUE_INVALID, f"{CKA(type_).name} cannot be negative"
            )
        value = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    value = bytes(value)
    if spec.lengths is not None and len(value) not in spec.lengths:
        raise PKCS11Error(
            CKR.ATTRIBUTE_VALUE_INVALID,
            f"{CKA(type_).name} cannot be {len(value)} bytes long",
        )
    return value


def normalize_template(template: Optional[dict]) -> Dict[int, AttributeValue]:
    """Normalise every entry of a template, rejecting HSM-computed attributes."""
    result: Dict[int, AttributeValue] = {}
    for type_, value in (template or {}).items():
        type_ = int(type_)
        if type_ in IGNORED_IN_TEMPLATE:
            continue
        normalized = normalize_value(type_, value)
        if not ATTRIBUTES[type_].settable:
            raise PKCS11Error(
                CKR.ATTRIBUTE_READ_ONLY, f"{CKA(type_).name} is computed by the HSM"
            )
        result[type_] = normalized
    return result


def check_template(template: dict, object_class: int, key_type: int) -> None:
    """Reject a normalised template entry that a key of ``key_type`` does not take.

    The template is the caller's, before defaults and the attributes that the HSM sets are
    added. Raises CKR_TEMPLATE_INCONSISTENT.
    """
    accepted = KEY_TYPE_ATTRIBUTES.get(key_type, frozenset())
    for type_ in template:
        if type_ in TYPE_SPECIFIC_ATTRIBUTES and type_ not in accepted:
            raise PKCS11Error(
                CKR.TEMPLATE_INCONSISTENT,
                f"{attribute_name(type_)} is not an attribute of a CKO_{CKO(object_class).name} "
                f"of type {_key_type_name(key_type)}",
            )


def attribute_name(type_: int) -> str:
    """Return the CKA_ name of ``type_``, with CKA_EC_PARAMS for its alias CKA_ECDSA_PARAMS."""
    if type_ == CKA.EC_PARAMS:
        return "CKA_EC_PARAMS"
    return f"CKA_{CKA(type_).name}"


def _key_type_name(key_type: int) -> str:
    try:
        return f"CKK_{CKK(key_type).name}"
    except ValueError:
        return f"{key_type:#x}"


def default_attributes(object_class: int) -> Dict[int, AttributeValue]:
    """Return the attributes a new key of ``object_class`` has when its template is silent.

    Usage flags default to TRUE and only an explicit FALSE restricts a key, because GREP11
    applications routinely omit the flags of the operations they then perform. EXTRACTABLE
    defaults to FALSE, SENSITIVE to TRUE for private and secret keys.
    """
    attributes: Dict[int, AttributeValue] = {flag: True for flag in USAGE_FLAGS}
    attributes.update(
        {
            CKA.SIGN_RECOVER: False,
            CKA.VERIFY_RECOVER: False,
            CKA.MODIFIABLE: True,
            CKA.IBM_USE_AS_DATA: False,
            CKA.IBM_ATTRBOUND: False,
            CKA.IBM_RESTRICTABLE: False,
            CKA.IBM_NEVER_MODIFIABLE: False,
            CKA.TRUSTED: False,
            CKA.WRAP_WITH_TRUSTED: False,
        }
    )
    if object_class != CKO.PUBLIC_KEY:
        attributes.update({CKA.EXTRACTABLE: False, CKA.SENSITIVE: True, CKA.PRIVATE: True})
    return attributes


def blob_bits(attributes: dict) -> int:
    """Pack the Booleans that have an ``XCP_BLOB_*`` bit into one integer."""
    bits = 0
    for type_, bit in BLOB_BITS.items():
        if attributes.get(type_):
            bits |= bit
    return bits


def attributes_from_bits(bits: int) -> Dict[int, bool]:
    """Unpack the ``XCP_BLOB_*`` bit field into Booleans."""
    return {type_: bool(bits & bit) for type_, bit in BLOB_BITS.items()}


_ENTRY = struct.Struct(">QBI")


def encode_attributes(attributes: dict) -> bytes:
    """Serialise an attribute dictionary: count, then (type, kind, length, value) entries."""
    parts = [struct.pack(">H", len(attributes))]
    for type_, value in sorted(attributes.items()):
        if isinstance(value, bool):
            kind, raw = Kind.BOOL, b"\x01" if value else b"\x00"
        elif isinstance(value, int):
            kind, raw = Kind.ULONG, value.to_bytes(8, "big")
        else:
            kind, raw = Kind.BYTES, bytes(value)
        parts.append(_ENTRY.pack(type_, kind.value, len(raw)))
        parts.append(raw)
    return b"".join(parts)


def decode_attributes(data: bytes) -> Dict[int, AttributeValue]:
    """Parse the output of ``encode_attributes``; raise ValueError on malformed input."""
    (count,) = struct.unpack_from(">H", data, 0)
    offset = 2
    attributes: Dict[int, AttributeValue] = {}
    for _ in range(count):
        type_, kind, length = _ENTRY.unpack_from(data, offset)
        offset += _ENTRY.size
        raw = data[offset : offset + length]
        if len(raw) != length:
            raise ValueError("attribute list truncated")
        offset += length
        if kind == Kind.BOOL.value:
            attributes[type_] = raw == b"\x01"
        elif kind == Kind.ULONG.value:
            attributes[type_] = int.from_bytes(raw, "big")
        else:
            attributes[type_] = raw
    if offset != len(data):
        raise ValueError("trailing bytes after the attribute list")
    return attributes
