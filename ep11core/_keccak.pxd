# cython: language_level=3
"""The Keccak-f[1600] sponge of FIPS 202, shared by the SHA-3 hashes and the lattice schemes.

The context is plain bytes (no pointers), so a SHA-3 state blob can carry it. Every function
runs without the GIL and cannot fail.
"""

cdef enum:
    KECCAK_STATE_BYTES = 200
    SHAKE128_RATE = 168
    SHAKE256_RATE = 136
    SHA3_256_RATE = 136
    SHA3_512_RATE = 72


cdef struct KeccakContext:
    # The 25 lanes of the Keccak state, each stored little-endian, as FIPS 202 orders the bits.
    unsigned char state[KECCAK_STATE_BYTES]
    # While absorbing: bytes absorbed into the current block. While squeezing: bytes of the
    # current block already output. Always below ``rate``.
    unsigned int num
    # The block size (rate) and the digest size, both in bytes; md_len is 0 for SHAKE.
    unsigned int rate
    unsigned int md_len


cdef void keccak_permute(unsigned char *state) noexcept nogil
cdef void keccak_start(KeccakContext *context, unsigned int rate, unsigned int md_len) noexcept nogil
cdef void keccak_absorb(
    KeccakContext *context, const unsigned char *data, size_t length
) noexcept nogil
cdef void sha3_finish(KeccakContext *context, unsigned char *out) noexcept nogil
cdef void shake_finish_absorb(KeccakContext *context) noexcept nogil
cdef void shake_squeeze(KeccakContext *context, unsigned char *out, size_t length) noexcept nogil
cdef void keccak_clear(KeccakContext *context) noexcept nogil
cdef void shake(
    unsigned int rate,
    const unsigned char *data,
    size_t length,
    unsigned char *out,
    size_t out_length,
) noexcept nogil
cdef void sha3(
    unsigned int rate,
    unsigned int md_len,
    const unsigned char *data,
    size_t length,
    unsigned char *out,
) noexcept nogil
