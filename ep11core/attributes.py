"""The attribute table, the template codec and the serialised attribute list of a blob.

Templates arrive with any value form (a GREP11 ``AttributeValue`` may be bytes, a Boolean or an
integer for any attribute); ``normalize_template`` turns each value into the canonical Python
form of its attribute: ``bool``, ``int`` (CK_ULONG) or ``bytes``.
"""

import enum
import struct
from dataclasses import dataclass
from typing import Dict, Optional, Union

from .constants import CKA, CKO, CKR
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
    the HSM computes, which a template must not name.
    """

    type: int
    kind: Kind
    blob_bit: Optional[int] = None
    can_clear: bool = False
    can_set: bool = False
    settable: bool = True


def _bool(type_, bit=None, clear=False, set_=False, settable=True):
    return AttributeSpec(type_, Kind.BOOL, bit, clear, set_, settable)


def _ulong(type_, settable=True):
    return AttributeSpec(type_, Kind.ULONG, settable=settable)


def _bytes(type_, settable=True):
    return AttributeSpec(type_, Kind.BYTES, settable=settable)


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
        _bytes(CKA.START_DATE),
        _bytes(CKA.END_DATE),
        _bytes(CKA.EC_PARAMS),
        _bytes(CKA.PUBLIC_EXPONENT),
        _bytes(CKA.PRIME),
        _bytes(CKA.SUBPRIME),
        _bytes(CKA.BASE),
        _bytes(CKA.IBM_STRUCT_PARAMS),
        _bytes(CKA.IBM_PQC_PARAMS),
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
        return b"\x01" if value else b"\x00"
    if isinstance(value, int):
        if value < 0:
            raise PKCS11Error(
                CKR.ATTRIBUTE_VALUE_INVALID, f"{CKA(type_).name} cannot be negative"
            )
        return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return bytes(value)


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
