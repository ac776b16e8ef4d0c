# cython: language_level=3, cdivision=True
"""CRYSTALS-Dilithium signatures in the five strengths of IBM's CKM_IBM_DILITHIUM.

All variants work over Z_q[X]/(X^256 + 1) with q = 8380417 and share one core; a parameter
record selects the strength and the algorithm version.

``r2-6x5``
    Round 2 (reference code of the NIST round-2 submission), mode 4 "very high": K = 6, L = 5,
    eta = 3, beta = 175, omega = 120, tau = 60, d = 14, gamma1 = (q-1)/16, gamma2 = gamma1/2,
    48-byte CRH outputs. IBM calls it round 2 "high" (OID 1.3.6.1.4.1.2.267.1.6.5). Keys and
    signatures are byte for byte those of PQClean's round-2 ``dilithium4``.
``r2-8x7``
    Round 2 never published an 8x7 parameter set, so this one is our reading of IBM's
    OID 1.3.6.1.4.1.2.267.1.8.7: the round-2 algorithm and encodings with K = 8, L = 7,
    eta = 2 (still the 3-bit round-2 packing), beta = 120 = tau * eta (the exact bound of
    ||c s1||_inf), omega = 140 and the other values of ``r2-6x5``. Its signature is
    7*640 + 140 + 8 + 40 = 4668 bytes, which is IBM's documented maximum Dilithium signature
    size. That match is the reason for omega = 140.
``r3-4x4``, ``r3-6x5``, ``r3-8x7``
    CRYSTALS-Dilithium round 3, specification version 3.1 (Dilithium2, Dilithium3,
    Dilithium5), with deterministic signing, the default of the round-3 reference code:
    32-byte tr, 64-byte mu and rho', and a 32-byte challenge seed first in the signature.
    These are not ML-DSA (FIPS 204), which changed tr, the challenge seed, the signing seed
    and the message encoding.

Key generation takes a 32-byte seed. Round 3 expands it with SHAKE256 to rho, rho' and K, as
its reference code does. The round-2 reference draws those 96 bytes from the random source
directly, so here the round-2 variants take them from SHAKE256(seed, 96), which is our choice.
Keys and signatures use the reference encodings, and signatures are detached.

Coefficients are int32 values, products go through Montgomery reduction and sums through a
Barrett-style reduction, and the NTT has Montgomery-form twiddle factors. Every public
function validates its Python inputs. keypair, sign, verify and public_key_of release the GIL
while they compute and wipe their working memory before they return.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

from ep11core._keccak cimport (
    SHAKE128_RATE,
    SHAKE256_RATE,
    KeccakContext,
    keccak_absorb,
    keccak_clear,
    keccak_start,
    shake,
    shake_finish_absorb,
    shake_squeeze,
)
from ep11core._openssl.crypto cimport OPENSSL_cleanse, OPENSSL_clear_free, OPENSSL_malloc

cdef enum:
    _N = 256
    _Q = 8380417
    # q^-1 mod 2^32, for Montgomery reduction with R = 2^32.
    _QINV = 58728449
    _SEED_BYTES = 32
    _MAX_K = 8
    _MAX_L = 7
    _MAX_CRH_BYTES = 64
    # K polynomials of w1 at 6 bits per coefficient at most.
    _MAX_W1_PACKED_BYTES = _MAX_K * 6 * _N // 8
    _MAX_SEED_EXPANSION = 128

# Results of the nogil cores.
cdef enum:
    _OK = 0
    _INVALID_SIGNATURE = 1
    _SECRET_OUT_OF_RANGE = 2
    _PRIVATE_KEY_INCONSISTENT = 3


cdef struct Params:
    # 2 or 3: which round of the Dilithium submission the variant follows.
    int round
    int k
    int l
    int eta
    int tau
    int beta
    int omega
    int32_t gamma1
    int32_t gamma2
    int d
    # SHAKE256 output lengths: tr = H(pk), mu = H(tr || M), the signing seed
    # rho' = H(K || mu), the key-generation seed rho' and the expansion of the 32-byte seed.
    int tr_bytes
    int mu_bytes
    int signing_seed_bytes
    int secret_seed_bytes
    int seed_expansion_bytes
    # Bits per packed coefficient.
    int eta_bits
    int t1_bits
    int z_bits
    int w1_bits
    # Encoded sizes in bytes.
    int public_key_bytes
    int private_key_bytes
    int signature_bytes


cdef struct Workspace:
    # A, in the NTT domain, row-major: entry (i, j) is at i * L + j.
    int32_t matrix[_MAX_K * _MAX_L][_N]
    int32_t s1[_MAX_L][_N]
    int32_t s2[_MAX_K][_N]
    int32_t t0[_MAX_K][_N]
    int32_t t1[_MAX_K][_N]
    int32_t y[_MAX_L][_N]
    int32_t z[_MAX_L][_N]
    int32_t w[_MAX_K][_N]
    int32_t w1[_MAX_K][_N]
    int32_t w0[_MAX_K][_N]
    int32_t hint[_MAX_K][_N]
    int32_t product[_MAX_K][_N]
    int32_t challenge[_N]
    int32_t challenge_hat[_N]
    uint8_t seeds[_MAX_SEED_EXPANSION]
    uint8_t rho[_SEED_BYTES]
    uint8_t key[_SEED_BYTES]
    uint8_t tr[_MAX_CRH_BYTES]
    uint8_t mu[_MAX_CRH_BYTES]
    uint8_t signing_seed[_MAX_CRH_BYTES]
    uint8_t challenge_seed[_SEED_BYTES]
    uint8_t w1_packed[_MAX_W1_PACKED_BYTES]
    # Encoded outputs, copied into Python bytes and then wiped.
    uint8_t public_key[4096]
    uint8_t private_key[8192]
    uint8_t signature[8192]


VARIANTS = ("r2-6x5", "r2-8x7", "r3-4x4", "r3-6x5", "r3-8x7")

cdef Params _PARAMS[5]
# Twiddle factors of the NTT: zeta^bitreverse8(i) times 2^32, centred mod q, for the
# 512th root of unity zeta = 1753.
cdef int32_t _ZETAS[_N]
# 2^64 / 256 mod q: the last step of the inverse NTT divides by 256 and leaves the
# Montgomery domain.
cdef int32_t _INVERSE_NTT_FACTOR


def _fill_tables():
    montgomery = pow(2, 32, _Q)
    for i in range(_N):
        exponent = int(f"{i:08b}"[::-1], 2)
        zeta = montgomery * pow(1753, exponent, _Q) % _Q
        _ZETAS[i] = zeta - _Q if zeta > _Q // 2 else zeta
    global _INVERSE_NTT_FACTOR
    _INVERSE_NTT_FACTOR = montgomery * montgomery * pow(256, -1, _Q) % _Q


def _fill_params(int index, int round_number, int k, int l, int eta, int tau, int beta,
                 int omega, int gamma1, int gamma2, int d):
    cdef Params *p = &_PARAMS[index]
    p.round = round_number
    p.k = k
    p.l = l
    p.eta = eta
    p.tau = tau
    p.beta = beta
    p.omega = omega
    p.gamma1 = gamma1
    p.gamma2 = gamma2
    p.d = d
    p.t1_bits = 23 - d
    p.z_bits = (2 * gamma1 - 1).bit_length()
    p.w1_bits = ((_Q - 1) // (2 * gamma2) - 1).bit_length()
    p.eta_bits = (2 * eta).bit_length()
    if round_number == 2:
        p.tr_bytes = 48
        p.mu_bytes = 48
        p.signing_seed_bytes = 48
        p.secret_seed_bytes = 32
        p.seed_expansion_bytes = 96
        # The signature ends with the challenge: a 32-byte bitmap of its nonzero
        # coefficients and 8 bytes of their signs.
        p.signature_bytes = l * 32 * p.z_bits + omega + k + 40
    else:
        p.tr_bytes = 32
        p.mu_bytes = 64
        p.signing_seed_bytes = 64
        p.secret_seed_bytes = 64
        p.seed_expansion_bytes = 128
        p.signature_bytes = 32 + l * 32 * p.z_bits + omega + k
    p.public_key_bytes = 32 + k * 32 * p.t1_bits
    p.private_key_bytes = 64 + p.tr_bytes + (l + k) * 32 * p.eta_bits + k * 32 * d


_fill_tables()
_ROUND2_GAMMA1 = (_Q - 1) // 16
_fill_params(0, 2, 6, 5, 3, 60, 175, 120, _ROUND2_GAMMA1, _ROUND2_GAMMA1 // 2, 14)
# NOTE: round 2 defined no 8x7 set, so r2-8x7 is our reading of IBM's OID (see the module
# docstring). No IBM keys or signatures were available to confirm it.
_fill_params(1, 2, 8, 7, 2, 60, 120, 140, _ROUND2_GAMMA1, _ROUND2_GAMMA1 // 2, 14)
_fill_params(2, 3, 4, 4, 2, 39, 78, 80, 1 << 17, (_Q - 1) // 88, 13)
_fill_params(3, 3, 6, 5, 4, 49, 196, 55, 1 << 19, (_Q - 1) // 32, 13)
_fill_params(4, 3, 8, 7, 2, 60, 120, 75, 1 << 19, (_Q - 1) // 32, 13)


# ---------------------------------------------------------------------------------------------
# Arithmetic mod q


cdef inline int32_t _montgomery_reduce(int64_t a) noexcept nogil:
    """Return a * 2^-32 mod q, in (-q, q) when |a| < 2^31 q."""
    cdef int32_t t = <int32_t>(<uint32_t>a * <uint32_t>_QINV)
    return <int32_t>((a - <int64_t>t * _Q) >> 32)


cdef inline int32_t _reduce32(int32_t a) noexcept nogil:
    """Return a representative of a mod q in [-6283009, 6283008], for a < 2^31 - 2^22."""
    cdef int32_t t = (a + (1 << 22)) >> 23
    return a - t * _Q


cdef inline int32_t _freeze(int32_t a) noexcept nogil:
    """Return the representative of a mod q in [0, q)."""
    a = _reduce32(a)
    return a + ((a >> 31) & _Q)


cdef inline int32_t _centre(int32_t a) noexcept nogil:
    """Map a in [0, q) to the representative in [-(q-1)/2, (q-1)/2]."""
    return a - (_Q & (((_Q - 1) // 2 - a) >> 31))


cdef void _ntt(int32_t *a) noexcept nogil:
    """Transform a in place to the NTT domain (Cooley-Tukey, output in bit-reversed order).

    Inputs below q in absolute value grow by less than q per level, so outputs stay below 9q.
    """
    cdef int length = 128
    cdef int index = 0
    cdef int start
    cdef int j
    cdef int32_t zeta
    cdef int32_t t
    while length > 0:
        start = 0
        while start < _N:
            index += 1
            zeta = _ZETAS[index]
            for j in range(start, start + length):
                t = _montgomery_reduce(<int64_t>zeta * a[j + length])
                a[j + length] = a[j] - t
                a[j] = a[j] + t
            start += 2 * length
        length >>= 1


cdef void _inverse_ntt(int32_t *a) noexcept nogil:
    """Transform a in place back from the NTT domain and multiply by 2^32.

    Inputs must be below q in absolute value: the first coefficient sums all 256 of them
    before the last scaling, and 256 q still fits in an int32. Outputs are below q.
    """
    cdef int length = 1
    cdef int index = _N
    cdef int start
    cdef int j
    cdef int32_t zeta
    cdef int32_t t
    while length < _N:
        start = 0
        while start < _N:
            index -= 1
            zeta = -_ZETAS[index]
            for j in range(start, start + length):
                t = a[j]
                a[j] = t + a[j + length]
                a[j + length] = _montgomery_reduce(<int64_t>zeta * (t - a[j + length]))
            start += 2 * length
        length <<= 1
    for j in range(_N):
        a[j] = _montgomery_reduce(<int64_t>_INVERSE_NTT_FACTOR * a[j])


cdef inline void _pointwise(int32_t *out, const int32_t *a, const int32_t *b) noexcept nogil:
    cdef int n
    for n in range(_N):
        out[n] = _montgomery_reduce(<int64_t>a[n] * b[n])


cdef void _multiply_by_challenge(
    int32_t *out, const int32_t *challenge_hat, const int32_t *secret_hat
) noexcept nogil:
    """Set out to c * s as integers in [0, q), from c and s in the NTT domain."""
    cdef int n
    _pointwise(out, challenge_hat, secret_hat)
    _inverse_ntt(out)
    for n in range(_N):
        out[n] = _freeze(out[n])


cdef void _matrix_times_vector(
    const Params *p, Workspace *ws, int32_t (*vector_hat)[_N], int32_t (*out)[_N]
) noexcept nogil:
    """Set out to A * v in the NTT domain, reduced for the inverse NTT."""
    cdef int i
    cdef int j
    cdef int n
    cdef int32_t total
    for i in range(p.k):
        for n in range(_N):
            total = 0
            for j in range(p.l):
                total += _montgomery_reduce(
                    <int64_t>ws.matrix[i * p.l + j][n] * vector_hat[j][n]
                )
            out[i][n] = _reduce32(total)


# ---------------------------------------------------------------------------------------------
# Rounding


cdef inline int32_t _power2round(int32_t a, int32_t *low, int d) noexcept nogil:
    """Split a in [0, q) into high * 2^d + low with low in (-2^(d-1), 2^(d-1)]."""
    cdef int32_t high = (a + (1 << (d - 1)) - 1) >> d
    low[0] = a - (high << d)
    return high


cdef inline int32_t _decompose(int32_t a, int32_t *low, int32_t alpha) noexcept nogil:
    """Split a in [0, q) into high * alpha + low with low in (-alpha/2, alpha/2].

    When a - low = q - 1 the high part wraps to 0 and low becomes low - 1, as the
    specification's Decompose does.
    """
    cdef int32_t remainder = a % alpha
    cdef int32_t border
    remainder -= alpha & ((alpha // 2 - remainder) >> 31)
    border = -<int32_t>(a - remainder == _Q - 1)
    low[0] = remainder + border
    return ((a - remainder) // alpha) & ~border


cdef inline int32_t _make_hint(int32_t low, int32_t high, int32_t gamma2) noexcept nogil:
    """Return 1 when adding low (centred) to a value with high part high changes that part."""
    return (low > gamma2) | (low < -gamma2) | ((low == -gamma2) & (high != 0))


cdef inline int32_t _use_hint(int32_t a, int32_t hint, int32_t alpha) noexcept nogil:
    """Return the high part of a in [0, q), corrected by the hint bit."""
    cdef int32_t low
    cdef int32_t high = _decompose(a, &low, alpha)
    cdef int32_t modulus = (_Q - 1) // alpha
    if hint == 0:
        return high
    if low > 0:
        return 0 if high == modulus - 1 else high + 1
    return modulus - 1 if high == 0 else high - 1


cdef int _exceeds_norm(const int32_t *a, int32_t bound) noexcept nogil:
    """Return 1 when a centred coefficient of a has absolute value bound or more.

    Which coefficient fails may leak through timing; its sign does not.
    """
    cdef int n
    cdef int32_t magnitude
    for n in range(_N):
        magnitude = a[n] - ((a[n] >> 31) & (2 * a[n]))
        if magnitude >= bound:
            return 1
    return 0


# ---------------------------------------------------------------------------------------------
# Sampling


cdef void _absorb_with_nonce(
    KeccakContext *context, unsigned int rate, const uint8_t *seed, int seed_bytes,
    uint16_t nonce
) noexcept nogil:
    cdef uint8_t nonce_bytes[2]
    nonce_bytes[0] = <uint8_t>nonce
    nonce_bytes[1] = <uint8_t>(nonce >> 8)
    keccak_start(context, rate, 0)
    keccak_absorb(context, seed, seed_bytes)
    keccak_absorb(context, nonce_bytes, 2)
    shake_finish_absorb(context)


cdef void _sample_uniform(int32_t *a, const uint8_t *rho, uint16_t nonce) noexcept nogil:
    """Sample a matrix entry in the NTT domain: 23-bit chunks of SHAKE128(rho || nonce) below q."""
    cdef KeccakContext context
    # A multiple of 3 bytes, so no 3-byte chunk straddles two squeezes.
    cdef uint8_t buffer[SHAKE128_RATE]
    cdef int count = 0
    cdef int position
    cdef uint32_t value
    _absorb_with_nonce(&context, SHAKE128_RATE, rho, _SEED_BYTES, nonce)
    while count < _N:
        shake_squeeze(&context, buffer, SHAKE128_RATE)
        position = 0
        while position < SHAKE128_RATE and count < _N:
            value = (
                buffer[position]
                | (<uint32_t>buffer[position + 1] << 8)
                | (<uint32_t>(buffer[position + 2] & 0x7F) << 16)
            )
            position += 3
            if value < _Q:
                a[count] = value
                count += 1
    keccak_clear(&context)


cdef void _sample_eta(
    const Params *p, int32_t *a, const uint8_t *seed, uint16_t nonce
) noexcept nogil:
    """Sample a secret polynomial with coefficients in [-eta, eta] by rejection.

    Round 2 reads SHAKE128(seed || nonce), taking bits 0-2 and bits 5-7 of each byte and
    keeping values up to 2 eta. Round 3 reads SHAKE256(seed || nonce) in nibbles, keeping
    nibbles below 15 (reduced mod 5) for eta = 2 and below 9 for eta = 4.
    """
    cdef KeccakContext context
    cdef uint8_t buffer[SHAKE128_RATE]
    cdef unsigned int rate = SHAKE128_RATE if p.round == 2 else SHAKE256_RATE
    cdef int count = 0
    cdef int position
    cdef int half
    cdef int32_t candidate[2]
    _absorb_with_nonce(&context, rate, seed, p.secret_seed_bytes, nonce)
    while count < _N:
        shake_squeeze(&context, buffer, rate)
        position = 0
        while position < <int>rate and count < _N:
            if p.round == 2:
                candidate[0] = buffer[position] & 0x07
                candidate[1] = buffer[position] >> 5
            else:
                candidate[0] = buffer[position] & 0x0F
                candidate[1] = buffer[position] >> 4
            position += 1
            for half in range(2):
                if count == _N:
                    break
                if p.round == 2:
                    if candidate[half] <= 2 * p.eta:
                        a[count] = p.eta - candidate[half]
                        count += 1
                elif p.eta == 2:
                    if candidate[half] < 15:
                        a[count] = 2 - candidate[half] % 5
                        count += 1
                elif candidate[half] < 9:
                    a[count] = 4 - candidate[half]
                    count += 1
    keccak_clear(&context)
    OPENSSL_cleanse(buffer, sizeof(buffer))
    OPENSSL_cleanse(candidate, sizeof(candidate))


cdef void _unpack_bits(
    int32_t *a, const uint8_t *data, int bits, int32_t offset, bint subtract
) noexcept nogil:
    """Read 256 little-endian bit fields of the given width; store offset - v or v."""
    cdef uint64_t accumulator = 0
    cdef int available = 0
    cdef int n
    cdef uint32_t mask = (1u << bits) - 1
    cdef uint32_t value
    for n in range(_N):
        while available < bits:
            accumulator |= (<uint64_t>data[0]) << available
            data += 1
            available += 8
        value = <uint32_t>accumulator & mask
        accumulator >>= bits
        available -= bits
        a[n] = offset - <int32_t>value if subtract else <int32_t>value


cdef void _pack_bits(
    uint8_t *out, const int32_t *a, int bits, int32_t offset, bint subtract
) noexcept nogil:
    """Write 256 little-endian bit fields holding offset - a[n] or a[n]."""
    cdef uint64_t accumulator = 0
    cdef int filled = 0
    cdef int n
    cdef uint32_t value
    for n in range(_N):
        value = <uint32_t>(offset - a[n]) if subtract else <uint32_t>a[n]
        accumulator |= (<uint64_t>value) << filled
        filled += bits
        while filled >= 8:
            out[0] = <uint8_t>accumulator
            out += 1
            accumulator >>= 8
            filled -= 8


cdef void _sample_mask_round2(
    const Params *p, int32_t *a, const uint8_t *seed, uint16_t nonce
) noexcept nogil:
    """Sample y with coefficients in [-(gamma1-1), gamma1-1] the round-2 way.

    20-bit chunks of SHAKE256(seed || nonce) up to 2 gamma1 - 2 are kept.
    """
    cdef KeccakContext context
    # A multiple of 5 bytes, so no chunk pair straddles two squeezes.
    cdef uint8_t buffer[5 * SHAKE256_RATE]
    cdef int count = 0
    cdef int position
    cdef int half
    cdef uint32_t candidate[2]
    _absorb_with_nonce(&context, SHAKE256_RATE, seed, p.signing_seed_bytes, nonce)
    while count < _N:
        shake_squeeze(&context, buffer, sizeof(buffer))
        position = 0
        while position < <int>sizeof(buffer) and count < _N:
            candidate[0] = (
                buffer[position]
                | (<uint32_t>buffer[position + 1] << 8)
                | (<uint32_t>(buffer[position + 2] & 0x0F) << 16)
            )
            candidate[1] = (
                (buffer[position + 2] >> 4)
                | (<uint32_t>buffer[position + 3] << 4)
                | (<uint32_t>buffer[position + 4] << 12)
            )
            position += 5
            for half in range(2):
                if count < _N and candidate[half] <= <uint32_t>(2 * p.gamma1 - 2):
                    a[count] = p.gamma1 - 1 - <int32_t>candidate[half]
                    count += 1
    keccak_clear(&context)
    OPENSSL_cleanse(buffer, sizeof(buffer))
    OPENSSL_cleanse(candidate, sizeof(candidate))


cdef void _sample_mask_round3(
    const Params *p, int32_t *a, const uint8_t *seed, uint16_t nonce
) noexcept nogil:
    """Sample y with coefficients in (-gamma1, gamma1]: gamma1 minus z_bits-bit fields."""
    cdef KeccakContext context
    cdef uint8_t buffer[32 * 20]
    _absorb_with_nonce(&context, SHAKE256_RATE, seed, p.signing_seed_bytes, nonce)
    shake_squeeze(&context, buffer, 32 * p.z_bits)
    _unpack_bits(a, buffer, p.z_bits, p.gamma1, True)
    keccak_clear(&context)
    OPENSSL_cleanse(buffer, sizeof(buffer))


cdef void _sample_in_ball(const Params *p, KeccakContext *context, int32_t *c) noexcept nogil:
    """Sample the challenge, tau coefficients of +-1, from a SHAKE256 context that squeezes.

    The first 8 bytes give the signs; later bytes are positions, rejected above the index
    being placed (a Fisher-Yates shuffle).
    """
    cdef uint8_t sign_bytes[8]
    cdef uint64_t signs = 0
    cdef uint8_t position
    cdef int i
    memset(c, 0, _N * sizeof(int32_t))
    shake_squeeze(context, sign_bytes, 8)
    for i in range(8):
        signs |= (<uint64_t>sign_bytes[i]) << (8 * i)
    for i in range(_N - p.tau, _N):
        while True:
            shake_squeeze(context, &position, 1)
            if position <= i:
                break
        c[i] = c[position]
        c[position] = 1 - 2 * <int32_t>(signs & 1)
        signs >>= 1


cdef void _expand_matrix(const Params *p, Workspace *ws) noexcept nogil:
    cdef int i
    cdef int j
    for i in range(p.k):
        for j in range(p.l):
            _sample_uniform(ws.matrix[i * p.l + j], ws.rho, <uint16_t>((i << 8) + j))


# ---------------------------------------------------------------------------------------------
# Encodings


cdef void _pack_hint(const Params *p, uint8_t *out, int32_t (*hint)[_N]) noexcept nogil:
    """Write the positions of the hint bits, then the running count after each polynomial."""
    cdef int count = 0
    cdef int i
    cdef int n
    memset(out, 0, p.omega + p.k)
    for i in range(p.k):
        for n in range(_N):
            if hint[i][n]:
                out[count] = <uint8_t>n
                count += 1
        out[p.omega + i] = <uint8_t>count


cdef int _unpack_hint(const Params *p, int32_t (*hint)[_N], const uint8_t *data) noexcept nogil:
    """Read the hint vector; return 1 for an encoding the signer cannot have produced.

    Counts must not decrease or exceed omega, positions within a polynomial must increase
    strictly, and unused position bytes must be zero, so each hint has one encoding.
    """
    cdef int count = 0
    cdef int end
    cdef int i
    cdef int j
    for i in range(p.k):
        memset(hint[i], 0, _N * sizeof(int32_t))
        end = data[p.omega + i]
        if end < count or end > p.omega:
            return 1
        for j in range(count, end):
            if j > count and data[j] <= data[j - 1]:
                return 1
            hint[i][data[j]] = 1
        count = end
    for j in range(count, p.omega):
        if data[j] != 0:
            return 1
    return 0


cdef void _pack_round2_challenge(const Params *p, uint8_t *out, const int32_t *c) noexcept nogil:
    """Write the 32-byte bitmap of nonzero coefficients and 8 bytes of their signs (1: -1)."""
    cdef uint64_t signs = 0
    cdef uint64_t mask = 1
    cdef int n
    cdef int i
    memset(out, 0, 40)
    for n in range(_N):
        if c[n] != 0:
            out[n >> 3] |= <uint8_t>(1 << (n & 7))
            if c[n] < 0:
                signs |= mask
            mask <<= 1
    for i in range(8):
        out[32 + i] = <uint8_t>(signs >> (8 * i))


cdef int _unpack_round2_challenge(const Params *p, int32_t *c, const uint8_t *data) noexcept nogil:
    """Read the round-2 challenge, returning 1 for a malformed one.

    A well-formed challenge has exactly tau nonzero coefficients and no sign bits beyond them.
    """
    cdef uint64_t signs = 0
    cdef int weight = 0
    cdef int n
    cdef int i
    for i in range(8):
        signs |= (<uint64_t>data[32 + i]) << (8 * i)
    if p.tau < 64 and (signs >> p.tau) != 0:
        return 1
    for n in range(_N):
        if (data[n >> 3] >> (n & 7)) & 1:
            weight += 1
            c[n] = 1 - 2 * <int32_t>(signs & 1)
            signs >>= 1
        else:
            c[n] = 0
    return 0 if weight == p.tau else 1


cdef void _pack_public_key(const Params *p, Workspace *ws, uint8_t *out) noexcept nogil:
    cdef int i
    memcpy(out, ws.rho, _SEED_BYTES)
    for i in range(p.k):
        _pack_bits(out + _SEED_BYTES + i * 32 * p.t1_bits, ws.t1[i], p.t1_bits, 0, False)


cdef void _unpack_public_key(const Params *p, Workspace *ws, const uint8_t *data) noexcept nogil:
    cdef int i
    memcpy(ws.rho, data, _SEED_BYTES)
    for i in range(p.k):
        _unpack_bits(ws.t1[i], data + _SEED_BYTES + i * 32 * p.t1_bits, p.t1_bits, 0, False)


cdef void _pack_private_key(const Params *p, Workspace *ws, uint8_t *out) noexcept nogil:
    """Write rho || K || tr || s1 || s2 || t0; secrets are stored as eta - s, t0 as 2^(d-1) - t0."""
    cdef int i
    cdef int eta_bytes = 32 * p.eta_bits
    memcpy(out, ws.rho, _SEED_BYTES)
    memcpy(out + _SEED_BYTES, ws.key, _SEED_BYTES)
    memcpy(out + 2 * _SEED_BYTES, ws.tr, p.tr_bytes)
    out += 2 * _SEED_BYTES + p.tr_bytes
    for i in range(p.l):
        _pack_bits(out + i * eta_bytes, ws.s1[i], p.eta_bits, p.eta, True)
    out += p.l * eta_bytes
    for i in range(p.k):
        _pack_bits(out + i * eta_bytes, ws.s2[i], p.eta_bits, p.eta, True)
    out += p.k * eta_bytes
    for i in range(p.k):
        _pack_bits(out + i * 32 * p.d, ws.t0[i], p.d, 1 << (p.d - 1), True)


cdef int _unpack_private_key(const Params *p, Workspace *ws, const uint8_t *data) noexcept nogil:
    """Read a private key; return _SECRET_OUT_OF_RANGE when an s1 or s2 field exceeds 2 eta."""
    cdef int i
    cdef int n
    cdef int eta_bytes = 32 * p.eta_bits
    cdef int32_t bad = 0
    memcpy(ws.rho, data, _SEED_BYTES)
    memcpy(ws.key, data + _SEED_BYTES, _SEED_BYTES)
    memcpy(ws.tr, data + 2 * _SEED_BYTES, p.tr_bytes)
    data += 2 * _SEED_BYTES + p.tr_bytes
    for i in range(p.l):
        _unpack_bits(ws.s1[i], data + i * eta_bytes, p.eta_bits, p.eta, True)
        for n in range(_N):
            bad |= ws.s1[i][n] < -p.eta
    data += p.l * eta_bytes
    for i in range(p.k):
        _unpack_bits(ws.s2[i], data + i * eta_bytes, p.eta_bits, p.eta, True)
        for n in range(_N):
            bad |= ws.s2[i][n] < -p.eta
    data += p.k * eta_bytes
    for i in range(p.k):
        _unpack_bits(ws.t0[i], data + i * 32 * p.d, p.d, 1 << (p.d - 1), True)
    return _SECRET_OUT_OF_RANGE if bad else _OK


cdef void _shake256_two(
    uint8_t *out, int out_bytes, const uint8_t *first, size_t first_bytes,
    const uint8_t *second, size_t second_bytes
) noexcept nogil:
    """Write SHAKE256(first || second)."""
    cdef KeccakContext context
    keccak_start(&context, SHAKE256_RATE, 0)
    keccak_absorb(&context, first, first_bytes)
    keccak_absorb(&context, second, second_bytes)
    shake_finish_absorb(&context)
    shake_squeeze(&context, out, out_bytes)
    keccak_clear(&context)


# ---------------------------------------------------------------------------------------------
# Key generation, signing and verification


cdef void _compute_t(const Params *p, Workspace *ws, int32_t (*t0)[_N]) noexcept nogil:
    """Set ws.t1 and t0 to the power-of-two split of t = A s1 + s2, from ws.matrix, s1, s2."""
    cdef int i
    cdef int n
    for i in range(p.l):
        memcpy(ws.z[i], ws.s1[i], sizeof(ws.z[i]))
        _ntt(ws.z[i])
    _matrix_times_vector(p, ws, ws.z, ws.w)
    for i in range(p.k):
        _inverse_ntt(ws.w[i])
        for n in range(_N):
            ws.t1[i][n] = _power2round(_freeze(ws.w[i][n] + ws.s2[i][n]), &t0[i][n], p.d)


cdef void _keypair(const Params *p, Workspace *ws, const uint8_t *seed) noexcept nogil:
    cdef int i
    cdef const uint8_t *secret_seed = ws.seeds + _SEED_BYTES
    shake(SHAKE256_RATE, seed, _SEED_BYTES, ws.seeds, p.seed_expansion_bytes)
    memcpy(ws.rho, ws.seeds, _SEED_BYTES)
    memcpy(ws.key, ws.seeds + _SEED_BYTES + p.secret_seed_bytes, _SEED_BYTES)
    _expand_matrix(p, ws)
    for i in range(p.l):
        _sample_eta(p, ws.s1[i], secret_seed, <uint16_t>i)
    for i in range(p.k):
        _sample_eta(p, ws.s2[i], secret_seed, <uint16_t>(p.l + i))
    _compute_t(p, ws, ws.t0)
    _pack_public_key(p, ws, ws.public_key)
    shake(SHAKE256_RATE, ws.public_key, p.public_key_bytes, ws.tr, p.tr_bytes)
    _pack_private_key(p, ws, ws.private_key)


cdef int _public_key_of(const Params *p, Workspace *ws, const uint8_t *private_key) noexcept nogil:
    """Recompute the public key into ws.public_key and check tr and t0 of the private key."""
    cdef int status = _unpack_private_key(p, ws, private_key)
    cdef int i
    if status != _OK:
        return status
    _expand_matrix(p, ws)
    _compute_t(p, ws, ws.w0)
    _pack_public_key(p, ws, ws.public_key)
    shake(SHAKE256_RATE, ws.public_key, p.public_key_bytes, ws.mu, p.tr_bytes)
    if memcmp(ws.mu, ws.tr, p.tr_bytes) != 0:
        return _PRIVATE_KEY_INCONSISTENT
    for i in range(p.k):
        if memcmp(ws.w0[i], ws.t0[i], sizeof(ws.t0[i])) != 0:
            return _PRIVATE_KEY_INCONSISTENT
    return _OK


cdef void _challenge_context(
    const Params *p, Workspace *ws, KeccakContext *context
) noexcept nogil:
    """Hash mu || w1 (from ws.w1_packed) and leave the context ready to sample the challenge.

    Round 2 samples the challenge from this hash directly. Round 3 first squeezes a 32-byte
    challenge seed into ws.challenge_seed and samples from SHAKE256 of that seed.
    """
    keccak_start(context, SHAKE256_RATE, 0)
    keccak_absorb(context, ws.mu, p.mu_bytes)
    keccak_absorb(context, ws.w1_packed, p.k * 32 * p.w1_bits)
    shake_finish_absorb(context)
    if p.round == 3:
        shake_squeeze(context, ws.challenge_seed, _SEED_BYTES)
        keccak_start(context, SHAKE256_RATE, 0)
        keccak_absorb(context, ws.challenge_seed, _SEED_BYTES)
        shake_finish_absorb(context)


cdef void _sample_mask(const Params *p, Workspace *ws, uint16_t *nonce) noexcept nogil:
    cdef int i
    for i in range(p.l):
        if p.round == 2:
            _sample_mask_round2(p, ws.y[i], ws.signing_seed, nonce[0])
            nonce[0] += 1
        else:
            _sample_mask_round3(p, ws.y[i], ws.signing_seed, <uint16_t>(p.l * nonce[0] + i))
    if p.round == 3:
        nonce[0] += 1


cdef int _try_signature(const Params *p, Workspace *ws, uint16_t *nonce) noexcept nogil:
    """Run one attempt of the signing loop; return 1 and ws.signature when it succeeds."""
    cdef KeccakContext context
    cdef int32_t alpha = 2 * p.gamma2
    cdef int i
    cdef int n
    cdef int hints = 0
    cdef int z_bytes = 32 * p.z_bits
    cdef uint8_t *out = ws.signature

    _sample_mask(p, ws, nonce)
    for i in range(p.l):
        memcpy(ws.z[i], ws.y[i], sizeof(ws.z[i]))
        _ntt(ws.z[i])
    _matrix_times_vector(p, ws, ws.z, ws.w)
    for i in range(p.k):
        _inverse_ntt(ws.w[i])
        for n in range(_N):
            ws.w1[i][n] = _decompose(_freeze(ws.w[i][n]), &ws.w0[i][n], alpha)
        _pack_bits(ws.w1_packed + i * 32 * p.w1_bits, ws.w1[i], p.w1_bits, 0, False)

    _challenge_context(p, ws, &context)
    _sample_in_ball(p, &context, ws.challenge)
    keccak_clear(&context)
    memcpy(ws.challenge_hat, ws.challenge, sizeof(ws.challenge))
    _ntt(ws.challenge_hat)

    # z = y + c s1 must not reveal s1.
    for i in range(p.l):
        _multiply_by_challenge(ws.z[i], ws.challenge_hat, ws.s1[i])
        for n in range(_N):
            ws.z[i][n] = _centre(_freeze(ws.y[i][n] + ws.z[i][n]))
        if _exceeds_norm(ws.z[i], p.gamma1 - p.beta):
            return 0
    # Subtracting c s2 must keep the high bits of w and leave small low bits.
    for i in range(p.k):
        _multiply_by_challenge(ws.product[i], ws.challenge_hat, ws.s2[i])
        for n in range(_N):
            ws.w0[i][n] = _centre(_freeze(ws.w0[i][n] - ws.product[i][n]))
        if _exceeds_norm(ws.w0[i], p.gamma2 - p.beta):
            return 0
    # Hints for the verifier, who knows only t1: it sees w - c s2 + c t0.
    for i in range(p.k):
        _multiply_by_challenge(ws.product[i], ws.challenge_hat, ws.t0[i])
        for n in range(_N):
            ws.product[i][n] = _centre(ws.product[i][n])
        if _exceeds_norm(ws.product[i], p.gamma2):
            return 0
        for n in range(_N):
            ws.hint[i][n] = _make_hint(ws.w0[i][n] + ws.product[i][n], ws.w1[i][n], p.gamma2)
            hints += ws.hint[i][n]
    if hints > p.omega:
        return 0

    if p.round == 3:
        memcpy(out, ws.challenge_seed, _SEED_BYTES)
        out += _SEED_BYTES
    for i in range(p.l):
        # Round 2 stores gamma1 - 1 - z, round 3 gamma1 - z.
        _pack_bits(out + i * z_bytes, ws.z[i], p.z_bits, p.gamma1 - (p.round == 2), True)
    out += p.l * z_bytes
    _pack_hint(p, out, ws.hint)
    if p.round == 2:
        _pack_round2_challenge(p, out + p.omega + p.k, ws.challenge)
    return 1


cdef int _sign(
    const Params *p, Workspace *ws, const uint8_t *private_key, const uint8_t *message,
    size_t message_length
) noexcept nogil:
    cdef int status = _unpack_private_key(p, ws, private_key)
    cdef uint16_t nonce = 0
    cdef int i
    if status != _OK:
        return status
    _shake256_two(ws.mu, p.mu_bytes, ws.tr, p.tr_bytes, message, message_length)
    _shake256_two(ws.signing_seed, p.signing_seed_bytes, ws.key, _SEED_BYTES, ws.mu, p.mu_bytes)
    _expand_matrix(p, ws)
    for i in range(p.l):
        _ntt(ws.s1[i])
    for i in range(p.k):
        _ntt(ws.s2[i])
        _ntt(ws.t0[i])
    while not _try_signature(p, ws, &nonce):
        pass
    return _OK


cdef int _verify(
    const Params *p, Workspace *ws, const uint8_t *public_key, const uint8_t *message,
    size_t message_length, const uint8_t *signature
) noexcept nogil:
    cdef KeccakContext context
    cdef int32_t alpha = 2 * p.gamma2
    cdef int z_bytes = 32 * p.z_bits
    cdef const uint8_t *data = signature
    cdef int i
    cdef int n

    _unpack_public_key(p, ws, public_key)
    if p.round == 3:
        memcpy(ws.seeds, data, _SEED_BYTES)
        data += _SEED_BYTES
    for i in range(p.l):
        _unpack_bits(ws.z[i], data + i * z_bytes, p.z_bits, p.gamma1 - (p.round == 2), True)
        if _exceeds_norm(ws.z[i], p.gamma1 - p.beta):
            return _INVALID_SIGNATURE
    data += p.l * z_bytes
    if _unpack_hint(p, ws.hint, data):
        return _INVALID_SIGNATURE
    if p.round == 2:
        if _unpack_round2_challenge(p, ws.challenge, data + p.omega + p.k):
            return _INVALID_SIGNATURE
    else:
        keccak_start(&context, SHAKE256_RATE, 0)
        keccak_absorb(&context, ws.seeds, _SEED_BYTES)
        shake_finish_absorb(&context)
        _sample_in_ball(p, &context, ws.challenge)

    shake(SHAKE256_RATE, public_key, p.public_key_bytes, ws.tr, p.tr_bytes)
    _shake256_two(ws.mu, p.mu_bytes, ws.tr, p.tr_bytes, message, message_length)

    # w' = A z - c t1 2^d, then its high bits corrected by the hints.
    _expand_matrix(p, ws)
    for i in range(p.l):
        _ntt(ws.z[i])
    memcpy(ws.challenge_hat, ws.challenge, sizeof(ws.challenge))
    _ntt(ws.challenge_hat)
    _matrix_times_vector(p, ws, ws.z, ws.w)
    for i in range(p.k):
        for n in range(_N):
            ws.t1[i][n] <<= p.d
        _ntt(ws.t1[i])
        _pointwise(ws.product[i], ws.challenge_hat, ws.t1[i])
        for n in range(_N):
            ws.w[i][n] = _reduce32(ws.w[i][n] - ws.product[i][n])
        _inverse_ntt(ws.w[i])
        for n in range(_N):
            ws.w1[i][n] = _use_hint(_freeze(ws.w[i][n]), ws.hint[i][n], alpha)
        _pack_bits(ws.w1_packed + i * 32 * p.w1_bits, ws.w1[i], p.w1_bits, 0, False)

    _challenge_context(p, ws, &context)
    if p.round == 3:
        keccak_clear(&context)
        if memcmp(ws.challenge_seed, ws.seeds, _SEED_BYTES) != 0:
            return _INVALID_SIGNATURE
        return _OK
    _sample_in_ball(p, &context, ws.product[0])
    keccak_clear(&context)
    if memcmp(ws.product[0], ws.challenge, sizeof(ws.challenge)) != 0:
        return _INVALID_SIGNATURE
    return _OK


# ---------------------------------------------------------------------------------------------
# Python API


cdef const Params *_params_for(variant) except NULL:
    if not isinstance(variant, str):
        raise TypeError(f"variant must be a str, not {type(variant).__name__}")
    try:
        return &_PARAMS[VARIANTS.index(variant)]
    except ValueError:
        raise ValueError(
            f"unknown Dilithium variant {variant!r}; expected one of {', '.join(VARIANTS)}"
        ) from None


cdef void _check_length(const unsigned char[::1] value, Py_ssize_t expected, str what, str variant) except *:
    if value.shape[0] != expected:
        raise ValueError(
            f"{what} for {variant} must be {expected} bytes, got {value.shape[0]}"
        )


cdef Workspace *_new_workspace() except NULL:
    cdef Workspace *ws = <Workspace *>OPENSSL_malloc(sizeof(Workspace))
    if ws == NULL:
        raise MemoryError("cannot allocate the Dilithium workspace")
    return ws


cdef inline void _free_workspace(Workspace *ws) noexcept nogil:
    OPENSSL_clear_free(ws, sizeof(Workspace))


cdef uint8_t _EMPTY[1]


cdef inline const uint8_t *_address(const unsigned char[::1] value) noexcept:
    # An empty view has no element 0; the core reads no byte of an empty input.
    if value.shape[0] == 0:
        return _EMPTY
    return &value[0]


def sizes(variant):
    """Return (public key bytes, private key bytes, signature bytes) of a variant."""
    cdef const Params *p = _params_for(variant)
    return (p.public_key_bytes, p.private_key_bytes, p.signature_bytes)


def keypair(variant, const unsigned char[::1] seed not None):
    """Derive (public key, private key) deterministically from a 32-byte seed."""
    cdef const Params *p = _params_for(variant)
    cdef Workspace *ws
    cdef const uint8_t *seed_pointer
    _check_length(seed, _SEED_BYTES, "seed", variant)
    seed_pointer = _address(seed)
    ws = _new_workspace()
    try:
        with nogil:
            _keypair(p, ws, seed_pointer)
        return (
            PyBytes_FromStringAndSize(<char *>ws.public_key, p.public_key_bytes),
            PyBytes_FromStringAndSize(<char *>ws.private_key, p.private_key_bytes),
        )
    finally:
        _free_workspace(ws)


def sign(variant, const unsigned char[::1] private_key not None,
         const unsigned char[::1] message not None):
    """Return the deterministic detached signature of message."""
    cdef const Params *p = _params_for(variant)
    cdef Workspace *ws
    cdef int status
    cdef const uint8_t *key_pointer
    cdef const uint8_t *message_pointer = _address(message)
    cdef size_t message_length = message.shape[0]
    _check_length(private_key, p.private_key_bytes, "private key", variant)
    key_pointer = _address(private_key)
    ws = _new_workspace()
    try:
        with nogil:
            status = _sign(p, ws, key_pointer, message_pointer, message_length)
        if status == _SECRET_OUT_OF_RANGE:
            raise ValueError(
                f"invalid {variant} private key: an s1 or s2 coefficient is outside "
                f"[-{p.eta}, {p.eta}]"
            )
        return PyBytes_FromStringAndSize(<char *>ws.signature, p.signature_bytes)
    finally:
        _free_workspace(ws)


def verify(variant, const unsigned char[::1] public_key not None,
           const unsigned char[::1] message not None,
           const unsigned char[::1] signature not None):
    """Return True when signature is a valid signature of message under public_key."""
    cdef const Params *p = _params_for(variant)
    cdef Workspace *ws
    cdef int status
    cdef const uint8_t *key_pointer
    cdef const uint8_t *message_pointer = _address(message)
    cdef const uint8_t *signature_pointer = _address(signature)
    cdef size_t message_length = message.shape[0]
    _check_length(public_key, p.public_key_bytes, "public key", variant)
    if signature.shape[0] != p.signature_bytes:
        return False
    key_pointer = _address(public_key)
    ws = _new_workspace()
    try:
        with nogil:
            status = _verify(p, ws, key_pointer, message_pointer, message_length,
                             signature_pointer)
        return status == _OK
    finally:
        _free_workspace(ws)


def public_key_of(variant, const unsigned char[::1] private_key not None):
    """Recompute the public key of a private key, checking the key's tr and t0 against it."""
    cdef const Params *p = _params_for(variant)
    cdef Workspace *ws
    cdef int status
    cdef const uint8_t *key_pointer
    _check_length(private_key, p.private_key_bytes, "private key", variant)
    key_pointer = _address(private_key)
    ws = _new_workspace()
    try:
        with nogil:
            status = _public_key_of(p, ws, key_pointer)
        if status == _SECRET_OUT_OF_RANGE:
            raise ValueError(
                f"invalid {variant} private key: an s1 or s2 coefficient is outside "
                f"[-{p.eta}, {p.eta}]"
            )
        if status == _PRIVATE_KEY_INCONSISTENT:
            raise ValueError(
                f"invalid {variant} private key: tr or t0 does not match rho, s1 and s2"
            )
        return PyBytes_FromStringAndSize(<char *>ws.public_key, p.public_key_bytes)
    finally:
        _free_workspace(ws)
