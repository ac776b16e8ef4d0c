"""The domain policy: every rule and its CKR code, the control points, and policy files.

Rules that hold under every policy run on the ``ep11`` backends (the in-process engine and the
session server over gRPC, both on the default policy). Rules behind a control point run on
``strict``: an in-process engine and a server of their own, both on ``STRICT_POLICY``.
"""

import json
import subprocess
import sys

import grpc
import pytest
from conftest import raises_ckr, subprocess_environment
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ep11core import Engine, masterkey
from ep11core.constants import CKA, CKK, CKM, CKR
from ep11core.mechanisms import MECHANISM_ROWS
from ep11core.policy import (
    CONTROL_POINTS_OF_MECHANISM,
    DEFAULT_POLICY,
    RULES,
    ControlPoint,
    PolicyError,
    Rule,
    load_policy,
    parse_policy,
    policy_for_state_dir,
)
from ep11core.types import Mechanism
from grpc_server.client import RemoteEngine
from grpc_server.server import EmulatorServer

P256 = bytes.fromhex("06082a8648ce3d030107")
SECP256K1 = bytes.fromhex("06052b8104000a")
USAGE_FLAGS = (CKA.ENCRYPT, CKA.DECRYPT, CKA.SIGN, CKA.VERIFY, CKA.WRAP, CKA.UNWRAP, CKA.DERIVE)
TEXT = b"policy test data"
IV = bytes(16)
CBC_PAD = Mechanism(CKM.AES_CBC_PAD, IV)
RSA_BITS = 1024


def usage(*allowed) -> dict:
    """Return a template with every usage flag FALSE except ``allowed``."""
    return {flag: flag in allowed for flag in USAGE_FLAGS}


def code(rule: Rule) -> int:
    return RULES[rule].code


def generate_rsa(hsm, exponent=65537, public=None, private=None):
    return hsm.generate_key_pair(
        Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN),
        {CKA.MODULUS_BITS: RSA_BITS, CKA.PUBLIC_EXPONENT: exponent, **(public or {})},
        dict(private or {}),
    )


def generate_ec(hsm, params=P256, public=None, private=None):
    return hsm.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: params, **(public or {})}, dict(private or {})
    )


# --- the rule table


def test_every_rule_has_a_code():
    for rule in Rule:
        assert rule in RULES, f"{rule} has no entry in RULES"
        assert RULES[rule].code in set(CKR), f"{rule} has no CKR code"


def test_rule_codes():
    expected = {
        Rule.MECHANISM_DISABLED: CKR.MECHANISM_INVALID,
        Rule.FORBIDDEN_USAGE: CKR.TEMPLATE_INCONSISTENT,
        Rule.PRIVATE_TEMPLATE_ATTRIBUTE: CKR.TEMPLATE_INCONSISTENT,
        Rule.MIXED_USAGE_NEW_KEY: CKR.TEMPLATE_INCONSISTENT,
        Rule.MIXED_USAGE_IN_USE: CKR.KEY_FUNCTION_NOT_PERMITTED,
        Rule.HMAC_KEY_SIZE: CKR.KEY_SIZE_RANGE,
        Rule.RSA_EXPONENT_BELOW_65537: CKR.ATTRIBUTE_VALUE_INVALID,
        Rule.CURVE_DISABLED: CKR.CURVE_NOT_SUPPORTED,
        Rule.MODIFY_OBJECTS: CKR.ACTION_PROHIBITED,
        Rule.RSA_PUBLIC_EXPONENT: CKR.ATTRIBUTE_VALUE_INVALID,
        Rule.RSA_MODULUS_SIZE: CKR.KEY_SIZE_RANGE,
        Rule.SINGLE_PART_UPDATE: CKR.MECHANISM_INVALID,
        Rule.ONE_WAY_ATTRIBUTE: CKR.ATTRIBUTE_READ_ONLY,
        Rule.HMAC_KEY_SIZE_NEW_KEY: CKR.KEY_SIZE_RANGE,
        Rule.STRENGTH_CLASS_NEW_KEY: CKR.KEY_SIZE_RANGE,
        Rule.STRENGTH_CLASS_IN_USE: CKR.KEY_SIZE_RANGE,
        Rule.NON_ATTRBOUND_WRAP: CKR.MECHANISM_INVALID,
        Rule.USER_SET_TRUSTED: CKR.ATTRIBUTE_READ_ONLY,
        Rule.USER_SET_ATTRBOUND: CKR.ATTRIBUTE_READ_ONLY,
        Rule.WRAP_STRONGER_KEY: CKR.WRAPPING_KEY_SIZE_RANGE,
        Rule.UNWRAP_STRONGER_KEY: CKR.UNWRAPPING_KEY_SIZE_RANGE,
        Rule.WRAP_WITH_RAW_SPKI: CKR.KEY_FUNCTION_NOT_PERMITTED,
        Rule.ATTRIBUTE_NOT_OF_KEY_TYPE: CKR.TEMPLATE_INCONSISTENT,
        Rule.ATTRIBUTE_VALUE_FORM: CKR.ATTRIBUTE_VALUE_INVALID,
    }
    assert {rule: spec.code for rule, spec in RULES.items()} == expected


def test_control_points_of_rsa_pkcs():
    assert CONTROL_POINTS_OF_MECHANISM[CKM.RSA_PKCS] == {
        ControlPoint.SIGN_ASYMM,
        ControlPoint.DECRYPT_ASYMM,
        ControlPoint.WRAP_ASYMM,
        ControlPoint.UNWRAP_ASYMM,
        ControlPoint.ALG_RSA,
        ControlPoint.ALG_NBSI2017,
        ControlPoint.ALG_NFIPS2021,
        ControlPoint.ALG_NFIPS2024,
    }


def test_digests_have_no_control_point():
    for mechanism in (CKM.SHA_1, CKM.SHA256, CKM.SHA512):
        assert mechanism not in CONTROL_POINTS_OF_MECHANISM


# --- rules under every policy, on every backend


@pytest.mark.parametrize("template", ["public", "private"])
@pytest.mark.parametrize("flag", [CKA.ENCRYPT, CKA.DECRYPT, CKA.WRAP, CKA.UNWRAP])
def test_ec_key_forbidden_flag(ep11, template, flag):
    with raises_ckr(code(Rule.FORBIDDEN_USAGE)):
        generate_ec(ep11, **{template: {flag: True}})


@pytest.mark.parametrize("template", ["public", "private"])
def test_rsa_key_derive_forbidden(ep11, template):
    with raises_ckr(code(Rule.FORBIDDEN_USAGE)):
        generate_rsa(ep11, **{template: {CKA.DERIVE: True}})


def test_rsa_exponent_in_private_template(ep11):
    with raises_ckr(code(Rule.PRIVATE_TEMPLATE_ATTRIBUTE)):
        generate_rsa(ep11, private={CKA.PUBLIC_EXPONENT: 65537})


def test_ec_params_in_private_template(ep11):
    with raises_ckr(code(Rule.PRIVATE_TEMPLATE_ATTRIBUTE)):
        generate_ec(ep11, private={CKA.EC_PARAMS: P256})


def test_ec_key_defaults(ep11):
    pair = generate_ec(ep11)
    for flag in (CKA.ENCRYPT, CKA.WRAP):
        assert pair.public_attributes[flag] is False, CKA(flag).name
    assert pair.public_attributes[CKA.VERIFY] is True
    for flag in (CKA.DECRYPT, CKA.UNWRAP):
        assert pair.private_attributes[flag] is False, CKA(flag).name
    assert pair.private_attributes[CKA.SIGN] is True
    assert pair.private_attributes[CKA.DERIVE] is True
    read = ep11.get_attribute_value(pair.private_blob, [CKA.DECRYPT, CKA.SIGN])
    assert read == {CKA.DECRYPT: False, CKA.SIGN: True}


def test_rsa_key_defaults(ep11):
    pair = generate_rsa(ep11)
    assert pair.private_attributes[CKA.DERIVE] is False
    assert pair.public_attributes[CKA.DERIVE] is False
    assert pair.private_attributes[CKA.DECRYPT] is True
    assert pair.public_attributes[CKA.ENCRYPT] is True


def test_set_forbidden_flag_on_ec_key(ep11):
    pair = generate_ec(ep11)
    with raises_ckr(code(Rule.FORBIDDEN_USAGE)):
        ep11.set_attribute_value(pair.private_blob, {CKA.DECRYPT: True})
    with raises_ckr(code(Rule.FORBIDDEN_USAGE)):
        ep11.set_attribute_value(pair.public_blob, {CKA.ENCRYPT: True})


def test_import_ec_public_with_encrypt(ep11, import_public):
    private_key = ec.generate_private_key(ec.SECP256R1())
    spki = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert import_public(ep11, spki).attributes[CKA.ENCRYPT] is False
    with raises_ckr(code(Rule.FORBIDDEN_USAGE)):
        import_public(ep11, spki, {CKA.ENCRYPT: True})


def test_unwrap_ec_private_with_decrypt(ep11, import_private):
    private_key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert import_private(ep11, pkcs8, CKK.EC).attributes[CKA.DECRYPT] is False
    with raises_ckr(code(Rule.FORBIDDEN_USAGE)):
        import_private(ep11, pkcs8, CKK.EC, {CKA.DECRYPT: True})


def test_rsa_exponent_rule(ep11):
    with raises_ckr(code(Rule.RSA_PUBLIC_EXPONENT)):
        generate_rsa(ep11, exponent=3)


def test_rsa_modulus_rule(ep11):
    with raises_ckr(code(Rule.RSA_MODULUS_SIZE)):
        ep11.generate_key_pair(
            Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), {CKA.MODULUS_BITS: 1000}, {}
        )


def test_single_part_update_rule(ep11):
    pair = generate_rsa(ep11)
    state = ep11.encrypt_init(Mechanism(CKM.RSA_PKCS), pair.public_blob)
    with raises_ckr(code(Rule.SINGLE_PART_UPDATE)):
        ep11.encrypt_update(state, TEXT)


def test_one_way_attribute_rule(ep11):
    key = ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16})
    with raises_ckr(code(Rule.ONE_WAY_ATTRIBUTE)):
        ep11.set_attribute_value(key.blob, {CKA.EXTRACTABLE: True})


# --- what the default policy allows


def test_default_list_is_whole_table(ep11):
    assert ep11.get_mechanism_list() == [int(row.mechanism) for row in MECHANISM_ROWS]


def test_default_allows_mixed_usage(ep11):
    key = ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32})
    assert all(key.attributes[flag] for flag in (CKA.ENCRYPT, CKA.SIGN, CKA.WRAP))
    ciphertext = ep11.encrypt_single(CBC_PAD, key.blob, TEXT)
    assert ep11.decrypt_single(CBC_PAD, key.blob, ciphertext) == TEXT
    mac = ep11.sign_single(Mechanism(CKM.SHA256_HMAC), key.blob, TEXT)
    ep11.verify_single(Mechanism(CKM.SHA256_HMAC), key.blob, TEXT, mac)


def test_default_allows_short_hmac_key(ep11, import_secret):
    key = import_secret(ep11, CKK.GENERIC_SECRET, b"Jefe")
    mac = ep11.sign_single(Mechanism(CKM.SHA512_HMAC), key.blob, TEXT)
    assert len(mac) == 64


def test_default_allows_exponent_17(ep11):
    pair = generate_rsa(ep11, exponent=17)
    assert pair.public_attributes[CKA.PUBLIC_EXPONENT] == bytes([17])


# --- rules behind control points, on a strict policy

STRICT_POLICY = {
    "control_points": {
        "KEYSZ_HMAC_ANY": False,
        "XCP_CPB_KEYSZ_RSA65536": False,
        "WRAP_CRYPT_KEYS": False,
        "SIGN_CRYPT_KEYS": False,
        "41": False,
        "MODIFY_OBJECTS": False,
        "ALG_EC_SECGCRV": False,
        "ALG_RSA_OAEP": False,
        "ALG_EC": True,
    },
    "disabled_mechanisms": ["CKM_SHA224_HMAC"],
}


@pytest.fixture(scope="module")
def strict_state(tmp_path_factory):
    """A state folder whose policy.json is STRICT_POLICY."""
    directory = tmp_path_factory.mktemp("strict-state")
    (directory / "policy.json").write_text(json.dumps(STRICT_POLICY))
    masterkey.load_or_create(str(directory))
    return directory


@pytest.fixture(scope="module")
def strict_server(strict_state):
    server = EmulatorServer(str(strict_state), port=0, tls_port=0, http_port=0)
    server.start()
    yield server
    server.stop(grace=None)


@pytest.fixture(scope="module", params=("engine", "grpc"))
def strict(request, strict_state):
    """The ``Engine`` interface under STRICT_POLICY: in-process, or over gRPC."""
    if request.param == "engine":
        key = masterkey.load(masterkey.key_file_path(str(strict_state)))
        return Engine(key, policy=policy_for_state_dir(str(strict_state)))
    server = request.getfixturevalue("strict_server")
    channel = grpc.insecure_channel(server.address)
    request.addfinalizer(channel.close)
    return RemoteEngine(channel)


@pytest.fixture(scope="module")
def lax(strict_state) -> Engine:
    """The default policy on the strict master key: it makes keys that the strict one rejects."""
    return Engine(masterkey.load(masterkey.key_file_path(str(strict_state))))


def test_server_reads_state_dir_policy(strict_server):
    assert strict_server.policy.off == {
        ControlPoint.KEYSZ_HMAC_ANY,
        ControlPoint.KEYSZ_RSA65536,
        ControlPoint.WRAP_CRYPT_KEYS,
        ControlPoint.SIGN_CRYPT_KEYS,
        ControlPoint.WRAP_SIGN_KEYS,
        ControlPoint.MODIFY_OBJECTS,
        ControlPoint.ALG_EC_SECGCRV,
        ControlPoint.ALG_RSA_OAEP,
    }


def test_disabled_mechanisms_left_out(strict):
    mechanisms = strict.get_mechanism_list()
    assert CKM.RSA_PKCS_OAEP not in mechanisms
    assert CKM.SHA224_HMAC not in mechanisms
    assert CKM.SHA256_HMAC in mechanisms
    assert CKM.RSA_PKCS in mechanisms


@pytest.mark.parametrize("mechanism", [CKM.RSA_PKCS_OAEP, CKM.SHA224_HMAC])
def test_disabled_mechanism_info(strict, mechanism):
    with raises_ckr(code(Rule.MECHANISM_DISABLED)) as raised:
        strict.get_mechanism_info(mechanism)
    assert f"mechanism CKM_{mechanism.name} ({mechanism:#x}) is disabled by" in str(raised.value)


def test_disabled_mechanism_call(strict):
    key = strict.generate_key(
        Mechanism(CKM.GENERIC_SECRET_KEY_GEN),
        {CKA.VALUE_LEN: 32, **usage(CKA.SIGN, CKA.VERIFY)},
    )
    with raises_ckr(code(Rule.MECHANISM_DISABLED)):
        strict.sign_single(Mechanism(CKM.SHA224_HMAC), key.blob, TEXT)
    pair = generate_rsa(strict, public=usage(CKA.ENCRYPT), private=usage(CKA.DECRYPT))
    with raises_ckr(code(Rule.MECHANISM_DISABLED)) as raised:
        strict.encrypt_single(Mechanism(CKM.RSA_PKCS_OAEP), pair.public_blob, TEXT)
    message = str(raised.value)
    assert "CKM_RSA_PKCS_OAEP (0x9) is disabled by control point 74 (ALG_RSA_OAEP)" in message


MIXED_TEMPLATES = {
    "encrypt and wrap": usage(CKA.ENCRYPT, CKA.DECRYPT, CKA.WRAP),
    "sign and encrypt": usage(CKA.SIGN, CKA.ENCRYPT),
    "wrap and verify": usage(CKA.UNWRAP, CKA.VERIFY),
    "omitted flags": {},
}


@pytest.mark.parametrize("name", sorted(MIXED_TEMPLATES))
def test_mixed_usage_new_key(strict, name):
    template = {CKA.VALUE_LEN: 16, **MIXED_TEMPLATES[name]}
    with raises_ckr(code(Rule.MIXED_USAGE_NEW_KEY)):
        strict.generate_key(Mechanism(CKM.AES_KEY_GEN), template)


def test_single_usage_keys_allowed(strict):
    for allowed in ((CKA.ENCRYPT, CKA.DECRYPT), (CKA.WRAP, CKA.UNWRAP), (CKA.SIGN, CKA.VERIFY)):
        key = strict.generate_key(
            Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16, **usage(*allowed)}
        )
        assert key.attributes[allowed[0]] is True


def test_mixed_usage_in_use(strict, lax):
    key = lax.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16})
    with raises_ckr(code(Rule.MIXED_USAGE_IN_USE)):
        strict.encrypt_single(CBC_PAD, key.blob, TEXT)


def test_modify_objects_off(strict):
    key = strict.generate_key(
        Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16, **usage(CKA.ENCRYPT, CKA.DECRYPT)}
    )
    with raises_ckr(code(Rule.MODIFY_OBJECTS)):
        strict.set_attribute_value(key.blob, {CKA.SIGN: True})
    with raises_ckr(code(Rule.MODIFY_OBJECTS)):
        strict.set_attribute_value(key.blob, {CKA.ENCRYPT: False})


# (mechanism, key bytes, allowed): SHA-256 needs 16 bytes and SHA-512 32, never under 10.
HMAC_SIZES = [
    (CKM.SHA256_HMAC, 9, False),
    (CKM.SHA256_HMAC, 15, False),
    (CKM.SHA256_HMAC, 16, True),
    (CKM.SHA512_HMAC, 16, False),
    (CKM.SHA512_HMAC, 31, False),
    (CKM.SHA512_HMAC, 32, True),
    (CKM.SHA_1_HMAC, 9, False),
    (CKM.SHA_1_HMAC, 10, True),
]


@pytest.mark.parametrize("mechanism, length, allowed", HMAC_SIZES)
def test_hmac_key_size(strict, lax, mechanism, length, allowed):
    # The lax engine makes the key, because the strict one rejects generic secrets under 10
    # bytes at creation.
    key = lax.generate_key(
        Mechanism(CKM.GENERIC_SECRET_KEY_GEN),
        {CKA.VALUE_LEN: length, **usage(CKA.SIGN, CKA.VERIFY)},
    )
    reference = lax.sign_single(Mechanism(mechanism), key.blob, TEXT)
    if allowed:
        assert strict.sign_single(Mechanism(mechanism), key.blob, TEXT) == reference
        strict.verify_single(Mechanism(mechanism), key.blob, TEXT, reference)
        return
    with raises_ckr(code(Rule.HMAC_KEY_SIZE)):
        strict.sign_single(Mechanism(mechanism), key.blob, TEXT)
    with raises_ckr(code(Rule.HMAC_KEY_SIZE)):
        strict.verify_init(Mechanism(mechanism), key.blob)


def test_rsa_exponent_below_65537(strict):
    with raises_ckr(code(Rule.RSA_EXPONENT_BELOW_65537)):
        generate_rsa(strict, exponent=17, public=usage(CKA.VERIFY), private=usage(CKA.SIGN))
    pair = generate_rsa(strict, exponent=65537, public=usage(CKA.VERIFY), private=usage(CKA.SIGN))
    signature = strict.sign_single(Mechanism(CKM.SHA256_RSA_PKCS), pair.private_blob, TEXT)
    strict.verify_single(Mechanism(CKM.SHA256_RSA_PKCS), pair.public_blob, TEXT, signature)


def test_rsa_small_exponent_unwrap(strict, lax):
    # A public key made elsewhere with a small exponent cannot come in under the strict policy.
    private_key = rsa.generate_private_key(public_exponent=3, key_size=RSA_BITS)
    spki = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kek = lax.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16})
    with raises_ckr(code(Rule.RSA_EXPONENT_BELOW_65537)):
        strict.unwrap_key(
            Mechanism(CKM.IBM_TRANSPORTKEY), spki, kek.blob, usage(CKA.VERIFY)
        )


def test_curve_disabled(strict):
    with raises_ckr(code(Rule.CURVE_DISABLED)):
        generate_ec(strict, SECP256K1, usage(CKA.VERIFY), usage(CKA.SIGN))
    pair = generate_ec(strict, P256, usage(CKA.VERIFY), usage(CKA.SIGN))
    assert pair.public_attributes[CKA.EC_PARAMS] == P256


# --- policy files


def test_parse_names_and_numbers():
    policy = parse_policy(
        {
            "control_points": {"xcp_cpb_derive": False, "22": False, "ALG_RSA": True},
            "disabled_mechanisms": ["CKM_SHA_1", "sha256", "0x80010031", 0x250],
        }
    )
    assert policy.off == {ControlPoint.DERIVE, ControlPoint.KEYSZ_HMAC_ANY}
    assert policy.disabled_mechanisms == {CKM.SHA_1, CKM.SHA256, CKM.IBM_ECDSA_OTHER}


POLICY_ERRORS = [
    ({"control_points": {"99": False}}, "control point '99' is not applied"),
    ({"control_points": {"NO_SUCH_POINT": False}}, "is not applied by this emulator"),
    ({"control_points": {"22": "off"}}, "must be true or false"),
    ({"control_points": []}, "control_points is an object"),
    ({"disabled_mechanisms": ["CKM_NOTHING"]}, "is not a CKM name"),
    ({"disabled_mechanisms": "CKM_SHA_1"}, "is a list"),
    ({"control_point": {}}, "unknown policy members"),
    (
        {"control_points": {"77": False, "ALG_DILITHIUM": True}},
        r"names control point 77 \(ALG_DILITHIUM\) twice, as '77' and 'ALG_DILITHIUM'",
    ),
    ({"control_points": {"derive": False, "XCP_CPB_DERIVE": False}}, "names control point 47"),
    ([], "a policy file is a JSON object"),
]


@pytest.mark.parametrize("document, message", POLICY_ERRORS)
def test_parse_errors(document, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(document)


def test_policy_file_choice(tmp_path):
    assert policy_for_state_dir(str(tmp_path)) is DEFAULT_POLICY
    (tmp_path / "policy.json").write_text(json.dumps({"control_points": {"DERIVE": False}}))
    assert policy_for_state_dir(str(tmp_path)).off == {ControlPoint.DERIVE}
    explicit = tmp_path / "explicit.json"
    explicit.write_text(json.dumps({"control_points": {"BTC": False}}))
    assert policy_for_state_dir(str(tmp_path), str(explicit)).off == {ControlPoint.BTC}


def test_policy_file_not_json(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text("{")
    with pytest.raises(PolicyError, match="is not valid JSON"):
        policy_for_state_dir(str(tmp_path))


def test_disabled_mechanism_listed_twice():
    policy = parse_policy({"disabled_mechanisms": ["CKM_SHA_1", "0x220", "SHA_1"]})
    assert policy.disabled_mechanisms == {CKM.SHA_1}


def test_policy_file_duplicate_key(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text('{"control_points": {"77": false, "77": true}}')
    with pytest.raises(PolicyError, match="contains the key '77' twice"):
        load_policy(str(path))
    path.write_text('{"control_points": {}, "control_points": {"77": false}}')
    with pytest.raises(PolicyError, match="contains the key 'control_points' twice"):
        load_policy(str(path))


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"control_points": {"NO_SUCH_POINT": false}}', "NO_SUCH_POINT"),
        ('{"control_points": {"77": false, "77": true}}', "contains the key '77' twice"),
        ('{"control_points": {"77": false, "ALG_DILITHIUM": true}}', "names control point 77"),
    ],
)
def test_serve_rejects_bad_policy(tmp_path, text, message):
    bad = tmp_path / "bad-policy.json"
    bad.write_text(text)
    result = subprocess.run(
        [
            sys.executable, "-m", "grpc_server.cli", "serve",
            "--state-dir", str(tmp_path / "state"),
            "--port", "0", "--tls-port", "0", "--http-port", "0",
            "--policy", str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        # Outside the repository, so the subprocess imports the package the tests import.
        cwd=str(tmp_path),
        env=subprocess_environment(),
    )
    assert result.returncode == 2
    assert message in result.stderr
