# cython: language_level=3, cdivision=True
"""CRYSTALS-Kyber round 2 and ML-KEM (FIPS 203) on one module-lattice core.

Both schemes work in Z_q[X]/(X^256 + 1) with q = 3329, keep public and secret vectors in the
same NTT domain and share the K-PKE encryption. The round-2 variants (``kyber768-r2``,
``kyber1024-r2``) are the non-90s CRYSTALS-Kyber of the second NIST round, the version IBM EP11
selects with CKM_IBM_KYBER. They differ from ML-KEM in four places, each marked in the code:

* The matrix sampler reads 16-bit little-endian words, accepts those below 19q and reduces them
  modulo q. FIPS 203 SampleNTT reads 12-bit words and accepts those below q.
* Key generation expands the seed with G(d). FIPS 203 uses G(d || k).
* Encapsulation hashes the random message (m = H(m)) and derives the secret as
  SHAKE256(K' || H(c)). FIPS 203 uses m and K directly.
* Implicit rejection returns SHAKE256(z || H(c)). FIPS 203 returns J(z || c) = SHAKE256(z || c).

Arithmetic uses signed 16-bit coefficients with Montgomery multiplication (R = 2^16) and
Barrett reduction. Every C function here runs without the GIL, and each KEM operation wipes
its secret intermediate values with OPENSSL_cleanse before it returns.
"""

cimport cython
from libc.stdint cimport int16_t, int32_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

from ep11core._keccak cimport (
    SHA3_256_RATE,
    SHA3_512_RATE,
    SHAKE128_RATE,
    SHAKE256_RATE,
    KeccakContext,
    keccak_absorb,
    keccak_clear,
    keccak_start,
    sha3,
    shake,
    shake_finish_absorb,
    shake_squeeze,
)
from ep11core._openssl.crypto cimport OPENSSL_cleanse

cdef enum:
    _N = 256
    _Q = 3329
    _MAX_K = 4
    _SYMBYTES = 32
    _POLY_BYTES = 384
    # Largest sizes over all variants (Kyber1024 and ML-KEM-1024).
    _MAX_PUBLIC_KEY_BYTES = 1568
    _MAX_PRIVATE_KEY_BYTES = 3168
    _MAX_CIPHERTEXT_BYTES = 1568
    # q^-1 mod 2^16, for Montgomery reduction.
    _QINV = 62209
    # round(2^26 / q), for Barrett reduction.
    _BARRETT_FACTOR = 20159
    # Round 2 accepts 16-bit words below 19q = 63251, the largest multiple of q below 2^16.
    _ROUND2_SAMPLE_BOUND = 19 * 3329
    # Return codes of the KEM functions.
    _OK = 0
    _BAD_KEY_HASH = 1


cdef struct _Params:
    int k
    int eta1
    int du
    int dv
    # 1 for ML-KEM (FIPS 203), 0 for CRYSTALS-Kyber round 2.
    int fips
    size_t public_key_bytes
    size_t private_key_bytes
    size_t ciphertext_bytes


cdef struct _Poly:
    int16_t coeffs[_N]


cdef struct _PolyVec:
    _Poly polys[_MAX_K]


# zeta^BitRev7(i) for i = 0..127, zeta = 17 (a primitive 256th root of unity mod q), in
# Montgomery form: the NTT twiddle factors in the order FIPS 203 Algorithms 9 and 10 use them.
cdef int16_t _ZETAS[128]
# zeta^(2 BitRev7(i) + 1) for i = 0..127 in Montgomery form: the moduli X^2 - gamma of the 128
# degree-2 factors that MultiplyNTTs (FIPS 203 Algorithm 11) works in.
cdef int16_t _GAMMAS[128]
# R^2 / 128 mod q: the inverse NTT scales by it, which divides by 128 and multiplies by R.
cdef int16_t _INVERSE_NTT_SCALE
# R^2 mod q: Montgomery-multiplying by it multiplies by R.
cdef int16_t _R_SQUARED


def _bit_reverse7(int value):
    return int(f"{value:07b}"[::-1], 2)


def _fill_tables():
    montgomery_r = (1 << 16) % _Q
    for index in range(128):
        zeta = pow(17, _bit_reverse7(index), _Q)
        gamma = pow(17, 2 * _bit_reverse7(index) + 1, _Q)
        _ZETAS[index] = zeta * montgomery_r % _Q
        _GAMMAS[index] = gamma * montgomery_r % _Q
    global _INVERSE_NTT_SCALE, _R_SQUARED
    _INVERSE_NTT_SCALE = montgomery_r * montgomery_r * pow(128, -1, _Q) % _Q
    _R_SQUARED = montgomery_r * montgomery_r % _Q


_fill_tables()


# ---------------------------------------------------------------------------------------------
# Modular arithmetic


cdef inline int16_t _montgomery_reduce(int32_t value) noexcept nogil:
    """Return value * 2^-16 mod q in (-q, q), for |value| < q * 2^15."""
    cdef int16_t low = <int16_t><uint16_t>(<uint32_t>value * <uint32_t>_QINV)
    return <int16_t>((value - <int32_t>low * _Q) >> 16)


cdef inline int16_t _montgomery_multiply(int16_t a, int16_t b) noexcept nogil:
    return _montgomery_reduce(<int32_t>a * b)


cdef inline int16_t _barrett_reduce(int16_t value) noexcept nogil:
    """Return the representative of value mod q in [-(q - 1) / 2, (q - 1) / 2]."""
    cdef int16_t quotient = <int16_t>((<int32_t>_BARRETT_FACTOR * value + (1 << 25)) >> 26)
    return <int16_t>(value - quotient * _Q)


cdef inline int16_t _to_unsigned(int16_t value) noexcept nogil:
    """Map a representative in (-q, q) to [0, q) without a branch."""
    return <int16_t>(value + ((value >> 15) & _Q))


cdef void _poly_reduce(_Poly *poly) noexcept nogil:
    """Reduce every coefficient to its representative in [0, q)."""
    cdef int i
    for i in range(_N):
        poly.coeffs[i] = _to_unsigned(_barrett_reduce(poly.coeffs[i]))


cdef void _poly_add(_Poly *result, const _Poly *other) noexcept nogil:
    cdef int i
    for i in range(_N):
        result.coeffs[i] = result.coeffs[i] + other.coeffs[i]


# ---------------------------------------------------------------------------------------------
# Number-theoretic transform


cdef void _ntt(_Poly *poly) noexcept nogil:
    """Apply the forward NTT in place (FIPS 203 Algorithm 9).

    Input coefficients need |c| < q, and outputs satisfy |c| <= q / 2. Each of the seven
    Cooley-Tukey layers grows the bound by at most q, so the values stay below 8q < 2^15
    until the final Barrett reduction.
    """
    cdef int16_t *f = poly.coeffs
    cdef int zeta_index = 1
    cdef int length = 128
    cdef int start
    cdef int j
    cdef int16_t zeta
    cdef int16_t t
    while length >= 2:
        start = 0
        while start < _N:
            zeta = _ZETAS[zeta_index]
            zeta_index += 1
            for j in range(start, start + length):
                t = _montgomery_multiply(zeta, f[j + length])
                f[j + length] = f[j] - t
                f[j] = f[j] + t
            start += 2 * length
        length >>= 1
    for j in range(_N):
        f[j] = _barrett_reduce(f[j])


cdef void _inverse_ntt(_Poly *poly) noexcept nogil:
    """Invert the NTT in place (FIPS 203 Algorithm 10) and multiply by R.

    The extra factor R cancels the R^-1 that the Montgomery products of _multiply_accumulate
    leave, so invntt(a o b) is the exact product. Inputs and outputs satisfy |c| < q.
    """
    cdef int16_t *f = poly.coeffs
    cdef int zeta_index = 127
    cdef int length = 2
    cdef int start
    cdef int j
    cdef int16_t zeta
    cdef int16_t t
    while length <= 128:
        start = 0
        while start < _N:
            zeta = _ZETAS[zeta_index]
            zeta_index -= 1
            for j in range(start, start + length):
                t = f[j]
                f[j] = _barrett_reduce(t + f[j + length])
                f[j + length] = _montgomery_multiply(zeta, f[j + length] - t)
            start += 2 * length
        length <<= 1
    for j in range(_N):
        f[j] = _montgomery_multiply(f[j], _INVERSE_NTT_SCALE)


cdef void _multiply_accumulate(
    _Poly *result, const _PolyVec *a, const _PolyVec *b, int k
) noexcept nogil:
    """Set result to R^-1 * sum(a[l] o b[l] for l < k), all in the NTT domain.

    Each pair (c0, c1) is a product in Z_q[X]/(X^2 - gamma) (FIPS 203 Algorithm 12). Inputs
    must satisfy |c| < q, so each sum stays below 2kq^2 <= 8q^2 < q * 2^15, the limit of a
    single Montgomery reduction.
    """
    cdef int pair
    cdef int index
    cdef int l
    cdef int32_t even
    cdef int32_t odd
    cdef int16_t a0
    cdef int16_t a1
    cdef int16_t b0
    cdef int16_t b1
    for pair in range(_N // 2):
        index = 2 * pair
        even = 0
        odd = 0
        for l in range(k):
            a0 = a.polys[l].coeffs[index]
            a1 = a.polys[l].coeffs[index + 1]
            b0 = b.polys[l].coeffs[index]
            b1 = b.polys[l].coeffs[index + 1]
            # a1 * b1 * gamma: the Montgomery reduction removes the R that _GAMMAS carries.
            even += <int32_t>a0 * b0 + <int32_t>_montgomery_reduce(<int32_t>a1 * b1) * _GAMMAS[pair]
            odd += <int32_t>a0 * b1 + <int32_t>a1 * b0
        result.coeffs[index] = _montgomery_reduce(even)
        result.coeffs[index + 1] = _montgomery_reduce(odd)


# ---------------------------------------------------------------------------------------------
# Encodings


cdef void _encode_bits(uint8_t *out, const _Poly *poly, int bits) noexcept nogil:
    """Pack 256 coefficients in [0, 2^bits) least significant bit first (ByteEncode_d)."""
    cdef uint32_t buffer = 0
    cdef int filled = 0
    cdef int i
    for i in range(_N):
        buffer |= (<uint32_t><uint16_t>poly.coeffs[i]) << filled
        filled += bits
        while filled >= 8:
            out[0] = <uint8_t>buffer
            out += 1
            buffer >>= 8
            filled -= 8


cdef void _decode_bits(_Poly *poly, const uint8_t *data, int bits) noexcept nogil:
    """Unpack 256 coefficients of ``bits`` bits each (ByteDecode_d without the mod q step)."""
    cdef uint32_t buffer = 0
    cdef uint32_t mask = (<uint32_t>1 << bits) - 1
    cdef int filled = 0
    cdef int i
    for i in range(_N):
        while filled < bits:
            buffer |= (<uint32_t>data[0]) << filled
            data += 1
            filled += 8
        poly.coeffs[i] = <int16_t>(buffer & mask)
        buffer >>= bits
        filled -= bits


cdef void _decode_reduced(_Poly *poly, const uint8_t *data) noexcept nogil:
    """Decode 12-bit coefficients and reduce them from [0, 4096) to [0, q).

    Round-2 keys are not checked, and the reference code treats a coefficient c >= q as
    c mod q, so reducing here gives the same results.
    """
    cdef int i
    cdef int16_t value
    _decode_bits(poly, data, 12)
    for i in range(_N):
        value = poly.coeffs[i] - _Q
        poly.coeffs[i] = _to_unsigned(value)


cdef void _compress(_Poly *poly, int bits) noexcept nogil:
    """Replace each coefficient x in [0, q) by round(2^bits * x / q) mod 2^bits."""
    cdef uint32_t mask = (<uint32_t>1 << bits) - 1
    cdef uint32_t value
    cdef int i
    for i in range(_N):
        # Division by the constant q compiles to a multiplication, so the time does not
        # depend on the value.
        value = ((<uint32_t>poly.coeffs[i] << bits) + _Q // 2) // _Q
        poly.coeffs[i] = <int16_t>(value & mask)


cdef void _decompress(_Poly *poly, int bits) noexcept nogil:
    """Replace each coefficient y in [0, 2^bits) by round(q * y / 2^bits)."""
    cdef int i
    for i in range(_N):
        poly.coeffs[i] = <int16_t>(
            (<uint32_t>poly.coeffs[i] * _Q + (<uint32_t>1 << (bits - 1))) >> bits
        )


cdef void _message_to_poly(_Poly *poly, const uint8_t *message) noexcept nogil:
    """Map each message bit to 0 or (q + 1) / 2 without a branch (Decompress_1)."""
    cdef int i
    cdef int16_t bit
    for i in range(_N):
        bit = (message[i >> 3] >> (i & 7)) & 1
        poly.coeffs[i] = (-bit) & ((_Q + 1) // 2)


cdef void _poly_to_message(uint8_t *message, _Poly *poly) noexcept nogil:
    """Round each coefficient in [0, q) to one bit (Compress_1) and pack the bits."""
    cdef int i
    _compress(poly, 1)
    for i in range(_SYMBYTES):
        message[i] = 0
    for i in range(_N):
        message[i >> 3] |= <uint8_t>(poly.coeffs[i] << (i & 7))


# ---------------------------------------------------------------------------------------------
# Sampling


cdef int _sample_round2(_Poly *poly, int filled, const uint8_t *block) noexcept nogil:
    """Append coefficients from one XOF block by the round-2 rule and return the new count."""
    cdef int position = 0
    cdef uint32_t value
    while filled < _N and position + 2 <= SHAKE128_RATE:
        value = block[position] | (<uint32_t>block[position + 1] << 8)
        position += 2
        if value < _ROUND2_SAMPLE_BOUND:
            poly.coeffs[filled] = <int16_t>(value % _Q)
            filled += 1
    return filled


cdef int _sample_fips(_Poly *poly, int filled, const uint8_t *block) noexcept nogil:
    """Take coefficients from one XOF block by SampleNTT (FIPS 203 Algorithm 7)."""
    cdef int position = 0
    cdef uint32_t first
    cdef uint32_t second
    while filled < _N and position + 3 <= SHAKE128_RATE:
        first = block[position] | ((<uint32_t>block[position + 1] & 0x0F) << 8)
        second = (block[position + 1] >> 4) | (<uint32_t>block[position + 2] << 4)
        position += 3
        if first < _Q:
            poly.coeffs[filled] = <int16_t>first
            filled += 1
        if second < _Q and filled < _N:
            poly.coeffs[filled] = <int16_t>second
            filled += 1
    return filled


cdef void _generate_matrix(
    _PolyVec *matrix, const uint8_t *rho, const _Params *params, bint transposed
) noexcept nogil:
    """Fill matrix[i].polys[j] with A[i][j] = Sample(SHAKE128(rho || j || i)), or A[j][i].

    The entries are uniform in [0, q) and already in the NTT domain. Both rejection samplers
    consume whole SHAKE128 blocks: 168 bytes hold 84 round-2 words or 56 FIPS triples.
    """
    cdef KeccakContext context
    cdef uint8_t seed[_SYMBYTES + 2]
    cdef uint8_t block[SHAKE128_RATE]
    cdef int i
    cdef int j
    cdef int filled
    memcpy(seed, rho, _SYMBYTES)
    for i in range(params.k):
        for j in range(params.k):
            if transposed:
                seed[_SYMBYTES] = <uint8_t>i
                seed[_SYMBYTES + 1] = <uint8_t>j
            else:
                seed[_SYMBYTES] = <uint8_t>j
                seed[_SYMBYTES + 1] = <uint8_t>i
            keccak_start(&context, SHAKE128_RATE, 0)
            keccak_absorb(&context, seed, _SYMBYTES + 2)
            shake_finish_absorb(&context)
            filled = 0
            while filled < _N:
                shake_squeeze(&context, block, SHAKE128_RATE)
                if params.fips:
                    filled = _sample_fips(&matrix[i].polys[j], filled, block)
                else:
                    filled = _sample_round2(&matrix[i].polys[j], filled, block)
    keccak_clear(&context)


cdef void _sample_noise(
    _Poly *poly, const uint8_t *seed, uint8_t nonce, int eta
) noexcept nogil:
    """Sample from the centered binomial distribution with eta 2 or 3 over PRF(seed, nonce).

    PRF is SHAKE256(seed || nonce) truncated to 64 * eta bytes (FIPS 203 Algorithm 8 and the
    round-2 cbd). Coefficient i is the bit count of bits 2i*eta .. 2i*eta + eta - 1 minus that
    of the next eta bits, so it lies in [-eta, eta].
    """
    cdef uint8_t prf_input[_SYMBYTES + 1]
    cdef uint8_t stream[3 * 64]
    cdef uint32_t word
    cdef uint32_t sums
    cdef int i
    cdef int j
    memcpy(prf_input, seed, _SYMBYTES)
    prf_input[_SYMBYTES] = nonce
    shake(SHAKE256_RATE, prf_input, _SYMBYTES + 1, stream, 64 * eta)
    if eta == 2:
        # One byte gives two coefficients of four bits each.
        for i in range(_N // 2):
            word = stream[i]
            sums = (word & 0x55) + ((word >> 1) & 0x55)
            poly.coeffs[2 * i] = <int16_t>(sums & 3) - <int16_t>((sums >> 2) & 3)
            poly.coeffs[2 * i + 1] = <int16_t>((sums >> 4) & 3) - <int16_t>((sums >> 6) & 3)
    else:
        # Three bytes give four coefficients of six bits each.
        for i in range(_N // 4):
            word = (
                stream[3 * i]
                | (<uint32_t>stream[3 * i + 1] << 8)
                | (<uint32_t>stream[3 * i + 2] << 16)
            )
            sums = (word & 0x249249) + ((word >> 1) & 0x249249) + ((word >> 2) & 0x249249)
            for j in range(4):
                poly.coeffs[4 * i + j] = (
                    <int16_t>((sums >> (6 * j)) & 7) - <int16_t>((sums >> (6 * j + 3)) & 7)
                )
    OPENSSL_cleanse(prf_input, sizeof(prf_input))
    OPENSSL_cleanse(stream, sizeof(stream))


# ---------------------------------------------------------------------------------------------
# K-PKE (the CPA-secure encryption scheme inside both KEMs)


cdef struct _PkeWorkspace:
    _PolyVec matrix[_MAX_K]
    _PolyVec secret
    _PolyVec error
    _PolyVec vector
    _Poly v
    _Poly e2
    _Poly message
    uint8_t seeds[2 * _SYMBYTES + 1]


cdef void _pke_keypair(
    _PkeWorkspace *w, const _Params *params, const uint8_t *d, uint8_t *public_key,
    uint8_t *secret_key
) noexcept nogil:
    """Write ek = ByteEncode12(t) || rho and dk = ByteEncode12(s), t = A o s + e (NTT domain)."""
    cdef int i
    cdef int j
    cdef int k = params.k
    cdef uint8_t *rho = w.seeds
    cdef uint8_t *sigma = w.seeds + _SYMBYTES
    # Round 2 expands G(d). FIPS 203 appends k to d for domain separation between the
    # parameter sets.
    memcpy(w.seeds, d, _SYMBYTES)
    if params.fips:
        w.seeds[_SYMBYTES] = <uint8_t>k
        sha3(SHA3_512_RATE, 64, w.seeds, _SYMBYTES + 1, w.seeds)
    else:
        sha3(SHA3_512_RATE, 64, w.seeds, _SYMBYTES, w.seeds)
    _generate_matrix(w.matrix, rho, params, False)
    for i in range(k):
        _sample_noise(&w.secret.polys[i], sigma, <uint8_t>i, params.eta1)
    for i in range(k):
        _sample_noise(&w.error.polys[i], sigma, <uint8_t>(k + i), params.eta1)
    for i in range(k):
        _ntt(&w.secret.polys[i])
        _ntt(&w.error.polys[i])
    for i in range(k):
        _multiply_accumulate(&w.vector.polys[i], &w.matrix[i], &w.secret, k)
        for j in range(_N):
            w.vector.polys[i].coeffs[j] = _montgomery_multiply(
                w.vector.polys[i].coeffs[j], _R_SQUARED
            )
        _poly_add(&w.vector.polys[i], &w.error.polys[i])
        _poly_reduce(&w.vector.polys[i])
        _encode_bits(public_key + i * _POLY_BYTES, &w.vector.polys[i], 12)
        _poly_reduce(&w.secret.polys[i])
        _encode_bits(secret_key + i * _POLY_BYTES, &w.secret.polys[i], 12)
    memcpy(public_key + k * _POLY_BYTES, rho, _SYMBYTES)


cdef void _pke_encrypt(
    _PkeWorkspace *w, const _Params *params, const uint8_t *public_key,
    const uint8_t *message, const uint8_t *coins, uint8_t *ciphertext
) noexcept nogil:
    """Write c = Compress_du(u) || Compress_dv(v) with u = A^T r + e1, v = t^T r + e2 + m."""
    cdef int i
    cdef int k = params.k
    cdef int eta2 = 2
    cdef _PolyVec *t_hat = &w.error
    cdef size_t u_bytes = 32 * params.du
    _generate_matrix(w.matrix, public_key + k * _POLY_BYTES, params, True)
    for i in range(k):
        _decode_reduced(&t_hat.polys[i], public_key + i * _POLY_BYTES)
    for i in range(k):
        _sample_noise(&w.secret.polys[i], coins, <uint8_t>i, params.eta1)
        _ntt(&w.secret.polys[i])
    for i in range(k):
        _multiply_accumulate(&w.vector.polys[i], &w.matrix[i], &w.secret, k)
        _inverse_ntt(&w.vector.polys[i])
        _sample_noise(&w.e2, coins, <uint8_t>(k + i), eta2)
        _poly_add(&w.vector.polys[i], &w.e2)
        _poly_reduce(&w.vector.polys[i])
        _compress(&w.vector.polys[i], params.du)
        _encode_bits(ciphertext + i * u_bytes, &w.vector.polys[i], params.du)
    _multiply_accumulate(&w.v, t_hat, &w.secret, k)
    _inverse_ntt(&w.v)
    _sample_noise(&w.e2, coins, <uint8_t>(2 * k), eta2)
    _poly_add(&w.v, &w.e2)
    _message_to_poly(&w.message, message)
    _poly_add(&w.v, &w.message)
    _poly_reduce(&w.v)
    _compress(&w.v, params.dv)
    _encode_bits(ciphertext + k * u_bytes, &w.v, params.dv)


cdef void _pke_decrypt(
    _PkeWorkspace *w, const _Params *params, const uint8_t *secret_key,
    const uint8_t *ciphertext, uint8_t *message
) noexcept nogil:
    """Write m = Compress_1(v - invntt(s o ntt(u)))."""
    cdef int i
    cdef int k = params.k
    cdef size_t u_bytes = 32 * params.du
    for i in range(k):
        _decode_bits(&w.vector.polys[i], ciphertext + i * u_bytes, params.du)
        _decompress(&w.vector.polys[i], params.du)
        _ntt(&w.vector.polys[i])
        _decode_reduced(&w.secret.polys[i], secret_key + i * _POLY_BYTES)
    _multiply_accumulate(&w.message, &w.secret, &w.vector, k)
    _inverse_ntt(&w.message)
    _decode_bits(&w.v, ciphertext + k * u_bytes, params.dv)
    _decompress(&w.v, params.dv)
    for i in range(_N):
        w.v.coeffs[i] = w.v.coeffs[i] - w.message.coeffs[i]
    _poly_reduce(&w.v)
    _poly_to_message(message, &w.v)


# ---------------------------------------------------------------------------------------------
# The KEMs


cdef void _kem_keypair(
    const _Params *params, const uint8_t *seed, uint8_t *public_key, uint8_t *private_key
) noexcept nogil:
    """Derive a key pair from seed = d || z.

    The private key is dk_PKE || ek || H(ek) || z in both schemes (FIPS 203 Algorithm 16 and
    the round-2 crypto_kem_keypair).
    """
    cdef _PkeWorkspace w
    cdef size_t pke_bytes = params.k * _POLY_BYTES
    cdef uint8_t *tail = private_key + pke_bytes + params.public_key_bytes
    _pke_keypair(&w, params, seed, public_key, private_key)
    memcpy(private_key + pke_bytes, public_key, params.public_key_bytes)
    sha3(SHA3_256_RATE, 32, public_key, params.public_key_bytes, tail)
    memcpy(tail + _SYMBYTES, seed + _SYMBYTES, _SYMBYTES)
    OPENSSL_cleanse(&w, sizeof(w))


cdef void _kem_encapsulate(
    const _Params *params, const uint8_t *public_key, const uint8_t *randomness,
    uint8_t *ciphertext, uint8_t *shared_secret
) noexcept nogil:
    # inputs is m || H(ek). outputs is K || r (round 2: K' || r, later K' || H(c)).
    cdef uint8_t inputs[2 * _SYMBYTES]
    cdef uint8_t outputs[2 * _SYMBYTES]
    cdef _PkeWorkspace w
    if params.fips:
        memcpy(inputs, randomness, _SYMBYTES)
    else:
        # Round 2 never uses the raw random bytes as the message.
        sha3(SHA3_256_RATE, 32, randomness, _SYMBYTES, inputs)
    sha3(SHA3_256_RATE, 32, public_key, params.public_key_bytes, inputs + _SYMBYTES)
    sha3(SHA3_512_RATE, 64, inputs, 2 * _SYMBYTES, outputs)
    _pke_encrypt(&w, params, public_key, inputs, outputs + _SYMBYTES, ciphertext)
    if params.fips:
        memcpy(shared_secret, outputs, _SYMBYTES)
    else:
        sha3(SHA3_256_RATE, 32, ciphertext, params.ciphertext_bytes, outputs + _SYMBYTES)
        shake(SHAKE256_RATE, outputs, 2 * _SYMBYTES, shared_secret, _SYMBYTES)
    OPENSSL_cleanse(inputs, sizeof(inputs))
    OPENSSL_cleanse(outputs, sizeof(outputs))
    OPENSSL_cleanse(&w, sizeof(w))


cdef int _kem_decapsulate(
    const _Params *params, const uint8_t *private_key, const uint8_t *ciphertext,
    uint8_t *shared_secret
) noexcept nogil:
    """Decapsulate with implicit rejection; return _BAD_KEY_HASH if the ML-KEM key is corrupt.

    The re-encryption comparison and the choice between the real and the rejection secret run
    in constant time.
    """
    cdef size_t pke_bytes = params.k * _POLY_BYTES
    cdef const uint8_t *public_key = private_key + pke_bytes
    cdef const uint8_t *public_key_hash = public_key + params.public_key_bytes
    cdef const uint8_t *z = public_key_hash + _SYMBYTES
    cdef uint8_t inputs[2 * _SYMBYTES]
    cdef uint8_t outputs[2 * _SYMBYTES]
    cdef uint8_t rejection[_SYMBYTES]
    cdef uint8_t expected[_MAX_CIPHERTEXT_BYTES]
    cdef uint8_t computed_hash[_SYMBYTES]
    cdef KeccakContext context
    cdef _PkeWorkspace w
    cdef uint64_t difference = 0
    cdef uint8_t keep_mask
    cdef size_t i
    cdef int j
    if params.fips:
        # FIPS 203 section 7.3 hash check: H(ek) stored in dk must match ek.
        sha3(SHA3_256_RATE, 32, public_key, params.public_key_bytes, computed_hash)
        if memcmp(computed_hash, public_key_hash, _SYMBYTES) != 0:
            return _BAD_KEY_HASH
    _pke_decrypt(&w, params, private_key, ciphertext, inputs)
    memcpy(inputs + _SYMBYTES, public_key_hash, _SYMBYTES)
    sha3(SHA3_512_RATE, 64, inputs, 2 * _SYMBYTES, outputs)
    _pke_encrypt(&w, params, public_key, inputs, outputs + _SYMBYTES, expected)
    for i in range(params.ciphertext_bytes):
        difference |= ciphertext[i] ^ expected[i]
    # 0xFF when the ciphertexts match, 0x00 otherwise.
    keep_mask = <uint8_t>(((difference | (0 - difference)) >> 63) - 1)
    if params.fips:
        # Rejection secret J(z || c).
        keccak_start(&context, SHAKE256_RATE, 0)
        keccak_absorb(&context, z, _SYMBYTES)
        keccak_absorb(&context, ciphertext, params.ciphertext_bytes)
        shake_finish_absorb(&context)
        shake_squeeze(&context, rejection, _SYMBYTES)
        keccak_clear(&context)
        for j in range(_SYMBYTES):
            shared_secret[j] = (outputs[j] & keep_mask) | (rejection[j] & ~keep_mask)
    else:
        # Shared secret SHAKE256(K' || H(c)), with z in place of K' on rejection.
        for j in range(_SYMBYTES):
            outputs[j] = (outputs[j] & keep_mask) | (z[j] & ~keep_mask)
        sha3(SHA3_256_RATE, 32, ciphertext, params.ciphertext_bytes, outputs + _SYMBYTES)
        shake(SHAKE256_RATE, outputs, 2 * _SYMBYTES, shared_secret, _SYMBYTES)
    OPENSSL_cleanse(inputs, sizeof(inputs))
    OPENSSL_cleanse(outputs, sizeof(outputs))
    OPENSSL_cleanse(rejection, sizeof(rejection))
    OPENSSL_cleanse(expected, sizeof(expected))
    OPENSSL_cleanse(&keep_mask, sizeof(keep_mask))
    OPENSSL_cleanse(&w, sizeof(w))
    return _OK


cdef bint _public_key_is_reduced(const _Params *params, const uint8_t *public_key) noexcept nogil:
    """Return whether every 12-bit coefficient of ek is below q (FIPS 203 modulus check)."""
    cdef _Poly poly
    cdef int i
    cdef int j
    cdef int16_t bad = 0
    for i in range(params.k):
        _decode_bits(&poly, public_key + i * _POLY_BYTES, 12)
        for j in range(_N):
            bad |= poly.coeffs[j] >= _Q
    return not bad


# ---------------------------------------------------------------------------------------------
# Python API


VARIANTS = ("kyber768-r2", "kyber1024-r2", "ml-kem-512", "ml-kem-768", "ml-kem-1024")

cdef _Params _VARIANT_PARAMS[5]


cdef _Params _make_params(int k, int eta1, int du, int dv, int fips):
    cdef _Params params
    params.k = k
    params.eta1 = eta1
    params.du = du
    params.dv = dv
    params.fips = fips
    params.public_key_bytes = k * _POLY_BYTES + _SYMBYTES
    params.private_key_bytes = 2 * k * _POLY_BYTES + 3 * _SYMBYTES
    params.ciphertext_bytes = 32 * (k * du + dv)
    return params


_VARIANT_PARAMS[0] = _make_params(3, 2, 10, 4, 0)
_VARIANT_PARAMS[1] = _make_params(4, 2, 11, 5, 0)
_VARIANT_PARAMS[2] = _make_params(2, 3, 10, 4, 1)
_VARIANT_PARAMS[3] = _make_params(3, 2, 10, 4, 1)
_VARIANT_PARAMS[4] = _make_params(4, 2, 11, 5, 1)


cdef const _Params *_lookup(str variant) except NULL:
    if variant not in VARIANTS:
        raise ValueError(
            f"unknown Kyber variant {variant!r}; expected one of {', '.join(VARIANTS)}"
        )
    return &_VARIANT_PARAMS[VARIANTS.index(variant)]


cdef int _check_length(str variant, str what, bytes value, size_t expected) except -1:
    if <size_t>len(value) != expected:
        raise ValueError(f"{variant} {what} must be {expected} bytes, got {len(value)}")
    return 0


def sizes(str variant not None):
    """Return (public key, private key, ciphertext, shared secret) sizes in bytes."""
    cdef const _Params *params = _lookup(variant)
    return (
        params.public_key_bytes,
        params.private_key_bytes,
        params.ciphertext_bytes,
        _SYMBYTES,
    )


def check_public_key(str variant not None, bytes public_key not None):
    """Raise ValueError unless public_key has the right length and, for ML-KEM, passes the
    FIPS 203 modulus check."""
    cdef const _Params *params = _lookup(variant)
    _check_length(variant, "public key", public_key, params.public_key_bytes)
    cdef const uint8_t *key = public_key
    cdef bint reduced = True
    if params.fips:
        with nogil:
            reduced = _public_key_is_reduced(params, key)
    if not reduced:
        raise ValueError(
            f"{variant} public key is invalid: a coefficient is not reduced modulo 3329"
        )


def keypair(str variant not None, bytes seed not None):
    """Derive (public_key, private_key) from the 64-byte seed d || z."""
    cdef const _Params *params = _lookup(variant)
    _check_length(variant, "key generation seed", seed, 2 * _SYMBYTES)
    cdef const uint8_t *seed_bytes = seed
    cdef uint8_t public_key[_MAX_PUBLIC_KEY_BYTES]
    cdef uint8_t private_key[_MAX_PRIVATE_KEY_BYTES]
    with nogil:
        _kem_keypair(params, seed_bytes, public_key, private_key)
    try:
        return (
            public_key[:params.public_key_bytes],
            private_key[:params.private_key_bytes],
        )
    finally:
        OPENSSL_cleanse(private_key, sizeof(private_key))


def encapsulate(str variant not None, bytes public_key not None, bytes randomness not None):
    """Encapsulate to public_key with the 32-byte message m; return (ciphertext, shared_secret)."""
    cdef const _Params *params = _lookup(variant)
    _check_length(variant, "encapsulation randomness", randomness, _SYMBYTES)
    check_public_key(variant, public_key)
    cdef const uint8_t *key = public_key
    cdef const uint8_t *message = randomness
    cdef uint8_t ciphertext[_MAX_CIPHERTEXT_BYTES]
    cdef uint8_t shared_secret[_SYMBYTES]
    with nogil:
        _kem_encapsulate(params, key, message, ciphertext, shared_secret)
    try:
        return ciphertext[:params.ciphertext_bytes], shared_secret[:_SYMBYTES]
    finally:
        OPENSSL_cleanse(shared_secret, sizeof(shared_secret))


def decapsulate(str variant not None, bytes private_key not None, bytes ciphertext not None):
    """Return the shared secret, or the implicit-rejection secret for a tampered ciphertext."""
    cdef const _Params *params = _lookup(variant)
    _check_length(variant, "private key", private_key, params.private_key_bytes)
    _check_length(variant, "ciphertext", ciphertext, params.ciphertext_bytes)
    cdef const uint8_t *key = private_key
    cdef const uint8_t *ciphertext_bytes = ciphertext
    cdef uint8_t shared_secret[_SYMBYTES]
    cdef int status
    with nogil:
        status = _kem_decapsulate(params, key, ciphertext_bytes, shared_secret)
    if status == _BAD_KEY_HASH:
        raise ValueError(
            f"{variant} private key is invalid: its stored public key hash does not match"
        )
    try:
        return shared_secret[:_SYMBYTES]
    finally:
        OPENSSL_cleanse(shared_secret, sizeof(shared_secret))
