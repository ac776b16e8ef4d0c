"""Tests of the Dilithium primitives in ep11core._dilithium, without the engine.

Known answers (tests/data/dilithium_round2.json and dilithium_round3.json) come from two
independent implementations. Each variant has 11 cases: case i uses the seed
SHA-256(b"dilithium seed %d" % i) and a message of SHAKE256(b"dilithium message %d" % i) bytes
(lengths 0, 1, 3, 32, 135, 136, 137, 1000, 4096, 7 and 64). Case 0 stores the full public key
and signature, the others their SHA-256 hashes, and every case stores the SHA-256 of the
private key.

- ``r2-6x5``: the round-2 reference C code in the ``sources/dilithium4/ref`` directory of the
  PyPI sdist ``pqcrypto`` 0.1.3 (PQClean's round-2 Dilithium4), built with that sdist's
  ``common/fips202.c`` and a ``randombytes`` that returns SHAKE256(seed, 96), which is how
  our ``keypair`` expands the seed. ``crypto_sign_signature`` gave the signatures.
- ``r2-8x7``: the same code with params.h changed to K = 8, L = 7, ETA = 2, BETA = 120,
  OMEGA = 140 and api.h to 2336/5136/4668 bytes. It checks that our parameter choice runs
  the round-2 algorithm unchanged; IBM publishes no vectors for this strength.
- ``r3-*``: the ``Dilithium2``, ``Dilithium3`` and ``Dilithium5`` classes of ``dilithium-py``
  1.5.1 (round-3 specification 3.1, deterministic signing), whose ``random_bytes`` returned
  the seed for ``keygen``.
"""

import hashlib
import json
import os
import threading
import time

import pytest

from ep11core import _dilithium as dilithium

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

EXPECTED_SIZES = {
    "r2-6x5": (1760, 3856, 3366),
    "r2-8x7": (2336, 5136, 4668),
    "r3-4x4": (1312, 2528, 2420),
    "r3-6x5": (1952, 4000, 3293),
    "r3-8x7": (2592, 4864, 4595),
}
# (K, L, eta, eta bits, omega, z bits) of each variant.
SHAPES = {
    "r2-6x5": (6, 5, 3, 3, 120, 20),
    "r2-8x7": (8, 7, 2, 3, 140, 20),
    "r3-4x4": (4, 4, 2, 3, 80, 18),
    "r3-6x5": (6, 5, 4, 4, 55, 20),
    "r3-8x7": (8, 7, 2, 3, 75, 20),
}


def load_cases():
    cases = []
    for name in ("dilithium_round2.json", "dilithium_round3.json"):
        with open(os.path.join(DATA, name)) as handle:
            for variant, entries in json.load(handle).items():
                for index, case in enumerate(entries):
                    cases.append(pytest.param(variant, case, id=f"{variant}-{index}"))
    return cases


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def layout(variant):
    """Return the (start, end) byte ranges of the challenge, z and hint parts of a signature."""
    k, l, _, _, omega, z_bits = SHAPES[variant]
    z_bytes = l * 32 * z_bits
    if variant.startswith("r2"):
        return {"z": (0, z_bytes), "hint": (z_bytes, z_bytes + omega + k),
                "challenge": (z_bytes + omega + k, z_bytes + omega + k + 40)}
    return {"challenge": (0, 32), "z": (32, 32 + z_bytes),
            "hint": (32 + z_bytes, 32 + z_bytes + omega + k)}


@pytest.fixture(scope="module")
def signed():
    """One key pair and signature of b"message" per variant."""
    result = {}
    for variant in dilithium.VARIANTS:
        public_key, private_key = dilithium.keypair(variant, bytes(range(32)))
        result[variant] = (public_key, private_key, dilithium.sign(variant, private_key, b"message"))
    return result


def test_variant_names():
    assert dilithium.VARIANTS == ("r2-6x5", "r2-8x7", "r3-4x4", "r3-6x5", "r3-8x7")


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_sizes(variant):
    assert dilithium.sizes(variant) == EXPECTED_SIZES[variant]


def test_round2_8x7_signature_is_ibm_maximum():
    # IBM documents 4668 bytes as the largest Dilithium signature: 7*640 + 140 + 8 + 40.
    assert dilithium.sizes("r2-8x7")[2] == 4668
    assert max(size[2] for size in map(dilithium.sizes, dilithium.VARIANTS)) == 4668


# ---------------------------------------------------------------------------------------------
# Known answers


@pytest.mark.parametrize("variant,case", load_cases())
def test_known_answer(variant, case):
    seed = bytes.fromhex(case["seed"])
    message = bytes.fromhex(case["message"])
    public_key, private_key = dilithium.keypair(variant, seed)
    signature = dilithium.sign(variant, private_key, message)
    if "public_key" in case:
        assert public_key.hex() == case["public_key"]
        assert signature.hex() == case["signature"]
    else:
        assert sha256(public_key) == case["public_key_sha256"]
        assert sha256(signature) == case["signature_sha256"]
    assert sha256(private_key) == case["private_key_sha256"]
    assert dilithium.verify(variant, public_key, message, signature)


# ---------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_round_trip(variant):
    for index in range(4):
        public_key, private_key = dilithium.keypair(variant, hashlib.sha256(b"%d" % index).digest())
        message = os.urandom(index * 50)
        signature = dilithium.sign(variant, private_key, message)
        assert len(signature) == dilithium.sizes(variant)[2]
        assert dilithium.verify(variant, public_key, message, signature)
        assert not dilithium.verify(variant, public_key, message + b"x", signature)


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_signing_is_deterministic(variant, signed):
    public_key, private_key, signature = signed[variant]
    assert dilithium.sign(variant, private_key, b"message") == signature
    assert dilithium.sign(variant, private_key, b"other") != signature


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_keypair_depends_on_seed(variant):
    first = dilithium.keypair(variant, bytes(32))
    assert dilithium.keypair(variant, bytes(32)) == first
    second = dilithium.keypair(variant, bytes(31) + b"\x01")
    assert second[0] != first[0]
    assert second[1] != first[1]


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_bytes_like_inputs(variant, signed):
    public_key, private_key, signature = signed[variant]
    assert dilithium.sign(variant, bytearray(private_key), memoryview(b"message")) == signature
    assert dilithium.verify(variant, memoryview(public_key), bytearray(b"message"), bytearray(signature))
    assert dilithium.keypair(variant, bytearray(range(32))) == (public_key, private_key)


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_empty_and_large_messages(variant, signed):
    public_key, private_key, _ = signed[variant]
    empty_signature = dilithium.sign(variant, private_key, b"")
    assert dilithium.verify(variant, public_key, b"", empty_signature)
    assert not dilithium.verify(variant, public_key, b"\x00", empty_signature)
    large = hashlib.shake_256(b"large").digest(3 * 1024 * 1024 + 17)
    large_signature = dilithium.sign(variant, private_key, large)
    assert dilithium.verify(variant, public_key, large, large_signature)
    assert not dilithium.verify(variant, public_key, large[:-1], large_signature)


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_wrong_public_key_rejected(variant, signed):
    _, _, signature = signed[variant]
    other_public_key, _ = dilithium.keypair(variant, bytes([9]) * 32)
    assert not dilithium.verify(variant, other_public_key, b"message", signature)


def test_signature_of_other_variant_rejected(signed):
    # r2-8x7 and r3-8x7 share K, L and eta but differ in every encoding and hash. The
    # signature is cut or padded to the length r3-8x7 expects.
    public_key = signed["r3-8x7"][0]
    foreign = signed["r2-8x7"][2][:dilithium.sizes("r3-8x7")[2]]
    assert not dilithium.verify("r3-8x7", public_key, b"message", foreign)
    foreign = signed["r3-6x5"][2] + bytes(dilithium.sizes("r3-8x7")[2] - dilithium.sizes("r3-6x5")[2])
    assert not dilithium.verify("r3-8x7", public_key, b"message", foreign)


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_public_key_of(variant, signed):
    public_key, private_key, _ = signed[variant]
    assert dilithium.public_key_of(variant, private_key) == public_key


# ---------------------------------------------------------------------------------------------
# Tampered and malformed signatures


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
@pytest.mark.parametrize("part", ["challenge", "z", "hint"])
def test_tampered_signature_rejected(variant, part, signed):
    public_key, _, signature = signed[variant]
    start, end = layout(variant)[part]
    for position in sorted({start, start + 1, (start + end) // 2, end - 2, end - 1}):
        for bit in (0, 7):
            tampered = bytearray(signature)
            tampered[position] ^= 1 << bit
            assert not dilithium.verify(variant, public_key, b"message", bytes(tampered)), (
                f"flipped bit {bit} of byte {position} was accepted"
            )


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_wrong_signature_length_rejected(variant, signed):
    public_key, _, signature = signed[variant]
    assert not dilithium.verify(variant, public_key, b"message", signature[:-1])
    assert not dilithium.verify(variant, public_key, b"message", signature + b"\x00")
    assert not dilithium.verify(variant, public_key, b"message", b"")


def hint_parts(variant, signature):
    """Return (offset of the hint encoding, position bytes, count bytes)."""
    k, _, _, _, omega, _ = SHAPES[variant]
    start, _ = layout(variant)["hint"]
    return start, list(signature[start:start + omega]), list(signature[start + omega:start + omega + k])


def replace_hint(signature, start, positions, counts):
    return signature[:start] + bytes(positions + counts) + signature[start + len(positions) + len(counts):]


def signature_with_hints(variant, private_key, minimum):
    """Sign messages until a signature has a polynomial with at least ``minimum`` hints."""
    for index in range(200):
        message = b"hints %d" % index
        signature = dilithium.sign(variant, private_key, message)
        _, _, counts = hint_parts(variant, signature)
        previous = 0
        for count in counts:
            if count - previous >= minimum:
                return message, signature
            previous = count
    raise AssertionError("no signature with enough hints in one polynomial")


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_hint_positions_out_of_order_rejected(variant, signed):
    # Swapping two positions of one polynomial keeps the same set of hint bits, so only the
    # strict ordering rule rejects it.
    public_key, private_key, _ = signed[variant]
    message, signature = signature_with_hints(variant, private_key, 2)
    start, positions, counts = hint_parts(variant, signature)
    previous = 0
    for count in counts:
        if count - previous >= 2:
            positions[previous], positions[previous + 1] = positions[previous + 1], positions[previous]
            break
        previous = count
    assert dilithium.verify(variant, public_key, message, signature)
    assert not dilithium.verify(variant, public_key, message, replace_hint(signature, start, positions, counts))


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_hint_duplicate_position_rejected(variant, signed):
    public_key, private_key, _ = signed[variant]
    message, signature = signature_with_hints(variant, private_key, 2)
    start, positions, counts = hint_parts(variant, signature)
    previous = 0
    for count in counts:
        if count - previous >= 2:
            positions[previous + 1] = positions[previous]
            break
        previous = count
    assert not dilithium.verify(variant, public_key, message, replace_hint(signature, start, positions, counts))


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_hint_nonzero_padding_rejected(variant, signed):
    public_key, _, signature = signed[variant]
    start, positions, counts = hint_parts(variant, signature)
    total = counts[-1]
    assert total < len(positions), "the signature uses every hint slot"
    positions[total] = 1
    assert not dilithium.verify(variant, public_key, b"message", replace_hint(signature, start, positions, counts))


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_hint_count_above_omega_rejected(variant, signed):
    public_key, _, signature = signed[variant]
    start, positions, counts = hint_parts(variant, signature)
    counts[-1] = len(positions) + 1
    assert not dilithium.verify(variant, public_key, b"message", replace_hint(signature, start, positions, counts))
    counts[-1] = 255
    assert not dilithium.verify(variant, public_key, b"message", replace_hint(signature, start, positions, counts))


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_hint_decreasing_counts_rejected(variant, signed):
    public_key, private_key, _ = signed[variant]
    message, signature = signature_with_hints(variant, private_key, 1)
    start, positions, counts = hint_parts(variant, signature)
    # Raise the first count above the second one.
    index = next(i for i in range(len(counts) - 1) if counts[i + 1] > 0)
    counts[index] = counts[index + 1] + 1
    assert not dilithium.verify(variant, public_key, message, replace_hint(signature, start, positions, counts))


@pytest.mark.parametrize("variant", ["r2-6x5", "r2-8x7"])
def test_round2_challenge_encoding_rejected(variant, signed):
    public_key, _, signature = signed[variant]
    start, end = layout(variant)["challenge"]
    # A sign bit beyond the 60 nonzero coefficients.
    extra_sign = bytearray(signature)
    extra_sign[end - 1] |= 0x80
    assert not dilithium.verify(variant, public_key, b"message", bytes(extra_sign))
    # One nonzero coefficient more or less.
    bitmap = int.from_bytes(signature[start:start + 32], "little")
    zero_position = next(n for n in range(256) if not (bitmap >> n) & 1)
    one_position = next(n for n in range(256) if (bitmap >> n) & 1)
    for changed in (bitmap | (1 << zero_position), bitmap & ~(1 << one_position)):
        tampered = signature[:start] + changed.to_bytes(32, "little") + signature[start + 32:]
        assert not dilithium.verify(variant, public_key, b"message", tampered)


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_z_out_of_range_rejected(variant, signed):
    # All-ones z fields decode to the most negative values, beyond gamma1 - beta.
    public_key, _, signature = signed[variant]
    start, _ = layout(variant)["z"]
    tampered = signature[:start] + b"\xff" * 5 + signature[start + 5:]
    assert not dilithium.verify(variant, public_key, b"message", tampered)


# ---------------------------------------------------------------------------------------------
# Invalid arguments


def test_unknown_variant():
    for call in (
        lambda: dilithium.sizes("r3-5x5"),
        lambda: dilithium.keypair("dilithium3", bytes(32)),
        lambda: dilithium.sign("", bytes(10), b""),
        lambda: dilithium.verify("R2-6X5", bytes(10), b"", b""),
        lambda: dilithium.public_key_of("ml-dsa-65", bytes(10)),
    ):
        with pytest.raises(ValueError, match="unknown Dilithium variant"):
            call()


def test_variant_must_be_str():
    with pytest.raises(TypeError, match="variant must be a str"):
        dilithium.sizes(b"r2-6x5")


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_seed_length(length):
    with pytest.raises(ValueError, match=f"seed for r3-4x4 must be 32 bytes, got {length}"):
        dilithium.keypair("r3-4x4", bytes(length))


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_private_key_length(variant, signed):
    _, private_key, _ = signed[variant]
    expected = len(private_key)
    for bad in (private_key[:-1], private_key + b"\x00", b""):
        with pytest.raises(ValueError, match=f"private key for {variant} must be {expected} bytes"):
            dilithium.sign(variant, bad, b"message")
        with pytest.raises(ValueError, match=f"private key for {variant} must be {expected} bytes"):
            dilithium.public_key_of(variant, bad)


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_public_key_length(variant, signed):
    public_key, _, signature = signed[variant]
    expected = len(public_key)
    for bad in (public_key[:-1], public_key + b"\x00", b""):
        with pytest.raises(ValueError, match=f"public key for {variant} must be {expected} bytes"):
            dilithium.verify(variant, bad, b"message", signature)


def test_none_arguments_rejected(signed):
    public_key, private_key, signature = signed["r3-4x4"]
    with pytest.raises(TypeError):
        dilithium.keypair("r3-4x4", None)
    with pytest.raises(TypeError):
        dilithium.sign("r3-4x4", private_key, None)
    with pytest.raises(TypeError):
        dilithium.verify("r3-4x4", public_key, b"message", None)


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_secret_coefficient_out_of_range(variant, signed):
    # The first byte of s1 becomes 0xFF: its first field (all ones) exceeds 2 eta.
    _, private_key, _ = signed[variant]
    s1_offset = 64 + (48 if variant.startswith("r2") else 32)
    bad = private_key[:s1_offset] + b"\xff" + private_key[s1_offset + 1:]
    with pytest.raises(ValueError, match=r"s1 or s2 coefficient is outside"):
        dilithium.sign(variant, bad, b"message")
    with pytest.raises(ValueError, match=r"s1 or s2 coefficient is outside"):
        dilithium.public_key_of(variant, bad)


@pytest.mark.parametrize("variant", dilithium.VARIANTS)
def test_inconsistent_private_key(variant, signed):
    _, private_key, _ = signed[variant]
    tr_offset = 64
    bad_tr = bytearray(private_key)
    bad_tr[tr_offset] ^= 1
    bad_t0 = bytearray(private_key)
    bad_t0[-1] ^= 1
    for bad in (bad_tr, bad_t0):
        with pytest.raises(ValueError, match="tr or t0 does not match rho, s1 and s2"):
            dilithium.public_key_of(variant, bytes(bad))


# ---------------------------------------------------------------------------------------------
# Concurrency


def test_gil_released_while_signing(signed):
    # While another thread signs a large message, this thread keeps running Python code,
    # which it could not do if the signing call held the GIL.
    _, private_key, _ = signed["r2-8x7"]
    message = bytes(24 * 1024 * 1024)
    window = {}

    def work():
        window["start"] = time.perf_counter()
        dilithium.sign("r2-8x7", private_key, message)
        window["end"] = time.perf_counter()

    thread = threading.Thread(target=work)
    ticks = []
    thread.start()
    while thread.is_alive():
        ticks.append(time.perf_counter())
    thread.join()
    inside = [tick for tick in ticks if window["start"] < tick < window["end"]]
    assert window["end"] - window["start"] > 0.01
    assert len(inside) > 100


def test_threads_agree(signed):
    results = {}

    def work(variant):
        public_key, private_key, signature = signed[variant]
        for _ in range(5):
            assert dilithium.sign(variant, private_key, b"message") == signature
            assert dilithium.verify(variant, public_key, b"message", signature)
        results[variant] = True

    threads = [threading.Thread(target=work, args=(variant,)) for variant in dilithium.VARIANTS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {variant: True for variant in dilithium.VARIANTS}
