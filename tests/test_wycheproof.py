"""Project Wycheproof vectors through the engine's public API, on every backend.

The vectors (C2SP/wycheproof ``testvectors_v1``) are read at test time from ``VECTOR_DIR``,
beside the repository. Each case has a ``result``: ``valid`` cases must succeed
with the expected output, ``invalid`` cases must raise ``PKCS11Error`` with the CKR code named
in each runner, and ``acceptable`` cases may do either. Any other exception fails the case.

Files for mechanisms that the engine does not offer yet are skipped with the missing mechanism
named, and fail once GetMechanismList reports the mechanism, so that a runner gets written.
"""

import hashlib
import hmac
import json
from functools import lru_cache
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

from ep11core.constants import CKA, CKG, CKK, CKM, CKO, CKR, CKZ
from ep11core.errors import PKCS11Error
from ep11core.keys import CURVES
from ep11core.mechanisms.parameters import (
    GCM_MAX_IV_BYTES,
    ML_DSA_MAX_CONTEXT_BYTES,
    encode_gcm_parameter,
    encode_sign_context_parameter,
)
from ep11core.types import Mechanism, OAEPParams, PSSParams

VECTOR_DIR = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "wycheproof"
MISSING_REASON = f"the Wycheproof vectors are not at {VECTOR_DIR}"

HASHES = {
    "SHA-1": (CKM.SHA_1, CKG.MGF1_SHA1),
    "SHA-224": (CKM.SHA224, CKG.MGF1_SHA224),
    "SHA-256": (CKM.SHA256, CKG.MGF1_SHA256),
    "SHA-384": (CKM.SHA384, CKG.MGF1_SHA384),
    "SHA-512": (CKM.SHA512, CKG.MGF1_SHA512),
}
ECDSA_MECHANISMS = {
    "SHA-256": CKM.ECDSA_SHA256,
    "SHA-384": CKM.ECDSA_SHA384,
    "SHA-512": CKM.ECDSA_SHA512,
}
# Bytes of one half of a raw r||s signature: the byte length of the group order.
ORDER_BYTES = {
    "secp256r1": 32,
    "secp384r1": 48,
    "secp521r1": 66,
    "secp256k1": 32,
    "brainpoolP256r1": 32,
}
# Wycheproof curve names as OpenSSL names them, for the lookup in the engine's curve table.
OPENSSL_CURVE_NAMES = {"secp256r1": "prime256v1"}
SUPPORTED_CURVES = {curve.openssl_name for curve in CURVES}


class Case:
    """One Wycheproof test case with the group it belongs to."""

    def __init__(self, file_name: str, group: dict, test: dict):
        self.file_name = file_name
        self.group = group
        self.test = test

    @property
    def result(self) -> str:
        return self.test["result"]

    def bytes_of(self, field: str) -> bytes:
        """Return a hex field of the test case as bytes."""
        return bytes.fromhex(self.test[field])

    def __repr__(self) -> str:
        return f"{self.file_name} tcId {self.test['tcId']} ({self.result}: {self.test['comment']})"


@lru_cache(maxsize=None)
def load_cases(file_name: str):
    """Return every case of a vector file, or an empty list when the folder is missing."""
    path = VECTOR_DIR / file_name
    if not VECTOR_DIR.is_dir():
        return []
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    return [
        Case(file_name, group, test)
        for group in document["testGroups"]
        for test in group["tests"]
    ]


def case_params(file_name: str, label: str):
    """Return one pytest parameter per case, with the id ``label-tcN``."""
    cases = load_cases(file_name)
    if not cases:
        marks = pytest.mark.skip(reason=MISSING_REASON)
        return [pytest.param(None, id=f"{label}-missing", marks=marks)]
    return [pytest.param(case, id=f"{label}-tc{case.test['tcId']}") for case in cases]


class ImportedKeys:
    """Keys imported into one backend, each imported once per module."""

    def __init__(self, ep11, import_secret, import_private, import_public):
        self.ep11 = ep11
        self._import_secret = import_secret
        self._import_private = import_private
        self._import_public = import_public
        self._blobs = {}

    def _cached(self, cache_key, importer):
        if cache_key not in self._blobs:
            self._blobs[cache_key] = importer().blob
        return self._blobs[cache_key]

    def secret(self, key_type, value: bytes) -> bytes:
        return self._cached(
            ("secret", key_type, value),
            lambda: self._import_secret(self.ep11, key_type, value, {}),
        )

    def private(self, pkcs8_der: bytes, key_type) -> bytes:
        return self._cached(
            ("private", pkcs8_der),
            lambda: self._import_private(self.ep11, pkcs8_der, key_type, {}),
        )

    def public(self, spki_der: bytes) -> bytes:
        return self._cached(
            ("public", spki_der), lambda: self._import_public(self.ep11, spki_der, {})
        )

    def public_form(self, spki_der: bytes, form: str) -> bytes:
        """Return the key for VerifySingle: a MACed SPKI from CKM_IBM_TRANSPORTKEY, or the SPKI."""
        if form == "transport":
            return self.public(spki_der)
        return spki_der


@pytest.fixture(scope="module")
def keys(ep11, import_secret, import_private, import_public):
    return ImportedKeys(ep11, import_secret, import_private, import_public)


def expect_error(case, call, code):
    """Run ``call``, expect ``PKCS11Error`` with ``code`` and return the error."""
    with pytest.raises(PKCS11Error) as raised:
        call()
    assert raised.value.code == code, f"{case}: got {raised.value}"
    return raised.value


def expect_verify(case, call, invalid_code):
    """Run a verification: valid passes, invalid raises ``invalid_code``, acceptable either."""
    if case.result == "valid":
        call()
    elif case.result == "invalid":
        expect_error(case, call, invalid_code)
    else:
        try:
            call()
        except PKCS11Error as error:
            assert error.code == invalid_code, f"{case}: got {error}"


def _split_in_two(data: bytes):
    middle = len(data) // 2 + 1
    return [piece for piece in (data[:middle], data[middle:]) if piece]


# --- AES-CBC with PKCS #5 padding: CKM_AES_CBC_PAD

AES_CBC_CASES = case_params("aes_cbc_pkcs5_test.json", "aes-cbc-pkcs5")
# An invalid case has no plaintext to encrypt. Without vectors the one skip marker stays.
AES_CBC_VALID_CASES = [
    param
    for param in AES_CBC_CASES
    if param.values[0] is None or param.values[0].result == "valid"
]


def _aes_cbc_pad_error(ciphertext: bytes) -> int:
    if not ciphertext or len(ciphertext) % 16:
        return CKR.ENCRYPTED_DATA_LEN_RANGE
    return CKR.ENCRYPTED_DATA_INVALID


def _aes_cbc_pad(ep11, keys, case):
    key = keys.secret(CKK.AES, case.bytes_of("key"))
    return key, Mechanism(CKM.AES_CBC_PAD, case.bytes_of("iv"))


@pytest.mark.parametrize("case", AES_CBC_CASES)
def test_aes_cbc_pkcs5_decrypt(ep11, keys, case):
    key, mechanism = _aes_cbc_pad(ep11, keys, case)
    ciphertext = case.bytes_of("ct")
    if case.result == "valid":
        assert ep11.decrypt_single(mechanism, key, ciphertext) == case.bytes_of("msg")
        return
    # Every invalid case here has a bad or missing padding, so none is acceptable.
    error = _aes_cbc_pad_error(ciphertext)
    expect_error(case, lambda: ep11.decrypt_single(mechanism, key, ciphertext), error)


@pytest.mark.parametrize("case", AES_CBC_CASES)
def test_aes_cbc_pkcs5_decrypt_multi_part(ep11, keys, case):
    key, mechanism = _aes_cbc_pad(ep11, keys, case)
    ciphertext = case.bytes_of("ct")

    def decrypt():
        state = ep11.decrypt_init(mechanism, key)
        output = b""
        for piece in _split_in_two(ciphertext):
            result = ep11.decrypt_update(state, piece)
            state, output = result.state, output + result.output
        return output + ep11.decrypt_final(state)

    if case.result == "valid":
        assert decrypt() == case.bytes_of("msg")
        return
    expect_error(case, decrypt, _aes_cbc_pad_error(ciphertext))


@pytest.mark.parametrize("case", AES_CBC_VALID_CASES)
def test_aes_cbc_pkcs5_encrypt(ep11, keys, case):
    key, mechanism = _aes_cbc_pad(ep11, keys, case)
    assert ep11.encrypt_single(mechanism, key, case.bytes_of("msg")) == case.bytes_of("ct")


# --- ECDSA with raw r||s (IEEE P1363) signatures

ECDSA_FILES = [
    ("ecdsa_secp256r1_sha256_p1363_test.json", "secp256r1"),
    ("ecdsa_secp384r1_sha384_p1363_test.json", "secp384r1"),
    ("ecdsa_secp521r1_sha512_p1363_test.json", "secp521r1"),
    ("ecdsa_secp256k1_sha256_p1363_test.json", "secp256k1"),
    ("ecdsa_brainpoolP256r1_sha256_p1363_test.json", "brainpoolP256r1"),
]


def ecdsa_case_params(file_name: str, curve: str):
    """Return the cases of an ECDSA file, or one skipped parameter if the curve is missing."""
    if OPENSSL_CURVE_NAMES.get(curve, curve) not in SUPPORTED_CURVES:
        reason = f"curve {curve} is not in the engine's curve table (ep11core.keys.CURVES)"
        marks = pytest.mark.skip(reason=reason)
        return [pytest.param(None, id=f"{curve}-unsupported", marks=marks)]
    return case_params(file_name, curve)


ECDSA_CASES = [
    param for file_name, curve in ECDSA_FILES for param in ecdsa_case_params(file_name, curve)
]
KEY_FORMS = ["transport", "plain-spki"]


@pytest.mark.parametrize("form", KEY_FORMS)
@pytest.mark.parametrize("case", ECDSA_CASES)
def test_ecdsa_p1363_verify(ep11, keys, case, form):
    curve = case.group["publicKey"]["curve"]
    key = keys.public_form(bytes.fromhex(case.group["publicKeyDer"]), form)
    mechanism = Mechanism(ECDSA_MECHANISMS[case.group["sha"]])
    signature = case.bytes_of("sig")
    if len(signature) != 2 * ORDER_BYTES[curve]:
        error = CKR.SIGNATURE_LEN_RANGE
    else:
        error = CKR.SIGNATURE_INVALID
    expect_verify(
        case, lambda: ep11.verify_single(mechanism, key, case.bytes_of("msg"), signature), error
    )


# --- DSA with raw r||s (IEEE P1363) signatures

DSA_CASES = case_params("dsa_2048_256_sha256_p1363_test.json", "dsa-2048-256")


@pytest.mark.parametrize("form", KEY_FORMS)
@pytest.mark.parametrize("case", DSA_CASES)
def test_dsa_p1363_verify(ep11, keys, case, form):
    assert case.group["sha"] == "SHA-256", "this runner uses CKM_DSA_SHA256"
    key = keys.public_form(bytes.fromhex(case.group["publicKeyDer"]), form)
    q = int(case.group["publicKey"]["q"], 16)
    signature = case.bytes_of("sig")
    if len(signature) != 2 * ((q.bit_length() + 7) // 8):
        error = CKR.SIGNATURE_LEN_RANGE
    else:
        error = CKR.SIGNATURE_INVALID

    def verify():
        ep11.verify_single(Mechanism(CKM.DSA_SHA256), key, case.bytes_of("msg"), signature)

    expect_verify(case, verify, error)


# --- HMAC-SHA-256 and HMAC-SHA-512
#
# The engine always returns and verifies full-length MACs, as PKCS #11 defines for
# CKM_SHA*_HMAC (the _GENERAL mechanisms, which take a MAC length, are not offered). So a
# truncated Wycheproof tag is compared with the prefix of the signed MAC, and VerifySingle
# rejects it with CKR_SIGNATURE_LEN_RANGE whether the tag is right or not.

HMAC_FILES = {
    "hmac_sha256_test.json": (CKM.SHA256_HMAC, 32),
    "hmac_sha512_test.json": (CKM.SHA512_HMAC, 64),
}
HMAC_CASES = case_params("hmac_sha256_test.json", "sha256") + case_params(
    "hmac_sha512_test.json", "sha512"
)


@pytest.mark.parametrize("case", HMAC_CASES)
def test_hmac_sign(ep11, keys, case):
    mechanism, _ = HMAC_FILES[case.file_name]
    key = keys.secret(CKK.GENERIC_SECRET, case.bytes_of("key"))
    tag = case.bytes_of("tag")
    mac = ep11.sign_single(Mechanism(mechanism), key, case.bytes_of("msg"))
    if case.result == "valid":
        assert mac[: len(tag)] == tag
    else:
        assert mac[: len(tag)] != tag


@pytest.mark.parametrize("case", HMAC_CASES)
def test_hmac_verify(ep11, keys, case):
    mechanism, size = HMAC_FILES[case.file_name]
    key = keys.secret(CKK.GENERIC_SECRET, case.bytes_of("key"))
    tag = case.bytes_of("tag")

    def verify():
        ep11.verify_single(Mechanism(mechanism), key, case.bytes_of("msg"), tag)

    if len(tag) != size:
        expect_error(case, verify, CKR.SIGNATURE_LEN_RANGE)
        return
    expect_verify(case, verify, CKR.SIGNATURE_INVALID)


# --- AES-CMAC: CKM_AES_CMAC
#
# Cases with a key of an invalid AES size fail already at the import, with
# CKR_WRAPPED_KEY_INVALID.

AES_CMAC_CASES = case_params("aes_cmac_test.json", "aes-cmac")


def _aes_key_or_error(case, keys):
    """Return the imported key, or None after checking that an invalid key size is rejected."""
    key_value = case.bytes_of("key")
    if len(key_value) in (16, 24, 32):
        return keys.secret(CKK.AES, key_value)
    assert case.result == "invalid", f"{case}: a valid case with a {len(key_value)}-byte key"
    expect_error(case, lambda: keys.secret(CKK.AES, key_value), CKR.WRAPPED_KEY_INVALID)
    return None


@pytest.mark.parametrize("case", AES_CMAC_CASES)
def test_aes_cmac_sign(ep11, keys, case):
    key = _aes_key_or_error(case, keys)
    if key is None:
        return
    mac = ep11.sign_single(Mechanism(CKM.AES_CMAC), key, case.bytes_of("msg"))
    if case.result == "valid":
        assert mac == case.bytes_of("tag")
    else:
        assert mac != case.bytes_of("tag")


@pytest.mark.parametrize("case", AES_CMAC_CASES)
def test_aes_cmac_verify(ep11, keys, case):
    key = _aes_key_or_error(case, keys)
    if key is None:
        return
    message = case.bytes_of("msg")
    tag = case.bytes_of("tag")

    def verify():
        state = ep11.verify_init(Mechanism(CKM.AES_CMAC), key)
        for piece in _split_in_two(message):
            state = ep11.verify_update(state, piece)
        ep11.verify_final(state, tag)

    expect_verify(case, verify, CKR.SIGNATURE_INVALID)


# --- AES-GCM: CKM_AES_GCM, the parameter in the ParameterB form of CK_GCM_PARAMS
#
# NOTE: the engine takes GCM IVs of 1 to 128 bytes, the limit of OpenSSL 3.0, so the valid
# cases with longer IVs, like those with an empty IV, expect CKR_MECHANISM_PARAM_INVALID.

def _gcm_iv_supported(case) -> bool:
    return 1 <= len(case.bytes_of("iv")) <= GCM_MAX_IV_BYTES


AES_GCM_CASES = case_params("aes_gcm_test.json", "aes-gcm")
# Multi-part decryption needs an IV that DecryptInit takes, and encryption a valid case too.
# Without vectors the one skip marker stays.
AES_GCM_SUPPORTED_CASES = [
    param
    for param in AES_GCM_CASES
    if param.values[0] is None or _gcm_iv_supported(param.values[0])
]
AES_GCM_VALID_CASES = [
    param
    for param in AES_GCM_SUPPORTED_CASES
    if param.values[0] is None or param.values[0].result == "valid"
]


def _gcm_mechanism(case) -> Mechanism:
    parameter = encode_gcm_parameter(
        case.bytes_of("iv"), case.bytes_of("aad"), case.group["tagSize"]
    )
    return Mechanism(CKM.AES_GCM, parameter)


@pytest.mark.parametrize("case", AES_GCM_CASES)
def test_aes_gcm_decrypt(ep11, keys, case):
    key = keys.secret(CKK.AES, case.bytes_of("key"))
    sealed = case.bytes_of("ct") + case.bytes_of("tag")

    def decrypt():
        return ep11.decrypt_single(_gcm_mechanism(case), key, sealed)

    if not _gcm_iv_supported(case):
        expect_error(case, decrypt, CKR.MECHANISM_PARAM_INVALID)
    elif case.result == "valid":
        assert decrypt() == case.bytes_of("msg")
    else:
        # Every invalid case with a supported IV has a modified tag.
        expect_error(case, decrypt, CKR.ENCRYPTED_DATA_INVALID)


@pytest.mark.parametrize("case", AES_GCM_SUPPORTED_CASES)
def test_aes_gcm_decrypt_multi_part(ep11, keys, case):
    key = keys.secret(CKK.AES, case.bytes_of("key"))
    state = ep11.decrypt_init(_gcm_mechanism(case), key)
    output = b""
    for piece in _split_in_two(case.bytes_of("ct") + case.bytes_of("tag")):
        result = ep11.decrypt_update(state, piece)
        state = result.state
        output += result.output
    if case.result == "valid":
        assert output + ep11.decrypt_final(state) == case.bytes_of("msg")
    else:
        expect_error(case, lambda: ep11.decrypt_final(state), CKR.ENCRYPTED_DATA_INVALID)


@pytest.mark.parametrize("case", AES_GCM_VALID_CASES)
def test_aes_gcm_encrypt(ep11, keys, case):
    key = keys.secret(CKK.AES, case.bytes_of("key"))
    sealed = ep11.encrypt_single(_gcm_mechanism(case), key, case.bytes_of("msg"))
    assert sealed == case.bytes_of("ct") + case.bytes_of("tag")


# --- RSA decryption: PKCS #1 v1.5 and OAEP


def _rsa_decrypt_error(case, ciphertext: bytes) -> int:
    if len(ciphertext) != case.group["keySize"] // 8:
        return CKR.ENCRYPTED_DATA_LEN_RANGE
    return CKR.ENCRYPTED_DATA_INVALID


def _run_rsa_decrypt(ep11, keys, case, mechanism):
    key = keys.private(bytes.fromhex(case.group["privateKeyPkcs8"]), CKK.RSA)
    ciphertext = case.bytes_of("ct")
    if case.result == "valid":
        assert ep11.decrypt_single(mechanism, key, ciphertext) == case.bytes_of("msg")
        return None
    # None of the RSA decryption files has acceptable cases.
    return expect_error(
        case,
        lambda: ep11.decrypt_single(mechanism, key, ciphertext),
        _rsa_decrypt_error(case, ciphertext),
    )


PKCS1_CASES = case_params("rsa_pkcs1_2048_test.json", "rsa-pkcs1-2048")


@pytest.mark.parametrize("case", PKCS1_CASES)
def test_rsa_pkcs1_decrypt(ep11, keys, case):
    _run_rsa_decrypt(ep11, keys, case, Mechanism(CKM.RSA_PKCS))


OAEP_FILES = [
    ("rsa_oaep_2048_sha1_mgf1sha1_test.json", "sha1-mgf1sha1"),
    ("rsa_oaep_2048_sha256_mgf1sha256_test.json", "sha256-mgf1sha256"),
]
OAEP_CASES = [param for file_name, label in OAEP_FILES for param in case_params(file_name, label)]


def _oaep_mechanism(case) -> Mechanism:
    hash_mechanism, _ = HASHES[case.group["sha"]]
    _, mgf = HASHES[case.group["mgfSha"]]
    label = case.bytes_of("label")
    source = CKZ.DATA_SPECIFIED if label else CKZ.NO_DATA_SPECIFIED
    return Mechanism(CKM.RSA_PKCS_OAEP, OAEPParams(hash_mechanism, mgf, source, label))


@pytest.mark.parametrize("case", OAEP_CASES)
def test_rsa_oaep_decrypt(ep11, keys, case):
    _run_rsa_decrypt(ep11, keys, case, _oaep_mechanism(case))


# The Wycheproof notes on invalid padding require that every such case fail the same way, so
# that a caller cannot tell the kinds of bad padding apart (Bleichenbacher and Manger oracles).
UNIFORM_ERROR_FILES = [
    pytest.param("rsa_pkcs1_2048_test.json", "InvalidPkcs1Padding", id="pkcs1"),
    pytest.param("rsa_oaep_2048_sha1_mgf1sha1_test.json", "InvalidOaepPadding", id="oaep-sha1"),
    pytest.param(
        "rsa_oaep_2048_sha256_mgf1sha256_test.json", "InvalidOaepPadding", id="oaep-sha256"
    ),
]


@pytest.mark.parametrize("file_name, flag", UNIFORM_ERROR_FILES)
def test_rsa_padding_errors_uniform(ep11, keys, file_name, flag):
    cases = [case for case in load_cases(file_name) if flag in case.test["flags"]]
    if not cases:
        pytest.skip(MISSING_REASON)
    errors = set()
    for case in cases:
        mechanism = Mechanism(CKM.RSA_PKCS) if flag == "InvalidPkcs1Padding" else None
        error = _run_rsa_decrypt(ep11, keys, case, mechanism or _oaep_mechanism(case))
        errors.add((error.code, error.detail))
    assert len(errors) == 1, f"distinguishable errors: {sorted(errors)}"


# --- RSA signatures: PSS and PKCS #1 v1.5


def _rsa_signature_error(case) -> int:
    if len(case.bytes_of("sig")) != (case.group["keySize"] + 7) // 8:
        return CKR.SIGNATURE_LEN_RANGE
    return CKR.SIGNATURE_INVALID


PSS_CASES = case_params("rsa_pss_2048_sha256_mgf1_32_test.json", "rsa-pss-2048-sha256")
PKCS1_SIGNATURE_CASES = case_params("rsa_signature_2048_sha256_test.json", "rsa-2048-sha256")


@pytest.mark.parametrize("form", KEY_FORMS)
@pytest.mark.parametrize("case", PSS_CASES)
def test_rsa_pss_verify(ep11, keys, case, form):
    hash_mechanism, _ = HASHES[case.group["sha"]]
    _, mgf = HASHES[case.group["mgfSha"]]
    assert case.group["sha"] == "SHA-256", "this runner uses CKM_SHA256_RSA_PKCS_PSS"
    mechanism = Mechanism(
        CKM.SHA256_RSA_PKCS_PSS, PSSParams(hash_mechanism, mgf, case.group["sLen"])
    )
    key = keys.public_form(bytes.fromhex(case.group["publicKeyDer"]), form)

    def verify():
        ep11.verify_single(mechanism, key, case.bytes_of("msg"), case.bytes_of("sig"))

    expect_verify(case, verify, _rsa_signature_error(case))


@pytest.mark.parametrize("form", KEY_FORMS)
@pytest.mark.parametrize("case", PKCS1_SIGNATURE_CASES)
def test_rsa_pkcs1_verify(ep11, keys, case, form):
    assert case.group["sha"] == "SHA-256", "this runner uses CKM_SHA256_RSA_PKCS"
    key = keys.public_form(bytes.fromhex(case.group["publicKeyDer"]), form)

    def verify():
        mechanism = Mechanism(CKM.SHA256_RSA_PKCS)
        ep11.verify_single(mechanism, key, case.bytes_of("msg"), case.bytes_of("sig"))

    expect_verify(case, verify, _rsa_signature_error(case))


# --- ML-DSA-44 verification: CKM_IBM_ML_DSA
#
# CKM_IBM_ML_DSA verifies pure ML-DSA. A case with a context passes it in the mechanism
# parameter (CK_IBM_SIGN_ADDITIONAL_CONTEXT), and a context longer than the 255 bytes of FIPS 204
# raises CKR_MECHANISM_PARAM_INVALID.

MLDSA_FILE = "mldsa_44_verify_test.json"
MLDSA_SIGNATURE_BYTES = 2420
MLDSA_CASES = case_params(MLDSA_FILE, "mldsa44")


@pytest.mark.parametrize("form", KEY_FORMS)
@pytest.mark.parametrize("case", MLDSA_CASES)
def test_mldsa_verify(ep11, keys, case, form):
    signature = case.bytes_of("sig")
    context = case.bytes_of("ctx") if case.test.get("ctx") else b""
    mechanism = Mechanism(CKM.IBM_ML_DSA)
    if context:
        mechanism = Mechanism(CKM.IBM_ML_DSA, encode_sign_context_parameter(context))

    def verify():
        key = keys.public_form(bytes.fromhex(case.group["publicKeyDer"]), form)
        ep11.verify_single(mechanism, key, case.bytes_of("msg"), signature)

    if len(context) > ML_DSA_MAX_CONTEXT_BYTES:
        error = CKR.MECHANISM_PARAM_INVALID
    elif "IncorrectPublicKeyLength" in case.test["flags"]:
        # A malformed public key is refused before any signature is looked at: on import
        # through CKM_IBM_TRANSPORTKEY, or when VerifySingle opens the plain SPKI.
        error = CKR.WRAPPED_KEY_INVALID if form == "transport" else CKR.KEY_HANDLE_INVALID
    elif len(signature) != MLDSA_SIGNATURE_BYTES:
        error = CKR.SIGNATURE_LEN_RANGE
    else:
        error = CKR.SIGNATURE_INVALID
    expect_verify(case, verify, error)


# --- EdDSA: CKM_IBM_ED25519_SHA512 and CKM_IBM_ED448_SHA3

EDDSA_FILES = {
    "ed25519_test.json": (CKM.IBM_ED25519_SHA512, 64),
    "ed448_test.json": (CKM.IBM_ED448_SHA3, 114),
}
EDDSA_CASES = case_params("ed25519_test.json", "ed25519") + case_params(
    "ed448_test.json", "ed448"
)


@pytest.mark.parametrize("form", KEY_FORMS)
@pytest.mark.parametrize("case", EDDSA_CASES)
def test_eddsa_verify(ep11, keys, case, form):
    mechanism, size = EDDSA_FILES[case.file_name]
    # The files give RFC 8410 SPKIs; CKM_IBM_TRANSPORTKEY and VerifySingle read them as well.
    key = keys.public_form(bytes.fromhex(case.group["publicKeyDer"]), form)
    signature = case.bytes_of("sig")
    error = CKR.SIGNATURE_LEN_RANGE if len(signature) != size else CKR.SIGNATURE_INVALID

    def verify():
        ep11.verify_single(Mechanism(mechanism), key, case.bytes_of("msg"), signature)

    expect_verify(case, verify, error)


# --- key agreement: X25519, X448 and ECDH on P-256
#
# The derived key is a generic secret with all of the shared secret (CKD_NULL), and the HSM
# proves its value with an HMAC that is compared with one over the expected secret. An invalid
# peer value, and a low-order X25519 or X448 peer whose shared secret is zero, raise
# CKR_MECHANISM_PARAM_INVALID.

HMAC_DATA = b"Wycheproof shared secret"
AGREEMENT_TEMPLATE = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET}
XDH_FILES = {
    "x25519_test.json": (x25519.X25519PrivateKey, CKM.IBM_EC_X25519),
    "x448_test.json": (x448.X448PrivateKey, CKM.IBM_EC_X448),
}
XDH_CASES = case_params("x25519_test.json", "x25519") + case_params("x448_test.json", "x448")
ECDH_CASES = case_params("ecdh_secp256r1_ecpoint_test.json", "secp256r1-ecpoint")
PKCS8_DER = (
    serialization.Encoding.DER,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
)


def _expect_agreement(ep11, case, mechanism, private_blob):
    def derive():
        key = ep11.derive_key(mechanism, private_blob, b"", AGREEMENT_TEMPLATE)
        return ep11.sign_single(Mechanism(CKM.SHA256_HMAC), key.blob, HMAC_DATA)

    expected = hmac.new(case.bytes_of("shared"), HMAC_DATA, hashlib.sha256).digest()
    if case.result == "valid":
        assert derive() == expected, f"{case}: wrong shared secret"
    elif case.result == "invalid":
        expect_error(case, derive, CKR.MECHANISM_PARAM_INVALID)
    else:
        try:
            assert derive() == expected, f"{case}: wrong shared secret"
        except PKCS11Error as error:
            assert error.code == CKR.MECHANISM_PARAM_INVALID, f"{case}: got {error}"


@pytest.mark.parametrize("case", XDH_CASES)
def test_xdh_derive(ep11, keys, case):
    private_class, mechanism = XDH_FILES[case.file_name]
    pkcs8 = private_class.from_private_bytes(case.bytes_of("private")).private_bytes(*PKCS8_DER)
    private_blob = keys.private(pkcs8, CKK.EC)
    _expect_agreement(ep11, case, Mechanism(mechanism, case.bytes_of("public")), private_blob)


@pytest.mark.parametrize("case", ECDH_CASES)
def test_ecdh_ecpoint_derive(ep11, keys, case):
    scalar = int(case.test["private"], 16)
    pkcs8 = ec.derive_private_key(scalar, ec.SECP256R1()).private_bytes(*PKCS8_DER)
    private_blob = keys.private(pkcs8, CKK.EC)
    mechanism = Mechanism(CKM.ECDH1_DERIVE, case.bytes_of("public"))
    _expect_agreement(ep11, case, mechanism, private_blob)


# --- files without a runner

# Each file names the mechanism its runner would need. The constant may not exist yet either.
UNSUPPORTED_FILES = {
    "aes_wrap_test.json": "AES_KEY_WRAP",
    "aes_kwp_test.json": "AES_KEY_WRAP_KWP",
}
# Files whose cases the public API cannot express at all, with the reason.
INAPPLICABLE_FILES = {
    # The cases give ML-KEM private keys as seeds; UnwrapKey imports no ML-KEM private key, and
    # an emulator-generated key cannot reproduce the expected shared secrets.
    "mlkem_768_test.json": "ML-KEM private keys cannot be imported from seeds",
}
RUNNER_FILES = (
    {"aes_cbc_pkcs5_test.json", "rsa_pkcs1_2048_test.json", MLDSA_FILE}
    | {"aes_cmac_test.json", "aes_gcm_test.json"}
    | {file_name for file_name, _ in ECDSA_FILES}
    | set(HMAC_FILES)
    | {file_name for file_name, _ in OAEP_FILES}
    | {"rsa_pss_2048_sha256_mgf1_32_test.json", "rsa_signature_2048_sha256_test.json"}
    | set(EDDSA_FILES)
    | set(XDH_FILES)
    | {"ecdh_secp256r1_ecpoint_test.json", "dsa_2048_256_sha256_p1363_test.json"}
)


@pytest.mark.parametrize("file_name, mechanism_name", sorted(UNSUPPORTED_FILES.items()))
def test_unsupported_file(local_engine, file_name, mechanism_name):
    mechanism = getattr(CKM, mechanism_name, None)
    if mechanism is None or mechanism not in local_engine.get_mechanism_list():
        pytest.skip(f"CKM_{mechanism_name} is not in the engine's mechanism list yet")
    pytest.fail(
        f"CKM_{mechanism_name} is in the engine's mechanism list now: "
        f"add a runner for {file_name}"
    )


def test_every_file_has_runner():
    if not VECTOR_DIR.is_dir():
        pytest.skip(MISSING_REASON)
    present = {path.name for path in VECTOR_DIR.glob("*.json")}
    unhandled = present - RUNNER_FILES - set(UNSUPPORTED_FILES) - set(INAPPLICABLE_FILES)
    assert not unhandled, f"vector files with no runner and no skip entry: {sorted(unhandled)}"
