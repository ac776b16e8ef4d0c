"""CKM_IBM_ECDSA_OTHER (IBM Schnorr variants 3 and 5) on every backend.

Signatures made by the HSM are checked again by verifiers written here from the published
formulas, with their own curve arithmetic, and signatures made here with known keys and nonces
must verify in the HSM. Variant 5 follows the Zilliqa Schnorr scheme:
r = SHA-256(cQ || cP || m) mod n, s = k - r*d, and a verifier recomputes Q = s*G + r*P.
"""

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ep11core.constants import CKA, CKK, CKM, CKR
from ep11core.keys import encode_oid
from ep11core.types import ECSGParams, Mechanism
from conftest import load_public_blob, raises_ckr

S256, COMPR_MULTI = 3, 5
MESSAGE_BYTES = 6144

# (EC_PARAMS, cryptography curve, p, a, b, n, Gx, Gy), from SEC 2 and FIPS 186-4.
CURVES = {
    "secp256k1": (
        encode_oid("1.3.132.0.10"),
        ec.SECP256K1(),
        2**256 - 2**32 - 977,
        0,
        7,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
        0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
        0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
    ),
    "P-256": (
        encode_oid("1.2.840.10045.3.1.7"),
        ec.SECP256R1(),
        2**256 - 2**224 + 2**192 + 2**96 - 1,
        -3,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
        0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    ),
}


class Curve:
    """Textbook affine arithmetic, written apart from the engine's so both can be wrong alone."""

    def __init__(self, name):
        _, self.crypto_curve, self.p, self.a, self.b, self.n, gx, gy = CURVES[name]
        self.g = (gx, gy)

    def add(self, first, second):
        if first is None:
            return second
        if second is None:
            return first
        if first[0] == second[0] and (first[1] + second[1]) % self.p == 0:
            return None
        if first == second:
            slope = (3 * first[0] ** 2 + self.a) * pow(2 * first[1], self.p - 2, self.p)
        else:
            slope = (second[1] - first[1]) * pow(second[0] - first[0], self.p - 2, self.p)
        slope %= self.p
        x = (slope * slope - first[0] - second[0]) % self.p
        return (x, (slope * (first[0] - x) - first[1]) % self.p)

    def times(self, scalar, point):
        result = None
        for bit in bin(scalar % self.n)[2:]:
            result = self.add(result, result)
            if bit == "1":
                result = self.add(result, point)
        return result

    def compressed(self, point):
        return bytes((2 + point[1] % 2,)) + point[0].to_bytes(32, "big")

    def coordinates(self, point):
        return point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


def sha256_number(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(data).digest(), "big")


def zilliqa_verify(curve: Curve, public, message, signature) -> bool:
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < curve.n and 0 < s < curve.n):
        return False
    q = curve.add(curve.times(s, curve.g), curve.times(r, public))
    if q is None:
        return False
    challenge = sha256_number(curve.compressed(q) + curve.compressed(public) + message)
    return challenge % curve.n == r


def zilliqa_sign(curve: Curve, secret, message, nonce) -> bytes:
    public = curve.times(secret, curve.g)
    q = curve.times(nonce, curve.g)
    r = sha256_number(curve.compressed(q) + curve.compressed(public) + message) % curve.n
    s = (nonce - r * secret) % curve.n
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def ecsdsa_verify(curve: Curve, public, message, signature) -> bool:
    e = int.from_bytes(signature[:32], "big") % curve.n
    s = int.from_bytes(signature[32:], "big")
    if not (e and 0 < s < curve.n):
        return False
    q = curve.add(curve.times(s, curve.g), curve.times(curve.n - e, public))
    if q is None:
        return False
    return hashlib.sha256(curve.coordinates(q) + message).digest() == signature[:32]


def ecsdsa_sign(curve: Curve, secret, message, nonce) -> bytes:
    q = curve.times(nonce, curve.g)
    r = hashlib.sha256(curve.coordinates(q) + message).digest()
    s = (nonce + int.from_bytes(r, "big") * secret) % curve.n
    return r + s.to_bytes(32, "big")


VERIFIERS = {S256: ecsdsa_verify, COMPR_MULTI: zilliqa_verify}
SIGNERS = {S256: ecsdsa_sign, COMPR_MULTI: zilliqa_sign}
VARIANTS = sorted(VERIFIERS)


def schnorr(variant) -> Mechanism:
    return Mechanism(CKM.IBM_ECDSA_OTHER, ECSGParams(variant))


@pytest.fixture(scope="module", params=sorted(CURVES))
def curve_name(request):
    return request.param


@pytest.fixture(scope="module")
def key_pair(ep11, curve_name):
    params = CURVES[curve_name][0]
    return ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN),
        {CKA.EC_PARAMS: params, CKA.VERIFY: True},
        {CKA.SIGN: True, CKA.PRIVATE: True, CKA.SENSITIVE: True, CKA.EXTRACTABLE: False},
    )


def public_point(blob: bytes):
    numbers = load_public_blob(blob).public_numbers()
    return (numbers.x, numbers.y)


@pytest.mark.parametrize("variant", VARIANTS)
def test_sign_verify_single(ep11, curve_name, key_pair, variant):
    message = os.urandom(MESSAGE_BYTES)
    signature = ep11.sign_single(schnorr(variant), key_pair.private_blob, message)
    assert len(signature) == 64
    ep11.verify_single(schnorr(variant), key_pair.public_blob, message, signature)
    curve = Curve(curve_name)
    assert VERIFIERS[variant](curve, public_point(key_pair.public_blob), message, signature)


@pytest.mark.parametrize("variant", VARIANTS)
def test_signatures_are_randomized(ep11, key_pair, variant):
    first = ep11.sign_single(schnorr(variant), key_pair.private_blob, b"same message")
    second = ep11.sign_single(schnorr(variant), key_pair.private_blob, b"same message")
    assert first != second


@pytest.mark.parametrize("variant", VARIANTS)
def test_known_key_signature_verifies(ep11, import_public, curve_name, variant):
    curve = Curve(curve_name)
    secret = int.from_bytes(hashlib.sha256(b"known Schnorr key").digest(), "big") % curve.n
    nonce = int.from_bytes(hashlib.sha256(b"known nonce").digest(), "big") % curve.n
    message = b"signed outside the HSM"
    signature = SIGNERS[variant](curve, secret, message, nonce)
    public_key = ec.derive_private_key(secret, curve.crypto_curve).public_key()
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    imported = import_public(ep11, spki)
    ep11.verify_single(schnorr(variant), imported.blob, message, signature)
    # A plain SPKI verifies as well.
    ep11.verify_single(schnorr(variant), spki, message, signature)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(schnorr(variant), spki, message + b"!", signature)


@pytest.mark.parametrize("variant", VARIANTS)
def test_known_private_key_signs(ep11, import_private, curve_name, variant):
    curve = Curve(curve_name)
    secret = int.from_bytes(hashlib.sha256(b"imported Schnorr key").digest(), "big") % curve.n
    private_key = ec.derive_private_key(secret, curve.crypto_curve)
    pkcs8 = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    imported = import_private(ep11, pkcs8, CKK.EC, {CKA.SIGN: True})
    message = b"signed inside the HSM"
    signature = ep11.sign_single(schnorr(variant), imported.blob, message)
    public = curve.times(secret, curve.g)
    assert VERIFIERS[variant](curve, public, message, signature)


@pytest.mark.parametrize("variant", VARIANTS)
def test_tampered_signature_rejected(ep11, key_pair, variant):
    message = b"tamper"
    signature = bytearray(ep11.sign_single(schnorr(variant), key_pair.private_blob, message))
    signature[5] ^= 0x01
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(schnorr(variant), key_pair.public_blob, message, bytes(signature))
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(schnorr(variant), key_pair.public_blob, message, bytes(64))
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.verify_single(schnorr(variant), key_pair.public_blob, message, bytes(signature[:63]))


def test_variants_do_not_cross_verify(ep11, key_pair):
    message = b"variant"
    signature = ep11.sign_single(schnorr(COMPR_MULTI), key_pair.private_blob, message)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(schnorr(S256), key_pair.public_blob, message, signature)


def test_other_key_rejected(ep11, key_pair, curve_name):
    other = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: CURVES[curve_name][0]}, {}
    )
    signature = ep11.sign_single(schnorr(COMPR_MULTI), other.private_blob, b"data")
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(schnorr(COMPR_MULTI), key_pair.public_blob, b"data", signature)


def test_multi_part_calls_rejected(ep11, key_pair):
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.sign_init(schnorr(COMPR_MULTI), key_pair.private_blob)
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.verify_init(schnorr(S256), key_pair.public_blob)


@pytest.mark.parametrize(
    "mechanism",
    [Mechanism(CKM.IBM_ECDSA_OTHER), schnorr(4), schnorr(0)],
    ids=["no parameter", "variant 4", "variant 0"],
)
def test_invalid_parameter_rejected(ep11, key_pair, mechanism):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.sign_single(mechanism, key_pair.private_blob, b"data")


def test_p384_key_rejected(ep11):
    pair = ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: encode_oid("1.3.132.0.34")}, {}
    )
    with raises_ckr(CKR.CURVE_NOT_SUPPORTED):
        ep11.sign_single(schnorr(COMPR_MULTI), pair.private_blob, b"data")


def test_listed_with_info(ep11):
    assert CKM.IBM_ECDSA_OTHER in ep11.get_mechanism_list()
    info = ep11.get_mechanism_info(CKM.IBM_ECDSA_OTHER)
    assert info.min_key_size == 256
    # Variant 6 takes BLS12-381 keys, whose size counts the 381-bit field.
    assert info.max_key_size == 381
