"""ML-DSA (FIPS 204) and ML-KEM (FIPS 203) on every backend, cross-checked with ``cryptography``.

``cryptography`` verifies every signature that the HSM makes, and the HSM verifies signatures
made by ``cryptography``. Every KEM runs once with the HSM on both sides and once with
``cryptography`` on the other side.
"""

import hashlib
import os

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ep11core import _kyber
from ep11core.constants import CKA, CKD, CKK, CKM, CKO, CKR
from ep11core.keys import secret_checksum
from ep11core.mlkem512 import MLKEM512PrivateKey
from ep11core.types import ECDH1DeriveParams, KyberKEMParams, Mechanism
from conftest import aes_cbc_pad_encrypt, der_element, raises_ckr

ML_DSA_SETS = {
    "ML-DSA-44": (1, mldsa.MLDSA44PrivateKey, 2420, mldsa.MLDSA44PublicKey),
    "ML-DSA-65": (2, mldsa.MLDSA65PrivateKey, 3309, mldsa.MLDSA65PublicKey),
    "ML-DSA-87": (3, mldsa.MLDSA87PrivateKey, 4627, mldsa.MLDSA87PublicKey),
}
ML_KEM_SETS = {
    "ML-KEM-768": (2, mlkem.MLKEM768PrivateKey, 1088),
    "ML-KEM-1024": (3, mlkem.MLKEM1024PrivateKey, 1568),
}
ENCAPSULATE, DECAPSULATE = 1, 2
AES_TEMPLATE = {
    CKA.CLASS: CKO.SECRET_KEY,
    CKA.KEY_TYPE: CKK.AES,
    CKA.VALUE_LEN: 32,
    CKA.ENCRYPT: True,
    CKA.DECRYPT: True,
}
ML_DSA = Mechanism(CKM.IBM_ML_DSA)


def spki_of(blob: bytes) -> bytes:
    return der_element(blob)


def spki_bytes(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def kem(mode, ciphertext=b"", kdf=CKD.NULL, version=0, blob=b"") -> Mechanism:
    parameter = KyberKEMParams(version, mode, kdf, ciphertext=ciphertext, blob=blob)
    return Mechanism(CKM.IBM_ML_KEM, parameter)


def aes_cbc_pad_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    return padded[: -padded[-1]]


@pytest.fixture(scope="module", params=sorted(ML_DSA_SETS))
def ml_dsa_set(request):
    return request.param


@pytest.fixture(scope="module")
def ml_dsa_pair(ep11, ml_dsa_set):
    number = ML_DSA_SETS[ml_dsa_set][0]
    return ep11.generate_key_pair(
        Mechanism(CKM.IBM_ML_DSA_KEY_PAIR_GEN),
        {CKA.IBM_PARAMETER_SET: number, CKA.VERIFY: True},
        {CKA.SIGN: True, CKA.PRIVATE: True, CKA.SENSITIVE: True},
    )


@pytest.fixture(scope="module", params=sorted(ML_KEM_SETS))
def ml_kem_set(request):
    return request.param


@pytest.fixture(scope="module")
def ml_kem_pair(ep11, ml_kem_set):
    number = ML_KEM_SETS[ml_kem_set][0]
    return ep11.generate_key_pair(
        Mechanism(CKM.IBM_ML_KEM_KEY_PAIR_GEN),
        {CKA.IBM_PARAMETER_SET: number, CKA.DERIVE: True},
        {CKA.DERIVE: True},
    )


# --- ML-DSA


def test_ml_dsa_key_attributes(ml_dsa_pair, ml_dsa_set):
    number = ML_DSA_SETS[ml_dsa_set][0]
    for attributes in (ml_dsa_pair.public_attributes, ml_dsa_pair.private_attributes):
        assert attributes[CKA.KEY_TYPE] == CKK.IBM_ML_DSA
        assert attributes[CKA.IBM_PARAMETER_SET] == number
    public_key = serialization.load_der_public_key(spki_of(ml_dsa_pair.public_blob))
    assert isinstance(public_key, ML_DSA_SETS[ml_dsa_set][3])


def test_ml_dsa_sign_verify_single(ep11, ml_dsa_pair, ml_dsa_set):
    message = os.urandom(3000)
    signature = ep11.sign_single(ML_DSA, ml_dsa_pair.private_blob, message)
    assert len(signature) == ML_DSA_SETS[ml_dsa_set][2]
    ep11.verify_single(ML_DSA, ml_dsa_pair.public_blob, message, signature)
    public_key = serialization.load_der_public_key(spki_of(ml_dsa_pair.public_blob))
    public_key.verify(signature, message)
    with pytest.raises(InvalidSignature):
        public_key.verify(signature, message + b"x")


def test_ml_dsa_init_then_single_part(ep11, ml_dsa_pair):
    message = b"Init followed by one Sign call"
    signature = ep11.sign(ep11.sign_init(ML_DSA, ml_dsa_pair.private_blob), message)
    state = ep11.verify_init(ML_DSA, ml_dsa_pair.public_blob)
    ep11.verify(state, message, signature)
    state = ep11.sign_init(ML_DSA, ml_dsa_pair.private_blob)
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.sign_update(state, message)


def test_ml_dsa_foreign_signature_verifies(ep11, ml_dsa_set):
    private_key = ML_DSA_SETS[ml_dsa_set][1].generate()
    message = b"signed by cryptography"
    signature = private_key.sign(message)
    spki = spki_bytes(private_key.public_key())
    ep11.verify_single(ML_DSA, spki, message, signature)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(ML_DSA, spki, message + b"!", signature)


def pkcs8_bytes(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_ml_dsa_imported_private_key_signs(ep11, import_private, ml_dsa_set):
    private_key = ML_DSA_SETS[ml_dsa_set][1].generate()
    imported = import_private(ep11, pkcs8_bytes(private_key), CKK.IBM_ML_DSA, {CKA.SIGN: True})
    assert imported.attributes[CKA.IBM_PARAMETER_SET] == ML_DSA_SETS[ml_dsa_set][0]
    signature = ep11.sign_single(ML_DSA, imported.blob, b"imported key")
    private_key.public_key().verify(signature, b"imported key")


def test_ml_dsa_import_wrong_key_type(ep11, import_private):
    private_key = mldsa.MLDSA44PrivateKey.generate()
    with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
        import_private(ep11, pkcs8_bytes(private_key), CKK.IBM_ML_KEM)


def test_ml_dsa_bad_signatures_rejected(ep11, ml_dsa_pair):
    message = b"tamper"
    signature = bytearray(ep11.sign_single(ML_DSA, ml_dsa_pair.private_blob, message))
    signature[10] ^= 0x01
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(ML_DSA, ml_dsa_pair.public_blob, message, bytes(signature))
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.verify_single(ML_DSA, ml_dsa_pair.public_blob, message, bytes(signature[:-1]))


def test_ml_dsa_parameter_rejected(ep11, ml_dsa_pair):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.sign_single(Mechanism(CKM.IBM_ML_DSA, b"context"), ml_dsa_pair.private_blob, b"m")


# --- ML-KEM


def test_ml_kem_key_attributes(ml_kem_pair, ml_kem_set):
    number = ML_KEM_SETS[ml_kem_set][0]
    for attributes in (ml_kem_pair.public_attributes, ml_kem_pair.private_attributes):
        assert attributes[CKA.KEY_TYPE] == CKK.IBM_ML_KEM
        assert attributes[CKA.IBM_PARAMETER_SET] == number


def test_ml_kem_encapsulate_decapsulate(ep11, ml_kem_pair, ml_kem_set):
    encapsulated = ep11.derive_key(kem(ENCAPSULATE), ml_kem_pair.public_blob, b"", AES_TEMPLATE)
    ciphertext = encapsulated.checksum[7:]
    assert len(ciphertext) == ML_KEM_SETS[ml_kem_set][2]
    iv = ep11.generate_random(16)
    message = b"post-quantum transported key"
    encrypted = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), encapsulated.blob, message)
    decapsulated = ep11.derive_key(
        kem(DECAPSULATE, ciphertext), ml_kem_pair.private_blob, b"", AES_TEMPLATE
    )
    assert decapsulated.checksum[:7] == encapsulated.checksum[:7]
    plain = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), decapsulated.blob, encrypted)
    assert plain == message


def test_ml_kem_decapsulates_foreign_ciphertext(ep11, ml_kem_pair):
    public_key = serialization.load_der_public_key(spki_of(ml_kem_pair.public_blob))
    shared_secret, ciphertext = public_key.encapsulate()
    key = ep11.derive_key(kem(DECAPSULATE, ciphertext), ml_kem_pair.private_blob, b"", AES_TEMPLATE)
    iv = os.urandom(16)
    encrypted = aes_cbc_pad_encrypt(shared_secret, iv, b"from cryptography")
    plain = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), key.blob, encrypted)
    assert plain == b"from cryptography"


def test_ml_kem_encapsulates_to_foreign_key(ep11, import_public, ml_kem_set):
    private_key = ML_KEM_SETS[ml_kem_set][1].generate()
    imported = import_public(ep11, spki_bytes(private_key.public_key()), {CKA.DERIVE: True})
    assert imported.attributes[CKA.KEY_TYPE] == CKK.IBM_ML_KEM
    key = ep11.derive_key(kem(ENCAPSULATE), imported.blob, b"", AES_TEMPLATE)
    shared_secret = private_key.decapsulate(key.checksum[7:])
    iv = os.urandom(16)
    encrypted = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), key.blob, b"to cryptography")
    assert aes_cbc_pad_decrypt(shared_secret, iv, encrypted) == b"to cryptography"


def test_ml_kem_imported_private_key_decapsulates(ep11, import_private, ml_kem_set):
    private_key = ML_KEM_SETS[ml_kem_set][1].generate()
    imported = import_private(ep11, pkcs8_bytes(private_key), CKK.IBM_ML_KEM, {CKA.DERIVE: True})
    assert imported.attributes[CKA.IBM_PARAMETER_SET] == ML_KEM_SETS[ml_kem_set][0]
    shared_secret, ciphertext = private_key.public_key().encapsulate()
    key = ep11.derive_key(kem(DECAPSULATE, ciphertext), imported.blob, b"", AES_TEMPLATE)
    iv = os.urandom(16)
    encrypted = aes_cbc_pad_encrypt(shared_secret, iv, b"imported KEM key")
    plain = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), key.blob, encrypted)
    assert plain == b"imported KEM key"


def test_ml_kem_short_generic_secret(ep11, ml_kem_pair):
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.VALUE_LEN: 16}
    key = ep11.derive_key(kem(ENCAPSULATE), ml_kem_pair.public_blob, b"", template)
    assert key.attributes[CKA.VALUE_LEN] == 16


@pytest.mark.parametrize(
    "mechanism",
    [
        Mechanism(CKM.IBM_ML_KEM),
        kem(3),
        kem(ENCAPSULATE, version=1),
        kem(ENCAPSULATE, kdf=CKD.IBM_HYBRID_SHA256_KDF),
        kem(DECAPSULATE),
    ],
    ids=["no parameter", "mode 3", "version 1", "hybrid KDF without blob", "no ciphertext"],
)
def test_ml_kem_invalid_parameter_rejected(ep11, ml_kem_pair, mechanism):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.derive_key(mechanism, ml_kem_pair.public_blob, b"", AES_TEMPLATE)


def test_ml_kem_wrong_ciphertext_length_rejected(ep11, ml_kem_pair):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.derive_key(kem(DECAPSULATE, bytes(100)), ml_kem_pair.private_blob, b"", AES_TEMPLATE)


def test_ml_kem_wrong_key_class_rejected(ep11, ml_kem_pair):
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(kem(ENCAPSULATE), ml_kem_pair.private_blob, b"", AES_TEMPLATE)


def test_ml_kem_oversized_key_rejected(ep11, ml_kem_pair):
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.VALUE_LEN: 33}
    with raises_ckr(CKR.KEY_SIZE_RANGE):
        ep11.derive_key(kem(ENCAPSULATE), ml_kem_pair.public_blob, b"", template)


# --- ML-KEM-512, which runs on the emulator's own FIPS 203 code


@pytest.fixture(scope="module")
def ml_kem_512_pair(ep11):
    return ep11.generate_key_pair(
        Mechanism(CKM.IBM_ML_KEM_KEY_PAIR_GEN),
        {CKA.IBM_PARAMETER_SET: 1, CKA.DERIVE: True},
        {CKA.DERIVE: True},
    )


def test_ml_kem_512_round_trip(ep11, ml_kem_512_pair):
    assert ml_kem_512_pair.public_attributes[CKA.IBM_PARAMETER_SET] == 1
    spki = spki_of(ml_kem_512_pair.public_blob)
    # SEQUENCE (818 bytes) { SEQUENCE { OID 2.16.840.1.101.3.4.4.1 }, BIT STRING (801 bytes) }
    assert spki.startswith(bytes.fromhex("30820332300b06096086480165030404010382032100"))
    encapsulated = ep11.derive_key(kem(ENCAPSULATE), ml_kem_512_pair.public_blob, b"", AES_TEMPLATE)
    ciphertext = encapsulated.checksum[7:]
    assert len(ciphertext) == 768
    decapsulated = ep11.derive_key(
        kem(DECAPSULATE, ciphertext), ml_kem_512_pair.private_blob, b"", AES_TEMPLATE
    )
    assert decapsulated.checksum[:7] == encapsulated.checksum[:7]


def test_ml_kem_512_decapsulates_primitive_ciphertext(ep11, import_secret, ml_kem_512_pair):
    public_key = spki_of(ml_kem_512_pair.public_blob)[-800:]
    ciphertext, shared_secret = _kyber.encapsulate("ml-kem-512", public_key, os.urandom(32))
    derived = ep11.derive_key(
        kem(DECAPSULATE, ciphertext), ml_kem_512_pair.private_blob, b"", AES_TEMPLATE
    )
    expected = import_secret(ep11, CKK.AES, shared_secret)
    assert derived.checksum[:3] == expected.checksum[:3]


def test_ml_kem_512_imported_seed_key(ep11, import_private):
    seed = bytes(range(64))
    private_key = MLKEM512PrivateKey(seed)
    imported = import_private(ep11, pkcs8_bytes(private_key), CKK.IBM_ML_KEM, {CKA.DERIVE: True})
    assert imported.attributes[CKA.IBM_PARAMETER_SET] == 1
    public_key, _ = _kyber.keypair("ml-kem-512", seed)
    ciphertext, shared_secret = _kyber.encapsulate("ml-kem-512", public_key, bytes(32))
    derived = ep11.derive_key(kem(DECAPSULATE, ciphertext), imported.blob, b"", AES_TEMPLATE)
    assert derived.checksum[:7] == secret_checksum(CKK.AES, shared_secret)


# --- key generation and the mechanism list


@pytest.mark.parametrize(
    "mechanism, number, code",
    [
        (CKM.IBM_ML_KEM_KEY_PAIR_GEN, 4, CKR.ATTRIBUTE_VALUE_INVALID),
        (CKM.IBM_ML_DSA_KEY_PAIR_GEN, 4, CKR.ATTRIBUTE_VALUE_INVALID),
        (CKM.IBM_ML_DSA_KEY_PAIR_GEN, None, CKR.TEMPLATE_INCOMPLETE),
    ],
    ids=["ML-KEM set 4", "ML-DSA set 4", "no parameter set"],
)
def test_key_pair_parameter_set_rejected(ep11, mechanism, number, code):
    public = {} if number is None else {CKA.IBM_PARAMETER_SET: number}
    with raises_ckr(code):
        ep11.generate_key_pair(Mechanism(mechanism), public, {})


@pytest.mark.parametrize("mechanism", [CKM.IBM_ML_KEM_KEY_PAIR_GEN, CKM.IBM_ML_DSA_KEY_PAIR_GEN])
def test_key_pair_parameter_sets_conflict(ep11, mechanism):
    with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
        ep11.generate_key_pair(
            Mechanism(mechanism), {CKA.IBM_PARAMETER_SET: 2}, {CKA.IBM_PARAMETER_SET: 3}
        )
    pair = ep11.generate_key_pair(
        Mechanism(mechanism), {CKA.IBM_PARAMETER_SET: 2}, {CKA.IBM_PARAMETER_SET: 2}
    )
    assert pair.private_attributes[CKA.IBM_PARAMETER_SET] == 2
    pair = ep11.generate_key_pair(Mechanism(mechanism), {}, {CKA.IBM_PARAMETER_SET: 3})
    assert pair.public_attributes[CKA.IBM_PARAMETER_SET] == 3


def test_ml_dsa_key_rejected_by_kem(ep11, ml_dsa_pair):
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(kem(ENCAPSULATE), ml_dsa_pair.public_blob, b"", AES_TEMPLATE)


def test_mechanism_list(ep11):
    mechanisms = ep11.get_mechanism_list()
    for mechanism in (
        CKM.IBM_ML_DSA_KEY_PAIR_GEN,
        CKM.IBM_ML_DSA,
        CKM.IBM_ML_KEM_KEY_PAIR_GEN,
        CKM.IBM_ML_KEM,
    ):
        assert mechanism in mechanisms
    info = ep11.get_mechanism_info(CKM.IBM_ML_DSA)
    assert (info.min_key_size, info.max_key_size) == (1312, 2592)


# --- hybrid KDFs: Z = generic secret value || KEM shared secret

HYBRID_HASHES = {
    CKD.IBM_HYBRID_NULL: None,
    CKD.IBM_HYBRID_SHA1_KDF: "sha1",
    CKD.IBM_HYBRID_SHA224_KDF: "sha224",
    CKD.IBM_HYBRID_SHA256_KDF: "sha256",
    CKD.IBM_HYBRID_SHA384_KDF: "sha384",
    CKD.IBM_HYBRID_SHA512_KDF: "sha512",
}


def expected_hybrid_key(kdf: int, classical: bytes, shared_secret: bytes, length: int) -> bytes:
    """Compute the emulator's hybrid key: Z itself, or the ANSI X9.63 KDF over Z."""
    combined = classical + shared_secret
    hash_name = HYBRID_HASHES[kdf]
    if hash_name is None:
        return combined[:length]
    output = b""
    counter = 1
    while len(output) < length:
        output += hashlib.new(hash_name, combined + counter.to_bytes(4, "big")).digest()
        counter += 1
    return output[:length]


def ecdh_hybrid_secret(ep11) -> bytes:
    """Return the blob of a generic secret from P-256 ECDH with CKD_IBM_HYBRID_NULL."""
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107"), CKA.DERIVE: True},
        {CKA.DERIVE: True},
    )
    spki = der_element(pair.public_blob)
    own_point = spki[-65:]
    assert own_point[0] == 4
    parameter = ECDH1DeriveParams(CKD.IBM_HYBRID_NULL, b"", own_point)
    template = {
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.KEY_TYPE: CKK.GENERIC_SECRET,
        CKA.VALUE_LEN: 32,
        CKA.IBM_USE_AS_DATA: True,
    }
    derived = ep11.derive_key(
        Mechanism(CKM.ECDH1_DERIVE, parameter), pair.private_blob, b"", template
    )
    return derived.blob


@pytest.mark.parametrize("kdf", sorted(HYBRID_HASHES), ids=lambda kdf: CKD(kdf).name)
def test_ml_kem_hybrid_round_trip(ep11, ml_kem_pair, kdf):
    classical = ecdh_hybrid_secret(ep11)
    encapsulated = ep11.derive_key(
        kem(ENCAPSULATE, kdf=kdf, blob=classical), ml_kem_pair.public_blob, b"", AES_TEMPLATE
    )
    ciphertext = encapsulated.checksum[7:]
    decapsulated = ep11.derive_key(
        kem(DECAPSULATE, ciphertext, kdf=kdf, blob=classical),
        ml_kem_pair.private_blob,
        b"",
        AES_TEMPLATE,
    )
    assert decapsulated.checksum[:7] == encapsulated.checksum[:7]
    iv = ep11.generate_random(16)
    message = b"hybrid transported key"
    encrypted = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), encapsulated.blob, message)
    plain = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), decapsulated.blob, encrypted)
    assert plain == message
    without_blob = ep11.derive_key(
        kem(DECAPSULATE, ciphertext), ml_kem_pair.private_blob, b"", AES_TEMPLATE
    )
    assert without_blob.checksum[:7] != encapsulated.checksum[:7]


@pytest.mark.parametrize("kdf", sorted(HYBRID_HASHES), ids=lambda kdf: CKD(kdf).name)
def test_ml_kem_hybrid_known_key(ep11, import_secret, ml_kem_pair, kdf):
    classical = os.urandom(32)
    secret = import_secret(ep11, CKK.GENERIC_SECRET, classical, {CKA.IBM_USE_AS_DATA: True})
    public_key = serialization.load_der_public_key(spki_of(ml_kem_pair.public_blob))
    shared_secret, ciphertext = public_key.encapsulate()
    key = ep11.derive_key(
        kem(DECAPSULATE, ciphertext, kdf=kdf, blob=secret.blob),
        ml_kem_pair.private_blob,
        b"",
        AES_TEMPLATE,
    )
    expected = expected_hybrid_key(kdf, classical, shared_secret, 32)
    iv = os.urandom(16)
    encrypted = aes_cbc_pad_encrypt(expected, iv, b"known hybrid key")
    plain = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), key.blob, encrypted)
    assert plain == b"known hybrid key"


def test_ml_kem_hybrid_wrong_blob_differs(ep11, ml_kem_pair):
    kdf = CKD.IBM_HYBRID_SHA256_KDF
    encapsulated = ep11.derive_key(
        kem(ENCAPSULATE, kdf=kdf, blob=ecdh_hybrid_secret(ep11)),
        ml_kem_pair.public_blob,
        b"",
        AES_TEMPLATE,
    )
    other = kem(DECAPSULATE, encapsulated.checksum[7:], kdf=kdf, blob=ecdh_hybrid_secret(ep11))
    decapsulated = ep11.derive_key(other, ml_kem_pair.private_blob, b"", AES_TEMPLATE)
    assert decapsulated.checksum[:7] != encapsulated.checksum[:7]


def test_ml_kem_hybrid_blob_rejected(ep11, import_secret, ml_kem_pair):
    kdf = CKD.IBM_HYBRID_SHA256_KDF
    aes_key = import_secret(ep11, CKK.AES, os.urandom(32))
    mechanism = kem(ENCAPSULATE, kdf=kdf, blob=aes_key.blob)
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(mechanism, ml_kem_pair.public_blob, b"", AES_TEMPLATE)
    mechanism = kem(ENCAPSULATE, kdf=kdf, blob=b"not a key blob")
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        ep11.derive_key(mechanism, ml_kem_pair.public_blob, b"", AES_TEMPLATE)


def test_ml_kem_hybrid_blob_needs_use_as_data(ep11, import_secret, ml_kem_pair):
    kdf = CKD.IBM_HYBRID_SHA256_KDF
    secret = import_secret(ep11, CKK.GENERIC_SECRET, os.urandom(32))
    assert ep11.get_attribute_value(secret.blob, [CKA.IBM_USE_AS_DATA]) == {
        CKA.IBM_USE_AS_DATA: False
    }
    mechanism = kem(ENCAPSULATE, kdf=kdf, blob=secret.blob)
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.derive_key(mechanism, ml_kem_pair.public_blob, b"", AES_TEMPLATE)


def test_ml_kem_hybrid_null_keeps_secret_unextractable(ep11, import_secret, ml_kem_pair):
    secret = import_secret(ep11, CKK.GENERIC_SECRET, os.urandom(32), {CKA.IBM_USE_AS_DATA: True})
    flags = ep11.get_attribute_value(secret.blob, [CKA.EXTRACTABLE, CKA.SENSITIVE])
    assert flags == {CKA.EXTRACTABLE: False, CKA.SENSITIVE: True}
    # With CKA_VALUE_LEN 32 the new key is exactly the 32-byte secret.
    template = {
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.KEY_TYPE: CKK.GENERIC_SECRET,
        CKA.VALUE_LEN: 32,
        CKA.EXTRACTABLE: True,
        CKA.SENSITIVE: False,
    }
    mechanism = kem(ENCAPSULATE, kdf=CKD.IBM_HYBRID_NULL, blob=secret.blob)
    derived = ep11.derive_key(mechanism, ml_kem_pair.public_blob, b"", template)
    attributes = ep11.get_attribute_value(derived.blob, [CKA.EXTRACTABLE, CKA.SENSITIVE])
    assert attributes[CKA.EXTRACTABLE] is False
    assert attributes[CKA.SENSITIVE] is True
    # A KDF output does not reveal the secret, so the template decides there.
    mechanism = kem(ENCAPSULATE, kdf=CKD.IBM_HYBRID_SHA256_KDF, blob=secret.blob)
    derived = ep11.derive_key(mechanism, ml_kem_pair.public_blob, b"", template)
    attributes = ep11.get_attribute_value(derived.blob, [CKA.EXTRACTABLE])
    assert attributes[CKA.EXTRACTABLE] is True
