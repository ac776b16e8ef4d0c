"""DSA and DH: domain parameters, key pairs, DSA signatures and DH derivation.

The tests run on the backends of the ``ep11`` fixture and follow the GREP11 client flows. They
generate parameters and key pairs on CKA_IBM_STRUCT_PARAMS, and sign with DSA in the ESP, PSP
and PMP forms, the multi-part one split after 8 bytes. Two DH parties derive one AES key and
exchange a message under it. DSA signatures and DH shared secrets are cross-checked with the
``cryptography`` package.
"""

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh, dsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from conftest import der_element, raises_ckr
from ep11core import _crypto
from ep11core.constants import CKA, CKK, CKM, CKO, CKR
from ep11core.der import decode_integer_sequence, encode_integer_sequence
from ep11core.types import ECDH1DeriveParams, Mechanism

# cryptography 46 and later deprecate finite-field DH, which the cross-checks here still use.
pytestmark = pytest.mark.filterwarnings("ignore:Diffie-Hellman over finite fields")

DSA_HASHES = {
    CKM.DSA_SHA1: hashes.SHA1,
    CKM.DSA_SHA224: hashes.SHA224,
    CKM.DSA_SHA256: hashes.SHA256,
    CKM.DSA_SHA384: hashes.SHA384,
    CKM.DSA_SHA512: hashes.SHA512,
}
MESSAGE = b"This data needs to be signed with DSA"
DH_OID = bytes.fromhex("06092a864886f70d010301")
HMAC_DATA = b"data authenticated with the DH secret"


def integer_bytes(value: int, length: int = 0) -> bytes:
    return value.to_bytes(max(length, (value.bit_length() + 7) // 8), "big")


@pytest.fixture(scope="module")
def dsa_parameters(ep11):
    """DSA-2048 parameters from CKM_DSA_PARAMETER_GEN, made once per backend."""
    return ep11.generate_key(Mechanism(CKM.DSA_PARAMETER_GEN), {CKA.PRIME_BITS: 2048})


@pytest.fixture(scope="module")
def dsa_pair(ep11, dsa_parameters):
    return ep11.generate_key_pair(
        Mechanism(CKM.DSA_KEY_PAIR_GEN),
        {CKA.VERIFY: True, CKA.IBM_STRUCT_PARAMS: dsa_parameters.blob},
        {CKA.SIGN: True, CKA.PRIVATE: True, CKA.SENSITIVE: True},
    )


@pytest.fixture(scope="module")
def dh_parameters(ep11):
    return ep11.generate_key(Mechanism(CKM.DH_PKCS_PARAMETER_GEN), {CKA.PRIME_BITS: 2048})


def dh_pair(ep11, parameters: bytes):
    return ep11.generate_key_pair(
        Mechanism(CKM.DH_PKCS_KEY_PAIR_GEN),
        {CKA.DERIVE: True, CKA.EXTRACTABLE: False, CKA.IBM_STRUCT_PARAMS: parameters},
        {CKA.DERIVE: True, CKA.PRIVATE: True, CKA.SENSITIVE: True},
    )


def der_content(element: bytes) -> bytes:
    """Return the content octets of one DER element."""
    header = 2 if element[1] < 0x80 else 2 + (element[1] & 0x7F)
    return element[header:]


def der_children(element: bytes) -> list:
    """Return the elements inside a DER SEQUENCE."""
    content = der_content(element)
    children = []
    while content:
        child = der_element(content)
        children.append(child)
        content = content[len(child) :]
    return children


def dh_public_value(public_blob: bytes) -> int:
    """Return y from a DH public key blob, as the clients read it from the SPKI's BIT STRING."""
    _, bit_string = der_children(der_element(public_blob))
    bits = der_content(bit_string)
    assert bits[0] == 0, "the BIT STRING has unused bits"
    integer = bits[1:]
    assert integer[0] == 0x02, "the BIT STRING does not hold a DER INTEGER"
    assert der_element(integer) == integer
    return int.from_bytes(der_content(integer), "big")


# --- domain parameters


def test_dsa_parameter_generation(dsa_parameters):
    assert dsa_parameters.checksum == b""
    p, q, g = decode_integer_sequence(dsa_parameters.blob)
    assert p.bit_length() == 2048
    assert q.bit_length() == 256
    assert (p - 1) % q == 0
    assert pow(g, q, p) == 1
    assert dsa_parameters.attributes[CKA.CLASS] == CKO.DOMAIN_PARAMETERS
    assert dsa_parameters.attributes[CKA.KEY_TYPE] == CKK.DSA
    assert dsa_parameters.attributes[CKA.PRIME_BITS] == 2048


@pytest.mark.slow
@pytest.mark.parametrize("bits, qbits", [(1024, 160), (3072, 256)])
def test_dsa_parameter_sizes(ep11, bits, qbits):
    result = ep11.generate_key(Mechanism(CKM.DSA_PARAMETER_GEN), {CKA.PRIME_BITS: bits})
    p, q, _ = decode_integer_sequence(result.blob)
    assert p.bit_length() == bits
    assert q.bit_length() == qbits


def test_dsa_parameters_with_subprime_bits(ep11):
    template = {CKA.PRIME_BITS: 1024, CKA.SUBPRIME_BITS: 160}
    result = ep11.generate_key(Mechanism(CKM.DSA_PARAMETER_GEN), template)
    p, q, _ = decode_integer_sequence(result.blob)
    assert p.bit_length() == 1024
    assert q.bit_length() == 160


@pytest.mark.parametrize(
    "template, code",
    [
        ({}, CKR.TEMPLATE_INCOMPLETE),
        ({CKA.PRIME_BITS: 1536}, CKR.ATTRIBUTE_VALUE_INVALID),
        ({CKA.PRIME_BITS: 1024, CKA.SUBPRIME_BITS: 256}, CKR.ATTRIBUTE_VALUE_INVALID),
    ],
)
def test_dsa_parameter_errors(ep11, template, code):
    with raises_ckr(code):
        ep11.generate_key(Mechanism(CKM.DSA_PARAMETER_GEN), template)


@pytest.mark.parametrize(
    "bits, group", [(2048, "ffdhe2048"), (3072, "ffdhe3072"), (4096, "ffdhe4096")]
)
def test_dh_parameter_generation(ep11, bits, group):
    result = ep11.generate_key(Mechanism(CKM.DH_PKCS_PARAMETER_GEN), {CKA.PRIME_BITS: bits})
    assert result.checksum == b""
    p, _, g = (int.from_bytes(value, "big") for value in _crypto.dh_named_group(group))
    # The PKCS #3 DHParameter {p, g} of the RFC 7919 group.
    assert result.blob == encode_integer_sequence([p, g])
    assert result.attributes[CKA.CLASS] == CKO.DOMAIN_PARAMETERS
    assert result.attributes[CKA.KEY_TYPE] == CKK.DH


@pytest.mark.parametrize("template", [{}, {CKA.PRIME_BITS: 1024}, {CKA.PRIME_BITS: 2047}])
def test_dh_parameter_errors(ep11, template):
    with raises_ckr(CKR.TEMPLATE_INCOMPLETE, CKR.ATTRIBUTE_VALUE_INVALID):
        ep11.generate_key(Mechanism(CKM.DH_PKCS_PARAMETER_GEN), template)


# --- DSA key pairs and signatures


def test_dsa_key_pair(ep11, dsa_parameters, dsa_pair):
    p, q, g = decode_integer_sequence(dsa_parameters.blob)
    public_key = serialization.load_der_public_key(der_element(dsa_pair.public_blob))
    assert isinstance(public_key, dsa.DSAPublicKey)
    numbers = public_key.public_numbers().parameter_numbers
    assert (numbers.p, numbers.q, numbers.g) == (p, q, g)
    attributes = ep11.get_attribute_value(
        dsa_pair.public_blob, [CKA.KEY_TYPE, CKA.CLASS, CKA.IBM_STRUCT_PARAMS]
    )
    assert attributes[CKA.KEY_TYPE] == CKK.DSA
    assert attributes[CKA.CLASS] == CKO.PUBLIC_KEY
    assert attributes[CKA.IBM_STRUCT_PARAMS] == dsa_parameters.blob
    private = ep11.get_attribute_value(dsa_pair.private_blob, [CKA.KEY_TYPE, CKA.SIGN])
    assert private[CKA.KEY_TYPE] == CKK.DSA


def test_dsa_sign_client_flows(ep11, dsa_pair):
    """CKM_DSA_SHA1 as the clients run it: ESP, then PSP, then PMP split after 8 bytes."""
    mechanism = Mechanism(CKM.DSA_SHA1)
    signature = ep11.sign_single(mechanism, dsa_pair.private_blob, MESSAGE)
    assert len(signature) == 64
    ep11.verify_single(mechanism, dsa_pair.public_blob, MESSAGE, signature)

    state = ep11.sign_init(mechanism, dsa_pair.private_blob)
    signature = ep11.sign(state, MESSAGE)
    state = ep11.verify_init(mechanism, dsa_pair.public_blob)
    ep11.verify(state, MESSAGE, signature)

    state = ep11.sign_init(mechanism, dsa_pair.private_blob)
    state = ep11.sign_update(state, MESSAGE[:8])
    state = ep11.sign_update(state, MESSAGE[8:])
    signature = ep11.sign_final(state)
    state = ep11.verify_init(mechanism, dsa_pair.public_blob)
    state = ep11.verify_update(state, MESSAGE[:8])
    state = ep11.verify_update(state, MESSAGE[8:])
    ep11.verify_final(state, signature)


@pytest.mark.parametrize("mechanism", sorted(DSA_HASHES), ids=lambda m: CKM(m).name)
def test_dsa_hash_sign_cross_check(ep11, dsa_pair, mechanism):
    signature = ep11.sign_single(Mechanism(mechanism), dsa_pair.private_blob, MESSAGE)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    public_key = serialization.load_der_public_key(der_element(dsa_pair.public_blob))
    public_key.verify(utils.encode_dss_signature(r, s), MESSAGE, DSA_HASHES[mechanism]())


def test_dsa_raw_sign_cross_check(ep11, dsa_pair):
    digest = hashlib.sha256(MESSAGE).digest()
    signature = ep11.sign_single(Mechanism(CKM.DSA), dsa_pair.private_blob, digest)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    public_key = serialization.load_der_public_key(der_element(dsa_pair.public_blob))
    public_key.verify(
        utils.encode_dss_signature(r, s), digest, utils.Prehashed(hashes.SHA256())
    )
    state = ep11.sign_init(Mechanism(CKM.DSA), dsa_pair.private_blob)
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.sign_update(state, digest)


@pytest.mark.parametrize("form", ["transport", "plain-spki"])
@pytest.mark.parametrize("mechanism", sorted(DSA_HASHES), ids=lambda m: CKM(m).name)
def test_dsa_verify_cross_check(ep11, import_public, mechanism, form):
    theirs = dsa.generate_private_key(2048)
    spki = theirs.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = import_public(ep11, spki).blob if form == "transport" else spki
    r, s = utils.decode_dss_signature(theirs.sign(MESSAGE, DSA_HASHES[mechanism]()))
    q_bytes = (theirs.parameters().parameter_numbers().q.bit_length() + 7) // 8
    signature = r.to_bytes(q_bytes, "big") + s.to_bytes(q_bytes, "big")
    ep11.verify_single(Mechanism(mechanism), key, MESSAGE, signature)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(Mechanism(mechanism), key, MESSAGE + b"!", signature)
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.verify_single(Mechanism(mechanism), key, MESSAGE, signature[:-1])


def test_dsa_imported_private_key(ep11, import_private):
    theirs = dsa.generate_private_key(2048)
    pkcs8 = theirs.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    imported = import_private(ep11, pkcs8, CKK.DSA, {CKA.SIGN: True})
    signature = ep11.sign_single(Mechanism(CKM.DSA_SHA256), imported.blob, MESSAGE)
    q_bytes = len(signature) // 2
    der = utils.encode_dss_signature(
        int.from_bytes(signature[:q_bytes], "big"), int.from_bytes(signature[q_bytes:], "big")
    )
    theirs.public_key().verify(der, MESSAGE, hashes.SHA256())


def test_dsa_key_pair_from_explicit_attributes(ep11, dsa_parameters):
    p, q, g = decode_integer_sequence(dsa_parameters.blob)
    pair = ep11.generate_key_pair(
        Mechanism(CKM.DSA_KEY_PAIR_GEN),
        {CKA.PRIME: integer_bytes(p), CKA.SUBPRIME: integer_bytes(q), CKA.BASE: integer_bytes(g)},
        {},
    )
    attributes = ep11.get_attribute_value(pair.public_blob, [CKA.IBM_STRUCT_PARAMS])
    assert attributes[CKA.IBM_STRUCT_PARAMS] == dsa_parameters.blob
    both = ep11.generate_key_pair(
        Mechanism(CKM.DSA_KEY_PAIR_GEN),
        {CKA.IBM_STRUCT_PARAMS: dsa_parameters.blob, CKA.PRIME: integer_bytes(p)},
        {},
    )
    assert both.public_blob


def test_dsa_key_pair_errors(ep11, dsa_parameters):
    p, q, g = decode_integer_sequence(dsa_parameters.blob)
    mechanism = Mechanism(CKM.DSA_KEY_PAIR_GEN)
    cases = [
        ({}, CKR.TEMPLATE_INCOMPLETE),
        ({CKA.PRIME: integer_bytes(p), CKA.BASE: integer_bytes(g)}, CKR.TEMPLATE_INCOMPLETE),
        ({CKA.IBM_STRUCT_PARAMS: b"\x30\x03\x02\x01"}, CKR.ATTRIBUTE_VALUE_INVALID),
        ({CKA.IBM_STRUCT_PARAMS: encode_integer_sequence([p, g])}, CKR.ATTRIBUTE_VALUE_INVALID),
        (
            {CKA.IBM_STRUCT_PARAMS: dsa_parameters.blob, CKA.BASE: integer_bytes(g + 1)},
            CKR.TEMPLATE_INCONSISTENT,
        ),
        ({CKA.IBM_STRUCT_PARAMS: encode_integer_sequence([p, q, 1])}, CKR.DOMAIN_PARAMS_INVALID),
        (
            {CKA.IBM_STRUCT_PARAMS: encode_integer_sequence([p, q, g + 1])},
            CKR.DOMAIN_PARAMS_INVALID,
        ),
        ({CKA.IBM_STRUCT_PARAMS: encode_integer_sequence([p >> 8, q, g])}, CKR.KEY_SIZE_RANGE),
    ]
    for template, code in cases:
        with raises_ckr(code):
            ep11.generate_key_pair(mechanism, template, {})


def test_dsa_signature_errors(ep11, dsa_pair):
    mechanism = Mechanism(CKM.DSA_SHA256)
    signature = ep11.sign_single(mechanism, dsa_pair.private_blob, MESSAGE)
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.verify_single(mechanism, dsa_pair.public_blob, MESSAGE, signature + b"\x00")
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(mechanism, dsa_pair.public_blob, MESSAGE, bytes(64))
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(mechanism, dsa_pair.public_blob, b"other data", signature)
    with raises_ckr(CKR.DATA_LEN_RANGE):
        ep11.sign_single(Mechanism(CKM.DSA), dsa_pair.private_blob, b"")


# --- DH key pairs and derivation


def derive_aes(ep11, private_blob: bytes, peer_y: int, length: int = 16):
    template = {
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.KEY_TYPE: CKK.AES,
        CKA.VALUE_LEN: length,
        CKA.ENCRYPT: True,
        CKA.DECRYPT: True,
    }
    return ep11.derive_key(
        Mechanism(CKM.DH_PKCS_DERIVE, integer_bytes(peer_y)), private_blob, b"", template
    )


def test_dh_public_key_form(ep11, dh_parameters):
    pair = dh_pair(ep11, dh_parameters.blob)
    # SEQUENCE { SEQUENCE { OID dhKeyAgreement, DHParameter {p, g} }, BIT STRING { INTEGER y } }
    algorithm, _ = der_children(der_element(pair.public_blob))
    oid, parameters = der_children(algorithm)
    assert oid == DH_OID
    assert parameters == dh_parameters.blob
    public_key = serialization.load_der_public_key(der_element(pair.public_blob))
    assert dh_public_value(pair.public_blob) == public_key.public_numbers().y
    attributes = ep11.get_attribute_value(pair.public_blob, [CKA.KEY_TYPE, CKA.IBM_STRUCT_PARAMS])
    assert attributes[CKA.KEY_TYPE] == CKK.DH
    assert attributes[CKA.IBM_STRUCT_PARAMS] == dh_parameters.blob


def test_dh_derive_client_flow(ep11, dh_parameters):
    """Two DH key pairs derive one AES-128 key and exchange a message under it."""
    alice = dh_pair(ep11, dh_parameters.blob)
    bob = dh_pair(ep11, dh_parameters.blob)
    alice_key = derive_aes(ep11, alice.private_blob, dh_public_value(bob.public_blob))
    bob_key = derive_aes(ep11, bob.private_blob, dh_public_value(alice.public_blob))
    assert alice_key.checksum == bob_key.checksum
    iv = ep11.generate_random(16)
    message = b"a message between the two DH parties"
    ciphertext = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), alice_key.blob, message)
    assert ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), bob_key.blob, ciphertext) == message


@pytest.mark.parametrize("group", ["ffdhe2048", "modp_2048"])
def test_dh_derive_cross_check(ep11, group):
    p, _, g = (int.from_bytes(value, "big") for value in _crypto.dh_named_group(group))
    pair = dh_pair(ep11, encode_integer_sequence([p, g]))
    theirs = dh.DHParameterNumbers(p, g).parameters().generate_private_key()
    ours_public = serialization.load_der_public_key(der_element(pair.public_blob))
    shared = theirs.exchange(ours_public)
    assert len(shared) == 256
    their_y = theirs.public_key().public_numbers().y
    # The leading bytes of the padded shared secret form the key.
    key = derive_aes(ep11, pair.private_blob, their_y, 32)
    iv = os.urandom(16)
    plaintext = os.urandom(32)
    ciphertext = ep11.encrypt_single(Mechanism(CKM.AES_CBC, iv), key.blob, plaintext)
    decryptor = Cipher(algorithms.AES(shared[:32]), modes.CBC(iv)).decryptor()
    assert decryptor.update(ciphertext) + decryptor.finalize() == plaintext
    whole = ep11.derive_key(
        Mechanism(CKM.DH_PKCS_DERIVE, integer_bytes(their_y, 256)),
        pair.private_blob,
        b"",
        {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET},
    )
    mac = ep11.sign_single(Mechanism(CKM.SHA256_HMAC), whole.blob, HMAC_DATA)
    assert mac == hmac.new(shared, HMAC_DATA, hashlib.sha256).digest()


def test_dh_key_pair_from_explicit_attributes(ep11, dh_parameters):
    p, g = decode_integer_sequence(dh_parameters.blob)
    pair = ep11.generate_key_pair(
        Mechanism(CKM.DH_PKCS_KEY_PAIR_GEN),
        {CKA.DERIVE: True},
        {CKA.PRIME: integer_bytes(p), CKA.BASE: integer_bytes(g), CKA.DERIVE: True},
    )
    attributes = ep11.get_attribute_value(pair.public_blob, [CKA.IBM_STRUCT_PARAMS])
    assert attributes[CKA.IBM_STRUCT_PARAMS] == dh_parameters.blob


def test_dh_key_pair_errors(ep11, dh_parameters):
    p, g = decode_integer_sequence(dh_parameters.blob)
    mechanism = Mechanism(CKM.DH_PKCS_KEY_PAIR_GEN)
    cases = [
        ({}, CKR.TEMPLATE_INCOMPLETE),
        ({CKA.IBM_STRUCT_PARAMS: encode_integer_sequence([p, 2, g])}, CKR.ATTRIBUTE_VALUE_INVALID),
        (
            {CKA.IBM_STRUCT_PARAMS: dh_parameters.blob, CKA.SUBPRIME: b"\x05"},
            CKR.TEMPLATE_INCONSISTENT,
        ),
        ({CKA.IBM_STRUCT_PARAMS: encode_integer_sequence([p, 1])}, CKR.DOMAIN_PARAMS_INVALID),
        ({CKA.IBM_STRUCT_PARAMS: encode_integer_sequence([p - 1, g])}, CKR.DOMAIN_PARAMS_INVALID),
        (
            {CKA.IBM_STRUCT_PARAMS: encode_integer_sequence([(1 << 511) + 1, g])},
            CKR.KEY_SIZE_RANGE,
        ),
    ]
    for template, code in cases:
        with raises_ckr(code):
            ep11.generate_key_pair(mechanism, template, {})


def test_dh_derive_errors(ep11, dh_parameters):
    pair = dh_pair(ep11, dh_parameters.blob)
    p, _ = decode_integer_sequence(dh_parameters.blob)
    for y in (0, 1, p - 1, p, p + 1):
        with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
            derive_aes(ep11, pair.private_blob, y)
    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.VALUE_LEN: 16}
    for parameter in (None, b"", ECDH1DeriveParams(1, b"", b"\x05")):
        with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
            ep11.derive_key(
                Mechanism(CKM.DH_PKCS_DERIVE, parameter), pair.private_blob, b"", template
            )
    other = dh_pair(ep11, dh_parameters.blob)
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(
            Mechanism(CKM.DH_PKCS_DERIVE, b"\x05"), other.public_blob, b"", template
        )
    with raises_ckr(CKR.ATTRIBUTE_VALUE_INVALID):
        # A generic secret has at most 256 bytes, the size of Z for a 2048-bit p.
        ep11.derive_key(
            Mechanism(CKM.DH_PKCS_DERIVE, integer_bytes(dh_public_value(other.public_blob))),
            pair.private_blob,
            b"",
            {**template, CKA.VALUE_LEN: 257},
        )


def test_dh_and_dsa_keys_cannot_cross(ep11, dsa_pair, dh_parameters):
    pair = dh_pair(ep11, dh_parameters.blob)
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.sign_single(Mechanism(CKM.DSA_SHA256), pair.private_blob, MESSAGE)
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.derive_key(
            Mechanism(CKM.DH_PKCS_DERIVE, b"\x05"),
            dsa_pair.private_blob,
            b"",
            {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET},
        )


def test_mechanism_info(ep11):
    mechanisms = ep11.get_mechanism_list()
    for mechanism in (
        CKM.DSA_PARAMETER_GEN,
        CKM.DSA_KEY_PAIR_GEN,
        CKM.DSA,
        CKM.DSA_SHA1,
        CKM.DH_PKCS_PARAMETER_GEN,
        CKM.DH_PKCS_KEY_PAIR_GEN,
        CKM.DH_PKCS_DERIVE,
    ):
        assert mechanism in mechanisms
    assert ep11.get_mechanism_info(CKM.DSA_PARAMETER_GEN).flags & 0x8000  # CKF_GENERATE
    assert ep11.get_mechanism_info(CKM.DH_PKCS_DERIVE).flags & 0x80000  # CKF_DERIVE
