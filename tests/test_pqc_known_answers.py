"""FIPS 203 (ML-KEM) and FIPS 204 (ML-DSA) known answers from the ``cryptography_vectors`` package.

The ML-KEM files give per case the key generation seed d and z, the public key, a ciphertext ct
with its shared secret ss and a tampered ciphertext ct_n with its implicit-rejection secret
ss_n. The ML-DSA files (deterministic, pure ML-DSA) give the key generation seed xi, the public
key, a message, a non-empty context and the signature followed by the message (sm).

The in-process engine runs every ML-DSA case and the first 100 ML-KEM cases of each set by
default, and every ML-KEM case with ``-m slow`` (about 20 s). The first three cases of each file
also run on every backend. Each check goes through the HSM interface: keys enter by UnwrapKey,
shared secrets come back only as the checksum and an HMAC-SHA256 of the derived key, and
signatures are checked with VerifySingle.
"""

import hashlib
import hmac
from pathlib import PurePosixPath

import cryptography_vectors
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

from ep11core.constants import CKA, CKD, CKK, CKM, CKO, CKR
from ep11core.keys import secret_checksum
from ep11core.mechanisms.parameters import (
    DETERMINISTIC_REQUIRED,
    HEDGE_REQUIRED,
    encode_sign_context_parameter,
)
from ep11core.mlkem512 import MLKEM512PrivateKey, MLKEM512PublicKey
from ep11core.types import KyberKEMParams, Mechanism
from conftest import der_element, raises_ckr

# Per parameter set: the file, CKA_IBM_PARAMETER_SET, the private key from the 64-byte seed
# d || z, and the public key from its raw bytes. ML-KEM-512 runs on the emulator's own code.
ML_KEM_FILES = {
    "ML-KEM-512": ("kat_MLKEM_512.rsp", 1, MLKEM512PrivateKey, MLKEM512PublicKey),
    "ML-KEM-768": (
        "kat_MLKEM_768.rsp",
        2,
        mlkem.MLKEM768PrivateKey.from_seed_bytes,
        mlkem.MLKEM768PublicKey.from_public_bytes,
    ),
    "ML-KEM-1024": (
        "kat_MLKEM_1024.rsp",
        3,
        mlkem.MLKEM1024PrivateKey.from_seed_bytes,
        mlkem.MLKEM1024PublicKey.from_public_bytes,
    ),
}
ML_DSA_FILES = {
    "ML-DSA-44": ("kat_MLDSA_44_det_pure.rsp", 1, mldsa.MLDSA44PrivateKey, mldsa.MLDSA44PublicKey),
    "ML-DSA-65": ("kat_MLDSA_65_det_pure.rsp", 2, mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey),
    "ML-DSA-87": ("kat_MLDSA_87_det_pure.rsp", 3, mldsa.MLDSA87PrivateKey, mldsa.MLDSA87PublicKey),
}
# The number of leading cases of each file that run on every backend, and the number of ML-KEM
# cases that the engine runs by default.
BACKEND_CASES = 3
ENGINE_ML_KEM_CASES = 100
DECAPSULATE = 2
HMAC_DATA = b"known-answer check of a derived secret"
SECRET_TEMPLATE = {
    CKA.CLASS: CKO.SECRET_KEY,
    CKA.KEY_TYPE: CKK.GENERIC_SECRET,
    CKA.VALUE_LEN: 32,
    CKA.SIGN: True,
}
INTEGER_FIELDS = frozenset({"count", "mlen", "smlen"})


def read_cases(folder: str, filename: str) -> list:
    """Parse a NIST-style .rsp file of the package into one dict per ``count`` block.

    Hex fields become bytes and ``count``, ``mlen`` and ``smlen`` become ints.
    """
    path = str(PurePosixPath("asymmetric", folder, filename))
    cases = []
    with cryptography_vectors.open_vector_file(path, "r") as vector_file:
        for line in vector_file:
            name, separator, value = line.strip().partition(" = ")
            if not separator:
                continue
            if name == "count":
                cases.append({})
            cases[-1][name] = int(value) if name in INTEGER_FIELDS else bytes.fromhex(value)
    return cases


_CASE_CACHE = {}


def cases_of(folder: str, filename: str) -> list:
    if filename not in _CASE_CACHE:
        _CASE_CACHE[filename] = read_cases(folder, filename)
    return _CASE_CACHE[filename]


def spki_bytes(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pkcs8_bytes(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def hmac_sha256(key: bytes) -> bytes:
    return hmac.new(key, HMAC_DATA, hashlib.sha256).digest()


def test_vector_files_complete():
    for filename, *_ in ML_KEM_FILES.values():
        cases = cases_of("MLKEM", filename)
        assert len(cases) == 1000
        assert [case["count"] for case in cases] == list(range(1000))
    for filename, *_ in ML_DSA_FILES.values():
        cases = cases_of("MLDSA", filename)
        assert len(cases) == 100
        assert all(case["ctx"] for case in cases), "every ML-DSA case has a context"


# --- ML-KEM


def decapsulate_known_answer(ep11, private_blob: bytes, ciphertext: bytes, shared_secret: bytes):
    """Decapsulate ``ciphertext`` in the HSM and check the new key against ``shared_secret``."""
    mechanism = Mechanism(
        CKM.IBM_ML_KEM, KyberKEMParams(0, DECAPSULATE, CKD.NULL, ciphertext=ciphertext)
    )
    derived = ep11.derive_key(mechanism, private_blob, b"", SECRET_TEMPLATE)
    assert derived.checksum[:7] == secret_checksum(CKK.GENERIC_SECRET, shared_secret)
    mac = ep11.sign_single(Mechanism(CKM.SHA256_HMAC), derived.blob, HMAC_DATA)
    assert mac == hmac_sha256(shared_secret)


def check_ml_kem_case(ep11, import_private, import_public, parameter_set: str, case: dict):
    _, number, private_key_of, public_key_of = ML_KEM_FILES[parameter_set]
    private_key = private_key_of(case["d"] + case["z"])
    expected_spki = spki_bytes(public_key_of(case["pk"]))

    imported = import_private(ep11, pkcs8_bytes(private_key), CKK.IBM_ML_KEM, {CKA.DERIVE: True})
    assert imported.attributes[CKA.IBM_PARAMETER_SET] == number
    maced = ep11.get_attribute_value(imported.blob, [CKA.IBM_MACED_PUBLIC_KEY_INFO])
    assert der_element(maced[CKA.IBM_MACED_PUBLIC_KEY_INFO]) == expected_spki, "pk differs"

    decapsulate_known_answer(ep11, imported.blob, case["ct"], case["ss"])
    decapsulate_known_answer(ep11, imported.blob, case["ct_n"], case["ss_n"])

    public = import_public(ep11, expected_spki, {CKA.DERIVE: True})
    assert public.attributes[CKA.KEY_TYPE] == CKK.IBM_ML_KEM
    assert public.attributes[CKA.IBM_PARAMETER_SET] == number
    assert der_element(public.blob) == expected_spki


@pytest.mark.parametrize("parameter_set", sorted(ML_KEM_FILES))
def test_ml_kem_known_answers(ep11, import_private, import_public, parameter_set):
    filename = ML_KEM_FILES[parameter_set][0]
    for case in cases_of("MLKEM", filename)[:BACKEND_CASES]:
        check_ml_kem_case(ep11, import_private, import_public, parameter_set, case)


@pytest.mark.parametrize("parameter_set", sorted(ML_KEM_FILES))
def test_ml_kem_known_answers_engine(local_engine, import_private, import_public, parameter_set):
    filename = ML_KEM_FILES[parameter_set][0]
    for case in cases_of("MLKEM", filename)[:ENGINE_ML_KEM_CASES]:
        check_ml_kem_case(local_engine, import_private, import_public, parameter_set, case)


@pytest.mark.slow
@pytest.mark.parametrize("parameter_set", sorted(ML_KEM_FILES))
def test_ml_kem_known_answers_all(local_engine, import_private, import_public, parameter_set):
    filename = ML_KEM_FILES[parameter_set][0]
    for case in cases_of("MLKEM", filename):
        check_ml_kem_case(local_engine, import_private, import_public, parameter_set, case)


# --- ML-DSA


def ml_dsa(context: bytes, hedge_variant: int = 0) -> Mechanism:
    return Mechanism(CKM.IBM_ML_DSA, encode_sign_context_parameter(context, hedge_variant))


def split_signed_message(case: dict):
    """Return (signature, message) of a case; sm is the signature followed by the message."""
    signed = case["sm"]
    assert len(signed) == case["smlen"]
    signature_length = case["smlen"] - case["mlen"]
    message = signed[signature_length:]
    assert message == case["msg"][: case["mlen"]]
    return signed[:signature_length], message


def check_ml_dsa_case(ep11, import_private, import_public, parameter_set: str, case: dict):
    _, number, private_class, public_class = ML_DSA_FILES[parameter_set]
    expected_spki = spki_bytes(public_class.from_public_bytes(case["pk"]))
    signature, message = split_signed_message(case)
    context = case["ctx"]

    public = import_public(ep11, expected_spki, {CKA.VERIFY: True})
    assert public.attributes[CKA.KEY_TYPE] == CKK.IBM_ML_DSA
    assert public.attributes[CKA.IBM_PARAMETER_SET] == number
    assert der_element(public.blob) == expected_spki
    ep11.verify_single(ml_dsa(context), public.blob, message, signature)
    ep11.verify_single(ml_dsa(context), expected_spki, message, signature)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(Mechanism(CKM.IBM_ML_DSA), public.blob, message, signature)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(ml_dsa(context[:-1]), public.blob, message, signature)

    private_key = private_class.from_seed_bytes(case["xi"])
    imported = import_private(ep11, pkcs8_bytes(private_key), CKK.IBM_ML_DSA, {CKA.SIGN: True})
    assert imported.attributes[CKA.IBM_PARAMETER_SET] == number
    maced = ep11.get_attribute_value(imported.blob, [CKA.IBM_MACED_PUBLIC_KEY_INFO])
    assert der_element(maced[CKA.IBM_MACED_PUBLIC_KEY_INFO]) == expected_spki, "pk differs"

    # ML-DSA signing here is hedged, so the signature differs from the deterministic one in sm.
    own_signature = ep11.sign_single(ml_dsa(context), imported.blob, message)
    assert len(own_signature) == len(signature)
    public_class.from_public_bytes(case["pk"]).verify(own_signature, message, context)
    ep11.verify_single(ml_dsa(context), public.blob, message, own_signature)


@pytest.mark.parametrize("parameter_set", sorted(ML_DSA_FILES))
def test_ml_dsa_known_answers(ep11, import_private, import_public, parameter_set):
    filename = ML_DSA_FILES[parameter_set][0]
    for case in cases_of("MLDSA", filename)[:BACKEND_CASES]:
        check_ml_dsa_case(ep11, import_private, import_public, parameter_set, case)


@pytest.mark.parametrize("parameter_set", sorted(ML_DSA_FILES))
def test_ml_dsa_known_answers_engine(local_engine, import_private, import_public, parameter_set):
    filename = ML_DSA_FILES[parameter_set][0]
    for case in cases_of("MLDSA", filename):
        check_ml_dsa_case(local_engine, import_private, import_public, parameter_set, case)


def test_ml_dsa_context_through_init(ep11, import_public):
    case = cases_of("MLDSA", ML_DSA_FILES["ML-DSA-65"][0])[0]
    public_key = mldsa.MLDSA65PublicKey.from_public_bytes(case["pk"])
    public = import_public(ep11, spki_bytes(public_key), {CKA.VERIFY: True})
    signature, message = split_signed_message(case)
    state = ep11.verify_init(ml_dsa(case["ctx"], HEDGE_REQUIRED), public.blob)
    ep11.verify(state, message, signature)
    state = ep11.verify_init(ml_dsa(b""), public.blob)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify(state, message, signature)


def test_ml_dsa_context_signature_verifies(ep11, import_private):
    private_key = mldsa.MLDSA44PrivateKey.generate()
    imported = import_private(ep11, pkcs8_bytes(private_key), CKK.IBM_ML_DSA, {CKA.SIGN: True})
    context = bytes(range(255))
    state = ep11.sign_init(ml_dsa(context), imported.blob)
    signature = ep11.sign(state, b"signed with the longest context")
    private_key.public_key().verify(signature, b"signed with the longest context", context)
    foreign = private_key.sign(b"signed by cryptography", b"ctx")
    spki = spki_bytes(private_key.public_key())
    ep11.verify_single(ml_dsa(b"ctx"), spki, b"signed by cryptography", foreign)


def test_ml_dsa_empty_context_forms_agree(ep11, import_private):
    private_key = mldsa.MLDSA44PrivateKey.generate()
    imported = import_private(ep11, pkcs8_bytes(private_key), CKK.IBM_ML_DSA, {CKA.SIGN: True})
    spki = spki_bytes(private_key.public_key())
    for mechanism in (Mechanism(CKM.IBM_ML_DSA), Mechanism(CKM.IBM_ML_DSA, b""), ml_dsa(b"")):
        signature = ep11.sign_single(mechanism, imported.blob, b"empty context")
        private_key.public_key().verify(signature, b"empty context")
        ep11.verify_single(Mechanism(CKM.IBM_ML_DSA), spki, b"empty context", signature)


@pytest.mark.parametrize(
    "parameter",
    [
        encode_sign_context_parameter(bytes(256)),
        encode_sign_context_parameter(b"ctx", 3),
        encode_sign_context_parameter(b"ctx") + b"\x00",
        encode_sign_context_parameter(b"ctx")[:-1],
        bytes(15),
        b"context",
    ],
    ids=[
        "256-byte context",
        "hedge variant 3",
        "trailing byte",
        "short context",
        "short header",
        "bare string",
    ],
)
def test_ml_dsa_context_parameter_rejected(ep11, import_private, parameter):
    private_key = mldsa.MLDSA44PrivateKey.generate()
    imported = import_private(ep11, pkcs8_bytes(private_key), CKK.IBM_ML_DSA, {CKA.SIGN: True})
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.sign_single(Mechanism(CKM.IBM_ML_DSA, parameter), imported.blob, b"m")
    spki = spki_bytes(private_key.public_key())
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.verify_single(Mechanism(CKM.IBM_ML_DSA, parameter), spki, b"m", bytes(2420))


def test_ml_dsa_deterministic_signing_rejected(ep11, import_private):
    private_key = mldsa.MLDSA44PrivateKey.generate()
    imported = import_private(ep11, pkcs8_bytes(private_key), CKK.IBM_ML_DSA, {CKA.SIGN: True})
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.sign_single(ml_dsa(b"ctx", DETERMINISTIC_REQUIRED), imported.blob, b"m")
    state = ep11.sign_init(ml_dsa(b"ctx", DETERMINISTIC_REQUIRED), imported.blob)
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.sign(state, b"m")
    signature = private_key.sign(b"m", b"ctx")
    spki = spki_bytes(private_key.public_key())
    ep11.verify_single(ml_dsa(b"ctx", DETERMINISTIC_REQUIRED), spki, b"m", signature)
