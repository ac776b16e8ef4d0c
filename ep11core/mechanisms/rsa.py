"""RSA mechanisms: PKCS #1 v1.5, OAEP and PSS, raw and with a hash, and key pair generation."""

from typing import Optional

from .. import _crypto
from ..constants import CKA, CKK, CKM, CKR, CKZ
from ..errors import PKCS11Error
from .base import (
    CRYPT_WRAP,
    SIGN_VERIFY,
    CipherScheme,
    Function,
    KeyPairGenerator,
    MechanismSpec,
    invalid_signature,
    signature_length_error,
)
from .parameters import (
    HASH_OF_MECHANISM,
    HASH_SIZE,
    hash_of,
    mgf_hash,
    oaep_parameter,
    param_error,
    pss_parameter,
)
from .signing import HashThenSignScheme, RawSignScheme

RSA_MIN_BITS, RSA_MAX_BITS, RSA_BITS_STEP = 512, 4096, 256
RSA_MIN_PUBLIC_EXPONENT = 17
RSA_DEFAULT_PUBLIC_EXPONENT = 65537


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
            "md": hash_of(parameter.hash_mechanism),
            "mgf1_md": mgf_hash(parameter.mgf),
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
            raise signature_length_error(expected, len(signature))
        if not key.pkey.verify(tbs, signature, padding="pkcs1", md=self.hash_name):
            raise invalid_signature()



class RSAPSSSigner:
    def _options(self, key, parameter, tbs):
        hash_name = hash_of(parameter.hash_mechanism)
        if len(tbs) != HASH_SIZE[hash_name]:
            raise PKCS11Error(
                CKR.DATA_LEN_RANGE,
                f"RSA-PSS signs a {HASH_SIZE[hash_name]}-byte {hash_name} digest, "
                f"got {len(tbs)} bytes",
            )
        max_salt = (key.bits - 1 + 7) // 8 - HASH_SIZE[hash_name] - 2
        if parameter.salt_length > max_salt:
            raise param_error(
                f"salt length {parameter.salt_length} exceeds {max_salt} for this key"
            )
        return {
            "padding": "pss",
            "md": hash_name,
            "mgf1_md": mgf_hash(parameter.mgf),
            "salt_len": parameter.salt_length,
        }

    def sign(self, key, parameter, tbs):
        return key.pkey.sign(tbs, **self._options(key, parameter, tbs))

    def verify(self, key, parameter, tbs, signature):
        expected = (key.bits + 7) // 8
        if len(signature) != expected:
            raise signature_length_error(expected, len(signature))
        if not key.pkey.verify(tbs, signature, **self._options(key, parameter, tbs)):
            raise invalid_signature()



class RSAKeyPairGenerator(KeyPairGenerator):
    """RSA key pairs: CKA_MODULUS_BITS and CKA_PUBLIC_EXPONENT from either template.

    EP11 needs moduli that are multiples of 256 bits and public exponents of at least 17.
    """

    key_type = CKK.RSA

    def generate(self, public, private):
        bits = public.get(CKA.MODULUS_BITS, private.get(CKA.MODULUS_BITS))
        if bits is None:
            raise PKCS11Error(CKR.TEMPLATE_INCOMPLETE, "CKA_MODULUS_BITS is required")
        if not RSA_MIN_BITS <= bits <= RSA_MAX_BITS or bits % RSA_BITS_STEP:
            raise PKCS11Error(
                CKR.KEY_SIZE_RANGE,
                f"RSA moduli are multiples of {RSA_BITS_STEP} bits from {RSA_MIN_BITS} to "
                f"{RSA_MAX_BITS}, not {bits}",
            )
        exponent_bytes = public.get(CKA.PUBLIC_EXPONENT, private.get(CKA.PUBLIC_EXPONENT))
        exponent = (
            int.from_bytes(exponent_bytes, "big")
            if exponent_bytes
            else RSA_DEFAULT_PUBLIC_EXPONENT
        )
        if (
            exponent < RSA_MIN_PUBLIC_EXPONENT
            or exponent % 2 == 0
            or exponent.bit_length() > 64
        ):
            raise PKCS11Error(
                CKR.ATTRIBUTE_VALUE_INVALID,
                f"the RSA public exponent must be odd, at least {RSA_MIN_PUBLIC_EXPONENT} "
                f"and at most 64 bits, not {exponent}",
            )
        return _crypto.PKey.generate_rsa(bits, exponent)


_RSA = frozenset({CKK.RSA})
RSA_SIZES = {"key_types": _RSA, "min_key_size": RSA_MIN_BITS, "max_key_size": RSA_MAX_BITS}


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
    return rows


# CKM_RSA_PKCS comes first: clients read the first entry of GetMechanismList.
ROWS = [
    MechanismSpec(
        CKM.RSA_PKCS,
        CRYPT_WRAP | SIGN_VERIFY,
        cipher=RSACipherScheme("pkcs1"),
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
        generator=RSAKeyPairGenerator(),
        **RSA_SIZES,
    ),
    *_hashed_rows(),
]
