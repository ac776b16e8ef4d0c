"""The shape of a mechanism table row and the interfaces of the schemes behind it."""

import enum
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

from ..constants import CKF, CKO, CKR
from ..errors import PKCS11Error
from ..types import MechanismInfo
from .parameters import no_parameter


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


SIGN_VERIFY = Function.SIGN | Function.VERIFY
CRYPT_WRAP = Function.ENCRYPT | Function.DECRYPT | Function.WRAP | Function.UNWRAP


def data_length_error(encrypt: bool, detail: str) -> PKCS11Error:
    code = CKR.DATA_LEN_RANGE if encrypt else CKR.ENCRYPTED_DATA_LEN_RANGE
    return PKCS11Error(code, detail)



def signature_length_error(expected: int, found: int) -> PKCS11Error:
    return PKCS11Error(
        CKR.SIGNATURE_LEN_RANGE, f"the signature must be {expected} bytes, got {found}"
    )


def invalid_signature() -> PKCS11Error:
    return PKCS11Error(CKR.SIGNATURE_INVALID, "the signature does not verify")



class CipherScheme:
    """The interface of encryption schemes; multi-part calls work on an opaque context."""

    single_part = False
    asymmetric = False
    # False when decryption may return block padding after the plaintext (ECB and CBC without
    # padding), which UnwrapKey then trims to the key length.
    exact_length = True

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



class SignScheme:
    """The interface of sign and verify schemes; the context is opaque bytes.

    A scheme with ``needs_key`` False (CKM_IBM_EC_AGGREGATE) gets ``None`` as its key.
    """

    single_part = False
    asymmetric = True
    needs_key = True

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



class SecretKeyGenerator:
    """Generates the value of a secret key; ``generate`` checks the template first."""

    key_type: int

    def generate(self, attributes: dict) -> bytes:
        raise NotImplementedError


class DomainParameterGenerator:
    """Generates DSA or DH domain parameters, which GenerateKey returns in clear, not sealed."""

    key_type: int

    def generate(self, attributes: dict) -> bytes:
        raise NotImplementedError


class KeyPairGenerator:
    """Generates a key pair; the result has ``pkcs8()`` and ``spki()`` like ``_crypto.PKey``."""

    key_type: int

    def generate(self, public: dict, private: dict):
        raise NotImplementedError


@dataclass(frozen=True)
class DerivedKey:
    """What a derivation produced; the engine seals it with the template's attributes.

    ``value`` is the secret value, the DER PKCS #8 of a private key or the DER SPKI of a public
    key. ``checksum`` replaces the default checksum output when it is not None.
    """

    object_class: int
    key_type: int
    value: bytes
    checksum: Optional[bytes] = None
    properties: Dict[int, object] = field(default_factory=dict)


class DeriveScheme:
    """The interface of derivation schemes."""

    needs_base_key = True
    asymmetric = False

    def base_key_class(self, parameter) -> int:
        """Return the object class that the base key must have for ``parameter``."""
        return CKO.PRIVATE_KEY if self.asymmetric else CKO.SECRET_KEY

    def open_parameter_keys(self, parameter, open_key):
        """Return ``parameter`` with the key blobs it names opened by ``open_key(blob)``.

        The default returns ``parameter`` unchanged, for schemes whose parameter names no blob.
        """
        return parameter

    def derive(self, base_key, parameter, data: bytes, template: dict) -> DerivedKey:
        raise NotImplementedError


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
    digest: Optional[object] = None
    generator: Optional[object] = None
    derive: Optional[DeriveScheme] = None
    transport: Optional[TransportKeyScheme] = None
    bound_wrap: Optional[object] = None
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

