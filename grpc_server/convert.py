"""Conversion between GREP11 protobuf messages and the engine's Python values.

Request side: key arguments, ``Mechanism`` messages and attribute templates become the bytes,
``ep11core.types.Mechanism`` objects and ``{CKA: value}`` dicts that ``Engine`` takes. Response
side: attribute dicts and new keys become ``AttributeValue`` maps and ``KeyBlob`` messages.

Malformed input raises ``PKCS11Error`` with the CKR code a real HSM would return, so it reaches
the client through the same error path as an engine failure.
"""

from typing import Callable, Mapping, Union

from ep11core.constants import CKR
from ep11core.errors import PKCS11Error
from ep11core.types import (
    BTCDeriveParams,
    ECAGGParams,
    ECDH1DeriveParams,
    ECSGParams,
    KyberKEMParams,
    Mechanism,
    OAEPParams,
    PSSParams,
)
from grpc_server.generated import grep11_pb2

AttributeScalar = Union[bool, int, bytes]

# The proto enums number the IBM vendor members 0x800000 + n, the C headers 0x80000000 + n.
PROTO_VENDOR_BASE = 0x800000
C_VENDOR_BASE = 0x80000000

# Enum members that name no C constant. 0 is "not used" in every parameter enum, and the ECDH
# KDF enum also contains the PKCS #11 KDFs 3 and 4, which GREP11 does not offer.
_UNUSED_MGF = frozenset({0})
_UNUSED_ECDH_KDF = frozenset({0, 3, 4})
_UNUSED_KYBER_KDF = frozenset({0})

CK_ULONG_BYTES = 8
_INT64_MIN = -(1 << 63)
_UINT64_LIMIT = 1 << 64


def key_argument(request, blob_field: str, legacy_field: str = "") -> bytes:
    """Return the key that a request passes in ``blob_field`` or in its legacy bytes field.

    ``KeyBlob.KeyBlobs[0]`` wins when the KeyBlob field is set and has an element, then comes
    the legacy raw-bytes field, and ``b""`` when neither is present.
    """
    if request.HasField(blob_field):
        blobs = getattr(request, blob_field).KeyBlobs
        if blobs:
            return bytes(blobs[0])
    if legacy_field:
        return bytes(getattr(request, legacy_field))
    return b""


def c_enum_value(value: int, field: str, unused: frozenset) -> int:
    """Translate a proto parameter enum value to the C constant of ``ep11.h``.

    Values from 1 to 0x7FFFFF are the PKCS #11 numbers and pass unchanged, and 0x800000 + n
    becomes 0x80000000 + n. Members in ``unused`` and negative values raise
    CKR_MECHANISM_PARAM_INVALID.
    """
    if value in unused or value < 0:
        raise PKCS11Error(
            CKR.MECHANISM_PARAM_INVALID, f"{field} value {value:#x} names no valid constant"
        )
    if value >= PROTO_VENDOR_BASE:
        return C_VENDOR_BASE + (value - PROTO_VENDOR_BASE)
    return value


def _oaep_params(parameter: grep11_pb2.RSAOAEPParm) -> OAEPParams:
    # CKZ_DATA_SPECIFIED and CKZ_NO_DATA_SPECIFIED have the same numbers in proto and C.
    return OAEPParams(
        hash_mechanism=parameter.HashMech,
        mgf=c_enum_value(parameter.Mgf, "RSAOAEPParm.Mgf", _UNUSED_MGF),
        source=parameter.EncodingParmType,
        label=bytes(parameter.EncodingParm),
    )


def _pss_params(parameter: grep11_pb2.RSAPSSParm) -> PSSParams:
    return PSSParams(
        hash_mechanism=parameter.HashMech,
        mgf=c_enum_value(parameter.Mgf, "RSAPSSParm.Mgf", _UNUSED_MGF),
        salt_length=parameter.SaltByteCount,
    )


def _ecdh1_derive_params(parameter: grep11_pb2.ECDH1DeriveParm) -> ECDH1DeriveParams:
    return ECDH1DeriveParams(
        kdf=c_enum_value(parameter.Kdf, "ECDH1DeriveParm.Kdf", _UNUSED_ECDH_KDF),
        shared_data=bytes(parameter.SharedData),
        public_data=bytes(parameter.PublicData),
    )


def _btc_derive_params(parameter: grep11_pb2.BTCDeriveParm) -> BTCDeriveParams:
    # The BIP32 and SLIP-10 type numbers are the same in the proto and in ep11.h.
    return BTCDeriveParams(
        type=parameter.Type,
        child_key_index=parameter.ChildKeyIndex,
        chain_code=bytes(parameter.ChainCode),
        version=parameter.Version,
    )


def _ecsg_params(parameter: grep11_pb2.ECSGParm) -> ECSGParams:
    # The ECSG variant numbers are the same in the proto and in ep11.h.
    return ECSGParams(type=parameter.Type)


def _kyber_kem_params(parameter: grep11_pb2.KyberKEMParm) -> KyberKEMParams:
    # The modes are the same in the proto and in ep11.h; the KDFs take the vendor translation.
    return KyberKEMParams(
        version=parameter.Version,
        mode=parameter.Mode,
        kdf=c_enum_value(parameter.Kdf, "KyberKEMParm.Kdf", _UNUSED_KYBER_KDF),
        prepend=parameter.Prepend,
        ciphertext=bytes(parameter.CipherText),
        shared_data=bytes(parameter.SharedData),
        blob=bytes(parameter.Blob),
    )


def _ecagg_params(parameter: grep11_pb2.ECAGGParm) -> ECAGGParams:
    return ECAGGParams(
        version=parameter.Version,
        mode=parameter.Mode,
        per_element_size=parameter.PerElementSize,
        elements=bytes(parameter.Elements),
    )


# One converter per member of the Mechanism.Parameter oneof.
_PARAMETER_CONVERTERS: Mapping[str, Callable] = {
    "ParameterB": bytes,
    "RSAOAEPParameter": _oaep_params,
    "RSAPSSParameter": _pss_params,
    "ECDH1DeriveParameter": _ecdh1_derive_params,
    "BTCDeriveParameter": _btc_derive_params,
    "ECSGParameter": _ecsg_params,
    "KyberKEMParameter": _kyber_kem_params,
    "ECAGGParameter": _ecagg_params,
}


def mechanism(message: grep11_pb2.Mechanism) -> Mechanism:
    """Convert a ``Mechanism`` message, translating proto enum values to C constants."""
    kind = message.WhichOneof("Parameter")
    if kind is None:
        return Mechanism(message.Mechanism)
    parameter = _PARAMETER_CONVERTERS[kind](getattr(message, kind))
    return Mechanism(message.Mechanism, parameter)


def required_mechanism(request, field: str = "Mech") -> Mechanism:
    """Convert the ``Mechanism`` message in ``field`` of ``request``, which must be present.

    Proto3 reads an absent message as mechanism 0 (CKM_RSA_PKCS_KEY_PAIR_GEN), so presence is
    checked on the request. A message that is present with Mechanism 0 (serialized as an empty
    message) still means CKM_RSA_PKCS_KEY_PAIR_GEN.
    """
    if not request.HasField(field):
        raise PKCS11Error(CKR.MECHANISM_INVALID, f"the request has no {field}")
    return mechanism(getattr(request, field))


def template(entries: Mapping[int, grep11_pb2.AttributeValue]) -> dict:
    """Convert a ``map<uint64, AttributeValue>`` template to ``{CKA: bool | int | bytes}``.

    The values keep the variant's Python type; the engine normalises them per attribute. A
    negative AttributeI is the two's complement of a CK_ULONG from 2**63 up and becomes that
    CK_ULONG. An entry whose ``one_attr`` is not set raises CKR_ATTRIBUTE_VALUE_INVALID.
    """
    attributes = {}
    for attribute_type, value in entries.items():
        variant = value.WhichOneof("one_attr")
        if variant is None:
            raise PKCS11Error(
                CKR.ATTRIBUTE_VALUE_INVALID,
                f"attribute {attribute_type:#x} has an AttributeValue with no value set",
            )
        scalar = getattr(value, variant)
        if variant == "AttributeI" and scalar < 0:
            scalar += _UINT64_LIMIT
        attributes[int(attribute_type)] = scalar
    return attributes


def _check_64_bits(value: int) -> None:
    if not _INT64_MIN <= value < _UINT64_LIMIT:
        raise ValueError(f"attribute integer {value} does not fit in 64 bits")


def _int64(value: int) -> int:
    # AttributeI is int64 but attribute integers are CK_ULONG, so values from 2**63 up (such as
    # CK_UNAVAILABLE_INFORMATION) travel in two's complement, as a Go client's uint64 cast does.
    _check_64_bits(value)
    return value - _UINT64_LIMIT if value >= 1 << 63 else value


def _ck_ulong_bytes(value: int) -> bytes:
    _check_64_bits(value)
    return (value % _UINT64_LIMIT).to_bytes(CK_ULONG_BYTES, "big")


# Encoders per Python type, tried in order: bool before int, because bool is a subclass of int.
_ATTRIBUTE_VALUE_ENCODERS = (
    (bool, lambda value: grep11_pb2.AttributeValue(AttributeTF=value)),
    (int, lambda value: grep11_pb2.AttributeValue(AttributeI=_int64(int(value)))),
    (
        (bytes, bytearray, memoryview),
        lambda value: grep11_pb2.AttributeValue(AttributeB=bytes(value)),
    ),
)

# The raw encoding of GetAttributeValue's AttributesBytes map: CK_BBOOL is one byte, byte arrays
# are sent as they are, and CK_ULONG is 8 bytes big-endian. The width and byte order of CK_ULONG
# are our choice, because no public GREP11 source shows an integer in this map.
_ATTRIBUTE_BYTES_ENCODERS = (
    (bool, lambda value: b"\x01" if value else b"\x00"),
    (int, lambda value: _ck_ulong_bytes(int(value))),
    ((bytes, bytearray, memoryview), bytes),
)


def _encode(value, encoders, attribute_type: int):
    for python_type, encode in encoders:
        if isinstance(value, python_type):
            return encode(value)
    raise TypeError(
        f"attribute {attribute_type:#x} has a value of type {type(value).__name__}, "
        "expected bool, int or bytes"
    )


def attribute_values(attributes: Mapping[int, AttributeScalar]) -> dict:
    """Convert ``{CKA: value}`` to the entries of a ``map<uint64, AttributeValue>``.

    bool becomes AttributeTF, int AttributeI and bytes AttributeB. Any other type raises
    ``TypeError``, because it means the engine returned a value the wire cannot carry.
    """
    return {
        int(attribute_type): _encode(value, _ATTRIBUTE_VALUE_ENCODERS, attribute_type)
        for attribute_type, value in attributes.items()
    }


def attribute_bytes(attributes: Mapping[int, AttributeScalar]) -> dict:
    """Convert ``{CKA: value}`` to the entries of a ``map<uint64, bytes>``.

    bool becomes one byte (0 or 1), int an 8-byte big-endian CK_ULONG and bytes stay as they are.
    """
    return {
        int(attribute_type): _encode(value, _ATTRIBUTE_BYTES_ENCODERS, attribute_type)
        for attribute_type, value in attributes.items()
    }


def key_blob(blob: bytes, attributes: Mapping[int, AttributeScalar]) -> grep11_pb2.KeyBlob:
    """Build the ``KeyBlob`` form of a new key: ``KeyBlobs=[blob]`` and its attributes.

    KeyBlobID, Version and TxID stay empty because the emulator has no server-side keystore.
    """
    return grep11_pb2.KeyBlob(KeyBlobs=[blob], Attributes=attribute_values(attributes))
