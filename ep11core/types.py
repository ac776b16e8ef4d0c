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


@dataclass(frozen=True)
class BTCDeriveParams:
    """CK_IBM_BTC_DERIVE_PARAMS: derivation type (CK_IBM_BIP0032_* or CK_IBM_SLIP0010_*), child
    index (hardened from 0x80000000 up), the parent's 32-byte chain code and the version (1)."""

    type: int
    child_key_index: int = 0
    chain_code: bytes = b""
    version: int = 1


@dataclass(frozen=True)
class ECSGParams:
    """CK_IBM_ECSG_PARAMS of CKM_IBM_ECDSA_OTHER: the signature variant (3 EC-SDSA with SHA-256,
    5 EC-SDSA compressed multi, 6 BLS)."""

    type: int


@dataclass(frozen=True)
class KyberKEMParams:
    """CK_IBM_KYBER_PARAMS (also used for ML-KEM): version (0), mode (1 encapsulate,
    2 decapsulate), KDF (``CKD`` C value), prepend flag, the ciphertext to decapsulate, shared
    data for the KDF, and the blob of the generic secret that hybrid KDFs mix in."""

    version: int = 0
    mode: int = 0
    kdf: int = 0
    prepend: bool = False
    ciphertext: bytes = b""
    shared_data: bytes = b""
    blob: bytes = b""


@dataclass(frozen=True)
class ECAGGParams:
    """XCP_EC_AGGREGATE_PARAMS of CKM_IBM_EC_AGGREGATE: version, mode (1 BLS12-381 signatures,
    2 BLS12-381 public keys), the size of each element and the concatenated elements."""

    version: int = 0
    mode: int = 0
    per_element_size: int = 0
    elements: bytes = b""


MechanismParameter = Union[
    None,
    bytes,
    OAEPParams,
    PSSParams,
    ECDH1DeriveParams,
    BTCDeriveParams,
    ECSGParams,
    KyberKEMParams,
    ECAGGParams,
]


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
