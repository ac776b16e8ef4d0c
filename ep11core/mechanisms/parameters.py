"""Hash tables and mechanism parameter rules.

A parameter rule takes the parameter of a request (``None``, bytes or a parameter dataclass)
and returns it checked, or raises CKR_MECHANISM_PARAM_INVALID.
"""

import struct
from dataclasses import dataclass
from typing import Callable, Optional

from ..constants import CKG, CKM, CKR, CKZ, describe_mechanism
from ..errors import PKCS11Error
from ..types import ECSGParams, OAEPParams, PSSParams

# The hashes that RSA and ECDSA parameters and mechanisms name.
HASH_OF_MECHANISM = {
    CKM.SHA_1: ("sha1", 20),
    CKM.SHA224: ("sha224", 28),
    CKM.SHA256: ("sha256", 32),
    CKM.SHA384: ("sha384", 48),
    CKM.SHA512: ("sha512", 64),
}
# Every digest mechanism and the ``_crypto`` hash it computes. IBM defined its SHA-512/t
# values before PKCS #11 had them, so both values of each exist.
DIGEST_OF_MECHANISM = {
    **HASH_OF_MECHANISM,
    CKM.SHA512_224: ("sha512_224", 28),
    CKM.SHA512_256: ("sha512_256", 32),
    CKM.IBM_SHA512_224: ("sha512_224", 28),
    CKM.IBM_SHA512_256: ("sha512_256", 32),
    CKM.IBM_SHA3_224: ("sha3_224", 28),
    CKM.IBM_SHA3_256: ("sha3_256", 32),
    CKM.IBM_SHA3_384: ("sha3_384", 48),
    CKM.IBM_SHA3_512: ("sha3_512", 64),
}
# The hashes that the OAEP and PSS parameters may name: SHA-1, SHA-2 and IBM's SHA-3 values.
PARAMETER_HASH_OF_MECHANISM = {
    **HASH_OF_MECHANISM,
    CKM.IBM_SHA3_224: ("sha3_224", 28),
    CKM.IBM_SHA3_256: ("sha3_256", 32),
    CKM.IBM_SHA3_384: ("sha3_384", 48),
    CKM.IBM_SHA3_512: ("sha3_512", 64),
}
HASH_OF_MGF = {
    CKG.MGF1_SHA1: "sha1",
    CKG.MGF1_SHA224: "sha224",
    CKG.MGF1_SHA256: "sha256",
    CKG.MGF1_SHA384: "sha384",
    CKG.MGF1_SHA512: "sha512",
    CKG.IBM_MGF1_SHA3_224: "sha3_224",
    CKG.IBM_MGF1_SHA3_256: "sha3_256",
    CKG.IBM_MGF1_SHA3_384: "sha3_384",
    CKG.IBM_MGF1_SHA3_512: "sha3_512",
}
HASH_SIZE = {name: size for name, size in DIGEST_OF_MECHANISM.values()}


def param_error(detail: str) -> PKCS11Error:
    return PKCS11Error(CKR.MECHANISM_PARAM_INVALID, detail)


# --- parameter rules: each returns the checked parameter or raises CKR_MECHANISM_PARAM_INVALID


def no_parameter(parameter):
    if parameter is None or parameter == b"":
        return None
    raise param_error("this mechanism takes no parameter")


def iv_parameter(size: int) -> Callable:
    def check(parameter):
        if not isinstance(parameter, bytes) or len(parameter) != size:
            raise param_error(f"the parameter must be a {size}-byte IV")
        return parameter

    return check


def hash_of(mechanism: int) -> str:
    """Return the ``_crypto`` name of the hash that an OAEP or PSS parameter names."""
    entry = PARAMETER_HASH_OF_MECHANISM.get(mechanism)
    if entry is None:
        raise param_error(f"hash mechanism {describe_mechanism(mechanism)} is not supported here")
    return entry[0]


def mgf_hash(mgf: int) -> str:
    name = HASH_OF_MGF.get(mgf)
    if name is None:
        raise param_error(f"MGF {mgf:#x} is not supported")
    return name


def oaep_parameter(parameter):
    if not isinstance(parameter, OAEPParams):
        raise param_error("CKM_RSA_PKCS_OAEP needs an RSAOAEPParm parameter")
    hash_of(parameter.hash_mechanism)
    mgf_hash(parameter.mgf)
    if parameter.source not in (CKZ.NO_DATA_SPECIFIED, CKZ.DATA_SPECIFIED):
        raise param_error(f"OAEP source {parameter.source:#x} is invalid")
    if parameter.source == CKZ.NO_DATA_SPECIFIED and parameter.label:
        raise param_error("an OAEP label needs source CKZ_DATA_SPECIFIED")
    if len(parameter.label) > 1024:
        raise param_error("an OAEP label is at most 1024 bytes")
    return parameter


def pss_parameter(expected_hash: Optional[int]) -> Callable:
    def check(parameter):
        if not isinstance(parameter, PSSParams):
            raise param_error("RSA-PSS needs an RSAPSSParm parameter")
        hash_of(parameter.hash_mechanism)
        mgf_hash(parameter.mgf)
        if expected_hash is not None and parameter.hash_mechanism != expected_hash:
            raise param_error(
                f"the PSS hash {describe_mechanism(parameter.hash_mechanism)} must match the "
                f"mechanism's hash {describe_mechanism(expected_hash)}"
            )
        return parameter

    return check


# --- ParameterB layouts of the PKCS #11 parameter structures
#
# GREP11 has no typed message for these structures, so they arrive as ``ParameterB`` bytes.
# Each CK_ULONG is 8 bytes big-endian, as on the s390x hosts of EP11, and each pointer field is
# replaced by the bytes it points to. The parameter rules keep the bytes, which state blobs
# store as they are, and the schemes parse them again.

CK_ULONG = struct.Struct(">Q")
_GCM_HEADER = struct.Struct(">QQQQ")
GCM_MAX_IV_BYTES = 128
# SP 800-38D allows these tag lengths, 32 and 64 bits only for special applications.
GCM_TAG_BITS = frozenset({32, 64, 96, 104, 112, 120, 128})
AES_BLOCK_BYTES = 16


@dataclass(frozen=True)
class GCMParams:
    """CK_GCM_PARAMS: the IV, the additional authenticated data and the tag length in bits."""

    iv: bytes
    aad: bytes
    tag_bits: int


@dataclass(frozen=True)
class CTRParams:
    """CK_AES_CTR_PARAMS: the number of counter bits and the initial 16-byte counter block."""

    counter_bits: int
    counter_block: bytes


def encode_gcm_parameter(iv: bytes, aad: bytes = b"", tag_bits: int = 128) -> bytes:
    """Build the ParameterB form of CK_GCM_PARAMS.

    Layout: ulIvLen, ulIvBits, ulAADLen and ulTagBits (8 bytes big-endian each), then the IV,
    then the AAD.
    """
    return _GCM_HEADER.pack(len(iv), 8 * len(iv), len(aad), tag_bits) + iv + aad


def parse_gcm_parameter(data: bytes) -> GCMParams:
    """Parse and check the ParameterB form of CK_GCM_PARAMS (see ``encode_gcm_parameter``).

    The IV is 1 to 128 bytes (OpenSSL 3.0 takes no longer GCM IV), ulIvBits is 0 or 8 times
    ulIvLen, and ulTagBits is one of the SP 800-38D tag lengths.
    """
    if not isinstance(data, bytes) or len(data) < _GCM_HEADER.size:
        raise param_error(
            f"CKM_AES_GCM needs CK_GCM_PARAMS: a {_GCM_HEADER.size}-byte header of ulIvLen, "
            "ulIvBits, ulAADLen and ulTagBits (8 bytes big-endian each), then the IV and AAD"
        )
    iv_length, iv_bits, aad_length, tag_bits = _GCM_HEADER.unpack_from(data)
    if len(data) != _GCM_HEADER.size + iv_length + aad_length:
        raise param_error(
            f"CK_GCM_PARAMS with a {iv_length}-byte IV and {aad_length} bytes of AAD is "
            f"{_GCM_HEADER.size + iv_length + aad_length} bytes, got {len(data)}"
        )
    if not 1 <= iv_length <= GCM_MAX_IV_BYTES:
        raise param_error(f"the GCM IV must be 1 to {GCM_MAX_IV_BYTES} bytes, got {iv_length}")
    if iv_bits not in (0, 8 * iv_length):
        raise param_error(f"ulIvBits must be 0 or {8 * iv_length}, got {iv_bits}")
    if tag_bits not in GCM_TAG_BITS:
        allowed = ", ".join(str(bits) for bits in sorted(GCM_TAG_BITS))
        raise param_error(f"ulTagBits must be one of {allowed}, got {tag_bits}")
    iv_start = _GCM_HEADER.size
    aad_start = iv_start + iv_length
    return GCMParams(data[iv_start:aad_start], data[aad_start:], tag_bits)


def gcm_parameter(parameter):
    parse_gcm_parameter(parameter)
    return parameter


def encode_ctr_parameter(counter_bits: int, counter_block: bytes) -> bytes:
    """Build the ParameterB form of CK_AES_CTR_PARAMS: ulCounterBits, then the counter block."""
    return CK_ULONG.pack(counter_bits) + counter_block


def parse_ctr_parameter(data: bytes) -> CTRParams:
    """Parse and check the ParameterB form of CK_AES_CTR_PARAMS (24 bytes)."""
    size = CK_ULONG.size + AES_BLOCK_BYTES
    if not isinstance(data, bytes) or len(data) != size:
        raise param_error(
            f"CKM_AES_CTR needs CK_AES_CTR_PARAMS: ulCounterBits (8 bytes big-endian) and the "
            f"16-byte counter block, {size} bytes in all"
        )
    (counter_bits,) = CK_ULONG.unpack_from(data)
    if not 1 <= counter_bits <= 8 * AES_BLOCK_BYTES:
        raise param_error(f"ulCounterBits must be 1 to 128, got {counter_bits}")
    return CTRParams(counter_bits, data[CK_ULONG.size :])


def ctr_parameter(parameter):
    parse_ctr_parameter(parameter)
    return parameter


def mac_length_parameter(maximum: int) -> Callable:
    """Check CK_MAC_GENERAL_PARAMS: the MAC length in bytes, 1 to ``maximum``, as a CK_ULONG."""

    def check(parameter):
        if not isinstance(parameter, bytes) or len(parameter) != CK_ULONG.size:
            raise param_error(
                "the parameter must be CK_MAC_GENERAL_PARAMS: the MAC length in bytes, "
                "8 bytes big-endian"
            )
        (length,) = CK_ULONG.unpack(parameter)
        if not 1 <= length <= maximum:
            raise param_error(f"the MAC length must be 1 to {maximum} bytes, got {length}")
        return parameter

    return check


def mac_length(parameter: bytes) -> int:
    return CK_ULONG.unpack(parameter)[0]


def derivation_data_parameter(block_size: int) -> Callable:
    """Check CK_KEY_DERIVATION_STRING_DATA: the data bytes, whole blocks and not empty."""

    def check(parameter):
        if not isinstance(parameter, bytes) or not parameter or len(parameter) % block_size:
            found = len(parameter) if isinstance(parameter, bytes) else 0
            raise param_error(
                f"the parameter must be the data to encrypt, a non-zero multiple of "
                f"{block_size} bytes, got {found} bytes"
            )
        return parameter

    return check


# CK_IBM_SIGN_ADDITIONAL_CONTEXT, openCryptoki's parameter of CKM_IBM_ML_DSA, has the fields of
# the PKCS #11 3.2 CK_SIGN_ADDITIONAL_CONTEXT. NOTE: the hedge values are the PKCS #11 3.2
# CKH_* values 0, 1 and 2, because no public IBM header shows the CKH_IBM_* values.
_SIGN_CONTEXT_HEADER = struct.Struct(">QQ")
HEDGE_PREFERRED, HEDGE_REQUIRED, DETERMINISTIC_REQUIRED = 0, 1, 2
ML_DSA_MAX_CONTEXT_BYTES = 255  # FIPS 204 limits the context string to 255 bytes


@dataclass(frozen=True)
class SignContextParams:
    """CK_IBM_SIGN_ADDITIONAL_CONTEXT: the hedge variant and the FIPS 204 context string."""

    hedge_variant: int
    context: bytes


def encode_sign_context_parameter(context: bytes, hedge_variant: int = HEDGE_PREFERRED) -> bytes:
    """Build the ParameterB form of CK_IBM_SIGN_ADDITIONAL_CONTEXT.

    Layout: hedgeVariant and ulContextLen (8 bytes big-endian each), then the context.
    """
    return _SIGN_CONTEXT_HEADER.pack(hedge_variant, len(context)) + context


def parse_sign_context_parameter(data: Optional[bytes]) -> SignContextParams:
    """Parse and check the ParameterB form of CK_IBM_SIGN_ADDITIONAL_CONTEXT.

    No parameter or an empty one means a hedged signature with an empty context.
    """
    if data is None or data == b"":
        return SignContextParams(HEDGE_PREFERRED, b"")
    if not isinstance(data, bytes) or len(data) < _SIGN_CONTEXT_HEADER.size:
        raise param_error(
            "CKM_IBM_ML_DSA needs no parameter or CK_IBM_SIGN_ADDITIONAL_CONTEXT: hedgeVariant "
            "and ulContextLen (8 bytes big-endian each), then the context"
        )
    hedge_variant, context_length = _SIGN_CONTEXT_HEADER.unpack_from(data)
    if len(data) != _SIGN_CONTEXT_HEADER.size + context_length:
        raise param_error(
            f"CK_IBM_SIGN_ADDITIONAL_CONTEXT with a {context_length}-byte context is "
            f"{_SIGN_CONTEXT_HEADER.size + context_length} bytes, got {len(data)}"
        )
    if hedge_variant not in (HEDGE_PREFERRED, HEDGE_REQUIRED, DETERMINISTIC_REQUIRED):
        raise param_error(
            f"hedgeVariant must be 0 (hedge preferred), 1 (hedge required) or "
            f"2 (deterministic required), got {hedge_variant}"
        )
    if context_length > ML_DSA_MAX_CONTEXT_BYTES:
        raise param_error(
            f"an ML-DSA context is at most {ML_DSA_MAX_CONTEXT_BYTES} bytes, got {context_length}"
        )
    return SignContextParams(hedge_variant, data[_SIGN_CONTEXT_HEADER.size :])


def sign_context_parameter(parameter):
    parse_sign_context_parameter(parameter)
    return None if parameter == b"" else parameter


# --- parameters inside state blobs

_PARAMETER_NONE, _PARAMETER_BYTES, _PARAMETER_OAEP, _PARAMETER_PSS, _PARAMETER_ECSG = range(5)


def encode_parameter(parameter) -> bytes:
    """Serialise a checked mechanism parameter for a state blob."""
    if parameter is None:
        return bytes((_PARAMETER_NONE,))
    if isinstance(parameter, bytes):
        return bytes((_PARAMETER_BYTES,)) + parameter
    if isinstance(parameter, OAEPParams):
        return (
            bytes((_PARAMETER_OAEP,))
            + struct.pack(">QQQ", parameter.hash_mechanism, parameter.mgf, parameter.source)
            + parameter.label
        )
    if isinstance(parameter, PSSParams):
        return bytes((_PARAMETER_PSS,)) + struct.pack(
            ">QQQ", parameter.hash_mechanism, parameter.mgf, parameter.salt_length
        )
    if isinstance(parameter, ECSGParams):
        return bytes((_PARAMETER_ECSG,)) + struct.pack(">Q", parameter.type)
    raise TypeError(f"cannot store a {type(parameter).__name__} parameter in a state")


def decode_parameter(data: bytes):
    tag, body = data[0], data[1:]
    if tag == _PARAMETER_NONE:
        return None
    if tag == _PARAMETER_BYTES:
        return body
    if tag == _PARAMETER_OAEP:
        hash_mechanism, mgf, source = struct.unpack_from(">QQQ", body)
        return OAEPParams(hash_mechanism, mgf, source, body[24:])
    if tag == _PARAMETER_PSS:
        return PSSParams(*struct.unpack(">QQQ", body))
    if tag == _PARAMETER_ECSG:
        return ECSGParams(*struct.unpack(">Q", body))
    raise ValueError(f"unknown parameter tag {tag}")
