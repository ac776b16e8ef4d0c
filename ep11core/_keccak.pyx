# cython: language_level=3
"""The Keccak-f[1600] sponge of FIPS 202: SHA-3 and the SHAKE extendable-output functions.

OpenSSL 3.0 has no public SHA-3 context structure and cannot squeeze a SHAKE output in parts,
so the sponge runs here. ``_keccak.pxd`` declares the C-level interface.
"""

cimport cython
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset

from ep11core._openssl.crypto cimport OPENSSL_cleanse

cdef enum:
    _ROUNDS = 24
    # Domain separation bits and the first padding bit: 01 for SHA-3, 1111 for SHAKE.
    _SHA3_DOMAIN = 0x06
    _SHAKE_DOMAIN = 0x1F

# Round constants of the iota step.
cdef uint64_t _ROUND_CONSTANTS[_ROUNDS]
_ROUND_CONSTANTS[:] = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]
# The rho and pi steps visit the lanes other than (0, 0) in one cycle: lane PI_LANES[i] takes
# the previous lane of the cycle rotated left by RHO_OFFSETS[i] bits. Lane (x, y) has index
# x + 5y.
cdef unsigned int _RHO_OFFSETS[_ROUNDS]
_RHO_OFFSETS[:] = [
    1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44,
]
cdef unsigned int _PI_LANES[_ROUNDS]
_PI_LANES[:] = [
    10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1,
]


cdef inline uint64_t _rotate_left(uint64_t value, unsigned int bits) noexcept nogil:
    return (value << bits) | (value >> (64 - bits))


@cython.cdivision(True)
cdef void keccak_permute(unsigned char *state) noexcept nogil:
    """Apply Keccak-f[1600] to the 200-byte state in place."""
    cdef uint64_t lanes[25]
    cdef uint64_t column[5]
    cdef uint64_t carried
    cdef uint64_t displaced
    cdef uint64_t theta
    cdef int i
    cdef int j
    cdef int x
    cdef int y
    cdef int round_index
    for i in range(25):
        lanes[i] = 0
        for j in range(8):
            lanes[i] |= (<uint64_t>state[8 * i + j]) << (8 * j)
    for round_index in range(_ROUNDS):
        # theta: XOR each lane with the parities of two neighbouring columns.
        for x in range(5):
            column[x] = lanes[x] ^ lanes[x + 5] ^ lanes[x + 10] ^ lanes[x + 15] ^ lanes[x + 20]
        for x in range(5):
            theta = column[(x + 4) % 5] ^ _rotate_left(column[(x + 1) % 5], 1)
            for y in range(0, 25, 5):
                lanes[y + x] ^= theta
        # rho and pi: rotate each lane and move it to its new position.
        carried = lanes[1]
        for i in range(_ROUNDS):
            j = _PI_LANES[i]
            displaced = lanes[j]
            lanes[j] = _rotate_left(carried, _RHO_OFFSETS[i])
            carried = displaced
        # chi: the only non-linear step, along each row.
        for y in range(0, 25, 5):
            for x in range(5):
                column[x] = lanes[y + x]
            for x in range(5):
                lanes[y + x] = column[x] ^ ((~column[(x + 1) % 5]) & column[(x + 2) % 5])
        # iota
        lanes[0] ^= _ROUND_CONSTANTS[round_index]
    for i in range(25):
        for j in range(8):
            state[8 * i + j] = <unsigned char>(lanes[i] >> (8 * j))
    OPENSSL_cleanse(lanes, sizeof(lanes))
    OPENSSL_cleanse(column, sizeof(column))


cdef void keccak_start(KeccakContext *context, unsigned int rate, unsigned int md_len) noexcept nogil:
    memset(context, 0, sizeof(KeccakContext))
    context.rate = rate
    context.md_len = md_len


cdef void keccak_absorb(
    KeccakContext *context, const unsigned char *data, size_t length
) noexcept nogil:
    cdef size_t i
    for i in range(length):
        context.state[context.num] ^= data[i]
        context.num += 1
        if context.num == context.rate:
            keccak_permute(context.state)
            context.num = 0


cdef inline void _pad(KeccakContext *context, unsigned char domain) noexcept nogil:
    # The domain bits and the first bit of the pad10*1 rule go after the data, and the last
    # bit of the padding ends the block (0x80).
    context.state[context.num] ^= domain
    context.state[context.rate - 1] ^= 0x80
    keccak_permute(context.state)
    context.num = 0


cdef void sha3_finish(KeccakContext *context, unsigned char *out) noexcept nogil:
    """Pad with the SHA-3 domain and write the md_len-byte digest."""
    _pad(context, _SHA3_DOMAIN)
    memcpy(out, context.state, context.md_len)


cdef void shake_finish_absorb(KeccakContext *context) noexcept nogil:
    """Pad with the SHAKE domain; the context then squeezes output."""
    _pad(context, _SHAKE_DOMAIN)


cdef void shake_squeeze(KeccakContext *context, unsigned char *out, size_t length) noexcept nogil:
    """Write the next ``length`` bytes of SHAKE output; calls may squeeze any amounts."""
    cdef size_t chunk
    while length > 0:
        if context.num == context.rate:
            keccak_permute(context.state)
            context.num = 0
        chunk = context.rate - context.num
        if chunk > length:
            chunk = length
        memcpy(out, context.state + context.num, chunk)
        context.num += chunk
        out += chunk
        length -= chunk


cdef void keccak_clear(KeccakContext *context) noexcept nogil:
    OPENSSL_cleanse(context, sizeof(KeccakContext))


cdef void shake(
    unsigned int rate,
    const unsigned char *data,
    size_t length,
    unsigned char *out,
    size_t out_length,
) noexcept nogil:
    """Write ``out_length`` bytes of SHAKE128 (rate 168) or SHAKE256 (rate 136) of ``data``."""
    cdef KeccakContext context
    keccak_start(&context, rate, 0)
    keccak_absorb(&context, data, length)
    shake_finish_absorb(&context)
    shake_squeeze(&context, out, out_length)
    keccak_clear(&context)


cdef void sha3(
    unsigned int rate,
    unsigned int md_len,
    const unsigned char *data,
    size_t length,
    unsigned char *out,
) noexcept nogil:
    """Write the SHA-3 digest of ``data`` (SHA3-256: rate 136, md_len 32; SHA3-512: 72, 64)."""
    cdef KeccakContext context
    keccak_start(&context, rate, md_len)
    keccak_absorb(&context, data, length)
    sha3_finish(&context, out)
    keccak_clear(&context)


def shake_digest(int bits, bytes data, Py_ssize_t length):
    """Return ``length`` bytes of SHAKE128 or SHAKE256 (``bits`` 128 or 256) of ``data``."""
    if bits not in (128, 256):
        raise ValueError(f"SHAKE{bits} does not exist; use 128 or 256")
    if length < 0:
        raise ValueError(f"output length must not be negative, got {length}")
    cdef unsigned int rate = SHAKE128_RATE if bits == 128 else SHAKE256_RATE
    cdef bytearray out = bytearray(length)
    cdef unsigned char *out_pointer = out
    cdef const unsigned char *data_pointer = data
    cdef size_t data_length = len(data)
    with nogil:
        shake(rate, data_pointer, data_length, out_pointer, <size_t>length)
    return bytes(out)
