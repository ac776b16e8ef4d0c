"""CKM_IBM_ATTRIBUTEBOUND_WRAP on every backend: key value and attributes travel together."""

import pytest

from ep11core.constants import CKA, CKK, CKM, CKO, CKR
from ep11core.keys import encode_oid
from ep11core.types import Mechanism
from conftest import raises_ckr

AB_WRAP = Mechanism(CKM.IBM_ATTRIBUTEBOUND_WRAP)
P256 = encode_oid("1.2.840.10045.3.1.7")
UNWRAP_TEMPLATE = {
    CKA.CLASS: CKO.SECRET_KEY,
    CKA.KEY_TYPE: CKK.AES,
    CKA.VALUE_LEN: 32,
    CKA.ENCRYPT: True,
    CKA.DECRYPT: True,
}
ROUND_TRIP_ATTRIBUTES = [
    CKA.CLASS,
    CKA.KEY_TYPE,
    CKA.VALUE_LEN,
    CKA.LABEL,
    CKA.ENCRYPT,
    CKA.DECRYPT,
    CKA.SIGN,
    CKA.EXTRACTABLE,
    CKA.IBM_ATTRBOUND,
    CKA.KEY_GEN_MECHANISM,
    CKA.CHECK_VALUE,
]


def generic_secret(ep11, attrbound=True):
    template = {
        CKA.KEY_TYPE: CKK.GENERIC_SECRET,
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.VALUE_LEN: 32,
        CKA.IBM_ATTRBOUND: attrbound,
    }
    return ep11.generate_key(Mechanism(CKM.GENERIC_SECRET_KEY_GEN), template)


def aes_key(ep11, extra=None):
    template = {
        CKA.VALUE_LEN: 32,
        CKA.ENCRYPT: True,
        CKA.DECRYPT: True,
        CKA.EXTRACTABLE: True,
        CKA.IBM_ATTRBOUND: True,
    }
    template.update(extra or {})
    return ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), template)


@pytest.fixture(scope="module")
def mac_key(ep11):
    return generic_secret(ep11)


@pytest.fixture(scope="module")
def rsa_pair(ep11):
    return ep11.generate_key_pair(
        Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN),
        {
            CKA.MODULUS_BITS: 2048,
            CKA.PUBLIC_EXPONENT: 65537,
            CKA.ENCRYPT: True,
            CKA.WRAP: True,
            CKA.IBM_ATTRBOUND: True,
        },
        {CKA.DECRYPT: True, CKA.UNWRAP: True, CKA.IBM_ATTRBOUND: True},
    )


@pytest.fixture(scope="module")
def aes_kek(ep11):
    return aes_key(ep11, {CKA.WRAP: True, CKA.UNWRAP: True})


def test_client_flow_checksum(ep11, mac_key, rsa_pair):
    key = aes_key(ep11)
    wrapped = ep11.wrap_key(AB_WRAP, key.blob, rsa_pair.public_blob, mac_key.blob)
    unwrapped = ep11.unwrap_key(
        AB_WRAP, wrapped, rsa_pair.private_blob, UNWRAP_TEMPLATE, mac_key.blob
    )
    assert unwrapped.checksum[:3] == key.checksum[:3]
    assert unwrapped.checksum == key.checksum


def test_attributes_round_trip(ep11, mac_key, rsa_pair):
    key = aes_key(ep11, {CKA.LABEL: b"bound key", CKA.DECRYPT: False, CKA.SIGN: False})
    wrapped = ep11.wrap_key(AB_WRAP, key.blob, rsa_pair.public_blob, mac_key.blob)
    # The template requests SIGN and another label, but the wrapped attributes win.
    template = {**UNWRAP_TEMPLATE, CKA.SIGN: True, CKA.LABEL: b"ignored"}
    unwrapped = ep11.unwrap_key(AB_WRAP, wrapped, rsa_pair.private_blob, template, mac_key.blob)
    original = ep11.get_attribute_value(key.blob, ROUND_TRIP_ATTRIBUTES)
    restored = ep11.get_attribute_value(unwrapped.blob, ROUND_TRIP_ATTRIBUTES)
    assert restored == original
    assert restored[CKA.DECRYPT] is False
    assert restored[CKA.LABEL] == b"bound key"
    local = ep11.get_attribute_value(unwrapped.blob, [CKA.LOCAL])[CKA.LOCAL]
    assert local is False
    iv = bytes(16)
    ciphertext = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), unwrapped.blob, b"secret")
    assert ciphertext == ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), key.blob, b"secret")
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), unwrapped.blob, ciphertext)


def test_private_key_under_aes_kek(ep11, mac_key, aes_kek):
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.EC_PARAMS: P256},
        {CKA.SIGN: True, CKA.EXTRACTABLE: True, CKA.IBM_ATTRBOUND: True, CKA.LABEL: b"ec"},
    )
    wrapped = ep11.wrap_key(AB_WRAP, pair.private_blob, aes_kek.blob, mac_key.blob)
    template = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.EC}
    unwrapped = ep11.unwrap_key(AB_WRAP, wrapped, aes_kek.blob, template, mac_key.blob)
    assert unwrapped.checksum == b""
    values = ep11.get_attribute_value(unwrapped.blob, [CKA.LABEL, CKA.EC_PARAMS, CKA.IBM_ATTRBOUND])
    assert values == {CKA.LABEL: b"ec", CKA.EC_PARAMS: P256, CKA.IBM_ATTRBOUND: True}
    signature = ep11.sign_single(Mechanism(CKM.ECDSA_SHA256), unwrapped.blob, b"message")
    ep11.verify_single(Mechanism(CKM.ECDSA_SHA256), pair.public_blob, b"message", signature)


def test_plain_wrap_of_attrbound_key_rejected(ep11, aes_kek):
    key = aes_key(ep11)
    with raises_ckr(CKR.KEY_NOT_WRAPPABLE):
        ep11.wrap_key(Mechanism(CKM.AES_CBC_PAD, bytes(16)), key.blob, aes_kek.blob)


def test_other_mac_key_rejected(ep11, mac_key, aes_kek):
    key = aes_key(ep11)
    wrapped = ep11.wrap_key(AB_WRAP, key.blob, aes_kek.blob, mac_key.blob)
    other = generic_secret(ep11)
    with raises_ckr(CKR.WRAPPED_KEY_INVALID):
        ep11.unwrap_key(AB_WRAP, wrapped, aes_kek.blob, UNWRAP_TEMPLATE, other.blob)


def test_tampered_wrapped_key_rejected(ep11, mac_key, aes_kek):
    key = aes_key(ep11)
    wrapped = bytearray(ep11.wrap_key(AB_WRAP, key.blob, aes_kek.blob, mac_key.blob))
    wrapped[40] ^= 0x01
    with raises_ckr(CKR.WRAPPED_KEY_INVALID):
        ep11.unwrap_key(AB_WRAP, bytes(wrapped), aes_kek.blob, UNWRAP_TEMPLATE, mac_key.blob)
    with raises_ckr(CKR.WRAPPED_KEY_INVALID):
        ep11.unwrap_key(AB_WRAP, b"short", aes_kek.blob, UNWRAP_TEMPLATE, mac_key.blob)


def test_kek_type_mismatch_rejected(ep11, mac_key, aes_kek, rsa_pair):
    key = aes_key(ep11)
    wrapped = ep11.wrap_key(AB_WRAP, key.blob, aes_kek.blob, mac_key.blob)
    with raises_ckr(CKR.UNWRAPPING_KEY_TYPE_INCONSISTENT):
        ep11.unwrap_key(AB_WRAP, wrapped, rsa_pair.private_blob, UNWRAP_TEMPLATE, mac_key.blob)


def test_template_class_mismatch_rejected(ep11, mac_key, aes_kek):
    key = aes_key(ep11)
    wrapped = ep11.wrap_key(AB_WRAP, key.blob, aes_kek.blob, mac_key.blob)
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET}
    with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
        ep11.unwrap_key(AB_WRAP, wrapped, aes_kek.blob, template, mac_key.blob)


def test_mac_key_checks(ep11, aes_kek):
    key = aes_key(ep11)
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.wrap_key(AB_WRAP, key.blob, aes_kek.blob, generic_secret(ep11, attrbound=False).blob)
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.wrap_key(AB_WRAP, key.blob, aes_kek.blob, aes_key(ep11).blob)
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        ep11.wrap_key(AB_WRAP, key.blob, aes_kek.blob, None)


def test_kek_without_attrbound_rejected(ep11, mac_key):
    kek = aes_key(ep11, {CKA.WRAP: True, CKA.IBM_ATTRBOUND: False})
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.wrap_key(AB_WRAP, aes_key(ep11).blob, kek.blob, mac_key.blob)


def test_unextractable_key_rejected(ep11, mac_key, aes_kek):
    key = aes_key(ep11, {CKA.EXTRACTABLE: False})
    with raises_ckr(CKR.KEY_UNEXTRACTABLE):
        ep11.wrap_key(AB_WRAP, key.blob, aes_kek.blob, mac_key.blob)


def test_public_kek_class_enforced(ep11, mac_key, rsa_pair):
    key = aes_key(ep11)
    with raises_ckr(CKR.WRAPPING_KEY_TYPE_INCONSISTENT):
        ep11.wrap_key(AB_WRAP, key.blob, rsa_pair.private_blob, mac_key.blob)
