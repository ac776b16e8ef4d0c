"""Known-answer tests of the digests, HMACs, AES modes and key check values.

Every test runs on each backend of the ``ep11`` fixture: the in-process engine and the gRPC
client with KeyBlob and legacy bytes key fields. Keys are imported with the ``import_secret``
fixture, so the expected outputs follow from the published vectors alone.

Sources of the vectors:
- SHA: the FIPS 180 example messages ("abc", the empty message, and the 448-bit and 896-bit
  messages) with the digests NIST publishes for them.
- HMAC: RFC 4231 section 4 (SHA-224/256/384/512) and RFC 2202 section 3 (SHA-1).
- AES: NIST SP 800-38A appendix F.1 (ECB) and F.2 (CBC).
"""

import os

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ep11core.constants import CKA, CKK, CKM, CKR
from ep11core.errors import PKCS11Error
from ep11core.types import Mechanism

# --- SHA-1 and SHA-2

MESSAGES = {
    "abc": b"abc",
    "empty": b"",
    "448-bit": b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "896-bit": (
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
    ),
}

DIGESTS = {
    CKM.SHA_1: {
        "abc": "a9993e364706816aba3e25717850c26c9cd0d89d",
        "empty": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "448-bit": "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
        "896-bit": "a49b2446a02c645bf419f995b67091253a04a259",
    },
    CKM.SHA224: {
        "abc": "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
        "empty": "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f",
        "448-bit": "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525",
        "896-bit": "c97ca9a559850ce97a04a96def6d99a9e0e0e2ab14e6b8df265fc0b3",
    },
    CKM.SHA256: {
        "abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "empty": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "448-bit": "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "896-bit": "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    },
    CKM.SHA384: {
        "abc": (
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
            "8086072ba1e7cc2358baeca134c825a7"
        ),
        "empty": (
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da"
            "274edebfe76f65fbd51ad2f14898b95b"
        ),
        "448-bit": (
            "3391fdddfc8dc7393707a65b1b4709397cf8b1d162af05abfe8f450de5f36bc6"
            "b0455a8520bc4e6f5fe95b1fe3c8452b"
        ),
        "896-bit": (
            "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712"
            "fcc7c71a557e2db966c3e9fa91746039"
        ),
    },
    CKM.SHA512: {
        "abc": (
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        ),
        "empty": (
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        ),
        "448-bit": (
            "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
            "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"
        ),
        "896-bit": (
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
            "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
        ),
    },
}

DIGEST_CASES = [
    pytest.param(mechanism, name, expected, id=f"{mechanism.name}-{name}")
    for mechanism, vectors in DIGESTS.items()
    for name, expected in vectors.items()
]
NON_EMPTY_DIGEST_CASES = [case for case in DIGEST_CASES if case.values[1] != "empty"]
HASH_MECHANISMS = [pytest.param(mechanism, id=mechanism.name) for mechanism in DIGESTS]


@pytest.mark.parametrize("mechanism, message, expected", DIGEST_CASES)
def test_digest_single(ep11, mechanism, message, expected):
    digest = ep11.digest_single(Mechanism(mechanism), MESSAGES[message])
    assert digest.hex() == expected


@pytest.mark.parametrize("mechanism, message, expected", NON_EMPTY_DIGEST_CASES)
def test_digest_after_init(ep11, mechanism, message, expected):
    state = ep11.digest_init(Mechanism(mechanism))
    assert ep11.digest(state, MESSAGES[message]).hex() == expected


@pytest.mark.parametrize("mechanism", HASH_MECHANISMS)
def test_digest_final_without_update(ep11, mechanism):
    state = ep11.digest_init(Mechanism(mechanism))
    assert ep11.digest_final(state).hex() == DIGESTS[mechanism]["empty"]


@pytest.mark.parametrize("mechanism", HASH_MECHANISMS)
def test_digest_every_split_point(ep11, mechanism):
    # The 896-bit message is 112 bytes, so the splits fall before, on and after the 64-byte
    # block boundary of SHA-1/224/256 and inside the single 128-byte block of SHA-384/512.
    message = MESSAGES["896-bit"]
    expected = DIGESTS[mechanism]["896-bit"]
    initial = ep11.digest_init(Mechanism(mechanism))
    for split in range(1, len(message)):
        state = ep11.digest_update(initial, message[:split])
        state = ep11.digest_update(state, message[split:])
        assert ep11.digest_final(state).hex() == expected, f"split at byte {split}"


@pytest.mark.parametrize("mechanism", HASH_MECHANISMS)
def test_digest_one_byte_updates(ep11, mechanism):
    state = ep11.digest_init(Mechanism(mechanism))
    for byte in MESSAGES["abc"]:
        state = ep11.digest_update(state, bytes((byte,)))
    assert ep11.digest_final(state).hex() == DIGESTS[mechanism]["abc"]


# --- HMAC


def _hmac_case(mechanism, number, key, data, mac):
    return pytest.param(
        mechanism, key, data, bytes.fromhex(mac), id=f"{mechanism.name}-case{number}"
    )


RFC4231_INPUTS = {
    1: (b"\x0b" * 20, b"Hi There"),
    2: (b"Jefe", b"what do ya want for nothing?"),
    3: (b"\xaa" * 20, b"\xdd" * 50),
    4: (bytes(range(1, 26)), b"\xcd" * 50),
    5: (b"\x0c" * 20, b"Test With Truncation"),
    6: (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"),
    7: (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size "
        b"data. The key needs to be hashed before being used by the HMAC algorithm.",
    ),
}

# RFC 4231 case 5 publishes the MAC truncated to 128 bits.
RFC4231_MACS = {
    CKM.SHA224_HMAC: {
        1: "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
        2: "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
        3: "7fb3cb3588c6c1f6ffa9694d7d6ad2649365b0c1f65d69d1ec8333ea",
        4: "6c11506874013cac6a2abc1bb382627cec6a90d86efc012de7afec5a",
        5: "0e2aea68a90c8d37c988bcdb9fca6fa8",
        6: "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e",
        7: "3a854166ac5d9f023f54d517d0b39dbd946770db9c2b95c9f6f565d1",
    },
    CKM.SHA256_HMAC: {
        1: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        2: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        3: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        4: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        5: "a3b6167473100ee06e0c796c2955552b",
        6: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        7: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    },
    CKM.SHA384_HMAC: {
        1: (
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
            "faea9ea9076ede7f4af152e8b2fa9cb6"
        ),
        2: (
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
            "8e2240ca5e69e2c78b3239ecfab21649"
        ),
        3: (
            "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b"
            "2a5ab39dc13814b94e3ab6e101a34f27"
        ),
        4: (
            "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e"
            "6801dd23c4a7d679ccf8a386c674cffb"
        ),
        5: "3abf34c3503b2a23a46efc619baef897",
        6: (
            "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
            "0c2ef6ab4030fe8296248df163f44952"
        ),
        7: (
            "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5"
            "a678cc31e799176d3860e6110c46523e"
        ),
    },
    CKM.SHA512_HMAC: {
        1: (
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
            "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
        ),
        2: (
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        ),
        3: (
            "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
            "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"
        ),
        4: (
            "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
            "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd"
        ),
        5: "415fad6271580a531d4179bc891d87a6",
        6: (
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
            "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"
        ),
        7: (
            "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
            "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"
        ),
    },
}

# RFC 2202 section 3: HMAC-SHA-1. Case 5 also lists the full MAC, so no case is truncated.
RFC2202_SHA1 = {
    1: (b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    2: (b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    3: (b"\xaa" * 20, b"\xdd" * 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
    4: (bytes(range(1, 26)), b"\xcd" * 50, "4c9007f4026250c6bc8414f9bf50c86c2d7235da"),
    5: (b"\x0c" * 20, b"Test With Truncation", "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"),
    6: (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "aa4ae5e15272d00e95705637ce8a3b55ed402112",
    ),
    7: (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
        "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
    ),
}

HMAC_SIZES = {
    CKM.SHA_1_HMAC: 20,
    CKM.SHA224_HMAC: 28,
    CKM.SHA256_HMAC: 32,
    CKM.SHA384_HMAC: 48,
    CKM.SHA512_HMAC: 64,
}

HMAC_CASES = [
    _hmac_case(CKM.SHA_1_HMAC, number, key, data, mac)
    for number, (key, data, mac) in RFC2202_SHA1.items()
] + [
    _hmac_case(mechanism, number, *RFC4231_INPUTS[number], mac)
    for mechanism, macs in RFC4231_MACS.items()
    for number, mac in macs.items()
]
FULL_HMAC_CASES = [
    case for case in HMAC_CASES if len(case.values[3]) == HMAC_SIZES[case.values[0]]
]
TRUNCATED_HMAC_CASES = [case for case in HMAC_CASES if case not in FULL_HMAC_CASES]


def _generic_secret(ep11, import_secret, key):
    return import_secret(ep11, CKK.GENERIC_SECRET, key, {}).blob


def _chunks(data, sizes):
    """Split ``data`` into pieces of the given sizes and a last piece with the rest.

    Empty pieces are dropped, so every Update call carries data.
    """
    pieces, offset = [], 0
    for size in sizes:
        pieces.append(data[offset : offset + size])
        offset += size
    pieces.append(data[offset:])
    return [piece for piece in pieces if piece]


@pytest.mark.parametrize("mechanism, key, data, mac", HMAC_CASES)
def test_hmac_sign_single(ep11, import_secret, mechanism, key, data, mac):
    blob = _generic_secret(ep11, import_secret, key)
    signature = ep11.sign_single(Mechanism(mechanism), blob, data)
    # The engine always returns the full MAC; truncated vectors match its prefix.
    assert len(signature) == HMAC_SIZES[mechanism]
    assert signature[: len(mac)] == mac


@pytest.mark.parametrize("mechanism, key, data, mac", HMAC_CASES)
def test_hmac_sign_multi_part(ep11, import_secret, mechanism, key, data, mac):
    blob = _generic_secret(ep11, import_secret, key)
    state = ep11.sign_init(Mechanism(mechanism), blob)
    for piece in _chunks(data, (1, 6, 13)):
        state = ep11.sign_update(state, piece)
    signature = ep11.sign_final(state)
    assert len(signature) == HMAC_SIZES[mechanism]
    assert signature[: len(mac)] == mac


@pytest.mark.parametrize("mechanism, key, data, mac", HMAC_CASES)
def test_hmac_sign_after_init(ep11, import_secret, mechanism, key, data, mac):
    blob = _generic_secret(ep11, import_secret, key)
    state = ep11.sign_init(Mechanism(mechanism), blob)
    assert ep11.sign(state, data)[: len(mac)] == mac


@pytest.mark.parametrize("mechanism, key, data, mac", FULL_HMAC_CASES)
def test_hmac_verify_single(ep11, import_secret, mechanism, key, data, mac):
    blob = _generic_secret(ep11, import_secret, key)
    ep11.verify_single(Mechanism(mechanism), blob, data, mac)


@pytest.mark.parametrize("mechanism, key, data, mac", FULL_HMAC_CASES)
def test_hmac_verify_multi_part(ep11, import_secret, mechanism, key, data, mac):
    blob = _generic_secret(ep11, import_secret, key)
    state = ep11.verify_init(Mechanism(mechanism), blob)
    for piece in _chunks(data, (3, 29)):
        state = ep11.verify_update(state, piece)
    ep11.verify_final(state, mac)


@pytest.mark.parametrize("mechanism, key, data, mac", FULL_HMAC_CASES)
def test_hmac_verify_flipped_bit(ep11, import_secret, mechanism, key, data, mac):
    blob = _generic_secret(ep11, import_secret, key)
    forged = mac[:-1] + bytes((mac[-1] ^ 0x01,))
    with pytest.raises(PKCS11Error) as raised:
        ep11.verify_single(Mechanism(mechanism), blob, data, forged)
    assert raised.value.code == CKR.SIGNATURE_INVALID


@pytest.mark.parametrize("mechanism, key, data, mac", TRUNCATED_HMAC_CASES)
def test_hmac_verify_truncated(ep11, import_secret, mechanism, key, data, mac):
    # Verification compares full-length MACs only, so a truncated tag has the wrong length.
    blob = _generic_secret(ep11, import_secret, key)
    with pytest.raises(PKCS11Error) as raised:
        ep11.verify_single(Mechanism(mechanism), blob, data, mac)
    assert raised.value.code == CKR.SIGNATURE_LEN_RANGE


# --- AES ECB and CBC

AES_KEYS = {
    128: bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"),
    192: bytes.fromhex("8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b"),
    256: bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"),
}
AES_PLAINTEXT = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172a"
    "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef"
    "f69f2445df4f9b17ad2b417be66c3710"
)
CBC_IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
AES_CIPHERTEXTS = {
    (CKM.AES_ECB, 128): (
        "3ad77bb40d7a3660a89ecaf32466ef97"
        "f5d3d58503b9699de785895a96fdbaaf"
        "43b1cd7f598ece23881b00e3ed030688"
        "7b0c785e27e8ad3f8223207104725dd4"
    ),
    (CKM.AES_ECB, 192): (
        "bd334f1d6e45f25ff712a214571fa5cc"
        "974104846d0ad3ad7734ecb3ecee4eef"
        "ef7afd2270e2e60adce0ba2face6444e"
        "9a4b41ba738d6c72fb16691603c18e0e"
    ),
    (CKM.AES_ECB, 256): (
        "f3eed1bdb5d2a03c064b5a7e3db181f8"
        "591ccb10d410ed26dc5ba74a31362870"
        "b6ed21b99ca6f4f9f153e7b1beafed1d"
        "23304b7a39f9f3ff067d8d8f9e24ecc7"
    ),
    (CKM.AES_CBC, 128): (
        "7649abac8119b246cee98e9b12e9197d"
        "5086cb9b507219ee95db113a917678b2"
        "73bed6b8e3c1743b7116e69e22229516"
        "3ff1caa1681fac09120eca307586e1a7"
    ),
    (CKM.AES_CBC, 192): (
        "4f021db243bc633d7178183a9fa071e8"
        "b4d9ada9ad7dedf4e5e738763f69145a"
        "571b242012fb7ae07fa9baac3df102e0"
        "08b0e27988598881d920a9e64f5615cd"
    ),
    (CKM.AES_CBC, 256): (
        "f58c4c04d6e5f1ba779eabfb5f7bfbd6"
        "9cfc4e967edb808d679f777bc6702c7d"
        "39f23369a9d9bacfa530e26304231461"
        "b2eb05e2c39be9fcda6c19078c6a9d1b"
    ),
}
AES_CASES = [
    pytest.param(mechanism, bits, bytes.fromhex(ciphertext), id=f"{mechanism.name}-{bits}")
    for (mechanism, bits), ciphertext in AES_CIPHERTEXTS.items()
]

# Update sizes for the 64-byte vectors: pieces that start or end inside a block, and one piece.
SPLITS = [
    pytest.param((1, 15, 17, 31), id="1-15-17-31"),
    pytest.param((5, 11, 16, 29), id="5-11-16-29"),
    pytest.param((33,), id="33-31"),
    pytest.param((63,), id="63-1"),
    pytest.param((), id="64"),
    pytest.param((1,) * 63, id="bytewise"),
]


def _aes_mechanism(mechanism, iv=CBC_IV):
    return Mechanism(mechanism, None if mechanism == CKM.AES_ECB else iv)


def _aes_key(ep11, import_secret, key):
    return import_secret(ep11, CKK.AES, key, {}).blob


def _run_multi_part(init, update, final, mechanism, key, data, sizes):
    state = init(mechanism, key)
    output = b""
    for piece in _chunks(data, sizes):
        result = update(state, piece)
        state = result.state
        output += result.output
    return output + final(state)


@pytest.mark.parametrize("mechanism, bits, ciphertext", AES_CASES)
def test_aes_encrypt_single(ep11, import_secret, mechanism, bits, ciphertext):
    key = _aes_key(ep11, import_secret, AES_KEYS[bits])
    assert ep11.encrypt_single(_aes_mechanism(mechanism), key, AES_PLAINTEXT) == ciphertext


@pytest.mark.parametrize("mechanism, bits, ciphertext", AES_CASES)
def test_aes_decrypt_single(ep11, import_secret, mechanism, bits, ciphertext):
    key = _aes_key(ep11, import_secret, AES_KEYS[bits])
    assert ep11.decrypt_single(_aes_mechanism(mechanism), key, ciphertext) == AES_PLAINTEXT


@pytest.mark.parametrize("mechanism, bits, ciphertext", AES_CASES)
def test_aes_encrypt_after_init(ep11, import_secret, mechanism, bits, ciphertext):
    key = _aes_key(ep11, import_secret, AES_KEYS[bits])
    state = ep11.encrypt_init(_aes_mechanism(mechanism), key)
    assert ep11.encrypt(state, AES_PLAINTEXT) == ciphertext


@pytest.mark.parametrize("mechanism, bits, ciphertext", AES_CASES)
def test_aes_decrypt_after_init(ep11, import_secret, mechanism, bits, ciphertext):
    key = _aes_key(ep11, import_secret, AES_KEYS[bits])
    state = ep11.decrypt_init(_aes_mechanism(mechanism), key)
    assert ep11.decrypt(state, ciphertext) == AES_PLAINTEXT


@pytest.mark.parametrize("sizes", SPLITS)
@pytest.mark.parametrize("mechanism, bits, ciphertext", AES_CASES)
def test_aes_encrypt_multi_part(ep11, import_secret, mechanism, bits, ciphertext, sizes):
    key = _aes_key(ep11, import_secret, AES_KEYS[bits])
    output = _run_multi_part(
        ep11.encrypt_init,
        ep11.encrypt_update,
        ep11.encrypt_final,
        _aes_mechanism(mechanism),
        key,
        AES_PLAINTEXT,
        sizes,
    )
    assert output == ciphertext


@pytest.mark.parametrize("sizes", SPLITS)
@pytest.mark.parametrize("mechanism, bits, ciphertext", AES_CASES)
def test_aes_decrypt_multi_part(ep11, import_secret, mechanism, bits, ciphertext, sizes):
    key = _aes_key(ep11, import_secret, AES_KEYS[bits])
    output = _run_multi_part(
        ep11.decrypt_init,
        ep11.decrypt_update,
        ep11.decrypt_final,
        _aes_mechanism(mechanism),
        key,
        ciphertext,
        sizes,
    )
    assert output == AES_PLAINTEXT


@pytest.mark.parametrize("mechanism", [CKM.AES_ECB, CKM.AES_CBC], ids=lambda m: m.name)
def test_aes_partial_block_rejected(ep11, import_secret, mechanism):
    key = _aes_key(ep11, import_secret, AES_KEYS[128])
    with pytest.raises(PKCS11Error) as raised:
        ep11.encrypt_single(_aes_mechanism(mechanism), key, AES_PLAINTEXT[:-1])
    assert raised.value.code == CKR.DATA_LEN_RANGE


# --- AES CBC with PKCS #7 padding against the cryptography package

PAD_LENGTHS = [0, 1, 15, 16, 17, 31, 32, 33, 64, 100]


def _reference_cbc_pad_encrypt(key, iv, data):
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def _reference_cbc_encrypt(key, iv, data):
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


@pytest.fixture
def random_aes(ep11, import_secret):
    """A random AES-256 key and IV, as raw bytes and as a key blob."""
    value, iv = os.urandom(32), os.urandom(16)
    return value, iv, _aes_key(ep11, import_secret, value)


@pytest.mark.parametrize("length", PAD_LENGTHS)
def test_cbc_pad_encrypt_single(ep11, random_aes, length):
    value, iv, blob = random_aes
    data = os.urandom(length)
    ciphertext = ep11.encrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), blob, data)
    assert ciphertext == _reference_cbc_pad_encrypt(value, iv, data)


@pytest.mark.parametrize("length", PAD_LENGTHS)
def test_cbc_pad_decrypt_single(ep11, random_aes, length):
    value, iv, blob = random_aes
    data = os.urandom(length)
    ciphertext = _reference_cbc_pad_encrypt(value, iv, data)
    assert ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), blob, ciphertext) == data


CBC_PAD_SPLITS = [
    pytest.param((7, 16, 9), id="7-16-9"),
    pytest.param((1,) * 99, id="bytewise"),
]


@pytest.mark.parametrize("sizes", CBC_PAD_SPLITS)
@pytest.mark.parametrize("length", PAD_LENGTHS)
def test_cbc_pad_encrypt_multi_part(ep11, random_aes, length, sizes):
    value, iv, blob = random_aes
    data = os.urandom(length)
    output = _run_multi_part(
        ep11.encrypt_init,
        ep11.encrypt_update,
        ep11.encrypt_final,
        Mechanism(CKM.AES_CBC_PAD, iv),
        blob,
        data,
        sizes,
    )
    assert output == _reference_cbc_pad_encrypt(value, iv, data)


@pytest.mark.parametrize("sizes", CBC_PAD_SPLITS)
@pytest.mark.parametrize("length", PAD_LENGTHS)
def test_cbc_pad_decrypt_multi_part(ep11, random_aes, length, sizes):
    value, iv, blob = random_aes
    data = os.urandom(length)
    ciphertext = _reference_cbc_pad_encrypt(value, iv, data)
    output = _run_multi_part(
        ep11.decrypt_init,
        ep11.decrypt_update,
        ep11.decrypt_final,
        Mechanism(CKM.AES_CBC_PAD, iv),
        blob,
        ciphertext,
        sizes,
    )
    assert output == data


@pytest.mark.parametrize(
    "last_byte", [0x00, 0x11, 0xFF], ids=["zero", "above-block-size", "ff"]
)
def test_cbc_pad_bad_padding(ep11, random_aes, last_byte):
    value, iv, blob = random_aes
    # Two blocks whose plaintext ends in a byte that no PKCS #7 padding can end in.
    plaintext = os.urandom(31) + bytes((last_byte,))
    ciphertext = _reference_cbc_encrypt(value, iv, plaintext)
    with pytest.raises(PKCS11Error) as raised:
        ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), blob, ciphertext)
    assert raised.value.code == CKR.ENCRYPTED_DATA_INVALID


def test_cbc_pad_inconsistent_padding(ep11, random_aes):
    value, iv, blob = random_aes
    # The last byte claims 4 bytes of padding, but the byte before it is not 0x04.
    plaintext = os.urandom(12) + b"\x04\x05\x04\x04"
    ciphertext = _reference_cbc_encrypt(value, iv, plaintext)
    with pytest.raises(PKCS11Error) as raised:
        ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), blob, ciphertext)
    assert raised.value.code == CKR.ENCRYPTED_DATA_INVALID


@pytest.mark.parametrize("length", [0, 15, 17])
def test_cbc_pad_ciphertext_length(ep11, random_aes, length):
    value, iv, blob = random_aes
    with pytest.raises(PKCS11Error) as raised:
        ep11.decrypt_single(Mechanism(CKM.AES_CBC_PAD, iv), blob, os.urandom(length))
    assert raised.value.code == CKR.ENCRYPTED_DATA_LEN_RANGE


# --- key check values


def _reference_check_value(key):
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return (encryptor.update(bytes(16)) + encryptor.finalize())[:3]


@pytest.mark.parametrize("bits", sorted(AES_KEYS))
def test_aes_checksum(ep11, import_secret, bits):
    # The checksum output is the 3-byte check value (AES-ECB of a zero block) followed by the
    # key length in bits as a 4-byte big-endian number.
    result = import_secret(ep11, CKK.AES, AES_KEYS[bits], {})
    assert len(result.checksum) == 7
    assert result.checksum[:3] == _reference_check_value(AES_KEYS[bits])
    assert int.from_bytes(result.checksum[3:7], "big") == bits


@pytest.mark.parametrize("bits", sorted(AES_KEYS))
def test_aes_check_value_attribute(ep11, import_secret, bits):
    result = import_secret(ep11, CKK.AES, AES_KEYS[bits], {})
    values = ep11.get_attribute_value(result.blob, [CKA.CHECK_VALUE])
    assert values[CKA.CHECK_VALUE] == _reference_check_value(AES_KEYS[bits])


@pytest.mark.parametrize("length", [1, 20, 131, 256])
def test_generic_secret_checksum_length(ep11, import_secret, length):
    result = import_secret(ep11, CKK.GENERIC_SECRET, os.urandom(length), {})
    assert int.from_bytes(result.checksum[3:7], "big") == 8 * length
