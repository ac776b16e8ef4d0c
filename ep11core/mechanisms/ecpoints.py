"""Point arithmetic and key encodings on the 256-bit curves of BIP32, SLIP-10 and IBM Schnorr.

The curves are secp256k1 (SEC 2) and P-256 (FIPS 186-4), both short Weierstrass curves over a
prime field. Points are affine ``(x, y)`` tuples of Python integers, and ``None`` is the point at
infinity.

Python integer arithmetic does not run in constant time. Only public values go through
``add`` and ``multiply``: public keys, signature values and the tweaks of public-key
derivation. A multiplication by a secret scalar (a private key or a signature nonce) goes
through libcrypto instead (``public_point``), whose EC code is constant time.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

from .. import _crypto
from ..keys import CURVE_BY_OPENSSL_NAME, encode_oid

Point = Optional[Tuple[int, int]]

EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1"


@dataclass(frozen=True)
class WeierstrassCurve:
    """y^2 = x^3 + a*x + b over GF(p), with base point (gx, gy) of prime order n."""

    openssl_name: str
    p: int
    a: int
    b: int
    n: int
    gx: int
    gy: int

    @property
    def generator(self) -> Point:
        return (self.gx, self.gy)

    @property
    def size(self) -> int:
        """Bytes of a field element or a scalar."""
        return (self.p.bit_length() + 7) // 8


SECP256K1 = WeierstrassCurve(
    "secp256k1",
    p=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F,
    a=0,
    b=7,
    n=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    gx=0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    gy=0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)
P256 = WeierstrassCurve(
    "prime256v1",
    p=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    a=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
    b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    gx=0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    gy=0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)
CURVE_ARITHMETIC = {curve.openssl_name: curve for curve in (SECP256K1, P256)}


def add(curve: WeierstrassCurve, first: Point, second: Point) -> Point:
    """Return first + second."""
    if first is None:
        return second
    if second is None:
        return first
    x1, y1 = first
    x2, y2 = second
    p = curve.p
    if x1 == x2:
        if (y1 + y2) % p == 0:
            return None
        slope = (3 * x1 * x1 + curve.a) * pow(2 * y1, -1, p) % p
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, p) % p
    x3 = (slope * slope - x1 - x2) % p
    return (x3, (slope * (x1 - x3) - y1) % p)


def negate(curve: WeierstrassCurve, point: Point) -> Point:
    if point is None:
        return None
    return (point[0], (-point[1]) % curve.p)


def multiply(curve: WeierstrassCurve, scalar: int, point: Point) -> Point:
    """Return scalar * point by double-and-add; for public scalars only (not constant time)."""
    result = None
    addend = point
    scalar %= curve.n
    while scalar:
        if scalar & 1:
            result = add(curve, result, addend)
        addend = add(curve, addend, addend)
        scalar >>= 1
    return result


def compress(curve: WeierstrassCurve, point: Point) -> bytes:
    """SEC 1 compressed encoding: 02 or 03 (the parity of y), then x."""
    x, y = point
    return bytes((2 | (y & 1),)) + x.to_bytes(curve.size, "big")


def uncompressed(curve: WeierstrassCurve, point: Point) -> bytes:
    """SEC 1 uncompressed encoding: 04, x, y."""
    x, y = point
    return b"\x04" + x.to_bytes(curve.size, "big") + y.to_bytes(curve.size, "big")


def decode_point(curve: WeierstrassCurve, encoded: bytes) -> Point:
    """Parse a SEC 1 compressed or uncompressed point; raise ValueError if it is not on the curve."""
    size = curve.size
    p = curve.p
    if len(encoded) == 2 * size + 1 and encoded[0] == 4:
        x = int.from_bytes(encoded[1 : 1 + size], "big")
        y = int.from_bytes(encoded[1 + size :], "big")
    elif len(encoded) == size + 1 and encoded[0] in (2, 3):
        x = int.from_bytes(encoded[1:], "big")
        if x >= p:
            raise ValueError("the x-coordinate exceeds the field")
        # Both curves have p = 3 (mod 4), so the square root is a single exponentiation.
        y = pow((x * x * x + curve.a * x + curve.b) % p, (p + 1) // 4, p)
        if (y & 1) != (encoded[0] & 1):
            y = p - y
    else:
        raise ValueError(f"a {len(encoded)}-byte string is not an encoded point")
    if x >= p or y >= p or (y * y - (x * x * x + curve.a * x + curve.b)) % p:
        raise ValueError("the point is not on the curve")
    return (x, y)


# --- DER encodings of EC keys (RFC 5480 SubjectPublicKeyInfo, RFC 5915 inside PKCS #8)


def _der(tag: int, body: bytes) -> bytes:
    length = len(body)
    if length < 0x80:
        return bytes((tag, length)) + body
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + body


def _algorithm_identifier(curve: WeierstrassCurve) -> bytes:
    named_curve = CURVE_BY_OPENSSL_NAME[curve.openssl_name].der_oid
    return _der(0x30, encode_oid(EC_PUBLIC_KEY_OID) + named_curve)


def spki(curve: WeierstrassCurve, point: Point) -> bytes:
    """Return the DER SubjectPublicKeyInfo of ``point`` with the namedCurve parameter."""
    bit_string = _der(0x03, b"\x00" + uncompressed(curve, point))
    return _der(0x30, _algorithm_identifier(curve) + bit_string)


def private_key(curve: WeierstrassCurve, scalar: int):
    """Return the libcrypto private key with the secret ``scalar``; libcrypto derives the point."""
    ec_private_key = _der(
        0x30, _der(0x02, b"\x01") + _der(0x04, scalar.to_bytes(curve.size, "big"))
    )
    pkcs8 = _der(0x30, _der(0x02, b"\x00") + _algorithm_identifier(curve) + _der(0x04, ec_private_key))
    return _crypto.PKey.from_pkcs8(pkcs8)


def public_point(curve: WeierstrassCurve, scalar: int) -> Point:
    """Return scalar * G, computed by libcrypto so a secret scalar is safe here."""
    return decode_point(curve, private_key(curve, scalar).ec_point)


def _read(data: bytes, offset: int, tag: int) -> Tuple[bytes, int]:
    """Return the content of the DER element with ``tag`` at ``offset`` and the next offset."""
    if offset + 2 > len(data) or data[offset] != tag:
        raise ValueError(f"expected DER tag {tag:#04x}")
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("truncated DER element")
    return data[start:end], end


def private_scalar(pkcs8: bytes) -> int:
    """Return the secret scalar of a DER PKCS #8 EC private key (RFC 5915 inside RFC 5208)."""
    info, _ = _read(pkcs8, 0, 0x30)
    _, offset = _read(info, 0, 0x02)
    _, offset = _read(info, offset, 0x30)
    wrapped, _ = _read(info, offset, 0x04)
    ec_private_key, _ = _read(wrapped, 0, 0x30)
    _, offset = _read(ec_private_key, 0, 0x02)
    secret, _ = _read(ec_private_key, offset, 0x04)
    return int.from_bytes(secret, "big")

