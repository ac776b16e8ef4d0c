"""Small DER encoders and strict decoders.

DSA and DH domain parameters (Dss-Parms of RFC 3279, DHParameter of PKCS #3) are a SEQUENCE of
non-negative INTEGERs. The IBM Dilithium and Kyber keys (``latticekeys``) use the element
functions for their SubjectPublicKeyInfo and PKCS #8 forms.
"""

from typing import List


class DERError(ValueError):
    """The input is not DER of the expected shape."""


_INTEGER = 0x02
_SEQUENCE = 0x30
# The longest DER length field read here: 4 bytes, far above any key size.
_MAX_LENGTH_BYTES = 4


def _header(tag: int, length: int) -> bytes:
    if length < 0x80:
        return bytes((tag, length))
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big")


def encode_element(tag: int, content: bytes) -> bytes:
    """DER-encode one element: the tag, the shortest length field, then ``content``."""
    return _header(tag, len(content)) + content


def encode_oid(dotted: str) -> bytes:
    """DER-encode an OBJECT IDENTIFIER given in dotted form."""
    numbers = [int(part) for part in dotted.split(".")]
    arcs = [numbers[0] * 40 + numbers[1]] + numbers[2:]
    body = bytearray()
    for arc in arcs:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return bytes((0x06, len(body))) + bytes(body)


def encode_integer(value: int) -> bytes:
    """DER-encode a non-negative INTEGER."""
    if value < 0:
        raise ValueError(f"only non-negative INTEGERs are encoded here, got {value}")
    # One more bit than the value needs keeps the sign bit clear.
    content = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return _header(_INTEGER, len(content)) + content


def encode_integer_sequence(values: List[int]) -> bytes:
    """DER-encode a SEQUENCE of non-negative INTEGERs."""
    content = b"".join(encode_integer(value) for value in values)
    return _header(_SEQUENCE, len(content)) + content


def read_element(data: bytes, offset: int, tag: int):
    """Return the content of the element at ``offset`` with ``tag`` and the offset after it."""
    if offset + 2 > len(data) or data[offset] != tag:
        raise DERError(f"expected tag {tag:#04x} at offset {offset}")
    first = data[offset + 1]
    offset += 2
    if first < 0x80:
        length = first
    else:
        size = first & 0x7F
        if not 1 <= size <= _MAX_LENGTH_BYTES or offset + size > len(data):
            raise DERError("invalid length field")
        length = int.from_bytes(data[offset : offset + size], "big")
        if length < 0x80 or data[offset] == 0:
            raise DERError("the length is not in its shortest form")
        offset += size
    end = offset + length
    if end > len(data):
        raise DERError("an element runs past the end of the data")
    return data[offset:end], end


def decode_integer_sequence(data: bytes) -> List[int]:
    """Decode a DER SEQUENCE of non-negative INTEGERs that spans all of ``data``."""
    content, end = read_element(bytes(data), 0, _SEQUENCE)
    if end != len(data):
        raise DERError(f"{len(data) - end} bytes follow the SEQUENCE")
    values = []
    offset = 0
    while offset < len(content):
        integer, offset = read_element(content, offset, _INTEGER)
        if not integer:
            raise DERError("an INTEGER has no content")
        if integer[0] & 0x80:
            raise DERError("an INTEGER is negative")
        if len(integer) > 1 and integer[0] == 0 and not integer[1] & 0x80:
            raise DERError("an INTEGER is not in its shortest form")
        values.append(int.from_bytes(integer, "big"))
    return values
