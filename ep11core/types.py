"""Value types passed to and returned by the engine.

Mechanism parameters carry C constant values (``CKG``, ``CKZ``, ``CKD``), never the proto enum
numbers: the GREP11 server translates before it calls the engine.
"""

from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass(frozen=True)
class OAEPParams:
    """CK_RSA_PKCS_OAEP_PARAMS: hash mechanism, MGF1 function, label source and label."""

    hash_mechanism: int
    mgf: int
    source: int = 0
    label: bytes = b""


@dataclass(frozen=True)
class PSSParams:
    """CK_RSA_PKCS_PSS_PARAMS: hash mechanism, MGF1 function and salt length in bytes."""

    hash_mechanism: int
    mgf: int
    salt_length: int = 0


@dataclass(frozen=True)
class ECDH1DeriveParams:
    """CK_ECDH1_DERIVE_PARAMS: key derivation function, shared data and the peer's public data."""

    kdf: int
    shared_data: bytes = b""
    public_data: bytes = b""


MechanismParameter = Union[None, bytes, OAEPParams, PSSParams, ECDH1DeriveParams]


@dataclass(frozen=True)
class Mechanism:
    """A CK_MECHANISM: the mechanism type and its parameter (``None`` when absent)."""

    mechanism: int
    parameter: MechanismParameter = None


@dataclass(frozen=True)
class KeyResult:
    """A new key object: its blob (or MACed SPKI), the checksum output and its attributes."""

    blob: bytes
    checksum: bytes
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class KeyPair:
    """A new key pair: the private key blob and the MACed SPKI, with their attributes."""

    private_blob: bytes
    public_blob: bytes
    private_attributes: dict = field(default_factory=dict)
    public_attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class UpdateResult:
    """The result of EncryptUpdate or DecryptUpdate: the new state and the output bytes."""

    state: bytes
    output: bytes


@dataclass(frozen=True)
class MechanismInfo:
    """CK_MECHANISM_INFO: key size range (bits for RSA and EC, bytes for secret keys) and flags."""

    min_key_size: int
    max_key_size: int
    flags: int


KeyArgument = Optional[bytes]
