"""The RPC sequences of IBM's GREP11 Go sample suite, run on every ``ep11`` backend.

Each test replays one client flow (random numbers, mechanisms, digests, key generation,
encryption, signatures, wrapping and import) and checks the results: against ``hashlib`` and
``cryptography`` where the key material is known or public, and by round trips otherwise.
Flows that need mechanisms outside the engine's table (DES3, DSA, DH, ECDH, Ed25519, Schnorr,
BIP32, SLIP-0010, Kyber, Dilithium, BLS, attribute-bound wrap) are not here.
"""

import hashlib
import os

import pytest
from conftest import load_public_blob, raises_ckr
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.hazmat.primitives.asymmetric import padding as asymmetric_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ep11core.constants import CKA, CKF, CKG, CKK, CKM, CKO, CKR, CKZ
from ep11core.types import Mechanism, OAEPParams, PSSParams

DIGEST_TEXT = (b"GREP11 digest flow text. " * 4)[:89]
MESSAGE = b"encrypt and decrypt these forty-seven bytes!!!!"
SIGN_TEXT = b"sign this twenty-eight bytes"

EC_PARAMS = {
    "P-256": bytes.fromhex("06082a8648ce3d030107"),
    "P-384": bytes.fromhex("06052b81040022"),
    "P-521": bytes.fromhex("06052b81040023"),
    "secp256k1": bytes.fromhex("06052b8104000a"),
}
CRYPTOGRAPHY_CURVES = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
}
DIGESTS = {
    CKM.SHA_1: "sha1",
    CKM.SHA224: "sha224",
    CKM.SHA256: "sha256",
    CKM.SHA384: "sha384",
    CKM.SHA512: "sha512",
}
OAEP_SHA1 = Mechanism(
    CKM.RSA_PKCS_OAEP, OAEPParams(CKM.SHA_1, CKG.MGF1_SHA1, CKZ.NO_DATA_SPECIFIED)
)
PSS_SHA512 = Mechanism(CKM.SHA512_RSA_PKCS_PSS, PSSParams(CKM.SHA512, CKG.MGF1_SHA512, 0))


# --- key helpers


def generate_aes(ep11, length=32, **flags):
    template = {CKA.VALUE_LEN: length, **{CKA[name.upper()]: value for name, value in flags.items()}}
    return ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), template)


def generate_rsa(ep11, bits=2048, exponent=65537, public=None, private=None):
    public_template = {CKA.MODULUS_BITS: bits, CKA.PUBLIC_EXPONENT: exponent, **(public or {})}
    return ep11.generate_key_pair(
        Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), public_template, dict(private or {})
    )


def generate_ec(ep11, curve="P-256", public=None, private=None):
    public_template = {CKA.EC_PARAMS: EC_PARAMS[curve], **(public or {})}
    return ep11.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), public_template, dict(private or {})
    )


def private_key_der(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_der(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def cbc_pad_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = symmetric_padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def cbc_pad_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    padder = symmetric_padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def der_signature(raw: bytes) -> bytes:
    """Convert a raw ``r‖s`` ECDSA signature to DER for ``cryptography``."""
    half = len(raw) // 2
    r = int.from_bytes(raw[:half], "big")
    s = int.from_bytes(raw[half:], "big")
    return utils.encode_dss_signature(r, s)


def key_check_value(aes_key: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(aes_key), modes.ECB()).encryptor()
    return (encryptor.update(bytes(16)) + encryptor.finalize())[:3]


@pytest.fixture(scope="module")
def rsa_pair(ep11):
    """An RSA-2048 pair with every usage flag and an extractable private key."""
    return generate_rsa(
        ep11,
        public={CKA.ENCRYPT: True, CKA.VERIFY: True, CKA.WRAP: True},
        private={CKA.DECRYPT: True, CKA.SIGN: True, CKA.UNWRAP: True, CKA.EXTRACTABLE: True},
    )


@pytest.fixture(scope="module")
def known_aes(ep11, import_secret):
    """An imported AES-256 key and its value, for known-answer checks."""
    value = os.urandom(32)
    return value, import_secret(ep11, CKK.AES, value)


# --- random numbers and mechanisms


def test_random_4096_bytes(ep11):
    first = ep11.generate_random(4096)
    second = ep11.generate_random(4096)
    assert len(first) == 4096
    assert len(second) == 4096
    assert first != second


def test_mechanism_list_first_rsa_pkcs(ep11):
    mechanisms = ep11.get_mechanism_list()
    assert mechanisms[0] == CKM.RSA_PKCS
    assert len(set(mechanisms)) == len(mechanisms)


def test_mechanism_info_rsa_pkcs(ep11):
    info = ep11.get_mechanism_info(CKM.RSA_PKCS)
    assert info.min_key_size == 512
    assert info.max_key_size == 4096


def test_mechanism_info_aes_key_gen(ep11):
    info = ep11.get_mechanism_info(CKM.AES_KEY_GEN)
    assert info.min_key_size == 16
    assert info.max_key_size == 32
    assert info.flags == CKF.GENERATE


# --- digests


@pytest.mark.parametrize("mechanism", list(DIGESTS), ids=list(DIGESTS.values()))
def test_digest_esp(ep11, mechanism):
    digest = ep11.digest_single(Mechanism(mechanism), DIGEST_TEXT)
    assert digest == hashlib.new(DIGESTS[mechanism], DIGEST_TEXT).digest()


@pytest.mark.parametrize("mechanism", list(DIGESTS), ids=list(DIGESTS.values()))
def test_digest_psp(ep11, mechanism):
    state = ep11.digest_init(Mechanism(mechanism))
    digest = ep11.digest(state, DIGEST_TEXT)
    assert digest == hashlib.new(DIGESTS[mechanism], DIGEST_TEXT).digest()


@pytest.mark.parametrize("mechanism", list(DIGESTS), ids=list(DIGESTS.values()))
def test_digest_pmp(ep11, mechanism):
    state = ep11.digest_init(Mechanism(mechanism))
    state = ep11.digest_update(state, DIGEST_TEXT[:64])
    state = ep11.digest_update(state, DIGEST_TEXT[64:])
    digest = ep11.digest_final(state)
    assert len(DIGEST_TEXT[64:]) == 25
    assert digest == hashlib.new(DIGESTS[mechanism], DIGEST_TEXT).digest()


def test_digest_key(ep11, import_secret):
    value = os.urandom(32)
    key = import_secret(ep11, CKK.GENERIC_SECRET, value, {CKA.IBM_USE_AS_DATA: True})
    state = ep11.digest_init(Mechanism(CKM.SHA256))
    state = ep11.digest_update(state, DIGEST_TEXT)
    state = ep11.digest_key(state, key.blob)
    state = ep11.digest_update(state, DIGEST_TEXT)
    digest = ep11.digest_final(state)
    assert digest == hashlib.sha256(DIGEST_TEXT + value + DIGEST_TEXT).digest()


# --- re-encryption


def test_reencrypt_single_round_trip(ep11):
    first = generate_aes(ep11, encrypt=True, decrypt=True)
    second = generate_aes(ep11, encrypt=True, decrypt=True)
    first_iv = ep11.generate_random(16)
    second_iv = ep11.generate_random(16)
    ciphertext = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, first_iv), first.blob, MESSAGE)
    reciphered = ep11.reencrypt_single(
        Mechanism(CKM.AES_CBC_PAD, first_iv),
        Mechanism(CKM.AES_CBC_PAD, second_iv),
        first.blob,
        second.blob,
        ciphertext,
    )
    assert reciphered != ciphertext
    plain = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, second_iv), second.blob, reciphered)
    assert plain == MESSAGE


def test_reencrypt_single_known_keys(ep11, import_secret):
    source_value, target_value = os.urandom(32), os.urandom(16)
    source = import_secret(ep11, CKK.AES, source_value)
    target = import_secret(ep11, CKK.AES, target_value)
    source_iv, target_iv = os.urandom(16), os.urandom(16)
    reciphered = ep11.reencrypt_single(
        Mechanism(CKM.AES_CBC_PAD, source_iv),
        Mechanism(CKM.AES_CBC_PAD, target_iv),
        source.blob,
        target.blob,
        cbc_pad_encrypt(source_value, source_iv, MESSAGE),
    )
    assert reciphered == cbc_pad_encrypt(target_value, target_iv, MESSAGE)


# --- key generation


def test_keygen_generic_secret(ep11):
    template = {
        CKA.KEY_TYPE: CKK.GENERIC_SECRET,
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.VALUE_LEN: 16,
        CKA.EXTRACTABLE: True,
    }
    key = ep11.generate_key(Mechanism(CKM.GENERIC_SECRET_KEY_GEN), template)
    assert key.blob
    assert key.attributes[CKA.CLASS] == CKO.SECRET_KEY
    assert key.attributes[CKA.KEY_TYPE] == CKK.GENERIC_SECRET
    assert key.attributes[CKA.VALUE_LEN] == 16
    assert key.attributes[CKA.EXTRACTABLE] is True
    assert key.checksum[3:] == (128).to_bytes(4, "big")


def test_keygen_aes(ep11):
    key = generate_aes(ep11, wrap=True, unwrap=True, encrypt=True, decrypt=True, extractable=True)
    assert key.attributes[CKA.CLASS] == CKO.SECRET_KEY
    assert key.attributes[CKA.KEY_TYPE] == CKK.AES
    assert key.attributes[CKA.VALUE_LEN] == 32
    assert key.attributes[CKA.LOCAL] is True
    assert len(key.checksum) == 7
    assert key.checksum[3:] == (256).to_bytes(4, "big")
    # The check value is the start of an all-zero block encrypted under the key.
    zero_block = ep11.encrypt_single(Mechanism(CKM.AES_ECB), key.blob, bytes(16))
    assert key.checksum[:3] == zero_block[:3]


def test_keygen_js_templates(ep11):
    # The JavaScript client adds CKA_TOKEN, and CKA_CLASS and CKA_KEY_TYPE to key pair templates.
    key = generate_aes(ep11, token=True, encrypt=True, decrypt=True)
    assert key.attributes[CKA.VALUE_LEN] == 32
    pair = generate_rsa(
        ep11,
        exponent=17,
        public={CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: CKK.RSA, CKA.TOKEN: True},
        private={CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.RSA, CKA.TOKEN: True},
    )
    assert load_public_blob(pair.public_blob).public_numbers().e == 17
    assert pair.private_attributes[CKA.CLASS] == CKO.PRIVATE_KEY


def test_keygen_aes_distinct_keys(ep11):
    first = generate_aes(ep11, length=16)
    second = generate_aes(ep11, length=16)
    assert first.blob != second.blob
    assert first.checksum[:3] != second.checksum[:3]


def test_unwrapped_aes_checksum_is_kcv(ep11, known_aes):
    value, key = known_aes
    assert key.checksum[:3] == key_check_value(value)
    assert key.checksum[3:] == (256).to_bytes(4, "big")


@pytest.mark.parametrize("exponent", [65537, 17])
def test_keygen_rsa(ep11, exponent):
    pair = generate_rsa(
        ep11,
        exponent=exponent,
        public={CKA.ENCRYPT: True, CKA.VERIFY: True},
        private={CKA.SIGN: True, CKA.DECRYPT: True, CKA.EXTRACTABLE: True},
    )
    public_key = load_public_blob(pair.public_blob)
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == 2048
    assert public_key.public_numbers().e == exponent
    assert pair.public_attributes[CKA.MODULUS_BITS] == 2048
    assert pair.private_attributes[CKA.CLASS] == CKO.PRIVATE_KEY
    assert pair.private_attributes[CKA.KEY_TYPE] == CKK.RSA
    assert pair.public_attributes[CKA.CLASS] == CKO.PUBLIC_KEY


@pytest.mark.slow
def test_keygen_rsa_4096(ep11):
    pair = generate_rsa(ep11, bits=4096, public={CKA.VERIFY: True}, private={CKA.SIGN: True})
    public_key = load_public_blob(pair.public_blob)
    assert public_key.key_size == 4096
    assert public_key.public_numbers().e == 65537
    signature = ep11.sign_single(Mechanism(CKM.SHA512_RSA_PKCS), pair.private_blob, SIGN_TEXT)
    assert len(signature) == 512
    public_key.verify(signature, SIGN_TEXT, asymmetric_padding.PKCS1v15(), hashes.SHA512())


@pytest.mark.parametrize("curve", list(EC_PARAMS))
def test_keygen_ec(ep11, curve):
    pair = generate_ec(
        ep11,
        curve,
        public={CKA.VERIFY: True},
        private={CKA.SIGN: True, CKA.PRIVATE: True, CKA.SENSITIVE: True, CKA.EXTRACTABLE: True},
    )
    public_key = load_public_blob(pair.public_blob)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public_key.curve, CRYPTOGRAPHY_CURVES[curve])
    assert pair.public_attributes[CKA.EC_PARAMS] == EC_PARAMS[curve]
    assert pair.private_attributes[CKA.KEY_TYPE] == CKK.EC
    signature = ep11.sign_single(Mechanism(CKM.ECDSA_SHA256), pair.private_blob, SIGN_TEXT)
    public_key.verify(der_signature(signature), SIGN_TEXT, ec.ECDSA(hashes.SHA256()))


def test_keygen_ec_point_uncompressed(ep11):
    pair = generate_ec(ep11, "P-256")
    point = load_public_blob(pair.public_blob).public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    spki = public_key_der(load_public_blob(pair.public_blob))
    # The SPKI's BIT STRING ends with the uncompressed point 04‖X‖Y.
    assert spki.endswith(point)
    assert pair.public_blob.startswith(spki)


# --- AES encryption and decryption


def aes_cbc_pad_parts(ep11, key, iv, encrypt_split, decrypt_split):
    """Encrypt MESSAGE in two updates and a final, then decrypt it the same way."""
    mechanism = Mechanism(CKM.AES_CBC_PAD, iv)
    state = ep11.encrypt_init(mechanism, key)
    first = ep11.encrypt_update(state, MESSAGE[:encrypt_split])
    second = ep11.encrypt_update(first.state, MESSAGE[encrypt_split:])
    ciphertext = first.output + second.output + ep11.encrypt_final(second.state)

    state = ep11.decrypt_init(mechanism, key)
    first_plain = ep11.decrypt_update(state, ciphertext[:decrypt_split])
    second_plain = ep11.decrypt_update(first_plain.state, ciphertext[decrypt_split:])
    final_plain = ep11.decrypt_final(second_plain.state)
    return ciphertext, (first_plain.output, second_plain.output, final_plain)


@pytest.fixture(scope="module")
def crypt_aes(ep11):
    return generate_aes(ep11, encrypt=True, decrypt=True)


def test_aes_cbc_pad_esp(ep11, crypt_aes):
    iv = ep11.generate_random(16)
    mechanism = Mechanism(CKM.AES_CBC_PAD, iv)
    ciphertext = ep11.encrypt_single(mechanism, crypt_aes.blob, MESSAGE)
    assert len(ciphertext) == 48
    assert ep11.decrypt_single(mechanism, crypt_aes.blob, ciphertext) == MESSAGE


def test_aes_cbc_pad_psp(ep11, crypt_aes):
    iv = ep11.generate_random(16)
    mechanism = Mechanism(CKM.AES_CBC_PAD, iv)
    ciphertext = ep11.encrypt(ep11.encrypt_init(mechanism, crypt_aes.blob), MESSAGE)
    assert ciphertext == ep11.encrypt_single(mechanism, crypt_aes.blob, MESSAGE)
    plain = ep11.decrypt(ep11.decrypt_init(mechanism, crypt_aes.blob), ciphertext)
    assert plain == MESSAGE


@pytest.mark.parametrize(
    "encrypt_split, decrypt_split", [(16, 16), (20, 16)], ids=["go_split", "js_split"]
)
def test_aes_cbc_pad_pmp(ep11, crypt_aes, encrypt_split, decrypt_split):
    iv = ep11.generate_random(16)
    ciphertext, plain_parts = aes_cbc_pad_parts(
        ep11, crypt_aes.blob, iv, encrypt_split, decrypt_split
    )
    assert ciphertext == ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), crypt_aes.blob, MESSAGE)
    assert b"".join(plain_parts) == MESSAGE
    # A lone first block may be the padded last one, so decryption holds it back.
    assert plain_parts[0] == b""
    assert plain_parts[2] == MESSAGE[32:]


@pytest.mark.parametrize(
    "encrypt_split, decrypt_split", [(16, 16), (20, 16)], ids=["go_split", "js_split"]
)
def test_aes_cbc_pad_pmp_known_key(ep11, known_aes, encrypt_split, decrypt_split):
    value, key = known_aes
    iv = os.urandom(16)
    ciphertext, plain_parts = aes_cbc_pad_parts(ep11, key.blob, iv, encrypt_split, decrypt_split)
    assert ciphertext == cbc_pad_encrypt(value, iv, MESSAGE)
    assert b"".join(plain_parts) == MESSAGE


def test_aes_cbc_pad_decrypts_external(ep11, known_aes):
    value, key = known_aes
    iv = os.urandom(16)
    ciphertext = cbc_pad_encrypt(value, iv, MESSAGE)
    plain = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), key.blob, ciphertext)
    assert plain == MESSAGE


@pytest.mark.parametrize("mechanism_type", [CKM.AES_CBC, CKM.AES_ECB], ids=["cbc", "ecb"])
def test_aes_whole_blocks(ep11, known_aes, mechanism_type):
    value, key = known_aes
    data = os.urandom(64)
    if mechanism_type == CKM.AES_CBC:
        iv = os.urandom(16)
        mechanism, mode = Mechanism(mechanism_type, iv), modes.CBC(iv)
    else:
        mechanism, mode = Mechanism(mechanism_type), modes.ECB()
    encryptor = Cipher(algorithms.AES(value), mode).encryptor()
    expected = encryptor.update(data) + encryptor.finalize()

    assert ep11.encrypt_single(mechanism, key.blob, data) == expected
    assert ep11.decrypt_single(mechanism, key.blob, expected) == data

    state = ep11.encrypt_init(mechanism, key.blob)
    first = ep11.encrypt_update(state, data[:24])
    second = ep11.encrypt_update(first.state, data[24:])
    assert first.output + second.output + ep11.encrypt_final(second.state) == expected

    state = ep11.decrypt_init(mechanism, key.blob)
    first = ep11.decrypt_update(state, expected[:16])
    second = ep11.decrypt_update(first.state, expected[16:])
    assert first.output + second.output + ep11.decrypt_final(second.state) == data


# --- RSA encryption and decryption


def oaep_sha1_padding():
    return asymmetric_padding.OAEP(
        mgf=asymmetric_padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None
    )


# The HSM mechanism and the matching ``cryptography`` padding of each scheme.
RSA_CIPHERS = {
    "oaep": (OAEP_SHA1, oaep_sha1_padding),
    "pkcs1": (Mechanism(CKM.RSA_PKCS), asymmetric_padding.PKCS1v15),
}


@pytest.mark.parametrize("scheme", list(RSA_CIPHERS))
def test_rsa_encrypt_esp(ep11, rsa_pair, scheme):
    mechanism, _ = RSA_CIPHERS[scheme]
    ciphertext = ep11.encrypt_single(mechanism, rsa_pair.public_blob, MESSAGE)
    assert len(ciphertext) == 256
    assert ep11.decrypt_single(mechanism, rsa_pair.private_blob, ciphertext) == MESSAGE


@pytest.mark.parametrize("scheme", list(RSA_CIPHERS))
def test_rsa_encrypt_psp(ep11, rsa_pair, scheme):
    mechanism, _ = RSA_CIPHERS[scheme]
    ciphertext = ep11.encrypt(ep11.encrypt_init(mechanism, rsa_pair.public_blob), MESSAGE)
    assert len(ciphertext) == 256
    plain = ep11.decrypt(ep11.decrypt_init(mechanism, rsa_pair.private_blob), ciphertext)
    assert plain == MESSAGE


@pytest.mark.parametrize("scheme", list(RSA_CIPHERS))
def test_rsa_decrypts_external(ep11, rsa_pair, scheme):
    mechanism, make_padding = RSA_CIPHERS[scheme]
    public_key = load_public_blob(rsa_pair.public_blob)
    ciphertext = public_key.encrypt(MESSAGE, make_padding())
    assert ep11.decrypt_single(mechanism, rsa_pair.private_blob, ciphertext) == MESSAGE


# --- HMAC with an AES key


@pytest.fixture(scope="module")
def mac_aes(ep11):
    return generate_aes(ep11, sign=True, verify=True)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def test_hmac_esp(ep11, mac_aes):
    mechanism = Mechanism(CKM.SHA256_HMAC)
    mac = ep11.sign_single(mechanism, mac_aes.blob, SIGN_TEXT)
    assert len(mac) == 32
    ep11.verify_single(mechanism, mac_aes.blob, SIGN_TEXT, mac)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(mechanism, mac_aes.blob, SIGN_TEXT + b"!", mac)


def test_hmac_psp(ep11, mac_aes):
    mechanism = Mechanism(CKM.SHA256_HMAC)
    mac = ep11.sign(ep11.sign_init(mechanism, mac_aes.blob), SIGN_TEXT)
    assert mac == ep11.sign_single(mechanism, mac_aes.blob, SIGN_TEXT)
    ep11.verify(ep11.verify_init(mechanism, mac_aes.blob), SIGN_TEXT, mac)


def test_hmac_pmp(ep11, mac_aes):
    mechanism = Mechanism(CKM.SHA256_HMAC)
    state = ep11.sign_init(mechanism, mac_aes.blob)
    state = ep11.sign_update(state, SIGN_TEXT[:8])
    state = ep11.sign_update(state, SIGN_TEXT[8:])
    mac = ep11.sign_final(state)
    assert mac == ep11.sign_single(mechanism, mac_aes.blob, SIGN_TEXT)

    state = ep11.verify_init(mechanism, mac_aes.blob)
    state = ep11.verify_update(state, SIGN_TEXT[:8])
    state = ep11.verify_update(state, SIGN_TEXT[8:])
    ep11.verify_final(state, mac)


def test_hmac_known_key(ep11, known_aes):
    value, key = known_aes
    mac = ep11.sign_single(Mechanism(CKM.SHA256_HMAC), key.blob, SIGN_TEXT)
    assert mac == hmac_sha256(value, SIGN_TEXT)


# --- RSA signatures


def pss_sha512_padding():
    return asymmetric_padding.PSS(mgf=asymmetric_padding.MGF1(hashes.SHA512()), salt_length=0)


RSA_SIGNATURES = {
    "pkcs1": (Mechanism(CKM.SHA512_RSA_PKCS), asymmetric_padding.PKCS1v15),
    "pss": (PSS_SHA512, pss_sha512_padding),
}


def sign_three_ways(ep11, mechanism, private_blob):
    """Sign SIGN_TEXT single-part, with Init and Sign, and in parts of 8 and 20 bytes."""
    single = ep11.sign_single(mechanism, private_blob, SIGN_TEXT)
    on_state = ep11.sign(ep11.sign_init(mechanism, private_blob), SIGN_TEXT)
    state = ep11.sign_init(mechanism, private_blob)
    state = ep11.sign_update(state, SIGN_TEXT[:8])
    state = ep11.sign_update(state, SIGN_TEXT[8:])
    return single, on_state, ep11.sign_final(state)


def verify_three_ways(ep11, mechanism, public_blob, signature):
    ep11.verify_single(mechanism, public_blob, SIGN_TEXT, signature)
    ep11.verify(ep11.verify_init(mechanism, public_blob), SIGN_TEXT, signature)
    state = ep11.verify_init(mechanism, public_blob)
    state = ep11.verify_update(state, SIGN_TEXT[:8])
    state = ep11.verify_update(state, SIGN_TEXT[8:])
    ep11.verify_final(state, signature)


@pytest.mark.parametrize("scheme", list(RSA_SIGNATURES))
def test_rsa_sign_esp_psp_pmp(ep11, rsa_pair, scheme):
    mechanism, make_padding = RSA_SIGNATURES[scheme]
    signatures = sign_three_ways(ep11, mechanism, rsa_pair.private_blob)
    public_key = load_public_blob(rsa_pair.public_blob)
    for signature in signatures:
        assert len(signature) == 256
        public_key.verify(signature, SIGN_TEXT, make_padding(), hashes.SHA512())
        verify_three_ways(ep11, mechanism, rsa_pair.public_blob, signature)
    # PKCS #1 v1.5 and PSS with an empty salt are deterministic.
    assert signatures[0] == signatures[1]
    assert signatures[0] == signatures[2]


@pytest.mark.parametrize("scheme", list(RSA_SIGNATURES))
def test_rsa_verifies_external(ep11, scheme):
    private_key = rsa.generate_private_key(65537, 2048)
    mechanism, make_padding = RSA_SIGNATURES[scheme]
    signature = private_key.sign(SIGN_TEXT, make_padding(), hashes.SHA512())
    spki = public_key_der(private_key.public_key())
    # A plain SPKI is accepted for verification.
    verify_three_ways(ep11, mechanism, spki, signature)


# --- ECDSA


@pytest.fixture(scope="module")
def secp256k1_pair(ep11):
    return generate_ec(ep11, "secp256k1", public={CKA.VERIFY: True}, private={CKA.SIGN: True})


@pytest.fixture(scope="module")
def p256_pair(ep11):
    return generate_ec(ep11, "P-256", public={CKA.VERIFY: True}, private={CKA.SIGN: True})


def verify_raw_ecdsa(public_blob, signature, data):
    """Verify a raw ECDSA signature over a 28-byte value with ``cryptography``."""
    public_key = load_public_blob(public_blob)
    algorithm = ec.ECDSA(utils.Prehashed(hashes.SHA224()))
    public_key.verify(der_signature(signature), data, algorithm)


def test_ecdsa_esp(ep11, secp256k1_pair):
    mechanism = Mechanism(CKM.ECDSA)
    signature = ep11.sign_single(mechanism, secp256k1_pair.private_blob, SIGN_TEXT)
    assert len(signature) == 64
    ep11.verify_single(mechanism, secp256k1_pair.public_blob, SIGN_TEXT, signature)
    verify_raw_ecdsa(secp256k1_pair.public_blob, signature, SIGN_TEXT)


def test_ecdsa_psp(ep11, secp256k1_pair):
    mechanism = Mechanism(CKM.ECDSA)
    signature = ep11.sign(ep11.sign_init(mechanism, secp256k1_pair.private_blob), SIGN_TEXT)
    assert len(signature) == 64
    ep11.verify(ep11.verify_init(mechanism, secp256k1_pair.public_blob), SIGN_TEXT, signature)
    verify_raw_ecdsa(secp256k1_pair.public_blob, signature, SIGN_TEXT)


def test_ecdsa_raw_64_bytes(ep11, p256_pair):
    # The JavaScript client signs 64 bytes with raw ECDSA on P-256. ECDSA uses the leftmost
    # 256 bits of an input longer than the curve order.
    data = hashlib.sha512(SIGN_TEXT).digest()
    signature = ep11.sign_single(Mechanism(CKM.ECDSA), p256_pair.private_blob, data)
    assert len(signature) == 64
    ep11.verify_single(Mechanism(CKM.ECDSA), p256_pair.public_blob, data, signature)
    public_key = load_public_blob(p256_pair.public_blob)
    algorithm = ec.ECDSA(utils.Prehashed(hashes.SHA512()))
    public_key.verify(der_signature(signature), data, algorithm)


def test_ecdsa_sha512_pmp(ep11, p256_pair):
    mechanism = Mechanism(CKM.ECDSA_SHA512)
    state = ep11.sign_init(mechanism, p256_pair.private_blob)
    state = ep11.sign_update(state, SIGN_TEXT[:8])
    state = ep11.sign_update(state, SIGN_TEXT[8:])
    signature = ep11.sign_final(state)
    assert len(signature) == 64

    state = ep11.verify_init(mechanism, p256_pair.public_blob)
    state = ep11.verify_update(state, SIGN_TEXT[:8])
    state = ep11.verify_update(state, SIGN_TEXT[8:])
    ep11.verify_final(state, signature)

    public_key = load_public_blob(p256_pair.public_blob)
    public_key.verify(der_signature(signature), SIGN_TEXT, ec.ECDSA(hashes.SHA512()))


def test_ecdsa_tampered_signature(ep11, p256_pair):
    mechanism = Mechanism(CKM.ECDSA)
    signature = ep11.sign(ep11.sign_init(mechanism, p256_pair.private_blob), SIGN_TEXT)
    ep11.verify(ep11.verify_init(mechanism, p256_pair.public_blob), SIGN_TEXT, signature)
    tampered = b"\xff" + signature[1:]
    state = ep11.verify_init(mechanism, p256_pair.public_blob)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify(state, SIGN_TEXT, tampered)


# --- wrapping, export and import


def test_wrap_aes_with_rsa_pkcs(ep11):
    aes = generate_aes(ep11, length=16, encrypt=True, decrypt=True, extractable=True)
    pair = generate_rsa(
        ep11,
        public={CKA.ENCRYPT: True, CKA.WRAP: True},
        private={CKA.DECRYPT: True, CKA.UNWRAP: True},
    )
    wrapped = ep11.wrap_key(Mechanism(CKM.RSA_PKCS), aes.blob, pair.public_blob)
    assert len(wrapped) == 256
    template = {
        CKA.CLASS: CKO.SECRET_KEY,
        CKA.KEY_TYPE: CKK.AES,
        CKA.VALUE_LEN: 16,
        CKA.ENCRYPT: True,
        CKA.DECRYPT: True,
    }
    unwrapped = ep11.unwrap_key(Mechanism(CKM.RSA_PKCS), wrapped, pair.private_blob, template)
    assert unwrapped.checksum[:3] == aes.checksum[:3]
    # The JavaScript client compares the whole GenerateKey checksum with the same-length prefix.
    assert unwrapped.checksum[: len(aes.checksum)] == aes.checksum
    assert unwrapped.checksum[3:] == (128).to_bytes(4, "big")
    assert unwrapped.attributes[CKA.VALUE_LEN] == 16

    iv = ep11.generate_random(16)
    ciphertext = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), aes.blob, MESSAGE)
    plain = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), unwrapped.blob, ciphertext)
    assert plain == MESSAGE


def test_import_export_aes_key(ep11):
    base = generate_aes(ep11, wrap=True, unwrap=True, encrypt=True, decrypt=True)
    raw_key = os.urandom(32)
    iv = ep11.generate_random(16)
    mechanism = Mechanism(CKM.AES_CBC_PAD, iv)
    wrapped = ep11.encrypt_single(mechanism, base.blob, raw_key)
    template = {
        CKA.VALUE_LEN: 32,
        CKA.WRAP: True,
        CKA.UNWRAP: True,
        CKA.ENCRYPT: True,
        CKA.DECRYPT: True,
        CKA.EXTRACTABLE: True,
        CKA.KEY_TYPE: CKK.AES,
        CKA.CLASS: CKO.SECRET_KEY,
    }
    imported = ep11.unwrap_key(mechanism, wrapped, base.blob, template)
    assert imported.checksum[:3] == key_check_value(raw_key)

    message_iv = ep11.generate_random(16)
    message_mechanism = Mechanism(CKM.AES_CBC_PAD, message_iv)
    ciphertext = ep11.encrypt_single(message_mechanism, imported.blob, MESSAGE)
    assert ciphertext == cbc_pad_encrypt(raw_key, message_iv, MESSAGE)
    assert ep11.decrypt_single(message_mechanism, imported.blob, ciphertext) == MESSAGE

    exported = ep11.wrap_key(mechanism, imported.blob, base.blob)
    assert ep11.decrypt_single(mechanism, base.blob, exported) == raw_key


def test_export_rsa_private_key(ep11, rsa_pair, known_aes):
    kek_value, kek = known_aes
    iv = ep11.generate_random(16)
    wrapped = ep11.wrap_key(Mechanism(CKM.AES_CBC_PAD, iv), rsa_pair.private_blob, kek.blob)
    pkcs8 = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), kek.blob, wrapped)
    assert pkcs8 == cbc_pad_decrypt(kek_value, iv, wrapped)

    private_key = serialization.load_der_private_key(pkcs8, password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    public_key = load_public_blob(rsa_pair.public_blob)
    assert private_key.public_key().public_numbers() == public_key.public_numbers()

    ciphertext = public_key.encrypt(MESSAGE, asymmetric_padding.PKCS1v15())
    assert private_key.decrypt(ciphertext, asymmetric_padding.PKCS1v15()) == MESSAGE
    plain = ep11.decrypt_single(Mechanism(CKM.RSA_PKCS), rsa_pair.private_blob, ciphertext)
    assert plain == MESSAGE

    signature = private_key.sign(SIGN_TEXT, asymmetric_padding.PKCS1v15(), hashes.SHA512())
    ep11.verify_single(Mechanism(CKM.SHA512_RSA_PKCS), rsa_pair.public_blob, SIGN_TEXT, signature)


def test_export_ec_private_key(ep11):
    pair = generate_ec(ep11, "P-256", private={CKA.EXTRACTABLE: True})
    kek = generate_aes(ep11, wrap=True, decrypt=True)
    iv = ep11.generate_random(16)
    wrapped = ep11.wrap_key(Mechanism(CKM.AES_CBC_PAD, iv), pair.private_blob, kek.blob)
    pkcs8 = ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), kek.blob, wrapped)

    private_key = serialization.load_der_private_key(pkcs8, password=None)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    assert isinstance(private_key.curve, ec.SECP256R1)
    public_key = load_public_blob(pair.public_blob)
    assert private_key.public_key().public_numbers() == public_key.public_numbers()

    signature = utils.decode_dss_signature(
        private_key.sign(SIGN_TEXT, ec.ECDSA(hashes.SHA256()))
    )
    raw = b"".join(value.to_bytes(32, "big") for value in signature)
    ep11.verify_single(Mechanism(CKM.ECDSA_SHA256), pair.public_blob, SIGN_TEXT, raw)


def import_key_pair(ep11, private_key, private_template, public_template):
    """Import a ``cryptography`` key pair as the Go import flow does; return both KeyResults."""
    kek = generate_aes(ep11, encrypt=True, unwrap=True)
    iv = ep11.generate_random(16)
    mechanism = Mechanism(CKM.AES_CBC_PAD, iv)
    wrapped = ep11.encrypt_single(mechanism, kek.blob, private_key_der(private_key))
    private = ep11.unwrap_key(mechanism, wrapped, kek.blob, private_template)
    spki = public_key_der(private_key.public_key())
    public = ep11.unwrap_key(Mechanism(CKM.IBM_TRANSPORTKEY), spki, kek.blob, public_template)
    assert public.blob.startswith(spki)
    return private, public


def check_imported_rsa_pair(ep11, private_key, private, public):
    public_key = private_key.public_key()
    ciphertext = ep11.encrypt_single(Mechanism(CKM.RSA_PKCS), public.blob, MESSAGE)
    assert private_key.decrypt(ciphertext, asymmetric_padding.PKCS1v15()) == MESSAGE

    ciphertext = public_key.encrypt(MESSAGE, asymmetric_padding.PKCS1v15())
    assert ep11.decrypt_single(Mechanism(CKM.RSA_PKCS), private.blob, ciphertext) == MESSAGE

    mechanism = Mechanism(CKM.SHA256_RSA_PKCS)
    signature = ep11.sign_single(mechanism, private.blob, SIGN_TEXT)
    public_key.verify(signature, SIGN_TEXT, asymmetric_padding.PKCS1v15(), hashes.SHA256())
    ep11.verify_single(mechanism, public.blob, SIGN_TEXT, signature)


RSA_PRIVATE_IMPORT_TEMPLATE = {
    CKA.UNWRAP: True,
    CKA.DECRYPT: True,
    CKA.PRIVATE: True,
    CKA.SENSITIVE: True,
    CKA.KEY_TYPE: CKK.RSA,
    CKA.CLASS: CKO.PRIVATE_KEY,
}


def test_import_rsa_key_pair(ep11):
    private_key = rsa.generate_private_key(65537, 2048)
    private, public = import_key_pair(
        ep11, private_key, RSA_PRIVATE_IMPORT_TEMPLATE, {CKA.WRAP: True, CKA.ENCRYPT: True}
    )
    assert private.attributes[CKA.CLASS] == CKO.PRIVATE_KEY
    assert private.attributes[CKA.LOCAL] is False
    assert public.attributes[CKA.CLASS] == CKO.PUBLIC_KEY
    check_imported_rsa_pair(ep11, private_key, private, public)


@pytest.mark.slow
def test_import_rsa_4096_key_pair(ep11):
    private_key = rsa.generate_private_key(65537, 4096)
    private, public = import_key_pair(
        ep11, private_key, RSA_PRIVATE_IMPORT_TEMPLATE, {CKA.WRAP: True, CKA.ENCRYPT: True}
    )
    assert private.attributes[CKA.MODULUS_BITS] == 4096
    check_imported_rsa_pair(ep11, private_key, private, public)


def test_import_ec_key_pair(ep11):
    private_key = ec.generate_private_key(ec.SECP256R1())
    private_template = {
        CKA.SIGN: True,
        CKA.PRIVATE: True,
        CKA.SENSITIVE: True,
        CKA.KEY_TYPE: CKK.EC,
        CKA.CLASS: CKO.PRIVATE_KEY,
    }
    private, public = import_key_pair(ep11, private_key, private_template, {CKA.VERIFY: True})
    assert private.attributes[CKA.EC_PARAMS] == EC_PARAMS["P-256"]

    digest = hashlib.sha256(SIGN_TEXT).digest()
    signature = ep11.sign_single(Mechanism(CKM.ECDSA), private.blob, digest)
    ep11.verify_single(Mechanism(CKM.ECDSA), public.blob, digest, signature)
    algorithm = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
    private_key.public_key().verify(der_signature(signature), digest, algorithm)
