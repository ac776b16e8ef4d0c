"""CRYSTALS-Dilithium signatures in the five strengths of IBM's CKM_IBM_DILITHIUM.

``r2-6x5`` is round-2 Dilithium mode 4 (IBM's round 2 "high", OID 1.3.6.1.4.1.2.267.1.6.5).
``r2-8x7`` is the round-2 algorithm with K = 8, L = 7, eta = 2, beta = 120 and omega = 140,
our reading of OID 1.3.6.1.4.1.2.267.1.8.7 (round 2 defined no 8x7 set). ``r3-4x4``,
``r3-6x5`` and ``r3-8x7`` are round-3 Dilithium2, Dilithium3 and Dilithium5 of specification
version 3.1 (OIDs 1.3.6.1.4.1.2.267.7.4.4, .7.6.5 and .7.8.7), not ML-DSA.

Keys and signatures use the reference encodings: public key rho || t1, private key
rho || K || tr || s1 || s2 || t0, round-2 signature z || h || c, round-3 signature
c~ || z || h. Signatures are deterministic and detached. Byte arguments take any contiguous
bytes-like object. Every call releases the GIL while it computes.
"""

from typing import Literal, TypeAlias

__all__ = ["VARIANTS", "keypair", "public_key_of", "sign", "sizes", "verify"]

_Variant: TypeAlias = Literal["r2-6x5", "r2-8x7", "r3-4x4", "r3-6x5", "r3-8x7"]

VARIANTS: tuple[str, ...]
"""The variant names, in the order round 2 (6x5, 8x7) then round 3 (4x4, 6x5, 8x7)."""

def sizes(variant: _Variant) -> tuple[int, int, int]:
    """Return (public key bytes, private key bytes, signature bytes) of ``variant``.

    r2-6x5: (1760, 3856, 3366); r2-8x7: (2336, 5136, 4668); r3-4x4: (1312, 2528, 2420);
    r3-6x5: (1952, 4000, 3293); r3-8x7: (2592, 4864, 4595). An unknown variant raises
    ``ValueError`` and a non-``str`` one ``TypeError``.
    """

def keypair(variant: _Variant, seed: bytes) -> tuple[bytes, bytes]:
    """Derive (public key, private key) from a 32-byte seed.

    Round 3 expands the seed with SHAKE256 to 128 bytes, as the reference code does. Round 2
    takes its 96 seed bytes (rho, rho', K) from SHAKE256(seed, 96). A seed of another length
    raises ``ValueError``.
    """

def sign(variant: _Variant, private_key: bytes, message: bytes) -> bytes:
    """Return the deterministic detached signature of ``message`` (any length).

    Raises ``ValueError`` if ``private_key`` has the wrong length or an s1 or s2 coefficient
    outside [-eta, eta].
    """

def verify(variant: _Variant, public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Return whether ``signature`` is valid for ``message`` under ``public_key``.

    Any invalid signature returns ``False``: a wrong length, z out of range, or a mismatch.
    So does a hint encoding other than the canonical one, with counts that decrease or exceed
    omega, positions that do not increase strictly, or nonzero padding. So does a round-2
    challenge without exactly 60 nonzero coefficients or with stray sign bits. A public key
    of the wrong length raises ``ValueError``.
    """

def public_key_of(variant: _Variant, private_key: bytes) -> bytes:
    """Recompute the public key from rho, s1 and s2 of ``private_key`` (t = A s1 + s2).

    Raises ``ValueError`` if the key has the wrong length, an s1 or s2 coefficient outside
    [-eta, eta], or a tr or t0 that differs from the values the recomputed key gives.
    """
