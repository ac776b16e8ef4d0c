"""SHA-512/224, SHA-512/256 and SHA-3 digests and HMACs through the engine, on every backend.

Known answers are the FIPS 180-4 SHA-512/t examples and the FIPS 202 SHA-3 examples ("abc"
and the empty message). Every result is also cross-checked with ``hashlib`` and ``hmac``.
Multi-part runs cover every split of short inputs, and a SHA-3 state must carry the sponge,
so its size stays fixed however much data it has absorbed.
"""

import hashlib
import hmac

import pytest
from conftest import raises_ckr

from ep11core.constants import CKA, CKF, CKK, CKM, CKR
from ep11core.types import Mechanism

# Digest mechanisms and their ``hashlib`` names; IBM's values predate the PKCS #11 ones.
DIGESTS = {
    CKM.SHA512_224: "sha512_224",
    CKM.SHA512_256: "sha512_256",
    CKM.IBM_SHA512_224: "sha512_224",
    CKM.IBM_SHA512_256: "sha512_256",
    CKM.IBM_SHA3_224: "sha3_224",
    CKM.IBM_SHA3_256: "sha3_256",
    CKM.IBM_SHA3_384: "sha3_384",
    CKM.IBM_SHA3_512: "sha3_512",
}
HMACS = {
    CKM.SHA512_224_HMAC: "sha512_224",
    CKM.SHA512_256_HMAC: "sha512_256",
    CKM.IBM_SHA512_224_HMAC: "sha512_224",
    CKM.IBM_SHA512_256_HMAC: "sha512_256",
    CKM.IBM_SHA3_224_HMAC: "sha3_224",
    CKM.IBM_SHA3_256_HMAC: "sha3_256",
    CKM.IBM_SHA3_384_HMAC: "sha3_384",
    CKM.IBM_SHA3_512_HMAC: "sha3_512",
}
KNOWN_DIGESTS = [
    ("sha512_224", b"abc", "4634270f707b6a54daae7530460842e20e37ed265ceee9a43e8924aa"),
    ("sha512_256", b"abc", "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"),
    ("sha3_224", b"", "6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7"),
    ("sha3_256", b"abc", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"),
    (
        "sha3_384",
        b"abc",
        "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b2"
        "98d88cea927ac7f539f1edf228376d25",
    ),
    (
        "sha3_512",
        b"",
        "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a6"
        "15b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26",
    ),
]
# Longer than one SHA3-224 block (144 bytes), so splits cross block boundaries.
TEXT = bytes(range(150))
SHORT = b"The quick brown fox jumps"
HMAC_KEY = bytes(range(0x40, 0x60))


def mechanisms_for(table, hash_name):
    return [mechanism for mechanism, name in table.items() if name == hash_name]


@pytest.mark.parametrize("hash_name,message,expected", KNOWN_DIGESTS)
def test_digest_known_answer(ep11, hash_name, message, expected):
    assert hashlib.new(hash_name, message).hexdigest() == expected
    for mechanism in mechanisms_for(DIGESTS, hash_name):
        assert ep11.digest_single(Mechanism(mechanism), message).hex() == expected


@pytest.mark.parametrize("mechanism", list(DIGESTS))
def test_digest_single_and_psp(ep11, mechanism):
    expected = hashlib.new(DIGESTS[mechanism], TEXT).digest()
    assert ep11.digest_single(Mechanism(mechanism), TEXT) == expected
    assert ep11.digest(ep11.digest_init(Mechanism(mechanism)), TEXT) == expected


@pytest.mark.parametrize("mechanism", list(DIGESTS))
def test_digest_every_split(ep11, mechanism):
    expected = hashlib.new(DIGESTS[mechanism], SHORT).digest()
    for split in range(1, len(SHORT)):
        state = ep11.digest_init(Mechanism(mechanism))
        state = ep11.digest_update(state, SHORT[:split])
        state = ep11.digest_update(state, SHORT[split:])
        assert ep11.digest_final(state) == expected, split


@pytest.mark.parametrize("mechanism", [CKM.IBM_SHA3_224, CKM.IBM_SHA3_512])
def test_sha3_pmp_across_blocks(ep11, mechanism):
    state = ep11.digest_init(Mechanism(mechanism))
    sizes = set()
    for start in range(0, len(TEXT), 37):
        state = ep11.digest_update(state, TEXT[start : start + 37])
        sizes.add(len(state))
    assert ep11.digest_final(state) == hashlib.new(DIGESTS[mechanism], TEXT).digest()
    # The state carries the sponge, not the data absorbed so far.
    assert len(sizes) == 1


@pytest.mark.parametrize("mechanism", [CKM.IBM_SHA3_256, CKM.SHA512_256])
def test_digest_key(ep11, import_secret, mechanism):
    value = bytes(range(32))
    key = import_secret(ep11, CKK.GENERIC_SECRET, value, {CKA.IBM_USE_AS_DATA: True}).blob
    state = ep11.digest_update(ep11.digest_init(Mechanism(mechanism)), b"prefix")
    state = ep11.digest_key(state, key)
    expected = hashlib.new(DIGESTS[mechanism], b"prefix" + value).digest()
    assert ep11.digest_final(state) == expected


def test_digest_rejects_empty_update(ep11):
    state = ep11.digest_init(Mechanism(CKM.IBM_SHA3_256))
    with raises_ckr(CKR.ARGUMENTS_BAD):
        ep11.digest_update(state, b"")


@pytest.fixture(scope="module")
def hmac_key(ep11, import_secret):
    return import_secret(ep11, CKK.GENERIC_SECRET, HMAC_KEY).blob


@pytest.mark.parametrize("mechanism", list(HMACS))
def test_hmac_matches_python(ep11, hmac_key, mechanism):
    expected = hmac.new(HMAC_KEY, TEXT, HMACS[mechanism]).digest()
    mac = ep11.sign_single(Mechanism(mechanism), hmac_key, TEXT)
    assert mac == expected
    ep11.verify_single(Mechanism(mechanism), hmac_key, TEXT, mac)
    assert ep11.sign(ep11.sign_init(Mechanism(mechanism), hmac_key), TEXT) == expected


@pytest.mark.parametrize("mechanism", list(HMACS))
def test_hmac_every_split(ep11, hmac_key, mechanism):
    expected = hmac.new(HMAC_KEY, SHORT, HMACS[mechanism]).digest()
    for split in range(len(SHORT) + 1):
        state = ep11.sign_init(Mechanism(mechanism), hmac_key)
        state = ep11.sign_update(state, SHORT[:split])
        state = ep11.sign_update(state, SHORT[split:])
        assert ep11.sign_final(state) == expected, split


@pytest.mark.parametrize("mechanism", [CKM.IBM_SHA3_224_HMAC, CKM.IBM_SHA3_512_HMAC])
def test_sha3_hmac_long_key(ep11, import_secret, mechanism):
    # A key longer than the rate (144 or 72 bytes) is hashed first.
    value = bytes(range(200))
    key = import_secret(ep11, CKK.GENERIC_SECRET, value).blob
    expected = hmac.new(value, SHORT, HMACS[mechanism]).digest()
    assert ep11.sign_single(Mechanism(mechanism), key, SHORT) == expected


@pytest.mark.parametrize("mechanism", [CKM.IBM_SHA3_256_HMAC, CKM.SHA512_224_HMAC])
def test_hmac_verify_errors(ep11, hmac_key, mechanism):
    mac = ep11.sign_single(Mechanism(mechanism), hmac_key, SHORT)
    forged = mac[:-1] + bytes([mac[-1] ^ 1])
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_single(Mechanism(mechanism), hmac_key, SHORT, forged)
    with raises_ckr(CKR.SIGNATURE_LEN_RANGE):
        ep11.verify_single(Mechanism(mechanism), hmac_key, SHORT, mac[:-1])
    state = ep11.verify_update(ep11.verify_init(Mechanism(mechanism), hmac_key), SHORT)
    with raises_ckr(CKR.SIGNATURE_INVALID):
        ep11.verify_final(state, forged)


def test_hmac_with_aes_key(ep11, import_secret):
    value = bytes(range(32))
    key = import_secret(ep11, CKK.AES, value).blob
    expected = hmac.new(value, SHORT, "sha3_384").digest()
    assert ep11.sign_single(Mechanism(CKM.IBM_SHA3_384_HMAC), key, SHORT) == expected


@pytest.mark.parametrize("mechanism", list(DIGESTS))
def test_digest_mechanism_info(ep11, mechanism):
    assert mechanism in ep11.get_mechanism_list()
    info = ep11.get_mechanism_info(mechanism)
    assert info.flags == CKF.DIGEST
    assert info.min_key_size == 0
    assert info.max_key_size == 0


@pytest.mark.parametrize("mechanism", list(HMACS))
def test_hmac_mechanism_info(ep11, mechanism):
    assert mechanism in ep11.get_mechanism_list()
    info = ep11.get_mechanism_info(mechanism)
    assert info.flags == CKF.SIGN | CKF.VERIFY
    assert info.min_key_size == 1
    assert info.max_key_size == 256
