"""ECDH derivation: CKM_ECDH1_DERIVE, CKM_IBM_EC_X25519 and CKM_IBM_EC_X448 with every KDF.

Each derived key is checked against a value computed outside the HSM: the shared secret from
the ``cryptography`` package (or the RFC 7748 vectors), run through the KDF of the parameter
(``cryptography``'s X963KDF for the SHA KDFs). A derived generic secret is compared through an
HMAC that the HSM computes with it, and a derived AES key through a ciphertext.
"""

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from conftest import der_element, raises_ckr
from curve_vectors import XDH_VECTORS
from ep11core.constants import CKA, CKD, CKK, CKM, CKO, CKR
from ep11core.engine import der_octet_string
from ep11core.keys import CURVE_BY_OPENSSL_NAME
from ep11core.types import ECDH1DeriveParams, Mechanism

KDF_HASHES = {
    CKD.SHA1_KDF: hashes.SHA1,
    CKD.SHA224_KDF: hashes.SHA224,
    CKD.SHA256_KDF: hashes.SHA256,
    CKD.SHA384_KDF: hashes.SHA384,
    CKD.SHA512_KDF: hashes.SHA512,
}
WEIERSTRASS = {
    "prime256v1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
}
XDH_CLASSES = {
    "X25519": (x25519.X25519PrivateKey, x25519.X25519PublicKey, CKM.IBM_EC_X25519),
    "X448": (x448.X448PrivateKey, x448.X448PublicKey, CKM.IBM_EC_X448),
}
# The shared secret lengths of the Kyber hybrid flow, which derives a generic secret of the
# curve's size with CKD_IBM_HYBRID_NULL.
HYBRID_LENGTHS = {
    "secp224r1": 28,
    "prime256v1": 32,
    "secp384r1": 48,
    "secp521r1": 66,
    "secp256k1": 32,
    "X25519": 32,
    "X448": 56,
}
PKCS8 = (
    serialization.Encoding.DER,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
)
UNCOMPRESSED = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
COMPRESSED = (serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
HMAC_DATA = b"data authenticated with the derived secret"


def generic_secret(length=None, extra=None):
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET, **(extra or {})}
    if length is not None:
        template[CKA.VALUE_LEN] = length
    return template


def aes_template(length=16):
    return {
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.KEY_TYPE: CKK.AES,
        CKA.VALUE_LEN: length,
        CKA.ENCRYPT: True,
        CKA.DECRYPT: True,
    }


def assert_secret_value(ep11, blob: bytes, expected: bytes):
    """Check a derived generic secret by an HMAC-SHA-256 that the HSM computes with it."""
    mac = ep11.sign_single(Mechanism(CKM.SHA256_HMAC), blob, HMAC_DATA)
    assert mac == hmac.new(expected, HMAC_DATA, hashlib.sha256).digest()


def assert_aes_value(ep11, blob: bytes, expected: bytes):
    iv = os.urandom(16)
    plaintext = os.urandom(32)
    ciphertext = ep11.encrypt_single(Mechanism(CKM.AES_CBC, iv), blob, plaintext)
    decryptor = Cipher(algorithms.AES(expected), modes.CBC(iv)).decryptor()
    assert decryptor.update(ciphertext) + decryptor.finalize() == plaintext


@pytest.fixture(scope="module")
def imported_keys(ep11, import_private):
    """One key per curve, made by cryptography and imported, so its shared secrets are known."""
    keys = {}
    for name, curve_class in WEIERSTRASS.items():
        theirs = ec.generate_private_key(curve_class())
        keys[name] = (theirs, import_private(ep11, theirs.private_bytes(*PKCS8), CKK.EC).blob)
    for name, (private_class, _, _) in XDH_CLASSES.items():
        theirs = private_class.generate()
        keys[name] = (theirs, import_private(ep11, theirs.private_bytes(*PKCS8), CKK.EC).blob)
    return keys


def peer_of(curve_name):
    if curve_name in WEIERSTRASS:
        peer = ec.generate_private_key(WEIERSTRASS[curve_name]())
        return peer, peer.public_key().public_bytes(*UNCOMPRESSED)
    peer = XDH_CLASSES[curve_name][0].generate()
    return peer, peer.public_key().public_bytes(*RAW)


def shared_secret(ours, peer):
    if isinstance(ours, ec.EllipticCurvePrivateKey):
        return ours.exchange(ec.ECDH(), peer.public_key())
    return ours.exchange(peer.public_key())


def mechanism_of(curve_name):
    return XDH_CLASSES[curve_name][2] if curve_name in XDH_CLASSES else CKM.ECDH1_DERIVE


# --- the client flow


@pytest.mark.parametrize("curve_name", ["prime256v1", "X25519", "X448"])
def test_derive_both_sides_then_aes(ep11, curve_name):
    """Two parties derive one AES-128 key with a null KDF and exchange a message under it."""
    curve = CURVE_BY_OPENSSL_NAME[curve_name]
    public = {CKA.EC_PARAMS: curve.der_oid, CKA.EXTRACTABLE: False}
    private = {CKA.DERIVE: True, CKA.EXTRACTABLE: False}
    alice = ep11.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), public, private)
    bob = ep11.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), public, private)
    # The clients take the peer's point from the BIT STRING at the end of its SPKI.
    alice_point = der_element(alice.public_blob)[-len(ep11_point(ep11, alice.public_blob)) :]
    bob_point = der_element(bob.public_blob)[-len(ep11_point(ep11, bob.public_blob)) :]
    mechanism = mechanism_of(curve_name)
    alice_key = ep11.derive_key(
        Mechanism(mechanism, bob_point), alice.private_blob, b"", aes_template()
    )
    bob_key = ep11.derive_key(
        Mechanism(mechanism, alice_point), bob.private_blob, b"", aes_template()
    )
    assert alice_key.checksum == bob_key.checksum
    assert alice_key.checksum[3:] == (128).to_bytes(4, "big")
    iv = ep11.generate_random(16)
    message = b"a message between the two parties"
    ciphertext = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), alice_key.blob, message)
    assert ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), bob_key.blob, ciphertext) == message


def ep11_point(ep11, public_blob):
    """Return the raw point or key of a public key blob from its CKA_EC_POINT."""
    encoded = ep11.get_attribute_value(public_blob, [CKA.EC_POINT])[CKA.EC_POINT]
    return der_element(encoded)[2:] if encoded[1] < 0x80 else der_element(encoded)[3:]


# --- KDFs


@pytest.mark.parametrize("curve_name", sorted(WEIERSTRASS) + sorted(XDH_CLASSES))
def test_null_kdf_takes_leading_bytes(ep11, imported_keys, curve_name):
    ours, blob = imported_keys[curve_name]
    peer, peer_public = peer_of(curve_name)
    secret = shared_secret(ours, peer)
    mechanism = Mechanism(mechanism_of(curve_name), peer_public)
    derived = ep11.derive_key(mechanism, blob, b"", aes_template(16))
    assert_aes_value(ep11, derived.blob, secret[:16])
    whole = ep11.derive_key(mechanism, blob, b"", generic_secret())
    assert_secret_value(ep11, whole.blob, secret)
    assert ep11.get_attribute_value(whole.blob, [CKA.VALUE_LEN])[CKA.VALUE_LEN] == len(secret)


@pytest.mark.parametrize("kdf", sorted(KDF_HASHES), ids=lambda kdf: CKD(kdf).name)
@pytest.mark.parametrize("curve_name", ["prime256v1", "secp521r1", "X25519"])
def test_x963_kdf(ep11, imported_keys, curve_name, kdf):
    ours, blob = imported_keys[curve_name]
    peer, peer_public = peer_of(curve_name)
    secret = shared_secret(ours, peer)
    shared_data = os.urandom(20)
    parameter = ECDH1DeriveParams(kdf, shared_data, peer_public)
    for length in (16, 32, 100):
        expected = X963KDF(KDF_HASHES[kdf](), length, shared_data).derive(secret)
        derived = ep11.derive_key(
            Mechanism(mechanism_of(curve_name), parameter), blob, b"", generic_secret(length)
        )
        assert_secret_value(ep11, derived.blob, expected)
    expected = X963KDF(KDF_HASHES[kdf](), 32, shared_data).derive(secret)
    derived = ep11.derive_key(
        Mechanism(mechanism_of(curve_name), parameter), blob, b"", aes_template(32)
    )
    assert_aes_value(ep11, derived.blob, expected)


def test_x963_kdf_without_shared_data(ep11, imported_keys):
    ours, blob = imported_keys["secp384r1"]
    peer, peer_public = peer_of("secp384r1")
    expected = X963KDF(hashes.SHA384(), 24, None).derive(shared_secret(ours, peer))
    parameter = ECDH1DeriveParams(CKD.SHA384_KDF, b"", peer_public)
    derived = ep11.derive_key(Mechanism(CKM.ECDH1_DERIVE, parameter), blob, b"", aes_template(24))
    assert_aes_value(ep11, derived.blob, expected)


@pytest.mark.parametrize("curve_name", sorted(HYBRID_LENGTHS))
def test_hybrid_null_kdf(ep11, curve_name):
    """The classical half of the Kyber hybrid flow: ECDH with the own point, all of Z kept."""
    curve = CURVE_BY_OPENSSL_NAME[curve_name]
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.EC_PARAMS: curve.der_oid, CKA.DERIVE: True},
        {CKA.DERIVE: True},
    )
    own_point = ep11_point(ep11, pair.public_blob)
    parameter = ECDH1DeriveParams(CKD.IBM_HYBRID_NULL, b"", own_point)
    length = HYBRID_LENGTHS[curve_name]
    derived = ep11.derive_key(
        Mechanism(mechanism_of(curve_name), parameter),
        pair.private_blob,
        b"",
        generic_secret(length, {CKA.IBM_USE_AS_DATA: True}),
    )
    attributes = ep11.get_attribute_value(derived.blob, [CKA.VALUE_LEN, CKA.KEY_TYPE])
    assert attributes[CKA.VALUE_LEN] == length
    assert attributes[CKA.KEY_TYPE] == CKK.GENERIC_SECRET


def test_hybrid_null_kdf_value(ep11, imported_keys):
    ours, blob = imported_keys["X448"]
    peer, peer_public = peer_of("X448")
    parameter = ECDH1DeriveParams(CKD.IBM_HYBRID_NULL, b"", peer_public)
    derived = ep11.derive_key(Mechanism(CKM.IBM_EC_X448, parameter), blob, b"", generic_secret(56))
    assert_secret_value(ep11, derived.blob, shared_secret(ours, peer))


@pytest.mark.parametrize("vector", XDH_VECTORS, ids=lambda v: v.curve)
def test_xdh_rfc7748(ep11, import_private, vector):
    private_class, _, mechanism = XDH_CLASSES[vector.curve]
    alice = private_class.from_private_bytes(vector.alice_private)
    blob = import_private(ep11, alice.private_bytes(*PKCS8), CKK.EC).blob
    derived = ep11.derive_key(
        Mechanism(mechanism, vector.bob_public),
        blob,
        b"",
        generic_secret(len(vector.shared_secret)),
    )
    assert_secret_value(ep11, derived.blob, vector.shared_secret)
    # CKM_ECDH1_DERIVE takes Montgomery keys too, as PKCS #11 3.0 allows.
    derived = ep11.derive_key(
        Mechanism(CKM.ECDH1_DERIVE, vector.bob_public), blob, b"", generic_secret()
    )
    assert_secret_value(ep11, derived.blob, vector.shared_secret)


# --- forms of the peer's public value


def peer_forms(point: bytes):
    return {
        "parameter-raw": point,
        "parameter-octet-string": der_octet_string(point),
        "public-data-raw": ECDH1DeriveParams(CKD.NULL, b"", point),
        "public-data-octet-string": ECDH1DeriveParams(CKD.NULL, b"", der_octet_string(point)),
    }


@pytest.mark.parametrize(
    "form",
    ["parameter-raw", "parameter-octet-string", "public-data-raw", "public-data-octet-string"],
)
@pytest.mark.parametrize("curve_name", ["prime256v1", "secp521r1", "X25519"])
def test_peer_point_forms(ep11, imported_keys, curve_name, form):
    ours, blob = imported_keys[curve_name]
    peer, peer_public = peer_of(curve_name)
    parameter = peer_forms(peer_public)[form]
    derived = ep11.derive_key(
        Mechanism(mechanism_of(curve_name), parameter), blob, b"", generic_secret()
    )
    assert_secret_value(ep11, derived.blob, shared_secret(ours, peer))


def test_compressed_peer_point(ep11, imported_keys):
    ours, blob = imported_keys["prime256v1"]
    peer = ec.generate_private_key(ec.SECP256R1())
    compressed = peer.public_key().public_bytes(*COMPRESSED)
    derived = ep11.derive_key(Mechanism(CKM.ECDH1_DERIVE, compressed), blob, b"", generic_secret())
    assert_secret_value(ep11, derived.blob, shared_secret(ours, peer))


# --- errors


def test_invalid_peer_values(ep11, imported_keys):
    _, blob = imported_keys["prime256v1"]
    _, point = peer_of("prime256v1")
    off_curve = point[:-1] + bytes((point[-1] ^ 1,))
    p384_point = peer_of("secp384r1")[1]
    for bad in (off_curve, p384_point, point[:-1], b"\x04", b"\x00" * 65):
        with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
            ep11.derive_key(Mechanism(CKM.ECDH1_DERIVE, bad), blob, b"", generic_secret())
    _, x25519_blob = imported_keys["X25519"]
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        # u = 0 is a point of small order: the shared secret would be all zeros.
        ep11.derive_key(
            Mechanism(CKM.IBM_EC_X25519, bytes(32)), x25519_blob, b"", generic_secret()
        )
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.derive_key(
            Mechanism(CKM.IBM_EC_X25519, bytes(31)), x25519_blob, b"", generic_secret()
        )


def test_invalid_parameters(ep11, imported_keys):
    _, blob = imported_keys["prime256v1"]
    _, point = peer_of("prime256v1")
    bad_parameters = [
        None,
        b"",
        ECDH1DeriveParams(CKD.NULL, b"shared data", point),
        ECDH1DeriveParams(CKD.IBM_HYBRID_NULL, b"shared data", point),
        ECDH1DeriveParams(CKD.IBM_HYBRID_SHA256_KDF, b"", point),
        ECDH1DeriveParams(CKD.SHA256_KDF, b"", b""),
    ]
    for parameter in bad_parameters:
        with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
            ep11.derive_key(Mechanism(CKM.ECDH1_DERIVE, parameter), blob, b"", generic_secret(16))


def test_template_errors(ep11, imported_keys):
    _, blob = imported_keys["prime256v1"]
    _, point = peer_of("prime256v1")
    null = Mechanism(CKM.ECDH1_DERIVE, point)
    sha256 = Mechanism(CKM.ECDH1_DERIVE, ECDH1DeriveParams(CKD.SHA256_KDF, b"", point))
    hybrid = Mechanism(CKM.ECDH1_DERIVE, ECDH1DeriveParams(CKD.IBM_HYBRID_NULL, b"", point))
    cases = [
        (null, {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES}, CKR.TEMPLATE_INCOMPLETE),
        (null, aes_template(20), CKR.ATTRIBUTE_VALUE_INVALID),
        (null, generic_secret(33), CKR.TEMPLATE_INCONSISTENT),
        (sha256, generic_secret(), CKR.TEMPLATE_INCOMPLETE),
        (sha256, generic_secret(257), CKR.ATTRIBUTE_VALUE_INVALID),
        (hybrid, aes_template(16), CKR.TEMPLATE_INCONSISTENT),
        (null, {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.DES3}, CKR.TEMPLATE_INCONSISTENT),
        (null, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.EC}, CKR.TEMPLATE_INCONSISTENT),
    ]
    for mechanism, template, code in cases:
        with raises_ckr(code):
            ep11.derive_key(mechanism, blob, b"", template)


def test_key_and_mechanism_mismatch(ep11, imported_keys):
    _, p256_blob = imported_keys["prime256v1"]
    _, x25519_blob = imported_keys["X25519"]
    _, p256_point = peer_of("prime256v1")
    _, x25519_point = peer_of("X25519")
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(Mechanism(CKM.IBM_EC_X25519, p256_point), p256_blob, b"", generic_secret())
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(
            Mechanism(CKM.IBM_EC_X448, x25519_point), x25519_blob, b"", generic_secret()
        )
    ed25519 = CURVE_BY_OPENSSL_NAME["ED25519"]
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: ed25519.der_oid}, {}
    )
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT, CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.derive_key(
            Mechanism(CKM.ECDH1_DERIVE, x25519_point), pair.private_blob, b"", generic_secret()
        )
    p256 = CURVE_BY_OPENSSL_NAME["prime256v1"]
    public_pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: p256.der_oid}, {}
    )
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(
            Mechanism(CKM.ECDH1_DERIVE, p256_point), public_pair.public_blob, b"", generic_secret()
        )


def test_derive_needs_derive_attribute(ep11):
    p256 = CURVE_BY_OPENSSL_NAME["prime256v1"]
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: p256.der_oid}, {CKA.DERIVE: False}
    )
    _, point = peer_of("prime256v1")
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.derive_key(
            Mechanism(CKM.ECDH1_DERIVE, point), pair.private_blob, b"", generic_secret()
        )


def test_derived_key_attributes(ep11, imported_keys):
    _, blob = imported_keys["prime256v1"]
    _, point = peer_of("prime256v1")
    template = {**aes_template(32), CKA.EXTRACTABLE: False}
    derived = ep11.derive_key(Mechanism(CKM.ECDH1_DERIVE, point), blob, b"", template)
    attributes = ep11.get_attribute_value(
        derived.blob, [CKA.CLASS, CKA.KEY_TYPE, CKA.VALUE_LEN, CKA.EXTRACTABLE, CKA.LOCAL]
    )
    assert attributes[CKA.CLASS] == CKO.SECRET_KEY
    assert attributes[CKA.KEY_TYPE] == CKK.AES
    assert attributes[CKA.VALUE_LEN] == 32
    assert attributes[CKA.EXTRACTABLE] is False
    assert attributes[CKA.LOCAL] is False
    assert len(derived.checksum) == 7
