"""CKM_IBM_BTC_DERIVE: hierarchical key derivation after BIP32 and SLIP-10.

One DeriveKey call makes one step, and the ``BTCDeriveParams.type`` selects the standard and the
step:

- MASTERK turns a seed (a CKK_GENERIC_SECRET with CKA_IBM_USE_AS_DATA, 16 to 64 bytes as BIP32
  allows) into the master private key. The curve comes from the template's CKA_EC_PARAMS; BIP32
  works on secp256k1 only and uses it when the template names none.
- PRV2PRV derives a child private key from a parent private key and the parent's chain code.
- PRV2PUB derives the same child but returns only its public key (a MACed SPKI).
- PUB2PUB derives a child public key from a parent public key, for non-hardened indices only.

Every step returns the child's 32-byte chain code as the checksum output, which the caller passes
as ``chain_code`` of the next step. BIP32 rejects an index whose child key is invalid (the caller
moves on to the next index), while SLIP-10 rehashes until the key is valid.

SLIP-10 is implemented for secp256k1, P-256 and Ed25519. On Ed25519, SLIP-10 (SLIP-0010,
"Universal private key derivation from master private key", SatoshiLabs) defines hardened
private derivation only: the master key uses the HMAC key "ed25519 seed", every 32-byte HMAC
half is a valid private key (the RFC 8032 seed), and a child is HMAC-SHA512(chain code,
0x00 || parent private key || ser32(index)). Non-hardened indices and PUB2PUB are rejected with
CKR_MECHANISM_PARAM_INVALID, the code of every other invalid derivation here.
"""

import enum
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from .. import _crypto
from ..constants import CKA, CKK, CKM, CKO, CKR
from ..errors import PKCS11Error
from ..keys import CURVE_BY_OPENSSL_NAME, curve_from_params
from ..types import BTCDeriveParams
from . import ecpoints
from .base import DerivedKey, DeriveScheme, Function, MechanismSpec
from .ecpoints import WeierstrassCurve
from .parameters import param_error

HARDENED = 0x80000000
ED25519 = "ED25519"  # OpenSSL's key type name, which PKey.curve returns for Ed25519 keys
ED25519_MASTER_HMAC_KEY = b"ed25519 seed"
CHAIN_CODE_BYTES = 32
BTC_DERIVE_VERSION = 1
SEED_MIN_BYTES = 16
SEED_MAX_BYTES = 64


class BTCDeriveType(enum.IntEnum):
    """CK_IBM_BIP0032_* and CK_IBM_SLIP0010_* of ep11.h (the proto enum has the same numbers)."""

    BIP0032_PRV2PRV = 1
    BIP0032_PRV2PUB = 2
    BIP0032_PUB2PUB = 3
    BIP0032_MASTERK = 4
    SLIP0010_PRV2PRV = 5
    SLIP0010_PRV2PUB = 6
    SLIP0010_PUB2PUB = 7
    SLIP0010_MASTERK = 8


class Step(enum.Enum):
    """The kind of parent and child of one derivation step."""

    MASTER = "master key from a seed"
    PRIVATE_TO_PRIVATE = "private child from a private parent"
    PRIVATE_TO_PUBLIC = "public child from a private parent"
    PUBLIC_TO_PUBLIC = "public child from a public parent"


BASE_CLASS = {
    Step.MASTER: CKO.SECRET_KEY,
    Step.PRIVATE_TO_PRIVATE: CKO.PRIVATE_KEY,
    Step.PRIVATE_TO_PUBLIC: CKO.PRIVATE_KEY,
    Step.PUBLIC_TO_PUBLIC: CKO.PUBLIC_KEY,
}
RESULT_CLASS = {
    Step.MASTER: CKO.PRIVATE_KEY,
    Step.PRIVATE_TO_PRIVATE: CKO.PRIVATE_KEY,
    Step.PRIVATE_TO_PUBLIC: CKO.PUBLIC_KEY,
    Step.PUBLIC_TO_PUBLIC: CKO.PUBLIC_KEY,
}


@dataclass(frozen=True)
class Standard:
    """A derivation standard: the HMAC key of the master step per curve, and whether an invalid
    key is rehashed (SLIP-10) or rejected (BIP32)."""

    name: str
    master_hmac_keys: Dict[str, bytes]
    rehash_invalid: bool
    default_curve: Optional[str]


BIP32 = Standard("BIP32", {"secp256k1": b"Bitcoin seed"}, False, "secp256k1")
SLIP10 = Standard(
    "SLIP-10",
    {"secp256k1": b"Bitcoin seed", "prime256v1": b"Nist256p1 seed"},
    True,
    None,
)

DERIVATIONS: Dict[int, Tuple[Standard, Step]] = {
    BTCDeriveType.BIP0032_PRV2PRV: (BIP32, Step.PRIVATE_TO_PRIVATE),
    BTCDeriveType.BIP0032_PRV2PUB: (BIP32, Step.PRIVATE_TO_PUBLIC),
    BTCDeriveType.BIP0032_PUB2PUB: (BIP32, Step.PUBLIC_TO_PUBLIC),
    BTCDeriveType.BIP0032_MASTERK: (BIP32, Step.MASTER),
    BTCDeriveType.SLIP0010_PRV2PRV: (SLIP10, Step.PRIVATE_TO_PRIVATE),
    BTCDeriveType.SLIP0010_PRV2PUB: (SLIP10, Step.PRIVATE_TO_PUBLIC),
    BTCDeriveType.SLIP0010_PUB2PUB: (SLIP10, Step.PUBLIC_TO_PUBLIC),
    BTCDeriveType.SLIP0010_MASTERK: (SLIP10, Step.MASTER),
}


def btc_parameter(parameter):
    """Check a BTCDeriveParams. Every step but the master step needs the parent's chain code."""
    if not isinstance(parameter, BTCDeriveParams):
        raise param_error("CKM_IBM_BTC_DERIVE needs a BTCDeriveParm parameter")
    if parameter.type not in DERIVATIONS:
        raise param_error(f"BTC derivation type {parameter.type} is not defined")
    if parameter.version != BTC_DERIVE_VERSION:
        raise param_error(
            f"BTCDeriveParm version must be {BTC_DERIVE_VERSION}, got {parameter.version}"
        )
    if not 0 <= parameter.child_key_index < 1 << 32:
        raise param_error(f"child key index {parameter.child_key_index} exceeds 32 bits")
    _, step = DERIVATIONS[parameter.type]
    # NOTE: the master step ignores the index and the chain code, because EP11 documents no rule.
    if step is not Step.MASTER and len(parameter.chain_code) != CHAIN_CODE_BYTES:
        raise param_error(
            f"the chain code must be {CHAIN_CODE_BYTES} bytes, got {len(parameter.chain_code)}"
        )
    return parameter


def _invalid_child(standard: Standard, index: int) -> PKCS11Error:
    return param_error(
        f"{standard.name} index {index:#x} yields an invalid key; derive the next index instead"
    )


def _split(hmac_output: bytes) -> Tuple[int, bytes]:
    return int.from_bytes(hmac_output[:32], "big"), hmac_output[32:]


def master_key(standard: Standard, curve: WeierstrassCurve, seed: bytes) -> Tuple[int, bytes]:
    """Return the master private key and chain code: I = HMAC-SHA512(curve key, seed)."""
    data = seed
    while True:
        output = _crypto.hmac("sha512", standard.master_hmac_keys[curve.openssl_name], data)
        secret, chain_code = _split(output)
        if 0 < secret < curve.n:
            return secret, chain_code
        if not standard.rehash_invalid:
            raise PKCS11Error(CKR.KEY_SIZE_RANGE, "this seed yields an invalid BIP32 master key")
        data = output


def child_private_key(
    standard: Standard, curve: WeierstrassCurve, parent: int, chain_code: bytes, index: int
) -> Tuple[int, bytes]:
    """CKDpriv: the child private key and chain code of a private parent."""
    if index >= HARDENED:
        data = b"\x00" + parent.to_bytes(32, "big") + index.to_bytes(4, "big")
    else:
        parent_point = ecpoints.public_point(curve, parent)
        data = ecpoints.compress(curve, parent_point) + index.to_bytes(4, "big")
    output = _crypto.hmac("sha512", chain_code, data)
    while True:
        tweak, child_chain_code = _split(output)
        child = (tweak + parent) % curve.n
        if tweak < curve.n and child != 0:
            return child, child_chain_code
        if not standard.rehash_invalid:
            raise _invalid_child(standard, index)
        retry = b"\x01" + child_chain_code + index.to_bytes(4, "big")
        output = _crypto.hmac("sha512", chain_code, retry)


def child_public_key(
    standard: Standard, curve: WeierstrassCurve, parent, chain_code: bytes, index: int
):
    """CKDpub: the child public point and chain code of a public parent (non-hardened only)."""
    if index >= HARDENED:
        raise param_error(f"a public key has no hardened children (index {index:#x})")
    data = ecpoints.compress(curve, parent) + index.to_bytes(4, "big")
    output = _crypto.hmac("sha512", chain_code, data)
    while True:
        tweak, child_chain_code = _split(output)
        if tweak < curve.n:
            child = ecpoints.add(curve, ecpoints.public_point(curve, tweak), parent)
            if child is not None:
                return child, child_chain_code
        if not standard.rehash_invalid:
            raise _invalid_child(standard, index)
        retry = b"\x01" + child_chain_code + index.to_bytes(4, "big")
        output = _crypto.hmac("sha512", chain_code, retry)


def ed25519_master_key(seed: bytes) -> Tuple[bytes, bytes]:
    """Return the SLIP-10 Ed25519 master private key and chain code."""
    output = _crypto.hmac("sha512", ED25519_MASTER_HMAC_KEY, seed)
    return output[:32], output[32:]


def ed25519_child_private_key(
    parent: bytes, chain_code: bytes, index: int
) -> Tuple[bytes, bytes]:
    """Return the SLIP-10 Ed25519 child private key and chain code (hardened indices only)."""
    if index < HARDENED:
        raise param_error(
            f"SLIP-10 on Ed25519 derives only hardened children, so index {index:#x} is invalid."
            f" Use {index | HARDENED:#x}."
        )
    data = b"\x00" + parent + index.to_bytes(4, "big")
    output = _crypto.hmac("sha512", chain_code, data)
    return output[:32], output[32:]


def _template_curve(template: dict) -> Optional[str]:
    params = template.get(CKA.EC_PARAMS)
    return None if params is None else curve_from_params(params).openssl_name


def _check_template(template: dict, result_class: int) -> None:
    """Accept the class, key type and CKA_VALUE_LEN = 0 that clients send, if they fit."""
    if template.get(CKA.CLASS, result_class) != result_class:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT,
            f"this derivation returns a {CKO(result_class).name} object",
        )
    if template.get(CKA.KEY_TYPE, CKK.EC) != CKK.EC:
        raise PKCS11Error(CKR.TEMPLATE_INCONSISTENT, "BTC derivation returns CKK_EC keys")
    if template.get(CKA.VALUE_LEN, 0) != 0:
        raise PKCS11Error(CKR.TEMPLATE_INCONSISTENT, "EC keys take no CKA_VALUE_LEN")
    # The template is the engine's own normalised copy, so dropping the meaningless entry here
    # keeps it out of the new key's attributes.
    template.pop(CKA.VALUE_LEN, None)


def _curve_of_standard(standard: Standard, openssl_name: Optional[str]) -> WeierstrassCurve:
    if openssl_name not in standard.master_hmac_keys:
        name = CURVE_BY_OPENSSL_NAME[openssl_name].name if openssl_name else "no curve"
        raise PKCS11Error(CKR.CURVE_NOT_SUPPORTED, f"{standard.name} is not defined on {name}")
    return ecpoints.CURVE_ARITHMETIC[openssl_name]


class BTCDeriveScheme(DeriveScheme):
    """BIP32 and SLIP-10 steps; see the module documentation."""

    asymmetric = True

    def base_key_class(self, parameter) -> int:
        return BASE_CLASS[DERIVATIONS[parameter.type][1]]

    def derive(self, base_key, parameter, data, template) -> DerivedKey:
        standard, step = DERIVATIONS[parameter.type]
        _check_template(template, RESULT_CLASS[step])
        requested_curve = _template_curve(template)
        if step is Step.MASTER:
            if standard is SLIP10 and requested_curve == ED25519:
                secret, chain_code = ed25519_master_key(_seed(base_key))
                return _ed25519_private_result(secret, chain_code)
            curve = _curve_of_standard(standard, requested_curve or standard.default_curve)
            secret, chain_code = master_key(standard, curve, _seed(base_key))
            return _private_result(curve, secret, chain_code)
        if base_key.key_type != CKK.EC:
            raise PKCS11Error(CKR.KEY_TYPE_INCONSISTENT, "the parent must be an EC key")
        if standard is SLIP10 and base_key.pkey.curve == ED25519:
            return _derive_ed25519(base_key, parameter, step, requested_curve)
        curve = _curve_of_standard(standard, base_key.pkey.curve)
        if requested_curve is not None and requested_curve != curve.openssl_name:
            raise PKCS11Error(
                CKR.TEMPLATE_INCONSISTENT, "CKA_EC_PARAMS names another curve than the parent's"
            )
        index = parameter.child_key_index
        if step is Step.PUBLIC_TO_PUBLIC:
            parent_point = ecpoints.decode_point(curve, base_key.pkey.ec_point)
            point, chain_code = child_public_key(
                standard, curve, parent_point, parameter.chain_code, index
            )
            return _public_result(curve, point, chain_code)
        parent = ecpoints.private_scalar(base_key.value)
        secret, chain_code = child_private_key(
            standard, curve, parent, parameter.chain_code, index
        )
        if step is Step.PRIVATE_TO_PUBLIC:
            return _public_result(curve, ecpoints.public_point(curve, secret), chain_code)
        return _private_result(curve, secret, chain_code)


def _derive_ed25519(base_key, parameter, step: Step, requested_curve: Optional[str]):
    """Run a SLIP-10 child step on an Ed25519 parent."""
    if requested_curve is not None and requested_curve != ED25519:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT, "CKA_EC_PARAMS names another curve than the parent's"
        )
    if step is Step.PUBLIC_TO_PUBLIC:
        raise param_error(
            "SLIP-10 on Ed25519 defines no public-to-public derivation, so derive the public"
            " child from the private parent with PRV2PUB"
        )
    secret, chain_code = ed25519_child_private_key(
        base_key.pkey.raw_private_key(), parameter.chain_code, parameter.child_key_index
    )
    if step is Step.PRIVATE_TO_PUBLIC:
        return _ed25519_public_result(secret, chain_code)
    return _ed25519_private_result(secret, chain_code)


def _seed(base_key) -> bytes:
    if base_key.key_type != CKK.GENERIC_SECRET:
        raise PKCS11Error(CKR.KEY_TYPE_INCONSISTENT, "the seed must be a CKK_GENERIC_SECRET key")
    if not base_key.attributes.get(CKA.IBM_USE_AS_DATA, False):
        raise PKCS11Error(
            CKR.KEY_FUNCTION_NOT_PERMITTED, "the seed needs CKA_IBM_USE_AS_DATA = TRUE"
        )
    seed = base_key.value
    if not SEED_MIN_BYTES <= len(seed) <= SEED_MAX_BYTES:
        raise PKCS11Error(
            CKR.KEY_SIZE_RANGE,
            f"a seed is {SEED_MIN_BYTES} to {SEED_MAX_BYTES} bytes, not {len(seed)}",
        )
    return seed


def _curve_properties(curve: WeierstrassCurve) -> dict:
    return {CKA.EC_PARAMS: CURVE_BY_OPENSSL_NAME[curve.openssl_name].der_oid}


def _private_result(curve: WeierstrassCurve, secret: int, chain_code: bytes) -> DerivedKey:
    pkcs8 = ecpoints.private_key(curve, secret).pkcs8()
    return DerivedKey(
        CKO.PRIVATE_KEY, CKK.EC, pkcs8, chain_code, _curve_properties(curve)
    )


def _public_result(curve: WeierstrassCurve, point, chain_code: bytes) -> DerivedKey:
    return DerivedKey(
        CKO.PUBLIC_KEY, CKK.EC, ecpoints.spki(curve, point), chain_code, _curve_properties(curve)
    )


def _ed25519_properties() -> dict:
    return {CKA.EC_PARAMS: CURVE_BY_OPENSSL_NAME[ED25519].der_oid}


def _ed25519_private_result(secret: bytes, chain_code: bytes) -> DerivedKey:
    pkcs8 = _crypto.PKey.from_raw_private_key(ED25519, secret).pkcs8()
    return DerivedKey(CKO.PRIVATE_KEY, CKK.EC, pkcs8, chain_code, _ed25519_properties())


def _ed25519_public_result(secret: bytes, chain_code: bytes) -> DerivedKey:
    # spki() of a private key encodes its public half in EP11's Ed25519 SPKI form.
    spki = _crypto.PKey.from_raw_private_key(ED25519, secret).spki()
    return DerivedKey(CKO.PUBLIC_KEY, CKK.EC, spki, chain_code, _ed25519_properties())


ROWS = [
    MechanismSpec(
        CKM.IBM_BTC_DERIVE,
        Function.DERIVE,
        key_types=frozenset({CKK.GENERIC_SECRET, CKK.EC}),
        min_key_size=256,
        max_key_size=256,
        parameter=btc_parameter,
        derive=BTCDeriveScheme(),
    ),
]
