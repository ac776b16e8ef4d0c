"""Post-quantum mechanisms: ML-DSA (FIPS 204), ML-KEM (FIPS 203) and IBM's Dilithium and Kyber.

- CKM_IBM_ML_DSA_KEY_PAIR_GEN and CKM_IBM_ML_KEM_KEY_PAIR_GEN take the parameter set from
  CKA_IBM_PARAMETER_SET in either template (``pqckeys.PARAMETER_SETS`` lists the values).
- CKM_IBM_ML_DSA signs and verifies pure ML-DSA, single-part (Init and one Sign or Verify call,
  or the Single calls). Its optional parameter is CK_IBM_SIGN_ADDITIONAL_CONTEXT with the FIPS
  204 context string (``parameters.encode_sign_context_parameter``); without one the context is
  empty.
- CKM_IBM_ML_KEM derives a secret key in DeriveKey with a KyberKEMParm: mode 1 encapsulates to
  a public key and returns the ciphertext after the 7-byte checksum of the new key, mode 2
  decapsulates the ciphertext with the private key. With CKD_NULL, the new key is the leading
  CKA_VALUE_LEN bytes (default 32) of the 32-byte shared secret.

- CKM_IBM_DILITHIUM generates key pairs of the strength that CKA_IBM_PQC_PARAMS names in either
  template (round-2 6-5 when neither names one), and signs and verifies single-part like ML-DSA,
  but deterministically, as the Dilithium reference code does.
- CKM_IBM_KYBER generates key pairs of the strength that CKA_IBM_PQC_PARAMS names (required),
  and derives keys in DeriveKey with a KyberKEMParm exactly like CKM_IBM_ML_KEM.
  NOTE: EP11 also lists Encrypt and Decrypt for CKM_IBM_KYBER; IBM documents no format for
  them and no client uses them, so this table does not offer them.

``latticekeys.STRENGTHS`` lists the Dilithium and Kyber strengths and docs/ASYMMETRIC.md the
algorithm version of each. The hybrid KDFs mix in the value of a generic secret whose blob KyberKEMParm.Blob carries,
usually the output of an ECDH derivation with CKD_IBM_HYBRID_NULL. IBM does not document its
construction, so the emulator defines one that encapsulation and decapsulation share, with
Z = generic secret value || KEM shared secret:

- CKD_IBM_HYBRID_NULL: the key is the leading CKA_VALUE_LEN bytes of Z (default 32).
- CKD_IBM_HYBRID_SHA1_KDF to CKD_IBM_HYBRID_SHA512_KDF: the key is the leading CKA_VALUE_LEN
  bytes (default 32) of the ANSI X9.63 KDF over Z and KyberKEMParm.SharedData.

The generic secret needs CKA_IBM_USE_AS_DATA TRUE. A CKD_IBM_HYBRID_NULL key can be a copy of
the secret's value, so it keeps the secret's protection (not extractable, sensitive).

NOTE: keys derived this way match only this emulator, not a real EP11 module. The Prepend flag
is ignored.
"""

from dataclasses import dataclass

from ..constants import CKA, CKD, CKK, CKM, CKO, CKR
from ..errors import PKCS11Error
from ..keys import secret_checksum
from ..latticekeys import DEFAULT_STRENGTH, DILITHIUM, KYBER, STRENGTH_BY_OID, STRENGTHS, LatticeKey
from ..pqckeys import ML_DSA, ML_KEM, PARAMETER_SET_BY_NUMBER, PARAMETER_SETS, PQCKey
from ..types import KyberKEMParams
from .base import (
    SIGN_VERIFY,
    DerivedKey,
    DeriveScheme,
    Function,
    KeyPairGenerator,
    MechanismSpec,
    invalid_signature,
    signature_length_error,
)
from .agreement import x963_kdf
from .parameters import (
    DETERMINISTIC_REQUIRED,
    param_error,
    parse_sign_context_parameter,
    sign_context_parameter,
)
from .signing import RawSignScheme

KEM_VERSION = 0
KEM_ENCAPSULATE, KEM_DECAPSULATE = 1, 2
SHARED_SECRET_BYTES = 32
AES_KEY_LENGTHS = (16, 24, 32)
HYBRID_KDF_HASHES = {
    CKD.IBM_HYBRID_SHA1_KDF: "sha1",
    CKD.IBM_HYBRID_SHA224_KDF: "sha224",
    CKD.IBM_HYBRID_SHA256_KDF: "sha256",
    CKD.IBM_HYBRID_SHA384_KDF: "sha384",
    CKD.IBM_HYBRID_SHA512_KDF: "sha512",
}
HYBRID_KDFS = frozenset({CKD.IBM_HYBRID_NULL, *HYBRID_KDF_HASHES})
KDF_OUTPUT_MAX_BYTES = 256


@dataclass(frozen=True)
class HybridKEMParameter:
    """A KyberKEMParm with a hybrid KDF and the value of the generic secret its Blob names."""

    kem: KyberKEMParams
    classical_secret: bytes
    # CKA_EXTRACTABLE and CKA_SENSITIVE of that generic secret.
    classical_extractable: bool = False
    classical_sensitive: bool = True

    @property
    def mode(self) -> int:
        return self.kem.mode


class PQCKeyPairGenerator(KeyPairGenerator):
    """ML-DSA or ML-KEM key pairs of the parameter set that CKA_IBM_PARAMETER_SET names."""

    def __init__(self, algorithm: str, key_type: int):
        self.algorithm = algorithm
        self.key_type = key_type

    def generate(self, public, private):
        named = {
            template[CKA.IBM_PARAMETER_SET]
            for template in (public, private)
            if CKA.IBM_PARAMETER_SET in template
        }
        if len(named) > 1:
            raise PKCS11Error(
                CKR.TEMPLATE_INCONSISTENT,
                "the public and private key templates name different CKA_IBM_PARAMETER_SET "
                f"values ({', '.join(str(number) for number in sorted(named))})",
            )
        number = named.pop() if named else None
        if number is None:
            raise PKCS11Error(CKR.TEMPLATE_INCOMPLETE, "CKA_IBM_PARAMETER_SET is required")
        parameter_set = PARAMETER_SET_BY_NUMBER.get((self.algorithm, number))
        if parameter_set is None:
            supported = ", ".join(
                f"{entry.number} ({entry.name})"
                for entry in PARAMETER_SETS
                if entry.algorithm == self.algorithm
            )
            raise PKCS11Error(
                CKR.ATTRIBUTE_VALUE_INVALID,
                f"{self.algorithm} parameter set {number} is not supported; use {supported}",
            )
        return PQCKey.generate(parameter_set)


class LatticeKeyPairGenerator(KeyPairGenerator):
    """Dilithium or Kyber key pairs of the strength that CKA_IBM_PQC_PARAMS names."""

    def __init__(self, algorithm: str, key_type: int):
        self.algorithm = algorithm
        self.key_type = key_type

    def generate(self, public, private):
        named = {bytes(template[CKA.IBM_PQC_PARAMS]) for template in (public, private)
                 if CKA.IBM_PQC_PARAMS in template}
        if len(named) > 1:
            raise PKCS11Error(
                CKR.TEMPLATE_INCONSISTENT,
                "the public and private key templates name different CKA_IBM_PQC_PARAMS",
            )
        if not named:
            strength = DEFAULT_STRENGTH.get(self.algorithm)
            if strength is None:
                raise PKCS11Error(
                    CKR.TEMPLATE_INCOMPLETE,
                    f"CKA_IBM_PQC_PARAMS is required for {self.algorithm.title()} key pairs",
                )
            return LatticeKey.generate(strength)
        oid = named.pop()
        strength = STRENGTH_BY_OID.get(oid)
        if strength is None or strength.algorithm != self.algorithm:
            supported = ", ".join(
                f"{entry.oid} ({entry.name})" for entry in STRENGTHS
                if entry.algorithm == self.algorithm
            )
            raise PKCS11Error(
                CKR.IBM_PQC_PARAMS_NOT_SUPPORTED,
                f"CKA_IBM_PQC_PARAMS {oid.hex()} is not a {self.algorithm.title()} strength; "
                f"use the DER OID of {supported}",
            )
        return LatticeKey.generate(strength)


class PQCSigner:
    """Signs the whole message with the key's own scheme.

    ML-DSA signing is hedged (randomized), as FIPS 204 recommends; Dilithium signing is
    deterministic, as in the Dilithium reference code.
    """

    def sign(self, key, parameter, data):
        return key.pkey.sign(data)

    def verify(self, key, parameter, data, signature):
        expected = key.pkey.parameter_set.output_bytes
        if len(signature) != expected:
            raise signature_length_error(expected, len(signature))
        if not key.pkey.verify(data, signature):
            raise invalid_signature()


class MLDSASigner(PQCSigner):
    """Signs and verifies pure ML-DSA with the context string of the mechanism parameter."""

    def sign(self, key, parameter, data):
        options = parse_sign_context_parameter(parameter)
        if options.hedge_variant == DETERMINISTIC_REQUIRED:
            # cryptography 50 signs ML-DSA hedged only and offers no deterministic variant.
            raise param_error("deterministic ML-DSA signing is not supported; use a hedge variant")
        return key.pkey.sign(data, options.context)

    def verify(self, key, parameter, data, signature):
        context = parse_sign_context_parameter(parameter).context
        expected = key.pkey.parameter_set.output_bytes
        if len(signature) != expected:
            raise signature_length_error(expected, len(signature))
        if not key.pkey.verify(data, signature, context):
            raise invalid_signature()


def kem_parameter(parameter):
    if not isinstance(parameter, KyberKEMParams):
        raise param_error("a KEM derivation needs a KyberKEMParm parameter")
    if parameter.version != KEM_VERSION:
        raise param_error(f"KyberKEMParm version must be {KEM_VERSION}, got {parameter.version}")
    if parameter.mode not in (KEM_ENCAPSULATE, KEM_DECAPSULATE):
        raise param_error(f"KEM mode {parameter.mode} is neither encapsulate (1) nor decapsulate (2)")
    if parameter.kdf != CKD.NULL and parameter.kdf not in HYBRID_KDFS:
        raise param_error(
            f"KEM KDF {parameter.kdf:#x} is not supported; use CKD_NULL or a CKD_IBM_HYBRID_* KDF"
        )
    if parameter.kdf in HYBRID_KDFS and not parameter.blob:
        raise param_error("a hybrid KEM KDF needs the blob of a generic secret in Blob")
    if parameter.mode == KEM_DECAPSULATE and not parameter.ciphertext:
        raise param_error("decapsulation needs the ciphertext")
    return parameter


def kyber_parameter(parameter):
    """Accept no parameter (key pair generation) or a KyberKEMParm (derivation)."""
    return None if parameter is None else kem_parameter(parameter)


def _secret_value(template: dict, shared_secret: bytes):
    """Return the key type and value: the leading CKA_VALUE_LEN bytes of ``shared_secret``."""
    key_type = template.get(CKA.KEY_TYPE, CKK.GENERIC_SECRET)
    length = template.get(CKA.VALUE_LEN, SHARED_SECRET_BYTES)
    available = len(shared_secret)
    if template.get(CKA.CLASS, CKO.SECRET_KEY) != CKO.SECRET_KEY:
        raise PKCS11Error(CKR.TEMPLATE_INCONSISTENT, "a KEM derives a CKO_SECRET_KEY")
    if key_type not in (CKK.AES, CKK.GENERIC_SECRET):
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT, "a KEM derives CKK_AES or CKK_GENERIC_SECRET keys"
        )
    valid = AES_KEY_LENGTHS if key_type == CKK.AES else range(1, available + 1)
    if length not in valid or length > available:
        raise PKCS11Error(
            CKR.KEY_SIZE_RANGE,
            f"the {available}-byte shared secret cannot make a {length}-byte key",
        )
    return key_type, shared_secret[:length]


def _hybrid_secret(parameter: HybridKEMParameter, template: dict, shared_secret: bytes) -> bytes:
    """Return the keying material of a hybrid KDF; see the module documentation."""
    combined = parameter.classical_secret + shared_secret
    hash_name = HYBRID_KDF_HASHES.get(parameter.kem.kdf)
    if hash_name is None:
        return combined
    length = template.get(CKA.VALUE_LEN, SHARED_SECRET_BYTES)
    if not 0 < length <= KDF_OUTPUT_MAX_BYTES:
        raise PKCS11Error(
            CKR.KEY_SIZE_RANGE,
            f"a hybrid KDF makes keys of 1 to {KDF_OUTPUT_MAX_BYTES} bytes, not {length}",
        )
    return x963_kdf(hash_name, combined, parameter.kem.shared_data, length)


def _inherited(hybrid) -> dict:
    """Return the attributes that a CKD_IBM_HYBRID_NULL key takes from the generic secret.

    That KDF puts the secret's value itself into the new key, so the new key is unextractable
    when the secret is, and sensitive when the secret is. Otherwise a template could turn a copy
    of an unextractable secret into an extractable key.
    """
    if hybrid is None or hybrid.kem.kdf != CKD.IBM_HYBRID_NULL:
        return {}
    inherited = {}
    if not hybrid.classical_extractable:
        inherited[CKA.EXTRACTABLE] = False
    if hybrid.classical_sensitive:
        inherited[CKA.SENSITIVE] = True
    return inherited


class KEMDeriveScheme(DeriveScheme):
    """Encapsulation to a public key or decapsulation with a private key."""

    asymmetric = True

    def base_key_class(self, parameter) -> int:
        if parameter is None:
            # Only CKM_IBM_KYBER, which also generates key pairs, lets a missing parameter pass.
            raise param_error("a KEM derivation needs a KyberKEMParm parameter")
        return CKO.PUBLIC_KEY if parameter.mode == KEM_ENCAPSULATE else CKO.PRIVATE_KEY

    def open_parameter_keys(self, parameter, open_key):
        if parameter.kdf not in HYBRID_KDFS:
            return parameter
        secret = open_key(parameter.blob)
        if secret.object_class != CKO.SECRET_KEY or secret.key_type != CKK.GENERIC_SECRET:
            raise PKCS11Error(
                CKR.KEY_TYPE_INCONSISTENT,
                "the Blob of a hybrid KEM KDF must be a CKK_GENERIC_SECRET key, such as the "
                "output of ECDH with CKD_IBM_HYBRID_NULL",
            )
        # The secret's value enters the new key, so, like the seed of CKM_IBM_BTC_DERIVE, the
        # secret must be marked for use as data.
        if not secret.attributes.get(CKA.IBM_USE_AS_DATA, False):
            raise PKCS11Error(
                CKR.KEY_FUNCTION_NOT_PERMITTED,
                "the Blob of a hybrid KEM KDF needs CKA_IBM_USE_AS_DATA = TRUE",
            )
        return HybridKEMParameter(
            parameter,
            secret.value,
            bool(secret.attributes.get(CKA.EXTRACTABLE, False)),
            bool(secret.attributes.get(CKA.SENSITIVE, True)),
        )

    def derive(self, base_key, parameter, data, template) -> DerivedKey:
        hybrid = parameter if isinstance(parameter, HybridKEMParameter) else None
        if hybrid is not None:
            parameter = hybrid.kem
        pkey = base_key.pkey
        if parameter.mode == KEM_ENCAPSULATE:
            shared_secret, ciphertext = pkey.encapsulate()
        else:
            ciphertext = parameter.ciphertext
            expected = pkey.parameter_set.output_bytes
            if len(ciphertext) != expected:
                raise param_error(
                    f"a {pkey.parameter_set.name} ciphertext is {expected} bytes, "
                    f"got {len(ciphertext)}"
                )
            shared_secret = pkey.decapsulate(ciphertext)
        if hybrid is not None:
            shared_secret = _hybrid_secret(hybrid, template, shared_secret)
        key_type, value = _secret_value(template, shared_secret)
        checksum = None
        if parameter.mode == KEM_ENCAPSULATE:
            checksum = secret_checksum(key_type, value) + ciphertext
        return DerivedKey(CKO.SECRET_KEY, key_type, value, checksum, _inherited(hybrid))


def _sizes(algorithm: str) -> dict:
    """Key sizes in bytes of the encoded public key, as the EP11 PQC mechanisms count them."""
    sizes = [
        entry.public_key_bytes
        for entry in (*PARAMETER_SETS, *STRENGTHS)
        if entry.algorithm == algorithm
    ]
    return {"min_key_size": min(sizes), "max_key_size": max(sizes)}


ROWS = [
    MechanismSpec(
        CKM.IBM_ML_DSA_KEY_PAIR_GEN,
        Function.GENERATE_KEY_PAIR,
        key_types=frozenset({CKK.IBM_ML_DSA}),
        generator=PQCKeyPairGenerator(ML_DSA, CKK.IBM_ML_DSA),
        **_sizes(ML_DSA),
    ),
    MechanismSpec(
        CKM.IBM_ML_DSA,
        SIGN_VERIFY,
        key_types=frozenset({CKK.IBM_ML_DSA}),
        parameter=sign_context_parameter,
        sign=RawSignScheme(MLDSASigner()),
        **_sizes(ML_DSA),
    ),
    MechanismSpec(
        CKM.IBM_ML_KEM_KEY_PAIR_GEN,
        Function.GENERATE_KEY_PAIR,
        key_types=frozenset({CKK.IBM_ML_KEM}),
        generator=PQCKeyPairGenerator(ML_KEM, CKK.IBM_ML_KEM),
        **_sizes(ML_KEM),
    ),
    MechanismSpec(
        CKM.IBM_ML_KEM,
        Function.DERIVE,
        key_types=frozenset({CKK.IBM_ML_KEM}),
        parameter=kem_parameter,
        derive=KEMDeriveScheme(),
        **_sizes(ML_KEM),
    ),
    MechanismSpec(
        CKM.IBM_DILITHIUM,
        Function.GENERATE_KEY_PAIR | SIGN_VERIFY,
        key_types=frozenset({CKK.IBM_PQC_DILITHIUM}),
        generator=LatticeKeyPairGenerator(DILITHIUM, CKK.IBM_PQC_DILITHIUM),
        sign=RawSignScheme(PQCSigner()),
        **_sizes(DILITHIUM),
    ),
    MechanismSpec(
        CKM.IBM_KYBER,
        Function.GENERATE_KEY_PAIR | Function.DERIVE,
        key_types=frozenset({CKK.IBM_PQC_KYBER}),
        parameter=kyber_parameter,
        generator=LatticeKeyPairGenerator(KYBER, CKK.IBM_PQC_KYBER),
        derive=KEMDeriveScheme(),
        **_sizes(KYBER),
    ),
]
