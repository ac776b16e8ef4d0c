"""IBM's Dilithium (CKM_IBM_DILITHIUM) and Kyber (CKM_IBM_KYBER) through every backend.

The flows follow the GREP11 sample clients: key pairs of every strength, SignSingle and
VerifySingle, Kyber encapsulation and decapsulation through DeriveKey with a KyberKEMParm, and
the hybrid scheme with an ECDH secret. The signatures and ciphertexts are also checked with the
primitive modules directly, on the public key taken from the SPKI, so the key encodings are
tested apart from the engine.
"""

import os

import pytest

from ep11core import _dilithium, _kyber, masterkey
from ep11core.constants import CKA, CKD, CKK, CKM, CKO, CKR
from ep11core.engine import Engine
from ep11core.errors import PKCS11Error
from ep11core.keys import encode_oid
from ep11core.latticekeys import STRENGTHS, LatticeKey
from ep11core.policy import parse_policy
from ep11core.types import ECDH1DeriveParams, KyberKEMParams, Mechanism
from conftest import der_element, raises_ckr

DILITHIUM = Mechanism(CKM.IBM_DILITHIUM)
KYBER = Mechanism(CKM.IBM_KYBER)
DILITHIUM_STRENGTHS = {entry.name: entry for entry in STRENGTHS if entry.algorithm == "DILITHIUM"}
KYBER_STRENGTHS = {entry.name: entry for entry in STRENGTHS if entry.algorithm == "KYBER"}
ROUND2_HIGH = encode_oid("1.3.6.1.4.1.2.267.1.6.5")
KYBER_1024 = encode_oid("1.3.6.1.4.1.2.267.5.4.4")
ENCAPSULATE, DECAPSULATE = 1, 2
AES_TEMPLATE = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 32}
HYBRID_KDFS = (
    CKD.IBM_HYBRID_SHA1_KDF,
    CKD.IBM_HYBRID_SHA224_KDF,
    CKD.IBM_HYBRID_SHA256_KDF,
    CKD.IBM_HYBRID_SHA384_KDF,
    CKD.IBM_HYBRID_SHA512_KDF,
)


def raw_public_key(public_blob: bytes, strength) -> bytes:
    """Return the public key bytes from the BIT STRING of a public key blob's SPKI."""
    spki = der_element(public_blob)
    assert spki.find(strength.der_oid) > 0
    return spki[-strength.public_key_bytes :]


def kem(mode, ciphertext=b"", kdf=CKD.NULL, blob=b"", version=0) -> Mechanism:
    return Mechanism(CKM.IBM_KYBER, KyberKEMParams(version, mode, kdf, ciphertext=ciphertext, blob=blob))


@pytest.fixture(scope="module", params=sorted(DILITHIUM_STRENGTHS))
def dilithium_strength(request):
    return DILITHIUM_STRENGTHS[request.param]


@pytest.fixture(scope="module")
def dilithium_pair(ep11, dilithium_strength):
    return ep11.generate_key_pair(
        DILITHIUM,
        {CKA.IBM_PQC_PARAMS: dilithium_strength.der_oid, CKA.VERIFY: True},
        {CKA.SIGN: True, CKA.PRIVATE: True, CKA.SENSITIVE: True},
    )


@pytest.fixture(scope="module", params=sorted(KYBER_STRENGTHS))
def kyber_strength(request):
    return KYBER_STRENGTHS[request.param]


@pytest.fixture(scope="module")
def kyber_pair(ep11, kyber_strength):
    return ep11.generate_key_pair(
        KYBER,
        {
            CKA.CLASS: CKO.PUBLIC_KEY,
            CKA.IBM_PQC_PARAMS: kyber_strength.der_oid,
            CKA.ENCRYPT: True,
            CKA.DERIVE: True,
        },
        {CKA.CLASS: CKO.PRIVATE_KEY, CKA.DECRYPT: True, CKA.DERIVE: True},
    )


# --- Dilithium


def test_dilithium_key_attributes(ep11, dilithium_pair, dilithium_strength):
    for attributes in (dilithium_pair.public_attributes, dilithium_pair.private_attributes):
        assert attributes[CKA.KEY_TYPE] == CKK.IBM_PQC_DILITHIUM
        assert attributes[CKA.IBM_PQC_PARAMS] == dilithium_strength.der_oid
    read = ep11.get_attribute_value(dilithium_pair.private_blob, [CKA.IBM_PQC_PARAMS])
    assert read[CKA.IBM_PQC_PARAMS] == dilithium_strength.der_oid


def test_dilithium_sign_verify_single(ep11, dilithium_pair, dilithium_strength):
    message = b"Hello, Dilithium"
    signature = ep11.sign_single(DILITHIUM, dilithium_pair.private_blob, message)
    assert len(signature) == dilithium_strength.output_bytes
    ep11.verify_single(DILITHIUM, dilithium_pair.public_blob, message, signature)
    public_key = raw_public_key(dilithium_pair.public_blob, dilithium_strength)
    assert _dilithium.verify(dilithium_strength.variant, public_key, message, signature)
    # The reference signing is deterministic.
    assert ep11.sign_single(DILITHIUM, dilithium_pair.private_blob, message) == signature


def test_dilithium_init_then_single_part(ep11, dilithium_pair):
    message = b"x" * 5000
    state = ep11.sign_init(DILITHIUM, dilithium_pair.private_blob)
    signature = ep11.sign(state, message)
    state = ep11.verify_init(DILITHIUM, dilithium_pair.public_blob)
    ep11.verify(state, message, signature)
    state = ep11.sign_init(DILITHIUM, dilithium_pair.private_blob)
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.sign_update(state, message)


def test_dilithium_bad_signatures_rejected(ep11, dilithium_pair):
    message = b"tamper"
    signature = ep11.sign_single(DILITHIUM, dilithium_pair.private_blob, message)
    for position in (0, len(signature) // 2, len(signature) - 1):
        tampered = bytearray(signature)
        tampered[position] ^= 0x01
        with raises_ckr(CKR.SIGNATURE_INVALID):
            ep11.verify_single(DILITHIUM, dilithium_pair.public_blob, message, bytes(tampered))
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(DILITHIUM, dilithium_pair.public_blob, message + b"!", signature)
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.verify_single(DILITHIUM, dilithium_pair.public_blob, message, signature[:-1])


def test_dilithium_raw_spki_verifies(ep11, dilithium_pair):
    message = b"verified with a plain SPKI"
    signature = ep11.sign_single(DILITHIUM, dilithium_pair.private_blob, message)
    ep11.verify_single(DILITHIUM, der_element(dilithium_pair.public_blob), message, signature)


def test_dilithium_imported_private_key(ep11, import_private, dilithium_strength):
    seed = bytes(range(32))
    public_key, private_key = _dilithium.keypair(dilithium_strength.variant, seed)
    pkcs8 = LatticeKey(dilithium_strength, public_key, private_key).pkcs8()
    imported = import_private(ep11, pkcs8, CKK.IBM_PQC_DILITHIUM, {CKA.SIGN: True})
    assert imported.attributes[CKA.IBM_PQC_PARAMS] == dilithium_strength.der_oid
    signature = ep11.sign_single(DILITHIUM, imported.blob, b"imported")
    assert _dilithium.verify(dilithium_strength.variant, public_key, b"imported", signature)


def test_dilithium_default_strength(ep11):
    pair = ep11.generate_key_pair(DILITHIUM, {CKA.VERIFY: True}, {CKA.SIGN: True})
    assert pair.public_attributes[CKA.IBM_PQC_PARAMS] == ROUND2_HIGH


@pytest.mark.parametrize(
    "public, private, code",
    [
        ({CKA.IBM_PQC_PARAMS: KYBER_1024}, {}, CKR.IBM_PQC_PARAMS_NOT_SUPPORTED),
        ({CKA.IBM_PQC_PARAMS: encode_oid("1.3.6.1.4.1.2.267.1.4.4")}, {}, CKR.IBM_PQC_PARAMS_NOT_SUPPORTED),
        ({CKA.IBM_PQC_PARAMS: b"\x05\x00"}, {}, CKR.IBM_PQC_PARAMS_NOT_SUPPORTED),
        (
            {CKA.IBM_PQC_PARAMS: ROUND2_HIGH},
            {CKA.IBM_PQC_PARAMS: encode_oid("1.3.6.1.4.1.2.267.7.4.4")},
            CKR.TEMPLATE_INCONSISTENT,
        ),
        ({CKA.ENCRYPT: True}, {}, CKR.TEMPLATE_INCONSISTENT),
    ],
    ids=["Kyber OID", "unknown OID", "not an OID", "two strengths", "encrypt usage"],
)
def test_dilithium_key_pair_rejected(ep11, public, private, code):
    with raises_ckr(code):
        ep11.generate_key_pair(DILITHIUM, public, private)


def test_dilithium_key_rejected_by_other_mechanisms(ep11, dilithium_pair):
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.sign_single(Mechanism(CKM.IBM_ML_DSA), dilithium_pair.private_blob, b"m")
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(kem(ENCAPSULATE), dilithium_pair.public_blob, b"", AES_TEMPLATE)


# --- Kyber


def test_kyber_key_attributes(kyber_pair, kyber_strength):
    for attributes in (kyber_pair.public_attributes, kyber_pair.private_attributes):
        assert attributes[CKA.KEY_TYPE] == CKK.IBM_PQC_KYBER
        assert attributes[CKA.IBM_PQC_PARAMS] == kyber_strength.der_oid


def test_kyber_standard_encapsulate_decapsulate(ep11, kyber_pair, kyber_strength):
    encapsulated = ep11.derive_key(kem(ENCAPSULATE), kyber_pair.public_blob, b"", AES_TEMPLATE)
    ciphertext = encapsulated.checksum[7:]
    assert len(ciphertext) == kyber_strength.output_bytes
    iv = ep11.generate_random(16)
    message = b"Kyber transported key"
    encrypted = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), encapsulated.blob, message)
    decapsulated = ep11.derive_key(
        kem(DECAPSULATE, ciphertext), kyber_pair.private_blob, b"", AES_TEMPLATE
    )
    assert decapsulated.checksum[:7] == encapsulated.checksum[:7]
    plain = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), decapsulated.blob, encrypted)
    assert plain == message


def test_kyber_decapsulates_primitive_ciphertext(ep11, kyber_pair, kyber_strength, import_secret):
    public_key = raw_public_key(kyber_pair.public_blob, kyber_strength)
    ciphertext, shared_secret = _kyber.encapsulate(kyber_strength.variant, public_key, os.urandom(32))
    derived = ep11.derive_key(
        kem(DECAPSULATE, ciphertext), kyber_pair.private_blob, b"", AES_TEMPLATE
    )
    expected = import_secret(ep11, CKK.AES, shared_secret)
    assert derived.checksum[:3] == expected.checksum[:3]


def test_kyber_implicit_rejection(ep11, kyber_pair):
    encapsulated = ep11.derive_key(kem(ENCAPSULATE), kyber_pair.public_blob, b"", AES_TEMPLATE)
    tampered = bytearray(encapsulated.checksum[7:])
    tampered[0] ^= 0x01
    decapsulated = ep11.derive_key(
        kem(DECAPSULATE, bytes(tampered)), kyber_pair.private_blob, b"", AES_TEMPLATE
    )
    assert decapsulated.checksum[:3] != encapsulated.checksum[:3]


def ecdh_hybrid_secret(
    ep11, curve_oid: bytes, mechanism: int, point_length: int, secret_length: int
) -> bytes:
    """Return the blob of a generic secret from ECDH with CKD_IBM_HYBRID_NULL, as the Go test does.

    The peer point is the key's own point.
    """
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.CLASS: CKO.PUBLIC_KEY, CKA.EC_PARAMS: curve_oid, CKA.DERIVE: True},
        {CKA.CLASS: CKO.PRIVATE_KEY, CKA.DERIVE: True},
    )
    # The SPKI ends with the public point: 04 || X || Y on the Weierstrass curves, the raw key on
    # X25519 and X448.
    point = der_element(pair.public_blob)[-point_length:]
    parameter = ECDH1DeriveParams(CKD.IBM_HYBRID_NULL, b"", point)
    template = {
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.KEY_TYPE: CKK.GENERIC_SECRET,
        CKA.VALUE_LEN: secret_length,
        CKA.IBM_USE_AS_DATA: True,
    }
    return ep11.derive_key(Mechanism(mechanism, parameter), pair.private_blob, b"", template).blob


# The seven curves of the Go client's hybrid test: curve OID, derivation mechanism, point bytes
# and the CKA_VALUE_LEN of the secret (the field size in bytes).
HYBRID_CURVES = {
    "P-224": (encode_oid("1.3.132.0.33"), CKM.ECDH1_DERIVE, 57, 28),
    "P-256": (encode_oid("1.2.840.10045.3.1.7"), CKM.ECDH1_DERIVE, 65, 32),
    "P-384": (encode_oid("1.3.132.0.34"), CKM.ECDH1_DERIVE, 97, 48),
    "P-521": (encode_oid("1.3.132.0.35"), CKM.ECDH1_DERIVE, 133, 66),
    "secp256k1": (encode_oid("1.3.132.0.10"), CKM.ECDH1_DERIVE, 65, 32),
    "X25519": (encode_oid("1.3.101.110"), CKM.IBM_EC_X25519, 32, 32),
    "X448": (encode_oid("1.3.101.111"), CKM.IBM_EC_X448, 56, 56),
}


@pytest.mark.parametrize("curve", sorted(HYBRID_CURVES))
@pytest.mark.parametrize("kdf", HYBRID_KDFS, ids=lambda kdf: CKD(kdf).name)
def test_kyber_hybrid(ep11, kyber_pair, curve, kdf):
    classical = ecdh_hybrid_secret(ep11, *HYBRID_CURVES[curve])
    encapsulated = ep11.derive_key(
        kem(ENCAPSULATE, kdf=kdf, blob=classical), kyber_pair.public_blob, b"", AES_TEMPLATE
    )
    iv = ep11.generate_random(16)
    message = b"hybrid Kyber"
    encrypted = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), encapsulated.blob, message)
    decapsulated = ep11.derive_key(
        kem(DECAPSULATE, encapsulated.checksum[7:], kdf=kdf, blob=classical),
        kyber_pair.private_blob,
        b"",
        AES_TEMPLATE,
    )
    plain = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), decapsulated.blob, encrypted)
    assert plain == message


@pytest.mark.parametrize(
    "mechanism, code",
    [
        (KYBER, CKR.MECHANISM_PARAM_INVALID),
        (kem(3), CKR.MECHANISM_PARAM_INVALID),
        (kem(ENCAPSULATE, version=1), CKR.MECHANISM_PARAM_INVALID),
        (kem(DECAPSULATE), CKR.MECHANISM_PARAM_INVALID),
        (kem(ENCAPSULATE, kdf=CKD.SHA256_KDF), CKR.MECHANISM_PARAM_INVALID),
    ],
    ids=["no parameter", "mode 3", "version 1", "no ciphertext", "classical KDF"],
)
def test_kyber_derive_parameter_rejected(ep11, kyber_pair, mechanism, code):
    with raises_ckr(code):
        ep11.derive_key(mechanism, kyber_pair.public_blob, b"", AES_TEMPLATE)


def test_kyber_wrong_ciphertext_length(ep11, kyber_pair, kyber_strength):
    ciphertext = bytes(kyber_strength.output_bytes - 1)
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.derive_key(kem(DECAPSULATE, ciphertext), kyber_pair.private_blob, b"", AES_TEMPLATE)


def test_kyber_wrong_key_class(ep11, kyber_pair):
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(kem(ENCAPSULATE), kyber_pair.private_blob, b"", AES_TEMPLATE)


@pytest.mark.parametrize(
    "public, code",
    [
        ({}, CKR.TEMPLATE_INCOMPLETE),
        ({CKA.IBM_PQC_PARAMS: ROUND2_HIGH}, CKR.IBM_PQC_PARAMS_NOT_SUPPORTED),
        ({CKA.IBM_PQC_PARAMS: KYBER_1024, CKA.SIGN: True}, CKR.TEMPLATE_INCONSISTENT),
    ],
    ids=["no strength", "Dilithium OID", "sign usage"],
)
def test_kyber_key_pair_rejected(ep11, public, code):
    with raises_ckr(code):
        ep11.generate_key_pair(KYBER, public, {})


# --- the mechanism list and the policy


def test_mechanism_list_offers_both(ep11):
    mechanisms = ep11.get_mechanism_list()
    assert CKM.IBM_DILITHIUM in mechanisms
    assert CKM.IBM_KYBER in mechanisms
    assert mechanisms[0] == CKM.RSA_PKCS
    info = ep11.get_mechanism_info(CKM.IBM_DILITHIUM)
    sizes = [entry.public_key_bytes for entry in DILITHIUM_STRENGTHS.values()]
    assert (info.min_key_size, info.max_key_size) == (min(sizes), max(sizes))


@pytest.mark.parametrize(
    "control_point, mechanism",
    [("ALG_DILITHIUM", CKM.IBM_DILITHIUM), ("ALG_KYBER", CKM.IBM_KYBER), ("ALG_PQC", CKM.IBM_KYBER)],
)
def test_control_point_disables(tmp_path, control_point, mechanism):
    policy = parse_policy({"control_points": {control_point: False}})
    strict = Engine(masterkey.load_or_create(str(tmp_path)), policy=policy)
    assert mechanism not in strict.get_mechanism_list()
    with raises_ckr(CKR.MECHANISM_INVALID):
        strict.generate_key_pair(
            Mechanism(mechanism), {CKA.IBM_PQC_PARAMS: KYBER_1024}, {}
        )


def test_kyber_import_mismatched_pair_rejected(ep11, import_private, kyber_strength):
    _, private_key = _kyber.keypair(kyber_strength.variant, bytes(64))
    other_public, _ = _kyber.keypair(kyber_strength.variant, bytes(range(64)))
    pkcs8 = LatticeKey(kyber_strength, other_public, private_key).pkcs8()
    with pytest.raises(PKCS11Error) as caught:
        import_private(ep11, pkcs8, CKK.IBM_PQC_KYBER, {CKA.DERIVE: True})
    assert caught.value.code == CKR.WRAPPED_KEY_INVALID
    assert "does not belong to the private key" in caught.value.detail


def test_dilithium_import_mismatched_pair_rejected(ep11, import_private):
    strength = DILITHIUM_STRENGTHS["Dilithium round 3 4-4"]
    _, private_key = _dilithium.keypair(strength.variant, bytes(32))
    other_public, _ = _dilithium.keypair(strength.variant, bytes(range(32)))
    pkcs8 = LatticeKey(strength, other_public, private_key).pkcs8()
    with pytest.raises(PKCS11Error) as caught:
        import_private(ep11, pkcs8, CKK.IBM_PQC_DILITHIUM, {CKA.SIGN: True})
    assert caught.value.code == CKR.WRAPPED_KEY_INVALID
    assert "does not belong to the private key" in caught.value.detail
