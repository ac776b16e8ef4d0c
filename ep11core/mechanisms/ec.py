"""Elliptic-curve mechanisms: key pair generation, ECDSA, EdDSA and ECDH.

Every curve of ``keys.CURVES`` is a CKK_EC key, so each mechanism checks the family of the
key's curve. ECDSA takes short Weierstrass curves, and CKM_IBM_ED25519_SHA512 and
CKM_IBM_ED448_SHA3 take Ed25519 and Ed448. ECDH1_DERIVE takes Weierstrass and Montgomery curves
(as PKCS #11 3.0 allows), and CKM_IBM_EC_X25519 and CKM_IBM_EC_X448 take only their own curve.
A key on another curve gets CKR_KEY_TYPE_INCONSISTENT.
"""

from typing import Optional

from .. import _crypto
from ..blskeys import BLSKey
from ..constants import CKA, CKD, CKF, CKK, CKM, CKO, CKR
from ..errors import PKCS11Error
from ..keys import CURVE_BY_OPENSSL_NAME, Curve, CurveFamily, curve_from_params
from ..types import ECDH1DeriveParams
from .agreement import NULL_KDFS, X963_KDF_HASHES, secret_from_shared_secret
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
from .parameters import param_error
from .signing import RawSignScheme, hash_then_sign_rows

EC_FLAGS = CKF.EC_F_P | CKF.EC_NAMEDCURVE | CKF.EC_UNCOMPRESS


def key_curve(key, purpose: str, families=(), names=None) -> Curve:
    """Return the curve of an EC key that ``purpose`` accepts, else CKR_KEY_TYPE_INCONSISTENT.

    The curve must be one of the OpenSSL curve ``names`` when given, else belong to one of
    ``families``.
    """
    curve = CURVE_BY_OPENSSL_NAME.get(key.pkey.curve)
    accepted = curve is not None and (
        curve.openssl_name in names if names is not None else curve.family in families
    )
    if not accepted:
        raise PKCS11Error(
            CKR.KEY_TYPE_INCONSISTENT,
            f"{purpose} does not take a key on curve {key.pkey.curve}",
        )
    return curve


class ECDSASigner:
    """ECDSA with raw ``r‖s`` signatures; the input is a hash of any length."""

    def sign(self, key, parameter, tbs):
        key_curve(key, "ECDSA", families={CurveFamily.WEIERSTRASS})
        if not tbs:
            raise PKCS11Error(CKR.DATA_LEN_RANGE, "ECDSA needs a non-empty hash")
        return key.pkey.sign(tbs)

    def verify(self, key, parameter, tbs, signature):
        key_curve(key, "ECDSA", families={CurveFamily.WEIERSTRASS})
        expected = 2 * ((key.bits + 7) // 8)
        if len(signature) != expected:
            raise signature_length_error(expected, len(signature))
        if not tbs or not key.pkey.verify(tbs, signature):
            raise invalid_signature()


# Pure EdDSA signature lengths (RFC 8032 sections 5.1.6 and 5.2.6).
EDDSA_SIGNATURE_BYTES = {"ED25519": 64, "ED448": 114}


class EdDSASigner:
    """Pure EdDSA (RFC 8032) on the message itself; Ed448 with an empty context string."""

    def __init__(self, mechanism: int, curve_name: str):
        self.mechanism = mechanism
        self.curve_name = curve_name

    def sign(self, key, parameter, data):
        key_curve(key, CKM(self.mechanism).name, names={self.curve_name})
        return key.pkey.sign(data)

    def verify(self, key, parameter, data, signature):
        key_curve(key, CKM(self.mechanism).name, names={self.curve_name})
        expected = EDDSA_SIGNATURE_BYTES[self.curve_name]
        if len(signature) != expected:
            raise signature_length_error(expected, len(signature))
        if not key.pkey.verify(data, signature):
            raise invalid_signature()


class ECKeyPairGenerator(KeyPairGenerator):
    """EC key pairs on the curve that CKA_EC_PARAMS names (in either template)."""

    key_type = CKK.EC

    def generate(self, public, private):
        params = public.get(CKA.EC_PARAMS, private.get(CKA.EC_PARAMS))
        if params is None:
            raise PKCS11Error(CKR.TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required")
        curve = curve_from_params(params)
        if curve.family is CurveFamily.PAIRING:
            return BLSKey.generate()
        return _crypto.PKey.generate_ec(curve.openssl_name)


# --- ECDH


def ecdh_parameter(parameter):
    """Check the parameter of an ECDH derivation and return it as ``ECDH1DeriveParams``.

    ``ParameterB`` bytes are the peer's public value with CKD_NULL and no shared data.
    """
    if isinstance(parameter, bytes):
        parameter = ECDH1DeriveParams(CKD.NULL, b"", parameter)
    if not isinstance(parameter, ECDH1DeriveParams):
        raise param_error("ECDH needs the peer's public value or an ECDH1DeriveParm parameter")
    if parameter.kdf not in NULL_KDFS and parameter.kdf not in X963_KDF_HASHES:
        raise param_error(f"KDF {parameter.kdf:#x} is not supported for ECDH")
    if parameter.kdf in NULL_KDFS and parameter.shared_data:
        raise param_error("a null KDF takes no shared data")
    if not parameter.public_data:
        raise param_error("ECDH needs the peer's public value")
    return parameter


def _der_octet_string_content(data: bytes) -> Optional[bytes]:
    """Return the content of a DER OCTET STRING that spans all of ``data``, else None."""
    if len(data) < 2 or data[0] != 0x04:
        return None
    if data[1] < 0x80:
        header, length = 2, data[1]
    else:
        size = data[1] & 0x7F
        if not 1 <= size <= 4 or len(data) < 2 + size:
            return None
        header, length = 2 + size, int.from_bytes(data[2 : 2 + size], "big")
    if header + length != len(data):
        return None
    return data[header:]


def peer_public_key(curve: Curve, own_point: bytes, public_data: bytes):
    """Parse the peer's public value on ``curve``: a point or raw key, bare or in an OCTET STRING.

    A bare uncompressed point also starts with 0x04, so the OCTET STRING form is taken only
    when its content has a length that a public value on the curve can have.
    """
    if curve.family is CurveFamily.WEIERSTRASS:
        field_bytes = (len(own_point) - 1) // 2
        lengths = {1 + 2 * field_bytes, 1 + field_bytes}
    else:
        lengths = {len(own_point)}
    content = _der_octet_string_content(public_data)
    if content is not None and len(content) in lengths:
        public_data = content
    try:
        return _crypto.PKey.from_ec_point(curve.openssl_name, public_data)
    except _crypto.CryptoError:
        raise param_error(f"the peer's public value is not a valid {curve.name} key") from None


class ECDHScheme(DeriveScheme):
    """ECDH with the base private key and the peer's public value, then a KDF (``agreement``)."""

    asymmetric = True

    def __init__(self, mechanism: int, names: Optional[frozenset] = None):
        self.mechanism = mechanism
        self.names = names

    def derive(self, base_key, parameter, data, template) -> DerivedKey:
        families = {CurveFamily.WEIERSTRASS, CurveFamily.MONTGOMERY}
        curve = key_curve(base_key, CKM(self.mechanism).name, families, self.names)
        own_point = base_key.pkey.ec_point
        peer = peer_public_key(curve, own_point, parameter.public_data)
        try:
            shared_secret = base_key.pkey.derive(peer)
        except _crypto.CryptoError:
            # X25519 and X448 fail here on a peer key of small order (an all-zero secret).
            raise param_error(f"key agreement with this {curve.name} peer key failed") from None
        key_type, value = secret_from_shared_secret(
            shared_secret, parameter.kdf, parameter.shared_data, template
        )
        return DerivedKey(CKO.SECRET_KEY, key_type, value)


EC_KEY_TYPES = frozenset({CKK.EC})
EC_SIZES = {
    "key_types": EC_KEY_TYPES,
    "min_key_size": 160,
    "max_key_size": 521,
    "extra_flags": EC_FLAGS,
}


def _curve_sizes(bits: int) -> dict:
    return {**EC_SIZES, "min_key_size": bits, "max_key_size": bits}


_ecdsa = ECDSASigner()

ROWS = [
    MechanismSpec(
        CKM.EC_KEY_PAIR_GEN,
        Function.GENERATE_KEY_PAIR,
        generator=ECKeyPairGenerator(),
        **EC_SIZES,
    ),
    MechanismSpec(CKM.ECDSA, SIGN_VERIFY, sign=RawSignScheme(_ecdsa), **EC_SIZES),
    *hash_then_sign_rows(
        _ecdsa,
        (
            (CKM.ECDSA_SHA1, CKM.SHA_1),
            (CKM.ECDSA_SHA224, CKM.SHA224),
            (CKM.ECDSA_SHA256, CKM.SHA256),
            (CKM.ECDSA_SHA384, CKM.SHA384),
            (CKM.ECDSA_SHA512, CKM.SHA512),
        ),
        **EC_SIZES,
    ),
    # EdDSA signs the whole message in one pass, so both are single-part only.
    MechanismSpec(
        CKM.IBM_ED25519_SHA512,
        SIGN_VERIFY,
        sign=RawSignScheme(EdDSASigner(CKM.IBM_ED25519_SHA512, "ED25519")),
        **_curve_sizes(256),
    ),
    MechanismSpec(
        CKM.IBM_ED448_SHA3,
        SIGN_VERIFY,
        sign=RawSignScheme(EdDSASigner(CKM.IBM_ED448_SHA3, "ED448")),
        **_curve_sizes(456),
    ),
    MechanismSpec(
        CKM.ECDH1_DERIVE,
        Function.DERIVE,
        parameter=ecdh_parameter,
        derive=ECDHScheme(CKM.ECDH1_DERIVE),
        **EC_SIZES,
    ),
    MechanismSpec(
        CKM.IBM_EC_X25519,
        Function.DERIVE,
        parameter=ecdh_parameter,
        derive=ECDHScheme(CKM.IBM_EC_X25519, frozenset({"X25519"})),
        **_curve_sizes(256),
    ),
    MechanismSpec(
        CKM.IBM_EC_X448,
        Function.DERIVE,
        parameter=ecdh_parameter,
        derive=ECDHScheme(CKM.IBM_EC_X448, frozenset({"X448"})),
        **_curve_sizes(448),
    ),
]
