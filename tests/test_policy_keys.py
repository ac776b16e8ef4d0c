"""Key strength classes, wrapping control points, HMAC key sizes at creation and template checks.

The control point rules run on ``guarded`` (control points 22, 23, 37, 42, 44 and 45 off) and
on ``bound_only`` (16 off), each an in-process engine and a server of its own. The default
policy runs on the ``ep11`` backends, where these rules must stay silent.
"""

import json

import grpc
import pytest
from conftest import der_element, raises_ckr

from ep11core import Engine, masterkey
from ep11core.attributes import KEY_TYPE_ATTRIBUTES, check_template
from ep11core.constants import CKA, CKK, CKM, CKO, CKR
from ep11core.der import encode_integer_sequence
from ep11core.errors import PKCS11Error
from ep11core.keys import encode_oid
from ep11core.policy import (
    RULES,
    ControlPoint,
    Policy,
    Rule,
    parse_policy,
    policy_for_state_dir,
    strength_class,
)
from ep11core.strength import key_strength
from ep11core.types import Mechanism
from grpc_server.client import RemoteEngine
from grpc_server.server import EmulatorServer

P192 = encode_oid("1.2.840.10045.3.1.1")
P256 = encode_oid("1.2.840.10045.3.1.7")
ED448 = encode_oid("1.3.101.113")
USAGE_FLAGS = (CKA.ENCRYPT, CKA.DECRYPT, CKA.SIGN, CKA.VERIFY, CKA.WRAP, CKA.UNWRAP, CKA.DERIVE)
TEXT = b"policy test data"
IV = bytes(16)
CBC_PAD = Mechanism(CKM.AES_CBC_PAD, IV)


def usage(*allowed) -> dict:
    """Return a template with every usage flag FALSE except ``allowed``."""
    return {flag: flag in allowed for flag in USAGE_FLAGS}


def code(rule: Rule) -> int:
    return RULES[rule].code


def generate_rsa(hsm, bits, public=None, private=None):
    return hsm.generate_key_pair(
        Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN),
        {CKA.MODULUS_BITS: bits, CKA.PUBLIC_EXPONENT: 65537, **(public or {})},
        dict(private or {}),
    )


def generate_secret(hsm, length, *templates):
    template = {CKA.VALUE_LEN: length}
    for part in templates:
        template.update(part)
    return hsm.generate_key(Mechanism(CKM.GENERIC_SECRET_KEY_GEN), template)


def generate_aes(hsm, length, *templates):
    template = {CKA.VALUE_LEN: length}
    for part in templates:
        template.update(part)
    return hsm.generate_key(Mechanism(CKM.AES_KEY_GEN), template)


def unwrap_secret(hsm, kek, key_type, value, extra=None):
    """Import ``value`` as a secret key: encrypt it under ``kek``, then UnwrapKey."""
    wrapped = hsm.encrypt_single(CBC_PAD, kek.blob, value)
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: key_type, **(extra or {})}
    return hsm.unwrap_key(CBC_PAD, wrapped, kek.blob, template)


def spki_of(public_blob: bytes) -> bytes:
    """Return the plain DER SPKI at the start of a MACed SPKI."""
    return der_element(public_blob)


# --- security strength of key types


STRENGTHS = [
    ({CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 16}, 128),
    ({CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 24}, 192),
    ({CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 32}, 256),
    ({CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.DES2, CKA.VALUE_LEN: 16}, 80),
    ({CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.DES3, CKA.VALUE_LEN: 24}, 112),
    ({CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.VALUE_LEN: 4}, 32),
    ({CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.SHA256_HMAC, CKA.VALUE_LEN: 32}, 256),
    ({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS_BITS: 512}, 0),
    ({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS_BITS: 1024}, 80),
    ({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS_BITS: 2048}, 112),
    ({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS_BITS: 4096}, 128),
    ({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: P192}, 96),
    ({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: P256}, 128),
    ({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: b"P-521"}, 260),
    ({CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: ED448}, 228),
    (
        {
            CKA.CLASS: CKO.PRIVATE_KEY,
            CKA.KEY_TYPE: CKK.EC,
            CKA.EC_PARAMS: encode_oid("1.3.6.1.4.1.2.267.999.3.2"),
        },
        127,
    ),
    (
        {
            CKA.CLASS: CKO.PRIVATE_KEY,
            CKA.KEY_TYPE: CKK.DSA,
            CKA.IBM_STRUCT_PARAMS: encode_integer_sequence([(1 << 2047) + 1, (1 << 159) + 1, 2]),
        },
        80,
    ),
    (
        {
            CKA.CLASS: CKO.PRIVATE_KEY,
            CKA.KEY_TYPE: CKK.DH,
            CKA.IBM_STRUCT_PARAMS: encode_integer_sequence([(1 << 3071) + 1, 2]),
        },
        128,
    ),
    ({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.IBM_ML_DSA, CKA.IBM_PARAMETER_SET: 1}, 128),
    ({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.IBM_ML_KEM, CKA.IBM_PARAMETER_SET: 3}, 256),
    (
        {
            CKA.CLASS: CKO.PRIVATE_KEY,
            CKA.KEY_TYPE: CKK.IBM_PQC_DILITHIUM,
            CKA.IBM_PQC_PARAMS: encode_oid("1.3.6.1.4.1.2.267.1.6.5"),
        },
        192,
    ),
    ({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: b"no such curve"}, None),
    ({CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.IBM_ML_DSA}, None),
]


@pytest.mark.parametrize("attributes, expected", STRENGTHS)
def test_key_strength(attributes, expected):
    assert key_strength(attributes) == expected


CLASS_BOUNDARIES = [
    (0, ControlPoint.KEYSZ_BELOW80BIT),
    (79, ControlPoint.KEYSZ_BELOW80BIT),
    (80, ControlPoint.KEYSZ_80BIT),
    (111, ControlPoint.KEYSZ_80BIT),
    (112, ControlPoint.KEYSZ_112BIT),
    (127, ControlPoint.KEYSZ_112BIT),
    (128, ControlPoint.KEYSZ_128BIT),
    (191, ControlPoint.KEYSZ_128BIT),
    (192, ControlPoint.KEYSZ_192BIT),
    (255, ControlPoint.KEYSZ_192BIT),
    (256, ControlPoint.KEYSZ_256BIT),
    (260, ControlPoint.KEYSZ_256BIT),
]


@pytest.mark.parametrize("strength, control_point", CLASS_BOUNDARIES)
def test_strength_class(strength, control_point):
    assert strength_class(strength) is control_point


# Generic secrets (no sign or verify, so no HMAC rule) of each class: (bytes, control point).
SECRET_CLASSES = [
    (9, ControlPoint.KEYSZ_BELOW80BIT),
    (10, ControlPoint.KEYSZ_80BIT),
    (14, ControlPoint.KEYSZ_112BIT),
    (16, ControlPoint.KEYSZ_128BIT),
    (24, ControlPoint.KEYSZ_192BIT),
    (32, ControlPoint.KEYSZ_256BIT),
]


@pytest.mark.parametrize("length, control_point", SECRET_CLASSES)
def test_each_strength_class_off(length, control_point):
    engine = Engine(masterkey.MasterKey.generate(), policy=Policy(frozenset({control_point})))
    with raises_ckr(code(Rule.STRENGTH_CLASS_NEW_KEY)) as raised:
        generate_secret(engine, length, usage(CKA.DERIVE))
    assert control_point.name in str(raised.value)
    for other_length, other_point in SECRET_CLASSES:
        if other_point is not control_point:
            generate_secret(engine, other_length, usage(CKA.DERIVE))


def test_default_allows_every_class(ep11):
    for length, _ in SECRET_CLASSES:
        assert generate_secret(ep11, length, usage(CKA.DERIVE)).attributes[CKA.VALUE_LEN] == length
    pair = generate_rsa(ep11, 512)
    signature = ep11.sign_single(Mechanism(CKM.SHA256_RSA_PKCS), pair.private_blob, TEXT)
    ep11.verify_single(Mechanism(CKM.SHA256_RSA_PKCS), pair.public_blob, TEXT, signature)


# --- control points off: fixtures

GUARDED_POLICY = {
    "control_points": {
        "KEYSZ_HMAC_ANY": False,
        "XCP_CPB_KEYSZ_BELOW80BIT": False,
        "USER_SET_TRUSTED": False,
        "42": False,
        "WRAP_STRONGER_KEY": False,
        "WRAP_WITH_RAW_SPKI": False,
    }
}
BOUND_ONLY_POLICY = {"control_points": {"NON_ATTRBOUND": False}}


def _state(tmp_path_factory, name, document):
    directory = tmp_path_factory.mktemp(name)
    (directory / "policy.json").write_text(json.dumps(document))
    masterkey.load_or_create(str(directory))
    return directory


def _backend(request, state, server_fixture):
    if request.param == "engine":
        key = masterkey.load(masterkey.key_file_path(str(state)))
        return Engine(key, policy=policy_for_state_dir(str(state)))
    server = request.getfixturevalue(server_fixture)
    channel = grpc.insecure_channel(server.address)
    request.addfinalizer(channel.close)
    return RemoteEngine(channel)


def _server(state):
    server = EmulatorServer(str(state), port=0, tls_port=0, http_port=0)
    server.start()
    return server


@pytest.fixture(scope="module")
def guarded_state(tmp_path_factory):
    return _state(tmp_path_factory, "guarded-state", GUARDED_POLICY)


@pytest.fixture(scope="module")
def guarded_server(guarded_state):
    server = _server(guarded_state)
    yield server
    server.stop(grace=None)


@pytest.fixture(scope="module", params=("engine", "grpc"))
def guarded(request, guarded_state):
    """The ``Engine`` interface under GUARDED_POLICY: in-process, or over gRPC."""
    return _backend(request, guarded_state, "guarded_server")


@pytest.fixture(scope="module")
def lax(guarded_state) -> Engine:
    """The default policy on the guarded master key, for keys that the guarded one rejects."""
    return Engine(masterkey.load(masterkey.key_file_path(str(guarded_state))))


@pytest.fixture(scope="module")
def bound_only_state(tmp_path_factory):
    return _state(tmp_path_factory, "bound-only-state", BOUND_ONLY_POLICY)


@pytest.fixture(scope="module")
def bound_only_server(bound_only_state):
    server = _server(bound_only_state)
    yield server
    server.stop(grace=None)


@pytest.fixture(scope="module", params=("engine", "grpc"))
def bound_only(request, bound_only_state):
    """The ``Engine`` interface under BOUND_ONLY_POLICY: in-process, or over gRPC."""
    return _backend(request, bound_only_state, "bound_only_server")


def test_servers_read_policies(guarded_server, bound_only_server):
    assert guarded_server.policy.off == {
        ControlPoint.KEYSZ_HMAC_ANY,
        ControlPoint.KEYSZ_BELOW80BIT,
        ControlPoint.USER_SET_TRUSTED,
        ControlPoint.USER_SET_ATTRBOUND,
        ControlPoint.WRAP_STRONGER_KEY,
        ControlPoint.WRAP_WITH_RAW_SPKI,
    }
    assert bound_only_server.policy.off == {ControlPoint.NON_ATTRBOUND}


def test_parse_new_control_points():
    policy = parse_policy(
        {
            "control_points": {
                "16": False,
                "xcp_cpb_keysz_80bit": False,
                "KEYSZ_112BIT": False,
                "26": False,
                "KEYSZ_192BIT": False,
                "XCP_CPB_KEYSZ_256BIT": False,
                "37": False,
                "USER_SET_ATTRBOUND": False,
                "44": False,
                "45": False,
            }
        }
    )
    assert [point.value for point in sorted(policy.off)] == [16, 24, 25, 26, 27, 28, 37, 42, 44, 45]


# --- key strength classes (23 off)


def test_weak_keys_rejected_at_creation(guarded):
    with raises_ckr(code(Rule.STRENGTH_CLASS_NEW_KEY)) as raised:
        generate_rsa(guarded, 512)
    assert "KEYSZ_BELOW80BIT" in str(raised.value)
    with raises_ckr(code(Rule.STRENGTH_CLASS_NEW_KEY)):
        generate_secret(guarded, 9, usage(CKA.DERIVE))
    pair = generate_rsa(guarded, 1024)
    assert pair.private_attributes[CKA.MODULUS_BITS] == 1024
    assert generate_secret(guarded, 10, usage(CKA.DERIVE)).attributes[CKA.VALUE_LEN] == 10


def test_weak_key_rejected_at_unwrap(guarded):
    kek = generate_aes(guarded, 32, usage(CKA.ENCRYPT, CKA.UNWRAP))
    with raises_ckr(code(Rule.STRENGTH_CLASS_NEW_KEY)):
        unwrap_secret(guarded, kek, CKK.GENERIC_SECRET, bytes(8), usage(CKA.DERIVE))
    key = unwrap_secret(guarded, kek, CKK.GENERIC_SECRET, bytes(10), usage(CKA.DERIVE))
    assert key.attributes[CKA.VALUE_LEN] == 10


def test_weak_key_rejected_in_use(guarded, lax):
    pair = generate_rsa(lax, 512)
    with raises_ckr(code(Rule.STRENGTH_CLASS_IN_USE)):
        guarded.sign_single(Mechanism(CKM.SHA256_RSA_PKCS), pair.private_blob, TEXT)
    # Public-key operations stay allowed, as ep11.h notes for the class below 80 bits.
    signature = lax.sign_single(Mechanism(CKM.SHA256_RSA_PKCS), pair.private_blob, TEXT)
    guarded.verify_single(Mechanism(CKM.SHA256_RSA_PKCS), pair.public_blob, TEXT, signature)


# --- HMAC key size at creation (22 off)


def test_short_hmac_key_rejected_at_creation(guarded):
    with raises_ckr(code(Rule.HMAC_KEY_SIZE_NEW_KEY)) as raised:
        generate_secret(guarded, 9, usage(CKA.SIGN, CKA.VERIFY))
    assert "KEYSZ_HMAC_ANY" in str(raised.value)
    key = generate_secret(guarded, 10, usage(CKA.SIGN, CKA.VERIFY))
    mac = guarded.sign_single(Mechanism(CKM.SHA_1_HMAC), key.blob, TEXT)
    guarded.verify_single(Mechanism(CKM.SHA_1_HMAC), key.blob, TEXT, mac)
    # The use-time rule still applies: SHA-256 needs 16 bytes.
    with raises_ckr(code(Rule.HMAC_KEY_SIZE)):
        guarded.sign_single(Mechanism(CKM.SHA256_HMAC), key.blob, TEXT)


def test_hmac_key_type_needs_half_digest(guarded):
    kek = generate_aes(guarded, 32, usage(CKA.ENCRYPT, CKA.UNWRAP))
    with raises_ckr(code(Rule.HMAC_KEY_SIZE_NEW_KEY)):
        unwrap_secret(guarded, kek, CKK.SHA256_HMAC, bytes(15), usage(CKA.SIGN, CKA.VERIFY))
    key = unwrap_secret(guarded, kek, CKK.SHA256_HMAC, bytes(16), usage(CKA.SIGN, CKA.VERIFY))
    assert key.attributes[CKA.KEY_TYPE] == CKK.SHA256_HMAC


def test_short_secret_without_sign_is_no_hmac_key(guarded):
    # A 9-byte key that cannot sign or verify is no HMAC key, so only its strength class (below
    # 80 bits) rejects it.
    with raises_ckr(code(Rule.STRENGTH_CLASS_NEW_KEY)) as raised:
        generate_secret(guarded, 9, usage(CKA.DERIVE))
    assert "KEYSZ_HMAC_ANY" not in str(raised.value)


# --- TRUSTED (37 off) and ATTRBOUND on public keys (42 off)


def test_default_allows_trusted(ep11):
    key = generate_aes(ep11, 16, {CKA.TRUSTED: True})
    assert ep11.get_attribute_value(key.blob, [CKA.TRUSTED]) == {CKA.TRUSTED: True}


def test_user_set_trusted_off(guarded, lax):
    with raises_ckr(code(Rule.USER_SET_TRUSTED)) as raised:
        generate_aes(guarded, 16, {CKA.TRUSTED: True})
    assert "USER_SET_TRUSTED" in str(raised.value)
    with raises_ckr(code(Rule.USER_SET_TRUSTED)):
        generate_rsa(guarded, 1024, public={CKA.TRUSTED: True})
    # A key that is already trusted may still change, and may lose the attribute.
    trusted = generate_aes(lax, 16, {CKA.TRUSTED: True})
    changed = guarded.set_attribute_value(trusted.blob, {CKA.SIGN: False})
    assert guarded.get_attribute_value(changed, [CKA.TRUSTED]) == {CKA.TRUSTED: True}
    cleared = guarded.set_attribute_value(trusted.blob, {CKA.TRUSTED: False})
    assert guarded.get_attribute_value(cleared, [CKA.TRUSTED]) == {CKA.TRUSTED: False}


def test_user_set_attrbound_off(guarded):
    with raises_ckr(code(Rule.USER_SET_ATTRBOUND)) as raised:
        generate_rsa(guarded, 1024, public={CKA.IBM_ATTRBOUND: True})
    assert "USER_SET_ATTRBOUND" in str(raised.value)
    pair = generate_rsa(guarded, 1024, private={CKA.IBM_ATTRBOUND: True})
    assert pair.private_attributes[CKA.IBM_ATTRBOUND] is True
    key = generate_aes(guarded, 16, {CKA.IBM_ATTRBOUND: True})
    assert key.attributes[CKA.IBM_ATTRBOUND] is True
    with raises_ckr(code(Rule.USER_SET_ATTRBOUND)):
        guarded.unwrap_key(
            Mechanism(CKM.IBM_TRANSPORTKEY),
            spki_of(pair.public_blob),
            key.blob,
            {CKA.VERIFY: True, CKA.IBM_ATTRBOUND: True},
        )


# --- wrapping a stronger key (44 off)


def test_default_wraps_stronger_key(ep11):
    kek = generate_aes(ep11, 16, usage(CKA.WRAP, CKA.UNWRAP))
    key = generate_aes(ep11, 32, {CKA.EXTRACTABLE: True})
    wrapped = ep11.wrap_key(CBC_PAD, key.blob, kek.blob)
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES}
    unwrapped = ep11.unwrap_key(CBC_PAD, wrapped, kek.blob, template)
    assert unwrapped.checksum[:3] == key.checksum[:3]


def test_wrap_stronger_key_off(guarded, lax):
    weak_kek = generate_aes(guarded, 16, usage(CKA.WRAP, CKA.UNWRAP))
    strong_kek = generate_aes(guarded, 32, usage(CKA.WRAP, CKA.UNWRAP))
    key = generate_aes(guarded, 32, usage(CKA.ENCRYPT, CKA.DECRYPT), {CKA.EXTRACTABLE: True})
    with raises_ckr(code(Rule.WRAP_STRONGER_KEY)) as raised:
        guarded.wrap_key(CBC_PAD, key.blob, weak_kek.blob)
    assert "WRAP_STRONGER_KEY" in str(raised.value)
    wrapped = guarded.wrap_key(CBC_PAD, key.blob, strong_kek.blob)
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES}
    assert guarded.unwrap_key(CBC_PAD, wrapped, strong_kek.blob, template).checksum[:3] == (
        key.checksum[:3]
    )
    # An AES-256 key that arrives under an AES-128 key was wrapped by a weaker key.
    weakly_wrapped = lax.wrap_key(CBC_PAD, key.blob, weak_kek.blob)
    with raises_ckr(code(Rule.UNWRAP_STRONGER_KEY)):
        guarded.unwrap_key(CBC_PAD, weakly_wrapped, weak_kek.blob, template)


def test_wrap_stronger_key_with_rsa(guarded):
    pair = generate_rsa(guarded, 1024, usage(CKA.WRAP), usage(CKA.UNWRAP))
    key = generate_aes(guarded, 16, usage(CKA.ENCRYPT, CKA.DECRYPT), {CKA.EXTRACTABLE: True})
    with raises_ckr(code(Rule.WRAP_STRONGER_KEY)):
        guarded.wrap_key(Mechanism(CKM.RSA_PKCS), key.blob, pair.public_blob)


def test_wrap_stronger_key_attribute_bound(guarded):
    bound = {CKA.IBM_ATTRBOUND: True}
    mac_key = generate_secret(guarded, 32, bound)
    kek = generate_aes(guarded, 16, usage(CKA.WRAP, CKA.UNWRAP), bound)
    key = generate_aes(guarded, 32, usage(CKA.ENCRYPT, CKA.DECRYPT), bound, {CKA.EXTRACTABLE: True})
    mechanism = Mechanism(CKM.IBM_ATTRIBUTEBOUND_WRAP)
    with raises_ckr(code(Rule.WRAP_STRONGER_KEY)):
        guarded.wrap_key(mechanism, key.blob, kek.blob, mac_key.blob)


# --- wrapping with a plain SPKI (45 off)


def test_default_wraps_with_plain_spki(ep11):
    pair = generate_rsa(ep11, 1024, usage(CKA.WRAP), usage(CKA.UNWRAP))
    key = generate_aes(ep11, 16, usage(CKA.ENCRYPT, CKA.DECRYPT), {CKA.EXTRACTABLE: True})
    wrapped = ep11.wrap_key(Mechanism(CKM.RSA_PKCS), key.blob, spki_of(pair.public_blob))
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES}
    unwrapped = ep11.unwrap_key(Mechanism(CKM.RSA_PKCS), wrapped, pair.private_blob, template)
    assert unwrapped.checksum[:3] == key.checksum[:3]


def test_wrap_with_raw_spki_off(guarded):
    pair = generate_rsa(guarded, 2048, usage(CKA.WRAP), usage(CKA.UNWRAP))
    # Three-key triple DES has the strength of RSA-2048 (112 bits), so rule 44 allows it.
    key = guarded.generate_key(
        Mechanism(CKM.DES3_KEY_GEN), {**usage(CKA.ENCRYPT, CKA.DECRYPT), CKA.EXTRACTABLE: True}
    )
    with raises_ckr(code(Rule.WRAP_WITH_RAW_SPKI)) as raised:
        guarded.wrap_key(Mechanism(CKM.RSA_PKCS), key.blob, spki_of(pair.public_blob))
    assert "WRAP_WITH_RAW_SPKI" in str(raised.value)
    wrapped = guarded.wrap_key(Mechanism(CKM.RSA_PKCS), key.blob, pair.public_blob)
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.DES3}
    unwrapped = guarded.unwrap_key(Mechanism(CKM.RSA_PKCS), wrapped, pair.private_blob, template)
    assert unwrapped.checksum[:3] == key.checksum[:3]


# --- wrapping that is not attribute-bound (16 off)


def test_non_attrbound_off(bound_only):
    kek = generate_aes(bound_only, 32, usage(CKA.WRAP, CKA.UNWRAP))
    key = generate_aes(bound_only, 16, usage(CKA.ENCRYPT, CKA.DECRYPT), {CKA.EXTRACTABLE: True})
    with raises_ckr(code(Rule.NON_ATTRBOUND_WRAP)) as raised:
        bound_only.wrap_key(CBC_PAD, key.blob, kek.blob)
    assert "NON_ATTRBOUND" in str(raised.value)
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES}
    with raises_ckr(code(Rule.NON_ATTRBOUND_WRAP)):
        bound_only.unwrap_key(CBC_PAD, bytes(32), kek.blob, template)
    # The mechanism still encrypts and stays in the list.
    ciphertext = bound_only.encrypt_single(CBC_PAD, key.blob, TEXT)
    assert bound_only.decrypt_single(CBC_PAD, key.blob, ciphertext) == TEXT
    assert CKM.AES_CBC_PAD in bound_only.get_mechanism_list()


def test_attribute_bound_wrap_allowed(bound_only):
    bound = {CKA.IBM_ATTRBOUND: True}
    mac_key = generate_secret(bound_only, 32, bound)
    kek = generate_aes(bound_only, 32, usage(CKA.WRAP, CKA.UNWRAP), bound)
    key = generate_aes(
        bound_only, 32, usage(CKA.ENCRYPT, CKA.DECRYPT), bound, {CKA.EXTRACTABLE: True}
    )
    mechanism = Mechanism(CKM.IBM_ATTRIBUTEBOUND_WRAP)
    wrapped = bound_only.wrap_key(mechanism, key.blob, kek.blob, mac_key.blob)
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES}
    unwrapped = bound_only.unwrap_key(mechanism, wrapped, kek.blob, template, mac_key.blob)
    assert unwrapped.checksum[:3] == key.checksum[:3]


def test_transport_key_import_allowed(bound_only):
    pair = generate_rsa(bound_only, 1024)
    kek = generate_aes(bound_only, 16)
    imported = bound_only.unwrap_key(
        Mechanism(CKM.IBM_TRANSPORTKEY), spki_of(pair.public_blob), kek.blob, {CKA.VERIFY: True}
    )
    assert imported.attributes[CKA.VERIFY] is True


# --- attributes that the key type does not take


FOREIGN_SECRET_ATTRIBUTES = [
    {CKA.EC_PARAMS: P256},
    {CKA.MODULUS_BITS: 2048},
    {CKA.PUBLIC_EXPONENT: 65537},
    {CKA.IBM_PQC_PARAMS: encode_oid("1.3.6.1.4.1.2.267.1.6.5")},
    {CKA.IBM_PARAMETER_SET: 2},
    {CKA.PRIME_BITS: 2048},
]


def attribute_id(template: dict) -> str:
    return CKA(next(iter(template))).name


@pytest.mark.parametrize("extra", FOREIGN_SECRET_ATTRIBUTES, ids=attribute_id)
def test_secret_key_foreign_attribute(ep11, extra):
    with raises_ckr(code(Rule.ATTRIBUTE_NOT_OF_KEY_TYPE)):
        generate_aes(ep11, 16, extra)


def test_key_pair_foreign_attribute(ep11):
    with raises_ckr(code(Rule.ATTRIBUTE_NOT_OF_KEY_TYPE)):
        ep11.generate_key_pair(
            Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256, CKA.MODULUS_BITS: 2048}, {}
        )
    with raises_ckr(code(Rule.ATTRIBUTE_NOT_OF_KEY_TYPE)):
        ep11.generate_key_pair(
            Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256}, {CKA.VALUE_LEN: 32}
        )
    with raises_ckr(code(Rule.ATTRIBUTE_NOT_OF_KEY_TYPE)):
        generate_rsa(ep11, 1024, public={CKA.EC_PARAMS: P256})


def test_unwrap_foreign_attribute(ep11):
    kek = generate_aes(ep11, 32)
    template = {
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.KEY_TYPE: CKK.AES,
        CKA.MODULUS_BITS: 1024,
    }
    wrapped = ep11.encrypt_single(CBC_PAD, kek.blob, bytes(16))
    with raises_ckr(code(Rule.ATTRIBUTE_NOT_OF_KEY_TYPE)):
        ep11.unwrap_key(CBC_PAD, wrapped, kek.blob, template)


def test_derive_foreign_attribute(ep11):
    first = ep11.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256}, {})
    second = ep11.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256}, {})
    point = ep11.get_attribute_value(second.public_blob, [CKA.EC_POINT])[CKA.EC_POINT]
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 16}
    mechanism = Mechanism(CKM.ECDH1_DERIVE, point[2:])
    derived = ep11.derive_key(mechanism, first.private_blob, b"", template)
    assert derived.attributes[CKA.VALUE_LEN] == 16
    with raises_ckr(code(Rule.ATTRIBUTE_NOT_OF_KEY_TYPE)):
        ep11.derive_key(mechanism, first.private_blob, b"", {**template, CKA.EC_PARAMS: P256})


def test_parameter_template_foreign_attribute(ep11):
    with raises_ckr(code(Rule.ATTRIBUTE_NOT_OF_KEY_TYPE)):
        ep11.generate_key(
            Mechanism(CKM.DSA_PARAMETER_GEN), {CKA.PRIME_BITS: 2048, CKA.EC_PARAMS: P256}
        )


VALUE_FORM_ERRORS = [
    {CKA.LABEL: True},
    {CKA.ID: False},
    {CKA.START_DATE: b"2026"},
    {CKA.END_DATE: b"202601011"},
]


@pytest.mark.parametrize("extra", VALUE_FORM_ERRORS, ids=attribute_id)
def test_attribute_value_form(ep11, extra):
    with raises_ckr(code(Rule.ATTRIBUTE_VALUE_FORM)):
        generate_aes(ep11, 16, extra)


def test_empty_ec_params(ep11):
    with raises_ckr(code(Rule.ATTRIBUTE_VALUE_FORM)):
        ep11.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: b""}, {})


def test_client_template_entries_accepted(ep11):
    # The entries that GREP11 clients send and that mean nothing for the key being made.
    des3 = ep11.generate_key(
        Mechanism(CKM.DES3_KEY_GEN), {CKA.VALUE_LEN: 32, CKA.TOKEN: True, CKA.LABEL: b"des3"}
    )
    assert des3.attributes[CKA.VALUE_LEN] == 24
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {
            CKA.CLASS: CKO.PUBLIC_KEY,
            CKA.KEY_TYPE: CKK.EC,
            CKA.EC_PARAMS: P256,
            CKA.PRIVATE: True,
            CKA.SENSITIVE: True,
            CKA.START_DATE: b"20260101",
            CKA.END_DATE: b"",
        },
        {CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.EC, CKA.PRIVATE: True, CKA.SENSITIVE: True},
    )
    assert pair.public_attributes[CKA.EC_PARAMS] == P256
    label = generate_aes(ep11, 16, {CKA.LABEL: 0x6B6579})
    assert ep11.get_attribute_value(label.blob, [CKA.LABEL]) == {CKA.LABEL: b"key"}


def test_table_rows_for_pqc_key_types():
    assert KEY_TYPE_ATTRIBUTES[CKK.IBM_PQC_DILITHIUM] == {CKA.IBM_PQC_PARAMS}
    assert KEY_TYPE_ATTRIBUTES[CKK.IBM_PQC_KYBER] == {CKA.IBM_PQC_PARAMS}
    assert KEY_TYPE_ATTRIBUTES[CKK.IBM_ML_DSA] == {CKA.IBM_PARAMETER_SET}
    assert KEY_TYPE_ATTRIBUTES[CKK.IBM_ML_KEM] == {CKA.IBM_PARAMETER_SET}
    check_template({CKA.IBM_PARAMETER_SET: 2}, CKO.PUBLIC_KEY, CKK.IBM_ML_DSA)
    with pytest.raises(PKCS11Error) as raised:
        check_template({CKA.IBM_PQC_PARAMS: b"\x06\x01\x00"}, CKO.PUBLIC_KEY, CKK.IBM_ML_KEM)
    assert raised.value.code == CKR.TEMPLATE_INCONSISTENT
    assert "CKA_IBM_PQC_PARAMS" in str(raised.value)
