"""Tests of the libcrypto primitives in ep11core._crypto, without the engine.

Known-answer vectors come from FIPS 180-4 and NIST's SHA-3 examples (the "abc", empty and
two-block messages), RFC 2202 and RFC 4231 (HMAC), NIST SP 800-38A (AES ECB, CBC and CTR),
NIST SP 800-38B (CMAC), the test cases of the GCM specification that NIST's GCM validation
uses, RFC 8032 (EdDSA) and RFC 7748 (X25519, X448). Hashes and HMACs are also cross-checked
with ``hashlib`` and ``hmac``, and CMAC, CTR and GCM with ``cryptography``. RSA, ECDSA, EdDSA
and DSA results are cross-checked with the ``cryptography`` package, which verifies what we
sign and signs what we verify, and so are the ECDH, X25519, X448 and DH shared secrets.
"""

import hashlib
import hmac as std_hmac
import random
import threading

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac as crypto_cmac
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import (
    dh,
    dsa,
    ec,
    ed448,
    ed25519,
    padding,
    rsa,
    utils,
    x448,
    x25519,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from curve_vectors import EDDSA_VECTORS, EP11_ALGORITHM_IDENTIFIERS, XDH_VECTORS
from ep11core import _crypto
from ep11core._crypto import (
    AuthenticationError,
    CryptoError,
    DataLengthError,
    DecryptError,
    KeyFormatError,
    PaddingError,
    PKey,
)

HASH_NAMES = ["sha1", "sha224", "sha256", "sha384", "sha512"]
HASH_CLASSES = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# Every hash of _crypto: the SHA-1 and SHA-2 names above, which RSA and ECDSA take, and more.
DIGEST_NAMES = HASH_NAMES + [
    "sha512_224",
    "sha512_256",
    "sha3_224",
    "sha3_256",
    "sha3_384",
    "sha3_512",
]
DIGEST_SIZES = {
    "sha1": 20,
    "sha224": 28,
    "sha256": 32,
    "sha384": 48,
    "sha512": 64,
    "sha512_224": 28,
    "sha512_256": 32,
    "sha3_224": 28,
    "sha3_256": 32,
    "sha3_384": 48,
    "sha3_512": 64,
}
# The SHA-3 block size is the sponge rate.
BLOCK_SIZES = {
    "sha1": 64,
    "sha224": 64,
    "sha256": 64,
    "sha384": 128,
    "sha512": 128,
    "sha512_224": 128,
    "sha512_256": 128,
    "sha3_224": 144,
    "sha3_256": 136,
    "sha3_384": 104,
    "sha3_512": 72,
}

CURVES = {
    "prime256v1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
}
ORDER_BYTES = {"prime256v1": 32, "secp384r1": 48, "secp521r1": 66, "secp256k1": 32}
CURVE_ORDERS = {
    "prime256v1": int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16),
    "secp256k1": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16),
}


def der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def der_tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + der_length(len(content)) + content


def der_content(der: bytes) -> bytes:
    """Return the content octets of a DER TLV that spans all of ``der``."""
    if der[1] < 0x80:
        return der[2:]
    return der[2 + (der[1] & 0x7F) :]


P256_ALGORITHM = bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107")


def ec_pkcs8(scalar: bytes, point: bytes | None = None, algorithm: bytes = P256_ALGORITHM) -> bytes:
    """Return a PKCS #8 PrivateKeyInfo around a SEC 1 ECPrivateKey (publicKey optional)."""
    fields = der_tlv(0x02, b"\x01") + der_tlv(0x04, scalar)
    if point is not None:
        fields += der_tlv(0xA1, der_tlv(0x03, b"\x00" + point))
    private_key = der_tlv(0x30, fields)
    return der_tlv(0x30, der_tlv(0x02, b"\x00") + algorithm + der_tlv(0x04, private_key))


def with_long_form_outer_length(der: bytes) -> bytes:
    """Re-encode the outer SEQUENCE length with one extra leading zero byte (valid BER)."""
    assert der[0] == 0x30
    content = der_content(der)
    encoded = len(content).to_bytes((len(content).bit_length() + 7) // 8, "big")
    return b"\x30" + bytes([0x80 | (len(encoded) + 1)]) + b"\x00" + encoded + content


# ---------------------------------------------------------------------------------------------
# Hashes

M448 = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
M896 = (
    b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
    b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
)

# FIPS 180-4 example messages ("abc", the empty string, the two-block messages, one million "a").
SHA_VECTORS = [
    ("sha1", b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
    ("sha1", b"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ("sha1", M448, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
    ("sha1", b"a" * 1_000_000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"),
    ("sha224", b"abc", "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
    ("sha224", b"", "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"),
    ("sha224", M448, "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525"),
    ("sha256", b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("sha256", b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("sha256", M448, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    (
        "sha256",
        b"a" * 1_000_000,
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    ),
    (
        "sha384",
        b"abc",
        (
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
            "8086072ba1e7cc2358baeca134c825a7"
        ),
    ),
    (
        "sha384",
        b"",
        (
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da"
            "274edebfe76f65fbd51ad2f14898b95b"
        ),
    ),
    (
        "sha384",
        M896,
        (
            "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712"
            "fcc7c71a557e2db966c3e9fa91746039"
        ),
    ),
    (
        "sha512",
        b"abc",
        (
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        ),
    ),
    (
        "sha512",
        b"",
        (
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        ),
    ),
    (
        "sha512",
        M896,
        (
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
            "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
        ),
    ),
    # FIPS 180-4 SHA-512/t examples.
    ("sha512_224", b"abc", "4634270f707b6a54daae7530460842e20e37ed265ceee9a43e8924aa"),
    ("sha512_224", M896, "23fec5bb94d60b23308192640b0c453335d664734fe40e7268674af9"),
    (
        "sha512_256",
        b"abc",
        "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23",
    ),
    (
        "sha512_256",
        M896,
        "3928e184fb8690f840da3988121d31be65cb9d3ef83ee6146feac861e19b563a",
    ),
    # FIPS 202 SHA-3 examples.
    ("sha3_224", b"", "6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7"),
    ("sha3_224", b"abc", "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf"),
    ("sha3_256", b"", "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"),
    ("sha3_256", b"abc", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"),
    (
        "sha3_256",
        b"a" * 1_000_000,
        "5c8875ae474a3634ba4fd55ec85bffd661f32aca75c6d699d0cdcb6c115891c1",
    ),
    (
        "sha3_384",
        b"abc",
        (
            "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b2"
            "98d88cea927ac7f539f1edf228376d25"
        ),
    ),
    (
        "sha3_512",
        b"abc",
        (
            "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e"
            "10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"
        ),
    ),
    (
        "sha3_512",
        M896,
        (
            "afebb2ef542e6579c50cad06d2e578f9f8dd6881d7dc824d26360feebf18a4fa"
            "73e3261122948efcfd492e74e82e2189ed0fb440d187f382270cb455f21dd185"
        ),
    ),
]


@pytest.mark.parametrize("name,message,expected", SHA_VECTORS)
def test_digest_known_answer(name, message, expected):
    assert _crypto.digest(name, message).hex() == expected


@pytest.mark.parametrize("name,message,expected", SHA_VECTORS)
def test_hash_context_known_answer(name, message, expected):
    context = _crypto.hash_init(name)
    for start in range(0, len(message), 99_991):
        context = _crypto.hash_update(name, context, message[start : start + 99_991])
    assert _crypto.hash_final(name, context).hex() == expected


@pytest.mark.parametrize("name", DIGEST_NAMES)
def test_digest_size(name):
    assert _crypto.digest_size(name) == DIGEST_SIZES[name]
    assert len(_crypto.digest(name, b"x")) == DIGEST_SIZES[name]


@pytest.mark.parametrize("name", DIGEST_NAMES)
def test_hash_context_every_split(name):
    message = bytes(random.Random(name).getrandbits(8) for _ in range(2 * BLOCK_SIZES[name] + 37))
    expected = _crypto.digest(name, message)
    assert expected == hashlib.new(name, message).digest()
    for split in range(len(message) + 1):
        context = _crypto.hash_update(name, _crypto.hash_init(name), message[:split])
        context = _crypto.hash_update(name, context, message[split:])
        assert _crypto.hash_final(name, context) == expected, f"split at {split}"


@pytest.mark.parametrize("name", DIGEST_NAMES)
def test_hash_context_byte_by_byte(name):
    message = bytes(range(256)) * 2
    context = _crypto.hash_init(name)
    for index in range(len(message)):
        context = _crypto.hash_update(name, context, message[index : index + 1])
    assert _crypto.hash_final(name, context) == hashlib.new(name, message).digest()


@pytest.mark.parametrize("name", DIGEST_NAMES)
def test_hash_context_is_reusable(name):
    context = _crypto.hash_update(name, _crypto.hash_init(name), b"shared prefix ")
    first = _crypto.hash_final(name, _crypto.hash_update(name, context, b"one"))
    second = _crypto.hash_final(name, _crypto.hash_update(name, context, b"two"))
    assert first == hashlib.new(name, b"shared prefix one").digest()
    assert second == hashlib.new(name, b"shared prefix two").digest()


@pytest.mark.parametrize("name", DIGEST_NAMES)
def test_hash_init_is_deterministic(name):
    assert _crypto.hash_init(name) == _crypto.hash_init(name)
    assert _crypto.hash_final(name, _crypto.hash_init(name)) == hashlib.new(name).digest()


@pytest.mark.parametrize("name", DIGEST_NAMES)
def test_hash_context_wrong_length(name):
    context = _crypto.hash_init(name)
    with pytest.raises(ValueError):
        _crypto.hash_update(name, context[:-1], b"data")
    with pytest.raises(ValueError):
        _crypto.hash_update(name, context + b"\0", b"data")
    with pytest.raises(ValueError):
        _crypto.hash_final(name, b"")


@pytest.mark.parametrize("name", DIGEST_NAMES)
def test_hash_context_corrupt_counter(name):
    # ``num`` counts the bytes buffered in the block. In every SHA*_CTX it is the first
    # unsigned int after the data block, at a fixed offset from the end. The SHA-3 context
    # ends with num, rate and digest size.
    context = bytearray(_crypto.hash_init(name))
    if name.startswith("sha3_"):
        offset = len(context) - 12
    else:
        offset = len(context) - (4 if name == "sha1" else 8)
    context[offset : offset + 4] = (0xFFFF).to_bytes(4, "little")
    with pytest.raises(ValueError):
        _crypto.hash_update(name, bytes(context), b"data")
    with pytest.raises(ValueError):
        _crypto.hash_final(name, bytes(context))


def test_sha3_context_corrupt_rate():
    # The rate follows num in the SHA-3 context. A larger rate would let absorption write past
    # the 200-byte state.
    context = bytearray(_crypto.hash_init("sha3_256"))
    context[-8:-4] = (200).to_bytes(4, "little")
    with pytest.raises(ValueError):
        _crypto.hash_update("sha3_256", bytes(context), b"data")


@pytest.mark.parametrize("name", DIGEST_NAMES)
def test_digest_matches_hashlib(name):
    generator = random.Random(name)
    for length in (0, 1, 55, 56, 63, 64, 71, 72, 73, 135, 136, 137, 143, 144, 145, 1000):
        message = bytes(generator.getrandbits(8) for _ in range(length))
        expected = hashlib.new(name, message).digest()
        assert _crypto.digest(name, message) == expected, f"{length} bytes"


@pytest.mark.parametrize(
    "name,other",
    [
        ("sha224", "sha256"),
        ("sha384", "sha512"),
        ("sha512_224", "sha512_256"),
        ("sha512_256", "sha512"),
        ("sha3_224", "sha3_256"),
        ("sha3_384", "sha3_512"),
    ],
)
def test_hash_context_of_sibling_hash(name, other):
    with pytest.raises(ValueError):
        _crypto.hash_final(name, _crypto.hash_init(other))
    with pytest.raises(ValueError):
        _crypto.hash_update(other, _crypto.hash_init(name), b"x")


@pytest.mark.parametrize("bad", ["md5", "SHA256", "sha3-256", "sha512/256", "", None, 5])
def test_hash_unknown_name(bad):
    with pytest.raises(ValueError):
        _crypto.digest(bad, b"x")
    with pytest.raises(ValueError):
        _crypto.hash_init(bad)
    with pytest.raises(ValueError):
        _crypto.hmac(bad, b"k", b"x")


def test_hash_rejects_non_bytes():
    with pytest.raises(TypeError):
        _crypto.digest("sha256", "text")
    with pytest.raises(TypeError):
        _crypto.hash_update("sha256", _crypto.hash_init("sha256"), None)


# ---------------------------------------------------------------------------------------------
# HMAC

RFC4231_INPUTS = {
    1: (b"\x0b" * 20, b"Hi There"),
    2: (b"Jefe", b"what do ya want for nothing?"),
    3: (b"\xaa" * 20, b"\xdd" * 50),
    4: (bytes(range(1, 26)), b"\xcd" * 50),
    5: (b"\x0c" * 20, b"Test With Truncation"),
    6: (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"),
    7: (
        b"\xaa" * 131,
        (
            b"This is a test using a larger than block-size key and a larger than block-size data."
            b" The key needs to be hashed before being used by the HMAC algorithm."
        ),
    ),
}

# RFC 4231 section 4. Test case 5 lists the output truncated to 128 bits.
RFC4231_OUTPUTS = {
    (1, "sha224"): "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
    (1, "sha256"): "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    (1, "sha384"): "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
    "faea9ea9076ede7f4af152e8b2fa9cb6",
    (1, "sha512"): "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
    "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
    (2, "sha224"): "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
    (2, "sha256"): "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    (2, "sha384"): "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
    "8e2240ca5e69e2c78b3239ecfab21649",
    (2, "sha512"): "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    (3, "sha224"): "7fb3cb3588c6c1f6ffa9694d7d6ad2649365b0c1f65d69d1ec8333ea",
    (3, "sha256"): "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    (3, "sha384"): "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b"
    "2a5ab39dc13814b94e3ab6e101a34f27",
    (3, "sha512"): "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
    "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
    (4, "sha224"): "6c11506874013cac6a2abc1bb382627cec6a90d86efc012de7afec5a",
    (4, "sha256"): "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    (4, "sha384"): "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e"
    "6801dd23c4a7d679ccf8a386c674cffb",
    (4, "sha512"): "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
    "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
    (5, "sha224"): "0e2aea68a90c8d37c988bcdb9fca6fa8",
    (5, "sha256"): "a3b6167473100ee06e0c796c2955552b",
    (5, "sha384"): "3abf34c3503b2a23a46efc619baef897",
    (5, "sha512"): "415fad6271580a531d4179bc891d87a6",
    (6, "sha224"): "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e",
    (6, "sha256"): "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    (6, "sha384"): "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
    "0c2ef6ab4030fe8296248df163f44952",
    (6, "sha512"): "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
    "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
    (7, "sha224"): "3a854166ac5d9f023f54d517d0b39dbd946770db9c2b95c9f6f565d1",
    (7, "sha256"): "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    (7, "sha384"): "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5"
    "a678cc31e799176d3860e6110c46523e",
    (7, "sha512"): "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
    "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
}

# RFC 2202 section 3, test cases 1, 2 and 6.
RFC2202_SHA1 = [
    (b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    (b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "aa4ae5e15272d00e95705637ce8a3b55ed402112",
    ),
]


@pytest.mark.parametrize("case,name", sorted(RFC4231_OUTPUTS))
def test_hmac_rfc4231(case, name):
    key, data = RFC4231_INPUTS[case]
    expected = RFC4231_OUTPUTS[(case, name)]
    one_shot = _crypto.hmac(name, key, data)
    context = _crypto.hmac_update(name, _crypto.hmac_init(name, key), data)
    multi_part = _crypto.hmac_final(name, key, context)
    assert one_shot.hex()[: len(expected)] == expected
    assert multi_part.hex()[: len(expected)] == expected


@pytest.mark.parametrize("key,data,expected", RFC2202_SHA1)
def test_hmac_sha1_rfc2202(key, data, expected):
    assert _crypto.hmac("sha1", key, data).hex() == expected
    context = _crypto.hmac_update("sha1", _crypto.hmac_init("sha1", key), data)
    assert _crypto.hmac_final("sha1", key, context).hex() == expected


@pytest.mark.parametrize("name", DIGEST_NAMES)
def test_hmac_key_lengths(name):
    block = BLOCK_SIZES[name]
    for key_length in (0, 1, block - 1, block, block + 1, 3 * block):
        key = bytes(range(key_length % 256)) * (key_length // 256) + bytes(range(key_length % 256))
        key = key[:key_length]
        expected = std_hmac.new(key, b"message", name).digest()
        assert _crypto.hmac(name, key, b"message") == expected, f"key of {key_length} bytes"
        context = _crypto.hmac_update(name, _crypto.hmac_init(name, key), b"message")
        assert _crypto.hmac_final(name, key, context) == expected, f"key of {key_length} bytes"


@pytest.mark.parametrize("name", DIGEST_NAMES)
def test_hmac_context_every_split(name):
    key = b"k" * 40
    message = bytes(random.Random(7).getrandbits(8) for _ in range(BLOCK_SIZES[name] + 21))
    expected = std_hmac.new(key, message, name).digest()
    for split in range(len(message) + 1):
        context = _crypto.hmac_update(name, _crypto.hmac_init(name, key), message[:split])
        context = _crypto.hmac_update(name, context, message[split:])
        assert _crypto.hmac_final(name, key, context) == expected, f"split at {split}"


def test_hmac_context_wrong_length():
    context = _crypto.hmac_init("sha256", b"key")
    with pytest.raises(ValueError):
        _crypto.hmac_update("sha256", context[1:], b"x")
    with pytest.raises(ValueError):
        _crypto.hmac_final("sha256", b"key", context[1:])


def test_hmac_context_differs_from_hash_context():
    # The HMAC context has already absorbed (K' XOR ipad), one block.
    assert _crypto.hmac_init("sha256", b"key") != _crypto.hash_init("sha256")


# ---------------------------------------------------------------------------------------------
# Block ciphers

SP800_38A_PLAINTEXT = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172a"
    "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef"
    "f69f2445df4f9b17ad2b417be66c3710"
)
SP800_38A_IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")

# NIST SP 800-38A appendix F.1 (ECB) and F.2 (CBC), encryption examples.
SP800_38A_VECTORS = [
    (
        "aes-ecb",
        "2b7e151628aed2a6abf7158809cf4f3c",
        (
            "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
            "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4"
        ),
    ),
    (
        "aes-ecb",
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        (
            "bd334f1d6e45f25ff712a214571fa5cc974104846d0ad3ad7734ecb3ecee4eef"
            "ef7afd2270e2e60adce0ba2face6444e9a4b41ba738d6c72fb16691603c18e0e"
        ),
    ),
    (
        "aes-ecb",
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        (
            "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870"
            "b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7"
        ),
    ),
    (
        "aes-cbc",
        "2b7e151628aed2a6abf7158809cf4f3c",
        (
            "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
            "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"
        ),
    ),
    (
        "aes-cbc",
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        (
            "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a"
            "571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd"
        ),
    ),
    (
        "aes-cbc",
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        (
            "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
            "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"
        ),
    ),
]


@pytest.mark.parametrize("name,key,ciphertext", SP800_38A_VECTORS)
def test_aes_sp800_38a(name, key, ciphertext):
    key = bytes.fromhex(key)
    iv = SP800_38A_IV if name == "aes-cbc" else None
    encrypted = _crypto.cipher(name, True, key, iv, SP800_38A_PLAINTEXT, False)
    assert encrypted.hex() == ciphertext
    assert _crypto.cipher(name, False, key, iv, encrypted, False) == SP800_38A_PLAINTEXT


@pytest.mark.parametrize("name,key,ciphertext", SP800_38A_VECTORS)
def test_aes_chaining_across_calls(name, key, ciphertext):
    # The engine encrypts CBC in parts by passing the last ciphertext block as the next IV.
    key = bytes.fromhex(key)
    iv = SP800_38A_IV if name == "aes-cbc" else None
    output = b""
    for start in range(0, 64, 16):
        block = _crypto.cipher(name, True, key, iv, SP800_38A_PLAINTEXT[start : start + 16], False)
        output += block
        if iv is not None:
            iv = block
    assert output.hex() == ciphertext


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32, 100])
@pytest.mark.parametrize("name", ["aes-ecb", "aes-cbc"])
def test_aes_pkcs7_padding(name, length):
    key = bytes(range(32))
    iv = bytes(16) if name == "aes-cbc" else None
    data = bytes(range(length))
    encrypted = _crypto.cipher(name, True, key, iv, data, True)
    assert len(encrypted) == (length // 16 + 1) * 16
    mode = modes.CBC(iv) if iv else modes.ECB()
    decryptor = Cipher(algorithms.AES(key), mode).decryptor()
    padded = decryptor.update(encrypted) + decryptor.finalize()
    pad = 16 - length % 16
    assert padded == data + bytes([pad]) * pad
    assert _crypto.cipher(name, False, key, iv, encrypted, True) == data


@pytest.mark.parametrize("key_length", [16, 24])
@pytest.mark.parametrize("name", ["des3-ecb", "des3-cbc"])
def test_des3_matches_cryptography(name, key_length):
    key = bytes(random.Random(key_length).getrandbits(8) for _ in range(key_length))
    iv = bytes(range(8)) if name == "des3-cbc" else None
    data = bytes(range(40))
    mode = modes.CBC(iv) if iv else modes.ECB()
    # Two-key triple DES is three-key triple DES with K3 = K1.
    three_key = key + key[:8] if key_length == 16 else key
    encryptor = Cipher(TripleDES(three_key), mode).encryptor()
    expected = encryptor.update(data) + encryptor.finalize()
    assert _crypto.cipher(name, True, key, iv, data, False) == expected
    assert _crypto.cipher(name, False, key, iv, expected, False) == data
    padded = _crypto.cipher(name, True, key, iv, data, True)
    assert len(padded) == 48
    assert _crypto.cipher(name, False, key, iv, padded, True) == data


@pytest.mark.parametrize(
    "name,key,block",
    [("aes-ecb", bytes(16), 16), ("aes-cbc", bytes(32), 16), ("des3-cbc", bytes(24), 8)],
)
def test_cipher_partial_block_without_padding(name, key, block):
    iv = bytes(block) if name.endswith("cbc") else None
    for encrypt in (True, False):
        with pytest.raises(DataLengthError):
            _crypto.cipher(name, encrypt, key, iv, bytes(block + 1), False)
    with pytest.raises(DataLengthError):
        _crypto.cipher(name, False, key, iv, bytes(block - 1), True)
    with pytest.raises(DataLengthError):
        _crypto.cipher(name, False, key, iv, b"", True)
    assert _crypto.cipher(name, True, key, iv, b"", False) == b""


def test_data_length_error_is_value_error():
    assert issubclass(DataLengthError, CryptoError)
    assert issubclass(DataLengthError, ValueError)
    for error in (KeyFormatError, PaddingError, DecryptError):
        assert issubclass(error, CryptoError)


@pytest.mark.parametrize(
    "last_block_tail",
    [b"\x00", b"\x11", b"\x03\x02\x03", b"\x01\x02"],
)
def test_cipher_bad_padding(last_block_tail):
    key = bytes(range(16))
    plaintext = bytes(16 - len(last_block_tail)) + last_block_tail
    encrypted = _crypto.cipher("aes-cbc", True, key, bytes(16), plaintext, False)
    with pytest.raises(PaddingError):
        _crypto.cipher("aes-cbc", False, key, bytes(16), encrypted, True)


def test_cipher_wrong_key_length():
    for key_length in (0, 8, 15, 17, 31, 33, 64):
        with pytest.raises(ValueError):
            _crypto.cipher("aes-ecb", True, bytes(key_length), None, bytes(16), False)
    for key_length in (8, 15, 23, 32):
        with pytest.raises(ValueError):
            _crypto.cipher("des3-ecb", True, bytes(key_length), None, bytes(8), False)


def test_cipher_wrong_iv():
    for iv in (None, b"", bytes(8), bytes(15), bytes(17), "0" * 16, bytearray(16)):
        with pytest.raises(ValueError):
            _crypto.cipher("aes-cbc", True, bytes(16), iv, bytes(16), False)
    with pytest.raises(ValueError):
        _crypto.cipher("des3-cbc", True, bytes(24), bytes(16), bytes(8), False)


def test_cipher_ecb_ignores_iv():
    key = bytes(range(16))
    expected = _crypto.cipher("aes-ecb", True, key, None, bytes(16), False)
    assert _crypto.cipher("aes-ecb", True, key, bytes(16), bytes(16), False) == expected


@pytest.mark.parametrize("bad", ["aes-gcm", "aes-ctr", "AES-CBC", "des-ecb", "", None])
def test_cipher_unknown_name(bad):
    with pytest.raises(ValueError):
        _crypto.cipher(bad, True, bytes(16), bytes(16), bytes(16), False)


# ---------------------------------------------------------------------------------------------
# CMAC

SP800_38B_MESSAGE = SP800_38A_PLAINTEXT
# NIST SP 800-38B examples: (cipher, key, message length, tag).
SP800_38B_VECTORS = [
    ("aes", "2b7e151628aed2a6abf7158809cf4f3c", 0, "bb1d6929e95937287fa37d129b756746"),
    ("aes", "2b7e151628aed2a6abf7158809cf4f3c", 16, "070a16b46b4d4144f79bdd9dd04a287c"),
    ("aes", "2b7e151628aed2a6abf7158809cf4f3c", 40, "dfa66747de9ae63030ca32611497c827"),
    ("aes", "2b7e151628aed2a6abf7158809cf4f3c", 64, "51f0bebf7e3b9d92fc49741779363cfe"),
    (
        "aes",
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        0,
        "d17ddf46adaacde531cac483de7a9367",
    ),
    (
        "aes",
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        40,
        "8a1de5be2eb31aad089a82e6ee908b0e",
    ),
    (
        "aes",
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        16,
        "28a7023f452e8f82bd4bf28d8c37c35c",
    ),
    (
        "aes",
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        64,
        "e1992190549f6ed5696a2c056c315410",
    ),
]


def cryptography_cmac(name: str, key: bytes, message: bytes) -> bytes:
    if name == "aes":
        algorithm = algorithms.AES(key)
    else:
        algorithm = TripleDES(key + key[:8] if len(key) == 16 else key)
    mac = crypto_cmac.CMAC(algorithm)
    mac.update(message)
    return mac.finalize()


@pytest.mark.parametrize("name,key,length,tag", SP800_38B_VECTORS)
def test_cmac_sp800_38b(name, key, length, tag):
    key = bytes.fromhex(key)
    message = SP800_38B_MESSAGE[:length]
    assert _crypto.cmac(name, key, message).hex() == tag
    context = _crypto.cmac_update(name, key, _crypto.cmac_init(name), message)
    assert _crypto.cmac_final(name, key, context).hex() == tag


@pytest.mark.parametrize("key_length", [16, 24])
def test_cmac_des3_matches_cryptography(key_length):
    key = bytes(random.Random(key_length).getrandbits(8) for _ in range(key_length))
    for length in (0, 1, 7, 8, 9, 16, 20, 32, 1500):
        message = bytes(range(256)) * 6
        message = message[:length]
        expected = cryptography_cmac("des3", key, message)
        assert len(expected) == 8
        assert _crypto.cmac("des3", key, message) == expected, f"{length} bytes"


@pytest.mark.parametrize("name,key_length", [("aes", 16), ("aes", 32), ("des3", 24)])
def test_cmac_context_every_split(name, key_length):
    key = bytes(random.Random(name).getrandbits(8) for _ in range(key_length))
    message = bytes(random.Random(3).getrandbits(8) for _ in range(50))
    expected = cryptography_cmac(name, key, message)
    for split in range(len(message) + 1):
        context = _crypto.cmac_update(name, key, _crypto.cmac_init(name), message[:split])
        context = _crypto.cmac_update(name, key, context, message[split:])
        assert _crypto.cmac_final(name, key, context) == expected, f"split at {split}"


def test_cmac_context_byte_by_byte():
    key = bytes(range(16))
    message = bytes(range(100))
    context = _crypto.cmac_init("aes")
    for index in range(len(message)):
        context = _crypto.cmac_update("aes", key, context, message[index : index + 1])
        # The chaining value and at most one held-back block.
        assert 16 < len(context) <= 32
    assert _crypto.cmac_final("aes", key, context) == cryptography_cmac("aes", key, message)


def test_cmac_context_wrong_length():
    key = bytes(16)
    for context in (b"", bytes(15), bytes(33)):
        with pytest.raises(ValueError):
            _crypto.cmac_update("aes", key, context, b"x")
        with pytest.raises(ValueError):
            _crypto.cmac_final("aes", key, context)


def test_cmac_bad_arguments():
    with pytest.raises(ValueError):
        _crypto.cmac("aes", bytes(20), b"x")
    with pytest.raises(ValueError):
        _crypto.cmac("des3", bytes(8), b"x")
    for name in ("aes-cmac", "des", "", None):
        with pytest.raises(ValueError):
            _crypto.cmac(name, bytes(16), b"x")
        with pytest.raises(ValueError):
            _crypto.cmac_init(name)


# ---------------------------------------------------------------------------------------------
# AES-CTR

SP800_38A_COUNTER = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
# NIST SP 800-38A appendix F.5, CTR encryption examples.
SP800_38A_CTR_VECTORS = [
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        (
            "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
            "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"
        ),
    ),
    (
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        (
            "1abc932417521ca24f2b0459fe7e6e0b090339ec0aa6faefd5ccc2c6f4ce8e94"
            "1e36b26bd1ebc670d1bd1d665620abf74f78a7f6d29809585a97daec58c6b050"
        ),
    ),
    (
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        (
            "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
            "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6"
        ),
    ),
]


@pytest.mark.parametrize("key,ciphertext", SP800_38A_CTR_VECTORS)
def test_aes_ctr_sp800_38a(key, ciphertext):
    key = bytes.fromhex(key)
    encrypted = _crypto.aes_ctr(key, SP800_38A_COUNTER, 128, 0, SP800_38A_PLAINTEXT)
    assert encrypted.hex() == ciphertext
    assert _crypto.aes_ctr(key, SP800_38A_COUNTER, 128, 0, encrypted) == SP800_38A_PLAINTEXT


def test_aes_ctr_every_split():
    key = bytes(range(32))
    message = bytes(random.Random(5).getrandbits(8) for _ in range(70))
    encryptor = Cipher(algorithms.AES(key), modes.CTR(SP800_38A_COUNTER)).encryptor()
    expected = encryptor.update(message) + encryptor.finalize()
    for split in range(len(message) + 1):
        first = _crypto.aes_ctr(key, SP800_38A_COUNTER, 128, 0, message[:split])
        second = _crypto.aes_ctr(key, SP800_38A_COUNTER, 128, split, message[split:])
        assert first + second == expected, f"split at {split}"


def test_aes_ctr_long_input_matches_cryptography():
    # Longer than the 1024-byte chunk of key stream the primitive makes at a time.
    key = bytes(range(16))
    message = bytes(random.Random(6).getrandbits(8) for _ in range(5000))
    encryptor = Cipher(algorithms.AES(key), modes.CTR(SP800_38A_COUNTER)).encryptor()
    expected = encryptor.update(message) + encryptor.finalize()
    assert _crypto.aes_ctr(key, SP800_38A_COUNTER, 128, 0, message) == expected
    assert _crypto.aes_ctr(key, SP800_38A_COUNTER, 128, 1003, message[1003:]) == expected[1003:]


def aes_ecb_blocks(key: bytes, *blocks: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(b"".join(blocks)) + encryptor.finalize()


def test_aes_ctr_counter_wraps_within_its_bits():
    key = bytes(range(16))
    # An 8-bit counter at 0xFF wraps to 0x00, and the byte before it stays 0x0A.
    initial = bytes(14) + b"\x0a\xff"
    expected = aes_ecb_blocks(key, initial, bytes(14) + b"\x0a\x00", bytes(14) + b"\x0a\x01")
    assert _crypto.aes_ctr(key, initial, 8, 0, bytes(48)) == expected
    # A 72-bit counter carries from the low 64 bits into byte 7.
    initial = bytes(7) + b"\x05" + b"\xff" * 8
    expected = aes_ecb_blocks(key, initial, bytes(7) + b"\x06" + bytes(8))
    assert _crypto.aes_ctr(key, initial, 72, 0, bytes(32)) == expected
    # A 64-bit counter wraps without touching byte 7.
    expected = aes_ecb_blocks(key, initial, bytes(7) + b"\x05" + bytes(8))
    assert _crypto.aes_ctr(key, initial, 64, 0, bytes(32)) == expected
    # A 128-bit counter wraps around the whole block.
    initial = b"\xff" * 16
    expected = aes_ecb_blocks(key, initial, bytes(16))
    assert _crypto.aes_ctr(key, initial, 128, 0, bytes(32)) == expected


def test_aes_ctr_rejects_counter_reuse():
    key = bytes(16)
    # Two blocks exhaust a 1-bit counter.
    assert len(_crypto.aes_ctr(key, bytes(16), 1, 0, bytes(32))) == 32
    with pytest.raises(DataLengthError):
        _crypto.aes_ctr(key, bytes(16), 1, 0, bytes(33))
    with pytest.raises(DataLengthError):
        _crypto.aes_ctr(key, bytes(16), 1, 32, b"x")
    assert len(_crypto.aes_ctr(key, bytes(16), 8, 255 * 16, bytes(16))) == 16
    with pytest.raises(DataLengthError):
        _crypto.aes_ctr(key, bytes(16), 8, 256 * 16, b"x")


def test_aes_ctr_bad_arguments():
    with pytest.raises(ValueError):
        _crypto.aes_ctr(bytes(20), bytes(16), 128, 0, b"x")
    with pytest.raises(ValueError):
        _crypto.aes_ctr(bytes(16), bytes(15), 128, 0, b"x")
    for bits in (0, 129, -1):
        with pytest.raises(ValueError):
            _crypto.aes_ctr(bytes(16), bytes(16), bits, 0, b"x")
    with pytest.raises(OverflowError):
        _crypto.aes_ctr(bytes(16), bytes(16), 128, -1, b"x")


# ---------------------------------------------------------------------------------------------
# AES-GCM

GCM_KEY = "feffe9928665731c6d6a8f9467308308"
GCM_IV = "cafebabefacedbaddecaf888"
GCM_PLAINTEXT = (
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
GCM_CIPHERTEXT = (
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
)
# Test cases 1 to 4 of the GCM specification (McGrew and Viega): key, IV, AAD, plaintext,
# ciphertext, tag. Case 4 is case 3 with AAD and a plaintext 4 bytes short of four blocks.
GCM_VECTORS = [
    ("00" * 16, "00" * 12, "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"),
    (
        "00" * 16,
        "00" * 12,
        "",
        "00" * 16,
        "0388dace60b6a392f328c2b971b2fe78",
        "ab6e47d42cec13bdf53a67b21257bddf",
    ),
    (GCM_KEY, GCM_IV, "", GCM_PLAINTEXT, GCM_CIPHERTEXT, "4d5c2af327cd64a62cf35abd2ba6fab4"),
    (
        GCM_KEY,
        GCM_IV,
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        GCM_PLAINTEXT[:120],
        GCM_CIPHERTEXT[:120],
        "5bc94fbc3221a5db94fae95ae7121a47",
    ),
]


@pytest.mark.parametrize("key,iv,aad,plaintext,ciphertext,tag", GCM_VECTORS)
def test_aes_gcm_known_answer(key, iv, aad, plaintext, ciphertext, tag):
    key, iv, aad = bytes.fromhex(key), bytes.fromhex(iv), bytes.fromhex(aad)
    sealed = _crypto.aes_gcm(True, key, iv, aad, bytes.fromhex(plaintext), 16)
    assert sealed.hex() == ciphertext + tag
    assert _crypto.aes_gcm(False, key, iv, aad, sealed, 16).hex() == plaintext


@pytest.mark.parametrize("key_length", [16, 24, 32])
@pytest.mark.parametrize("iv_length", [8, 12, 16, 60, 128])
def test_aes_gcm_matches_cryptography(key_length, iv_length):
    generator = random.Random(key_length * 1000 + iv_length)
    key = bytes(generator.getrandbits(8) for _ in range(key_length))
    iv = bytes(generator.getrandbits(8) for _ in range(iv_length))
    aad = bytes(generator.getrandbits(8) for _ in range(21))
    message = bytes(generator.getrandbits(8) for _ in range(77))
    expected = AESGCM(key).encrypt(iv, message, aad)
    assert _crypto.aes_gcm(True, key, iv, aad, message, 16) == expected
    assert _crypto.aes_gcm(False, key, iv, aad, expected, 16) == message


def test_aes_gcm_short_iv_round_trip():
    # ``cryptography`` takes IVs of 8 bytes and more; GCM and OpenSSL allow one byte.
    key = bytes(range(16))
    sealed = _crypto.aes_gcm(True, key, b"\x01", b"", b"message", 16)
    assert _crypto.aes_gcm(False, key, b"\x01", b"", sealed, 16) == b"message"
    assert sealed != _crypto.aes_gcm(True, key, b"\x02", b"", b"message", 16)


@pytest.mark.parametrize("tag_length", [4, 8, 12, 13, 14, 15])
def test_aes_gcm_truncated_tag(tag_length):
    key = bytes(range(16))
    iv = bytes(12)
    full = _crypto.aes_gcm(True, key, iv, b"aad", b"message", 16)
    short = _crypto.aes_gcm(True, key, iv, b"aad", b"message", tag_length)
    assert short == full[: 7 + tag_length]
    assert _crypto.aes_gcm(False, key, iv, b"aad", short, tag_length) == b"message"


def test_aes_gcm_rejects_forgeries():
    key = bytes(range(16))
    iv = bytes(12)
    sealed = _crypto.aes_gcm(True, key, iv, b"aad", b"message", 16)
    for index in (0, 6, 7, len(sealed) - 1):
        forged = bytearray(sealed)
        forged[index] ^= 0x01
        with pytest.raises(AuthenticationError):
            _crypto.aes_gcm(False, key, iv, b"aad", bytes(forged), 16)
    with pytest.raises(AuthenticationError):
        _crypto.aes_gcm(False, key, iv, b"other aad", sealed, 16)
    with pytest.raises(AuthenticationError):
        _crypto.aes_gcm(False, key, bytes(11) + b"\x01", b"aad", sealed, 16)
    assert issubclass(AuthenticationError, CryptoError)


def test_aes_gcm_bad_arguments():
    key = bytes(16)
    with pytest.raises(ValueError):
        _crypto.aes_gcm(True, bytes(20), bytes(12), b"", b"x", 16)
    for iv in (b"", bytes(129)):
        with pytest.raises(ValueError):
            _crypto.aes_gcm(True, key, iv, b"", b"x", 16)
    for tag_length in (0, 17, -1):
        with pytest.raises(ValueError):
            _crypto.aes_gcm(True, key, bytes(12), b"", b"x", tag_length)
    with pytest.raises(DataLengthError):
        _crypto.aes_gcm(False, key, bytes(12), b"", bytes(15), 16)
    empty = _crypto.aes_gcm(True, key, bytes(12), b"", b"", 16)
    assert len(empty) == 16
    assert _crypto.aes_gcm(False, key, bytes(12), b"", empty, 16) == b""


# ---------------------------------------------------------------------------------------------
# Random bytes


def test_random_bytes():
    assert _crypto.random_bytes(0) == b""
    first = _crypto.random_bytes(32)
    second = _crypto.random_bytes(32)
    assert len(first) == 32
    assert first != second
    assert len(_crypto.random_bytes(100_000)) == 100_000
    with pytest.raises(ValueError):
        _crypto.random_bytes(-1)


# ---------------------------------------------------------------------------------------------
# RSA


@pytest.fixture(scope="module", params=[65537, 17], ids=["e65537", "e17"])
def rsa_key(request):
    return PKey.generate_rsa(2048, request.param)


@pytest.fixture(scope="module")
def rsa_public(rsa_key):
    return serialization.load_der_public_key(rsa_key.spki())


@pytest.fixture(scope="module")
def rsa_private(rsa_key):
    return serialization.load_der_private_key(rsa_key.pkcs8(), password=None)


def test_rsa_properties(rsa_key, rsa_public):
    numbers = rsa_public.public_numbers()
    assert rsa_key.key_type == "RSA"
    assert rsa_key.is_private
    assert rsa_key.bits == 2048
    assert rsa_key.curve is None
    assert rsa_key.ec_point is None
    assert rsa_key.public_exponent == numbers.e
    assert rsa_key.public_exponent in (17, 65537)
    assert rsa_key.modulus == numbers.n.to_bytes(256, "big")
    assert "RSA 2048 private" in repr(rsa_key)


def test_rsa_public_key_properties(rsa_key):
    public = PKey.from_spki(rsa_key.spki())
    assert public.key_type == "RSA"
    assert not public.is_private
    assert public.bits == 2048
    assert public.modulus == rsa_key.modulus
    assert public.public_exponent == rsa_key.public_exponent
    assert public.spki() == rsa_key.spki()


@pytest.mark.parametrize("md", HASH_NAMES)
def test_rsa_pkcs1_sign_cross_check(rsa_key, rsa_public, rsa_private, md):
    digest = hashlib.new(md, b"message").digest()
    algorithm = utils.Prehashed(HASH_CLASSES[md]())
    signature = rsa_key.sign(digest, padding="pkcs1", md=md)
    assert len(signature) == 256
    rsa_public.verify(signature, digest, padding.PKCS1v15(), algorithm)
    theirs = rsa_private.sign(digest, padding.PKCS1v15(), algorithm)
    assert theirs == signature  # PKCS #1 v1.5 signatures are deterministic.
    assert rsa_key.verify(digest, theirs, padding="pkcs1", md=md)
    assert not rsa_key.verify(hashlib.new(md, b"other").digest(), theirs, md=md)


def test_rsa_raw_pkcs1_sign(rsa_key):
    data = b"raw data of any length up to k - 11 bytes"
    signature = rsa_key.sign(data)
    n = int.from_bytes(rsa_key.modulus, "big")
    recovered = pow(int.from_bytes(signature, "big"), rsa_key.public_exponent, n).to_bytes(
        256, "big"
    )
    assert recovered == b"\x00\x01" + b"\xff" * (256 - 3 - len(data)) + b"\x00" + data
    assert rsa_key.verify(data, signature)
    assert not rsa_key.verify(data + b"!", signature)
    assert len(rsa_key.sign(bytes(256 - 11))) == 256
    with pytest.raises(DataLengthError):
        rsa_key.sign(bytes(256 - 10))


def test_rsa_raw_no_padding(rsa_key):
    data = b"\x01" * 100
    signature = rsa_key.sign(data, padding="none")
    n = int.from_bytes(rsa_key.modulus, "big")
    recovered = pow(int.from_bytes(signature, "big"), rsa_key.public_exponent, n)
    assert recovered == int.from_bytes(data, "big")
    assert rsa_key.verify(data, signature, padding="none")
    encrypted = rsa_key.encrypt(data, padding="none")
    assert rsa_key.decrypt(encrypted, padding="none") == bytes(156) + data
    with pytest.raises(DataLengthError):
        rsa_key.encrypt(bytes(257), padding="none")
    with pytest.raises(CryptoError):
        rsa_key.sign(rsa_key.modulus, padding="none")
    with pytest.raises(CryptoError):
        rsa_key.encrypt(b"\xff" * 256, padding="none")


@pytest.mark.parametrize(
    "md,mgf1_md,salt_len",
    [
        ("sha256", None, 0),
        ("sha256", None, 32),
        ("sha1", "sha1", 20),
        ("sha384", "sha256", 48),
        ("sha512", "sha1", 0),
        ("sha224", None, 5),
    ],
)
def test_rsa_pss_cross_check(rsa_key, rsa_public, rsa_private, md, mgf1_md, salt_len):
    digest = hashlib.new(md, b"message").digest()
    mgf = padding.MGF1(HASH_CLASSES[mgf1_md or md]())
    pss = padding.PSS(mgf=mgf, salt_length=salt_len)
    algorithm = utils.Prehashed(HASH_CLASSES[md]())
    signature = rsa_key.sign(digest, padding="pss", md=md, mgf1_md=mgf1_md, salt_len=salt_len)
    rsa_public.verify(signature, digest, pss, algorithm)
    theirs = rsa_private.sign(digest, pss, algorithm)
    options = {"padding": "pss", "md": md, "mgf1_md": mgf1_md, "salt_len": salt_len}
    assert rsa_key.verify(digest, theirs, **options)
    assert not rsa_key.verify(digest, theirs, **dict(options, salt_len=salt_len + 1))
    assert not rsa_key.verify(hashlib.new(md, b"other").digest(), theirs, **options)


def test_rsa_pss_zero_salt_is_deterministic(rsa_key):
    digest = hashlib.sha256(b"m").digest()
    first = rsa_key.sign(digest, padding="pss", md="sha256", salt_len=0)
    second = rsa_key.sign(digest, padding="pss", md="sha256", salt_len=0)
    assert first == second


def test_rsa_sign_argument_errors(rsa_key):
    digest = hashlib.sha256(b"m").digest()
    with pytest.raises(DataLengthError):
        rsa_key.sign(digest[:-1], md="sha256")
    with pytest.raises(DataLengthError):
        rsa_key.sign(digest, padding="pss", md="sha1")
    with pytest.raises(ValueError):
        rsa_key.sign(digest, padding="pss")
    with pytest.raises(ValueError):
        rsa_key.sign(digest, padding="pss", md="sha256", salt_len=-1)
    with pytest.raises(ValueError):
        rsa_key.sign(digest, padding="oaep", md="sha256")
    with pytest.raises(ValueError):
        rsa_key.sign(digest, md="md5")
    with pytest.raises(ValueError):
        rsa_key.sign(digest, md="sha256", mgf1_md="sha256")
    with pytest.raises(CryptoError):
        # The salt does not fit: emLen = 256 < hLen + sLen + 2.
        rsa_key.sign(digest, padding="pss", md="sha256", salt_len=256)


def test_rsa_verify_never_raises_on_bad_signatures(rsa_key):
    digest = hashlib.sha256(b"m").digest()
    good = rsa_key.sign(digest, md="sha256")
    n = rsa_key.modulus
    for signature in (b"", good[:-1], good + b"\0", bytes(256), b"\xff" * 256, n, good[::-1]):
        assert not rsa_key.verify(digest, signature, md="sha256")
        assert not rsa_key.verify(digest, signature, padding="pss", md="sha256")
        assert not rsa_key.verify(digest, signature)
    assert not rsa_key.verify(digest[:-1], good, md="sha256")
    assert rsa_key.verify(digest, good, md="sha256")


def test_rsa_public_key_cannot_sign(rsa_key):
    public = PKey.from_spki(rsa_key.spki())
    digest = hashlib.sha256(b"m").digest()
    with pytest.raises(ValueError):
        public.sign(digest, md="sha256")
    with pytest.raises(ValueError):
        public.decrypt(bytes(256))
    with pytest.raises(ValueError):
        public.pkcs8()
    assert public.verify(digest, rsa_key.sign(digest, md="sha256"), md="sha256")


@pytest.mark.parametrize(
    "md,mgf1_md,label",
    [
        (None, None, None),
        ("sha1", None, b"label"),
        ("sha256", None, None),
        ("sha256", "sha1", b"\x00\x01\x02"),
        ("sha512", "sha512", b"x" * 100),
    ],
)
def test_rsa_oaep_cross_check(rsa_key, rsa_public, rsa_private, md, mgf1_md, label):
    hash_class = HASH_CLASSES[md or "sha1"]
    oaep = padding.OAEP(
        mgf=padding.MGF1(HASH_CLASSES[mgf1_md or md or "sha1"]()),
        algorithm=hash_class(),
        label=label,
    )
    options = {"padding": "oaep", "md": md, "mgf1_md": mgf1_md, "label": label}
    message = b"secret message"
    encrypted = rsa_key.encrypt(message, **options)
    assert len(encrypted) == 256
    assert rsa_private.decrypt(encrypted, oaep) == message
    theirs = rsa_public.encrypt(message, oaep)
    assert rsa_key.decrypt(theirs, **options) == message
    with pytest.raises(DecryptError):
        rsa_key.decrypt(theirs, **dict(options, label=b"wrong label"))


def test_rsa_oaep_length_limit(rsa_key):
    limit = 256 - 2 * 32 - 2
    assert rsa_key.decrypt(
        rsa_key.encrypt(bytes(limit), padding="oaep", md="sha256"), padding="oaep", md="sha256"
    ) == bytes(limit)
    with pytest.raises(DataLengthError):
        rsa_key.encrypt(bytes(limit + 1), padding="oaep", md="sha256")


def test_rsa_pkcs1_encryption_cross_check(rsa_key, rsa_public, rsa_private):
    message = b"pkcs1 v1.5 message"
    encrypted = rsa_key.encrypt(message)
    assert rsa_private.decrypt(encrypted, padding.PKCS1v15()) == message
    assert rsa_key.decrypt(rsa_public.encrypt(message, padding.PKCS1v15())) == message
    assert rsa_key.decrypt(rsa_key.encrypt(b"")) == b""
    assert rsa_key.decrypt(rsa_key.encrypt(bytes(245))) == bytes(245)
    with pytest.raises(DataLengthError):
        rsa_key.encrypt(bytes(246))


def test_rsa_decrypt_errors(rsa_key):
    with pytest.raises(DataLengthError):
        rsa_key.decrypt(bytes(255))
    with pytest.raises(DataLengthError):
        rsa_key.decrypt(bytes(257))
    with pytest.raises(DecryptError) as raised:
        rsa_key.decrypt(bytes(256))
    assert "EVP_PKEY_decrypt" in str(raised.value)
    with pytest.raises(DecryptError):
        rsa_key.decrypt(bytes(256), padding="oaep")
    encrypted = rsa_key.encrypt(b"x", padding="oaep", md="sha256")
    with pytest.raises(DecryptError):
        rsa_key.decrypt(encrypted, padding="oaep", md="sha1")


def test_rsa_encryption_argument_errors(rsa_key):
    with pytest.raises(ValueError):
        rsa_key.encrypt(b"x", padding="pss")
    with pytest.raises(ValueError):
        rsa_key.encrypt(b"x", padding="pkcs1", md="sha256")
    with pytest.raises(ValueError):
        rsa_key.encrypt(b"x", padding="pkcs1", label=b"label")
    with pytest.raises(ValueError):
        rsa_key.encrypt(b"x", padding="oaep", md="md5")
    with pytest.raises(TypeError):
        rsa_key.encrypt(b"x", padding="oaep", label="text")


def test_rsa_pkcs8_round_trip(rsa_key):
    again = PKey.from_pkcs8(rsa_key.pkcs8())
    assert again.modulus == rsa_key.modulus
    assert again.is_private
    digest = hashlib.sha256(b"m").digest()
    assert rsa_key.verify(digest, again.sign(digest, md="sha256"), md="sha256")


def test_rsa_import_from_cryptography():
    theirs = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    der = theirs.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ours = PKey.from_pkcs8(der)
    assert ours.bits == 3072
    assert ours.public_exponent == 65537
    assert ours.modulus == theirs.public_key().public_numbers().n.to_bytes(384, "big")
    spki = theirs.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert ours.spki() == spki
    assert PKey.from_spki(spki).modulus == ours.modulus


@pytest.mark.parametrize("bits", [1024, 2047, 3072])
def test_rsa_generate_sizes(bits):
    key = PKey.generate_rsa(bits, 65537)
    assert key.bits == bits
    assert len(key.modulus) == (bits + 7) // 8


@pytest.mark.slow
@pytest.mark.parametrize("exponent", [17, 65537])
def test_rsa_generate_4096(exponent):
    key = PKey.generate_rsa(4096, exponent)
    assert key.bits == 4096
    assert key.public_exponent == exponent
    digest = hashlib.sha512(b"m").digest()
    signature = key.sign(digest, padding="pss", md="sha512", salt_len=64)
    assert len(signature) == 512
    public = serialization.load_der_public_key(key.spki())
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
    public.verify(signature, digest, pss, utils.Prehashed(hashes.SHA512()))


def test_rsa_generate_argument_errors():
    with pytest.raises(ValueError):
        PKey.generate_rsa(256, 65537)
    with pytest.raises(ValueError):
        PKey.generate_rsa(2048, 65536)
    with pytest.raises(ValueError):
        PKey.generate_rsa(2048, 1)
    with pytest.raises(TypeError):
        PKey.generate_rsa(2048, "65537")


# ANSI X9.31 hash identifiers, which the trailer of the signature block carries before 0xCC.
X931_HASH_IDS = {"sha1": 0x33, "sha256": 0x34, "sha384": 0x36, "sha512": 0x35}


@pytest.fixture(scope="module")
def x931_key():
    return PKey.generate_rsa(2048, 65537, x931=True)


def test_rsa_x931_generation(x931_key):
    assert x931_key.bits == 2048
    assert x931_key.public_exponent == 65537
    theirs = serialization.load_der_private_key(x931_key.pkcs8(), None)
    numbers = theirs.private_numbers()
    assert numbers.p * numbers.q == int.from_bytes(x931_key.modulus, "big")
    for bits in (512, 1000, 1280 + 1):
        with pytest.raises(ValueError):
            PKey.generate_rsa(bits, 65537, x931=True)


@pytest.mark.parametrize("md", sorted(X931_HASH_IDS))
def test_rsa_x931_signature_block(x931_key, md):
    digest = hashlib.new(md, b"m").digest()
    signature = x931_key.sign(digest, padding="x931", md=md)
    n = int.from_bytes(x931_key.modulus, "big")
    value = pow(int.from_bytes(signature, "big"), 65537, n)
    # The signature is the smaller of s and n - s, so the block is one of e-th powers.
    block = value if value & 0xF == 0xC else n - value
    encoded = block.to_bytes(256, "big")
    trailer = bytes((X931_HASH_IDS[md], 0xCC))
    filler = 256 - 2 - len(digest) - len(trailer)
    assert encoded == b"\x6b" + b"\xbb" * filler + b"\xba" + digest + trailer
    assert x931_key.verify(digest, signature, padding="x931", md=md)
    public = PKey.from_spki(x931_key.spki())
    assert public.verify(digest, signature, padding="x931", md=md)
    assert not public.verify(digest, signature, padding="pkcs1", md=md)
    assert not public.verify(bytes(len(digest)), signature, padding="x931", md=md)


def test_rsa_x931_argument_errors(x931_key):
    digest = hashlib.sha224(b"m").digest()
    for md in (None, "sha224"):
        with pytest.raises(ValueError):
            x931_key.sign(digest, padding="x931", md=md)
    with pytest.raises(ValueError):
        x931_key.sign(hashlib.sha1(b"m").digest(), padding="x931", md="sha1", mgf1_md="sha1")
    with pytest.raises(DataLengthError):
        x931_key.sign(digest, padding="x931", md="sha256")


# ---------------------------------------------------------------------------------------------
# Elliptic curves


@pytest.fixture(scope="module", params=sorted(CURVES))
def ec_key(request):
    return PKey.generate_ec(request.param)


@pytest.fixture(scope="module")
def ec_public(ec_key):
    return serialization.load_der_public_key(ec_key.spki())


def raw_to_der(signature: bytes) -> bytes:
    half = len(signature) // 2
    return utils.encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )


def der_to_raw(signature: bytes, half: int) -> bytes:
    r, s = utils.decode_dss_signature(signature)
    return r.to_bytes(half, "big") + s.to_bytes(half, "big")


def test_ec_properties(ec_key, ec_public):
    half = ORDER_BYTES[ec_key.curve]
    assert ec_key.key_type == "EC"
    assert ec_key.is_private
    assert ec_key.curve in CURVES
    assert (ec_key.bits + 7) // 8 == half
    assert ec_key.modulus is None
    assert ec_key.public_exponent is None
    point = ec_public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert ec_key.ec_point == point
    assert len(point) == 1 + 2 * half


@pytest.mark.parametrize("md", HASH_NAMES)
def test_ecdsa_cross_check(ec_key, ec_public, md):
    half = ORDER_BYTES[ec_key.curve]
    digest = hashlib.new(md, b"message").digest()
    algorithm = ec.ECDSA(utils.Prehashed(HASH_CLASSES[md]()))
    signature = ec_key.sign(digest)
    assert len(signature) == 2 * half
    ec_public.verify(raw_to_der(signature), digest, algorithm)
    theirs = serialization.load_der_private_key(ec_key.pkcs8(), None).sign(digest, algorithm)
    assert ec_key.verify(digest, der_to_raw(theirs, half))
    assert not ec_key.verify(hashlib.new(md, b"other").digest(), der_to_raw(theirs, half))


@pytest.mark.parametrize("length", [1, 16, 20, 33, 65, 100, 200])
def test_ecdsa_any_hash_length(ec_key, length):
    tbs = bytes(random.Random(length).getrandbits(8) for _ in range(length))
    signature = ec_key.sign(tbs)
    assert len(signature) == 2 * ORDER_BYTES[ec_key.curve]
    assert ec_key.verify(tbs, signature)
    assert PKey.from_spki(ec_key.spki()).verify(tbs, signature)


@pytest.mark.parametrize("curve,hash_name", [("prime256v1", "sha256"), ("secp384r1", "sha384")])
def test_ecdsa_truncates_long_hash(curve, hash_name):
    # FIPS 186-4 section 6.4: a hash longer than the order uses its leftmost bits.
    key = PKey.generate_ec(curve)
    public = serialization.load_der_public_key(key.spki())
    half = ORDER_BYTES[curve]
    tbs = bytes(range(100))
    signature = key.sign(tbs)
    algorithm = ec.ECDSA(utils.Prehashed(HASH_CLASSES[hash_name]()))
    public.verify(raw_to_der(signature), tbs[:half], algorithm)
    assert key.verify(tbs[:half] + b"ignored tail", signature)


def test_ecdsa_signature_is_padded():
    # A P-521 half is 66 bytes, and about half of all r and s values are below 2^520, so
    # 64 signatures almost surely include halves with a zero leading byte.
    key = PKey.generate_ec("secp521r1")
    public = serialization.load_der_public_key(key.spki())
    algorithm = ec.ECDSA(utils.Prehashed(hashes.SHA512()))
    digest = hashlib.sha512(b"m").digest()
    padded_halves = 0
    for _ in range(64):
        signature = key.sign(digest)
        assert len(signature) == 132
        public.verify(raw_to_der(signature), digest, algorithm)
        padded_halves += (signature[0] == 0) + (signature[66] == 0)
    assert padded_halves > 0


@pytest.mark.parametrize("curve", ["prime256v1", "secp256k1"])
def test_ecdsa_out_of_range_signature(curve):
    key = PKey.generate_ec(curve)
    digest = hashlib.sha256(b"m").digest()
    good = key.sign(digest)
    r, s = good[:32], good[32:]
    n = CURVE_ORDERS[curve]
    n_bytes = n.to_bytes(32, "big")
    r_plus_n = int.from_bytes(r, "big") + n
    candidates = [
        n_bytes + s,
        r + n_bytes,
        bytes(32) + s,
        r + bytes(32),
        b"\xff" * 64,
        bytes(64),
    ]
    if r_plus_n < 2**256:
        candidates.append(r_plus_n.to_bytes(32, "big") + s)
    for signature in candidates:
        assert not key.verify(digest, signature)
    assert key.verify(digest, good)


def test_ecdsa_wrong_signature_length(ec_key):
    digest = hashlib.sha256(b"m").digest()
    good = ec_key.sign(digest)
    for signature in (b"", good[:-1], good + b"\0", b"\0" + good, raw_to_der(good)):
        assert not ec_key.verify(digest, signature)


def test_verify_clears_error_queue():
    key = PKey.generate_ec("prime256v1")
    assert not key.verify(b"x" * 32, b"\xff" * 64)
    with pytest.raises(KeyFormatError) as raised:
        PKey.from_spki(b"\x30\x00")
    message = str(raised.value).lower()
    assert "failed" in message
    assert "bad signature" not in message
    assert "ecdsa" not in message


def test_ec_pkcs8_uses_named_curve(ec_key):
    oids = {
        "prime256v1": "06082a8648ce3d030107",
        "secp384r1": "06052b81040022",
        "secp521r1": "06052b81040023",
        "secp256k1": "06052b8104000a",
    }
    id_ec_public_key = "06072a8648ce3d0201"
    algorithm = id_ec_public_key + oids[ec_key.curve]
    assert algorithm in ec_key.pkcs8()[:40].hex()
    assert algorithm in ec_key.spki()[:40].hex()


def test_ec_pkcs8_round_trip(ec_key):
    der = ec_key.pkcs8()
    again = PKey.from_pkcs8(der)
    assert again.curve == ec_key.curve
    assert again.ec_point == ec_key.ec_point
    assert again.pkcs8() == der
    theirs = serialization.load_der_private_key(der, None)
    assert isinstance(theirs.curve, CURVES[ec_key.curve])


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_ec_import_from_cryptography(curve):
    theirs = ec.generate_private_key(CURVES[curve]())
    der = theirs.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ours = PKey.from_pkcs8(der)
    assert ours.curve == curve
    point = theirs.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert ours.ec_point == point
    spki = theirs.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert ours.spki() == spki


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_ec_compressed_spki_is_normalised(curve):
    theirs = ec.generate_private_key(CURVES[curve]()).public_key()
    compressed = theirs.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    uncompressed_spki = theirs.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Rebuild the SPKI around the compressed point: same AlgorithmIdentifier, new BIT STRING.
    content = der_content(uncompressed_spki)
    algorithm_identifier = content[: 2 + content[1]]
    compressed_spki = der_tlv(0x30, algorithm_identifier + der_tlv(0x03, b"\x00" + compressed))
    key = PKey.from_spki(compressed_spki)
    assert key.ec_point[0] == 0x04
    assert key.spki() == uncompressed_spki


@pytest.mark.parametrize(
    "curve", ["secp224r1", "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"]
)
def test_ec_other_openssl_curves(curve):
    key = PKey.generate_ec(curve)
    assert key.curve == curve
    digest = hashlib.sha256(b"m").digest()
    assert key.verify(digest, key.sign(digest))
    assert PKey.from_spki(key.spki()).ec_point == key.ec_point


def test_ec_nist_name_alias():
    assert PKey.generate_ec("P-256").curve == "prime256v1"


@pytest.mark.parametrize("bad", ["secp256r1x", "", "rsaEncryption", "P-999"])
def test_ec_unknown_curve(bad):
    with pytest.raises(ValueError):
        PKey.generate_ec(bad)


def test_ec_rejects_rsa_only_calls(ec_key):
    with pytest.raises(ValueError):
        ec_key.encrypt(b"x")
    with pytest.raises(ValueError):
        ec_key.decrypt(b"x" * 64)


def test_ec_ignores_rsa_options(ec_key):
    digest = hashlib.sha256(b"m").digest()
    signature = ec_key.sign(digest, padding="pss", md="sha256")
    assert ec_key.verify(digest, signature, padding="pkcs1", md="sha1")


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_ecdh_matches_cryptography(curve):
    ours = PKey.generate_ec(curve)
    theirs = ec.generate_private_key(CURVES[curve]())
    their_point = theirs.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    secret = ours.derive(PKey.from_ec_point(curve, their_point))
    our_public = serialization.load_der_public_key(ours.spki())
    assert secret == theirs.exchange(ec.ECDH(), our_public)
    assert len(secret) == ORDER_BYTES[curve]


def test_from_ec_point_errors():
    point = PKey.generate_ec("prime256v1").ec_point
    with pytest.raises(KeyFormatError):
        PKey.from_ec_point("prime256v1", point[:-1])
    with pytest.raises(KeyFormatError):
        PKey.from_ec_point("secp384r1", point)
    off_curve = point[:-1] + bytes([point[-1] ^ 1])
    with pytest.raises(KeyFormatError):
        PKey.from_ec_point("prime256v1", off_curve)
    with pytest.raises(CryptoError):
        PKey.from_ec_point("prime256v1", b"\x00")
    with pytest.raises(ValueError):
        PKey.from_ec_point("nope", point)


def test_derive_curve_mismatch():
    ours = PKey.generate_ec("prime256v1")
    other = PKey.generate_ec("secp384r1")
    with pytest.raises(CryptoError):
        ours.derive(PKey.from_spki(other.spki()))
    with pytest.raises(ValueError):
        PKey.from_spki(ours.spki()).derive(other)


# ---------------------------------------------------------------------------------------------
# Malformed and unsupported key encodings


@pytest.fixture(scope="module")
def sample_keys():
    rsa_key = PKey.generate_rsa(1024, 65537)
    ec_key = PKey.generate_ec("prime256v1")
    return {"rsa": rsa_key, "ec": ec_key}


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_spki_trailing_bytes(sample_keys, kind):
    spki = sample_keys[kind].spki()
    assert PKey.from_spki(spki).spki() == spki
    for trailer in (b"\x00", b"\x04\x02ab", spki):
        with pytest.raises(KeyFormatError) as raised:
            PKey.from_spki(spki + trailer)
        assert "trailing" in str(raised.value)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_pkcs8_trailing_bytes(sample_keys, kind):
    der = sample_keys[kind].pkcs8()
    with pytest.raises(KeyFormatError):
        PKey.from_pkcs8(der + b"\x00")


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_pkcs8_rejects_ber(sample_keys, kind):
    der = sample_keys[kind].pkcs8()
    with pytest.raises(KeyFormatError) as raised:
        PKey.from_pkcs8(with_long_form_outer_length(der))
    assert "DER" in str(raised.value)


@pytest.mark.parametrize(
    "der",
    [b"", b"\x30", b"\x30\x00", b"\x30\x80\x00\x00", b"\x02\x01\x00", b"\xff" * 40, bytes(100)],
)
def test_malformed_der(der):
    with pytest.raises(KeyFormatError):
        PKey.from_spki(der)
    with pytest.raises(KeyFormatError):
        PKey.from_pkcs8(der)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_truncated_der(sample_keys, kind):
    for der, parse in (
        (sample_keys[kind].spki(), PKey.from_spki),
        (sample_keys[kind].pkcs8(), PKey.from_pkcs8),
    ):
        for length in range(0, len(der), 7):
            with pytest.raises(KeyFormatError):
                parse(der[:length])


def test_wrong_structure(sample_keys):
    for key in sample_keys.values():
        with pytest.raises(KeyFormatError):
            PKey.from_spki(key.pkcs8())
        with pytest.raises(KeyFormatError):
            PKey.from_pkcs8(key.spki())


def test_pkcs8_rejects_other_formats():
    theirs = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    traditional = theirs.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    encrypted = theirs.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"password"),
    )
    with pytest.raises(KeyFormatError):
        PKey.from_pkcs8(traditional)
    with pytest.raises(KeyFormatError):
        PKey.from_pkcs8(encrypted)


@pytest.mark.filterwarnings("ignore:Diffie-Hellman over finite fields")
def test_unsupported_key_type():
    # An X9.42 DH key (OID dhpublicnumber) is a key type that the engine does not take.
    p, q, g = (int.from_bytes(value, "big") for value in _crypto.dh_named_group("ffdhe2048"))
    theirs = dh.DHParameterNumbers(p, g, q).parameters().generate_private_key()
    spki = theirs.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs8 = theirs.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyFormatError):
        PKey.from_spki(spki)
    with pytest.raises(KeyFormatError):
        PKey.from_pkcs8(pkcs8)


def test_ec_pkcs8_with_wrong_public_key():
    # An ECPrivateKey whose optional publicKey belongs to another key fails the pairwise check.
    first = ec.generate_private_key(ec.SECP256R1())
    second = ec.generate_private_key(ec.SECP256R1())
    wrong_point = second.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    pkcs8 = ec_pkcs8(first.private_numbers().private_value.to_bytes(32, "big"), wrong_point)
    with pytest.raises(KeyFormatError):
        PKey.from_pkcs8(pkcs8)


def test_ec_pkcs8_skip_pairwise_check():
    first = ec.generate_private_key(ec.SECP256R1())
    second = ec.generate_private_key(ec.SECP256R1())
    wrong_point = second.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    pkcs8 = ec_pkcs8(first.private_numbers().private_value.to_bytes(32, "big"), wrong_point)
    key = PKey.from_pkcs8(pkcs8, pairwise_check=False)
    assert key.ec_point == wrong_point


def test_ec_pkcs8_without_public_key():
    theirs = ec.generate_private_key(ec.SECP256R1())
    key = PKey.from_pkcs8(ec_pkcs8(theirs.private_numbers().private_value.to_bytes(32, "big")))
    point = theirs.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert key.ec_point == point
    digest = hashlib.sha256(b"m").digest()
    assert PKey.from_ec_point("prime256v1", point).verify(digest, key.sign(digest))


P256_FIELD = int("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF", 16)
P256_A = P256_FIELD - 3
P256_B = int("5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B", 16)
P256_GENERATOR = bytes.fromhex(
    "04"
    "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
    "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5"
)


def der_integer(value: int) -> bytes:
    return der_tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def p256_explicit_algorithm(generator: bytes) -> bytes:
    """Return an id-ecPublicKey AlgorithmIdentifier with explicit SEC 1 ECParameters."""
    prime_field = bytes.fromhex("06072a8648ce3d0101")
    parameters = der_tlv(
        0x30,
        der_integer(1)
        + der_tlv(0x30, prime_field + der_integer(P256_FIELD))
        + der_tlv(
            0x30,
            der_tlv(0x04, P256_A.to_bytes(32, "big")) + der_tlv(0x04, P256_B.to_bytes(32, "big")),
        )
        + der_tlv(0x04, generator)
        + der_integer(CURVE_ORDERS["prime256v1"])
        + der_integer(1),
    )
    return der_tlv(0x30, bytes.fromhex("06072a8648ce3d0201") + parameters)


def test_ec_explicit_parameters_of_named_curve():
    theirs = ec.generate_private_key(ec.SECP256R1())
    point = theirs.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    algorithm = p256_explicit_algorithm(P256_GENERATOR)
    spki = der_tlv(0x30, algorithm + der_tlv(0x03, b"\x00" + point))
    public = PKey.from_spki(spki)
    assert public.curve == "prime256v1"
    named_spki = theirs.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public.spki() == named_spki
    scalar = theirs.private_numbers().private_value.to_bytes(32, "big")
    pkcs8 = ec_pkcs8(scalar, point, algorithm=algorithm)
    private = PKey.from_pkcs8(pkcs8)
    assert private.curve == "prime256v1"
    assert private.ec_point == point
    assert "06082a8648ce3d030107" in private.pkcs8()[:40].hex()
    digest = hashlib.sha256(b"m").digest()
    assert public.verify(digest, private.sign(digest))


def test_ec_explicit_parameters_of_unnamed_curve():
    # P-256 with another generator is a valid curve that matches no named curve.
    theirs = ec.generate_private_key(ec.SECP256R1())
    point = theirs.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    other_generator = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    algorithm = p256_explicit_algorithm(other_generator)
    spki = der_tlv(0x30, algorithm + der_tlv(0x03, b"\x00" + point))
    with pytest.raises(KeyFormatError):
        PKey.from_spki(spki)
    scalar = theirs.private_numbers().private_value.to_bytes(32, "big")
    with pytest.raises(KeyFormatError):
        PKey.from_pkcs8(ec_pkcs8(scalar, algorithm=algorithm), pairwise_check=False)


def test_ec_point_at_infinity_rejected():
    spki = der_tlv(0x30, P256_ALGORITHM + der_tlv(0x03, b"\x00\x00"))
    with pytest.raises(KeyFormatError):
        PKey.from_spki(spki)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_mutated_der_never_crashes(sample_keys, kind):
    generator = random.Random(f"fuzz-{kind}")
    for der, parse in (
        (sample_keys[kind].spki(), PKey.from_spki),
        (sample_keys[kind].pkcs8(), PKey.from_pkcs8),
    ):
        for _ in range(300):
            mutated = bytearray(der)
            for _ in range(generator.randint(1, 4)):
                position = generator.randrange(len(mutated))
                choice = generator.random()
                if choice < 0.6:
                    mutated[position] ^= 1 << generator.randrange(8)
                elif choice < 0.8:
                    del mutated[position]
                else:
                    mutated.insert(position, generator.randrange(256))
            try:
                key = parse(bytes(mutated))
            except KeyFormatError:
                continue
            # A mutation inside a key value can still parse, and the key must then be usable.
            assert key.key_type in ("RSA", "EC")
            key.spki()


def test_pkey_cannot_be_constructed_directly():
    with pytest.raises(TypeError):
        PKey()


def test_error_messages_carry_no_key_material(sample_keys):
    der = sample_keys["ec"].pkcs8()
    with pytest.raises(KeyFormatError) as raised:
        PKey.from_pkcs8(der[:-1])
    message = str(raised.value)
    assert der[-32:].hex() not in message.lower()
    assert "failed" in message


# ---------------------------------------------------------------------------------------------
# Concurrency


@pytest.mark.parametrize("source", ["generated", "parsed"])
def test_shared_keys_across_threads(source):
    rsa_key = PKey.generate_rsa(2048, 65537)
    ec_key = PKey.generate_ec("prime256v1")
    if source == "parsed":
        # A parsed key is exported to the provider on its first use, here by all threads at once.
        rsa_key = PKey.from_pkcs8(rsa_key.pkcs8())
        ec_key = PKey.from_pkcs8(ec_key.pkcs8(), pairwise_check=False)
    rsa_public = PKey.from_spki(rsa_key.spki())
    ec_public = PKey.from_spki(ec_key.spki())
    digest = hashlib.sha256(b"threads").digest()
    start = threading.Barrier(8)
    failures = []

    def work():
        try:
            start.wait()
            for _ in range(10):
                signature = rsa_key.sign(digest, md="sha256")
                assert rsa_public.verify(digest, signature, md="sha256")
                assert ec_public.verify(digest, ec_key.sign(digest))
                assert not ec_public.verify(digest, bytes(64))
                encrypted = rsa_public.encrypt(b"m", padding="oaep")
                assert rsa_key.decrypt(encrypted, padding="oaep") == b"m"
                assert ec_key.ec_point == ec_public.ec_point
        except Exception as error:  # noqa: BLE001 - reported to the main thread below
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


# ---------------------------------------------------------------------------------------------
# Edwards and Montgomery curve keys (OpenSSL's ECX keys)

ECX_CURVES = ["ED25519", "ED448", "X25519", "X448"]
ECX_RAW_BYTES = {"ED25519": 32, "ED448": 57, "X25519": 32, "X448": 56}
ECX_PRIVATE_CLASSES = {
    "ED25519": ed25519.Ed25519PrivateKey,
    "ED448": ed448.Ed448PrivateKey,
    "X25519": x25519.X25519PrivateKey,
    "X448": x448.X448PrivateKey,
}
RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def rfc8410_spki(curve: str, raw: bytes) -> bytes:
    algorithm = der_tlv(0x30, der_tlv(0x06, EP11_ALGORITHM_IDENTIFIERS[curve][-3:]))
    return der_tlv(0x30, algorithm + der_tlv(0x03, b"\x00" + raw))


@pytest.mark.parametrize("vector", EDDSA_VECTORS, ids=lambda v: f"{v.curve}-{len(v.message)}")
def test_eddsa_rfc8032(vector):
    key = PKey.from_raw_private_key(vector.curve, vector.private_key)
    assert key.ec_point == vector.public_key
    assert key.sign(vector.message) == vector.signature
    public = PKey.from_ec_point(vector.curve, vector.public_key)
    assert public.verify(vector.message, vector.signature)
    assert not public.verify(vector.message + b"x", vector.signature)


@pytest.mark.parametrize("vector", XDH_VECTORS, ids=lambda v: v.curve)
def test_xdh_rfc7748(vector):
    alice = PKey.from_raw_private_key(vector.curve, vector.alice_private)
    bob = PKey.from_raw_private_key(vector.curve, vector.bob_private)
    assert alice.ec_point == vector.alice_public
    assert bob.ec_point == vector.bob_public
    bob_public = PKey.from_ec_point(vector.curve, vector.bob_public)
    alice_public = PKey.from_ec_point(vector.curve, vector.alice_public)
    assert alice.derive(bob_public) == vector.shared_secret
    assert bob.derive(alice_public) == vector.shared_secret


@pytest.mark.parametrize("curve", ECX_CURVES)
def test_ecx_properties(curve):
    key = PKey.generate_ec(curve)
    assert key.key_type == curve
    assert key.curve == curve
    assert key.is_private
    assert key.bits == 8 * ECX_RAW_BYTES[curve]
    assert len(key.ec_point) == ECX_RAW_BYTES[curve]
    assert key.ffc_params is None
    assert key.modulus is None
    public = PKey.from_spki(key.spki())
    assert not public.is_private
    assert public.ec_point == key.ec_point
    assert public.curve == curve


@pytest.mark.parametrize("curve", ECX_CURVES)
def test_ecx_spki_is_ep11_form(curve):
    key = PKey.generate_ec(curve)
    spki = key.spki()
    bit_string = der_tlv(0x03, b"\x00" + key.ec_point)
    assert spki == der_tlv(0x30, EP11_ALGORITHM_IDENTIFIERS[curve] + bit_string)


@pytest.mark.parametrize("curve", ECX_CURVES)
def test_ecx_reads_rfc8410_spki(curve):
    theirs = ECX_PRIVATE_CLASSES[curve].generate().public_key()
    der = theirs.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert der == rfc8410_spki(curve, theirs.public_bytes(*RAW))
    key = PKey.from_spki(der)
    assert key.curve == curve
    assert key.ec_point == theirs.public_bytes(*RAW)


@pytest.mark.parametrize("curve", ECX_CURVES)
def test_ecx_spki_errors(curve):
    raw = PKey.generate_ec(curve).ec_point
    bit_string = der_tlv(0x03, b"\x00" + raw)
    rfc_algorithm = der_tlv(0x30, der_tlv(0x06, EP11_ALGORITHM_IDENTIFIERS[curve][-3:]))
    bad = {
        "short key": der_tlv(
            0x30, EP11_ALGORITHM_IDENTIFIERS[curve] + der_tlv(0x03, b"\x00" + raw[:-1])
        ),
        "unused bits": der_tlv(
            0x30, EP11_ALGORITHM_IDENTIFIERS[curve] + der_tlv(0x03, b"\x01" + raw)
        ),
        "RFC 8410 with parameters": der_tlv(
            0x30, der_tlv(0x30, rfc_algorithm[2:] + b"\x05\x00") + bit_string
        ),
        "octet string": der_tlv(0x30, EP11_ALGORITHM_IDENTIFIERS[curve] + der_tlv(0x04, raw)),
        "trailing element": der_tlv(
            0x30, EP11_ALGORITHM_IDENTIFIERS[curve] + bit_string + b"\x05\x00"
        ),
    }
    for label, der in bad.items():
        with pytest.raises(KeyFormatError):
            PKey.from_spki(der)
            pytest.fail(f"accepted an SPKI with a {label}")
    good = der_tlv(0x30, EP11_ALGORITHM_IDENTIFIERS[curve] + bit_string)
    with pytest.raises(KeyFormatError):
        PKey.from_spki(good + b"\x00")


@pytest.mark.parametrize("curve", ECX_CURVES)
def test_ecx_pkcs8_round_trip(curve):
    key = PKey.generate_ec(curve)
    der = key.pkcs8()
    theirs = serialization.load_der_private_key(der, None)
    assert isinstance(theirs, ECX_PRIVATE_CLASSES[curve])
    assert theirs.public_key().public_bytes(*RAW) == key.ec_point
    parsed = PKey.from_pkcs8(der)
    assert parsed.ec_point == key.ec_point
    assert parsed.raw_private_key() == key.raw_private_key()
    assert theirs.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    ) == key.raw_private_key()


@pytest.mark.parametrize("curve", ECX_CURVES)
def test_ecx_reads_cryptography_pkcs8(curve):
    theirs = ECX_PRIVATE_CLASSES[curve].generate()
    der = theirs.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = PKey.from_pkcs8(der)
    assert key.curve == curve
    assert key.ec_point == theirs.public_key().public_bytes(*RAW)


def test_ecx_pkcs8_errors():
    der = PKey.generate_ec("ED25519").pkcs8()
    # The CurvePrivateKey OCTET STRING is the last 34 bytes: 04 20 and the 32-byte seed.
    assert der[-34:-32] == b"\x04\x20"
    wrong_tag = der[:-34] + b"\x03\x20" + der[-32:]
    with pytest.raises(KeyFormatError):
        PKey.from_pkcs8(wrong_tag)
    short = der_tlv(0x30, der_content(der)[:-34] + der_tlv(0x04, der_tlv(0x04, bytes(31))))
    with pytest.raises(KeyFormatError):
        PKey.from_pkcs8(short)


@pytest.mark.parametrize("curve", ["ED25519", "ED448"])
def test_eddsa_cross_check(curve):
    ours = PKey.generate_ec(curve)
    theirs_public = serialization.load_der_public_key(
        rfc8410_spki(curve, ours.ec_point)
    )
    message = b"cross-checked message" * 10
    theirs_public.verify(ours.sign(message), message)
    theirs = ECX_PRIVATE_CLASSES[curve].generate()
    public = PKey.from_ec_point(curve, theirs.public_key().public_bytes(*RAW))
    assert public.verify(message, theirs.sign(message))
    assert not public.verify(message, bytes(len(theirs.sign(message))))
    assert not public.verify(message, theirs.sign(message)[:-1])


@pytest.mark.parametrize("curve", ["X25519", "X448"])
def test_xdh_cross_check(curve):
    ours = PKey.generate_ec(curve)
    theirs = ECX_PRIVATE_CLASSES[curve].generate()
    their_public = theirs.public_key().public_bytes(*RAW)
    secret = ours.derive(PKey.from_ec_point(curve, their_public))
    public_class = {"X25519": x25519.X25519PublicKey, "X448": x448.X448PublicKey}[curve]
    assert secret == theirs.exchange(public_class.from_public_bytes(ours.ec_point))


def test_xdh_rejects_small_order_peer():
    # u = 0 has small order on Curve25519, so the shared secret is all zeros (RFC 7748 s. 6.1).
    key = PKey.generate_ec("X25519")
    with pytest.raises(CryptoError):
        key.derive(PKey.from_ec_point("X25519", bytes(32)))


def test_ecx_operation_errors():
    ed = PKey.generate_ec("ED25519")
    x = PKey.generate_ec("X25519")
    with pytest.raises(ValueError):
        x.sign(b"m")
    with pytest.raises(ValueError):
        x.verify(b"m", bytes(64))
    with pytest.raises(ValueError):
        ed.derive(PKey.from_spki(ed.spki()))
    with pytest.raises(ValueError):
        x.derive(PKey.from_ec_point("X448", PKey.generate_ec("X448").ec_point))
    with pytest.raises(ValueError):
        PKey.from_spki(ed.spki()).raw_private_key()
    with pytest.raises(ValueError):
        PKey.generate_ec("prime256v1").raw_private_key()
    with pytest.raises(ValueError):
        ed.encrypt(b"m")
    with pytest.raises(ValueError):
        PKey.from_raw_private_key("prime256v1", bytes(32))
    with pytest.raises(KeyFormatError):
        PKey.from_raw_private_key("ED25519", bytes(31))
    with pytest.raises(KeyFormatError):
        PKey.from_ec_point("X448", bytes(32))


# ---------------------------------------------------------------------------------------------
# DSA and DH keys

# cryptography 46 and later deprecate finite-field DH, which the cross-checks here still use.
FFDH_DEPRECATION = "ignore:Diffie-Hellman over finite fields"


@pytest.fixture(scope="module")
def dsa_parameters():
    return _crypto.generate_dsa_parameters(2048, 256)


def test_dsa_parameter_sizes(dsa_parameters):
    p, q, g = dsa_parameters
    assert int.from_bytes(p, "big").bit_length() == 2048
    assert int.from_bytes(q, "big").bit_length() == 256
    assert (int.from_bytes(p, "big") - 1) % int.from_bytes(q, "big") == 0
    assert pow(int.from_bytes(g, "big"), int.from_bytes(q, "big"), int.from_bytes(p, "big")) == 1


@pytest.mark.parametrize("bits, qbits", [(1023, 160), (2048, 512), (20000, 256)])
def test_dsa_parameter_errors(bits, qbits):
    with pytest.raises(ValueError):
        _crypto.generate_dsa_parameters(bits, qbits)


def test_dsa_properties(dsa_parameters):
    key = PKey.generate_ffc("DSA", *dsa_parameters)
    assert key.key_type == "DSA"
    assert key.bits == 2048
    assert key.ffc_params == dsa_parameters
    assert key.curve is None
    assert key.ec_point is None
    p, q, g = (int.from_bytes(value, "big") for value in dsa_parameters)
    assert pow(int.from_bytes(key.public_value, "big"), q, p) == 1
    public = PKey.from_spki(key.spki())
    assert public.public_value == key.public_value
    assert PKey.from_pkcs8(key.pkcs8()).public_value == key.public_value
    assert PKey.from_ffc_public("DSA", *dsa_parameters, key.public_value).spki() == key.spki()


@pytest.mark.parametrize("md", ["sha1", "sha256", "sha512"])
def test_dsa_cross_check(dsa_parameters, md):
    ours = PKey.generate_ffc("DSA", *dsa_parameters)
    theirs_public = serialization.load_der_public_key(ours.spki())
    message = b"signed with DSA"
    digest = hashlib.new(md, message).digest()
    signature = ours.sign(digest)
    assert len(signature) == 64
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    theirs_public.verify(
        utils.encode_dss_signature(r, s), digest, utils.Prehashed(HASH_CLASSES[md]())
    )
    theirs = serialization.load_der_private_key(ours.pkcs8(), None)
    r, s = utils.decode_dss_signature(theirs.sign(message, HASH_CLASSES[md]()))
    assert ours.verify(digest, r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    assert not ours.verify(digest, (r + 1).to_bytes(32, "big") + s.to_bytes(32, "big"))
    assert not ours.verify(digest, bytes(64))
    assert not ours.verify(digest, signature[:-1])


def test_dsa_reads_cryptography_keys():
    theirs = dsa.generate_private_key(2048)
    der = theirs.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = PKey.from_pkcs8(der)
    numbers = theirs.private_numbers().public_numbers
    assert int.from_bytes(key.public_value, "big") == numbers.y
    public = PKey.from_spki(
        theirs.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert public.ffc_params == key.ffc_params


@pytest.mark.parametrize("group", ["ffdhe2048", "modp_2048", "ffdhe3072"])
def test_dh_named_groups(group):
    p, q, g = (int.from_bytes(value, "big") for value in _crypto.dh_named_group(group))
    # RFC 3526 and RFC 7919 primes are safe primes whose top and bottom 64 bits are all ones.
    assert q == (p - 1) // 2
    assert g == 2
    assert p >> (p.bit_length() - 64) == (1 << 64) - 1
    assert p & ((1 << 64) - 1) == (1 << 64) - 1
    for witness in (2, 3, 5, 7):
        assert pow(witness, p - 1, p) == 1
        assert pow(witness, q - 1, q) == 1


def test_dh_unknown_group():
    with pytest.raises(ValueError):
        _crypto.dh_named_group("ffdhe1024")


@pytest.mark.parametrize("with_q", [True, False], ids=["with-q", "without-q"])
@pytest.mark.filterwarnings(FFDH_DEPRECATION)
def test_dh_matches_cryptography(with_q):
    p, q, g = _crypto.dh_named_group("ffdhe2048")
    ours = PKey.generate_ffc("DH", p, q if with_q else None, g)
    assert ours.key_type == "DH"
    assert ours.bits == 2048
    # OpenSSL fills in the q of its named groups when the caller leaves it out.
    assert ours.ffc_params == (p, q, g)
    numbers = dh.DHParameterNumbers(int.from_bytes(p, "big"), int.from_bytes(g, "big"))
    theirs = numbers.parameters().generate_private_key()
    their_y = theirs.public_key().public_numbers().y
    their_public = PKey.from_ffc_public("DH", p, None, g, their_y.to_bytes(256, "big"))
    secret = ours.derive(their_public)
    assert len(secret) == 256
    our_public = serialization.load_der_public_key(ours.spki())
    assert secret == theirs.exchange(our_public)


def test_dh_spki_is_pkcs3():
    p, _, g = _crypto.dh_named_group("ffdhe2048")
    key = PKey.generate_ffc("DH", p, None, g)
    algorithm = der_tlv(
        0x30,
        der_tlv(0x06, bytes.fromhex("2a864886f70d010301"))
        + der_tlv(0x30, der_tlv(0x02, b"\x00" + p) + der_tlv(0x02, g)),
    )
    y = key.public_value
    integer = der_tlv(0x02, (b"\x00" + y) if y[0] & 0x80 else y)
    assert key.spki() == der_tlv(0x30, algorithm + der_tlv(0x03, b"\x00" + integer))
    assert PKey.from_spki(key.spki()).public_value == y


def test_dh_rejects_invalid_peer_values():
    p, q, g = _crypto.dh_named_group("ffdhe2048")
    key = PKey.generate_ffc("DH", p, q, g)
    p_value = int.from_bytes(p, "big")
    for y in (1, p_value - 1, p_value, p_value + 1):
        peer = PKey.from_ffc_public("DH", p, q, g, y.to_bytes(257, "big"))
        with pytest.raises(CryptoError):
            key.derive(peer)
    with pytest.raises(ValueError):
        PKey.from_ffc_public("DH", p, q, g, b"\x00")


def test_dh_rejects_other_group():
    p, q, g = _crypto.dh_named_group("ffdhe2048")
    other_p, other_q, other_g = _crypto.dh_named_group("modp_2048")
    key = PKey.generate_ffc("DH", p, q, g)
    other = PKey.generate_ffc("DH", other_p, other_q, other_g)
    with pytest.raises(CryptoError):
        key.derive(PKey.from_spki(other.spki()))


def test_ffc_argument_errors(dsa_parameters):
    p, q, g = dsa_parameters
    with pytest.raises(ValueError):
        PKey.generate_ffc("DSA", p, None, g)
    with pytest.raises(ValueError):
        PKey.generate_ffc("RSA", p, q, g)
    with pytest.raises(TypeError):
        PKey.generate_ffc("DSA", p, "q", g)
    with pytest.raises(KeyFormatError):
        # g = 1 generates nothing, which the parameter check rejects.
        PKey.generate_ffc("DSA", p, q, b"\x01")
    key = PKey.generate_ffc("DSA", p, q, g)
    with pytest.raises(ValueError):
        key.derive(PKey.from_spki(key.spki()))
    dh_key = PKey.generate_ffc("DH", *_crypto.dh_named_group("ffdhe2048"))
    with pytest.raises(ValueError):
        dh_key.sign(b"m")
