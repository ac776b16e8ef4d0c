"""BLS12-381 signatures (CKM_IBM_ECDSA_OTHER variant 6) and CKM_IBM_EC_AGGREGATE.

The ciphersuite, key and signature encodings are those of ``ep11core.blskeys``: 48-byte
compressed public keys in G1, 96-byte compressed signatures in G2, hash_to_curve with the tag
BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_, and the message signed as given.

CKM_IBM_ECDSA_OTHER with ECSGParm type 6 signs with a BLS12-381 private key and verifies with a
public key object. Verification also takes a concatenation of MACed SPKIs as the key and checks
the signature against the sum of those public keys (see ``Engine._concatenated_public_key``),
which is FastAggregateVerify of the IETF draft. SignInit and VerifyInit followed by Sign or
Verify work as well; SignUpdate, VerifyUpdate and the Final calls do not.

CKM_IBM_EC_AGGREGATE takes an ECAGGParm {Version 0, Mode, PerElementSize, Elements}, where
Elements is the concatenation of elements of PerElementSize bytes each:

- Mode 1 (BLS12-381 signatures), SignSingle without a key: the result is the sum of the
  96-byte signatures. The Data of the request is not used.
- Mode 2 (BLS12-381 public keys), DeriveKey without a base key: each element is one public key
  object (MACed SPKI) of this HSM, and the result is a new public key object of their sum.

Because every element of a public key aggregation must carry this HSM's MAC, the MAC takes the
place of the proof of possession of the POP ciphersuite. NOTE: CKM_IBM_TRANSPORTKEY gives a MAC to
any SPKI, also to a BLS key without a proof of possession, so callers who aggregate keys of
other parties must check their proofs of possession themselves.

Errors, beyond the engine's usual key checks:

| case | CKR |
|---|---|
| no ECAGGParm, Version other than 0, Mode other than 1 or 2, or the mode of the other function | CKR_MECHANISM_PARAM_INVALID |
| PerElementSize 0, Elements empty or not a whole number of elements, more than 4096 elements | CKR_MECHANISM_PARAM_INVALID |
| mode 1 with PerElementSize other than 96; a signature of another length in Verify | CKR_SIGNATURE_LEN_RANGE |
| a signature element or signature that is not a canonical point of the G2 subgroup | CKR_SIGNATURE_INVALID |
| a mode 2 element that is not one intact public key object (also a plain SPKI) | CKR_KEY_HANDLE_INVALID |
| a mode 2 element sealed under another master key | CKR_IBM_WKID_MISMATCH |
| a mode 2 element that is a private key or not a BLS12-381 key; variant 6 with another key | CKR_KEY_TYPE_INCONSISTENT |
| a mode 2 element whose CKA_DERIVE is FALSE | CKR_KEY_FUNCTION_NOT_PERMITTED |
| public keys that add up to the point at infinity | CKR_MECHANISM_PARAM_INVALID |
| a derivation template with another class, key type or curve | CKR_TEMPLATE_INCONSISTENT |
"""

import enum
from dataclasses import dataclass
from typing import Tuple

from ..blskeys import (
    BLS12_381_OID,
    KEY_BITS,
    SIGNATURE_BYTES,
    BLSKey,
    BLSKeyError,
    aggregate_signatures,
)
from ..blobs import MAX_CONCATENATED_PUBLIC_KEYS
from ..constants import CKA, CKF, CKK, CKM, CKO, CKR
from ..errors import PKCS11Error
from ..types import ECAGGParams
from .base import (
    DerivedKey,
    DeriveScheme,
    Function,
    MechanismSpec,
    SignScheme,
    invalid_signature,
    signature_length_error,
)
from .parameters import param_error

ECAGG_VERSION = 0


class ECAGGMode(enum.IntEnum):
    """XCP_EC_AGGREGATE modes of ep11.h (the proto enum has the same numbers)."""

    BLS12_381_SIGN = 1
    BLS12_381_PKEY = 2


def bls_key(key) -> BLSKey:
    """Return the BLS12-381 key of ``key``, else CKR_KEY_TYPE_INCONSISTENT."""
    if not isinstance(key.pkey, BLSKey):
        raise PKCS11Error(
            CKR.KEY_TYPE_INCONSISTENT,
            f"BLS signatures need a BLS12-381 key, not a key on curve {key.pkey.curve}",
        )
    return key.pkey


class BLSSignScheme(SignScheme):
    """ECSG variant 6: BLS12-381 signatures of the message as given, in one call."""

    single_part = True

    def start(self, key, parameter):
        bls_key(key)
        return b""

    def sign_once(self, key, parameter, data):
        return bls_key(key).sign(data)

    def verify_once(self, key, parameter, data, signature):
        pkey = bls_key(key)
        if len(signature) != SIGNATURE_BYTES:
            raise signature_length_error(SIGNATURE_BYTES, len(signature))
        if not pkey.verify(data, signature):
            raise invalid_signature()


# --- CKM_IBM_EC_AGGREGATE

# Each element costs a subgroup check and a point addition (about 0.44 ms per signature on a
# 2-CPU x86-64 guest). A started call runs to its end even when the client gives up, so the
# count bounds one call to about 2 s. NOTE: IBM documents no such limit. 4096 is our choice,
# the same as for a concatenation of public keys in VerifySingle.
MAX_AGGREGATED_ELEMENTS = MAX_CONCATENATED_PUBLIC_KEYS


def ecagg_parameter(parameter):
    """Check an ECAGGParm and return it; the scheme of each function checks the mode."""
    if not isinstance(parameter, ECAGGParams):
        raise param_error("CKM_IBM_EC_AGGREGATE needs an ECAGGParm parameter")
    if parameter.version != ECAGG_VERSION:
        raise param_error(f"ECAGGParm Version must be {ECAGG_VERSION}, got {parameter.version}")
    if parameter.mode not in tuple(ECAGGMode):
        raise param_error(f"ECAGGParm Mode {parameter.mode} is not defined; use 1 or 2")
    if parameter.per_element_size == 0:
        raise param_error("ECAGGParm PerElementSize must not be 0")
    if not parameter.elements:
        raise param_error("ECAGGParm Elements is empty")
    if len(parameter.elements) % parameter.per_element_size:
        raise param_error(
            f"ECAGGParm Elements has {len(parameter.elements)} bytes, not a multiple of "
            f"PerElementSize {parameter.per_element_size}"
        )
    count = len(parameter.elements) // parameter.per_element_size
    if count > MAX_AGGREGATED_ELEMENTS:
        raise param_error(
            f"ECAGGParm Elements has {count} elements; at most {MAX_AGGREGATED_ELEMENTS} "
            "aggregate in one call, so aggregate larger sets in parts"
        )
    return parameter


def _elements(parameter: ECAGGParams) -> Tuple[bytes, ...]:
    size = parameter.per_element_size
    data = parameter.elements
    return tuple(data[start : start + size] for start in range(0, len(data), size))


def _require_mode(parameter: ECAGGParams, mode: ECAGGMode, call: str) -> None:
    if parameter.mode != mode:
        raise param_error(f"{call} with CKM_IBM_EC_AGGREGATE needs ECAGGParm Mode {mode.value}")


class AggregateSignScheme(SignScheme):
    """Mode 1: add up BLS12-381 signatures; SignSingle only, and without a key."""

    single_part = True
    needs_key = False

    def start(self, key, parameter):
        raise PKCS11Error(
            CKR.MECHANISM_INVALID, "CKM_IBM_EC_AGGREGATE aggregates signatures in SignSingle only"
        )

    def sign_once(self, key, parameter, data):
        _require_mode(parameter, ECAGGMode.BLS12_381_SIGN, "SignSingle")
        if parameter.per_element_size != SIGNATURE_BYTES:
            raise signature_length_error(SIGNATURE_BYTES, parameter.per_element_size)
        try:
            return aggregate_signatures(_elements(parameter))
        except BLSKeyError as error:
            raise PKCS11Error(CKR.SIGNATURE_INVALID, f"a signature to aggregate: {error}") from None

    def verify_once(self, key, parameter, data, signature):
        raise PKCS11Error(CKR.MECHANISM_INVALID, "CKM_IBM_EC_AGGREGATE does not verify")


@dataclass(frozen=True)
class OpenedPublicKeys:
    """The parameter of a mode 2 aggregation once its elements are opened."""

    parameter: ECAGGParams
    keys: tuple


def _check_element(index: int, key) -> BLSKey:
    if key.object_class != CKO.PUBLIC_KEY:
        raise PKCS11Error(
            CKR.KEY_TYPE_INCONSISTENT, f"element {index} is not a public key object"
        )
    if not isinstance(key.pkey, BLSKey):
        raise PKCS11Error(
            CKR.KEY_TYPE_INCONSISTENT, f"element {index} is not a BLS12-381 public key"
        )
    if not key.maced:
        raise PKCS11Error(
            CKR.KEY_HANDLE_INVALID, f"element {index} is a plain SPKI; aggregation needs MACed SPKIs"
        )
    if not key.attributes.get(CKA.DERIVE, False):
        raise PKCS11Error(
            CKR.KEY_FUNCTION_NOT_PERMITTED, f"the CKA_DERIVE attribute of element {index} is FALSE"
        )
    return key.pkey


def _check_template(template: dict) -> None:
    if template.get(CKA.CLASS, CKO.PUBLIC_KEY) != CKO.PUBLIC_KEY:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT, "public key aggregation returns a CKO_PUBLIC_KEY object"
        )
    if template.get(CKA.KEY_TYPE, CKK.EC) != CKK.EC:
        raise PKCS11Error(CKR.TEMPLATE_INCONSISTENT, "public key aggregation returns CKK_EC keys")
    if bytes(template.get(CKA.EC_PARAMS, BLS12_381_OID)) != BLS12_381_OID:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT, "public key aggregation returns BLS12-381 keys"
        )


class AggregateDeriveScheme(DeriveScheme):
    """Mode 2: add up BLS12-381 public key objects; DeriveKey without a base key."""

    needs_base_key = False
    asymmetric = True

    def open_parameter_keys(self, parameter, open_key):
        _require_mode(parameter, ECAGGMode.BLS12_381_PKEY, "DeriveKey")
        keys = tuple(open_key(element) for element in _elements(parameter))
        return OpenedPublicKeys(parameter, keys)

    def derive(self, base_key, parameter, data, template) -> DerivedKey:
        _check_template(template)
        pkeys = [_check_element(index, key) for index, key in enumerate(parameter.keys)]
        try:
            aggregate = BLSKey.aggregate(pkeys)
        except BLSKeyError as error:
            raise param_error(str(error)) from None
        spki = aggregate.spki()
        return DerivedKey(
            CKO.PUBLIC_KEY,
            CKK.EC,
            spki,
            checksum=spki + KEY_BITS.to_bytes(4, "big"),
            properties={CKA.EC_PARAMS: BLS12_381_OID},
        )


ROWS = [
    MechanismSpec(
        CKM.IBM_EC_AGGREGATE,
        Function.SIGN | Function.DERIVE,
        key_types=frozenset({CKK.EC}),
        min_key_size=KEY_BITS,
        max_key_size=KEY_BITS,
        parameter=ecagg_parameter,
        sign=AggregateSignScheme(),
        derive=AggregateDeriveScheme(),
        extra_flags=CKF.EC_F_P | CKF.EC_NAMEDCURVE | CKF.EC_COMPRESS,
    ),
]
