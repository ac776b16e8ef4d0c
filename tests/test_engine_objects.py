"""Key objects, attributes and blob frames, checked on every backend."""

import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization

from ep11core import CKA, CKK, CKM, CKO, CKR, Mechanism, PKCS11Error
from ep11core.keys import CURVES

AES_KEY_GEN = Mechanism(CKM.AES_KEY_GEN)
EC_KEY_PAIR_GEN = Mechanism(CKM.EC_KEY_PAIR_GEN)


def spki_of(public_blob: bytes) -> bytes:
    """Cut the DER SubjectPublicKeyInfo off the front of a MACed SPKI."""
    first = public_blob[1]
    if first < 0x80:
        return public_blob[: 2 + first]
    size = first & 0x7F
    return public_blob[: 2 + size + int.from_bytes(public_blob[2 : 2 + size], "big")]


def test_secret_blob_frame(ep11):
    key = ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 32, CKA.SIGN: False})
    blob = key.blob
    bits = struct.unpack_from(">Q", blob, 48)[0]
    assert blob[:32] == bytes(32)
    assert struct.unpack_from(">H", blob, 64)[0] == 0x1234
    assert bits & 0x800  # ENCRYPT
    assert not bits & 0x100  # SIGN was set FALSE
    assert ep11.get_attribute_value(blob, [CKA.GREP11_WKID])[CKA.GREP11_WKID] == blob[32:48]


def test_aes_blob_size(ep11):
    key = ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 32})
    assert len(key.blob) <= 512


def test_default_attributes(ep11):
    key = ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16})
    requested = [CKA.ENCRYPT, CKA.DECRYPT, CKA.SIGN, CKA.WRAP, CKA.EXTRACTABLE, CKA.LOCAL]
    values = ep11.get_attribute_value(key.blob, requested)
    assert values[CKA.ENCRYPT] is True
    assert values[CKA.DECRYPT] is True
    assert values[CKA.SIGN] is True
    assert values[CKA.WRAP] is True
    assert values[CKA.EXTRACTABLE] is False
    assert values[CKA.LOCAL] is True


def test_never_extractable_follows_template(ep11):
    key = ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16, CKA.EXTRACTABLE: True})
    values = ep11.get_attribute_value(key.blob, [CKA.NEVER_EXTRACTABLE, CKA.EXTRACTABLE])
    assert values[CKA.EXTRACTABLE] is True
    assert values[CKA.NEVER_EXTRACTABLE] is False


def test_check_value_matches_checksum(ep11):
    key = ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 24})
    values = ep11.get_attribute_value(key.blob, [CKA.CHECK_VALUE])
    assert values[CKA.CHECK_VALUE] == key.checksum[:3]
    assert key.checksum[3:] == (192).to_bytes(4, "big")


def _cryptography_parses(curve) -> bool:
    try:
        ec.get_curve_for_oid(x509.ObjectIdentifier(curve.oid))
    except LookupError:
        return False
    return True


# The curves whose SPKI the cryptography package parses; test_ec_extras covers the others.
PARSED_CURVES = [curve for curve in CURVES if _cryptography_parses(curve)]


@pytest.mark.parametrize("curve", PARSED_CURVES, ids=lambda curve: curve.name)
def test_ec_point_attribute(ep11, curve):
    pair = ep11.generate_key_pair(EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: curve.der_oid}, {})
    public = serialization.load_der_public_key(spki_of(pair.public_blob))
    point = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    values = ep11.get_attribute_value(pair.public_blob, [CKA.EC_POINT, CKA.EC_PARAMS])
    from_private = ep11.get_attribute_value(pair.private_blob, [CKA.EC_POINT])
    # CKA_EC_POINT is the point inside a DER OCTET STRING, with a long-form length above 127.
    header = b"\x04" + (bytes((0x81,)) if len(point) > 127 else b"") + bytes((len(point),))
    assert values[CKA.EC_POINT] == header + point
    assert from_private[CKA.EC_POINT] == header + point
    assert values[CKA.EC_PARAMS] == curve.der_oid


def test_ec_params_by_name(ep11):
    pair = ep11.generate_key_pair(EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: b"P-384"}, {})
    public = serialization.load_der_public_key(spki_of(pair.public_blob))
    assert isinstance(public.curve, ec.SECP384R1)


def test_maced_public_key_info(ep11):
    pair = ep11.generate_key_pair(EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: b"P-256"}, {})
    requested = [CKA.IBM_MACED_PUBLIC_KEY_INFO, CKA.PUBLIC_KEY_INFO]
    values = ep11.get_attribute_value(pair.private_blob, requested)
    spki = spki_of(pair.public_blob)
    assert values[CKA.PUBLIC_KEY_INFO] == spki
    maced = values[CKA.IBM_MACED_PUBLIC_KEY_INFO]
    assert spki_of(maced) == spki
    signature = ep11.sign_single(Mechanism(CKM.ECDSA_SHA256), pair.private_blob, b"data")
    ep11.verify_single(Mechanism(CKM.ECDSA_SHA256), maced, b"data", signature)


def test_public_key_usage_flag(ep11):
    pair = ep11.generate_key_pair(
        EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: b"P-256", CKA.VERIFY: False}, {}
    )
    signature = ep11.sign_single(Mechanism(CKM.ECDSA_SHA256), pair.private_blob, b"data")
    with pytest.raises(PKCS11Error) as raised:
        ep11.verify_single(Mechanism(CKM.ECDSA_SHA256), pair.public_blob, b"data", signature)
    assert raised.value.code == CKR.KEY_FUNCTION_NOT_PERMITTED


def test_plain_spki_verifies_only(ep11):
    pair = ep11.generate_key_pair(
        Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), {CKA.MODULUS_BITS: 1024}, {}
    )
    spki = spki_of(pair.public_blob)
    signature = ep11.sign_single(Mechanism(CKM.SHA256_RSA_PKCS), pair.private_blob, b"m")
    ep11.verify_single(Mechanism(CKM.SHA256_RSA_PKCS), spki, b"m", signature)
    with pytest.raises(PKCS11Error) as raised:
        ep11.encrypt_single(Mechanism(CKM.RSA_PKCS), spki, b"m")
    assert raised.value.code == CKR.KEY_FUNCTION_NOT_PERMITTED


def test_public_key_cannot_sign(ep11):
    pair = ep11.generate_key_pair(EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: b"P-256"}, {})
    with pytest.raises(PKCS11Error) as raised:
        ep11.sign_single(Mechanism(CKM.ECDSA), pair.public_blob, bytes(32))
    assert raised.value.code == CKR.KEY_TYPE_INCONSISTENT


def test_aes_key_rejected_by_rsa_mechanism(ep11):
    key = ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16})
    with pytest.raises(PKCS11Error) as raised:
        ep11.encrypt_single(Mechanism(CKM.RSA_PKCS), key.blob, b"m")
    assert raised.value.code == CKR.KEY_TYPE_INCONSISTENT


def test_template_class_mismatch(ep11):
    with pytest.raises(PKCS11Error) as raised:
        ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16, CKA.CLASS: CKO.PRIVATE_KEY})
    assert raised.value.code == CKR.TEMPLATE_INCONSISTENT


def test_template_key_type_mismatch(ep11):
    with pytest.raises(PKCS11Error) as raised:
        ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16, CKA.KEY_TYPE: CKK.RSA})
    assert raised.value.code == CKR.TEMPLATE_INCONSISTENT


def test_template_computed_attribute(ep11):
    with pytest.raises(PKCS11Error) as raised:
        ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16, CKA.LOCAL: True})
    assert raised.value.code == CKR.ATTRIBUTE_READ_ONLY


def test_template_unknown_attribute(ep11):
    with pytest.raises(PKCS11Error) as raised:
        ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16, 0x7FFF0001: True})
    assert raised.value.code == CKR.ATTRIBUTE_TYPE_INVALID


def test_template_value_forms(ep11):
    # A GREP11 client may send any value form; each is normalised to the attribute's type.
    key = ep11.generate_key(
        AES_KEY_GEN, {CKA.VALUE_LEN: b"\x20", CKA.ENCRYPT: 0, CKA.DECRYPT: b"\x01"}
    )
    values = ep11.get_attribute_value(key.blob, [CKA.VALUE_LEN, CKA.ENCRYPT, CKA.DECRYPT])
    assert values[CKA.VALUE_LEN] == 32
    assert values[CKA.ENCRYPT] is False
    assert values[CKA.DECRYPT] is True


def test_boolean_out_of_range(ep11):
    with pytest.raises(PKCS11Error) as raised:
        ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16, CKA.ENCRYPT: 2})
    assert raised.value.code == CKR.ATTRIBUTE_VALUE_INVALID


def test_set_usage_flag_both_ways(ep11):
    key = ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16})
    lowered = ep11.set_attribute_value(key.blob, {CKA.ENCRYPT: False})
    raised_again = ep11.set_attribute_value(lowered, {CKA.ENCRYPT: True})
    assert ep11.get_attribute_value(lowered, [CKA.ENCRYPT])[CKA.ENCRYPT] is False
    assert ep11.get_attribute_value(raised_again, [CKA.ENCRYPT])[CKA.ENCRYPT] is True


def test_set_on_unmodifiable_key(ep11):
    key = ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16, CKA.MODIFIABLE: False})
    with pytest.raises(PKCS11Error) as raised:
        ep11.set_attribute_value(key.blob, {CKA.ENCRYPT: False})
    assert raised.value.code == CKR.ACTION_PROHIBITED


def test_restrictable_key_only_loses_rights(ep11):
    key = ep11.generate_key(
        AES_KEY_GEN, {CKA.VALUE_LEN: 16, CKA.IBM_RESTRICTABLE: True, CKA.SIGN: False}
    )
    ep11.set_attribute_value(key.blob, {CKA.ENCRYPT: False})
    with pytest.raises(PKCS11Error) as raised:
        ep11.set_attribute_value(key.blob, {CKA.SIGN: True})
    assert raised.value.code == CKR.ATTRIBUTE_READ_ONLY


def test_set_non_boolean(ep11):
    key = ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16})
    with pytest.raises(PKCS11Error) as raised:
        ep11.set_attribute_value(key.blob, {CKA.LABEL: b"name"})
    assert raised.value.code == CKR.ATTRIBUTE_READ_ONLY


def test_set_on_public_key(ep11):
    pair = ep11.generate_key_pair(EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: b"P-256"}, {})
    restricted = ep11.set_attribute_value(pair.public_blob, {CKA.VERIFY: False})
    assert spki_of(restricted) == spki_of(pair.public_blob)
    values = ep11.get_attribute_value(restricted, [CKA.VERIFY])
    assert values[CKA.VERIFY] is False


def test_digest_key_needs_use_as_data(ep11):
    state = ep11.digest_init(Mechanism(CKM.SHA256))
    plain = ep11.generate_key(Mechanism(CKM.GENERIC_SECRET_KEY_GEN), {CKA.VALUE_LEN: 32})
    with pytest.raises(PKCS11Error) as raised:
        ep11.digest_key(state, plain.blob)
    assert raised.value.code == CKR.KEY_INDIGESTIBLE


def test_digest_key_feeds_digest(ep11, import_secret):
    value = bytes(range(32))
    key = import_secret(ep11, CKK.GENERIC_SECRET, value, {CKA.IBM_USE_AS_DATA: True})
    state = ep11.digest_init(Mechanism(CKM.SHA256))
    state = ep11.digest_update(state, b"prefix")
    state = ep11.digest_key(state, key.blob)
    expected = ep11.digest_single(Mechanism(CKM.SHA256), b"prefix" + value)
    assert ep11.digest_final(state) == expected


def test_empty_digest_rejected(ep11):
    state = ep11.digest_init(Mechanism(CKM.SHA256))
    with pytest.raises(PKCS11Error) as raised:
        ep11.digest(state, b"")
    assert raised.value.code == CKR.ARGUMENTS_BAD


def test_state_replay_allowed(ep11):
    state = ep11.digest_init(Mechanism(CKM.SHA256))
    state = ep11.digest_update(state, b"abc")
    assert ep11.digest_final(state) == ep11.digest_final(state)


def test_rewrap_without_new_master_key(ep11):
    key = ep11.generate_key(AES_KEY_GEN, {CKA.VALUE_LEN: 16})
    with pytest.raises(PKCS11Error) as raised:
        ep11.rewrap_key_blob(key.blob)
    assert raised.value.code == CKR.IBM_WK_NOT_INITIALIZED
