"""Secret-key derivation through DeriveKey, on every backend.

CKM_SHA*_KEY_DERIVATION keys are the hash of the base key's value, and
CKM_DES3_ECB_ENCRYPT_DATA and CKM_AES_ECB_ENCRYPT_DATA keys the ECB encryption of the
parameter under the base key, each cut to the template's key type and length as PKCS #11
defines. The base keys are imported with known values, and each derived key is checked against
``hashlib`` and ``cryptography`` by what it computes, by its checksum and, when extractable, by
its wrapped value.
"""

import hashlib
import hmac
import os

import pytest
from conftest import raises_ckr
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ep11core.constants import CKA, CKF, CKK, CKM, CKO, CKR
from ep11core.types import Mechanism

BASE_VALUE = bytes(range(0x10, 0x30))
DES3_BASE = bytes.fromhex("0123456789abcdef23456789abcdef01456789abcdef0123")
AES_BASE = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
BLOCK = b"sixteen byte msg"

KEY_DERIVATIONS = {
    CKM.SHA1_KEY_DERIVATION: "sha1",
    CKM.SHA224_KEY_DERIVATION: "sha224",
    CKM.SHA256_KEY_DERIVATION: "sha256",
    CKM.SHA384_KEY_DERIVATION: "sha384",
    CKM.SHA512_KEY_DERIVATION: "sha512",
}


def ecb_encrypt(algorithm, data: bytes) -> bytes:
    encryptor = Cipher(algorithm, modes.ECB()).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def odd_parity(value: bytes) -> bytes:
    return bytes((byte & 0xFE) | (1 - bin(byte & 0xFE).count("1") % 2) for byte in value)


def sha1_check_value(value: bytes) -> bytes:
    """The check value of a generic secret: the first 3 bytes of its SHA-1."""
    return hashlib.sha1(value).digest()[:3]


@pytest.fixture(scope="module")
def base_key(ep11, import_secret):
    return import_secret(ep11, CKK.GENERIC_SECRET, BASE_VALUE, {CKA.DERIVE: True}).blob


@pytest.fixture(scope="module")
def kek(ep11, import_secret):
    value = os.urandom(32)
    return value, import_secret(ep11, CKK.AES, value).blob


def export_value(ep11, kek, blob: bytes) -> bytes:
    kek_value, kek_blob = kek
    iv = os.urandom(16)
    wrapped = ep11.wrap_key(Mechanism(CKM.AES_CBC_PAD, iv), blob, kek_blob)
    decryptor = Cipher(algorithms.AES(kek_value), modes.CBC(iv)).decryptor()
    padded = decryptor.update(wrapped) + decryptor.finalize()
    unpadder = symmetric_padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


# --- CKM_SHA*_KEY_DERIVATION


@pytest.mark.parametrize("mechanism", list(KEY_DERIVATIONS))
def test_hash_derivation_default_generic_secret(ep11, base_key, kek, mechanism):
    expected = hashlib.new(KEY_DERIVATIONS[mechanism], BASE_VALUE).digest()
    result = ep11.derive_key(Mechanism(mechanism), base_key, b"", {CKA.EXTRACTABLE: True})
    assert result.attributes[CKA.KEY_TYPE] == CKK.GENERIC_SECRET
    assert result.attributes[CKA.CLASS] == CKO.SECRET_KEY
    assert result.attributes[CKA.VALUE_LEN] == len(expected)
    assert result.checksum[:3] == sha1_check_value(expected)
    assert export_value(ep11, kek, result.blob) == expected


def test_hash_derivation_generic_length(ep11, base_key):
    expected = hashlib.sha256(BASE_VALUE).digest()[:20]
    template = {CKA.VALUE_LEN: 20}
    result = ep11.derive_key(Mechanism(CKM.SHA256_KEY_DERIVATION), base_key, b"", template)
    assert result.attributes[CKA.VALUE_LEN] == 20
    mac = ep11.sign_single(Mechanism(CKM.SHA256_HMAC), result.blob, BLOCK)
    assert mac == hmac.new(expected, BLOCK, "sha256").digest()


@pytest.mark.parametrize("length", [16, 24, 32])
def test_hash_derivation_aes_key(ep11, base_key, length):
    material = hashlib.sha512(BASE_VALUE).digest()
    template = {CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: length}
    result = ep11.derive_key(Mechanism(CKM.SHA512_KEY_DERIVATION), base_key, b"", template)
    expected = ecb_encrypt(algorithms.AES(material[:length]), BLOCK)
    assert ep11.encrypt_single(Mechanism(CKM.AES_ECB), result.blob, BLOCK) == expected
    assert result.checksum[:3] == ecb_encrypt(algorithms.AES(material[:length]), bytes(16))[:3]
    assert result.checksum[3:] == (8 * length).to_bytes(4, "big")


@pytest.mark.parametrize("key_type,length", [(CKK.DES2, 16), (CKK.DES3, 24)])
def test_hash_derivation_des_key_parity(ep11, base_key, kek, key_type, length):
    material = hashlib.sha384(BASE_VALUE).digest()
    template = {CKA.KEY_TYPE: key_type, CKA.EXTRACTABLE: True}
    result = ep11.derive_key(Mechanism(CKM.SHA384_KEY_DERIVATION), base_key, b"", template)
    value = export_value(ep11, kek, result.blob)
    assert value == odd_parity(material[:length])
    assert result.attributes[CKA.KEY_TYPE] == key_type
    three_key = value + value[:8] if length == 16 else value
    ciphertext = ep11.encrypt_single(Mechanism(CKM.DES3_ECB), result.blob, BLOCK)
    assert ciphertext == ecb_encrypt(TripleDES(three_key), BLOCK)


def test_hash_derivation_des3_ignores_value_len(ep11, base_key):
    template = {CKA.KEY_TYPE: CKK.DES3, CKA.VALUE_LEN: 32}
    result = ep11.derive_key(Mechanism(CKM.SHA256_KEY_DERIVATION), base_key, b"", template)
    assert result.attributes[CKA.VALUE_LEN] == 24


def test_hash_derivation_hmac_key_type(ep11, base_key):
    material = hashlib.sha256(BASE_VALUE).digest()
    template = {CKA.KEY_TYPE: CKK.SHA256_HMAC, CKA.VALUE_LEN: 32}
    result = ep11.derive_key(Mechanism(CKM.SHA256_KEY_DERIVATION), base_key, b"", template)
    assert result.attributes[CKA.KEY_TYPE] == CKK.SHA256_HMAC
    mac = ep11.sign_single(Mechanism(CKM.SHA256_HMAC), result.blob, BLOCK)
    assert mac == hmac.new(material, BLOCK, "sha256").digest()


def test_hash_derivation_from_aes_key(ep11, import_secret):
    base = import_secret(ep11, CKK.AES, AES_BASE, {CKA.DERIVE: True}).blob
    result = ep11.derive_key(Mechanism(CKM.SHA1_KEY_DERIVATION), base, b"", {})
    assert result.checksum[:3] == sha1_check_value(hashlib.sha1(AES_BASE).digest())


@pytest.mark.parametrize(
    "mechanism,template,code",
    [
        (CKM.SHA1_KEY_DERIVATION, {CKA.KEY_TYPE: CKK.DES3}, CKR.KEY_SIZE_RANGE),
        (CKM.SHA256_KEY_DERIVATION, {CKA.VALUE_LEN: 33}, CKR.KEY_SIZE_RANGE),
        (CKM.SHA256_KEY_DERIVATION, {CKA.KEY_TYPE: CKK.AES}, CKR.TEMPLATE_INCOMPLETE),
        (
            CKM.SHA256_KEY_DERIVATION,
            {CKA.KEY_TYPE: CKK.GENERIC_SECRET},
            CKR.TEMPLATE_INCOMPLETE,
        ),
        (
            CKM.SHA256_KEY_DERIVATION,
            {CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 20},
            CKR.KEY_SIZE_RANGE,
        ),
        (CKM.SHA256_KEY_DERIVATION, {CKA.VALUE_LEN: 0}, CKR.KEY_SIZE_RANGE),
        (CKM.SHA256_KEY_DERIVATION, {CKA.KEY_TYPE: CKK.RSA}, CKR.TEMPLATE_INCONSISTENT),
        (CKM.SHA256_KEY_DERIVATION, {CKA.CLASS: CKO.PRIVATE_KEY}, CKR.TEMPLATE_INCONSISTENT),
    ],
    ids=[
        "des3-from-sha1",
        "longer-than-digest",
        "aes-without-length",
        "generic-type-without-length",
        "aes-20-bytes",
        "zero-length",
        "rsa-type",
        "private-class",
    ],
)
def test_hash_derivation_template_errors(ep11, base_key, mechanism, template, code):
    with raises_ckr(code):
        ep11.derive_key(Mechanism(mechanism), base_key, b"", template)


def test_hash_derivation_needs_derive_attribute(ep11, import_secret):
    base = import_secret(ep11, CKK.GENERIC_SECRET, BASE_VALUE, {CKA.DERIVE: False}).blob
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.derive_key(Mechanism(CKM.SHA256_KEY_DERIVATION), base, b"", {})


def test_hash_derivation_takes_no_parameter(ep11, base_key):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.derive_key(Mechanism(CKM.SHA256_KEY_DERIVATION, b"data"), base_key, b"", {})


def test_hash_derivation_rejects_private_key(ep11):
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107")},
        {CKA.DERIVE: True},
    )
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(Mechanism(CKM.SHA256_KEY_DERIVATION), pair.private_blob, b"", {})


# --- CKM_DES3_ECB_ENCRYPT_DATA and CKM_AES_ECB_ENCRYPT_DATA


@pytest.fixture(scope="module")
def des3_base(ep11, import_secret):
    return import_secret(ep11, CKK.DES3, DES3_BASE, {CKA.DERIVE: True}).blob


@pytest.fixture(scope="module")
def aes_base(ep11, import_secret):
    return import_secret(ep11, CKK.AES, AES_BASE, {CKA.DERIVE: True}).blob


def test_des3_encrypt_data_to_aes(ep11, des3_base):
    data = bytes(range(16))
    material = ecb_encrypt(TripleDES(DES3_BASE), data)
    template = {CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 16}
    result = ep11.derive_key(Mechanism(CKM.DES3_ECB_ENCRYPT_DATA, data), des3_base, b"", template)
    ciphertext = ep11.encrypt_single(Mechanism(CKM.AES_ECB), result.blob, BLOCK)
    assert ciphertext == ecb_encrypt(algorithms.AES(material), BLOCK)


def test_des3_encrypt_data_to_des3(ep11, des3_base, kek):
    data = bytes(range(24))
    material = ecb_encrypt(TripleDES(DES3_BASE), data)
    template = {CKA.KEY_TYPE: CKK.DES3, CKA.EXTRACTABLE: True}
    result = ep11.derive_key(Mechanism(CKM.DES3_ECB_ENCRYPT_DATA, data), des3_base, b"", template)
    assert export_value(ep11, kek, result.blob) == odd_parity(material)


def test_aes_encrypt_data_default_generic(ep11, aes_base, kek):
    data = bytes(range(32))
    material = ecb_encrypt(algorithms.AES(AES_BASE), data)
    template = {CKA.EXTRACTABLE: True}
    result = ep11.derive_key(Mechanism(CKM.AES_ECB_ENCRYPT_DATA, data), aes_base, b"", template)
    assert result.attributes[CKA.KEY_TYPE] == CKK.GENERIC_SECRET
    assert export_value(ep11, kek, result.blob) == material


def test_aes_encrypt_data_to_aes_256(ep11, aes_base):
    data = bytes(range(100, 132))
    material = ecb_encrypt(algorithms.AES(AES_BASE), data)
    template = {CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 32}
    result = ep11.derive_key(Mechanism(CKM.AES_ECB_ENCRYPT_DATA, data), aes_base, b"", template)
    assert result.checksum[:3] == ecb_encrypt(algorithms.AES(material), bytes(16))[:3]


@pytest.mark.parametrize(
    "mechanism,parameter",
    [
        (CKM.AES_ECB_ENCRYPT_DATA, None),
        (CKM.AES_ECB_ENCRYPT_DATA, bytes(15)),
        (CKM.AES_ECB_ENCRYPT_DATA, bytes(24)),
        (CKM.DES3_ECB_ENCRYPT_DATA, None),
        (CKM.DES3_ECB_ENCRYPT_DATA, bytes(12)),
    ],
    ids=["aes-absent", "aes-15", "aes-24", "des3-absent", "des3-12"],
)
def test_encrypt_data_bad_parameter(ep11, aes_base, des3_base, mechanism, parameter):
    base = aes_base if mechanism == CKM.AES_ECB_ENCRYPT_DATA else des3_base
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.derive_key(Mechanism(mechanism, parameter), base, b"", {})


def test_encrypt_data_key_longer_than_data(ep11, aes_base):
    template = {CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 32}
    with raises_ckr(CKR.KEY_SIZE_RANGE):
        ep11.derive_key(Mechanism(CKM.AES_ECB_ENCRYPT_DATA, bytes(16)), aes_base, b"", template)


def test_encrypt_data_base_key_type(ep11, aes_base, des3_base):
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(Mechanism(CKM.DES3_ECB_ENCRYPT_DATA, bytes(8)), aes_base, b"", {})
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(Mechanism(CKM.AES_ECB_ENCRYPT_DATA, bytes(16)), des3_base, b"", {})


# --- GetMechanismInfo

DERIVE_INFO = [
    *((mechanism, 1, 256) for mechanism in KEY_DERIVATIONS),
    (CKM.DES3_ECB_ENCRYPT_DATA, 16, 24),
    (CKM.AES_ECB_ENCRYPT_DATA, 16, 32),
]


@pytest.mark.parametrize("mechanism,minimum,maximum", DERIVE_INFO)
def test_derivation_mechanism_info(ep11, mechanism, minimum, maximum):
    assert mechanism in ep11.get_mechanism_list()
    info = ep11.get_mechanism_info(mechanism)
    assert info.flags == CKF.DERIVE
    assert info.min_key_size == minimum
    assert info.max_key_size == maximum
