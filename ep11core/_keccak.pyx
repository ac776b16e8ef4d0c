# cython: language_level=3
"""The Keccak-f[1600] sponge of FIPS 202: SHA-3 and the SHAKE extendable-output functions.

OpenSSL 3.0 has no public SHA-3 context structure and cannot squeeze a SHAKE output in parts,
so the sponge runs here. ``_keccak.pxd`` declares the C-level interface.
"""

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
# The rho and pi steps visit the lanes other than (0, 0) in one cycle, starting at lane 1:
# lane PI[i] takes the previous lane of the cycle rotated left by RHO[i] bits, with
#   RHO = 1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44
#   PI = 10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1
# Lane (x, y) has index x + 5y. keccak_permute writes these moves out one by one.


cdef inline uint64_t _rotate_left(uint64_t value, unsigned int bits) noexcept nogil:
    return (value << bits) | (value >> (64 - bits))


cdef void keccak_permute(unsigned char *state) noexcept nogil:
    """Apply Keccak-f[1600] to the 200-byte state in place.

    The round is written out lane by lane with constant indices in place of loops over index
    tables, for speed. The rho and pi lines follow the RHO and PI cycle above.
    """
    cdef uint64_t a[25]
    cdef uint64_t b[25]
    cdef uint64_t c0, c1, c2, c3, c4
    cdef uint64_t d0, d1, d2, d3, d4
    cdef int i
    cdef int j
    cdef int round_index
    for i in range(25):
        a[i] = 0
        for j in range(8):
            a[i] |= (<uint64_t>state[8 * i + j]) << (8 * j)
    for round_index in range(_ROUNDS):
        # theta: each lane takes the parities of two neighbouring columns.
        c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20]
        c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21]
        c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22]
        c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23]
        c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24]
        d0 = c4 ^ _rotate_left(c1, 1)
        d1 = c0 ^ _rotate_left(c2, 1)
        d2 = c1 ^ _rotate_left(c3, 1)
        d3 = c2 ^ _rotate_left(c4, 1)
        d4 = c3 ^ _rotate_left(c0, 1)
        # theta, rho and pi in one pass over the cycle.
        b[0] = a[0] ^ d0
        b[10] = _rotate_left(a[1] ^ d1, 1)
        b[7] = _rotate_left(a[10] ^ d0, 3)
        b[11] = _rotate_left(a[7] ^ d2, 6)
        b[17] = _rotate_left(a[11] ^ d1, 10)
        b[18] = _rotate_left(a[17] ^ d2, 15)
        b[3] = _rotate_left(a[18] ^ d3, 21)
        b[5] = _rotate_left(a[3] ^ d3, 28)
        b[16] = _rotate_left(a[5] ^ d0, 36)
        b[8] = _rotate_left(a[16] ^ d1, 45)
        b[21] = _rotate_left(a[8] ^ d3, 55)
        b[24] = _rotate_left(a[21] ^ d1, 2)
        b[4] = _rotate_left(a[24] ^ d4, 14)
        b[15] = _rotate_left(a[4] ^ d4, 27)
        b[23] = _rotate_left(a[15] ^ d0, 41)
        b[19] = _rotate_left(a[23] ^ d3, 56)
        b[13] = _rotate_left(a[19] ^ d4, 8)
        b[12] = _rotate_left(a[13] ^ d3, 25)
        b[2] = _rotate_left(a[12] ^ d2, 43)
        b[20] = _rotate_left(a[2] ^ d2, 62)
        b[14] = _rotate_left(a[20] ^ d0, 18)
        b[22] = _rotate_left(a[14] ^ d4, 39)
        b[9] = _rotate_left(a[22] ^ d2, 61)
        b[6] = _rotate_left(a[9] ^ d4, 20)
        b[1] = _rotate_left(a[6] ^ d1, 44)
        # chi
        a[0] = b[0] ^ (~b[1] & b[2])
        a[1] = b[1] ^ (~b[2] & b[3])
        a[2] = b[2] ^ (~b[3] & b[4])
        a[3] = b[3] ^ (~b[4] & b[0])
        a[4] = b[4] ^ (~b[0] & b[1])
        a[5] = b[5] ^ (~b[6] & b[7])
        a[6] = b[6] ^ (~b[7] & b[8])
        a[7] = b[7] ^ (~b[8] & b[9])
        a[8] = b[8] ^ (~b[9] & b[5])
        a[9] = b[9] ^ (~b[5] & b[6])
        a[10] = b[10] ^ (~b[11] & b[12])
        a[11] = b[11] ^ (~b[12] & b[13])
        a[12] = b[12] ^ (~b[13] & b[14])
        a[13] = b[13] ^ (~b[14] & b[10])
        a[14] = b[14] ^ (~b[10] & b[11])
        a[15] = b[15] ^ (~b[16] & b[17])
        a[16] = b[16] ^ (~b[17] & b[18])
        a[17] = b[17] ^ (~b[18] & b[19])
        a[18] = b[18] ^ (~b[19] & b[15])
        a[19] = b[19] ^ (~b[15] & b[16])
        a[20] = b[20] ^ (~b[21] & b[22])
        a[21] = b[21] ^ (~b[22] & b[23])
        a[22] = b[22] ^ (~b[23] & b[24])
        a[23] = b[23] ^ (~b[24] & b[20])
        a[24] = b[24] ^ (~b[20] & b[21])
        # iota
        a[0] ^= _ROUND_CONSTANTS[round_index]

    for i in range(25):
        for j in range(8):
            state[8 * i + j] = <unsigned char>(a[i] >> (8 * j))
    OPENSSL_cleanse(a, sizeof(a))
    OPENSSL_cleanse(b, sizeof(b))


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
