"""BLS12-381 keys, CKM_IBM_ECDSA_OTHER variant 6 and CKM_IBM_EC_AGGREGATE.

The engine implements BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_ over py_arkworks_bls12381.
Its signatures and aggregates are checked again with py_ecc, the Ethereum Foundation's pure
Python implementation, on public keys taken from the SPKIs. The known-answer test uses sign
cases of the Ethereum consensus specification tests (sign_case_c82df61aa3ee60fb and the 0x56
message of the second spec key), which use the same ciphersuite.
"""

import json

import grpc
import pytest
from conftest import der_element, expect_grep11_error, raises_ckr
from py_ecc.bls import G2ProofOfPossession as oracle
from py_ecc.bls.point_compression import compress_G2, modular_squareroot_in_FQ2
from py_ecc.optimized_bls12_381 import FQ2, b2, curve_order, is_on_curve, multiply

from ep11core import Engine, masterkey
from ep11core.blobs import MAX_CONCATENATED_PUBLIC_KEYS
from ep11core.mechanisms.bls import MAX_AGGREGATED_ELEMENTS
from ep11core.constants import CKA, CKF, CKK, CKM, CKO, CKR
from ep11core.errors import PKCS11Error
from ep11core.keys import encode_oid
from ep11core.policy import ControlPoint, Policy
from ep11core.types import ECAGGParams, ECSGParams, Mechanism
from grpc_server.client import RemoteEngine
from grpc_server.generated import grep11_pb2 as pb
from grpc_server.server import EmulatorServer

BLS_OID = encode_oid("1.3.6.1.4.1.2.267.999.3.2")
EC_PUBLIC_KEY_OID = encode_oid("1.2.840.10045.2.1")
P256 = encode_oid("1.2.840.10045.3.1.7")
BLS = Mechanism(CKM.IBM_ECDSA_OTHER, ECSGParams(6))
SIGN_MODE, PKEY_MODE = 1, 2
SIGNATURE_BYTES = 96
PUBLIC_KEY_BYTES = 48
MACED_SPKI_BYTES = 198
MESSAGE = b"Test message for aggregation operations"

# The templates of IBM's Go sample Test_bls12_Aggregation.
PUBLIC_TEMPLATE = {
    CKA.EC_PARAMS: BLS_OID,
    CKA.VERIFY: True,
    CKA.DERIVE: True,
    CKA.IBM_USE_AS_DATA: True,
    CKA.KEY_TYPE: CKK.EC,
}
PRIVATE_TEMPLATE = {CKA.SIGN: True, CKA.IBM_USE_AS_DATA: True, CKA.KEY_TYPE: CKK.EC}

# Ethereum consensus-spec BLS sign cases: (private key, message, public key, signature).
KNOWN_ANSWERS = [
    (
        "263dbd792f5b1be47ed85f8938c0f29586af0d3ac7b977f21c278fe1462040e3",
        bytes(32),
        "a491d1b0ecd9bb917989f0e74f0dea0422eac4a873e5e2644f368dffb9a6e20f"
        "d6e10c1b77654d067c0618f6e5a7f79a",
        "b6ed936746e01f8ecf281f020953fbf1f01debd5657c4a383940b020b26507f6"
        "076334f91e2366c96e9ab279fb5158090352ea1c5b0c9274504f4f0e7053af24"
        "802e51e4568d164fe986834f41e55c8e850ce1f98458c0cfc9ab380b55285a55",
    ),
    (
        "47b8192d77bf871b62e87859d653922725724a5c031afeabc60bcef5ff665138",
        b"\x56" * 32,
        None,
        "af1390c3c47acdb37131a51216da683c509fce0e954328a59f93aebda7e4ff97"
        "4ba208d9a4a2a2389f892a9d418d618418dd7f7a6bc7aa0da999a9d3a5b815bc"
        "085e14fd001f6a1948768a3f4afefc8b8240dda329f984cb345c6363272ba4fe",
    ),
]


def generate(hsm, public=None, private=None):
    return hsm.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {**PUBLIC_TEMPLATE, **(public or {})},
        {**PRIVATE_TEMPLATE, **(private or {})},
    )


def aggregate(mode, elements, size, version=0):
    return Mechanism(CKM.IBM_EC_AGGREGATE, ECAGGParams(version, mode, size, b"".join(elements)))


def public_key_bytes(blob: bytes) -> bytes:
    """Return the compressed public key inside the SPKI at the start of a public key object."""
    spki = der_element(blob)
    assert len(spki) == 78
    return spki[-PUBLIC_KEY_BYTES:]


def spki_of(public_key: bytes) -> bytes:
    """Build a BLS12-381 SPKI by hand, as the module documentation of ep11core.blskeys fixes it."""
    algorithm = b"\x30\x17" + EC_PUBLIC_KEY_OID + BLS_OID
    return b"\x30\x4c" + algorithm + b"\x03\x31\x00" + public_key


def pkcs8_of(secret: bytes, public_key: bytes) -> bytes:
    algorithm = b"\x30\x17" + EC_PUBLIC_KEY_OID + BLS_OID
    ec_private_key = b"\x30\x5a\x02\x01\x01\x04\x20" + secret + b"\xa1\x33\x03\x31\x00" + public_key
    return b"\x30\x7a\x02\x01\x00" + algorithm + b"\x04\x5c" + ec_private_key


def outside_subgroup_g2() -> bytes:
    """Return the compressed form of a point on the G2 curve that is not in the r-torsion."""
    x = 1
    while True:
        candidate = FQ2([x, 1])
        y = modular_squareroot_in_FQ2(candidate**3 + b2)
        if y is not None:
            point = (candidate, y, FQ2.one())
            if multiply(point, curve_order)[2] != FQ2.zero():
                break
        x += 1
    assert is_on_curve(point, b2)
    z1, z2 = compress_G2(point)
    return z1.to_bytes(48, "big") + z2.to_bytes(48, "big")


@pytest.fixture(scope="session")
def backend_pairs(ep11):
    """Three key pairs made through the backend ``ep11``."""
    return [generate(ep11) for _ in range(3)]


# --- keys


def test_keygen_attributes(ep11, backend_pairs):
    pair = backend_pairs[0]
    assert len(pair.public_blob) == MACED_SPKI_BYTES
    spki = der_element(pair.public_blob)
    assert spki == spki_of(public_key_bytes(pair.public_blob))
    assert oracle.KeyValidate(public_key_bytes(pair.public_blob))
    for attributes, object_class in (
        (pair.public_attributes, CKO.PUBLIC_KEY),
        (pair.private_attributes, CKO.PRIVATE_KEY),
    ):
        assert attributes[CKA.CLASS] == object_class
        assert attributes[CKA.KEY_TYPE] == CKK.EC
        assert attributes[CKA.EC_PARAMS] == BLS_OID
    public = ep11.get_attribute_value(
        pair.public_blob, [CKA.EC_POINT, CKA.EC_PARAMS, CKA.KEY_TYPE, CKA.VERIFY, CKA.DERIVE]
    )
    assert public[CKA.EC_POINT] == b"\x04\x30" + public_key_bytes(pair.public_blob)
    assert public[CKA.EC_PARAMS] == BLS_OID
    assert public[CKA.KEY_TYPE] == CKK.EC
    assert public[CKA.VERIFY] is True
    assert public[CKA.DERIVE] is True
    private = ep11.get_attribute_value(
        pair.private_blob, [CKA.EC_PARAMS, CKA.PUBLIC_KEY_INFO, CKA.SIGN, CKA.LOCAL]
    )
    assert private[CKA.EC_PARAMS] == BLS_OID
    assert private[CKA.PUBLIC_KEY_INFO] == spki
    assert private[CKA.SIGN] is True
    assert private[CKA.LOCAL] is True


def test_keygen_go_minimal_templates(ep11):
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.EC_PARAMS: BLS_OID, CKA.VERIFY: True},
        {CKA.SIGN: True, CKA.PRIVATE: True, CKA.SENSITIVE: True},
    )
    signature = ep11.sign_single(BLS, pair.private_blob, b"data")
    ep11.verify_single(BLS, pair.public_blob, b"data", signature)


def test_keys_are_distinct(backend_pairs):
    public_keys = {public_key_bytes(pair.public_blob) for pair in backend_pairs}
    assert len(public_keys) == len(backend_pairs)


def test_ec_params_in_private_template_rejected(ep11):
    with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
        ep11.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), {}, {CKA.EC_PARAMS: BLS_OID})


def test_encrypt_usage_rejected(ep11):
    with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
        generate(ep11, public={CKA.ENCRYPT: True})


# --- signatures


def test_sign_verify_round_trip(ep11, backend_pairs):
    pair = backend_pairs[0]
    signature = ep11.sign_single(BLS, pair.private_blob, MESSAGE)
    assert len(signature) == SIGNATURE_BYTES
    ep11.verify_single(BLS, pair.public_blob, MESSAGE, signature)
    assert oracle.Verify(public_key_bytes(pair.public_blob), MESSAGE, signature)
    # BLS signatures are deterministic.
    assert ep11.sign_single(BLS, pair.private_blob, MESSAGE) == signature


def test_init_then_single_call(ep11, backend_pairs):
    pair = backend_pairs[1]
    signature = ep11.sign(ep11.sign_init(BLS, pair.private_blob), b"after SignInit")
    ep11.verify_single(BLS, pair.public_blob, b"after SignInit", signature)
    ep11.verify(ep11.verify_init(BLS, pair.public_blob), b"after SignInit", signature)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify(ep11.verify_init(BLS, pair.public_blob), b"other data", signature)


def test_multi_part_calls_rejected(ep11, backend_pairs):
    pair = backend_pairs[0]
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.sign_update(ep11.sign_init(BLS, pair.private_blob), b"part")
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.verify_update(ep11.verify_init(BLS, pair.public_blob), b"part")


def test_empty_message_signs(ep11, backend_pairs):
    pair = backend_pairs[2]
    signature = ep11.sign_single(BLS, pair.private_blob, b"")
    ep11.verify_single(BLS, pair.public_blob, b"", signature)


def test_tampered_signature_rejected(ep11, backend_pairs):
    pair = backend_pairs[0]
    signature = ep11.sign_single(BLS, pair.private_blob, b"tamper")
    for index in (0, 5, 95):
        tampered = bytearray(signature)
        tampered[index] ^= 0x01
        with raises_ckr(CKR.SIGNATURE_INVALID):
            ep11.verify_single(BLS, pair.public_blob, b"tamper", bytes(tampered))
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(BLS, pair.public_blob, b"tamper!", signature)
    infinity = b"\xc0" + bytes(SIGNATURE_BYTES - 1)
    for invalid in (bytes(SIGNATURE_BYTES), infinity, outside_subgroup_g2()):
        with raises_ckr(CKR.SIGNATURE_INVALID):
            ep11.verify_single(BLS, pair.public_blob, b"tamper", invalid)
    for length in (0, 48, 95, 97, 192):
        with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
            ep11.verify_single(BLS, pair.public_blob, b"tamper", (signature * 2)[:length])


def test_other_key_rejected(ep11, backend_pairs):
    signature = ep11.sign_single(BLS, backend_pairs[0].private_blob, b"data")
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(BLS, backend_pairs[1].public_blob, b"data", signature)


def test_known_answers(ep11, import_private, import_public):
    for secret_hex, message, public_hex, signature_hex in KNOWN_ANSWERS:
        secret = bytes.fromhex(secret_hex)
        public_key = oracle.SkToPk(int(secret_hex, 16))
        if public_hex is not None:
            assert public_key.hex() == public_hex
        private = import_private(ep11, pkcs8_of(secret, public_key), CKK.EC, {CKA.SIGN: True})
        assert ep11.sign_single(BLS, private.blob, message).hex() == signature_hex
        spki = ep11.get_attribute_value(private.blob, [CKA.PUBLIC_KEY_INFO])[CKA.PUBLIC_KEY_INFO]
        assert spki == spki_of(public_key)
        public = import_public(ep11, spki_of(public_key))
        ep11.verify_single(BLS, public.blob, message, bytes.fromhex(signature_hex))
        # A plain SPKI verifies as well.
        ep11.verify_single(BLS, spki_of(public_key), message, bytes.fromhex(signature_hex))


def test_mismatched_pkcs8_rejected(ep11, import_private):
    secret = bytes.fromhex(KNOWN_ANSWERS[0][0])
    other_public = oracle.SkToPk(int(KNOWN_ANSWERS[1][0], 16))
    with raises_ckr(CKR.WRAPPED_KEY_INVALID):
        import_private(ep11, pkcs8_of(secret, other_public), CKK.EC, {CKA.SIGN: True})


def test_wrong_key_for_variant(ep11, backend_pairs):
    p256 = ep11.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256}, {})
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.sign_single(BLS, p256.private_blob, b"data")
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.verify_single(BLS, p256.public_blob, b"data", bytes(SIGNATURE_BYTES))
    schnorr = Mechanism(CKM.IBM_ECDSA_OTHER, ECSGParams(5))
    with raises_ckr(CKR.CURVE_NOT_SUPPORTED):
        ep11.sign_single(schnorr, backend_pairs[0].private_blob, b"data")
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        ep11.sign_single(Mechanism(CKM.ECDSA), backend_pairs[0].private_blob, bytes(32))


# --- aggregation


def test_aggregation_both_verifications(ep11, backend_pairs):
    signatures = [ep11.sign_single(BLS, pair.private_blob, MESSAGE) for pair in backend_pairs]
    public_blobs = [pair.public_blob for pair in backend_pairs]
    aggregated = ep11.sign_single(aggregate(SIGN_MODE, signatures, SIGNATURE_BYTES), None, MESSAGE)
    assert aggregated == oracle.Aggregate(signatures)
    derived = ep11.derive_key(
        aggregate(PKEY_MODE, public_blobs, MACED_SPKI_BYTES), None, b"", PUBLIC_TEMPLATE
    )
    assert len(derived.blob) == MACED_SPKI_BYTES
    assert derived.attributes[CKA.CLASS] == CKO.PUBLIC_KEY
    assert derived.attributes[CKA.EC_PARAMS] == BLS_OID
    assert derived.checksum == der_element(derived.blob) + (381).to_bytes(4, "big")
    public_keys = [public_key_bytes(blob) for blob in public_blobs]
    assert public_key_bytes(derived.blob) == oracle._AggregatePKs(public_keys)
    assert oracle.FastAggregateVerify(public_keys, MESSAGE, aggregated)
    ep11.verify_single(BLS, derived.blob, MESSAGE, aggregated)
    ep11.verify_single(BLS, b"".join(public_blobs), MESSAGE, aggregated)
    ep11.verify(ep11.verify_init(BLS, b"".join(public_blobs)), MESSAGE, aggregated)
    # The aggregated key is a public key object like any other: it aggregates again.
    again = ep11.derive_key(
        aggregate(PKEY_MODE, [derived.blob, public_blobs[0]], MACED_SPKI_BYTES),
        None,
        b"",
        PUBLIC_TEMPLATE,
    )
    first_again = ep11.sign_single(BLS, backend_pairs[0].private_blob, MESSAGE)
    twice = ep11.sign_single(
        aggregate(SIGN_MODE, [aggregated, first_again], SIGNATURE_BYTES), b"", b""
    )
    ep11.verify_single(BLS, again.blob, MESSAGE, twice)


def test_aggregation_with_uninvolved_key(ep11, backend_pairs):
    signatures = [ep11.sign_single(BLS, pair.private_blob, MESSAGE) for pair in backend_pairs[:2]]
    public_blobs = [pair.public_blob for pair in backend_pairs]
    aggregated = ep11.sign_single(aggregate(SIGN_MODE, signatures, SIGNATURE_BYTES), None, MESSAGE)
    derived = ep11.derive_key(
        aggregate(PKEY_MODE, public_blobs, MACED_SPKI_BYTES), None, b"", PUBLIC_TEMPLATE
    )
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(BLS, derived.blob, MESSAGE, aggregated)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(BLS, b"".join(public_blobs), MESSAGE, aggregated)
    ep11.verify_single(BLS, b"".join(public_blobs[:2]), MESSAGE, aggregated)


def test_single_element_aggregation(ep11, backend_pairs):
    pair = backend_pairs[0]
    signature = ep11.sign_single(BLS, pair.private_blob, b"one")
    assert ep11.sign_single(aggregate(SIGN_MODE, [signature], 96), None, b"") == signature
    derived = ep11.derive_key(
        aggregate(PKEY_MODE, [pair.public_blob], MACED_SPKI_BYTES), None, b"", {}
    )
    assert der_element(derived.blob) == der_element(pair.public_blob)
    ep11.verify_single(BLS, derived.blob, b"one", signature)


@pytest.mark.parametrize(
    "parameter",
    [
        None,
        b"\x00" * 8,
        ECSGParams(6),
        ECAGGParams(1, SIGN_MODE, 96, bytes(96)),
        ECAGGParams(0, 0, 96, bytes(96)),
        ECAGGParams(0, 3, 96, bytes(96)),
        ECAGGParams(0, SIGN_MODE, 0, bytes(96)),
        ECAGGParams(0, SIGN_MODE, 96, b""),
        ECAGGParams(0, SIGN_MODE, 96, bytes(100)),
        ECAGGParams(0, PKEY_MODE, 96, bytes(96)),
    ],
    ids=[
        "none",
        "bytes",
        "ECSG",
        "version 1",
        "mode 0",
        "mode 3",
        "element size 0",
        "no elements",
        "partial element",
        "public key mode",
    ],
)
def test_signature_aggregation_parameter_rejected(ep11, parameter):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.sign_single(Mechanism(CKM.IBM_EC_AGGREGATE, parameter), None, b"")


def test_signature_elements_rejected(ep11, backend_pairs):
    signature = ep11.sign_single(BLS, backend_pairs[0].private_blob, b"data")
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.sign_single(aggregate(SIGN_MODE, [signature], 48), None, b"")
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.sign_single(aggregate(SIGN_MODE, [signature, signature], 192), None, b"")
    non_canonical = b"\xff" * SIGNATURE_BYTES
    for invalid in (bytes(SIGNATURE_BYTES), non_canonical, outside_subgroup_g2()):
        with raises_ckr(CKR.SIGNATURE_INVALID):
            ep11.sign_single(aggregate(SIGN_MODE, [signature, invalid], 96), None, b"")


def test_aggregation_element_count_limited(ep11, backend_pairs):
    signature = ep11.sign_single(BLS, backend_pairs[0].private_blob, b"data")
    at_limit = ep11.sign_single(
        aggregate(SIGN_MODE, [signature] * MAX_AGGREGATED_ELEMENTS, 96), None, b""
    )
    assert len(at_limit) == SIGNATURE_BYTES
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.sign_single(
            aggregate(SIGN_MODE, [signature] * (MAX_AGGREGATED_ELEMENTS + 1), 96), None, b""
        )
    blob = backend_pairs[0].public_blob
    too_many = aggregate(PKEY_MODE, [blob] * (MAX_AGGREGATED_ELEMENTS + 1), len(blob))
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.derive_key(too_many, None, b"", {})


def test_aggregation_single_call_only(ep11, backend_pairs):
    signature = ep11.sign_single(BLS, backend_pairs[0].private_blob, b"data")
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.sign_init(aggregate(SIGN_MODE, [signature], 96), b"")
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.verify_single(
            aggregate(SIGN_MODE, [signature], 96), backend_pairs[0].public_blob, b"", signature
        )


def test_public_key_aggregation_parameter_rejected(ep11, backend_pairs):
    blob = backend_pairs[0].public_blob
    for parameter in (
        ECAGGParams(0, SIGN_MODE, MACED_SPKI_BYTES, blob),
        ECAGGParams(1, PKEY_MODE, MACED_SPKI_BYTES, blob),
        ECAGGParams(0, PKEY_MODE, 0, blob),
        ECAGGParams(0, PKEY_MODE, MACED_SPKI_BYTES, b""),
        ECAGGParams(0, PKEY_MODE, MACED_SPKI_BYTES, blob + blob[:10]),
    ):
        with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
            ep11.derive_key(Mechanism(CKM.IBM_EC_AGGREGATE, parameter), None, b"", {})


def test_public_key_elements_rejected(ep11, backend_pairs, foreign_engine, import_public):
    blobs = [pair.public_blob for pair in backend_pairs]

    def derive(elements, size=MACED_SPKI_BYTES, template=None):
        mechanism = aggregate(PKEY_MODE, elements, size)
        return ep11.derive_key(mechanism, None, b"", template or {})

    # An element size that cuts the public key objects apart.
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        derive(blobs[:2], MACED_SPKI_BYTES // 2)
    tampered = bytearray(blobs[1])
    tampered[-1] ^= 0x01
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        derive([blobs[0], bytes(tampered)])
    plain = der_element(blobs[1])
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        derive([plain, der_element(blobs[0])], len(plain))
    foreign = generate(foreign_engine)
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        derive([blobs[0], foreign.public_blob])
    p256 = ep11.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256}, {})
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        derive([p256.public_blob], len(p256.public_blob))
    private = backend_pairs[0].private_blob
    with raises_ckr(CKR.KEY_TYPE_INCONSISTENT):
        derive([private], len(private))
    no_derive = generate(ep11, public={CKA.DERIVE: False})
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        derive([blobs[0], no_derive.public_blob])
    for template in (
        {CKA.CLASS: CKO.SECRET_KEY},
        {CKA.KEY_TYPE: CKK.RSA},
        {CKA.EC_PARAMS: P256},
    ):
        with raises_ckr(CKR.TEMPLATE_INCONSISTENT):
            derive(blobs[:2], template=template)
    # A key and its negation (the sign bit flipped) add up to the point at infinity.
    public_key = bytearray(public_key_bytes(blobs[0]))
    public_key[0] ^= 0x20
    negated = import_public(ep11, spki_of(bytes(public_key)), {CKA.DERIVE: True})
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        derive([blobs[0], negated.blob])


def test_concatenated_keys_rejected(ep11, backend_pairs):
    blobs = [pair.public_blob for pair in backend_pairs]
    signature = ep11.sign_single(BLS, backend_pairs[0].private_blob, b"data")
    p256 = ep11.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256}, {})
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        ep11.verify_single(BLS, blobs[0] + p256.public_blob, b"data", signature)
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        ep11.verify_single(BLS, blobs[0] + der_element(blobs[1]), b"data", signature)
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        ep11.verify_single(BLS, blobs[0] + blobs[1][:-1], b"data", signature)
    with raises_ckr(CKR.OBJECT_HANDLE_INVALID):
        ep11.get_attribute_value(blobs[0] + blobs[1], [CKA.EC_POINT])
    no_verify = generate(ep11, public={CKA.VERIFY: False})
    with raises_ckr(CKR.KEY_FUNCTION_NOT_PERMITTED):
        ep11.verify_single(BLS, blobs[0] + no_verify.public_blob, b"data", signature)


def test_listed_with_info(ep11):
    assert CKM.IBM_EC_AGGREGATE in ep11.get_mechanism_list()
    info = ep11.get_mechanism_info(CKM.IBM_EC_AGGREGATE)
    assert info.min_key_size == 381
    assert info.max_key_size == 381
    assert info.flags & CKF.SIGN
    assert info.flags & CKF.DERIVE
    assert not info.flags & CKF.VERIFY
    assert ep11.get_mechanism_info(CKM.IBM_ECDSA_OTHER).max_key_size == 381


# --- IBM's Go samples, message by message


def _go_keygen_request(public, private):
    ec_params = pb.AttributeValue(AttributeB=BLS_OID)
    return pb.GenerateKeyPairRequest(
        Mech=pb.Mechanism(Mechanism=CKM.EC_KEY_PAIR_GEN),
        PubKeyTemplate={
            CKA.EC_PARAMS: ec_params,
            **{attribute: pb.AttributeValue(AttributeTF=True) for attribute in public},
            CKA.KEY_TYPE: pb.AttributeValue(AttributeI=CKK.EC),
        },
        PrivKeyTemplate={
            **{attribute: pb.AttributeValue(AttributeTF=True) for attribute in private},
            CKA.KEY_TYPE: pb.AttributeValue(AttributeI=CKK.EC),
        },
    )


GO_KEYGEN = _go_keygen_request(
    (CKA.VERIFY, CKA.DERIVE, CKA.IBM_USE_AS_DATA), (CKA.SIGN, CKA.DERIVE, CKA.IBM_USE_AS_DATA)
)
GO_BLS = pb.Mechanism(
    Mechanism=CKM.IBM_ECDSA_OTHER, ECSGParameter=pb.ECSGParm(Type=pb.ECSGParm.CkEcsgIbmBls)
)


def _go_aggregate(mode, elements, size):
    return pb.Mechanism(
        Mechanism=CKM.IBM_EC_AGGREGATE,
        ECAGGParameter=pb.ECAGGParm(Version=0, Mode=mode, PerElementSize=size, Elements=elements),
    )


def _go_aggregation(stub, count, signers):
    """Run the Go aggregation flow; return (aggregated signature, derived key, key pairs)."""
    pairs = [stub.GenerateKeyPair(GO_KEYGEN) for _ in range(count)]
    signatures = []
    for pair in pairs[:signers]:
        signature = stub.SignSingle(
            pb.SignSingleRequest(PrivKey=pair.PrivKey, Mech=GO_BLS, Data=MESSAGE)
        ).Signature
        stub.VerifySingle(
            pb.VerifySingleRequest(PubKey=pair.PubKey, Mech=GO_BLS, Data=MESSAGE, Signature=signature)
        )
        signatures.append(signature)
    sign_mode = pb.ECAGGParm.CkIbmEcAggBLS12_381Sign
    aggregated = stub.SignSingle(
        pb.SignSingleRequest(
            Mech=_go_aggregate(sign_mode, b"".join(signatures), len(signatures[0])), Data=MESSAGE
        )
    ).Signature
    size = len(pairs[0].PubKey.KeyBlobs[0])
    public_keys = b"".join(pair.PubKey.KeyBlobs[0] for pair in pairs)
    derived = stub.DeriveKey(
        pb.DeriveKeyRequest(
            Mech=_go_aggregate(pb.ECAGGParm.CkIbmEcAggBLS12_381Pkey, public_keys, size),
            Template=GO_KEYGEN.PubKeyTemplate,
        )
    )
    return aggregated, derived, pairs


def _concatenate_into_first(pairs):
    # The Go sample appends the other public keys to KeyBlobs[0] of the first KeyBlob. That
    # KeyBlob still carries its own KeyBlobID, Version and TxID, so set them to mismatch.
    first = pairs[0].PubKey
    first.KeyBlobID = b"0123456789abcdef"
    first.Version = 7
    first.TxID = b"replay guard"
    for pair in pairs[1:]:
        first.KeyBlobs[0] += pair.PubKey.KeyBlobs[0]
    return first


def test_go_generate_key_pair(grep11_stub):
    request = _go_keygen_request((CKA.VERIFY,), (CKA.SIGN, CKA.PRIVATE, CKA.SENSITIVE))
    del request.PubKeyTemplate[CKA.KEY_TYPE]
    del request.PrivKeyTemplate[CKA.KEY_TYPE]
    response = grep11_stub.GenerateKeyPair(request)
    assert response.PubKey.KeyBlobs[0] == response.PubKeyBytes
    assert response.PrivKey.KeyBlobs[0] == response.PrivKeyBytes


def test_go_sign_single_verify_single(grep11_stub):
    pair = grep11_stub.GenerateKeyPair(GO_KEYGEN)
    data = b"Test message for sign and verify operations"
    signature = grep11_stub.SignSingle(
        pb.SignSingleRequest(PrivKey=pair.PrivKey, Mech=GO_BLS, Data=data)
    ).Signature
    grep11_stub.VerifySingle(
        pb.VerifySingleRequest(PubKey=pair.PubKey, Mech=GO_BLS, Data=data, Signature=signature)
    )


def test_go_aggregation(grep11_stub):
    aggregated, derived, pairs = _go_aggregation(grep11_stub, 10, 10)
    grep11_stub.VerifySingle(
        pb.VerifySingleRequest(
            PubKey=derived.NewKey, Mech=GO_BLS, Data=MESSAGE, Signature=aggregated
        )
    )
    concatenated = _concatenate_into_first(pairs)
    grep11_stub.VerifySingle(
        pb.VerifySingleRequest(PubKey=concatenated, Mech=GO_BLS, Data=MESSAGE, Signature=aggregated)
    )


def test_go_aggregation_with_uninvolved_key(grep11_stub):
    aggregated, derived, pairs = _go_aggregation(grep11_stub, 3, 2)
    expect_grep11_error(
        grep11_stub.VerifySingle,
        pb.VerifySingleRequest(
            PubKey=derived.NewKey, Mech=GO_BLS, Data=MESSAGE, Signature=aggregated
        ),
        CKR.SIGNATURE_INVALID,
    )
    concatenated = _concatenate_into_first(pairs)
    expect_grep11_error(
        grep11_stub.VerifySingle,
        pb.VerifySingleRequest(PubKey=concatenated, Mech=GO_BLS, Data=MESSAGE, Signature=aggregated),
        CKR.SIGNATURE_INVALID,
    )


# --- control point 76


@pytest.fixture(scope="module")
def pairing_off_state(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pairing-off-state")
    policy = {"control_points": {"ALG_EC_PAIRING_FRIENDLY": False}}
    (directory / "policy.json").write_text(json.dumps(policy))
    masterkey.load_or_create(str(directory))
    return directory


@pytest.fixture(scope="module", params=("engine", "grpc"))
def pairing_off(request, pairing_off_state):
    """The ``Engine`` interface with control point 76 off: in-process, or over gRPC."""
    if request.param == "engine":
        key = masterkey.load(masterkey.key_file_path(str(pairing_off_state)))
        return Engine(key, policy=Policy(frozenset({ControlPoint.ALG_EC_PAIRING_FRIENDLY})))
    server = EmulatorServer(str(pairing_off_state), port=0, tls_port=0, http_port=0)
    server.start()
    request.addfinalizer(lambda: server.stop(grace=None))
    channel = grpc.insecure_channel(server.address)
    request.addfinalizer(channel.close)
    return RemoteEngine(channel)


def test_pairing_control_point_off(pairing_off):
    with raises_ckr(CKR.CURVE_NOT_SUPPORTED):
        generate(pairing_off)
    assert CKM.IBM_EC_AGGREGATE not in pairing_off.get_mechanism_list()
    with raises_ckr(CKR.MECHANISM_INVALID):
        pairing_off.get_mechanism_info(CKM.IBM_EC_AGGREGATE)
    with raises_ckr(CKR.MECHANISM_INVALID):
        pairing_off.sign_single(aggregate(SIGN_MODE, [bytes(96)], 96), None, b"")
    # Other curves stay available.
    pairing_off.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256}, {})


def test_concatenation_count_limited(local_engine):
    pair = generate(local_engine)
    signature = local_engine.sign_single(BLS, pair.private_blob, MESSAGE)
    at_limit = pair.public_blob * MAX_CONCATENATED_PUBLIC_KEYS
    # The same key 4096 times is a different key than the signer's, so the check fails.
    with raises_ckr(CKR.SIGNATURE_INVALID):
        local_engine.verify_single(BLS, at_limit, MESSAGE, signature)
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        local_engine.verify_single(BLS, at_limit + pair.public_blob, MESSAGE, signature)


def test_huge_concatenation_stops_at_limit(local_engine):
    pair = generate(local_engine)
    signature = local_engine.sign_single(BLS, pair.private_blob, MESSAGE)
    # About 60 MiB, close to the server's 64 MiB request limit, of which only the first
    # MAX_CONCATENATED_PUBLIC_KEYS + 1 elements are keys. The split must stop at the limit and
    # never reach the bytes that follow, which are not a key.
    huge = pair.public_blob * (MAX_CONCATENATED_PUBLIC_KEYS + 1) + bytes(60 << 20)
    with pytest.raises(PKCS11Error) as caught:
        local_engine.verify_single(BLS, huge, MESSAGE, signature)
    assert caught.value.code == CKR.KEY_HANDLE_INVALID
    assert f"at most {MAX_CONCATENATED_PUBLIC_KEYS} public keys" in caught.value.detail


def test_concatenation_not_cached(local_engine):
    pairs = [generate(local_engine) for _ in range(2)]
    signature = local_engine.sign_single(BLS, pairs[0].private_blob, MESSAGE)
    concatenated = pairs[0].public_blob + pairs[1].public_blob
    with raises_ckr(CKR.SIGNATURE_INVALID):
        local_engine.verify_single(BLS, concatenated, MESSAGE, signature)
    assert concatenated not in local_engine._cache
