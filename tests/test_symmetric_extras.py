"""Triple DES, AES-CTR, AES-GCM and CMAC through the engine's public API, on every backend.

Sources of the vectors:
- Triple DES: the NIST SP 800-67 example (three distinct keys) and the variable plaintext known
  answer test of NIST SP 800-20 (K1 = K2 = K3 = 0101010101010101).
- AES-CTR: NIST SP 800-38A appendix F.5.
- AES-GCM: test cases 1 to 4 of the GCM specification (McGrew and Viega).
- CMAC: NIST SP 800-38B examples for AES-128 and three-key triple DES.
Everything else is cross-checked with ``cryptography``. Key values leave the HSM only where a
test wraps an extractable key under a KEK whose value the test imported itself.
"""

import os

import pytest
from conftest import aes_cbc_pad_encrypt, raises_ckr
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac as crypto_cmac
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ep11core.constants import CKA, CKF, CKK, CKM, CKO, CKR
from ep11core.mechanisms.counter_modes import GCM_MAX_MULTI_PART_BYTES
from ep11core.mechanisms.parameters import encode_ctr_parameter, encode_gcm_parameter
from ep11core.types import Mechanism

MESSAGE = b"encrypt and decrypt these forty-seven bytes!!!!"
SHORT = bytes(range(1, 21))

# NIST SP 800-67: three distinct keys and the (deliberately misspelt) three-block message.
SP800_67_KEY = bytes.fromhex("0123456789abcdef23456789abcdef01456789abcdef0123")
SP800_67_PLAINTEXT = b"The qufck brown fox jump"
SP800_67_CIPHERTEXT = "a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900"
# NIST SP 800-20 variable plaintext test: with K1 = K2 = K3 triple DES is single DES.
SP800_20_KEY = bytes.fromhex("0101010101010101") * 3
SP800_20_VECTORS = [
    ("8000000000000000", "95f8a5e5dd31d900"),
    ("4000000000000000", "dd7f121ca5015619"),
    ("2000000000000000", "2e8653104f3834ea"),
]

SP800_38A_PLAINTEXT = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172a"
    "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef"
    "f69f2445df4f9b17ad2b417be66c3710"
)
SP800_38A_COUNTER = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
SP800_38A_CTR_VECTORS = [
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
        "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee",
    ),
    (
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
        "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6",
    ),
]

GCM_KEY = "feffe9928665731c6d6a8f9467308308"
GCM_IV = "cafebabefacedbaddecaf888"
GCM_PLAINTEXT = (
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
GCM_CIPHERTEXT = (
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
)
# key, IV, AAD, plaintext, ciphertext, tag
GCM_VECTORS = [
    ("00" * 16, "00" * 12, "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"),
    (
        "00" * 16,
        "00" * 12,
        "",
        "00" * 16,
        "0388dace60b6a392f328c2b971b2fe78",
        "ab6e47d42cec13bdf53a67b21257bddf",
    ),
    (GCM_KEY, GCM_IV, "", GCM_PLAINTEXT, GCM_CIPHERTEXT, "4d5c2af327cd64a62cf35abd2ba6fab4"),
    (
        GCM_KEY,
        GCM_IV,
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        GCM_PLAINTEXT[:120],
        GCM_CIPHERTEXT[:120],
        "5bc94fbc3221a5db94fae95ae7121a47",
    ),
]

CMAC_MESSAGE = SP800_38A_PLAINTEXT
AES_CMAC_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
AES_CMAC_VECTORS = [
    (0, "bb1d6929e95937287fa37d129b756746"),
    (16, "070a16b46b4d4144f79bdd9dd04a287c"),
    (40, "dfa66747de9ae63030ca32611497c827"),
    (64, "51f0bebf7e3b9d92fc49741779363cfe"),
]
DES3_CMAC_KEY = bytes.fromhex("8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5")
DES3_CMAC_VECTORS = [
    (0, "b7a688e122ffaf95"),
    (8, "8e8f293136283797"),
    (20, "743ddbe0ce2dc2ed"),
    (32, "33e6b1092400eae5"),
]


# --- helpers


def tdes(key: bytes, mode) -> Cipher:
    """A ``cryptography`` triple DES cipher; two-key keys become K1 K2 K1."""
    three_key = key + key[:8] if len(key) == 16 else key
    return Cipher(TripleDES(three_key), mode)


def tdes_encrypt(key: bytes, mode, data: bytes) -> bytes:
    encryptor = tdes(key, mode).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def pkcs7(data: bytes, block_bits: int) -> bytes:
    padder = symmetric_padding.PKCS7(block_bits).padder()
    return padder.update(data) + padder.finalize()


def odd_parity(value: bytes) -> bool:
    return all(bin(byte).count("1") % 2 == 1 for byte in value)


def crypt_multi_part(init, update, final, mechanism, key, data, split):
    """Run Init, two Updates split at ``split`` and Final; return the joined output."""
    state = init(mechanism, key)
    output = b""
    for piece in (data[:split], data[split:]):
        result = update(state, piece)
        state = result.state
        output += result.output
    return output + final(state)


def encrypt_parts(ep11, mechanism, key, data, split):
    return crypt_multi_part(
        ep11.encrypt_init, ep11.encrypt_update, ep11.encrypt_final, mechanism, key, data, split
    )


def decrypt_parts(ep11, mechanism, key, data, split):
    return crypt_multi_part(
        ep11.decrypt_init, ep11.decrypt_update, ep11.decrypt_final, mechanism, key, data, split
    )


@pytest.fixture(scope="module")
def kek(ep11, import_secret):
    """A known AES-256 key-encryption key: (value, blob)."""
    value = os.urandom(32)
    return value, import_secret(ep11, CKK.AES, value).blob


def export_value(ep11, kek, blob: bytes) -> bytes:
    """Return the value of an extractable secret key, wrapped under the known KEK."""
    kek_value, kek_blob = kek
    iv = os.urandom(16)
    wrapped = ep11.wrap_key(Mechanism(CKM.AES_CBC_PAD, iv), blob, kek_blob)
    decryptor = Cipher(algorithms.AES(kek_value), modes.CBC(iv)).decryptor()
    padded = decryptor.update(wrapped) + decryptor.finalize()
    unpadder = symmetric_padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def generate_des(ep11, mechanism, template=None):
    """Generate an extractable DES2 or DES3 key with ``template`` added."""
    attributes = {CKA.EXTRACTABLE: True, **(template or {})}
    return ep11.generate_key(Mechanism(mechanism), attributes)


# --- DES2 and DES3 key generation


@pytest.mark.parametrize("value_len", [None, 0, 7, 16, 24, 32, 1000])
def test_des3_keygen_ignores_value_len(ep11, kek, value_len):
    template = {} if value_len is None else {CKA.VALUE_LEN: value_len}
    result = generate_des(ep11, CKM.DES3_KEY_GEN, template)
    value = export_value(ep11, kek, result.blob)
    assert len(value) == 24
    assert odd_parity(value)
    assert result.attributes[CKA.VALUE_LEN] == 24
    assert result.attributes[CKA.KEY_TYPE] == CKK.DES3


def test_des2_keygen_length_and_parity(ep11, kek):
    result = generate_des(ep11, CKM.DES2_KEY_GEN, {CKA.VALUE_LEN: 24})
    value = export_value(ep11, kek, result.blob)
    assert len(value) == 16
    assert odd_parity(value)
    assert result.attributes[CKA.KEY_TYPE] == CKK.DES2


@pytest.mark.parametrize("mechanism", [CKM.DES2_KEY_GEN, CKM.DES3_KEY_GEN])
def test_des_keygen_checksum_is_kcv(ep11, kek, mechanism):
    result = generate_des(ep11, mechanism)
    value = export_value(ep11, kek, result.blob)
    kcv = tdes_encrypt(value, modes.ECB(), bytes(8))[:3]
    assert result.checksum[:3] == kcv
    assert result.checksum[3:] == (8 * len(value)).to_bytes(4, "big")
    attributes = ep11.get_attribute_value(result.blob, [CKA.CHECK_VALUE])
    assert attributes[CKA.CHECK_VALUE] == kcv


def test_des3_keygen_distinct_keys(ep11, kek):
    first = export_value(ep11, kek, generate_des(ep11, CKM.DES3_KEY_GEN).blob)
    second = export_value(ep11, kek, generate_des(ep11, CKM.DES3_KEY_GEN).blob)
    assert first != second


def test_des3_keygen_rejects_other_key_type(ep11):
    with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
        ep11.generate_key(Mechanism(CKM.DES3_KEY_GEN), {CKA.KEY_TYPE: CKK.AES})


# --- triple DES ciphers


@pytest.fixture(scope="module")
def sp800_67_key(ep11, import_secret):
    return import_secret(ep11, CKK.DES3, SP800_67_KEY).blob


def test_des3_ecb_sp800_67(ep11, sp800_67_key):
    mechanism = Mechanism(CKM.DES3_ECB)
    ciphertext = ep11.encrypt_single(mechanism, sp800_67_key, SP800_67_PLAINTEXT)
    assert ciphertext.hex() == SP800_67_CIPHERTEXT
    assert ep11.decrypt_single(mechanism, sp800_67_key, ciphertext) == SP800_67_PLAINTEXT


@pytest.mark.parametrize("plaintext,ciphertext", SP800_20_VECTORS)
def test_des3_ecb_sp800_20(ep11, import_secret, plaintext, ciphertext):
    key = import_secret(ep11, CKK.DES3, SP800_20_KEY).blob
    mechanism = Mechanism(CKM.DES3_ECB)
    assert ep11.encrypt_single(mechanism, key, bytes.fromhex(plaintext)).hex() == ciphertext


@pytest.mark.parametrize("key_type,length", [(CKK.DES2, 16), (CKK.DES3, 24)])
def test_des3_modes_match_cryptography(ep11, import_secret, key_type, length):
    value = bytes(range(0x40, 0x40 + length))
    key = import_secret(ep11, key_type, value).blob
    iv = bytes(range(8))
    data = bytes(range(40))
    cases = [
        (Mechanism(CKM.DES3_ECB), tdes_encrypt(value, modes.ECB(), data)),
        (Mechanism(CKM.DES3_CBC, iv), tdes_encrypt(value, modes.CBC(iv), data)),
        (Mechanism(CKM.DES3_CBC_PAD, iv), tdes_encrypt(value, modes.CBC(iv), pkcs7(data, 64))),
    ]
    for mechanism, expected in cases:
        name = CKM(mechanism.mechanism).name
        assert ep11.encrypt_single(mechanism, key, data) == expected, name
        assert ep11.decrypt_single(mechanism, key, expected) == data, name


def test_des3_cbc_pad_every_split(ep11, sp800_67_key):
    iv = bytes(range(8, 16))
    mechanism = Mechanism(CKM.DES3_CBC_PAD, iv)
    expected = tdes_encrypt(SP800_67_KEY, modes.CBC(iv), pkcs7(SHORT, 64))
    for split in range(len(SHORT) + 1):
        assert encrypt_parts(ep11, mechanism, sp800_67_key, SHORT, split) == expected, split
    for split in range(len(expected) + 1):
        assert decrypt_parts(ep11, mechanism, sp800_67_key, expected, split) == SHORT, split


def test_des3_ecb_multi_part(ep11, sp800_67_key):
    mechanism = Mechanism(CKM.DES3_ECB)
    for split in (0, 5, 8, 13, 24):
        output = encrypt_parts(ep11, mechanism, sp800_67_key, SP800_67_PLAINTEXT, split)
        assert output.hex() == SP800_67_CIPHERTEXT, split


def test_des3_partial_block_rejected(ep11, sp800_67_key):
    with raises_ckr(CKR.DATA_LEN_RANGE):
        ep11.encrypt_single(Mechanism(CKM.DES3_ECB), sp800_67_key, bytes(9))
    with raises_ckr(CKR.ENCRYPTED_DATA_LEN_RANGE):
        ep11.decrypt_single(Mechanism(CKM.DES3_CBC, bytes(8)), sp800_67_key, bytes(12))


def test_des3_iv_must_be_8_bytes(ep11, sp800_67_key):
    for iv in (None, bytes(7), bytes(16)):
        with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
            ep11.encrypt_single(Mechanism(CKM.DES3_CBC_PAD, iv), sp800_67_key, b"x")


def test_des3_rejects_aes_key(ep11, import_secret):
    aes = import_secret(ep11, CKK.AES, bytes(16)).blob
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.encrypt_single(Mechanism(CKM.DES3_ECB), aes, bytes(8))


# --- the DES3 client flows: key from CKM_DES3_KEY_GEN with CKA_VALUE_LEN 32, IV from
# GenerateRandom, a 47-byte message and a 16-byte first part


@pytest.fixture(scope="module")
def flow_des3(ep11):
    template = {
        CKA.VALUE_LEN: 32,
        CKA.WRAP: True,
        CKA.UNWRAP: True,
        CKA.ENCRYPT: True,
        CKA.DECRYPT: True,
        CKA.EXTRACTABLE: True,
    }
    return ep11.generate_key(Mechanism(CKM.DES3_KEY_GEN), template).blob


def test_des3_flow_esp(ep11, flow_des3):
    mechanism = Mechanism(CKM.DES3_CBC_PAD, ep11.generate_random(8))
    ciphertext = ep11.encrypt_single(mechanism, flow_des3, MESSAGE)
    assert len(ciphertext) == 48
    assert ep11.decrypt_single(mechanism, flow_des3, ciphertext) == MESSAGE


def test_des3_flow_psp(ep11, flow_des3):
    mechanism = Mechanism(CKM.DES3_CBC_PAD, ep11.generate_random(8))
    ciphertext = ep11.encrypt(ep11.encrypt_init(mechanism, flow_des3), MESSAGE)
    assert ep11.decrypt(ep11.decrypt_init(mechanism, flow_des3), ciphertext) == MESSAGE


def test_des3_flow_pmp(ep11, flow_des3):
    mechanism = Mechanism(CKM.DES3_CBC_PAD, ep11.generate_random(8))
    ciphertext = encrypt_parts(ep11, mechanism, flow_des3, MESSAGE, 16)
    assert ciphertext == ep11.encrypt_single(mechanism, flow_des3, MESSAGE)
    assert decrypt_parts(ep11, mechanism, flow_des3, ciphertext, 16) == MESSAGE


def test_des3_flow_external_decryption(ep11, kek, flow_des3):
    value = export_value(ep11, kek, flow_des3)
    iv = ep11.generate_random(8)
    ciphertext = ep11.encrypt_single(Mechanism(CKM.DES3_CBC_PAD, iv), flow_des3, MESSAGE)
    decryptor = tdes(value, modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    assert padded == pkcs7(MESSAGE, 64)


# --- DES keys in UnwrapKey and WrapKey


def test_unwrap_fixes_des_parity(ep11, import_secret, kek):
    # Every byte has even parity, so every parity bit needs flipping.
    even = bytes(byte ^ 1 for byte in SP800_67_KEY)
    imported = import_secret(ep11, CKK.DES3, even, {CKA.EXTRACTABLE: True})
    assert export_value(ep11, kek, imported.blob) == SP800_67_KEY
    assert imported.checksum[:3] == tdes_encrypt(SP800_67_KEY, modes.ECB(), bytes(8))[:3]


def test_unwrap_des3_ignores_value_len(ep11, kek):
    kek_value, kek_blob = kek
    iv = os.urandom(16)
    wrapped = aes_cbc_pad_encrypt(kek_value, iv, SP800_67_KEY)
    template = {
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.KEY_TYPE: CKK.DES3,
        CKA.VALUE_LEN: 32,
        CKA.EXTRACTABLE: True,
    }
    result = ep11.unwrap_key(Mechanism(CKM.AES_CBC_PAD, iv), wrapped, kek_blob, template)
    assert result.attributes[CKA.VALUE_LEN] == 24
    assert export_value(ep11, kek, result.blob) == SP800_67_KEY


def test_unwrap_des3_wrong_length(ep11, kek):
    kek_value, kek_blob = kek
    iv = os.urandom(16)
    wrapped = aes_cbc_pad_encrypt(kek_value, iv, SP800_67_KEY[:16])
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.DES3}
    with raises_ckr(CKR.WRAPPED_KEY_INVALID):
        ep11.unwrap_key(Mechanism(CKM.AES_CBC_PAD, iv), wrapped, kek_blob, template)


def test_wrap_aes_key_under_des3(ep11, flow_des3):
    target = ep11.generate_key(
        Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32, CKA.EXTRACTABLE: True}
    )
    mechanism = Mechanism(CKM.DES3_CBC_PAD, ep11.generate_random(8))
    wrapped = ep11.wrap_key(mechanism, target.blob, flow_des3)
    assert len(wrapped) == 40
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 32}
    unwrapped = ep11.unwrap_key(mechanism, wrapped, flow_des3, template)
    assert unwrapped.checksum[:3] == target.checksum[:3]


def test_wrap_des3_key_with_des3_ecb(ep11, flow_des3):
    target = generate_des(ep11, CKM.DES3_KEY_GEN)
    wrapped = ep11.wrap_key(Mechanism(CKM.DES3_ECB), target.blob, flow_des3)
    assert len(wrapped) == 24
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.DES3}
    unwrapped = ep11.unwrap_key(Mechanism(CKM.DES3_ECB), wrapped, flow_des3, template)
    assert unwrapped.checksum == target.checksum


def test_unwrap_des2_from_longer_ecb_data(ep11, flow_des3):
    # Unpadded ECB leaves block padding after the key; the key type's length trims it.
    target = generate_des(ep11, CKM.DES2_KEY_GEN)
    wrapped = ep11.wrap_key(Mechanism(CKM.DES3_ECB), target.blob, flow_des3)
    assert len(wrapped) == 16
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.DES2, CKA.VALUE_LEN: 99}
    unwrapped = ep11.unwrap_key(Mechanism(CKM.DES3_ECB), wrapped, flow_des3, template)
    assert unwrapped.checksum == target.checksum


# --- AES-CTR


@pytest.mark.parametrize("key,ciphertext", SP800_38A_CTR_VECTORS)
def test_aes_ctr_sp800_38a(ep11, import_secret, key, ciphertext):
    blob = import_secret(ep11, CKK.AES, bytes.fromhex(key)).blob
    mechanism = Mechanism(CKM.AES_CTR, encode_ctr_parameter(128, SP800_38A_COUNTER))
    assert ep11.encrypt_single(mechanism, blob, SP800_38A_PLAINTEXT).hex() == ciphertext
    assert ep11.decrypt_single(mechanism, blob, bytes.fromhex(ciphertext)) == SP800_38A_PLAINTEXT


@pytest.fixture(scope="module")
def known_aes(ep11, import_secret):
    value = bytes(range(0x20, 0x40))
    return value, import_secret(ep11, CKK.AES, value).blob


def test_aes_ctr_every_split(ep11, known_aes):
    value, blob = known_aes
    mechanism = Mechanism(CKM.AES_CTR, encode_ctr_parameter(128, SP800_38A_COUNTER))
    encryptor = Cipher(algorithms.AES(value), modes.CTR(SP800_38A_COUNTER)).encryptor()
    expected = encryptor.update(SHORT) + encryptor.finalize()
    for split in range(len(SHORT) + 1):
        assert encrypt_parts(ep11, mechanism, blob, SHORT, split) == expected, split
        assert decrypt_parts(ep11, mechanism, blob, expected, split) == SHORT, split


def test_aes_ctr_counter_wraps_in_its_bits(ep11, known_aes):
    value, blob = known_aes
    counter = bytes(14) + b"\x0a\xff"
    mechanism = Mechanism(CKM.AES_CTR, encode_ctr_parameter(8, counter))
    blocks = counter + bytes(14) + b"\x0a\x00"
    encryptor = Cipher(algorithms.AES(value), modes.ECB()).encryptor()
    expected = encryptor.update(blocks) + encryptor.finalize()
    assert ep11.encrypt_single(mechanism, blob, bytes(32)) == expected


def test_aes_ctr_counter_exhausted(ep11, known_aes):
    _, blob = known_aes
    # A 2-bit counter covers four blocks.
    mechanism = Mechanism(CKM.AES_CTR, encode_ctr_parameter(2, bytes(16)))
    assert len(ep11.encrypt_single(mechanism, blob, bytes(64))) == 64
    with raises_ckr(CKR.DATA_LEN_RANGE):
        ep11.encrypt_single(mechanism, blob, bytes(65))
    with raises_ckr(CKR.ENCRYPTED_DATA_LEN_RANGE):
        ep11.decrypt_single(mechanism, blob, bytes(65))
    state = ep11.encrypt_init(mechanism, blob)
    state = ep11.encrypt_update(state, bytes(60)).state
    with raises_ckr(CKR.DATA_LEN_RANGE):
        ep11.encrypt_update(state, bytes(5))


@pytest.mark.parametrize(
    "parameter",
    [
        None,
        bytes(16),
        encode_ctr_parameter(128, bytes(15)),
        encode_ctr_parameter(0, bytes(16)),
        encode_ctr_parameter(129, bytes(16)),
        encode_ctr_parameter(128, bytes(16)) + b"\x00",
    ],
    ids=["absent", "counter-only", "short-block", "zero-bits", "129-bits", "trailing-byte"],
)
def test_aes_ctr_bad_parameter(ep11, known_aes, parameter):
    _, blob = known_aes
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.encrypt_single(Mechanism(CKM.AES_CTR, parameter), blob, b"x")
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.encrypt_init(Mechanism(CKM.AES_CTR, parameter), blob)


# --- AES-GCM


@pytest.mark.parametrize("key,iv,aad,plaintext,ciphertext,tag", GCM_VECTORS)
def test_aes_gcm_known_answer(ep11, import_secret, key, iv, aad, plaintext, ciphertext, tag):
    blob = import_secret(ep11, CKK.AES, bytes.fromhex(key)).blob
    parameter = encode_gcm_parameter(bytes.fromhex(iv), bytes.fromhex(aad), 128)
    mechanism = Mechanism(CKM.AES_GCM, parameter)
    sealed = ep11.encrypt_single(mechanism, blob, bytes.fromhex(plaintext))
    assert sealed.hex() == ciphertext + tag
    assert ep11.decrypt_single(mechanism, blob, sealed).hex() == plaintext


def test_aes_gcm_every_split(ep11, known_aes):
    value, blob = known_aes
    iv = bytes(range(12))
    mechanism = Mechanism(CKM.AES_GCM, encode_gcm_parameter(iv, b"header", 128))
    expected = AESGCM(value).encrypt(iv, SHORT, b"header")
    for split in range(len(SHORT) + 1):
        assert encrypt_parts(ep11, mechanism, blob, SHORT, split) == expected, split
    for split in range(len(expected) + 1):
        assert decrypt_parts(ep11, mechanism, blob, expected, split) == SHORT, split


def test_aes_gcm_updates_return_nothing(ep11, known_aes):
    _, blob = known_aes
    mechanism = Mechanism(CKM.AES_GCM, encode_gcm_parameter(bytes(12)))
    state = ep11.encrypt_init(mechanism, blob)
    result = ep11.encrypt_update(state, MESSAGE)
    assert result.output == b""
    assert len(ep11.encrypt_final(result.state)) == len(MESSAGE) + 16


@pytest.mark.parametrize("tag_bits", [32, 64, 96, 104, 112, 120])
def test_aes_gcm_short_tags(ep11, known_aes, tag_bits):
    value, blob = known_aes
    iv = bytes(12)
    mechanism = Mechanism(CKM.AES_GCM, encode_gcm_parameter(iv, b"", tag_bits))
    sealed = ep11.encrypt_single(mechanism, blob, MESSAGE)
    full = AESGCM(value).encrypt(iv, MESSAGE, b"")
    assert sealed == full[: len(MESSAGE) + tag_bits // 8]
    assert ep11.decrypt_single(mechanism, blob, sealed) == MESSAGE


def test_aes_gcm_long_iv_matches_cryptography(ep11, known_aes):
    value, blob = known_aes
    iv = bytes(range(128))
    mechanism = Mechanism(CKM.AES_GCM, encode_gcm_parameter(iv, b"aad", 128))
    assert ep11.encrypt_single(mechanism, blob, MESSAGE) == AESGCM(value).encrypt(
        iv, MESSAGE, b"aad"
    )


def test_aes_gcm_forged_tag(ep11, known_aes):
    _, blob = known_aes
    mechanism = Mechanism(CKM.AES_GCM, encode_gcm_parameter(bytes(12), b"aad"))
    sealed = bytearray(ep11.encrypt_single(mechanism, blob, MESSAGE))
    sealed[-1] ^= 0x80
    with raises_ckr(CKR.ENCRYPTED_DATA_INVALID):
        ep11.decrypt_single(mechanism, blob, bytes(sealed))
    state = ep11.decrypt_init(mechanism, blob)
    state = ep11.decrypt_update(state, bytes(sealed)).state
    with raises_ckr(CKR.ENCRYPTED_DATA_INVALID):
        ep11.decrypt_final(state)


def test_aes_gcm_ciphertext_shorter_than_tag(ep11, known_aes):
    _, blob = known_aes
    mechanism = Mechanism(CKM.AES_GCM, encode_gcm_parameter(bytes(12)))
    with raises_ckr(CKR.ENCRYPTED_DATA_LEN_RANGE):
        ep11.decrypt_single(mechanism, blob, bytes(15))


GCM_HEADER_ONLY = encode_gcm_parameter(bytes(12))[:32]


@pytest.mark.parametrize(
    "parameter",
    [
        None,
        bytes(12),
        encode_gcm_parameter(b"", b"", 128),
        encode_gcm_parameter(bytes(129), b"", 128),
        encode_gcm_parameter(bytes(12), b"", 0),
        encode_gcm_parameter(bytes(12), b"", 8),
        encode_gcm_parameter(bytes(12), b"", 100),
        encode_gcm_parameter(bytes(12), b"", 136),
        encode_gcm_parameter(bytes(12), b"aad", 128)[:-1],
        encode_gcm_parameter(bytes(12), b"aad", 128) + b"\x00",
        GCM_HEADER_ONLY[:8] + (95).to_bytes(8, "big") + GCM_HEADER_ONLY[16:] + bytes(12),
    ],
    ids=[
        "absent",
        "bare-iv",
        "empty-iv",
        "129-byte-iv",
        "tag-0",
        "tag-8",
        "tag-100",
        "tag-136",
        "truncated",
        "trailing-byte",
        "iv-bits-mismatch",
    ],
)
def test_aes_gcm_bad_parameter(ep11, known_aes, parameter):
    _, blob = known_aes
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.encrypt_single(Mechanism(CKM.AES_GCM, parameter), blob, b"x")
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.decrypt_init(Mechanism(CKM.AES_GCM, parameter), blob)


def test_aes_gcm_iv_bits_may_be_zero(ep11, known_aes):
    value, blob = known_aes
    iv = bytes(range(12))
    parameter = encode_gcm_parameter(iv)
    parameter = parameter[:8] + bytes(8) + parameter[16:]
    sealed = ep11.encrypt_single(Mechanism(CKM.AES_GCM, parameter), blob, MESSAGE)
    assert sealed == AESGCM(value).encrypt(iv, MESSAGE, b"")


def test_aes_gcm_multi_part_bound(local_engine, import_secret):
    blob = import_secret(local_engine, CKK.AES, bytes(16)).blob
    mechanism = Mechanism(CKM.AES_GCM, encode_gcm_parameter(bytes(12)))
    state = local_engine.encrypt_init(mechanism, blob)
    state = local_engine.encrypt_update(state, bytes(GCM_MAX_MULTI_PART_BYTES)).state
    with raises_ckr(CKR.DATA_LEN_RANGE):
        local_engine.encrypt_update(state, b"x")
    assert len(local_engine.encrypt_final(state)) == GCM_MAX_MULTI_PART_BYTES + 16


def test_wrap_aes_key_with_gcm(ep11, known_aes):
    value, blob = known_aes
    target = ep11.generate_key(
        Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16, CKA.EXTRACTABLE: True}
    )
    iv = bytes(range(12))
    mechanism = Mechanism(CKM.AES_GCM, encode_gcm_parameter(iv, b"wrap"))
    wrapped = ep11.wrap_key(mechanism, target.blob, blob)
    assert len(wrapped) == 32
    key_value = AESGCM(value).decrypt(iv, wrapped, b"wrap")
    encryptor = Cipher(algorithms.AES(key_value), modes.ECB()).encryptor()
    assert target.checksum[:3] == (encryptor.update(bytes(16)) + encryptor.finalize())[:3]
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 16}
    assert ep11.unwrap_key(mechanism, wrapped, blob, template).checksum == target.checksum
    # GCM returns the exact key, so a CKA_VALUE_LEN below its length is inconsistent.
    template[CKA.VALUE_LEN] = 8
    with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
        ep11.unwrap_key(mechanism, wrapped, blob, template)


# --- ReencryptSingle across the new ciphers


def test_reencrypt_des3_to_aes_gcm(ep11, flow_des3, known_aes):
    value, aes_blob = known_aes
    des_mechanism = Mechanism(CKM.DES3_CBC_PAD, ep11.generate_random(8))
    iv = ep11.generate_random(12)
    gcm_mechanism = Mechanism(CKM.AES_GCM, encode_gcm_parameter(iv, b"reencrypt"))
    ciphertext = ep11.encrypt_single(des_mechanism, flow_des3, MESSAGE)
    sealed = ep11.reencrypt_single(des_mechanism, gcm_mechanism, flow_des3, aes_blob, ciphertext)
    assert AESGCM(value).decrypt(iv, sealed, b"reencrypt") == MESSAGE


def test_reencrypt_aes_ctr_to_des3_ecb(ep11, known_aes, sp800_67_key):
    value, aes_blob = known_aes
    ctr = Mechanism(CKM.AES_CTR, encode_ctr_parameter(64, SP800_38A_COUNTER))
    ciphertext = ep11.encrypt_single(ctr, aes_blob, SP800_67_PLAINTEXT)
    encryptor = Cipher(algorithms.AES(value), modes.CTR(SP800_38A_COUNTER)).encryptor()
    assert ciphertext == encryptor.update(SP800_67_PLAINTEXT) + encryptor.finalize()
    des3_ecb = Mechanism(CKM.DES3_ECB)
    output = ep11.reencrypt_single(ctr, des3_ecb, aes_blob, sp800_67_key, ciphertext)
    assert output.hex() == SP800_67_CIPHERTEXT


# --- CMAC


def cryptography_cmac(algorithm, message: bytes) -> bytes:
    mac = crypto_cmac.CMAC(algorithm)
    mac.update(message)
    return mac.finalize()


@pytest.fixture(scope="module")
def cmac_aes(ep11, import_secret):
    return import_secret(ep11, CKK.AES, AES_CMAC_KEY).blob


@pytest.fixture(scope="module")
def cmac_des3(ep11, import_secret):
    return import_secret(ep11, CKK.DES3, DES3_CMAC_KEY).blob


@pytest.mark.parametrize("mechanism", [CKM.AES_CMAC, CKM.IBM_CMAC])
@pytest.mark.parametrize("length,tag", AES_CMAC_VECTORS)
def test_aes_cmac_sp800_38b(ep11, cmac_aes, mechanism, length, tag):
    message = CMAC_MESSAGE[:length]
    assert ep11.sign_single(Mechanism(mechanism), cmac_aes, message).hex() == tag
    ep11.verify_single(Mechanism(mechanism), cmac_aes, message, bytes.fromhex(tag))


@pytest.mark.parametrize("length,tag", DES3_CMAC_VECTORS)
def test_ibm_cmac_des3_sp800_38b(ep11, cmac_des3, length, tag):
    message = CMAC_MESSAGE[:length]
    assert ep11.sign_single(Mechanism(CKM.IBM_CMAC), cmac_des3, message).hex() == tag


def test_ibm_cmac_des2_matches_cryptography(ep11, import_secret):
    value = bytes(range(0x31, 0x41))
    blob = import_secret(ep11, CKK.DES2, value).blob
    expected = cryptography_cmac(TripleDES(value + value[:8]), MESSAGE)
    assert ep11.sign_single(Mechanism(CKM.IBM_CMAC), blob, MESSAGE) == expected


@pytest.mark.parametrize("mechanism", [CKM.AES_CMAC, CKM.IBM_CMAC])
def test_cmac_every_split(ep11, cmac_aes, mechanism):
    expected = cryptography_cmac(algorithms.AES(AES_CMAC_KEY), SHORT)
    for split in range(len(SHORT) + 1):
        state = ep11.sign_init(Mechanism(mechanism), cmac_aes)
        state = ep11.sign_update(state, SHORT[:split])
        state = ep11.sign_update(state, SHORT[split:])
        assert ep11.sign_final(state) == expected, split
        state = ep11.verify_init(Mechanism(mechanism), cmac_aes)
        state = ep11.verify_update(state, SHORT[:split])
        state = ep11.verify_update(state, SHORT[split:])
        ep11.verify_final(state, expected)


def test_cmac_sign_psp(ep11, cmac_des3):
    state = ep11.sign_init(Mechanism(CKM.IBM_CMAC), cmac_des3)
    mac = ep11.sign(state, MESSAGE)
    assert mac == cryptography_cmac(TripleDES(DES3_CMAC_KEY), MESSAGE)
    ep11.verify(ep11.verify_init(Mechanism(CKM.IBM_CMAC), cmac_des3), MESSAGE, mac)


def test_cmac_verify_errors(ep11, cmac_aes):
    mac = ep11.sign_single(Mechanism(CKM.AES_CMAC), cmac_aes, MESSAGE)
    forged = bytes([mac[0] ^ 1]) + mac[1:]
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(Mechanism(CKM.AES_CMAC), cmac_aes, MESSAGE, forged)
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.verify_single(Mechanism(CKM.AES_CMAC), cmac_aes, MESSAGE, mac[:8])


@pytest.mark.parametrize("length", [1, 4, 8, 12, 16])
def test_aes_cmac_general_lengths(ep11, cmac_aes, length):
    mechanism = Mechanism(CKM.AES_CMAC_GENERAL, length.to_bytes(8, "big"))
    expected = cryptography_cmac(algorithms.AES(AES_CMAC_KEY), MESSAGE)[:length]
    assert ep11.sign_single(mechanism, cmac_aes, MESSAGE) == expected
    ep11.verify_single(mechanism, cmac_aes, MESSAGE, expected)
    state = ep11.sign_update(ep11.sign_init(mechanism, cmac_aes), MESSAGE)
    assert ep11.sign_final(state) == expected
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.verify_single(mechanism, cmac_aes, MESSAGE, expected + b"\x00")


@pytest.mark.parametrize(
    "parameter",
    [None, bytes(8), (17).to_bytes(8, "big"), (16).to_bytes(4, "big")],
    ids=["absent", "zero", "17", "4-byte-ulong"],
)
def test_aes_cmac_general_bad_parameter(ep11, cmac_aes, parameter):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.sign_single(Mechanism(CKM.AES_CMAC_GENERAL, parameter), cmac_aes, MESSAGE)


def test_aes_cmac_rejects_des3_key(ep11, cmac_des3):
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.sign_single(Mechanism(CKM.AES_CMAC), cmac_des3, MESSAGE)


def test_aes_cmac_takes_no_parameter(ep11, cmac_aes):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.sign_single(Mechanism(CKM.AES_CMAC, bytes(8)), cmac_aes, MESSAGE)


# --- GetMechanismInfo

CRYPT_WRAP_FLAGS = CKF.ENCRYPT | CKF.DECRYPT | CKF.WRAP | CKF.UNWRAP
MECHANISM_INFO = [
    (CKM.DES2_KEY_GEN, 16, 16, CKF.GENERATE),
    (CKM.DES3_KEY_GEN, 24, 24, CKF.GENERATE),
    (CKM.DES3_ECB, 16, 24, CRYPT_WRAP_FLAGS),
    (CKM.DES3_CBC, 16, 24, CRYPT_WRAP_FLAGS),
    (CKM.DES3_CBC_PAD, 16, 24, CRYPT_WRAP_FLAGS),
    (CKM.AES_CTR, 16, 32, CRYPT_WRAP_FLAGS),
    (CKM.AES_GCM, 16, 32, CRYPT_WRAP_FLAGS),
    (CKM.AES_CMAC, 16, 32, CKF.SIGN | CKF.VERIFY),
    (CKM.AES_CMAC_GENERAL, 16, 32, CKF.SIGN | CKF.VERIFY),
    (CKM.IBM_CMAC, 16, 32, CKF.SIGN | CKF.VERIFY),
]


@pytest.mark.parametrize("mechanism,minimum,maximum,flags", MECHANISM_INFO)
def test_mechanism_info(ep11, mechanism, minimum, maximum, flags):
    assert mechanism in ep11.get_mechanism_list()
    info = ep11.get_mechanism_info(mechanism)
    assert info.min_key_size == minimum
    assert info.max_key_size == maximum
    assert info.flags == flags
