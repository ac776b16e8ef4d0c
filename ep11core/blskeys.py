"""BLS12-381 keys and signatures, through the ``py_arkworks_bls12381`` package.

OpenSSL has no pairing arithmetic, so BLS keys use the BLS12-381 group and pairing operations
of ``py_arkworks_bls12381`` (the arkworks Rust library, version 0.5 or later). ``BLSKey``
offers the part of the ``_crypto.PKey`` interface that the engine uses (``key_type``,
``is_private``, ``bits``, ``curve``, ``ec_point``, ``spki()``, ``pkcs8()``) plus ``sign`` and
``verify``.

NOTE: ``py_arkworks_bls12381`` 0.5 keeps the GIL during its operations: a pairing took about
2.4 ms here and then ran three times slower beside a busy Python thread, so a BLS
verification (two pairings) briefly stops the server's other threads.

IBM documents neither the BLS variant nor the encodings of EP11, so this module implements the
ciphersuite BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_ of the IETF draft
draft-irtf-cfrg-bls-signature-05, the one Ethereum's consensus layer uses:

- The private key SK is an integer 0 < SK < r (r is the 255-bit group order), made by KeyGen
  of the draft (HKDF-SHA-256) from 32 bytes of the OpenSSL DRBG.
- Public keys are SK * G1 in G1, 48 bytes in the compressed form of the ZCash serialization.
- Signatures are SK * H(message) in G2, 96 bytes compressed, where H is hash_to_curve with
  expand_message_xmd(SHA-256), the simplified SWU map and the domain separation tag ``DST``.
  The message is signed as given, without a hash by the caller.
- Aggregation adds points: signatures in G2, public keys in G1. A signature aggregated from
  signatures of one message verifies under the sum of the public keys (FastAggregateVerify).

Decoding is strict: a point must use the canonical compressed encoding, lie on the curve and in
the prime-order subgroup, and a public key must not be the point at infinity (KeyValidate).

DER forms, chosen to match the other EC keys (RFC 5480 and RFC 5915) with the IBM curve OID
1.3.6.1.4.1.2.267.999.3.2 (BLS12-381 "ET") as the named curve:

- SubjectPublicKeyInfo: id-ecPublicKey with the BLS OID as parameter, and the 48-byte
  compressed public key as the BIT STRING (78 bytes in all).
- PKCS #8 PrivateKeyInfo: version 0, the same AlgorithmIdentifier, and an ECPrivateKey
  (version 1, SK as 32 bytes big-endian, the public key in [1]), 124 bytes in all.
"""

import hmac as _hmac
from typing import Iterable, Optional

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from . import _crypto

CURVE_NAME = "BLS12-381"
# The bit length of the base field, which the curve's name counts; the group order r has 255.
KEY_BITS = 381
ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
SECRET_BYTES = 32
PUBLIC_KEY_BYTES = 48
SIGNATURE_BYTES = 96
DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"

KEYGEN_SALT = b"BLS-SIG-KEYGEN-SALT-"
KEYGEN_IKM_BYTES = 32
# L = ceil(3 * ceil(log2(r)) / 16) of KeyGen: 48 bytes make the reduction mod r nearly uniform.
KEYGEN_OKM_BYTES = 48

# DER of the OIDs id-ecPublicKey (1.2.840.10045.2.1) and BLS12-381 "ET" (1.3.6.1.4.1.2.267.999.3.2).
ID_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")
BLS12_381_OID = bytes.fromhex("060c2b0601040102820b87670302")
_ALGORITHM = b"\x30\x17" + ID_EC_PUBLIC_KEY + BLS12_381_OID
# SubjectPublicKeyInfo = SPKI_PREFIX + public key.
SPKI_PREFIX = b"\x30\x4c" + _ALGORITHM + b"\x03\x31\x00"
# PrivateKeyInfo = PKCS8_PREFIX + SK + PKCS8_PUBLIC_KEY_TAG + public key.
PKCS8_PREFIX = b"\x30\x7a\x02\x01\x00" + _ALGORITHM + b"\x04\x5c\x30\x5a\x02\x01\x01\x04\x20"
PKCS8_PUBLIC_KEY_TAG = b"\xa1\x33\x03\x31\x00"
SPKI_BYTES = len(SPKI_PREFIX) + PUBLIC_KEY_BYTES
PKCS8_BYTES = len(PKCS8_PREFIX) + SECRET_BYTES + len(PKCS8_PUBLIC_KEY_TAG) + PUBLIC_KEY_BYTES


class BLSKeyError(ValueError):
    """The bytes are not a valid BLS12-381 key, point or signature in the forms of this module."""


def _hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return _crypto.hmac("sha256", salt, ikm)


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    output, block, counter = b"", b"", 1
    while len(output) < length:
        block = _crypto.hmac("sha256", prk, block + info + bytes((counter,)))
        output += block
        counter += 1
    return output[:length]


def keygen(ikm: bytes, key_info: bytes = b"") -> int:
    """Derive a private key from input keying material (KeyGen of the IETF draft)."""
    if len(ikm) < KEYGEN_IKM_BYTES:
        raise ValueError(f"KeyGen needs at least {KEYGEN_IKM_BYTES} bytes of IKM")
    salt = KEYGEN_SALT
    secret = 0
    while secret == 0:
        salt = _crypto.digest("sha256", salt)
        prk = _hkdf_extract(salt, ikm + b"\x00")
        info = key_info + KEYGEN_OKM_BYTES.to_bytes(2, "big")
        secret = int.from_bytes(_hkdf_expand(prk, info, KEYGEN_OKM_BYTES), "big") % ORDER
    return secret


def decode_public_key(data: bytes) -> G1Point:
    """Decode a compressed public key and check it (KeyValidate); raise ``BLSKeyError``."""
    if len(data) != PUBLIC_KEY_BYTES:
        raise BLSKeyError(f"a BLS12-381 public key is {PUBLIC_KEY_BYTES} bytes, got {len(data)}")
    try:
        point = G1Point.from_compressed_bytes(bytes(data))
    except ValueError:
        raise BLSKeyError("the public key is not a point of the BLS12-381 G1 subgroup") from None
    if point.to_compressed_bytes() != data:
        raise BLSKeyError("the public key is not in canonical compressed form")
    if point == G1Point.identity():
        raise BLSKeyError("the public key is the point at infinity")
    return point


def decode_signature(data: bytes) -> G2Point:
    """Decode a compressed signature and check its subgroup; raise ``BLSKeyError``."""
    if len(data) != SIGNATURE_BYTES:
        raise BLSKeyError(f"a BLS12-381 signature is {SIGNATURE_BYTES} bytes, got {len(data)}")
    try:
        point = G2Point.from_compressed_bytes(bytes(data))
    except ValueError:
        raise BLSKeyError("the signature is not a point of the BLS12-381 G2 subgroup") from None
    if point.to_compressed_bytes() != data:
        raise BLSKeyError("the signature is not in canonical compressed form")
    return point


def aggregate_signatures(signatures: Iterable[bytes]) -> bytes:
    """Return the sum of compressed signatures (Aggregate of the draft); raise ``BLSKeyError``."""
    total = G2Point.identity()
    for signature in signatures:
        total = total + decode_signature(signature)
    return total.to_compressed_bytes()


def _message_point(message: bytes) -> G2Point:
    return G2Point.hash_to_curve(bytes(message), DST)


class BLSKey:
    """A BLS12-381 private or public key."""

    key_type = CURVE_NAME
    curve = CURVE_NAME
    bits = KEY_BITS

    def __init__(self, public: G1Point, secret: Optional[int] = None):
        self._public = public
        self._secret = secret
        self.is_private = secret is not None

    def __repr__(self) -> str:  # never show key material
        return f"BLSKey({'private' if self.is_private else 'public'})"

    @classmethod
    def from_secret(cls, secret: int) -> "BLSKey":
        if not 0 < secret < ORDER:
            raise BLSKeyError("a BLS12-381 private key is an integer from 1 to r - 1")
        return cls(G1Point() * Scalar(secret), secret)

    @classmethod
    def generate(cls) -> "BLSKey":
        return cls.from_secret(keygen(_crypto.random_bytes(KEYGEN_IKM_BYTES)))

    @classmethod
    def from_public_bytes(cls, data: bytes) -> "BLSKey":
        return cls(decode_public_key(data))

    @classmethod
    def aggregate(cls, keys: Iterable["BLSKey"]) -> "BLSKey":
        """Return the public key that is the sum of ``keys``; raise ``BLSKeyError`` at infinity."""
        total = G1Point.identity()
        for key in keys:
            total = total + key._public
        if total == G1Point.identity():
            raise BLSKeyError("the public keys add up to the point at infinity")
        return cls(total)

    @staticmethod
    def is_spki(der: bytes) -> bool:
        """Tell whether ``der`` has the shape of a BLS12-381 SubjectPublicKeyInfo."""
        return len(der) == SPKI_BYTES and der.startswith(SPKI_PREFIX)

    @staticmethod
    def is_pkcs8(der: bytes) -> bool:
        """Tell whether ``der`` starts like a BLS12-381 PKCS #8 private key."""
        return bytes(der[: len(PKCS8_PREFIX)]) == PKCS8_PREFIX

    @classmethod
    def from_spki(cls, der: bytes) -> "BLSKey":
        der = bytes(der)
        if not cls.is_spki(der):
            raise BLSKeyError("not a BLS12-381 SubjectPublicKeyInfo")
        return cls.from_public_bytes(der[len(SPKI_PREFIX) :])

    @classmethod
    def from_pkcs8(cls, der: bytes, pairwise_check: bool = True) -> "BLSKey":
        der = bytes(der)
        public_start = len(PKCS8_PREFIX) + SECRET_BYTES + len(PKCS8_PUBLIC_KEY_TAG)
        if (
            len(der) != PKCS8_BYTES
            or not der.startswith(PKCS8_PREFIX)
            or der[public_start - len(PKCS8_PUBLIC_KEY_TAG) : public_start] != PKCS8_PUBLIC_KEY_TAG
        ):
            raise BLSKeyError("not a BLS12-381 PKCS #8 private key")
        secret = int.from_bytes(der[len(PKCS8_PREFIX) : len(PKCS8_PREFIX) + SECRET_BYTES], "big")
        if not pairwise_check:
            if not 0 < secret < ORDER:
                raise BLSKeyError("a BLS12-381 private key is an integer from 1 to r - 1")
            return cls(G1Point.from_compressed_bytes_unchecked(der[public_start:]), secret)
        key = cls.from_secret(secret)
        if not _hmac.compare_digest(key.ec_point, der[public_start:]):
            raise BLSKeyError("the public key in the PKCS #8 does not match the private key")
        return key

    @property
    def ec_point(self) -> bytes:
        """The compressed public key, the content of CKA_EC_POINT."""
        return self._public.to_compressed_bytes()

    def spki(self) -> bytes:
        return SPKI_PREFIX + self.ec_point

    def pkcs8(self) -> bytes:
        if not self.is_private:
            raise BLSKeyError("a public key has no PKCS #8 form")
        secret = self._secret.to_bytes(SECRET_BYTES, "big")
        return PKCS8_PREFIX + secret + PKCS8_PUBLIC_KEY_TAG + self.ec_point

    def sign(self, message: bytes) -> bytes:
        """Return the 96-byte signature of ``message`` (CoreSign of the draft)."""
        if not self.is_private:
            raise BLSKeyError("a public key cannot sign")
        return (_message_point(message) * Scalar(self._secret)).to_compressed_bytes()

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Tell whether ``signature`` is valid for ``message`` (CoreVerify of the draft)."""
        try:
            point = decode_signature(signature)
        except BLSKeyError:
            return False
        # e(PK, H(m)) == e(G1, signature), checked as e(PK, H(m)) * e(-G1, signature) == 1.
        return GT.pairing_check([self._public, -G1Point()], [_message_point(message), point])
