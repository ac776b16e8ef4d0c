"""Tests of CRYSTALS-Kyber round 2 and ML-KEM in ep11core._kyber, without the engine.

Round-2 known answers (tests/data/kyber_round2.json) come from the PQClean round-2 reference
code in the pqcrypto 0.1.3 sdist (``sources/kyber768/ref`` and ``sources/kyber1024/ref`` with
``sources/common/fips202.c``), compiled with a ``randombytes`` that returns caller-given bytes
in order. For case i of variant V, ``SHAKE256(f"{V} case {i}")`` gives 96 bytes split into
d, z and m: ``crypto_kem_keypair`` drew d and then z, ``crypto_kem_enc`` drew m, and
``crypto_kem_dec`` decapsulated the ciphertext with byte ``tampered_byte`` XORed with 0x01 to
give ``rejection_secret``. Case 0 stores every value in full, the others SHA-256 hashes of the
keys and ciphertext. ``unreduced_public_key`` derives d, z and m from
``SHAKE256(f"{V} unreduced")``, sets the first 12-bit coefficient of the public key to 4095
and records the reference encapsulation to it.

ML-KEM-768 and ML-KEM-1024 are cross-checked with the ``cryptography`` package in both
directions. ML-KEM-512, which ``cryptography`` lacks, is checked against ``kyber-py`` 1.2.0
(pure Python FIPS 203) and, like the other two parameter sets, against the accumulated
10 000-case hashes that C2SP CCTV publishes for FIPS 203 (https://c2sp.org/CCTV/ML-KEM).
"""

import hashlib
import json
import pathlib
import sys
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import mlkem
from kyber_py.ml_kem import ML_KEM_512

from ep11core import _kyber

DATA = json.loads(
    (pathlib.Path(__file__).parent / "data" / "kyber_round2.json").read_text()
)
ROUND2 = ("kyber768-r2", "kyber1024-r2")
ML_KEM = ("ml-kem-512", "ml-kem-768", "ml-kem-1024")
SIZES = {
    "kyber768-r2": (1184, 2400, 1088, 32),
    "kyber1024-r2": (1568, 3168, 1568, 32),
    "ml-kem-512": (800, 1632, 768, 32),
    "ml-kem-768": (1184, 2400, 1088, 32),
    "ml-kem-1024": (1568, 3168, 1568, 32),
}
CRYPTOGRAPHY_KEYS = {
    "ml-kem-768": mlkem.MLKEM768PrivateKey,
    "ml-kem-1024": mlkem.MLKEM1024PrivateKey,
}
# SHAKE128 hashes of 10 000 accumulated ML-KEM cases, from C2SP CCTV (ML-KEM/README.md,
# "Accumulated pq-crystals vectors", the FIPS 203 values with k appended to d).
CCTV_ACCUMULATED = {
    "ml-kem-512": "705dcffc87f4e67e35a09dcaa31772e86f3341bd3ccf1e78a5fef99ae6a35a13",
    "ml-kem-768": "f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1",
    "ml-kem-1024": "e3bf82b013307b2e9d47dde791ff6dfc82e694e6382404abdb948b908b75bad5",
}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def seeded(label, length):
    return hashlib.shake_256(label.encode()).digest(length)


def flip_bit(data, index, mask=0x01):
    changed = bytearray(data)
    changed[index] ^= mask
    return bytes(changed)


def set_first_coefficient(public_key, value):
    """Return public_key with its first 12-bit coefficient replaced by value."""
    changed = bytearray(public_key)
    changed[0] = value & 0xFF
    changed[1] = (changed[1] & 0xF0) | (value >> 8)
    return bytes(changed)


def test_variants_and_sizes():
    assert _kyber.VARIANTS == (
        "kyber768-r2", "kyber1024-r2", "ml-kem-512", "ml-kem-768", "ml-kem-1024"
    )
    for variant in _kyber.VARIANTS:
        assert _kyber.sizes(variant) == SIZES[variant]


@pytest.mark.parametrize("variant", ROUND2)
def test_round2_full_known_answer(variant):
    case = DATA["variants"][variant]["cases"][0]
    d, z, m = (bytes.fromhex(case[name]) for name in ("d", "z", "m"))
    public_key, private_key = _kyber.keypair(variant, d + z)
    assert public_key.hex() == case["public_key"]
    assert private_key.hex() == case["private_key"]
    ciphertext, shared_secret = _kyber.encapsulate(variant, public_key, m)
    assert ciphertext.hex() == case["ciphertext"]
    assert shared_secret.hex() == case["shared_secret"]
    assert _kyber.decapsulate(variant, private_key, ciphertext) == shared_secret
    tampered = flip_bit(ciphertext, case["tampered_byte"])
    assert _kyber.decapsulate(variant, private_key, tampered).hex() == case["rejection_secret"]


@pytest.mark.parametrize("variant", ROUND2)
def test_round2_hashed_known_answers(variant):
    cases = DATA["variants"][variant]["cases"][1:]
    assert len(cases) == 10
    for case in cases:
        d, z, m = (bytes.fromhex(case[name]) for name in ("d", "z", "m"))
        public_key, private_key = _kyber.keypair(variant, d + z)
        assert sha256(public_key) == case["public_key_sha256"]
        assert sha256(private_key) == case["private_key_sha256"]
        ciphertext, shared_secret = _kyber.encapsulate(variant, public_key, m)
        assert sha256(ciphertext) == case["ciphertext_sha256"]
        assert shared_secret.hex() == case["shared_secret"]
        assert _kyber.decapsulate(variant, private_key, ciphertext) == shared_secret
        tampered = flip_bit(ciphertext, case["tampered_byte"])
        rejection_secret = _kyber.decapsulate(variant, private_key, tampered)
        assert rejection_secret.hex() == case["rejection_secret"]


@pytest.mark.parametrize("variant", ROUND2)
def test_round2_accepts_unreduced_public_key(variant):
    case = DATA["variants"][variant]["unreduced_public_key"]
    d, z, m = (bytes.fromhex(case[name]) for name in ("d", "z", "m"))
    public_key, _ = _kyber.keypair(variant, d + z)
    unreduced = set_first_coefficient(public_key, 4095)
    _kyber.check_public_key(variant, unreduced)
    ciphertext, shared_secret = _kyber.encapsulate(variant, unreduced, m)
    assert sha256(ciphertext) == case["ciphertext_sha256"]
    assert shared_secret.hex() == case["shared_secret"]


@pytest.mark.parametrize("variant", sorted(CRYPTOGRAPHY_KEYS))
def test_ml_kem_matches_cryptography(variant):
    key_class = CRYPTOGRAPHY_KEYS[variant]
    for index in range(4):
        seed = seeded(f"{variant} cryptography {index}", 64)
        public_key, private_key = _kyber.keypair(variant, seed)
        reference = key_class.from_seed_bytes(seed)
        assert reference.public_key().public_bytes_raw() == public_key

        reference_secret, reference_ciphertext = reference.public_key().encapsulate()
        assert _kyber.decapsulate(variant, private_key, reference_ciphertext) == reference_secret

        m = seeded(f"{variant} message {index}", 32)
        ciphertext, shared_secret = _kyber.encapsulate(variant, public_key, m)
        assert reference.decapsulate(ciphertext) == shared_secret

        tampered = flip_bit(ciphertext, index * 101)
        rejection_secret = _kyber.decapsulate(variant, private_key, tampered)
        assert rejection_secret == reference.decapsulate(tampered)
        assert rejection_secret != shared_secret


def test_ml_kem_512_matches_kyber_py():
    for index in range(3):
        randomness = seeded(f"ml-kem-512 kyber-py {index}", 96)
        d, z, m = randomness[:32], randomness[32:64], randomness[64:]
        public_key, private_key = _kyber.keypair("ml-kem-512", d + z)
        reference_public, reference_private = ML_KEM_512._keygen_internal(d, z)
        assert public_key == reference_public
        assert private_key == reference_private

        ciphertext, shared_secret = _kyber.encapsulate("ml-kem-512", public_key, m)
        reference_secret, reference_ciphertext = ML_KEM_512._encaps_internal(public_key, m)
        assert ciphertext == reference_ciphertext
        assert shared_secret == reference_secret
        assert ML_KEM_512.decaps(private_key, ciphertext) == shared_secret

        tampered = flip_bit(ciphertext, 767 - index)
        rejection_secret = _kyber.decapsulate("ml-kem-512", private_key, tampered)
        assert rejection_secret == ML_KEM_512.decaps(private_key, tampered)


def run_cctv_accumulated(variant, count=10_000):
    """Return the C2SP CCTV accumulated hash of ``count`` keygen/encaps/decaps cases.

    A SHAKE128 stream of the empty string gives, per case, d, z, m and a random ciphertext.
    A second SHAKE128 absorbs ek, dk, ct, K and the rejection secret of the random ciphertext.
    """
    ciphertext_length = _kyber.sizes(variant)[2]
    case_length = 96 + ciphertext_length
    stream = hashlib.shake_128(b"").digest(count * case_length)
    accumulator = hashlib.shake_128()
    for offset in range(0, count * case_length, case_length):
        d = stream[offset:offset + 32]
        z = stream[offset + 32:offset + 64]
        m = stream[offset + 64:offset + 96]
        random_ciphertext = stream[offset + 96:offset + case_length]
        public_key, private_key = _kyber.keypair(variant, d + z)
        ciphertext, shared_secret = _kyber.encapsulate(variant, public_key, m)
        assert _kyber.decapsulate(variant, private_key, ciphertext) == shared_secret
        accumulator.update(public_key)
        accumulator.update(private_key)
        accumulator.update(ciphertext)
        accumulator.update(shared_secret)
        accumulator.update(_kyber.decapsulate(variant, private_key, random_ciphertext))
    return accumulator.hexdigest(32)


def test_ml_kem_512_cctv_accumulated():
    assert run_cctv_accumulated("ml-kem-512") == CCTV_ACCUMULATED["ml-kem-512"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["ml-kem-768", "ml-kem-1024"])
def test_ml_kem_cctv_accumulated(variant):
    assert run_cctv_accumulated(variant) == CCTV_ACCUMULATED[variant]


@pytest.mark.parametrize("variant", _kyber.VARIANTS)
def test_round_trip(variant):
    public_key_length, private_key_length, ciphertext_length, secret_length = SIZES[variant]
    for index in range(3):
        seed = seeded(f"{variant} round trip {index}", 64)
        public_key, private_key = _kyber.keypair(variant, seed)
        assert len(public_key) == public_key_length
        assert len(private_key) == private_key_length
        assert _kyber.keypair(variant, seed) == (public_key, private_key)
        _kyber.check_public_key(variant, public_key)
        ciphertext, shared_secret = _kyber.encapsulate(
            variant, public_key, seeded(f"{variant} m {index}", 32)
        )
        assert len(ciphertext) == ciphertext_length
        assert len(shared_secret) == secret_length
        assert _kyber.decapsulate(variant, private_key, ciphertext) == shared_secret


@pytest.mark.parametrize("variant", _kyber.VARIANTS)
def test_implicit_rejection(variant):
    seed = seeded(f"{variant} rejection", 64)
    public_key, private_key = _kyber.keypair(variant, seed)
    ciphertext, shared_secret = _kyber.encapsulate(variant, public_key, bytes(32))
    z = seed[32:]
    rejection_secrets = set()
    for index in (0, len(ciphertext) // 2, len(ciphertext) - 1):
        tampered = flip_bit(ciphertext, index, 0x80)
        rejection_secret = _kyber.decapsulate(variant, private_key, tampered)
        assert rejection_secret != shared_secret
        # Decapsulation is deterministic, and the secret depends on the whole ciphertext.
        assert _kyber.decapsulate(variant, private_key, tampered) == rejection_secret
        if variant in ML_KEM:
            assert rejection_secret == hashlib.shake_256(z + tampered).digest(32)
        else:
            ciphertext_hash = hashlib.sha3_256(tampered).digest()
            assert rejection_secret == hashlib.shake_256(z + ciphertext_hash).digest(32)
        rejection_secrets.add(rejection_secret)
    assert len(rejection_secrets) == 3


@pytest.mark.parametrize("variant", _kyber.VARIANTS)
def test_decapsulation_with_wrong_key(variant):
    public_key, _ = _kyber.keypair(variant, seeded(f"{variant} first", 64))
    _, other_private_key = _kyber.keypair(variant, seeded(f"{variant} second", 64))
    ciphertext, shared_secret = _kyber.encapsulate(variant, public_key, bytes(range(32)))
    assert _kyber.decapsulate(variant, other_private_key, ciphertext) != shared_secret


@pytest.mark.parametrize("variant", ML_KEM)
def test_ml_kem_modulus_check(variant):
    public_key, _ = _kyber.keypair(variant, seeded(f"{variant} modulus", 64))
    for value in (3329, 4095):
        unreduced = set_first_coefficient(public_key, value)
        with pytest.raises(ValueError, match="not reduced modulo 3329"):
            _kyber.check_public_key(variant, unreduced)
        with pytest.raises(ValueError, match="not reduced modulo 3329"):
            _kyber.encapsulate(variant, unreduced, bytes(32))
    # The largest valid coefficient, and the last coefficient of the last polynomial.
    _kyber.check_public_key(variant, set_first_coefficient(public_key, 3328))
    last = bytearray(public_key)
    last[-33] = 0xFF
    with pytest.raises(ValueError, match="not reduced modulo 3329"):
        _kyber.check_public_key(variant, bytes(last))


@pytest.mark.parametrize("variant", ML_KEM)
def test_ml_kem_private_key_hash_check(variant):
    public_key, private_key = _kyber.keypair(variant, seeded(f"{variant} hash check", 64))
    ciphertext, _ = _kyber.encapsulate(variant, public_key, bytes(32))
    hash_offset = len(private_key) - 64
    for index in (hash_offset, hash_offset - 1):
        corrupt = flip_bit(private_key, index)
        with pytest.raises(ValueError, match="public key hash does not match"):
            _kyber.decapsulate(variant, corrupt, ciphertext)


@pytest.mark.parametrize("variant", ROUND2)
def test_round2_skips_private_key_hash_check(variant):
    public_key, private_key = _kyber.keypair(variant, seeded(f"{variant} hash check", 64))
    ciphertext, _ = _kyber.encapsulate(variant, public_key, bytes(32))
    corrupt = flip_bit(private_key, len(private_key) - 64)
    assert len(_kyber.decapsulate(variant, corrupt, ciphertext)) == 32


def test_unknown_variant_errors():
    for call in (
        lambda: _kyber.sizes("kyber512-r2"),
        lambda: _kyber.keypair("ML-KEM-768", bytes(64)),
        lambda: _kyber.encapsulate("kyber768", bytes(1184), bytes(32)),
        lambda: _kyber.decapsulate("", bytes(2400), bytes(1088)),
        lambda: _kyber.check_public_key("ml-kem", bytes(1184)),
    ):
        with pytest.raises(ValueError, match="unknown Kyber variant"):
            call()


@pytest.mark.parametrize("variant", _kyber.VARIANTS)
def test_wrong_length_errors(variant):
    public_key_length, private_key_length, ciphertext_length, _ = SIZES[variant]
    public_key, private_key = _kyber.keypair(variant, bytes(64))
    ciphertext, _ = _kyber.encapsulate(variant, public_key, bytes(32))
    for seed in (bytes(63), bytes(65), b""):
        with pytest.raises(ValueError, match="seed must be 64 bytes"):
            _kyber.keypair(variant, seed)
    for randomness in (bytes(31), bytes(33)):
        with pytest.raises(ValueError, match="randomness must be 32 bytes"):
            _kyber.encapsulate(variant, public_key, randomness)
    for length in (public_key_length - 1, public_key_length + 1):
        with pytest.raises(ValueError, match=f"public key must be {public_key_length} bytes"):
            _kyber.encapsulate(variant, (public_key * 2)[:length], bytes(32))
        with pytest.raises(ValueError, match=f"public key must be {public_key_length} bytes"):
            _kyber.check_public_key(variant, (public_key * 2)[:length])
    for length in (private_key_length - 1, private_key_length + 1):
        with pytest.raises(ValueError, match=f"private key must be {private_key_length} bytes"):
            _kyber.decapsulate(variant, (private_key * 2)[:length], ciphertext)
    for length in (ciphertext_length - 1, ciphertext_length + 1, 0):
        with pytest.raises(ValueError, match=f"ciphertext must be {ciphertext_length} bytes"):
            _kyber.decapsulate(variant, private_key, (ciphertext * 2)[:length])


def test_non_bytes_arguments_raise_type_error():
    public_key, private_key = _kyber.keypair("ml-kem-768", bytes(64))
    with pytest.raises(TypeError):
        _kyber.keypair("ml-kem-768", bytearray(64))
    with pytest.raises(TypeError):
        _kyber.encapsulate("ml-kem-768", memoryview(public_key), bytes(32))
    with pytest.raises(TypeError):
        _kyber.decapsulate("ml-kem-768", private_key, None)
    with pytest.raises(TypeError):
        _kyber.sizes(None)


def test_gil_released_during_operations():
    """Another thread runs between decapsulations only if each call releases the GIL.

    With a switch interval of 100 s, the interpreter itself never moves the GIL between the
    two threads, so the main thread can see an intermediate count only when the worker
    drops the GIL inside a call.
    """
    public_key, private_key = _kyber.keypair("kyber1024-r2", bytes(64))
    ciphertext, shared_secret = _kyber.encapsulate("kyber1024-r2", public_key, bytes(32))
    total = 300
    results = []

    def work():
        for _ in range(total):
            results.append(_kyber.decapsulate("kyber1024-r2", private_key, ciphertext))

    observed = set()
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        worker = threading.Thread(target=work)
        worker.start()
        while worker.is_alive():
            observed.add(len(results))
            worker.join(0.0001)
    finally:
        sys.setswitchinterval(previous_interval)
    assert results == [shared_secret] * total
    assert any(0 < count < total for count in observed)


def test_two_threads_agree():
    expected = {}
    for variant in _kyber.VARIANTS:
        public_key, private_key = _kyber.keypair(variant, seeded(variant, 64))
        ciphertext, shared_secret = _kyber.encapsulate(variant, public_key, bytes(32))
        expected[variant] = (public_key, private_key, ciphertext, shared_secret)
    failures = []
    start = threading.Barrier(2)

    def work():
        start.wait()
        for _ in range(20):
            for variant, (public_key, private_key, ciphertext, secret) in expected.items():
                if _kyber.keypair(variant, seeded(variant, 64)) != (public_key, private_key):
                    failures.append((variant, "keypair"))
                if _kyber.encapsulate(variant, public_key, bytes(32)) != (ciphertext, secret):
                    failures.append((variant, "encapsulate"))
                if _kyber.decapsulate(variant, private_key, ciphertext) != secret:
                    failures.append((variant, "decapsulate"))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
