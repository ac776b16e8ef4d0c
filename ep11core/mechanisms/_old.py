"""The mechanism table.

Each ``MechanismSpec`` names the functions a mechanism serves, the key types it accepts, its
key size range, how its parameter is checked, and the scheme objects that implement it.
Dispatch, GetMechanismList and GetMechanismInfo read only this table.
"""

import enum
import hmac as _hmac
import struct
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from . import _crypto
from .constants import CKF, CKG, CKK, CKM, CKR, CKZ
from .errors import PKCS11Error
from .types import MechanismInfo, OAEPParams, PSSParams


class Function(enum.Flag):
    """The EP11 function groups a mechanism can serve."""

    ENCRYPT = enum.auto()
    DECRYPT = enum.auto()
    DIGEST = enum.auto()
    SIGN = enum.auto()
    VERIFY = enum.auto()
    WRAP = enum.auto()
    UNWRAP = enum.auto()
    DERIVE = enum.auto()
    GENERATE = enum.auto()
    GENERATE_KEY_PAIR = enum.auto()


FLAG_OF_FUNCTION = {
    Function.ENCRYPT: CKF.ENCRYPT,
    Function.DECRYPT: CKF.DECRYPT,
    Function.DIGEST: CKF.DIGEST,
    Function.SIGN: CKF.SIGN,
    Function.VERIFY: CKF.VERIFY,
    Function.WRAP: CKF.WRAP,
    Function.UNWRAP: CKF.UNWRAP,
    Function.DERIVE: CKF.DERIVE,
    Function.GENERATE: CKF.GENERATE,
    Function.GENERATE_KEY_PAIR: CKF.GENERATE_KEY_PAIR,
}

# Hash mechanisms that parameters may name, with the libcrypto hash name and output size.
HASH_OF_MECHANISM = {
    CKM.SHA_1: ("sha1", 20),
    CKM.SHA224: ("sha224", 28),
    CKM.SHA256: ("sha256", 32),
    CKM.SHA384: ("sha384", 48),
    CKM.SHA512: ("sha512", 64),
}
HASH_OF_MGF = {
    CKG.MGF1_SHA1: "sha1",
    CKG.MGF1_SHA224: "sha224",
    CKG.MGF1_SHA256: "sha256",
    CKG.MGF1_SHA384: "sha384",
    CKG.MGF1_SHA512: "sha512",
}
HASH_SIZE = {name: size for name, size in HASH_OF_MECHANISM.values()}

EC_FLAGS = CKF.EC_F_P | CKF.EC_NAMEDCURVE | CKF.EC_UNCOMPRESS
SECRET_MAC_KEY_TYPES = frozenset(
    {
        CKK.GENERIC_SECRET,
        CKK.AES,
        CKK.SHA_1_HMAC,
        CKK.SHA224_HMAC,
        CKK.SHA256_HMAC,
        CKK.SHA384_HMAC,
        CKK.SHA512_HMAC,
    }
)


def _param_error(detail: str) -> PKCS11Error:
    return PKCS11Error(CKR.MECHANISM_PARAM_INVALID, detail)


# --- parameter rules: each returns the checked parameter or raises CKR_MECHANISM_PARAM_INVALID


def no_parameter(parameter):
    if parameter is None or parameter == b"":
        return None
    raise _param_error("this mechanism takes no parameter")


def iv_parameter(size: int) -> Callable:
    def check(parameter):
        if not isinstance(parameter, bytes) or len(parameter) != size:
            raise _param_error(f"the parameter must be a {size}-byte IV")
        return parameter

    return check


def _hash_of(mechanism: int) -> str:
    entry = HASH_OF_MECHANISM.get(mechanism)
    if entry is None:
        raise _param_error(f"hash mechanism {mechanism:#x} is not supported here")
    return entry[0]


def _mgf_hash(mgf: int) -> str:
    name = HASH_OF_MGF.get(mgf)
    if name is None:
        # NOTE: the IBM SHA-3 MGF1 values are accepted by the wire layer but not implemented.
        raise _param_error(f"MGF {mgf:#x} is not supported")
    return name


def oaep_parameter(parameter):
    if not isinstance(parameter, OAEPParams):
        raise _param_error("CKM_RSA_PKCS_OAEP needs an RSAOAEPParm parameter")
    _hash_of(parameter.hash_mechanism)
    _mgf_hash(parameter.mgf)
    if parameter.source not in (CKZ.NO_DATA_SPECIFIED, CKZ.DATA_SPECIFIED):
        raise _param_error(f"OAEP source {parameter.source:#x} is invalid")
    if parameter.source == CKZ.NO_DATA_SPECIFIED and parameter.label:
        raise _param_error("an OAEP label needs source CKZ_DATA_SPECIFIED")
    if len(parameter.label) > 1024:
        raise _param_error("an OAEP label is at most 1024 bytes")
    return parameter


def pss_parameter(expected_hash: Optional[int]) -> Callable:
    def check(parameter):
        if not isinstance(parameter, PSSParams):
            raise _param_error("RSA-PSS needs an RSAPSSParm parameter")
        _hash_of(parameter.hash_mechanism)
        _mgf_hash(parameter.mgf)
        if expected_hash is not None and parameter.hash_mechanism != expected_hash:
            raise _param_error(
                f"the PSS hash {parameter.hash_mechanism:#x} must match the mechanism's "
                f"hash {expected_hash:#x}"
            )
        return parameter

    return check


# --- schemes: the implementations behind the table rows


class DigestScheme:
    """A hash with a serialisable context."""

    def __init__(self, hash_name: str):
        self.hash_name = hash_name

    def once(self, data: bytes) -> bytes:
        return _crypto.digest(self.hash_name, data)

    def start(self) -> bytes:
        return _crypto.hash_init(self.hash_name)

    def update(self, context: bytes, data: bytes) -> bytes:
        return _crypto.hash_update(self.hash_name, context, data)

    def final(self, context: bytes) -> bytes:
        return _crypto.hash_final(self.hash_name, context)


class CipherScheme:
    """The interface of encryption schemes; multi-part calls work on an opaque context."""

    single_part = False
    asymmetric = False

    def encrypt_once(self, key, parameter, data: bytes) -> bytes:
        raise NotImplementedError

    def decrypt_once(self, key, parameter, data: bytes) -> bytes:
        raise NotImplementedError

    def start(self, parameter) -> bytes:
        return b""

    def update(self, key, context: bytes, data: bytes, encrypt: bool) -> Tuple[bytes, bytes]:
        raise NotImplementedError

    def final(self, key, context: bytes, encrypt: bool) -> bytes:
        raise NotImplementedError


def _data_length_error(encrypt: bool, detail: str) -> PKCS11Error:
    code = CKR.DATA_LEN_RANGE if encrypt else CKR.ENCRYPTED_DATA_LEN_RANGE
    return PKCS11Error(code, detail)


class BlockCipherScheme(CipherScheme):
    """ECB or CBC, with or without PKCS #7 padding.

    The multi-part context is the chaining block (the IV, then the last ciphertext block)
    followed by the buffered bytes that do not yet form a whole block. Decryption with padding
    holds back the last whole block until the final call, which removes the padding.
    """

    def __init__(self, cipher_name: str, block_size: int, pad: bool, chained: bool):
        self.cipher_name = cipher_name
        self.block_size = block_size
        self.pad = pad
        self.chained = chained

    def _run(self, encrypt, key, iv, data, pad):
        try:
            return _crypto.cipher(self.cipher_name, encrypt, key.value, iv, data, pad)
        except _crypto.DataLengthError:
            raise _data_length_error(
                encrypt,
                f"{len(data)} bytes are not a whole number of {self.block_size}-byte blocks",
            ) from None
        except _crypto.PaddingError:
            raise PKCS11Error(
                CKR.ENCRYPTED_DATA_INVALID, "the decrypted data has invalid padding"
            ) from None

    def encrypt_once(self, key, parameter, data):
        return self._run(True, key, parameter, data, self.pad)

    def decrypt_once(self, key, parameter, data):
        if self.pad and not data:
            raise _data_length_error(False, "padded ciphertext cannot be empty")
        return self._run(False, key, parameter, data, self.pad)

    def start(self, parameter):
        chain = parameter if self.chained else b""
        return bytes((len(chain),)) + chain

    def _split_context(self, context: bytes):
        size = context[0]
        return context[1 : 1 + size], context[1 + size :]

    def update(self, key, context, data, encrypt):
        chain, buffered = self._split_context(context)
        pending = buffered + data
        block = self.block_size
        if encrypt or not self.pad:
            ready = len(pending) - len(pending) % block
        else:
            ready = ((len(pending) - 1) // block) * block if pending else 0
        output = b""
        if ready:
            chunk = pending[:ready]
            output = self._run(encrypt, key, chain or None, chunk, False)
            if self.chained:
                chain = (output if encrypt else chunk)[-block:]
        new_context = bytes((len(chain),)) + chain + pending[ready:]
        return new_context, output

    def final(self, key, context, encrypt):
        chain, buffered = self._split_context(context)
        if not self.pad:
            if buffered:
                raise _data_length_error(
                    encrypt, f"{len(buffered)} bytes are left over after the last whole block"
                )
            return b""
        if encrypt:
            return self._run(True, key, chain or None, buffered, True)
        if len(buffered) != self.block_size:
            raise _data_length_error(False, "padded ciphertext must end on a whole block")
        return self._run(False, key, chain or None, buffered, True)


class RSACipherScheme(CipherScheme):
    """RSA PKCS #1 v1.5 or OAEP encryption; single-part only."""

    single_part = True
    asymmetric = True

    def __init__(self, padding: str):
        self.padding = padding

    def _options(self, parameter):
        if self.padding != "oaep":
            return {}
        label = parameter.label if parameter.source == CKZ.DATA_SPECIFIED else None
        return {
            "md": _hash_of(parameter.hash_mechanism),
            "mgf1_md": _mgf_hash(parameter.mgf),
            "label": label or None,
        }

    def encrypt_once(self, key, parameter, data):
        try:
            return key.pkey.encrypt(data, padding=self.padding, **self._options(parameter))
        except _crypto.DataLengthError:
            raise PKCS11Error(
                CKR.DATA_LEN_RANGE, f"{len(data)} bytes are too long for this RSA key"
            ) from None

    def decrypt_once(self, key, parameter, data):
        if len(data) != (key.bits + 7) // 8:
            raise PKCS11Error(
                CKR.ENCRYPTED_DATA_LEN_RANGE,
                f"RSA ciphertext must be {(key.bits + 7) // 8} bytes, got {len(data)}",
            )
        try:
            return key.pkey.decrypt(data, padding=self.padding, **self._options(parameter))
        except _crypto.CryptoError:
            raise PKCS11Error(CKR.ENCRYPTED_DATA_INVALID, "RSA decryption failed") from None


# Signers sign a digest (or raw data) that the sign scheme prepared.


def _signature_length_error(expected: int, found: int) -> PKCS11Error:
    return PKCS11Error(
        CKR.SIGNATURE_LEN_RANGE, f"the signature must be {expected} bytes, got {found}"
    )


def _invalid_signature() -> PKCS11Error:
    return PKCS11Error(CKR.SIGNATURE_INVALID, "the signature does not verify")


class RSAPKCS1Signer:
    def __init__(self, hash_name: Optional[str]):
        self.hash_name = hash_name

    def sign(self, key, parameter, tbs):
        if self.hash_name is None and len(tbs) > (key.bits + 7) // 8 - 11:
            raise PKCS11Error(
                CKR.DATA_LEN_RANGE, f"{len(tbs)} bytes are too long for this RSA key"
            )
        return key.pkey.sign(tbs, padding="pkcs1", md=self.hash_name)

    def verify(self, key, parameter, tbs, signature):
        expected = (key.bits + 7) // 8
        if len(signature) != expected:
            raise _signature_length_error(expected, len(signature))
        if not key.pkey.verify(tbs, signature, padding="pkcs1", md=self.hash_name):
            raise _invalid_signature()


class RSAPSSSigner:
    def _options(self, key, parameter, tbs):
        hash_name = _hash_of(parameter.hash_mechanism)
        if len(tbs) != HASH_SIZE[hash_name]:
            raise PKCS11Error(
                CKR.DATA_LEN_RANGE,
                f"RSA-PSS signs a {HASH_SIZE[hash_name]}-byte {hash_name} digest, "
                f"got {len(tbs)} bytes",
            )
        max_salt = (key.bits - 1 + 7) // 8 - HASH_SIZE[hash_name] - 2
        if parameter.salt_length > max_salt:
            raise _param_error(
                f"salt length {parameter.salt_length} exceeds {max_salt} for this key"
            )
        return {
            "padding": "pss",
            "md": hash_name,
            "mgf1_md": _mgf_hash(parameter.mgf),
            "salt_len": parameter.salt_length,
        }

    def sign(self, key, parameter, tbs):
        return key.pkey.sign(tbs, **self._options(key, parameter, tbs))

    def verify(self, key, parameter, tbs, signature):
        expected = (key.bits + 7) // 8
        if len(signature) != expected:
            raise _signature_length_error(expected, len(signature))
        if not key.pkey.verify(tbs, signature, **self._options(key, parameter, tbs)):
            raise _invalid_signature()


class ECDSASigner:
    """ECDSA with raw ``r‖s`` signatures; the input is a hash of any length."""

    def sign(self, key, parameter, tbs):
        if not tbs:
            raise PKCS11Error(CKR.DATA_LEN_RANGE, "ECDSA needs a non-empty hash")
        return key.pkey.sign(tbs)

    def verify(self, key, parameter, tbs, signature):
        expected = 2 * ((key.bits + 7) // 8)
        if len(signature) != expected:
            raise _signature_length_error(expected, len(signature))
        if not tbs or not key.pkey.verify(tbs, signature):
            raise _invalid_signature()


class SignScheme:
    """The interface of sign and verify schemes; the context is opaque bytes."""

    single_part = False
    asymmetric = True

    def start(self, key, parameter) -> bytes:
        raise NotImplementedError

    def update(self, key, context: bytes, data: bytes) -> bytes:
        raise NotImplementedError

    def sign_final(self, key, parameter, context: bytes) -> bytes:
        raise NotImplementedError

    def verify_final(self, key, parameter, context: bytes, signature: bytes) -> None:
        raise NotImplementedError

    def sign_once(self, key, parameter, data: bytes) -> bytes:
        context = self.update(key, self.start(key, parameter), data)
        return self.sign_final(key, parameter, context)

    def verify_once(self, key, parameter, data: bytes, signature: bytes) -> None:
        context = self.update(key, self.start(key, parameter), data)
        self.verify_final(key, parameter, context, signature)


class HashThenSignScheme(SignScheme):
    """Hash the data (with a serialisable context), then sign the digest."""

    def __init__(self, hash_name: str, signer):
        self.hash_name = hash_name
        self.signer = signer

    def start(self, key, parameter):
        return _crypto.hash_init(self.hash_name)

    def update(self, key, context, data):
        return _crypto.hash_update(self.hash_name, context, data)

    def sign_final(self, key, parameter, context):
        return self.signer.sign(key, parameter, _crypto.hash_final(self.hash_name, context))

    def verify_final(self, key, parameter, context, signature):
        digest = _crypto.hash_final(self.hash_name, context)
        self.signer.verify(key, parameter, digest, signature)

    def sign_once(self, key, parameter, data):
        return self.signer.sign(key, parameter, _crypto.digest(self.hash_name, data))

    def verify_once(self, key, parameter, data, signature):
        digest = _crypto.digest(self.hash_name, data)
        self.signer.verify(key, parameter, digest, signature)


class RawSignScheme(SignScheme):
    """Sign the data as given; single-part only, so the context is the data itself."""

    single_part = True

    def __init__(self, signer):
        self.signer = signer

    def start(self, key, parameter):
        return b""

    def update(self, key, context, data):
        return context + data

    def sign_final(self, key, parameter, context):
        return self.signer.sign(key, parameter, context)

    def verify_final(self, key, parameter, context, signature):
        self.signer.verify(key, parameter, context, signature)


class HMACScheme(SignScheme):
    """HMAC with a secret key; verification compares in constant time."""

    asymmetric = False

    def __init__(self, hash_name: str):
        self.hash_name = hash_name
        self.size = HASH_SIZE[hash_name]

    def start(self, key, parameter):
        return _crypto.hmac_init(self.hash_name, key.value)

    def update(self, key, context, data):
        return _crypto.hmac_update(self.hash_name, context, data)

    def sign_final(self, key, parameter, context):
        return _crypto.hmac_final(self.hash_name, key.value, context)

    def _compare(self, mac, signature):
        if len(signature) != self.size:
            raise _signature_length_error(self.size, len(signature))
        if not _hmac.compare_digest(mac, signature):
            raise _invalid_signature()

    def verify_final(self, key, parameter, context, signature):
        self._compare(self.sign_final(key, parameter, context), signature)

    def sign_once(self, key, parameter, data):
        return _crypto.hmac(self.hash_name, key.value, data)

    def verify_once(self, key, parameter, data, signature):
        self._compare(_crypto.hmac(self.hash_name, key.value, data), signature)


class KeyGenScheme:
    """Marks a key or key-pair generation mechanism; the engine's generators do the work."""

    def __init__(self, key_type: int):
        self.key_type = key_type


class TransportKeyScheme:
    """CKM_IBM_TRANSPORTKEY: UnwrapKey turns a plain SPKI into a MACed SPKI."""


@dataclass(frozen=True)
class MechanismSpec:
    """One row of the mechanism table."""

    mechanism: int
    functions: Function
    key_types: frozenset = frozenset()
    min_key_size: int = 0
    max_key_size: int = 0
    parameter: Callable = no_parameter
    cipher: Optional[CipherScheme] = None
    sign: Optional[SignScheme] = None
    digest: Optional[DigestScheme] = None
    generator: Optional[KeyGenScheme] = None
    transport: Optional[TransportKeyScheme] = None
    extra_flags: int = 0

    @property
    def single_part(self) -> bool:
        scheme = self.sign or self.cipher
        return bool(scheme and scheme.single_part)

    def info(self) -> MechanismInfo:
        flags = self.extra_flags
        for function, flag in FLAG_OF_FUNCTION.items():
            if function in self.functions:
                flags |= flag
        return MechanismInfo(self.min_key_size, self.max_key_size, int(flags))


_RSA = frozenset({CKK.RSA})
_EC = frozenset({CKK.EC})
_AES = frozenset({CKK.AES})
RSA_SIZES = {"key_types": _RSA, "min_key_size": 512, "max_key_size": 4096}
EC_SIZES = {"key_types": _EC, "min_key_size": 192, "max_key_size": 521, "extra_flags": EC_FLAGS}
AES_SIZES = {"key_types": _AES, "min_key_size": 16, "max_key_size": 32}
MAC_SIZES = {"key_types": SECRET_MAC_KEY_TYPES, "min_key_size": 1, "max_key_size": 256}
SIGN_VERIFY = Function.SIGN | Function.VERIFY
CRYPT_WRAP = Function.ENCRYPT | Function.DECRYPT | Function.WRAP | Function.UNWRAP

_pkcs1 = RSACipherScheme("pkcs1")
_ecdsa = ECDSASigner()


def _hashed_rows():
    rows = []
    for mechanism, hash_mechanism in (
        (CKM.SHA1_RSA_PKCS, CKM.SHA_1),
        (CKM.SHA224_RSA_PKCS, CKM.SHA224),
        (CKM.SHA256_RSA_PKCS, CKM.SHA256),
        (CKM.SHA384_RSA_PKCS, CKM.SHA384),
        (CKM.SHA512_RSA_PKCS, CKM.SHA512),
    ):
        hash_name = HASH_OF_MECHANISM[hash_mechanism][0]
        scheme = HashThenSignScheme(hash_name, RSAPKCS1Signer(hash_name))
        rows.append(MechanismSpec(mechanism, SIGN_VERIFY, sign=scheme, **RSA_SIZES))
    for mechanism, hash_mechanism in (
        (CKM.SHA1_RSA_PKCS_PSS, CKM.SHA_1),
        (CKM.SHA224_RSA_PKCS_PSS, CKM.SHA224),
        (CKM.SHA256_RSA_PKCS_PSS, CKM.SHA256),
        (CKM.SHA384_RSA_PKCS_PSS, CKM.SHA384),
        (CKM.SHA512_RSA_PKCS_PSS, CKM.SHA512),
    ):
        hash_name = HASH_OF_MECHANISM[hash_mechanism][0]
        scheme = HashThenSignScheme(hash_name, RSAPSSSigner())
        rows.append(
            MechanismSpec(
                mechanism,
                SIGN_VERIFY,
                parameter=pss_parameter(hash_mechanism),
                sign=scheme,
                **RSA_SIZES,
            )
        )
    for mechanism, hash_mechanism in (
        (CKM.ECDSA_SHA1, CKM.SHA_1),
        (CKM.ECDSA_SHA224, CKM.SHA224),
        (CKM.ECDSA_SHA256, CKM.SHA256),
        (CKM.ECDSA_SHA384, CKM.SHA384),
        (CKM.ECDSA_SHA512, CKM.SHA512),
    ):
        scheme = HashThenSignScheme(HASH_OF_MECHANISM[hash_mechanism][0], _ecdsa)
        rows.append(MechanismSpec(mechanism, SIGN_VERIFY, sign=scheme, **EC_SIZES))
    for mechanism, hash_mechanism in (
        (CKM.SHA_1_HMAC, CKM.SHA_1),
        (CKM.SHA224_HMAC, CKM.SHA224),
        (CKM.SHA256_HMAC, CKM.SHA256),
        (CKM.SHA384_HMAC, CKM.SHA384),
        (CKM.SHA512_HMAC, CKM.SHA512),
    ):
        scheme = HMACScheme(HASH_OF_MECHANISM[hash_mechanism][0])
        rows.append(MechanismSpec(mechanism, SIGN_VERIFY, sign=scheme, **MAC_SIZES))
    for hash_mechanism, (hash_name, _size) in HASH_OF_MECHANISM.items():
        rows.append(
            MechanismSpec(hash_mechanism, Function.DIGEST, digest=DigestScheme(hash_name))
        )
    return rows


# GetMechanismList returns the rows in this order; clients expect CKM_RSA_PKCS first.
MECHANISM_ROWS = [
    MechanismSpec(
        CKM.RSA_PKCS,
        CRYPT_WRAP | SIGN_VERIFY,
        cipher=_pkcs1,
        sign=RawSignScheme(RSAPKCS1Signer(None)),
        **RSA_SIZES,
    ),
    MechanismSpec(
        CKM.RSA_PKCS_OAEP,
        CRYPT_WRAP,
        parameter=oaep_parameter,
        cipher=RSACipherScheme("oaep"),
        **RSA_SIZES,
    ),
    MechanismSpec(
        CKM.RSA_PKCS_PSS,
        SIGN_VERIFY,
        parameter=pss_parameter(None),
        sign=RawSignScheme(RSAPSSSigner()),
        **RSA_SIZES,
    ),
    MechanismSpec(
        CKM.RSA_PKCS_KEY_PAIR_GEN,
        Function.GENERATE_KEY_PAIR,
        generator=KeyGenScheme(CKK.RSA),
        **RSA_SIZES,
    ),
    MechanismSpec(
        CKM.EC_KEY_PAIR_GEN,
        Function.GENERATE_KEY_PAIR,
        generator=KeyGenScheme(CKK.EC),
        **EC_SIZES,
    ),
    MechanismSpec(CKM.ECDSA, SIGN_VERIFY, sign=RawSignScheme(_ecdsa), **EC_SIZES),
    MechanismSpec(
        CKM.AES_KEY_GEN, Function.GENERATE, generator=KeyGenScheme(CKK.AES), **AES_SIZES
    ),
    MechanismSpec(
        CKM.AES_ECB,
        CRYPT_WRAP,
        cipher=BlockCipherScheme("aes-ecb", 16, pad=False, chained=False),
        **AES_SIZES,
    ),
    MechanismSpec(
        CKM.AES_CBC,
        CRYPT_WRAP,
        parameter=iv_parameter(16),
        cipher=BlockCipherScheme("aes-cbc", 16, pad=False, chained=True),
        **AES_SIZES,
    ),
    MechanismSpec(
        CKM.AES_CBC_PAD,
        CRYPT_WRAP,
        parameter=iv_parameter(16),
        cipher=BlockCipherScheme("aes-cbc", 16, pad=True, chained=True),
        **AES_SIZES,
    ),
    MechanismSpec(
        CKM.GENERIC_SECRET_KEY_GEN,
        Function.GENERATE,
        key_types=frozenset({CKK.GENERIC_SECRET}),
        min_key_size=1,
        max_key_size=256,
        generator=KeyGenScheme(CKK.GENERIC_SECRET),
    ),
    MechanismSpec(
        CKM.IBM_TRANSPORTKEY,
        Function.UNWRAP,
        transport=TransportKeyScheme(),
    ),
    *_hashed_rows(),
]

MECHANISMS: Dict[int, MechanismSpec] = {row.mechanism: row for row in MECHANISM_ROWS}


def lookup(mechanism: int, function: Function) -> MechanismSpec:
    """Return the row of ``mechanism`` if it serves ``function``; else CKR_MECHANISM_INVALID."""
    spec = MECHANISMS.get(mechanism)
    if spec is None:
        raise PKCS11Error(CKR.MECHANISM_INVALID, f"mechanism {mechanism:#x} is not supported")
    if function not in spec.functions:
        raise PKCS11Error(
            CKR.MECHANISM_INVALID,
            f"mechanism {CKM(mechanism).name} cannot be used to {function.name.lower()}",
        )
    return spec


# --- parameters inside state blobs

_PARAMETER_NONE, _PARAMETER_BYTES, _PARAMETER_OAEP, _PARAMETER_PSS = range(4)


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
    raise ValueError(f"unknown parameter tag {tag}")
