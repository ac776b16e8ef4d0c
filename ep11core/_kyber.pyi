"""CRYSTALS-Kyber round 2 (IBM's CKM_IBM_KYBER) and ML-KEM (FIPS 203) key encapsulation.

Variants:

* ``"kyber768-r2"`` and ``"kyber1024-r2"``: CRYSTALS-Kyber as submitted to the second NIST
  round, the SHAKE/SHA3 variant (not "90s"). Byte-exact with the PQClean round-2 ``kyber768``
  and ``kyber1024`` reference code. Round 3 Kyber is a different, incompatible scheme.
* ``"ml-kem-512"``, ``"ml-kem-768"`` and ``"ml-kem-1024"``: ML-KEM of FIPS 203 (August 2024).

Byte arguments must be ``bytes`` (``bytearray`` and ``memoryview`` raise ``TypeError``). An
unknown variant or an argument of the wrong length raises ``ValueError`` naming the expected
length. Key generation, encapsulation and decapsulation release the GIL.
"""

from typing import Literal, TypeAlias

__all__ = [
    "VARIANTS",
    "check_public_key",
    "decapsulate",
    "encapsulate",
    "keypair",
    "sizes",
]

_Variant: TypeAlias = Literal[
    "kyber768-r2", "kyber1024-r2", "ml-kem-512", "ml-kem-768", "ml-kem-1024"
]

VARIANTS: tuple[str, ...]
"""The supported variant names, in this order: round 2 first, then ML-KEM by strength."""

def sizes(variant: _Variant) -> tuple[int, int, int, int]:
    """Return the (public key, private key, ciphertext, shared secret) sizes in bytes."""

def keypair(variant: _Variant, seed: bytes) -> tuple[bytes, bytes]:
    """Derive ``(public_key, private_key)`` from the 64-byte ``seed`` = d || z.

    ML-KEM: ``ML-KEM.KeyGen_internal(d, z)`` of FIPS 203, so the key equals the one that
    ``cryptography``'s ``from_seed_bytes(d || z)`` expands. Round 2: d is the output of the
    reference ``indcpa_keypair``'s ``randombytes(32)``, and z is the output of the second
    ``randombytes(32)`` in ``crypto_kem_keypair``, the value stored for implicit rejection.

    The private key is ``s || public_key || SHA3-256(public_key) || z`` with s encoded in
    12-bit coefficients, in both schemes.
    """

def encapsulate(variant: _Variant, public_key: bytes, randomness: bytes) -> tuple[bytes, bytes]:
    """Encapsulate to ``public_key``; return ``(ciphertext, shared_secret)``.

    ``randomness`` is the 32-byte m. ML-KEM uses it as ``ML-KEM.Encaps_internal(ek, m)``
    does. Round 2 uses it as the output of the reference ``crypto_kem_enc``'s
    ``randombytes(32)``, which it hashes before use. ML-KEM public keys must pass the
    modulus check of ``check_public_key``.
    """

def decapsulate(variant: _Variant, private_key: bytes, ciphertext: bytes) -> bytes:
    """Return the 32-byte shared secret.

    A ciphertext that fails the re-encryption check yields the implicit-rejection secret
    (ML-KEM: SHAKE256(z || ciphertext); round 2: SHAKE256(z || SHA3-256(ciphertext))), never
    an error. An ML-KEM private key whose stored SHA3-256(public key) does not match its
    public key raises ``ValueError`` (the FIPS 203 hash check).
    """

def check_public_key(variant: _Variant, public_key: bytes) -> None:
    """Raise ``ValueError`` unless ``public_key`` has the variant's length and, for ML-KEM,
    every 12-bit coefficient is below q = 3329 (the FIPS 203 modulus check). Round 2 checks
    the length only, as the reference code does."""
