"""Login, Logout and session-bound key blobs on every backend.

A key binds to a login session when its template carries CKA_IBM_LOGIN_SESSION with the PIN blob
from Login. Logout closes every session of the domain, because the GREP11 LogoutRequest names
none, so each test here logs in for itself.
"""

import os

import pytest

from ep11core.constants import CKA, CKK, CKM, CKO, CKR
from ep11core.keys import encode_oid
from ep11core.types import BTCDeriveParams, Mechanism
from conftest import raises_ckr

STORE_ID = b"keystore-0001"
PIN = b"12345678"
SECP256K1 = encode_oid("1.3.132.0.10")


def aes_key(ep11, pin_blob=None):
    template = {CKA.VALUE_LEN: 32, CKA.ENCRYPT: True, CKA.DECRYPT: True}
    if pin_blob is not None:
        template[CKA.IBM_LOGIN_SESSION] = pin_blob
    return ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), template)


def encrypt(ep11, blob):
    iv = bytes(16)
    return ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), blob, b"session data")


def test_login_returns_pin_blob(ep11):
    pin_blob = ep11.login(STORE_ID, PIN)
    assert len(pin_blob) == 80
    session = pin_blob[:32]
    assert session != bytes(32)
    assert session[0] != 0x30
    again = ep11.login(STORE_ID, PIN)
    assert again[:32] == session
    assert ep11.login(STORE_ID, b"87654321")[:32] != session
    assert ep11.login(b"keystore-0002", PIN)[:32] != session


def test_bound_key_carries_session(ep11):
    pin_blob = ep11.login(STORE_ID, PIN)
    key = aes_key(ep11, pin_blob)
    assert key.blob[:32] == pin_blob[:32]
    assert CKA.IBM_LOGIN_SESSION not in key.attributes
    values = ep11.get_attribute_value(key.blob, [CKA.IBM_LOGIN_SESSION])
    assert values[CKA.IBM_LOGIN_SESSION] == pin_blob[:32]
    assert encrypt(ep11, key.blob)


def test_unbound_key_reports_zero_session(ep11):
    key = aes_key(ep11)
    assert key.blob[:32] == bytes(32)
    values = ep11.get_attribute_value(key.blob, [CKA.IBM_LOGIN_SESSION])
    assert values[CKA.IBM_LOGIN_SESSION] == bytes(32)


def test_logout_closes_bound_keys(ep11):
    pin_blob = ep11.login(STORE_ID, PIN)
    bound = aes_key(ep11, pin_blob)
    unbound = aes_key(ep11)
    state = ep11.encrypt_init(Mechanism(CKM.AES_CBC_PAD, bytes(16)), bound.blob)
    ep11.logout()
    with raises_ckr(CKR.SESSION_CLOSED):
        encrypt(ep11, bound.blob)
    with raises_ckr(CKR.SESSION_CLOSED):
        ep11.encrypt(state, b"data")
    with raises_ckr(CKR.SESSION_CLOSED):
        ep11.get_attribute_value(bound.blob, [CKA.VALUE_LEN])
    assert encrypt(ep11, unbound.blob)


def test_login_again_reopens_session(ep11):
    pin_blob = ep11.login(STORE_ID, PIN)
    bound = aes_key(ep11, pin_blob)
    ciphertext = encrypt(ep11, bound.blob)
    ep11.logout()
    with raises_ckr(CKR.SESSION_CLOSED):
        encrypt(ep11, bound.blob)
    ep11.login(STORE_ID, PIN)
    assert encrypt(ep11, bound.blob) == ciphertext


def test_other_pin_does_not_reopen(ep11):
    pin_blob = ep11.login(STORE_ID, PIN)
    bound = aes_key(ep11, pin_blob)
    ep11.logout()
    ep11.login(STORE_ID, b"another-pin")
    with raises_ckr(CKR.SESSION_CLOSED):
        encrypt(ep11, bound.blob)


def test_key_pair_binds_private_half(ep11):
    pin_blob = ep11.login(STORE_ID, PIN)
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.EC_PARAMS: SECP256K1, CKA.IBM_LOGIN_SESSION: pin_blob},
        {CKA.SIGN: True, CKA.IBM_LOGIN_SESSION: pin_blob},
    )
    assert pair.private_blob[:32] == pin_blob[:32]
    assert pair.public_blob[0] == 0x30
    assert CKA.IBM_LOGIN_SESSION not in pair.public_attributes
    assert CKA.IBM_LOGIN_SESSION not in pair.private_attributes
    signature = ep11.sign_single(Mechanism(CKM.ECDSA), pair.private_blob, bytes(32))
    ep11.logout()
    with raises_ckr(CKR.SESSION_CLOSED):
        ep11.sign_single(Mechanism(CKM.ECDSA), pair.private_blob, bytes(32))
    ep11.verify_single(Mechanism(CKM.ECDSA), pair.public_blob, bytes(32), signature)


def test_set_attribute_keeps_binding(ep11):
    pin_blob = ep11.login(STORE_ID, PIN)
    bound = aes_key(ep11, pin_blob)
    changed = ep11.set_attribute_value(bound.blob, {CKA.DECRYPT: False})
    assert changed[:32] == pin_blob[:32]
    ep11.logout()
    with raises_ckr(CKR.SESSION_CLOSED):
        encrypt(ep11, changed)


def test_unwrapped_and_derived_keys_bind(ep11, import_secret):
    pin_blob = ep11.login(STORE_ID, PIN)
    kek_value = os.urandom(32)
    kek = import_secret(ep11, CKK.AES, kek_value)
    iv = os.urandom(16)
    wrapped = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), kek.blob, os.urandom(32))
    template = {
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.KEY_TYPE: CKK.AES,
        CKA.VALUE_LEN: 32,
        CKA.IBM_LOGIN_SESSION: pin_blob,
    }
    unwrapped = ep11.unwrap_key(Mechanism(CKM.AES_CBC_PAD, iv), wrapped, kek.blob, template)
    assert unwrapped.blob[:32] == pin_blob[:32]
    seed = import_secret(
        ep11, CKK.GENERIC_SECRET, os.urandom(32), {CKA.IBM_USE_AS_DATA: True, CKA.DERIVE: True}
    )
    derived = ep11.derive_key(
        Mechanism(CKM.IBM_BTC_DERIVE, BTCDeriveParams(4)),
        seed.blob,
        b"",
        {CKA.EC_PARAMS: SECP256K1, CKA.IBM_LOGIN_SESSION: pin_blob},
    )
    assert derived.blob[:32] == pin_blob[:32]
    ep11.logout()
    with raises_ckr(CKR.SESSION_CLOSED):
        encrypt(ep11, unwrapped.blob)
    with raises_ckr(CKR.SESSION_CLOSED):
        ep11.sign_single(Mechanism(CKM.ECDSA), derived.blob, bytes(32))


def test_closed_session_cannot_bind(ep11):
    pin_blob = ep11.login(STORE_ID, PIN)
    ep11.logout()
    with raises_ckr(CKR.SESSION_CLOSED):
        aes_key(ep11, pin_blob)


def test_forged_pin_blob_rejected(ep11):
    pin_blob = bytearray(ep11.login(STORE_ID, PIN))
    pin_blob[0] ^= 0x01
    with raises_ckr(CKR.PIN_INCORRECT):
        aes_key(ep11, bytes(pin_blob))
    with raises_ckr(CKR.ATTRIBUTE_VALUE_INVALID):
        aes_key(ep11, bytes(pin_blob[:79]))


@pytest.mark.parametrize("pin", [b"1234567", bytes(65), b""], ids=["7 bytes", "65 bytes", "empty"])
def test_pin_length_rejected(ep11, pin):
    with raises_ckr(CKR.PIN_LEN_RANGE):
        ep11.login(STORE_ID, pin)


def test_long_store_id_rejected(ep11):
    with raises_ckr(CKR.ARGUMENTS_BAD):
        ep11.login(bytes(65), PIN)


def test_session_binding_is_read_only(ep11):
    pin_blob = ep11.login(STORE_ID, PIN)
    key = aes_key(ep11)
    with raises_ckr(CKR.ATTRIBUTE_READ_ONLY):
        ep11.set_attribute_value(key.blob, {CKA.IBM_LOGIN_SESSION: pin_blob})
