"""Failure paths of the EP11 verbs, on every ``ep11`` backend.

Each test provokes one failure (a bad signature, a damaged or foreign blob, a misused state, an
invalid template or argument) and checks the CKR code. The wire form of errors (status UNKNOWN,
the CKR name, one ``Grep11Error`` detail) is covered in ``test_server_wire.py``, and the
conversion back to ``PKCS11Error`` in ``test_client.py``.
"""

import random

import pytest
from conftest import der_element, raises_ckr
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ep11core.constants import CKA, CKG, CKK, CKM, CKO, CKR, CKZ
from ep11core.types import Mechanism, OAEPParams, PSSParams

TEXT = b"error path test data"
UNKNOWN_MECHANISM = 0x8FFF0001
WKID_OFFSETS = range(32, 48)
# Offsets in the blob frame: session id, attribute bits, mode, magic, IV and the first
# ciphertext byte. frame_offsets adds the middle and the MAC of each blob.
HEADER_OFFSETS = (0, 31, 48, 55, 56, 64, 65, 66, 79, 80)
OAEP_SHA1 = Mechanism(
    CKM.RSA_PKCS_OAEP, OAEPParams(CKM.SHA_1, CKG.MGF1_SHA1, CKZ.NO_DATA_SPECIFIED)
)
UNKNOWN_CURVE_PARAMS = bytes.fromhex("06052b8104000f")  # sect163r2 (1.3.132.0.15), a binary curve


def flipped(blob: bytes, offset: int) -> bytes:
    return blob[:offset] + bytes((blob[offset] ^ 0x01,)) + blob[offset + 1 :]


def frame_offsets(blob: bytes):
    """Offsets to damage in a key or state blob, with the WKID range sampled at both ends."""
    return sorted({*HEADER_OFFSETS, 32, 40, 47, len(blob) // 2, len(blob) - 33, len(blob) - 1})


def expected_code(offset: int, invalid: int) -> int:
    return CKR.IBM_WKID_MISMATCH if offset in WKID_OFFSETS else invalid


@pytest.fixture(scope="module")
def aes(ep11):
    """A non-extractable AES-256 key with every usage flag."""
    return ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32})


@pytest.fixture(scope="module")
def rsa_pair(ep11):
    return ep11.generate_key_pair(
        Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN),
        {CKA.MODULUS_BITS: 2048, CKA.PUBLIC_EXPONENT: 65537},
        {},
    )


@pytest.fixture(scope="module")
def ec_pair(ep11):
    return ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107")}, {}
    )


@pytest.fixture(scope="module")
def encrypt_state(ep11, aes):
    return ep11.encrypt_init(Mechanism(CKM.AES_CBC_PAD, bytes(16)), aes.blob)


def cbc_pad(iv=bytes(16)):
    return Mechanism(CKM.AES_CBC_PAD, iv)


# --- signatures


def signing_keys(ep11, aes, rsa_pair, ec_pair, scheme):
    """Return (mechanism, signing key, verification key) of ``scheme``."""
    table = {
        "hmac": (Mechanism(CKM.SHA256_HMAC), aes.blob, aes.blob),
        "rsa_pkcs": (Mechanism(CKM.SHA256_RSA_PKCS), rsa_pair.private_blob, rsa_pair.public_blob),
        "rsa_pss": (
            Mechanism(CKM.SHA256_RSA_PKCS_PSS, PSSParams(CKM.SHA256, CKG.MGF1_SHA256, 32)),
            rsa_pair.private_blob,
            rsa_pair.public_blob,
        ),
        "ecdsa": (Mechanism(CKM.ECDSA_SHA256), ec_pair.private_blob, ec_pair.public_blob),
    }
    return table[scheme]


SIGNATURE_SCHEMES = ("hmac", "rsa_pkcs", "rsa_pss", "ecdsa")


@pytest.mark.parametrize("scheme", SIGNATURE_SCHEMES)
@pytest.mark.parametrize("position", [0, -1])
def test_tampered_signature(ep11, aes, rsa_pair, ec_pair, scheme, position):
    mechanism, private, public = signing_keys(ep11, aes, rsa_pair, ec_pair, scheme)
    signature = bytearray(ep11.sign_single(mechanism, private, TEXT))
    signature[position] ^= 0xFF
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(mechanism, public, TEXT, bytes(signature))


@pytest.mark.parametrize("scheme", SIGNATURE_SCHEMES)
def test_signature_other_data(ep11, aes, rsa_pair, ec_pair, scheme):
    mechanism, private, public = signing_keys(ep11, aes, rsa_pair, ec_pair, scheme)
    signature = ep11.sign_single(mechanism, private, TEXT)
    state = ep11.verify_init(mechanism, public)
    state = ep11.verify_update(state, TEXT[:5])
    state = ep11.verify_update(state, TEXT[5:] + b".")
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_final(state, signature)


@pytest.mark.parametrize("scheme", SIGNATURE_SCHEMES)
@pytest.mark.parametrize("change", [-1, 1])
def test_signature_wrong_length(ep11, aes, rsa_pair, ec_pair, scheme, change):
    mechanism, private, public = signing_keys(ep11, aes, rsa_pair, ec_pair, scheme)
    signature = ep11.sign_single(mechanism, private, TEXT)
    resized = signature[:change] if change < 0 else signature + b"\x00"
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.verify_single(mechanism, public, TEXT, resized)


def test_ecdsa_r_above_order(ep11, ec_pair):
    # An r of all 0xFF bytes exceeds the P-256 order, but the length is still right.
    signature = ep11.sign_single(Mechanism(CKM.ECDSA), ec_pair.private_blob, TEXT)
    tampered = b"\xff" * 32 + signature[32:]
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(Mechanism(CKM.ECDSA), ec_pair.public_blob, TEXT, tampered)


# --- mechanisms


def test_unknown_mechanism_sign(ep11, ec_pair):
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.sign_single(Mechanism(UNKNOWN_MECHANISM), ec_pair.private_blob, TEXT)


def test_unknown_mechanism_digest(ep11):
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.digest_init(Mechanism(UNKNOWN_MECHANISM))


def test_unknown_mechanism_info(ep11):
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.get_mechanism_info(UNKNOWN_MECHANISM)


def test_unknown_mechanism_key_pair(ep11):
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.generate_key_pair(Mechanism(UNKNOWN_MECHANISM), {}, {})


def test_mechanism_wrong_function(ep11, aes):
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.encrypt_single(Mechanism(CKM.SHA256), aes.blob, TEXT)


def test_encrypt_update_rsa_pkcs(ep11, rsa_pair):
    state = ep11.encrypt_init(Mechanism(CKM.RSA_PKCS), rsa_pair.public_blob)
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.encrypt_update(state, TEXT)


def test_sign_update_raw_ecdsa(ep11, ec_pair):
    state = ep11.sign_init(Mechanism(CKM.ECDSA), ec_pair.private_blob)
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.sign_update(state, TEXT)


@pytest.mark.parametrize("parameter", [None, b"", bytes(8), bytes(17)], ids=repr)
def test_cbc_iv_invalid(ep11, aes, parameter):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, parameter), aes.blob, TEXT)


def test_pss_hash_mismatch(ep11, rsa_pair):
    mechanism = Mechanism(CKM.SHA256_RSA_PKCS_PSS, PSSParams(CKM.SHA512, CKG.MGF1_SHA512, 0))
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.sign_single(mechanism, rsa_pair.private_blob, TEXT)


def test_oaep_without_parameter(ep11, rsa_pair):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.encrypt_single(Mechanism(CKM.RSA_PKCS_OAEP), rsa_pair.public_blob, TEXT)


# --- key usage and extraction


def test_sign_without_cka_sign(ep11):
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107")},
        {CKA.SIGN: False},
    )
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.sign_single(Mechanism(CKM.ECDSA_SHA256), pair.private_blob, TEXT)
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.sign_init(Mechanism(CKM.ECDSA_SHA256), pair.private_blob)


def test_encrypt_without_cka_encrypt(ep11):
    key = ep11.generate_key(
        Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16, CKA.ENCRYPT: False}
    )
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.encrypt_single(cbc_pad(), key.blob, TEXT)
    ciphertext_block = bytes(16)
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.encrypt_single(Mechanism(CKM.AES_ECB), key.blob, ciphertext_block)


def test_verify_without_cka_verify(ep11, ec_pair):
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107"), CKA.VERIFY: False},
        {},
    )
    signature = ep11.sign_single(Mechanism(CKM.ECDSA_SHA256), pair.private_blob, TEXT)
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.verify_single(Mechanism(CKM.ECDSA_SHA256), pair.public_blob, TEXT, signature)


def test_wrap_unextractable_key(ep11, aes):
    kek = ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32, CKA.WRAP: True})
    assert aes.attributes[CKA.EXTRACTABLE] is False
    with raises_ckr(CKR.KEY_UNEXTRACTABLE):
        ep11.wrap_key(cbc_pad(), aes.blob, kek.blob)


def test_wrap_private_unextractable(ep11, rsa_pair, aes):
    with raises_ckr(CKR.KEY_UNEXTRACTABLE):
        ep11.wrap_key(cbc_pad(), rsa_pair.private_blob, aes.blob)


# --- damaged key blobs


def test_flipped_key_blob(ep11, aes):
    for offset in frame_offsets(aes.blob):
        with raises_ckr(expected_code(offset, CKR.KEY_HANDLE_INVALID)):
            ep11.encrypt_single(cbc_pad(), flipped(aes.blob, offset), TEXT)
    # The intact blob still works, so the failures came from the damage.
    assert ep11.encrypt_single(cbc_pad(), aes.blob, TEXT)


def test_flipped_private_key_blob(ep11, ec_pair):
    blob = ec_pair.private_blob
    for offset in frame_offsets(blob):
        with raises_ckr(expected_code(offset, CKR.KEY_HANDLE_INVALID)):
            ep11.sign_single(Mechanism(CKM.ECDSA_SHA256), flipped(blob, offset), TEXT)


def test_flipped_public_key_blob(ep11, ec_pair):
    blob = ec_pair.public_blob
    signature = ep11.sign_single(Mechanism(CKM.ECDSA_SHA256), ec_pair.private_blob, TEXT)
    spki_end = len(der_element(blob))
    # Trailer: the WKID's OCTET STRING starts right after the SPKI, the MAC ends the blob.
    trailer_wkid = range(spki_end + 2, spki_end + 18)
    for offset in (1, spki_end // 2, spki_end - 1, spki_end + 5, spki_end + 40, len(blob) - 1):
        code = CKR.IBM_WKID_MISMATCH if offset in trailer_wkid else CKR.KEY_HANDLE_INVALID
        with raises_ckr(code):
            ep11.verify_single(
                Mechanism(CKM.ECDSA_SHA256), flipped(blob, offset), TEXT, signature
            )


def test_truncated_key_blob(ep11, aes):
    for length in (len(aes.blob) - 1, len(aes.blob) - 16, 96, 47, 1):
        with raises_ckr(CKR.KEY_HANDLE_INVALID):
            ep11.encrypt_single(cbc_pad(), aes.blob[:length], TEXT)


def test_extended_key_blob(ep11, aes):
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        ep11.encrypt_single(cbc_pad(), aes.blob + bytes(16), TEXT)


def test_random_bytes_as_key_blob(ep11, aes):
    generator = random.Random(11)
    for length in (len(aes.blob), 64, 300):
        with raises_ckr(CKR.KEY_HANDLE_INVALID):
            ep11.encrypt_single(cbc_pad(), generator.randbytes(length), TEXT)


def test_empty_key_blob(ep11):
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        ep11.encrypt_single(cbc_pad(), b"", TEXT)


def test_state_as_key_blob(ep11, encrypt_state):
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        ep11.encrypt_single(cbc_pad(), encrypt_state, TEXT)


def test_flipped_wrapping_key(ep11, rsa_pair):
    key = ep11.generate_key(
        Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16, CKA.EXTRACTABLE: True}
    )
    damaged = flipped(rsa_pair.public_blob, len(rsa_pair.public_blob) - 1)
    with raises_ckr(CKR.WRAPPING_KEY_HANDLE_INVALID):
        ep11.wrap_key(Mechanism(CKM.RSA_PKCS), key.blob, damaged)


# --- damaged and misused state blobs


def test_flipped_state_blob(ep11, encrypt_state):
    for offset in frame_offsets(encrypt_state):
        with raises_ckr(expected_code(offset, CKR.SAVED_STATE_INVALID)):
            ep11.encrypt_update(flipped(encrypt_state, offset), TEXT)
    assert ep11.encrypt_update(encrypt_state, bytes(16)).output


def test_truncated_state_blob(ep11, encrypt_state):
    for length in (len(encrypt_state) - 1, len(encrypt_state) - 16, 96, 10):
        with raises_ckr(CKR.SAVED_STATE_INVALID):
            ep11.encrypt_update(encrypt_state[:length], TEXT)


def test_random_bytes_as_state(ep11, encrypt_state):
    generator = random.Random(12)
    for length in (len(encrypt_state), 128):
        with raises_ckr(CKR.SAVED_STATE_INVALID):
            ep11.encrypt_update(generator.randbytes(length), TEXT)


def test_key_blob_as_state(ep11, aes):
    with raises_ckr(CKR.SAVED_STATE_INVALID):
        ep11.encrypt_update(aes.blob, TEXT)


def test_empty_state(ep11):
    with raises_ckr(CKR.OPERATION_NOT_INITIALIZED):
        ep11.digest_final(b"")


def test_digest_state_in_encrypt(ep11):
    state = ep11.digest_init(Mechanism(CKM.SHA256))
    with raises_ckr(CKR.OPERATION_NOT_INITIALIZED):
        ep11.encrypt_update(state, TEXT)


def test_encrypt_state_in_decrypt(ep11, encrypt_state):
    with raises_ckr(CKR.OPERATION_NOT_INITIALIZED):
        ep11.decrypt_update(encrypt_state, bytes(16))
    with raises_ckr(CKR.OPERATION_NOT_INITIALIZED):
        ep11.decrypt_final(encrypt_state)


def test_sign_state_in_verify(ep11, ec_pair):
    state = ep11.sign_init(Mechanism(CKM.ECDSA_SHA256), ec_pair.private_blob)
    with raises_ckr(CKR.OPERATION_NOT_INITIALIZED):
        ep11.verify_final(state, bytes(64))
    with raises_ckr(CKR.OPERATION_NOT_INITIALIZED):
        ep11.verify(state, TEXT, bytes(64))


def test_encrypt_after_update(ep11, encrypt_state):
    updated = ep11.encrypt_update(encrypt_state, TEXT).state
    with raises_ckr(CKR.OPERATION_ACTIVE):
        ep11.encrypt(updated, TEXT)


def test_digest_after_update(ep11):
    state = ep11.digest_update(ep11.digest_init(Mechanism(CKM.SHA256)), TEXT)
    with raises_ckr(CKR.OPERATION_ACTIVE):
        ep11.digest(state, TEXT)


def test_sign_after_update(ep11, ec_pair):
    state = ep11.sign_init(Mechanism(CKM.ECDSA_SHA256), ec_pair.private_blob)
    state = ep11.sign_update(state, TEXT)
    with raises_ckr(CKR.OPERATION_ACTIVE):
        ep11.sign(state, TEXT)


def test_digest_key_without_use_as_data(ep11, aes):
    state = ep11.digest_init(Mechanism(CKM.SHA256))
    with raises_ckr(CKR.KEY_INDIGESTIBLE):
        ep11.digest_key(state, aes.blob)


def test_rewrap_without_new_master_key(ep11, aes):
    with raises_ckr(CKR.IBM_WK_NOT_INITIALIZED):
        ep11.rewrap_key_blob(aes.blob)
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        ep11.rewrap_key_blob(flipped(aes.blob, len(aes.blob) - 1))


# --- blobs of another master key


@pytest.fixture(scope="module")
def foreign_keys(foreign_engine):
    aes = foreign_engine.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32})
    pair = foreign_engine.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107")}, {}
    )
    state = foreign_engine.encrypt_init(cbc_pad(), aes.blob)
    return aes, pair, state


def test_foreign_secret_key(ep11, foreign_keys):
    aes, _, _ = foreign_keys
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        ep11.encrypt_single(cbc_pad(), aes.blob, TEXT)


def test_foreign_private_key(ep11, foreign_keys):
    _, pair, _ = foreign_keys
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        ep11.sign_single(Mechanism(CKM.ECDSA_SHA256), pair.private_blob, TEXT)


def test_foreign_public_key(ep11, foreign_engine, foreign_keys):
    _, pair, _ = foreign_keys
    signature = foreign_engine.sign_single(Mechanism(CKM.ECDSA_SHA256), pair.private_blob, TEXT)
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        ep11.verify_single(Mechanism(CKM.ECDSA_SHA256), pair.public_blob, TEXT, signature)


def test_foreign_state(ep11, foreign_keys):
    _, _, state = foreign_keys
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        ep11.encrypt_update(state, TEXT)


# --- key generation templates


def test_aes_value_len_20(ep11):
    with raises_ckr(CKR.KEY_SIZE_RANGE):
        ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 20})


def test_aes_value_len_missing(ep11):
    with raises_ckr(CKR.TEMPLATE_INCOMPLETE):
        ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.ENCRYPT: True})


def test_aes_template_wrong_class(ep11):
    template = {CKA.VALUE_LEN: 16, CKA.CLASS: CKO.PRIVATE_KEY}
    with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
        ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), template)


@pytest.mark.parametrize("bits", [1000, 256, 4352])
def test_rsa_modulus_bits_invalid(ep11, bits):
    with raises_ckr(CKR.KEY_SIZE_RANGE):
        ep11.generate_key_pair(
            Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), {CKA.MODULUS_BITS: bits}, {}
        )


@pytest.mark.parametrize("exponent", [3, 65536, 1])
def test_rsa_exponent_invalid(ep11, exponent):
    template = {CKA.MODULUS_BITS: 2048, CKA.PUBLIC_EXPONENT: exponent}
    with raises_ckr(CKR.ATTRIBUTE_VALUE_INVALID):
        ep11.generate_key_pair(Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), template, {})


def test_rsa_modulus_bits_missing(ep11):
    with raises_ckr(CKR.TEMPLATE_INCOMPLETE):
        ep11.generate_key_pair(Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), {}, {})


def test_ec_unknown_curve(ep11):
    with raises_ckr(CKR.CURVE_NOT_SUPPORTED):
        ep11.generate_key_pair(
            Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: UNKNOWN_CURVE_PARAMS}, {}
        )


def test_template_read_only_attribute(ep11):
    with raises_ckr(CKR.ATTRIBUTE_READ_ONLY):
        ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16, CKA.LOCAL: False})


# --- data lengths and arguments


@pytest.mark.parametrize("length", [0, 1_000_001])
def test_random_length_out_of_range(ep11, length):
    with raises_ckr(CKR.ARGUMENTS_BAD):
        ep11.generate_random(length)


def test_random_length_maximum(ep11):
    assert len(ep11.generate_random(1_000_000)) == 1_000_000


@pytest.mark.parametrize(
    "mechanism, max_length",
    [(Mechanism(CKM.RSA_PKCS), 245), (OAEP_SHA1, 214)],
    ids=["pkcs1", "oaep"],
)
def test_rsa_input_too_long(ep11, rsa_pair, mechanism, max_length):
    assert len(ep11.encrypt_single(mechanism, rsa_pair.public_blob, bytes(max_length))) == 256
    with raises_ckr(CKR.DATA_LEN_RANGE):
        ep11.encrypt_single(mechanism, rsa_pair.public_blob, bytes(max_length + 1))


def test_rsa_raw_sign_too_long(ep11, rsa_pair):
    with raises_ckr(CKR.DATA_LEN_RANGE):
        ep11.sign_single(Mechanism(CKM.RSA_PKCS), rsa_pair.private_blob, bytes(246))


def test_rsa_ciphertext_wrong_length(ep11, rsa_pair):
    with raises_ckr(CKR.ENCRYPTED_DATA_LEN_RANGE):
        ep11.decrypt_single(Mechanism(CKM.RSA_PKCS), rsa_pair.private_blob, bytes(255))


def test_rsa_ciphertext_invalid(ep11, rsa_pair):
    ciphertext = ep11.encrypt_single(OAEP_SHA1, rsa_pair.public_blob, TEXT)
    with raises_ckr(CKR.ENCRYPTED_DATA_INVALID):
        ep11.decrypt_single(Mechanism(CKM.RSA_PKCS), rsa_pair.private_blob, ciphertext)


def test_cbc_pad_bad_padding(ep11, import_secret):
    value = bytes(range(32))
    key = import_secret(ep11, CKK.AES, value)
    # A block whose plaintext ends in 0x00 has no valid PKCS #7 padding.
    encryptor = Cipher(algorithms.AES(value), modes.CBC(bytes(16))).encryptor()
    ciphertext = encryptor.update(b"\x00" * 32) + encryptor.finalize()
    with raises_ckr(CKR.ENCRYPTED_DATA_INVALID):
        ep11.decrypt_single(cbc_pad(), key.blob, ciphertext)
    state = ep11.decrypt_init(cbc_pad(), key.blob)
    state = ep11.decrypt_update(state, ciphertext).state
    with raises_ckr(CKR.ENCRYPTED_DATA_INVALID):
        ep11.decrypt_final(state)


@pytest.mark.parametrize("length", [0, 15, 47])
def test_cbc_pad_ciphertext_length(ep11, aes, length):
    with raises_ckr(CKR.ENCRYPTED_DATA_LEN_RANGE):
        ep11.decrypt_single(cbc_pad(), aes.blob, bytes(length))


def test_cbc_pad_final_partial_block(ep11, aes):
    state = ep11.decrypt_init(cbc_pad(), aes.blob)
    state = ep11.decrypt_update(state, bytes(20)).state
    with raises_ckr(CKR.ENCRYPTED_DATA_LEN_RANGE):
        ep11.decrypt_final(state)


def test_ecb_partial_block(ep11, aes):
    with raises_ckr(CKR.DATA_LEN_RANGE):
        ep11.encrypt_single(Mechanism(CKM.AES_ECB), aes.blob, bytes(17))


# --- attributes


def test_set_extractable_true_rejected(ep11, aes):
    with raises_ckr(CKR.ATTRIBUTE_READ_ONLY):
        ep11.set_attribute_value(aes.blob, {CKA.EXTRACTABLE: True})


def test_clear_extractable(ep11):
    key = ep11.generate_key(
        Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16, CKA.EXTRACTABLE: True}
    )
    kek = ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32})
    assert ep11.wrap_key(cbc_pad(), key.blob, kek.blob)

    cleared = ep11.set_attribute_value(key.blob, {CKA.EXTRACTABLE: False})
    assert cleared != key.blob
    assert ep11.get_attribute_value(cleared, [CKA.EXTRACTABLE]) == {CKA.EXTRACTABLE: False}
    # Blobs are immutable, so the original keeps its value.
    assert ep11.get_attribute_value(key.blob, [CKA.EXTRACTABLE]) == {CKA.EXTRACTABLE: True}
    with raises_ckr(CKR.KEY_UNEXTRACTABLE):
        ep11.wrap_key(cbc_pad(), cleared, kek.blob)
    # Once cleared, EXTRACTABLE cannot come back.
    with raises_ckr(CKR.ATTRIBUTE_READ_ONLY):
        ep11.set_attribute_value(cleared, {CKA.EXTRACTABLE: True})


def test_cleared_key_keeps_value(ep11):
    key = ep11.generate_key(
        Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16, CKA.EXTRACTABLE: True}
    )
    cleared = ep11.set_attribute_value(key.blob, {CKA.EXTRACTABLE: False})
    ciphertext = ep11.encrypt_single(cbc_pad(), key.blob, TEXT)
    assert ep11.decrypt_single(cbc_pad(), cleared, ciphertext) == TEXT


@pytest.mark.parametrize("attribute", [CKA.VALUE_LEN, CKA.KEY_TYPE, CKA.LABEL])
def test_set_non_boolean_attribute(ep11, aes, attribute):
    values = {CKA.VALUE_LEN: 16, CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.LABEL: b"label"}
    with raises_ckr(CKR.ATTRIBUTE_READ_ONLY):
        ep11.set_attribute_value(aes.blob, {attribute: values[attribute]})


def test_secret_value_sensitive(ep11, aes):
    with raises_ckr(CKR.ATTRIBUTE_SENSITIVE):
        ep11.get_attribute_value(aes.blob, [CKA.VALUE])


def test_private_value_sensitive(ep11, rsa_pair):
    with raises_ckr(CKR.ATTRIBUTE_SENSITIVE):
        ep11.get_attribute_value(rsa_pair.private_blob, [CKA.VALUE])


def test_unknown_attribute_type(ep11, aes):
    with raises_ckr(CKR.ATTRIBUTE_TYPE_INVALID):
        ep11.get_attribute_value(aes.blob, [CKA.MODULUS])


# --- mechanisms and key types in messages: the CKM_/CKK_ name with the number in brackets


def test_wrong_key_type_named(ep11, rsa_pair):
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT) as raised:
        ep11.sign_single(Mechanism(CKM.ECDSA), rsa_pair.private_blob, bytes(32))
    assert "CKM_ECDSA (0x1041) does not take a key of type CKK_RSA (0x0)" in str(raised.value)


def test_mechanism_not_in_table_named(ep11):
    with raises_ckr(CKR.MECHANISM_INVALID) as raised:
        ep11.get_mechanism_info(CKM.IBM_SIPHASH)
    assert "mechanism CKM_IBM_SIPHASH (0x80010021) is not supported" in str(raised.value)
    with raises_ckr(CKR.MECHANISM_INVALID) as raised:
        ep11.digest_single(Mechanism(CKM.IBM_SIPHASH), b"data")
    assert "mechanism CKM_IBM_SIPHASH (0x80010021) is not supported" in str(raised.value)


def test_unknown_mechanism_number(ep11):
    with raises_ckr(CKR.MECHANISM_INVALID) as raised:
        ep11.get_mechanism_info(0x7FFFFFF0)
    assert "mechanism 0x7ffffff0 is not supported" in str(raised.value)


def test_mechanism_wrong_function_named(ep11):
    with raises_ckr(CKR.MECHANISM_INVALID) as raised:
        ep11.digest_single(Mechanism(CKM.AES_KEY_GEN), b"data")
    assert "mechanism CKM_AES_KEY_GEN (0x1080) cannot be used to digest" in str(raised.value)


def test_pss_hash_mismatch_named(ep11, rsa_pair):
    mechanism = Mechanism(CKM.SHA256_RSA_PKCS_PSS, PSSParams(CKM.SHA_1, CKG.MGF1_SHA1, 20))
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID) as raised:
        ep11.sign_single(mechanism, rsa_pair.private_blob, b"data")
    message = str(raised.value)
    assert "the PSS hash CKM_SHA_1 (0x220) must match" in message
    assert "the mechanism's hash CKM_SHA256 (0x250)" in message
