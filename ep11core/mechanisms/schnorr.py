"""CKM_IBM_ECDSA_OTHER: the IBM Schnorr signature variants on 256-bit curves, and BLS.

``ECSGParams.type`` selects the variant. Variant 6 is BLS12-381 (``mechanisms.bls``). The two
Schnorr variants work on secp256k1 and P-256, sign the
message itself (no prehash by the caller), draw a fresh random nonce k for every signature, and
return ``r || s`` with 32 bytes each. G is the base point, n its order, d the private key and
P = d*G the public key.

- 5, EC-SDSA compressed multi (Zilliqa-compatible, fixed by the Zilliqa Schnorr verifier):
  Q = k*G, r = SHA-256(compressed Q || compressed P || message) mod n, s = (k - r*d) mod n.
  A verifier computes Q' = s*G + r*P and accepts when r = SHA-256(compressed Q' || compressed P
  || message) mod n, with 0 < r < n and 0 < s < n.
- 3, EC-SDSA with SHA-256 after BSI TR-03111 and ISO/IEC 14888-3: Q = k*G,
  r = SHA-256(x(Q) || y(Q) || message) as the full 32-byte hash, e = r mod n, s = (k + e*d) mod n.
  A verifier computes Q' = s*G - e*P and accepts when SHA-256(x(Q') || y(Q') || message) = r,
  with 0 < e and 0 < s < n. EP11 does not publish its encoding of this variant, so the full hash
  in r and the positive sign of s are our choice. Other verifiers accept these signatures only
  if they make the same choice.

The variants are single-part. EP11 serves the Schnorr variants through SignSingle and
VerifySingle only; BLS signatures also work after SignInit or VerifyInit.
"""

import enum

from .. import _crypto
from ..constants import CKK, CKM, CKR
from ..errors import PKCS11Error
from ..blskeys import KEY_BITS
from ..types import ECSGParams
from . import ecpoints
from .bls import BLSSignScheme
from .base import SIGN_VERIFY, MechanismSpec, SignScheme, invalid_signature, signature_length_error
from .parameters import param_error

SCALAR_BYTES = 32
SIGNATURE_BYTES = 2 * SCALAR_BYTES
# Extra random bytes make the bias of reducing the nonce modulo n negligible (2^-128).
NONCE_EXTRA_BYTES = 16


class ECSGType(enum.IntEnum):
    """ECSG_IBM_* variants of ep11.h (the proto enum has the same numbers)."""

    ECSDSA_S256 = 3
    ECSDSA_COMPR_MULTI = 5
    BLS = 6


def _curve(key):
    curve = ecpoints.CURVE_ARITHMETIC.get(key.pkey.curve)
    if curve is None:
        raise PKCS11Error(
            CKR.CURVE_NOT_SUPPORTED,
            f"Schnorr signatures need secp256k1 or P-256, not {key.pkey.curve}",
        )
    return curve


def _nonce(curve) -> int:
    random = _crypto.random_bytes(SCALAR_BYTES + NONCE_EXTRA_BYTES)
    return int.from_bytes(random, "big") % (curve.n - 1) + 1


def _hash(*parts: bytes) -> bytes:
    return _crypto.digest("sha256", b"".join(parts))


def _split_signature(signature: bytes):
    if len(signature) != SIGNATURE_BYTES:
        raise signature_length_error(SIGNATURE_BYTES, len(signature))
    r = int.from_bytes(signature[:SCALAR_BYTES], "big")
    s = int.from_bytes(signature[SCALAR_BYTES:], "big")
    return r, s


def _join_signature(r: int, s: int) -> bytes:
    return r.to_bytes(SCALAR_BYTES, "big") + s.to_bytes(SCALAR_BYTES, "big")


class ComprMultiSigner:
    """Variant 5: EC-SDSA over compressed points, as Zilliqa signs."""

    def sign(self, curve, secret: int, public, message: bytes) -> bytes:
        compressed_public = ecpoints.compress(curve, public)
        while True:
            nonce = _nonce(curve)
            commitment = ecpoints.public_point(curve, nonce)
            digest = _hash(ecpoints.compress(curve, commitment), compressed_public, message)
            r = int.from_bytes(digest, "big") % curve.n
            s = (nonce - r * secret) % curve.n
            if r and s:
                return _join_signature(r, s)

    def verify(self, curve, public, message: bytes, signature: bytes) -> None:
        r, s = _split_signature(signature)
        if not (0 < r < curve.n and 0 < s < curve.n):
            raise invalid_signature()
        commitment = ecpoints.add(
            curve,
            ecpoints.multiply(curve, s, curve.generator),
            ecpoints.multiply(curve, r, public),
        )
        if commitment is None:
            raise invalid_signature()
        compressed = ecpoints.compress(curve, commitment)
        digest = _hash(compressed, ecpoints.compress(curve, public), message)
        if int.from_bytes(digest, "big") % curve.n != r:
            raise invalid_signature()


class S256Signer:
    """Variant 3: EC-SDSA with SHA-256 over the uncompressed coordinates of the commitment."""

    def sign(self, curve, secret: int, public, message: bytes) -> bytes:
        while True:
            nonce = _nonce(curve)
            x, y = ecpoints.public_point(curve, nonce)
            digest = _hash(x.to_bytes(SCALAR_BYTES, "big"), y.to_bytes(SCALAR_BYTES, "big"), message)
            challenge = int.from_bytes(digest, "big") % curve.n
            s = (nonce + challenge * secret) % curve.n
            if challenge and s:
                return digest + s.to_bytes(SCALAR_BYTES, "big")

    def verify(self, curve, public, message: bytes, signature: bytes) -> None:
        _, s = _split_signature(signature)
        digest = signature[:SCALAR_BYTES]
        challenge = int.from_bytes(digest, "big") % curve.n
        if not (challenge and 0 < s < curve.n):
            raise invalid_signature()
        commitment = ecpoints.add(
            curve,
            ecpoints.multiply(curve, s, curve.generator),
            ecpoints.negate(curve, ecpoints.multiply(curve, challenge, public)),
        )
        if commitment is None:
            raise invalid_signature()
        x, y = commitment
        expected = _hash(x.to_bytes(SCALAR_BYTES, "big"), y.to_bytes(SCALAR_BYTES, "big"), message)
        if expected != digest:
            raise invalid_signature()


def ecsg_parameter(parameter):
    if not isinstance(parameter, ECSGParams):
        raise param_error("CKM_IBM_ECDSA_OTHER needs an ECSGParm parameter")
    if parameter.type not in VARIANT_SCHEMES:
        raise param_error(f"ECSG variant {parameter.type} is not defined")
    return parameter


class SchnorrScheme(SignScheme):
    """Schnorr signatures in one call. Init, Update and Final calls are rejected."""

    single_part = True

    def __init__(self, signer):
        self.signer = signer

    def start(self, key, parameter):
        raise PKCS11Error(
            CKR.MECHANISM_INVALID,
            "CKM_IBM_ECDSA_OTHER works with SignSingle and VerifySingle only",
        )

    def sign_once(self, key, parameter, data):
        curve = _curve(key)
        secret = ecpoints.private_scalar(key.value)
        public = ecpoints.decode_point(curve, key.pkey.ec_point)
        return self.signer.sign(curve, secret, public, data)

    def verify_once(self, key, parameter, data, signature):
        curve = _curve(key)
        public = ecpoints.decode_point(curve, key.pkey.ec_point)
        self.signer.verify(curve, public, data, signature)


VARIANT_SCHEMES = {
    ECSGType.ECSDSA_S256: SchnorrScheme(S256Signer()),
    ECSGType.ECSDSA_COMPR_MULTI: SchnorrScheme(ComprMultiSigner()),
    ECSGType.BLS: BLSSignScheme(),
}


class ECSGScheme(SignScheme):
    """Pass each call to the scheme of the ECSG variant that the parameter names."""

    single_part = True

    def start(self, key, parameter):
        return VARIANT_SCHEMES[parameter.type].start(key, parameter)

    def sign_once(self, key, parameter, data):
        return VARIANT_SCHEMES[parameter.type].sign_once(key, parameter, data)

    def verify_once(self, key, parameter, data, signature):
        VARIANT_SCHEMES[parameter.type].verify_once(key, parameter, data, signature)


ROWS = [
    MechanismSpec(
        CKM.IBM_ECDSA_OTHER,
        SIGN_VERIFY,
        key_types=frozenset({CKK.EC}),
        min_key_size=256,
        max_key_size=KEY_BITS,
        parameter=ecsg_parameter,
        sign=ECSGScheme(),
    ),
]
