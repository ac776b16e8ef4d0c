"""Elliptic-curve mechanisms: key pair generation and ECDSA."""

from ..constants import CKA, CKF, CKK, CKM, CKR
from ..errors import PKCS11Error
from ..keys import curve_from_params
from .. import _crypto
from .base import SIGN_VERIFY, Function, KeyPairGenerator, MechanismSpec, invalid_signature, signature_length_error
from .parameters import HASH_OF_MECHANISM
from .signing import HashThenSignScheme, RawSignScheme

EC_FLAGS = CKF.EC_F_P | CKF.EC_NAMEDCURVE | CKF.EC_UNCOMPRESS


class ECDSASigner:
    """ECDSA with raw ``r‖s`` signatures; the input is a hash of any length."""

    def sign(self, key, parameter, tbs):
        if not tbs:
            raise PKCS11Error(CKR.DATA_LEN_RANGE, "ECDSA needs a non-empty hash")
        return key.pkey.sign(tbs)

    def verify(self, key, parameter, tbs, signature):
        expected = 2 * ((key.bits + 7) // 8)
        if len(signature) != expected:
            raise signature_length_error(expected, len(signature))
        if not tbs or not key.pkey.verify(tbs, signature):
            raise invalid_signature()



class ECKeyPairGenerator(KeyPairGenerator):
    """EC key pairs on the curve that CKA_EC_PARAMS names (in either template)."""

    key_type = CKK.EC

    def generate(self, public, private):
        params = public.get(CKA.EC_PARAMS, private.get(CKA.EC_PARAMS))
        if params is None:
            raise PKCS11Error(CKR.TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required")
        return _crypto.PKey.generate_ec(curve_from_params(params).openssl_name)


EC_SIZES = {
    "key_types": frozenset({CKK.EC}),
    "min_key_size": 192,
    "max_key_size": 521,
    "extra_flags": EC_FLAGS,
}
_ecdsa = ECDSASigner()

ROWS = [
    MechanismSpec(
        CKM.EC_KEY_PAIR_GEN,
        Function.GENERATE_KEY_PAIR,
        generator=ECKeyPairGenerator(),
        **EC_SIZES,
    ),
    MechanismSpec(CKM.ECDSA, SIGN_VERIFY, sign=RawSignScheme(_ecdsa), **EC_SIZES),
] + [
    MechanismSpec(
        mechanism,
        SIGN_VERIFY,
        sign=HashThenSignScheme(HASH_OF_MECHANISM[hash_mechanism][0], _ecdsa),
        **EC_SIZES,
    )
    for mechanism, hash_mechanism in (
        (CKM.ECDSA_SHA1, CKM.SHA_1),
        (CKM.ECDSA_SHA224, CKM.SHA224),
        (CKM.ECDSA_SHA256, CKM.SHA256),
        (CKM.ECDSA_SHA384, CKM.SHA384),
        (CKM.ECDSA_SHA512, CKM.SHA512),
    )
]
