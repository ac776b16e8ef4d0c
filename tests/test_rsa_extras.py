"""RSA extras: ANSI X9.31 keys and signatures, OAEP labels and MGF1 hashes, PSS salt lengths.

X9.31 signatures are checked outside the HSM by raising them to e modulo n and reading the
X9.31 block (``6B BB .. BB BA || hash || 33 CC``), because the ``cryptography`` package has no
X9.31. OAEP and PSS with SHA-1 and SHA-2 are cross-checked with ``cryptography`` in both
directions. ``cryptography`` takes no SHA-3 in OAEP and MGF1, so IBM's SHA-3 values
(CKM_IBM_SHA3_* as the hash, CKG_IBM_MGF1_SHA3_* as the mask) are checked against the
EME-OAEP and EMSA-PSS encodings of RFC 8017, written out here over ``hashlib``.
"""

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conftest import der_element, raises_ckr
from ep11core.constants import CKA, CKG, CKK, CKM, CKR, CKZ
from ep11core.types import Mechanism, OAEPParams, PSSParams

MESSAGE = b"This data needs to be signed with X9.31"
# ANSI X9.31 hash identifier of SHA-1 in the signature trailer.
SHA1_TRAILER = bytes((0x33, 0xCC))
MGF_HASHES = {
    CKG.MGF1_SHA1: hashes.SHA1,
    CKG.MGF1_SHA224: hashes.SHA224,
    CKG.MGF1_SHA256: hashes.SHA256,
    CKG.MGF1_SHA384: hashes.SHA384,
    CKG.MGF1_SHA512: hashes.SHA512,
}
SHA3_MGF_HASHES = {
    CKG.IBM_MGF1_SHA3_224: "sha3_224",
    CKG.IBM_MGF1_SHA3_256: "sha3_256",
    CKG.IBM_MGF1_SHA3_384: "sha3_384",
    CKG.IBM_MGF1_SHA3_512: "sha3_512",
}
SHA3_MECHANISMS = {
    "sha3_224": CKM.IBM_SHA3_224,
    "sha3_256": CKM.IBM_SHA3_256,
    "sha3_384": CKM.IBM_SHA3_384,
    "sha3_512": CKM.IBM_SHA3_512,
}
HASH_MECHANISMS = {
    hashes.SHA1: CKM.SHA_1,
    hashes.SHA224: CKM.SHA224,
    hashes.SHA256: CKM.SHA256,
    hashes.SHA384: CKM.SHA384,
    hashes.SHA512: CKM.SHA512,
}


@pytest.fixture(scope="module")
def x931_pair(ep11):
    return ep11.generate_key_pair(
        Mechanism(CKM.RSA_X9_31_KEY_PAIR_GEN),
        {CKA.MODULUS_BITS: 2048, CKA.PUBLIC_EXPONENT: 65537, CKA.VERIFY: True},
        {CKA.SIGN: True},
    )


@pytest.fixture(scope="module")
def rsa_pair(ep11):
    return ep11.generate_key_pair(
        Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN),
        {CKA.MODULUS_BITS: 2048, CKA.PUBLIC_EXPONENT: 65537, CKA.ENCRYPT: True, CKA.VERIFY: True},
        {CKA.DECRYPT: True, CKA.SIGN: True},
    )


def public_numbers(public_blob: bytes):
    return serialization.load_der_public_key(der_element(public_blob)).public_numbers()


def x931_block(public_blob: bytes, signature: bytes) -> bytes:
    """Open an X9.31 signature: s^e mod n, or n minus it, whichever ends in nibble 0xC."""
    numbers = public_numbers(public_blob)
    value = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n)
    if value & 0xF != 0xC:
        value = numbers.n - value
    return value.to_bytes((numbers.n.bit_length() + 7) // 8, "big")


def expected_x931_block(size: int, digest: bytes) -> bytes:
    """Return the X9.31 block of a SHA-1 digest: 6B, BB bytes, BA, the digest, 33 CC."""
    filler = size - 2 - len(digest) - len(SHA1_TRAILER)
    return b"\x6b" + b"\xbb" * filler + b"\xba" + digest + SHA1_TRAILER


# --- ANSI X9.31


def test_x931_key_pair(ep11, x931_pair):
    numbers = public_numbers(x931_pair.public_blob)
    assert numbers.n.bit_length() == 2048
    assert numbers.e == 65537
    attributes = ep11.get_attribute_value(
        x931_pair.private_blob, [CKA.KEY_TYPE, CKA.KEY_GEN_MECHANISM, CKA.MODULUS_BITS]
    )
    assert attributes[CKA.KEY_TYPE] == CKK.RSA
    assert attributes[CKA.KEY_GEN_MECHANISM] == CKM.RSA_X9_31_KEY_PAIR_GEN
    assert attributes[CKA.MODULUS_BITS] == 2048


@pytest.mark.parametrize("bits", [512, 768, 1100, 4352])
def test_x931_key_sizes(ep11, bits):
    with raises_ckr(CKR.KEY_SIZE_RANGE):
        ep11.generate_key_pair(
            Mechanism(CKM.RSA_X9_31_KEY_PAIR_GEN), {CKA.MODULUS_BITS: bits}, {}
        )


def test_sha1_x931_block(ep11, x931_pair):
    signature = ep11.sign_single(Mechanism(CKM.SHA1_RSA_X9_31), x931_pair.private_blob, MESSAGE)
    assert len(signature) == 256
    block = x931_block(x931_pair.public_blob, signature)
    assert block == expected_x931_block(256, hashlib.sha1(MESSAGE).digest())
    # X9.31 sends the smaller of s and n - s.
    assert int.from_bytes(signature, "big") <= public_numbers(x931_pair.public_blob).n // 2


def test_sha1_x931_client_flows(ep11, x931_pair):
    mechanism = Mechanism(CKM.SHA1_RSA_X9_31)
    signature = ep11.sign_single(mechanism, x931_pair.private_blob, MESSAGE)
    ep11.verify_single(mechanism, x931_pair.public_blob, MESSAGE, signature)
    state = ep11.sign_init(mechanism, x931_pair.private_blob)
    assert ep11.sign(state, MESSAGE) == signature
    state = ep11.sign_init(mechanism, x931_pair.private_blob)
    state = ep11.sign_update(state, MESSAGE[:8])
    state = ep11.sign_update(state, MESSAGE[8:])
    assert ep11.sign_final(state) == signature
    state = ep11.verify_init(mechanism, x931_pair.public_blob)
    state = ep11.verify_update(state, MESSAGE[:8])
    state = ep11.verify_update(state, MESSAGE[8:])
    ep11.verify_final(state, signature)


def test_raw_x931_matches_hashed(ep11, x931_pair):
    encapsulated = hashlib.sha1(MESSAGE).digest() + SHA1_TRAILER
    raw = ep11.sign_single(Mechanism(CKM.RSA_X9_31), x931_pair.private_blob, encapsulated)
    hashed = ep11.sign_single(Mechanism(CKM.SHA1_RSA_X9_31), x931_pair.private_blob, MESSAGE)
    assert raw == hashed
    ep11.verify_single(Mechanism(CKM.RSA_X9_31), x931_pair.public_blob, encapsulated, raw)
    state = ep11.sign_init(Mechanism(CKM.RSA_X9_31), x931_pair.private_blob)
    with raises_ckr(CKR.MECHANISM_INVALID):
        ep11.sign_update(state, encapsulated)


def test_raw_x931_other_hash(ep11, x931_pair):
    # SHA-256 has hash identifier 0x34 in X9.31.
    encapsulated = hashlib.sha256(MESSAGE).digest() + bytes((0x34, 0xCC))
    signature = ep11.sign_single(Mechanism(CKM.RSA_X9_31), x931_pair.private_blob, encapsulated)
    block = x931_block(x931_pair.public_blob, signature)
    assert block.endswith(encapsulated)
    assert block.startswith(b"\x6b\xbb")


def test_x931_errors(ep11, x931_pair):
    raw = Mechanism(CKM.RSA_X9_31)
    digest = hashlib.sha1(MESSAGE).digest()
    with raises_ckr(CKR.DATA_INVALID):
        ep11.sign_single(raw, x931_pair.private_blob, digest)
    with raises_ckr(CKR.DATA_INVALID):
        # 0x38 identifies SHA-224 in later X9.31 tables, which OpenSSL does not pad for.
        ep11.sign_single(raw, x931_pair.private_blob, bytes(28) + b"\x38\xcc")
    with raises_ckr(CKR.DATA_LEN_RANGE):
        ep11.sign_single(raw, x931_pair.private_blob, digest + b"\x00" + SHA1_TRAILER)
    signature = ep11.sign_single(Mechanism(CKM.SHA1_RSA_X9_31), x931_pair.private_blob, MESSAGE)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(
            Mechanism(CKM.SHA1_RSA_X9_31), x931_pair.public_blob, MESSAGE + b"!", signature
        )
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.verify_single(
            Mechanism(CKM.SHA1_RSA_X9_31), x931_pair.public_blob, MESSAGE, signature[1:]
        )
    tampered = (int.from_bytes(signature, "big") ^ 1).to_bytes(256, "big")
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(
            Mechanism(CKM.SHA1_RSA_X9_31), x931_pair.public_blob, MESSAGE, tampered
        )


def test_x931_signs_with_pkcs_key(ep11, rsa_pair):
    """X9.31 signatures work with any RSA key of 1024 bits and more."""
    signature = ep11.sign_single(Mechanism(CKM.SHA1_RSA_X9_31), rsa_pair.private_blob, MESSAGE)
    block = x931_block(rsa_pair.public_blob, signature)
    assert block == expected_x931_block(256, hashlib.sha1(MESSAGE).digest())


def test_x931_verifies_imported_signature(ep11, import_public):
    """An X9.31 signature made outside the HSM from the block and the private exponent."""
    theirs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = theirs.private_numbers()
    n = numbers.public_numbers.n
    block = expected_x931_block(256, hashlib.sha1(MESSAGE).digest())
    value = pow(int.from_bytes(block, "big"), numbers.d, n)
    signature = min(value, n - value).to_bytes(256, "big")
    spki = theirs.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = import_public(ep11, spki).blob
    ep11.verify_single(Mechanism(CKM.SHA1_RSA_X9_31), key, MESSAGE, signature)
    ep11.verify_single(Mechanism(CKM.SHA1_RSA_X9_31), spki, MESSAGE, signature)


# --- OAEP labels and MGF1 hashes


def oaep_mechanism(hash_class, mgf, label: bytes) -> Mechanism:
    source = CKZ.DATA_SPECIFIED if label else CKZ.NO_DATA_SPECIFIED
    parameter = OAEPParams(HASH_MECHANISMS[hash_class], mgf, source, label)
    return Mechanism(CKM.RSA_PKCS_OAEP, parameter)


@pytest.mark.parametrize("mgf", sorted(MGF_HASHES), ids=lambda mgf: CKG(mgf).name)
@pytest.mark.parametrize("hash_class", [hashes.SHA1, hashes.SHA256, hashes.SHA512])
@pytest.mark.parametrize(
    "label", [b"", b"label", bytes(range(256)) * 4], ids=["none", "short", "1024"]
)
def test_oaep_cross_check(ep11, rsa_pair, hash_class, mgf, label):
    mechanism = oaep_mechanism(hash_class, mgf, label)
    public_key = serialization.load_der_public_key(der_element(rsa_pair.public_blob))
    scheme = padding.OAEP(padding.MGF1(MGF_HASHES[mgf]()), hash_class(), label or None)
    plaintext = os.urandom(32)
    ciphertext = public_key.encrypt(plaintext, scheme)
    assert ep11.decrypt_single(mechanism, rsa_pair.private_blob, ciphertext) == plaintext
    ours = ep11.encrypt_single(mechanism, rsa_pair.public_blob, plaintext)
    other_label = oaep_mechanism(hash_class, mgf, label[:-1] + b"?" if label else b"x")
    with raises_ckr(CKR.ENCRYPTED_DATA_INVALID):
        ep11.decrypt_single(other_label, rsa_pair.private_blob, ours)
    assert ep11.decrypt_single(mechanism, rsa_pair.private_blob, ours) == plaintext


def test_oaep_label_limits(ep11, rsa_pair):
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.encrypt_single(
            oaep_mechanism(hashes.SHA256, CKG.MGF1_SHA256, bytes(1025)), rsa_pair.public_blob, b"m"
        )
    no_source = Mechanism(
        CKM.RSA_PKCS_OAEP, OAEPParams(CKM.SHA256, CKG.MGF1_SHA256, CKZ.NO_DATA_SPECIFIED, b"l")
    )
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.encrypt_single(no_source, rsa_pair.public_blob, b"m")


# --- PSS salt lengths with other MGF1 hashes


@pytest.mark.parametrize("salt", [0, 20, 32, 222])
@pytest.mark.parametrize("mgf", sorted(MGF_HASHES), ids=lambda mgf: CKG(mgf).name)
def test_pss_salt_and_mgf(ep11, rsa_pair, mgf, salt):
    mechanism = Mechanism(CKM.SHA256_RSA_PKCS_PSS, PSSParams(CKM.SHA256, mgf, salt))
    signature = ep11.sign_single(mechanism, rsa_pair.private_blob, MESSAGE)
    public_key = serialization.load_der_public_key(der_element(rsa_pair.public_blob))
    public_key.verify(
        signature, MESSAGE, padding.PSS(padding.MGF1(MGF_HASHES[mgf]()), salt), hashes.SHA256()
    )
    ep11.verify_single(mechanism, rsa_pair.public_blob, MESSAGE, signature)


def test_pss_salt_too_long(ep11, rsa_pair):
    # emLen - hLen - 2 = 256 - 32 - 2 = 222 bytes is the longest salt for RSA-2048 and SHA-256.
    mechanism = Mechanism(CKM.SHA256_RSA_PKCS_PSS, PSSParams(CKM.SHA256, CKG.MGF1_SHA256, 223))
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID):
        ep11.sign_single(mechanism, rsa_pair.private_blob, MESSAGE)


# --- IBM SHA-3 hashes and masks, against RFC 8017 written out over hashlib


def mgf1(hash_name: str, seed: bytes, length: int) -> bytes:
    output = b""
    counter = 0
    while len(output) < length:
        output += hashlib.new(hash_name, seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return output[:length]


def xor(first: bytes, second: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(first, second))


def oaep_encode(hash_name, mgf_name, message, label, size) -> bytes:
    """EME-OAEP encoding (RFC 8017 section 7.1.1, step 2)."""
    hash_size = hashlib.new(hash_name).digest_size
    padding_string = bytes(size - len(message) - 2 * hash_size - 2)
    block = hashlib.new(hash_name, label).digest() + padding_string + b"\x01" + message
    seed = os.urandom(hash_size)
    masked_block = xor(block, mgf1(mgf_name, seed, size - hash_size - 1))
    masked_seed = xor(seed, mgf1(mgf_name, masked_block, hash_size))
    return b"\x00" + masked_seed + masked_block


def oaep_decode(hash_name, mgf_name, encoded, label) -> bytes:
    """EME-OAEP decoding (RFC 8017 section 7.1.2, step 3), asserting each check."""
    hash_size = hashlib.new(hash_name).digest_size
    assert encoded[0] == 0
    masked_seed, masked_block = encoded[1 : 1 + hash_size], encoded[1 + hash_size :]
    seed = xor(masked_seed, mgf1(mgf_name, masked_block, hash_size))
    block = xor(masked_block, mgf1(mgf_name, seed, len(masked_block)))
    assert block[:hash_size] == hashlib.new(hash_name, label).digest()
    rest = block[hash_size:].lstrip(b"\x00")
    assert rest[0] == 1
    return rest[1:]


def pss_check(hash_name, mgf_name, digest, encoded, salt_length, modulus_bits) -> None:
    """EMSA-PSS verification (RFC 8017 section 9.1.2), asserting each check."""
    hash_size = hashlib.new(hash_name).digest_size
    assert encoded[-1] == 0xBC
    masked_block = encoded[: -hash_size - 1]
    hash_value = encoded[-hash_size - 1 : -1]
    block = bytearray(xor(masked_block, mgf1(mgf_name, hash_value, len(masked_block))))
    block[0] &= 0xFF >> (8 * len(encoded) - (modulus_bits - 1))
    zeros = len(block) - salt_length - 1
    assert block[:zeros] == bytes(zeros)
    assert block[zeros] == 1
    salt = bytes(block[zeros + 1 :])
    assert hashlib.new(hash_name, bytes(8) + digest + salt).digest() == hash_value


@pytest.fixture(scope="module")
def known_rsa(ep11, import_private, import_public):
    """An RSA-2048 key made outside the HSM and imported, so its private exponent is known."""
    theirs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs8 = theirs.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    spki = theirs.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = import_private(ep11, pkcs8, CKK.RSA, {CKA.DECRYPT: True})
    public = import_public(ep11, spki)
    return theirs.private_numbers(), private.blob, public.blob


@pytest.mark.parametrize("mgf", sorted(SHA3_MGF_HASHES), ids=lambda mgf: CKG(mgf).name)
@pytest.mark.parametrize("hash_name", ["sha256", "sha3_256", "sha3_512"])
@pytest.mark.parametrize("label", [b"", b"label"], ids=["none", "label"])
def test_oaep_sha3(ep11, known_rsa, hash_name, mgf, label):
    numbers, private_blob, public_blob = known_rsa
    n, e, d = numbers.public_numbers.n, numbers.public_numbers.e, numbers.d
    hash_mechanism = SHA3_MECHANISMS.get(hash_name, CKM.SHA256)
    source = CKZ.DATA_SPECIFIED if label else CKZ.NO_DATA_SPECIFIED
    mechanism = Mechanism(CKM.RSA_PKCS_OAEP, OAEPParams(hash_mechanism, mgf, source, label))
    mgf_name = SHA3_MGF_HASHES[mgf]
    plaintext = os.urandom(24)
    ciphertext = ep11.encrypt_single(mechanism, public_blob, plaintext)
    encoded = pow(int.from_bytes(ciphertext, "big"), d, n).to_bytes(256, "big")
    assert oaep_decode(hash_name, mgf_name, encoded, label) == plaintext
    block = oaep_encode(hash_name, mgf_name, plaintext, label, 256)
    theirs = pow(int.from_bytes(block, "big"), e, n).to_bytes(256, "big")
    assert ep11.decrypt_single(mechanism, private_blob, theirs) == plaintext


@pytest.mark.parametrize("mgf", sorted(SHA3_MGF_HASHES), ids=lambda mgf: CKG(mgf).name)
@pytest.mark.parametrize("hash_name", ["sha3_224", "sha3_256", "sha3_384", "sha3_512"])
def test_pss_sha3(ep11, rsa_pair, hash_name, mgf):
    """CKM_RSA_PKCS_PSS signs a SHA-3 digest that its parameter names."""
    digest = hashlib.new(hash_name, MESSAGE).digest()
    salt_length = len(digest)
    mechanism = Mechanism(
        CKM.RSA_PKCS_PSS, PSSParams(SHA3_MECHANISMS[hash_name], mgf, salt_length)
    )
    signature = ep11.sign_single(mechanism, rsa_pair.private_blob, digest)
    numbers = public_numbers(rsa_pair.public_blob)
    encoded = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n).to_bytes(256, "big")
    pss_check(hash_name, SHA3_MGF_HASHES[mgf], digest, encoded, salt_length, 2048)
    ep11.verify_single(mechanism, rsa_pair.public_blob, digest, signature)
    with raises_ckr(CKR.DATA_LEN_RANGE):
        ep11.sign_single(mechanism, rsa_pair.private_blob, digest[:-1])


def test_sha2_pss_with_sha3_mask(ep11, rsa_pair):
    mechanism = Mechanism(
        CKM.SHA256_RSA_PKCS_PSS, PSSParams(CKM.SHA256, CKG.IBM_MGF1_SHA3_256, 32)
    )
    signature = ep11.sign_single(mechanism, rsa_pair.private_blob, MESSAGE)
    numbers = public_numbers(rsa_pair.public_blob)
    encoded = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n).to_bytes(256, "big")
    pss_check("sha256", "sha3_256", hashlib.sha256(MESSAGE).digest(), encoded, 32, 2048)
    ep11.verify_single(mechanism, rsa_pair.public_blob, MESSAGE, signature)
