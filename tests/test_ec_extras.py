"""The curves of the EP11 curve table, EdDSA and the EP11 SubjectPublicKeyInfo form.

Every test runs on the backends of the ``ep11`` fixture. Ed25519 and Ed448 are checked against
the RFC 8032 vectors and cross-checked with the ``cryptography`` package in both directions.
The Ed25519 flows of the GREP11 client suite (key pair, SignSingle and VerifySingle, then
SignInit with Sign and VerifyInit with Verify) run as the clients send them.
"""

import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, utils

from conftest import der_element, raises_ckr
from curve_vectors import EDDSA_VECTORS, EP11_ALGORITHM_IDENTIFIERS
from ep11core.constants import CKA, CKK, CKM, CKR
from ep11core.engine import der_octet_string
from ep11core.keys import CURVE_BY_OPENSSL_NAME, CURVES, CurveFamily
from ep11core.types import Mechanism

ED25519 = CURVE_BY_OPENSSL_NAME["ED25519"]
ED448 = CURVE_BY_OPENSSL_NAME["ED448"]
EDDSA_MECHANISMS = {"ED25519": CKM.IBM_ED25519_SHA512, "ED448": CKM.IBM_ED448_SHA3}
EDDSA_SIGNATURE_BYTES = {"ED25519": 64, "ED448": 114}
EDDSA_PRIVATE_CLASSES = {"ED25519": ed25519.Ed25519PrivateKey, "ED448": ed448.Ed448PrivateKey}
EDDSA_PUBLIC_CLASSES = {"ED25519": ed25519.Ed25519PublicKey, "ED448": ed448.Ed448PublicKey}
# Weierstrass curves that the cryptography package also implements.
CRYPTOGRAPHY_CURVES = {
    "prime192v1": ec.SECP192R1,
    "secp224r1": ec.SECP224R1,
    "prime256v1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpoolP384r1": ec.BrainpoolP384R1,
    "brainpoolP512r1": ec.BrainpoolP512R1,
}
MESSAGE = b"message signed on an Edwards curve, " * 4
RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
PKCS8 = (
    serialization.Encoding.DER,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
)
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def curve_params(curves):
    return [pytest.param(curve, id=curve.openssl_name) for curve in curves]


def generate_pair(ep11, curve, public=None, private=None):
    public_template = {CKA.EC_PARAMS: curve.der_oid, **(public or {})}
    return ep11.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), public_template, private or {})


def ep11_spki(curve_name: str, raw: bytes) -> bytes:
    """Return EP11's SubjectPublicKeyInfo of an Edwards or Montgomery public key."""
    bit_string = bytes((0x03, len(raw) + 1, 0x00)) + raw
    content = EP11_ALGORITHM_IDENTIFIERS[curve_name] + bit_string
    return bytes((0x30, len(content))) + content


def raw_public_key(blob: bytes, curve_name: str) -> bytes:
    """Return the raw key of an EP11 SPKI (at the start of a MACed SPKI), checking its form."""
    spki = der_element(blob)
    algorithm = EP11_ALGORITHM_IDENTIFIERS[curve_name]
    assert spki[2 : 2 + len(algorithm)] == algorithm, "not EP11's id-ecPublicKey form"
    raw = spki[2 + len(algorithm) + 3 :]
    assert spki == ep11_spki(curve_name, raw)
    return raw


# --- the curve table


@pytest.mark.parametrize("curve", curve_params(CURVES))
def test_key_pair_on_every_curve(ep11, curve):
    pair = generate_pair(ep11, curve)
    attributes = ep11.get_attribute_value(pair.public_blob, [CKA.KEY_TYPE, CKA.EC_PARAMS])
    assert attributes[CKA.KEY_TYPE] == CKK.EC
    assert attributes[CKA.EC_PARAMS] == curve.der_oid
    private = ep11.get_attribute_value(pair.private_blob, [CKA.EC_PARAMS])
    assert private[CKA.EC_PARAMS] == curve.der_oid
    if curve.family is CurveFamily.WEIERSTRASS:
        spki = der_element(pair.public_blob)
        # id-ecPublicKey with the namedCurve OID, then an uncompressed point.
        assert curve.der_oid in spki[:40]
        assert spki[-(2 * ((curve.bits + 7) // 8) + 1)] == 0x04
    elif curve.family is CurveFamily.PAIRING:
        # A compressed BLS12-381 point; tests/test_bls.py checks the form in detail.
        assert curve.der_oid in der_element(pair.public_blob)
    else:
        raw_public_key(pair.public_blob, curve.openssl_name)


@pytest.mark.parametrize(
    "curve", curve_params(c for c in CURVES if c.family is CurveFamily.WEIERSTRASS)
)
def test_ecdsa_on_every_weierstrass_curve(ep11, curve):
    pair = generate_pair(ep11, curve)
    digest = os.urandom(32)
    signature = ep11.sign_single(Mechanism(CKM.ECDSA), pair.private_blob, digest)
    assert len(signature) == 2 * ((curve.bits + 7) // 8)
    ep11.verify_single(Mechanism(CKM.ECDSA), pair.public_blob, digest, signature)
    theirs = CRYPTOGRAPHY_CURVES.get(curve.openssl_name)
    if theirs is None:
        return
    public = serialization.load_der_public_key(der_element(pair.public_blob))
    assert isinstance(public.curve, theirs)
    half = len(signature) // 2
    der = utils.encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )
    # A 32-byte hash on a smaller curve is truncated to the order's bit length, as here.
    public.verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


@pytest.mark.parametrize("params", [b"BP-256R", b"BP-384R", b"P-224"], ids=bytes.decode)
def test_ascii_curve_names(ep11, params):
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: params}, {}
    )
    attributes = ep11.get_attribute_value(pair.public_blob, [CKA.EC_PARAMS])
    expected = {
        b"BP-256R": "brainpoolP256r1",
        b"BP-384R": "brainpoolP384r1",
        b"P-224": "secp224r1",
    }
    assert attributes[CKA.EC_PARAMS] == CURVE_BY_OPENSSL_NAME[expected[params]].der_oid


@pytest.mark.parametrize("params", [b"BP-256T", b"Ed25519", bytes.fromhex("06032b6572")])
def test_unknown_curve_names(ep11, params):
    with raises_ckr(CKR.CURVE_NOT_SUPPORTED):
        ep11.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: params}, {})


# --- EdDSA


@pytest.mark.parametrize("vector", EDDSA_VECTORS, ids=lambda v: f"{v.curve}-{len(v.message)}")
def test_eddsa_rfc8032_sign(ep11, import_private, vector):
    theirs = EDDSA_PRIVATE_CLASSES[vector.curve].from_private_bytes(vector.private_key)
    imported = import_private(ep11, theirs.private_bytes(*PKCS8), CKK.EC, {CKA.SIGN: True})
    mechanism = Mechanism(EDDSA_MECHANISMS[vector.curve])
    assert ep11.sign_single(mechanism, imported.blob, vector.message) == vector.signature
    state = ep11.sign_init(mechanism, imported.blob)
    assert ep11.sign(state, vector.message) == vector.signature


@pytest.mark.parametrize(
    "form", ["ep11-transport", "rfc8410-transport", "ep11-plain", "rfc8410-plain"]
)
@pytest.mark.parametrize("vector", EDDSA_VECTORS, ids=lambda v: f"{v.curve}-{len(v.message)}")
def test_eddsa_rfc8032_verify(ep11, import_public, vector, form):
    public = EDDSA_PUBLIC_CLASSES[vector.curve].from_public_bytes(vector.public_key)
    encoding, delivery = form.split("-")
    if encoding == "ep11":
        spki = ep11_spki(vector.curve, vector.public_key)
    else:
        spki = public.public_bytes(*SPKI)
    key = import_public(ep11, spki).blob if delivery == "transport" else spki
    mechanism = Mechanism(EDDSA_MECHANISMS[vector.curve])
    ep11.verify_single(mechanism, key, vector.message, vector.signature)
    tampered = bytes((vector.signature[0] ^ 1,)) + vector.signature[1:]
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(mechanism, key, vector.message, tampered)


def test_transport_import_stores_ep11_form(ep11, import_public):
    vector = EDDSA_VECTORS[0]
    rfc8410 = ed25519.Ed25519PublicKey.from_public_bytes(vector.public_key).public_bytes(*SPKI)
    imported = import_public(ep11, rfc8410)
    assert raw_public_key(imported.blob, "ED25519") == vector.public_key
    assert imported.checksum[:-4] == ep11_spki("ED25519", vector.public_key)
    assert imported.checksum[-4:] == (256).to_bytes(4, "big")


@pytest.mark.parametrize("curve", curve_params([ED25519, ED448]))
def test_eddsa_cross_check(ep11, curve):
    name = curve.openssl_name
    pair = generate_pair(ep11, curve)
    raw = raw_public_key(pair.public_blob, name)
    mechanism = Mechanism(EDDSA_MECHANISMS[name])
    signature = ep11.sign_single(mechanism, pair.private_blob, MESSAGE)
    assert len(signature) == EDDSA_SIGNATURE_BYTES[name]
    EDDSA_PUBLIC_CLASSES[name].from_public_bytes(raw).verify(signature, MESSAGE)
    theirs = EDDSA_PRIVATE_CLASSES[name].generate()
    key = theirs.public_key().public_bytes(*SPKI)
    ep11.verify_single(mechanism, key, MESSAGE, theirs.sign(MESSAGE))


@pytest.mark.parametrize("curve", curve_params([ED25519, ED448]))
def test_eddsa_attributes(ep11, curve):
    pair = generate_pair(ep11, curve)
    raw = raw_public_key(pair.public_blob, curve.openssl_name)
    attributes = ep11.get_attribute_value(
        pair.public_blob, [CKA.KEY_TYPE, CKA.EC_PARAMS, CKA.EC_POINT]
    )
    assert attributes[CKA.KEY_TYPE] == CKK.EC
    assert attributes[CKA.EC_PARAMS] == curve.der_oid
    # PKCS #11 3.0 puts the raw Edwards key in a DER OCTET STRING in CKA_EC_POINT.
    assert attributes[CKA.EC_POINT] == der_octet_string(raw)
    private = ep11.get_attribute_value(
        pair.private_blob, [CKA.PUBLIC_KEY_INFO, CKA.IBM_MACED_PUBLIC_KEY_INFO]
    )
    assert private[CKA.PUBLIC_KEY_INFO] == ep11_spki(curve.openssl_name, raw)
    assert der_element(private[CKA.IBM_MACED_PUBLIC_KEY_INFO]) == ep11_spki(
        curve.openssl_name, raw
    )


def test_ed25519_client_flows(ep11):
    """The Ed25519 ESP and PSP flows of the GREP11 client suite."""
    pair = generate_pair(
        ep11,
        ED25519,
        {CKA.VERIFY: True, CKA.EXTRACTABLE: False},
        {CKA.SIGN: True, CKA.EXTRACTABLE: False, CKA.PRIVATE: True, CKA.SENSITIVE: True},
    )
    mechanism = Mechanism(CKM.IBM_ED25519_SHA512)
    data = b"This data needs to be signed"
    signature = ep11.sign_single(mechanism, pair.private_blob, data)
    ep11.verify_single(mechanism, pair.public_blob, data, signature)
    sign_state = ep11.sign_init(mechanism, pair.private_blob)
    signature = ep11.sign(sign_state, data)
    verify_state = ep11.verify_init(mechanism, pair.public_blob)
    ep11.verify(verify_state, data, signature)


def test_eddsa_is_single_part(ep11):
    pair = generate_pair(ep11, ED25519)
    mechanism = Mechanism(CKM.IBM_ED25519_SHA512)
    state = ep11.sign_init(mechanism, pair.private_blob)
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.sign_update(state, b"part")
    state = ep11.verify_init(mechanism, pair.public_blob)
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.verify_update(state, b"part")


def test_eddsa_signature_errors(ep11):
    pair = generate_pair(ep11, ED25519)
    mechanism = Mechanism(CKM.IBM_ED25519_SHA512)
    signature = ep11.sign_single(mechanism, pair.private_blob, MESSAGE)
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.verify_single(mechanism, pair.public_blob, MESSAGE, signature[:-1])
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(mechanism, pair.public_blob, MESSAGE + b"!", signature)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(mechanism, pair.public_blob, MESSAGE, bytes(64))


def test_mechanism_curve_mismatch(ep11):
    ed25519_pair = generate_pair(ep11, ED25519)
    p256_pair = generate_pair(ep11, CURVE_BY_OPENSSL_NAME["prime256v1"])
    x25519_pair = generate_pair(ep11, CURVE_BY_OPENSSL_NAME["X25519"])
    digest = os.urandom(32)
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.sign_single(Mechanism(CKM.ECDSA), ed25519_pair.private_blob, digest)
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.sign_single(Mechanism(CKM.ECDSA_SHA256), ed25519_pair.private_blob, MESSAGE)
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.sign_single(Mechanism(CKM.IBM_ED25519_SHA512), p256_pair.private_blob, MESSAGE)
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.sign_single(Mechanism(CKM.IBM_ED448_SHA3), ed25519_pair.private_blob, MESSAGE)
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT, CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.sign_single(Mechanism(CKM.IBM_ED25519_SHA512), x25519_pair.private_blob, MESSAGE)
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.verify_single(
            Mechanism(CKM.IBM_ED25519_SHA512), p256_pair.public_blob, MESSAGE, bytes(64)
        )


def test_ed25519_private_key_export(ep11, import_secret):
    """An extractable Ed25519 key wraps as an RFC 8410 PKCS #8 that cryptography reads."""
    pair = generate_pair(ep11, ED25519, {}, {CKA.EXTRACTABLE: True})
    kek_value = os.urandom(32)
    kek = import_secret(ep11, CKK.AES, kek_value)
    iv = os.urandom(16)
    wrapped = ep11.wrap_key(Mechanism(CKM.AES_CBC_PAD, iv), pair.private_blob, kek.blob)
    pkcs8 = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), kek.blob, wrapped)
    theirs = serialization.load_der_private_key(pkcs8, None)
    assert theirs.public_key().public_bytes(*RAW) == raw_public_key(pair.public_blob, "ED25519")
    signature = ep11.sign_single(Mechanism(CKM.IBM_ED25519_SHA512), pair.private_blob, MESSAGE)
    assert theirs.sign(MESSAGE) == signature


def test_eddsa_mechanism_info(ep11):
    mechanisms = ep11.get_mechanism_list()
    for mechanism in (CKM.IBM_ED25519_SHA512, CKM.IBM_ED448_SHA3):
        assert mechanism in mechanisms
        info = ep11.get_mechanism_info(mechanism)
        assert info.flags & 0x800  # CKF_SIGN
        assert info.flags & 0x2000  # CKF_VERIFY
    assert ep11.get_mechanism_info(CKM.IBM_ED25519_SHA512).max_key_size == 256
