"""The domain policy: control points, the EP11 key rules, and the CKR code of each rule.

An EP11 domain switches functions on and off with control points, the ``XCP_CPB_*`` bits of
IBM's EP11 header (``ep11.h``), where a set bit allows. A ``Policy`` contains the control points
that are off and a list of disabled mechanisms. The engine applies it at three points:

- ``lookup``: every call that names a mechanism, and GetMechanismList and GetMechanismInfo,
  which leave out what the policy disables;
- ``check_key``: every key object the engine seals, new (GenerateKey, GenerateKeyPair,
  UnwrapKey, DeriveKey) or changed (SetAttributeValue);
- ``check_use``: every key that an operation opens as its key, KEK or base key.

WrapKey and UnwrapKey also call ``check_wrap_strength``, ``check_unwrap_strength`` and, for a
plain SPKI as the KEK, ``allows_raw_spki_wrap``. Key strengths come from ``strength.py``.

``RULES`` gives the CKR code of every rule, including the ones that the mechanism modules and
other parts of the engine enforce. The default policy turns every control point on. HPCS does
not publish the control points of its domains; the GREP11 sample flows need mixed-usage keys
(an RSA public key with CKA_ENCRYPT and CKA_VERIFY) and RSA exponents below 65537, and the
RFC 4231 HMAC test keys are 4 bytes long. The rules without a control point (``FORBIDDEN_USAGE``,
``PRIVATE_TEMPLATE_FORBIDDEN``) hold under every policy.

A policy file is JSON, with both members optional::

    {"control_points": {"KEYSZ_HMAC_ANY": false, "40": false},
     "disabled_mechanisms": ["CKM_SHA_1_HMAC", "0x80010031"]}

Control points are named as in ``ep11.h`` (with or without the ``XCP_CPB_`` prefix) or by
number; only those in ``ControlPoint`` are accepted.
"""

import enum
import json
import os
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional

from .attributes import default_attributes
from .constants import CKA, CKK, CKM, CKO, CKR, ckm_name, describe_mechanism
from .errors import PKCS11Error
from .keys import encode_oid
from .mechanisms import MECHANISM_ROWS, MECHANISMS, Function, MechanismSpec
from .mechanisms import lookup as table_lookup
from .mechanisms.symmetric import HMACScheme
from .strength import key_strength

FILE_NAME = "policy.json"


class PolicyError(Exception):
    """A policy file that cannot be read or does not follow the format."""


class ControlPoint(enum.IntEnum):
    """The EP11 control points this emulator applies, named and numbered as in ``ep11.h``."""

    SIGN_ASYMM = 2
    SIGN_SYMM = 3
    SIGVERIFY_SYMM = 4
    ENCRYPT_SYMM = 5
    DECRYPT_ASYMM = 6
    DECRYPT_SYMM = 7
    WRAP_ASYMM = 8
    WRAP_SYMM = 9
    UNWRAP_ASYMM = 10
    UNWRAP_SYMM = 11
    KEYGEN_ASYMM = 12
    KEYGEN_SYMM = 13
    NON_ATTRBOUND = 16
    MODIFY_OBJECTS = 17
    KEYSZ_HMAC_ANY = 22
    KEYSZ_BELOW80BIT = 23
    KEYSZ_80BIT = 24
    KEYSZ_112BIT = 25
    KEYSZ_128BIT = 26
    KEYSZ_192BIT = 27
    KEYSZ_256BIT = 28
    KEYSZ_RSA65536 = 29
    ALG_RSA = 30
    ALG_DSA = 31
    ALG_EC = 32
    ALG_EC_BPOOLCRV = 33
    ALG_EC_NISTCRV = 34
    USER_SET_TRUSTED = 37
    WRAP_CRYPT_KEYS = 39
    SIGN_CRYPT_KEYS = 40
    WRAP_SIGN_KEYS = 41
    USER_SET_ATTRBOUND = 42
    WRAP_STRONGER_KEY = 44
    WRAP_WITH_RAW_SPKI = 45
    ALG_DH = 46
    DERIVE = 47
    ALG_EC_25519 = 55
    ALG_EC_SECGCRV = 60
    ALG_NBSI2017 = 61
    ALG_PQC = 65
    BTC = 66
    ECDSA_OTHER = 67
    ALG_NFIPS2021 = 68
    ALG_NFIPS2024 = 69
    ALG_RSA_OAEP = 74
    ALG_EC_PAIRING_FRIENDLY = 76
    ALG_DILITHIUM = 77
    ALG_KYBER = 78
    ALG_ML_DSA = 79
    ALG_ML_KEM = 80


class Rule(enum.Enum):
    """A policy rule; ``RULES`` gives its CKR code."""

    MECHANISM_DISABLED = "mechanism disabled"
    FORBIDDEN_USAGE = "usage attribute forbidden for the key type"
    PRIVATE_TEMPLATE_ATTRIBUTE = "public attribute in the private key template"
    MIXED_USAGE_NEW_KEY = "mixed-usage key created"
    MIXED_USAGE_IN_USE = "mixed-usage key used"
    HMAC_KEY_SIZE = "HMAC key too short"
    RSA_EXPONENT_BELOW_65537 = "RSA public exponent below 65537"
    CURVE_DISABLED = "curve family disabled"
    MODIFY_OBJECTS = "SetAttributeValue disabled"
    RSA_PUBLIC_EXPONENT = "RSA public exponent invalid"
    RSA_MODULUS_SIZE = "RSA modulus size invalid"
    SINGLE_PART_UPDATE = "Update with a single-part mechanism"
    ONE_WAY_ATTRIBUTE = "one-way attribute changed the wrong way"
    HMAC_KEY_SIZE_NEW_KEY = "HMAC key created too short"
    STRENGTH_CLASS_NEW_KEY = "key of a disabled strength class created"
    STRENGTH_CLASS_IN_USE = "key of a disabled strength class used"
    NON_ATTRBOUND_WRAP = "wrapping that is not attribute-bound"
    USER_SET_TRUSTED = "CKA_TRUSTED set by a template"
    USER_SET_ATTRBOUND = "CKA_IBM_ATTRBOUND set on a public key"
    WRAP_STRONGER_KEY = "key wrapped by a weaker key"
    UNWRAP_STRONGER_KEY = "key unwrapped by a weaker key"
    WRAP_WITH_RAW_SPKI = "wrapping with a plain SPKI"
    ATTRIBUTE_NOT_OF_KEY_TYPE = "template attribute that the key type does not take"
    ATTRIBUTE_VALUE_FORM = "template value of the wrong form or length"


@dataclass(frozen=True)
class RuleSpec:
    """A rule's CKR code, the control points that lift it, and where it is enforced."""

    code: int
    lifted_by: tuple
    enforced_in: str


_MIXED = (ControlPoint.WRAP_CRYPT_KEYS, ControlPoint.SIGN_CRYPT_KEYS, ControlPoint.WRAP_SIGN_KEYS)
_STRENGTH_POINTS = (
    ControlPoint.KEYSZ_BELOW80BIT,
    ControlPoint.KEYSZ_80BIT,
    ControlPoint.KEYSZ_112BIT,
    ControlPoint.KEYSZ_128BIT,
    ControlPoint.KEYSZ_192BIT,
    ControlPoint.KEYSZ_256BIT,
)

RULES: Dict[Rule, RuleSpec] = {
    Rule.MECHANISM_DISABLED: RuleSpec(CKR.MECHANISM_INVALID, (), "Policy.lookup"),
    Rule.FORBIDDEN_USAGE: RuleSpec(CKR.TEMPLATE_INCONSISTENT, (), "Policy.check_key"),
    Rule.PRIVATE_TEMPLATE_ATTRIBUTE: RuleSpec(
        CKR.TEMPLATE_INCONSISTENT, (), "Policy.check_key_pair_templates"
    ),
    Rule.MIXED_USAGE_NEW_KEY: RuleSpec(CKR.TEMPLATE_INCONSISTENT, _MIXED, "Policy.check_key"),
    Rule.MIXED_USAGE_IN_USE: RuleSpec(CKR.KEY_FUNCTION_NOT_PERMITTED, _MIXED, "Policy.check_use"),
    Rule.HMAC_KEY_SIZE: RuleSpec(
        CKR.KEY_SIZE_RANGE, (ControlPoint.KEYSZ_HMAC_ANY,), "Policy.check_use"
    ),
    Rule.RSA_EXPONENT_BELOW_65537: RuleSpec(
        CKR.ATTRIBUTE_VALUE_INVALID, (ControlPoint.KEYSZ_RSA65536,), "Policy.check_key"
    ),
    Rule.CURVE_DISABLED: RuleSpec(
        CKR.CURVE_NOT_SUPPORTED,
        (
            ControlPoint.ALG_EC_BPOOLCRV,
            ControlPoint.ALG_EC_NISTCRV,
            ControlPoint.ALG_EC_25519,
            ControlPoint.ALG_EC_SECGCRV,
            ControlPoint.ALG_EC_PAIRING_FRIENDLY,
        ),
        "Policy.check_key",
    ),
    Rule.MODIFY_OBJECTS: RuleSpec(
        CKR.ACTION_PROHIBITED, (ControlPoint.MODIFY_OBJECTS,), "Policy.check_modify"
    ),
    Rule.RSA_PUBLIC_EXPONENT: RuleSpec(
        CKR.ATTRIBUTE_VALUE_INVALID, (), "mechanisms/rsa.py, RSAKeyPairGenerator"
    ),
    Rule.RSA_MODULUS_SIZE: RuleSpec(
        CKR.KEY_SIZE_RANGE, (), "mechanisms/rsa.py, RSAKeyPairGenerator"
    ),
    Rule.SINGLE_PART_UPDATE: RuleSpec(
        CKR.MECHANISM_INVALID, (), "Engine._require_multi_part"
    ),
    Rule.ONE_WAY_ATTRIBUTE: RuleSpec(
        CKR.ATTRIBUTE_READ_ONLY, (), "Engine.set_attribute_value"
    ),
    Rule.HMAC_KEY_SIZE_NEW_KEY: RuleSpec(
        CKR.KEY_SIZE_RANGE, (ControlPoint.KEYSZ_HMAC_ANY,), "Policy.check_key"
    ),
    Rule.STRENGTH_CLASS_NEW_KEY: RuleSpec(CKR.KEY_SIZE_RANGE, _STRENGTH_POINTS, "Policy.check_key"),
    Rule.STRENGTH_CLASS_IN_USE: RuleSpec(CKR.KEY_SIZE_RANGE, _STRENGTH_POINTS, "Policy.check_use"),
    Rule.NON_ATTRBOUND_WRAP: RuleSpec(
        CKR.MECHANISM_INVALID, (ControlPoint.NON_ATTRBOUND,), "Policy.lookup"
    ),
    Rule.USER_SET_TRUSTED: RuleSpec(
        CKR.ATTRIBUTE_READ_ONLY, (ControlPoint.USER_SET_TRUSTED,), "Policy.check_key"
    ),
    Rule.USER_SET_ATTRBOUND: RuleSpec(
        CKR.ATTRIBUTE_READ_ONLY, (ControlPoint.USER_SET_ATTRBOUND,), "Policy.check_key"
    ),
    Rule.WRAP_STRONGER_KEY: RuleSpec(
        CKR.WRAPPING_KEY_SIZE_RANGE,
        (ControlPoint.WRAP_STRONGER_KEY,),
        "Policy.check_wrap_strength",
    ),
    Rule.UNWRAP_STRONGER_KEY: RuleSpec(
        CKR.UNWRAPPING_KEY_SIZE_RANGE,
        (ControlPoint.WRAP_STRONGER_KEY,),
        "Policy.check_unwrap_strength",
    ),
    Rule.WRAP_WITH_RAW_SPKI: RuleSpec(
        CKR.KEY_FUNCTION_NOT_PERMITTED,
        (ControlPoint.WRAP_WITH_RAW_SPKI,),
        "Policy.allows_raw_spki_wrap",
    ),
    Rule.ATTRIBUTE_NOT_OF_KEY_TYPE: RuleSpec(
        CKR.TEMPLATE_INCONSISTENT, (), "attributes.check_template"
    ),
    Rule.ATTRIBUTE_VALUE_FORM: RuleSpec(
        CKR.ATTRIBUTE_VALUE_INVALID, (), "attributes.normalize_value"
    ),
}


def violation(rule: Rule, detail: str) -> PKCS11Error:
    """Return the error of ``rule`` with its CKR code from ``RULES``."""
    return PKCS11Error(RULES[rule].code, detail)


# --- the rules of the key tables

_CRYPT = (CKA.ENCRYPT, CKA.DECRYPT)
_WRAP = (CKA.WRAP, CKA.UNWRAP)
_SIGN = (CKA.SIGN, CKA.VERIFY)

# EP11 rejects these usage attributes for the key type, in public and private keys alike.
# New keys of these types get FALSE for them when the template omits them.
# NOTE: curve-specific rules (X25519 and X448 keys cannot sign; Ed25519 and Ed448 keys derive
# only with CKM_IBM_BTC_DERIVE) are left to the key checks of those mechanisms.
FORBIDDEN_USAGE: Dict[int, tuple] = {
    CKK.RSA: (CKA.DERIVE,),
    CKK.EC: _CRYPT + _WRAP,
    CKK.DSA: _CRYPT + _WRAP + (CKA.DERIVE,),
    CKK.DH: _CRYPT + _WRAP + _SIGN,
    CKK.IBM_PQC_DILITHIUM: _CRYPT + _WRAP + (CKA.DERIVE,),
    CKK.IBM_PQC_KYBER: _SIGN + _WRAP,
}

# Attributes of the public key that a GenerateKeyPair private template must not name.
PRIVATE_TEMPLATE_FORBIDDEN: Dict[int, tuple] = {
    CKK.RSA: (CKA.PUBLIC_EXPONENT,),
    CKK.EC: (CKA.EC_PARAMS,),
}

# (control point, usage group, usage group): a key with a TRUE flag in both groups needs the
# control point.
MIXED_USAGE = (
    (ControlPoint.WRAP_CRYPT_KEYS, _CRYPT, _WRAP),
    (ControlPoint.SIGN_CRYPT_KEYS, _SIGN, _CRYPT),
    (ControlPoint.WRAP_SIGN_KEYS, _WRAP, _SIGN),
)

HMAC_MIN_KEY_BYTES = 10
# The digest size in bytes of each HMAC key type, which sets the key's minimum length.
HMAC_KEY_TYPE_DIGEST_BYTES: Dict[int, int] = {
    CKK.SHA_1_HMAC: 20,
    CKK.SHA224_HMAC: 28,
    CKK.SHA256_HMAC: 32,
    CKK.SHA384_HMAC: 48,
    CKK.SHA512_HMAC: 64,
}

# ep11.h's key strength classes: (smallest strength in bits, the control point that allows the
# class), strongest first. Control point 23 allows everything below 80 bits.
STRENGTH_CLASSES = (
    (256, ControlPoint.KEYSZ_256BIT),
    (192, ControlPoint.KEYSZ_192BIT),
    (128, ControlPoint.KEYSZ_128BIT),
    (112, ControlPoint.KEYSZ_112BIT),
    (80, ControlPoint.KEYSZ_80BIT),
    (0, ControlPoint.KEYSZ_BELOW80BIT),
)
RSA_EXPONENT_WITHOUT_CONTROL_POINT = 65537

_BRAINPOOL_ARC = "1.3.36.3.3.2.8.1.1"
# CKA_EC_PARAMS (DER OID) of the curves that a curve control point covers.
CURVE_CONTROL_POINTS: Dict[bytes, ControlPoint] = {
    **{
        encode_oid(oid): ControlPoint.ALG_EC_NISTCRV
        for oid in (
            "1.2.840.10045.3.1.1",  # P-192
            "1.3.132.0.33",  # P-224
            "1.2.840.10045.3.1.7",  # P-256
            "1.3.132.0.34",  # P-384
            "1.3.132.0.35",  # P-521
        )
    },
    encode_oid("1.3.132.0.10"): ControlPoint.ALG_EC_SECGCRV,  # secp256k1
    # brainpoolP160r1 to brainpoolP512t1
    **{encode_oid(f"{_BRAINPOOL_ARC}.{n}"): ControlPoint.ALG_EC_BPOOLCRV for n in range(1, 15)},
    **{
        encode_oid(f"1.3.101.{n}"): ControlPoint.ALG_EC_25519
        for n in (110, 111, 112, 113)  # X25519, X448, Ed25519, Ed448
    },
    encode_oid("1.3.6.1.4.1.2.267.999.3.2"): ControlPoint.ALG_EC_PAIRING_FRIENDLY,  # BLS12-381
}

# The mechanisms each control point gates. A mechanism is enabled only while every control
# point that lists it is on. The lists follow opencryptoki's EP11 CP filter
# (usr/lib/ep11_stdll/ep11cpfilter.conf), which filters C_GetMechanismList the same way, plus
# the post-quantum and pairing control points that the filter predates. Gating whole mechanisms
# is coarser than the card, which blocks only the function that a control point names (with
# ENCRYPT_SYMM off, AES_CBC still wraps on the card, but not here).
_MECHANISMS_OF_CONTROL_POINT: Dict[ControlPoint, str] = {
    ControlPoint.SIGN_SYMM: "SHA256_HMAC SHA256_HMAC_GENERAL SHA224_HMAC SHA224_HMAC_GENERAL "
    "SHA384_HMAC SHA384_HMAC_GENERAL SHA512_HMAC SHA512_HMAC_GENERAL SHA_1_HMAC "
    "SHA_1_HMAC_GENERAL IBM_SHA3_224_HMAC IBM_SHA3_256_HMAC IBM_SHA3_384_HMAC "
    "IBM_SHA3_512_HMAC IBM_CMAC DES3_CMAC DES3_CMAC_GENERAL AES_CMAC AES_CMAC_GENERAL",
    ControlPoint.SIGVERIFY_SYMM: "SHA256_HMAC SHA256_HMAC_GENERAL SHA224_HMAC "
    "SHA224_HMAC_GENERAL SHA384_HMAC SHA384_HMAC_GENERAL SHA512_HMAC SHA512_HMAC_GENERAL "
    "SHA_1_HMAC SHA_1_HMAC_GENERAL IBM_SHA3_224_HMAC IBM_SHA3_256_HMAC IBM_SHA3_384_HMAC "
    "IBM_SHA3_512_HMAC IBM_CMAC DES3_CMAC DES3_CMAC_GENERAL AES_CMAC AES_CMAC_GENERAL",
    ControlPoint.SIGN_ASYMM: "RSA_PKCS RSA_PKCS_PSS SHA1_RSA_X9_31 SHA1_RSA_PKCS "
    "SHA1_RSA_PKCS_PSS SHA256_RSA_PKCS SHA256_RSA_PKCS_PSS SHA224_RSA_PKCS SHA224_RSA_PKCS_PSS "
    "SHA384_RSA_PKCS SHA384_RSA_PKCS_PSS SHA512_RSA_PKCS SHA512_RSA_PKCS_PSS ECDSA ECDSA_SHA1 "
    "DSA DSA_SHA1 RSA_X9_31 ECDSA_SHA224 ECDSA_SHA256 ECDSA_SHA384 ECDSA_SHA512",
    ControlPoint.ENCRYPT_SYMM: "AES_ECB AES_CBC AES_CBC_PAD DES3_ECB DES3_CBC DES3_CBC_PAD "
    "DES_ECB DES_CBC",
    ControlPoint.DECRYPT_ASYMM: "RSA_PKCS RSA_PKCS_OAEP",
    ControlPoint.DECRYPT_SYMM: "AES_ECB AES_CBC AES_CBC_PAD DES3_ECB DES3_CBC DES3_CBC_PAD "
    "DES_ECB DES_CBC",
    ControlPoint.WRAP_ASYMM: "RSA_PKCS",
    ControlPoint.WRAP_SYMM: "AES_CBC AES_CBC_PAD DES3_CBC DES3_CBC_PAD",
    ControlPoint.UNWRAP_ASYMM: "RSA_PKCS",
    ControlPoint.UNWRAP_SYMM: "AES_CBC AES_CBC_PAD DES3_CBC DES3_CBC_PAD",
    ControlPoint.KEYGEN_ASYMM: "RSA_PKCS_KEY_PAIR_GEN RSA_X9_31_KEY_PAIR_GEN EC_KEY_PAIR_GEN "
    "DSA_KEY_PAIR_GEN DH_PKCS_KEY_PAIR_GEN",
    ControlPoint.KEYGEN_SYMM: "AES_KEY_GEN DES2_KEY_GEN DES3_KEY_GEN PBE_SHA1_DES3_EDE_CBC "
    "DES_KEY_GEN GENERIC_SECRET_KEY_GEN",
    ControlPoint.ALG_RSA: "RSA_PKCS RSA_PKCS_KEY_PAIR_GEN RSA_X9_31_KEY_PAIR_GEN RSA_PKCS_PSS "
    "SHA1_RSA_X9_31 SHA1_RSA_PKCS SHA1_RSA_PKCS_PSS SHA256_RSA_PKCS SHA256_RSA_PKCS_PSS "
    "SHA224_RSA_PKCS SHA224_RSA_PKCS_PSS SHA384_RSA_PKCS SHA384_RSA_PKCS_PSS SHA512_RSA_PKCS "
    "SHA512_RSA_PKCS_PSS RSA_X9_31 RSA_PKCS_OAEP",
    ControlPoint.ALG_DSA: "DSA_KEY_PAIR_GEN DSA DSA_SHA1",
    ControlPoint.ALG_EC: "EC_KEY_PAIR_GEN ECDH1_DERIVE ECDSA ECDSA_SHA224 ECDSA_SHA256 "
    "ECDSA_SHA384 ECDSA_SHA512",
    ControlPoint.ALG_DH: "ECDH1_DERIVE DH_PKCS_KEY_PAIR_GEN DH_PKCS_DERIVE",
    ControlPoint.DERIVE: "SHA1_KEY_DERIVATION SHA256_KEY_DERIVATION SHA384_KEY_DERIVATION "
    "SHA512_KEY_DERIVATION SHA224_KEY_DERIVATION ECDH1_DERIVE DH_PKCS_DERIVE",
    ControlPoint.ALG_EC_25519: "IBM_EC_X25519 IBM_ED25519_SHA512 IBM_EC_X448 IBM_ED448_SHA3 "
    "IBM_EC_X25519_RAW IBM_EC_X448_RAW",
    ControlPoint.ALG_NBSI2017: "RSA_PKCS SHA1_RSA_PKCS SHA224_RSA_PKCS SHA256_RSA_PKCS "
    "SHA384_RSA_PKCS SHA512_RSA_PKCS",
    ControlPoint.ALG_PQC: "IBM_DILITHIUM IBM_KYBER IBM_ML_DSA_KEY_PAIR_GEN IBM_ML_DSA "
    "IBM_ML_KEM_KEY_PAIR_GEN IBM_ML_KEM",
    ControlPoint.BTC: "IBM_BTC_DERIVE",
    ControlPoint.ECDSA_OTHER: "IBM_ECDSA_OTHER",
    ControlPoint.ALG_NFIPS2021: "RSA_PKCS SHA1_RSA_PKCS SHA1_RSA_PKCS_PSS SHA1_RSA_X9_31 "
    "DSA_SHA1 ECDSA_SHA1 DES_KEY_GEN DES_ECB DES_CBC DES_CBC_PAD DES2_KEY_GEN DES3_KEY_GEN "
    "DES3_ECB DES3_CBC DES3_MAC DES3_MAC_GENERAL DES3_CBC_PAD DES3_CMAC_GENERAL DES3_CMAC "
    "DES_OFB64 DES_CFB64 DES_CFB8 SHA_1_HMAC SHA_1_HMAC_GENERAL SHA1_KEY_DERIVATION",
    ControlPoint.ALG_RSA_OAEP: "RSA_PKCS_OAEP",
    ControlPoint.ALG_EC_PAIRING_FRIENDLY: "IBM_EC_AGGREGATE",
    ControlPoint.ALG_DILITHIUM: "IBM_DILITHIUM",
    ControlPoint.ALG_KYBER: "IBM_KYBER",
    ControlPoint.ALG_ML_DSA: "IBM_ML_DSA_KEY_PAIR_GEN IBM_ML_DSA",
    ControlPoint.ALG_ML_KEM: "IBM_ML_KEM_KEY_PAIR_GEN IBM_ML_KEM",
}
# The 2024 list of the CP filter equals the 2021 list.
_MECHANISMS_OF_CONTROL_POINT[ControlPoint.ALG_NFIPS2024] = _MECHANISMS_OF_CONTROL_POINT[
    ControlPoint.ALG_NFIPS2021
]

# CKM value -> the control points that gate it. An unknown name raises KeyError at import.
CONTROL_POINTS_OF_MECHANISM: Dict[int, FrozenSet[ControlPoint]] = {}
for _control_point, _names in _MECHANISMS_OF_CONTROL_POINT.items():
    for _name in _names.split():
        _value = int(CKM[_name])
        CONTROL_POINTS_OF_MECHANISM[_value] = CONTROL_POINTS_OF_MECHANISM.get(
            _value, frozenset()
        ) | {_control_point}


def strength_class(strength: int) -> ControlPoint:
    """Return the control point of the strength class that ``strength`` bits fall in."""
    for smallest, control_point in STRENGTH_CLASSES:
        if strength >= smallest:
            return control_point
    return ControlPoint.KEYSZ_BELOW80BIT


def _describe_strength(strength: int) -> str:
    return f"{strength} bits" if strength >= 80 else "below 80 bits"


def hmac_min_key_bytes(digest_bytes: int) -> int:
    """Return the shortest HMAC key without control point 22: 10 bytes or half the digest."""
    return max(HMAC_MIN_KEY_BYTES, (digest_bytes + 1) // 2)


def key_defaults(object_class: int, key_type: int) -> dict:
    """Return the attributes of a new key whose template is silent.

    The usage flags that ``FORBIDDEN_USAGE`` lists for the key type default to FALSE; the rest
    follow ``attributes.default_attributes``.
    """
    attributes = default_attributes(object_class)
    for flag in FORBIDDEN_USAGE.get(key_type, ()):
        attributes[flag] = False
    return attributes


def _rsa_exponent(attributes: dict) -> Optional[int]:
    exponent = attributes.get(CKA.PUBLIC_EXPONENT)
    return int.from_bytes(exponent, "big") if exponent else None


@dataclass(frozen=True)
class Policy:
    """Control points that are off and mechanisms disabled by name; the rest is allowed."""

    off: FrozenSet[ControlPoint] = frozenset()
    disabled_mechanisms: FrozenSet[int] = frozenset()
    mechanisms: Dict[int, MechanismSpec] = field(init=False, repr=False, compare=False)
    mechanism_rows: List[MechanismSpec] = field(init=False, repr=False, compare=False)
    checks_use: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        rows = [row for row in MECHANISM_ROWS if self.disabling(row.mechanism) is None]
        object.__setattr__(self, "mechanism_rows", rows)
        object.__setattr__(self, "mechanisms", {row.mechanism: row for row in rows})
        use_points = set(_MIXED) | set(_STRENGTH_POINTS) | {ControlPoint.KEYSZ_HMAC_ANY}
        object.__setattr__(self, "checks_use", bool(self.off & use_points))

    def allows(self, control_point: ControlPoint) -> bool:
        return control_point not in self.off

    def disabling(self, mechanism: int) -> Optional[str]:
        """Return what disables ``mechanism`` ("control point N (NAME)" or the list), or None."""
        if mechanism in self.disabled_mechanisms:
            return "the policy's disabled_mechanisms"
        for control_point in sorted(CONTROL_POINTS_OF_MECHANISM.get(mechanism, ())):
            if control_point in self.off:
                return f"control point {control_point.value} ({control_point.name})"
        return None

    def describe(self) -> str:
        """Return the control points that are off and the disabled mechanisms in one line."""
        off = ", ".join(f"{point.value} {point.name}" for point in sorted(self.off)) or "none"
        disabled = ", ".join(ckm_name(m) for m in sorted(self.disabled_mechanisms)) or "none"
        return f"control points off: {off}; mechanisms disabled: {disabled}"

    # --- the three points where the engine applies the policy

    def lookup(self, mechanism: int, function: Function) -> MechanismSpec:
        """Return the row of ``mechanism`` if it serves ``function`` and is enabled."""
        spec = self.mechanisms.get(mechanism)
        if spec is not None and function in spec.functions:
            if function in (Function.WRAP, Function.UNWRAP):
                self._check_attribute_bound(spec)
            return spec
        reason = self.disabling(mechanism) if spec is None and mechanism in MECHANISMS else None
        if reason is None:
            return table_lookup(mechanism, function)  # raises the table's own error
        raise violation(
            Rule.MECHANISM_DISABLED, f"{describe_mechanism(mechanism)} is disabled by {reason}"
        )

    def check_key(self, attributes: dict, new: bool = True) -> None:
        """Check the attributes of a key object that is about to be sealed.

        ``new`` is False when SetAttributeValue changes an existing key: the rules on how a
        key may be made (strength, HMAC key size, TRUSTED, ATTRBOUND) then do not apply again.
        """
        key_type = attributes.get(CKA.KEY_TYPE)
        for flag in FORBIDDEN_USAGE.get(key_type, ()):
            if attributes.get(flag):
                raise violation(
                    Rule.FORBIDDEN_USAGE,
                    f"a key of type {CKK(key_type).name} cannot have {CKA(flag).name} = TRUE",
                )
        self._check_mixed_usage(attributes, Rule.MIXED_USAGE_NEW_KEY)
        if key_type == CKK.RSA and not self.allows(ControlPoint.KEYSZ_RSA65536):
            exponent = _rsa_exponent(attributes)
            if exponent is not None and exponent < RSA_EXPONENT_WITHOUT_CONTROL_POINT:
                raise violation(
                    Rule.RSA_EXPONENT_BELOW_65537,
                    f"RSA public exponent {exponent} is below 65537, which needs control "
                    f"point {ControlPoint.KEYSZ_RSA65536.value} (KEYSZ_RSA65536)",
                )
        control_point = CURVE_CONTROL_POINTS.get(attributes.get(CKA.EC_PARAMS))
        if control_point is not None and not self.allows(control_point):
            raise violation(
                Rule.CURVE_DISABLED,
                f"the curve is disabled by control point {control_point.value} "
                f"({control_point.name})",
            )
        if new:
            self._check_new_key(attributes)

    def _check_new_key(self, attributes: dict) -> None:
        object_class = attributes.get(CKA.CLASS)
        if attributes.get(CKA.TRUSTED) and not self.allows(ControlPoint.USER_SET_TRUSTED):
            raise violation(
                Rule.USER_SET_TRUSTED,
                "CKA_TRUSTED = TRUE needs control point "
                f"{ControlPoint.USER_SET_TRUSTED.value} (USER_SET_TRUSTED)",
            )
        if (
            object_class == CKO.PUBLIC_KEY
            and attributes.get(CKA.IBM_ATTRBOUND)
            and not self.allows(ControlPoint.USER_SET_ATTRBOUND)
        ):
            raise violation(
                Rule.USER_SET_ATTRBOUND,
                "CKA_IBM_ATTRBOUND = TRUE on a public key needs control point "
                f"{ControlPoint.USER_SET_ATTRBOUND.value} (USER_SET_ATTRBOUND)",
            )
        if object_class == CKO.SECRET_KEY and not self.allows(ControlPoint.KEYSZ_HMAC_ANY):
            self._check_new_hmac_key(attributes)
        if object_class != CKO.PUBLIC_KEY:
            self._check_strength(attributes, Rule.STRENGTH_CLASS_NEW_KEY)

    def _check_new_hmac_key(self, attributes: dict) -> None:
        # An HMAC key type names its digest. A generic secret that may sign or verify can serve
        # any HMAC mechanism, so only the 10-byte floor applies to it here. Half the digest is
        # checked when the key is used.
        key_type = attributes.get(CKA.KEY_TYPE)
        length = attributes.get(CKA.VALUE_LEN)
        if key_type in HMAC_KEY_TYPE_DIGEST_BYTES:
            minimum = hmac_min_key_bytes(HMAC_KEY_TYPE_DIGEST_BYTES[key_type])
        elif key_type == CKK.GENERIC_SECRET and (
            attributes.get(CKA.SIGN) or attributes.get(CKA.VERIFY)
        ):
            minimum = HMAC_MIN_KEY_BYTES
        else:
            return
        if length is not None and length < minimum:
            raise violation(
                Rule.HMAC_KEY_SIZE_NEW_KEY,
                f"a {CKK(key_type).name} key that can sign or verify needs at least {minimum} "
                f"bytes, got {length}; control point {ControlPoint.KEYSZ_HMAC_ANY.value} "
                "(KEYSZ_HMAC_ANY) allows any size",
            )

    def _check_strength(self, attributes: dict, rule: Rule) -> None:
        strength = key_strength(attributes)
        if strength is None:
            return
        control_point = strength_class(strength)
        if control_point in self.off:
            raise violation(
                rule,
                f"a key with a security strength of {_describe_strength(strength)} needs "
                f"control point {control_point.value} ({control_point.name}), which is off",
            )

    def check_key_pair_templates(self, key_type: int, private_template: dict) -> None:
        """Check the GenerateKeyPair private template before the pair is generated."""
        for attribute in PRIVATE_TEMPLATE_FORBIDDEN.get(key_type, ()):
            if attribute in private_template:
                raise violation(
                    Rule.PRIVATE_TEMPLATE_ATTRIBUTE,
                    f"{CKA(attribute).name} belongs in the public key template of a "
                    f"{CKK(key_type).name} key pair, not in the private one",
                )

    def check_use(self, spec: MechanismSpec, key) -> None:
        """Check a key opened for an operation; call only when ``checks_use`` is true.

        The strength classes apply to secret and private keys: ep11.h notes that public-key
        operations stay allowed below 80 bits, and the emulator extends that to every class.
        """
        self._check_mixed_usage(key.attributes, Rule.MIXED_USAGE_IN_USE)
        if key.object_class != CKO.PUBLIC_KEY:
            self._check_strength(key.attributes, Rule.STRENGTH_CLASS_IN_USE)
        if isinstance(spec.sign, HMACScheme) and not self.allows(ControlPoint.KEYSZ_HMAC_ANY):
            length = len(key.value)
            if length < hmac_min_key_bytes(spec.sign.size):
                raise violation(
                    Rule.HMAC_KEY_SIZE,
                    f"{ckm_name(spec.mechanism)} needs a key of at least "
                    f"{hmac_min_key_bytes(spec.sign.size)} bytes, got {length}; "
                    f"control point {ControlPoint.KEYSZ_HMAC_ANY.value} (KEYSZ_HMAC_ANY) "
                    "allows any size",
                )

    def check_modify(self) -> None:
        """Check that SetAttributeValue may change objects at all."""
        if not self.allows(ControlPoint.MODIFY_OBJECTS):
            raise violation(
                Rule.MODIFY_OBJECTS,
                f"control point {ControlPoint.MODIFY_OBJECTS.value} (MODIFY_OBJECTS) is off",
            )

    def check_wrap_strength(self, kek, target) -> None:
        """Check that WrapKey does not wrap ``target`` under a weaker ``kek``."""
        if self._wrapping_key_weaker(kek.attributes, target.attributes):
            raise violation(
                Rule.WRAP_STRONGER_KEY,
                self._strength_detail(kek.attributes, target.attributes, "wrapping"),
            )

    def check_unwrap_strength(self, kek, attributes: dict) -> None:
        """Check that UnwrapKey does not make a key stronger than its unwrapping key."""
        if self._wrapping_key_weaker(kek.attributes, attributes):
            raise violation(
                Rule.UNWRAP_STRONGER_KEY,
                self._strength_detail(kek.attributes, attributes, "unwrapping"),
            )

    def allows_raw_spki_wrap(self) -> bool:
        """Return True if a plain SPKI may wrap, and raise the rule's error if not."""
        if not self.allows(ControlPoint.WRAP_WITH_RAW_SPKI):
            raise violation(
                Rule.WRAP_WITH_RAW_SPKI,
                "wrapping with a plain SPKI (no MAC, no attributes) needs control point "
                f"{ControlPoint.WRAP_WITH_RAW_SPKI.value} (WRAP_WITH_RAW_SPKI); import it with "
                "CKM_IBM_TRANSPORTKEY first",
            )
        return True

    def _wrapping_key_weaker(self, kek_attributes: dict, attributes: dict) -> bool:
        if self.allows(ControlPoint.WRAP_STRONGER_KEY):
            return False
        kek_strength = key_strength(kek_attributes)
        strength = key_strength(attributes)
        return kek_strength is not None and strength is not None and strength > kek_strength

    @staticmethod
    def _strength_detail(kek_attributes: dict, attributes: dict, role: str) -> str:
        return (
            f"the {role} key has a security strength of "
            f"{_describe_strength(key_strength(kek_attributes))}, less than the "
            f"{_describe_strength(key_strength(attributes))} of the key; control point "
            f"{ControlPoint.WRAP_STRONGER_KEY.value} (WRAP_STRONGER_KEY) allows that"
        )

    def _check_attribute_bound(self, spec: MechanismSpec) -> None:
        # CKM_IBM_TRANSPORTKEY moves no secret: it turns a plain SPKI into a MACed one.
        if spec.bound_wrap is not None or spec.transport is not None:
            return
        if not self.allows(ControlPoint.NON_ATTRBOUND):
            raise violation(
                Rule.NON_ATTRBOUND_WRAP,
                f"{ckm_name(spec.mechanism)} cannot wrap or unwrap: control point "
                f"{ControlPoint.NON_ATTRBOUND.value} (NON_ATTRBOUND) is off, so only "
                "CKM_IBM_ATTRIBUTEBOUND_WRAP may",
            )

    def _check_mixed_usage(self, attributes: dict, rule: Rule) -> None:
        for control_point, first, second in MIXED_USAGE:
            if control_point in self.off:
                if any(attributes.get(f) for f in first) and any(
                    attributes.get(f) for f in second
                ):
                    names = "/".join(CKA(f).name for f in first + second)
                    raise violation(
                        rule,
                        f"the key combines {names} usage, which control point "
                        f"{control_point.value} ({control_point.name}) does not allow",
                    )


DEFAULT_POLICY = Policy()


# --- policy files


def _control_point(name) -> ControlPoint:
    text = str(name).strip().upper()
    if text.startswith("XCP_CPB_"):
        text = text[len("XCP_CPB_") :]
    try:
        return ControlPoint(int(text)) if text.isdigit() else ControlPoint[text]
    except (KeyError, ValueError):
        known = ", ".join(f"{point.value} {point.name}" for point in ControlPoint)
        raise PolicyError(
            f"control point {name!r} is not applied by this emulator; known: {known}"
        ) from None


def _mechanism(value) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower().startswith("0x"):
            try:
                return int(text, 16)
            except ValueError:
                pass
        else:
            name = text[len("CKM_") :] if text.upper().startswith("CKM_") else text
            try:
                return int(CKM[name.upper()])
            except KeyError:
                pass
    raise PolicyError(
        f"disabled_mechanisms entry {value!r} is not a CKM name (CKM_SHA_1_HMAC) or a number"
    )


def parse_policy(document) -> Policy:
    """Build a ``Policy`` from the JSON document of a policy file."""
    if not isinstance(document, dict):
        raise PolicyError("a policy file is a JSON object")
    unknown = set(document) - {"control_points", "disabled_mechanisms"}
    if unknown:
        raise PolicyError(
            f"unknown policy members {sorted(unknown)}; expected control_points and "
            "disabled_mechanisms"
        )
    control_points = document.get("control_points", {})
    if not isinstance(control_points, dict):
        raise PolicyError("control_points is an object of control point names to true or false")
    off = set()
    named_by = {}
    for name, value in control_points.items():
        if not isinstance(value, bool):
            raise PolicyError(f"control point {name!r} must be true or false, got {value!r}")
        control_point = _control_point(name)
        if control_point in named_by:
            raise PolicyError(
                f"control_points names control point {control_point.value} "
                f"({control_point.name}) twice, as {named_by[control_point]!r} and {name!r}; "
                "keep one entry"
            )
        named_by[control_point] = name
        if not value:
            off.add(control_point)
    mechanisms = document.get("disabled_mechanisms", [])
    if not isinstance(mechanisms, list):
        raise PolicyError("disabled_mechanisms is a list of CKM names or numbers")
    return Policy(frozenset(off), frozenset(_mechanism(value) for value in mechanisms))


def _object_without_duplicates(pairs: list) -> dict:
    """Build a JSON object, rejecting a key that occurs twice (``json`` keeps the last one)."""
    document = {}
    for key, value in pairs:
        if key in document:
            raise PolicyError(f"the JSON object contains the key {key!r} twice")
        document[key] = value
    return document


def load_policy(path: str) -> Policy:
    """Read the policy file at ``path``."""
    try:
        with open(path, "rb") as handle:
            document = json.loads(handle.read(), object_pairs_hook=_object_without_duplicates)
    except OSError as error:
        raise PolicyError(f"cannot read the policy file {path}: {error.strerror}") from None
    except ValueError as error:
        raise PolicyError(f"the policy file {path} is not valid JSON: {error}") from None
    except PolicyError as error:
        raise PolicyError(f"the policy file {path} is invalid: {error}") from None
    try:
        return parse_policy(document)
    except PolicyError as error:
        raise PolicyError(f"the policy file {path} is invalid: {error}") from None


def policy_for_state_dir(state_dir: str, path: Optional[str] = None) -> Policy:
    """Return the policy of ``path``, else of ``<state_dir>/policy.json``, else the default."""
    if path is not None:
        return load_policy(path)
    in_state_dir = os.path.join(state_dir, FILE_NAME)
    if os.path.exists(in_state_dir):
        return load_policy(in_state_dir)
    return DEFAULT_POLICY

