# cython: language_level=3
"""Cryptographic primitives over OpenSSL libcrypto for the EP11 engine.

_crypto.pyi documents the contract of each call. Every libcrypto return value goes through
``_check``, which drains the OpenSSL error queue into a ``CryptoError`` (or a subclass). The
exception is ``PKey.verify``, which reduces every failure to ``False`` and clears the queue.
Calls that hash, encrypt, sign, verify, generate or parse run with the GIL released. Byte
arguments must be ``bytes``: they are immutable, so libcrypto reads them without the GIL and
without a copy.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.limits cimport INT_MAX
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy, memset

from ep11core._keccak cimport KeccakContext, keccak_absorb, keccak_start, sha3_finish
from ep11core._openssl.asn1 cimport (
    ASN1_get_object,
    V_ASN1_BIT_STRING,
    V_ASN1_CONSTRUCTED,
    V_ASN1_OBJECT,
    V_ASN1_OCTET_STRING,
    V_ASN1_SEQUENCE,
    V_ASN1_UNDEF,
    V_ASN1_UNIVERSAL,
)
from ep11core._openssl.bn cimport BN_bin2bn, BN_bn2binpad, BN_free, BN_num_bytes
from ep11core._openssl.core_names cimport (
    OSSL_PKEY_EC_ENCODING_GROUP,
    OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED,
    OSSL_PKEY_PARAM_EC_ENCODING,
    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
    OSSL_PKEY_PARAM_FFC_G,
    OSSL_PKEY_PARAM_FFC_P,
    OSSL_PKEY_PARAM_FFC_Q,
    OSSL_PKEY_PARAM_GROUP_NAME,
    OSSL_PKEY_PARAM_PUB_KEY,
    OSSL_PKEY_PARAM_RSA_E,
    OSSL_PKEY_PARAM_RSA_N,
)
from ep11core._openssl.crypto cimport (
    OPENSSL_clear_free,
    OPENSSL_cleanse,
    OPENSSL_free,
    OPENSSL_malloc,
)
from ep11core._openssl.dh cimport EVP_PKEY_CTX_set_dh_pad
from ep11core._openssl.dsa cimport (
    EVP_PKEY_CTX_set_dsa_paramgen_bits,
    EVP_PKEY_CTX_set_dsa_paramgen_q_bits,
)
from ep11core._openssl.ec cimport (
    ECDSA_SIG,
    ECDSA_SIG_free,
    ECDSA_SIG_get0,
    ECDSA_SIG_new,
    ECDSA_SIG_set0,
    EC_GROUP_get_curve_name,
    EC_KEY_get0_public_key,
    EC_POINT_point2oct,
    EC_KEY_free,
    EC_KEY_get0_group,
    EC_KEY_new_by_curve_name,
    EC_KEY_set_asn1_flag,
    EC_KEY_set_conv_form,
    EC_builtin_curve,
    EC_curve_nist2nid,
    EC_get_builtin_curves,
    OPENSSL_EC_NAMED_CURVE,
    POINT_CONVERSION_UNCOMPRESSED,
    d2i_ECPrivateKey,
    EVP_PKEY_CTX_set_ec_paramgen_curve_nid,
    d2i_ECDSA_SIG,
    i2d_ECDSA_SIG,
)
from ep11core._openssl.err cimport ERR_clear_error, ERR_error_string_n, ERR_get_error
from ep11core._openssl.evp cimport (
    EVP_CIPHER_CTX_ctrl,
    EVP_CIPHER_CTX_free,
    EVP_CIPHER_CTX_new,
    EVP_CIPHER_CTX_set_padding,
    EVP_CIPHER_fetch,
    EVP_CipherFinal_ex,
    EVP_CipherInit_ex2,
    EVP_CTRL_AEAD_GET_TAG,
    EVP_CTRL_AEAD_SET_IVLEN,
    EVP_CTRL_AEAD_SET_TAG,
    EVP_CipherUpdate,
    EVP_DigestSign,
    EVP_DigestSignInit_ex,
    EVP_DigestVerify,
    EVP_DigestVerifyInit_ex,
    EVP_MD_CTX_free,
    EVP_MD_CTX_new,
    EVP_PKEY_CTX_free,
    EVP_PKEY_CTX_new_from_name,
    EVP_PKEY_CTX_new_from_pkey,
    EVP_PKEY_CTX_set_group_name,
    EVP_PKEY_CTX_set_signature_md,
    EVP_PKEY_EC,
    EVP_PKEY_KEY_PARAMETERS,
    EVP_PKEY_PUBLIC_KEY,
    EVP_PKEY_RSA,
    EVP_PKEY_assign,
    EVP_PKEY_decrypt,
    EVP_PKEY_decrypt_init,
    EVP_PKEY_derive,
    EVP_PKEY_derive_init,
    EVP_PKEY_derive_set_peer_ex,
    EVP_PKEY_encrypt,
    EVP_PKEY_encrypt_init,
    EVP_PKEY_free,
    EVP_PKEY_fromdata,
    EVP_PKEY_fromdata_init,
    EVP_PKEY_generate,
    EVP_PKEY_get_bits,
    EVP_PKEY_get_bn_param,
    EVP_PKEY_get_raw_private_key,
    EVP_PKEY_get_raw_public_key,
    EVP_PKEY_get0_EC_KEY,
    EVP_PKEY_get_size,
    EVP_PKEY_get_utf8_string_param,
    EVP_PKEY_is_a,
    EVP_PKEY_keygen_init,
    EVP_PKEY_new,
    EVP_PKEY_new_raw_private_key_ex,
    EVP_PKEY_new_raw_public_key_ex,
    EVP_PKEY_pairwise_check,
    EVP_PKEY_param_check_quick,
    EVP_PKEY_paramgen,
    EVP_PKEY_paramgen_init,
    EVP_PKEY_set_utf8_string_param,
    EVP_PKEY_sign,
    EVP_PKEY_sign_init,
    EVP_PKEY_verify,
    EVP_PKEY_verify_init,
    EVP_sha1,
    EVP_sha224,
    EVP_sha256,
    EVP_sha384,
    EVP_sha3_224,
    EVP_sha3_256,
    EVP_sha3_384,
    EVP_sha3_512,
    EVP_sha512,
    EVP_sha512_224,
    EVP_sha512_256,
)
from ep11core._openssl.objects cimport (
    NID_ED448,
    NID_ED25519,
    NID_X448,
    NID_X25519,
    NID_X9_62_id_ecPublicKey,
    NID_dhKeyAgreement,
    NID_dsa,
    NID_rsaEncryption,
    NID_undef,
    OBJ_nid2sn,
    OBJ_obj2nid,
    OBJ_sn2nid,
)
from ep11core._openssl.param_build cimport (
    OSSL_PARAM_BLD_free,
    OSSL_PARAM_BLD_new,
    OSSL_PARAM_BLD_push_BN,
    OSSL_PARAM_BLD_to_param,
)
from ep11core._openssl.params cimport (
    OSSL_PARAM_construct_end,
    OSSL_PARAM_construct_octet_string,
    OSSL_PARAM_construct_utf8_string,
    OSSL_PARAM_free,
)
from ep11core._openssl.rand cimport RAND_bytes
from ep11core._openssl.rsa cimport (
    EVP_PKEY_CTX_set0_rsa_oaep_label,
    EVP_PKEY_CTX_set1_rsa_keygen_pubexp,
    EVP_PKEY_CTX_set_rsa_keygen_bits,
    EVP_PKEY_CTX_set_rsa_mgf1_md,
    EVP_PKEY_CTX_set_rsa_oaep_md,
    EVP_PKEY_CTX_set_rsa_padding,
    EVP_PKEY_CTX_set_rsa_pss_saltlen,
    RSA_NO_PADDING,
    RSA_PKCS1_OAEP_PADDING,
    RSA_PKCS1_PADDING,
    RSA_PKCS1_PADDING_SIZE,
    RSA_PKCS1_PSS_PADDING,
    RSA_X931_PADDING,
    RSA_X931_generate_key_ex,
    RSA_free,
    RSA_new,
    d2i_RSAPrivateKey,
)
from ep11core._openssl.sha cimport (
    SHA1_Final,
    SHA1_Init,
    SHA1_Update,
    SHA224_DIGEST_LENGTH,
    SHA224_Final,
    SHA224_Init,
    SHA224_Update,
    SHA256_CBLOCK,
    SHA256_CTX,
    SHA256_DIGEST_LENGTH,
    SHA256_Final,
    SHA256_Init,
    SHA256_Update,
    SHA384_DIGEST_LENGTH,
    SHA384_Final,
    SHA384_Init,
    SHA384_Update,
    SHA512_CBLOCK,
    SHA512_CTX,
    SHA512_DIGEST_LENGTH,
    SHA512_Final,
    SHA512_Init,
    SHA512_Update,
    SHA_CBLOCK,
    SHA_CTX,
    SHA_DIGEST_LENGTH,
    SHA_LONG64,
)
from ep11core._openssl.types cimport (
    ASN1_OBJECT,
    BIGNUM,
    EC_KEY,
    EVP_CIPHER,
    EVP_CIPHER_CTX,
    EVP_MD,
    EVP_MD_CTX,
    EVP_PKEY,
    EVP_PKEY_CTX,
    OSSL_PARAM,
    OSSL_PARAM_BLD,
    PKCS8_PRIV_KEY_INFO,
    RSA,
    X509_ALGOR,
)
from ep11core._openssl.x509 cimport (
    EVP_PKCS82PKEY,
    EVP_PKEY2PKCS8,
    PKCS8_PRIV_KEY_INFO_free,
    PKCS8_pkey_get0,
    X509_ALGOR_free,
    X509_ALGOR_get0,
    d2i_EC_PUBKEY,
    d2i_PKCS8_PRIV_KEY_INFO,
    d2i_PUBKEY,
    d2i_RSA_PUBKEY,
    d2i_X509_ALGOR,
    i2d_PKCS8_PRIV_KEY_INFO,
    i2d_PUBKEY,
)

__all__ = [
    "AuthenticationError",
    "CryptoError",
    "DataLengthError",
    "DecryptError",
    "KeyFormatError",
    "PKey",
    "PaddingError",
    "aes_ctr",
    "aes_gcm",
    "cipher",
    "cmac",
    "cmac_final",
    "cmac_init",
    "cmac_update",
    "dh_named_group",
    "digest",
    "digest_size",
    "generate_dsa_parameters",
    "hash_final",
    "hash_init",
    "hash_update",
    "hmac",
    "hmac_final",
    "hmac_init",
    "hmac_update",
    "random_bytes",
]


# ---------------------------------------------------------------------------------------------
# Errors


class CryptoError(Exception):
    """A libcrypto operation failed. The message contains the OpenSSL error strings."""


class KeyFormatError(CryptoError):
    """A DER key encoding is malformed, has trailing bytes or contains an unsupported key."""


class DataLengthError(CryptoError, ValueError):
    """The input length does not fit the cipher block size or the RSA modulus."""


class PaddingError(CryptoError):
    """The PKCS #7 padding of a decrypted block is invalid."""


class DecryptError(CryptoError):
    """RSA decryption failed: wrong key, corrupt ciphertext or invalid padding."""


class AuthenticationError(CryptoError):
    """An authentication tag (AES-GCM) does not match the ciphertext, IV and AAD."""


cdef enum _ErrorKind:
    _CRYPTO_ERROR
    _KEY_FORMAT_ERROR
    _PADDING_ERROR
    _DECRYPT_ERROR
    _AUTHENTICATION_ERROR


cdef str _drain_error_queue():
    """Remove every entry from this thread's OpenSSL error queue and return them as one line."""
    cdef unsigned long code
    cdef char text[256]
    messages = []
    while True:
        code = ERR_get_error()
        if code == 0:
            break
        ERR_error_string_n(code, text, sizeof(text))
        messages.append(text.decode("ascii", "replace"))
    return "; ".join(messages)


cdef int _raise_error(const char *operation, int kind) except -1:
    detail = _drain_error_queue()
    message = operation.decode("ascii") + " failed"
    if detail:
        message += ": " + detail
    if kind == _KEY_FORMAT_ERROR:
        raise KeyFormatError(message)
    if kind == _PADDING_ERROR:
        raise PaddingError(message)
    if kind == _DECRYPT_ERROR:
        raise DecryptError(message)
    if kind == _AUTHENTICATION_ERROR:
        raise AuthenticationError(message)
    raise CryptoError(message)


cdef inline int _check(int ok, const char *operation, int kind=_CRYPTO_ERROR) except -1 nogil:
    """Raise the error class for ``kind`` unless the libcrypto result ``ok`` is positive.

    libcrypto returns 1 on success and 0 or a negative value on failure. Callers pass pointer
    results as ``pointer != NULL``. The GIL is taken only on failure, so a sequence of calls
    inside one ``with nogil`` block stays free of it on the success path.
    """
    if ok > 0:
        return 0
    with gil:
        _raise_error(operation, kind)
    return -1


cdef bytes _take_openssl_buffer(unsigned char *buffer, int length, bint secret):
    """Copy a buffer that libcrypto allocated into ``bytes`` and free it (cleared if secret)."""
    try:
        return PyBytes_FromStringAndSize(<char *>buffer, length)
    finally:
        if secret:
            OPENSSL_clear_free(buffer, <size_t>length)
        else:
            OPENSSL_free(buffer)


# ---------------------------------------------------------------------------------------------
# Random numbers


def random_bytes(int n):
    if n < 0:
        raise ValueError(f"random_bytes needs a non-negative count, got {n}")
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n)
    cdef unsigned char *buffer = <unsigned char *>PyBytes_AS_STRING(out)
    with nogil:
        _check(RAND_bytes(buffer, n) if n else 1, "RAND_bytes")
    return out


# ---------------------------------------------------------------------------------------------
# Hashes with serialisable contexts
#
# SHA-1 and SHA-2 run on OpenSSL's low-level SHA_CTX, SHA256_CTX and SHA512_CTX structures.
# SHA-512/224 and SHA-512/256 are SHA-512 with their own initial hash values (FIPS 180-4)
# and a shorter md_len, which SHA512_Final honours. OpenSSL 3.0 has no public
# SHA-3 context structure, so SHA-3 runs on the Keccak-f[1600] sponge of ``_keccak``, whose
# state is plain bytes.


cdef enum _HashId:
    _SHA1
    _SHA224
    _SHA256
    _SHA384
    _SHA512
    _SHA512_224
    _SHA512_256
    _SHA3_224
    _SHA3_256
    _SHA3_384
    _SHA3_512
    _HASH_COUNT


cdef enum _HashFamily:
    _FAMILY_SHA1
    _FAMILY_SHA256
    _FAMILY_SHA512
    _FAMILY_KECCAK


cdef union _HashContext:
    SHA_CTX sha1
    SHA256_CTX sha256
    SHA512_CTX sha512
    KeccakContext keccak


cdef struct _HashInfo:
    const char *name
    int family
    int digest_size
    int block_size
    size_t context_size
    const EVP_MD *md


cdef enum:
    # The largest block size (the SHA3-224 rate) and digest size (SHA-512, SHA3-512).
    _MAX_BLOCK = 144
    _MAX_DIGEST = 64

cdef _HashInfo _HASHES[<int>_HASH_COUNT]
_HASHES[<int>_SHA1] = _HashInfo(
    b"sha1", _FAMILY_SHA1, SHA_DIGEST_LENGTH, SHA_CBLOCK, sizeof(SHA_CTX), EVP_sha1()
)
_HASHES[<int>_SHA224] = _HashInfo(
    b"sha224", _FAMILY_SHA256, 28, SHA256_CBLOCK, sizeof(SHA256_CTX), EVP_sha224()
)
_HASHES[<int>_SHA256] = _HashInfo(
    b"sha256", _FAMILY_SHA256, 32, SHA256_CBLOCK, sizeof(SHA256_CTX), EVP_sha256()
)
_HASHES[<int>_SHA384] = _HashInfo(
    b"sha384", _FAMILY_SHA512, 48, SHA512_CBLOCK, sizeof(SHA512_CTX), EVP_sha384()
)
_HASHES[<int>_SHA512] = _HashInfo(
    b"sha512", _FAMILY_SHA512, 64, SHA512_CBLOCK, sizeof(SHA512_CTX), EVP_sha512()
)
_HASHES[<int>_SHA512_224] = _HashInfo(
    b"sha512_224", _FAMILY_SHA512, 28, SHA512_CBLOCK, sizeof(SHA512_CTX), EVP_sha512_224()
)
_HASHES[<int>_SHA512_256] = _HashInfo(
    b"sha512_256", _FAMILY_SHA512, 32, SHA512_CBLOCK, sizeof(SHA512_CTX), EVP_sha512_256()
)
# The SHA-3 block size is the sponge rate: 200 bytes minus twice the digest size.
_HASHES[<int>_SHA3_224] = _HashInfo(
    b"sha3_224", _FAMILY_KECCAK, 28, 144, sizeof(KeccakContext), EVP_sha3_224()
)
_HASHES[<int>_SHA3_256] = _HashInfo(
    b"sha3_256", _FAMILY_KECCAK, 32, 136, sizeof(KeccakContext), EVP_sha3_256()
)
_HASHES[<int>_SHA3_384] = _HashInfo(
    b"sha3_384", _FAMILY_KECCAK, 48, 104, sizeof(KeccakContext), EVP_sha3_384()
)
_HASHES[<int>_SHA3_512] = _HashInfo(
    b"sha3_512", _FAMILY_KECCAK, 64, 72, sizeof(KeccakContext), EVP_sha3_512()
)

cdef dict _HASH_IDS = {
    _HASHES[i].name.decode("ascii"): i for i in range(<int>_HASH_COUNT)
}

# Initial hash values of SHA-512/224 and SHA-512/256 (FIPS 180-4).
cdef SHA_LONG64 _SHA512_224_IV[8]
_SHA512_224_IV[:] = [
    0x8C3D37C819544DA2, 0x73E1996689DCD4D6, 0x1DFAB7AE32FF9C82, 0x679DD514582F9FCF,
    0x0F6D2B697BD44DA8, 0x77E36F7304C48942, 0x3F9D85A86A1D36C8, 0x1112E6AD91D692A1,
]
cdef SHA_LONG64 _SHA512_256_IV[8]
_SHA512_256_IV[:] = [
    0x22312194FC2BF72C, 0x9F555FA3C84C64C2, 0x2393B86B6F53B151, 0x963877195940EABD,
    0x96283EE2A88EFFE3, 0xBE5E1E2553863992, 0x2B0199FC2C85B8AA, 0x0EB72DDC81C52CA2,
]


cdef int _hash_id(name) except -1:
    try:
        return _HASH_IDS[name]
    except (KeyError, TypeError):
        expected = ", ".join(sorted(_HASH_IDS))
        raise ValueError(f"unsupported hash {name!r}: expected one of {expected}") from None


# --- dispatch by hash family


cdef int _hash_start(int hash_id, _HashContext *context) noexcept nogil:
    cdef const _HashInfo *info = &_HASHES[hash_id]
    cdef int ok
    cdef int i
    # SHA384_Init and SHA512_Init leave the data block uninitialised. Zeroing the whole union
    # keeps stale stack bytes out of a serialised context.
    memset(context, 0, sizeof(_HashContext))
    if info.family == _FAMILY_SHA1:
        return SHA1_Init(&context.sha1)
    if info.family == _FAMILY_SHA256:
        if hash_id == _SHA224:
            return SHA224_Init(&context.sha256)
        return SHA256_Init(&context.sha256)
    if info.family == _FAMILY_KECCAK:
        keccak_start(&context.keccak, info.block_size, info.digest_size)
        return 1
    if hash_id == _SHA384:
        return SHA384_Init(&context.sha512)
    ok = SHA512_Init(&context.sha512)
    if hash_id == _SHA512_224:
        for i in range(8):
            context.sha512.h[i] = _SHA512_224_IV[i]
    elif hash_id == _SHA512_256:
        for i in range(8):
            context.sha512.h[i] = _SHA512_256_IV[i]
    context.sha512.md_len = info.digest_size
    return ok


cdef int _hash_absorb(
    int hash_id, _HashContext *context, const void *data, size_t length
) noexcept nogil:
    cdef int family = _HASHES[hash_id].family
    # SHA224_Update and SHA384_Update are SHA256_Update and SHA512_Update under other names.
    if family == _FAMILY_SHA1:
        return SHA1_Update(&context.sha1, data, length)
    if family == _FAMILY_SHA256:
        return SHA256_Update(&context.sha256, data, length)
    if family == _FAMILY_SHA512:
        return SHA512_Update(&context.sha512, data, length)
    keccak_absorb(&context.keccak, <const unsigned char *>data, length)
    return 1


cdef int _hash_finish(int hash_id, _HashContext *context, unsigned char *out) noexcept nogil:
    cdef int family = _HASHES[hash_id].family
    cdef int ok = 1
    # SHA256_Final and SHA512_Final write md_len bytes, so they also finish SHA-224, SHA-384
    # and the SHA-512/t hashes.
    if family == _FAMILY_SHA1:
        ok = SHA1_Final(out, &context.sha1)
    elif family == _FAMILY_SHA256:
        ok = SHA256_Final(out, &context.sha256)
    elif family == _FAMILY_SHA512:
        ok = SHA512_Final(out, &context.sha512)
    else:
        sha3_finish(&context.keccak, out)
    OPENSSL_cleanse(context, sizeof(_HashContext))
    return ok


cdef int _hash_once(
    int hash_id, const unsigned char *data, size_t length, unsigned char *out
) noexcept nogil:
    cdef _HashContext context
    if _hash_start(hash_id, &context) <= 0:
        return 0
    if _hash_absorb(hash_id, &context, data, length) <= 0:
        return 0
    return _hash_finish(hash_id, &context, out)


cdef int _load_context(int hash_id, bytes serialised, _HashContext *context) except -1:
    """Copy a serialised context into ``context`` after checking its size and counters.

    The buffered-byte counter ``num`` must stay below the block size, or the update and final
    functions would write past the data block. ``md_len`` (and the Keccak rate) must match the
    hash.
    """
    cdef const _HashInfo *info = &_HASHES[hash_id]
    cdef unsigned int buffered
    cdef unsigned int digest_length
    cdef unsigned int block_size = info.block_size
    if <size_t>len(serialised) != info.context_size:
        raise ValueError(
            f"a {info.name.decode()} hash context is {info.context_size} bytes, "
            f"got {len(serialised)}"
        )
    memcpy(context, PyBytes_AS_STRING(serialised), info.context_size)
    if info.family == _FAMILY_SHA1:
        buffered = context.sha1.num
        digest_length = SHA_DIGEST_LENGTH
    elif info.family == _FAMILY_SHA256:
        buffered = context.sha256.num
        digest_length = context.sha256.md_len
    elif info.family == _FAMILY_SHA512:
        buffered = context.sha512.num
        digest_length = context.sha512.md_len
    else:
        buffered = context.keccak.num
        digest_length = context.keccak.md_len
        block_size = context.keccak.rate
    if (
        buffered >= <unsigned int>info.block_size
        or block_size != <unsigned int>info.block_size
        or digest_length != <unsigned int>info.digest_size
    ):
        OPENSSL_cleanse(context, sizeof(_HashContext))
        raise ValueError(f"invalid {info.name.decode()} hash context")
    return 0


cdef bytes _dump_context(int hash_id, _HashContext *context):
    cdef bytes out = PyBytes_FromStringAndSize(<char *>context, _HASHES[hash_id].context_size)
    OPENSSL_cleanse(context, sizeof(_HashContext))
    return out



def digest_size(name):
    return _HASHES[_hash_id(name)].digest_size


def digest(name, bytes data not None):
    cdef int hash_id = _hash_id(name)
    cdef unsigned char out[_MAX_DIGEST]
    cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef size_t length = len(data)
    cdef int ok
    with nogil:
        ok = _hash_once(hash_id, source, length, out)
    _check(ok, "SHA digest")
    return PyBytes_FromStringAndSize(<char *>out, _HASHES[hash_id].digest_size)


def hash_init(name):
    cdef int hash_id = _hash_id(name)
    cdef _HashContext context
    cdef int ok
    with nogil:
        ok = _hash_start(hash_id, &context)
    _check(ok, "SHA init")
    return _dump_context(hash_id, &context)


def hash_update(name, bytes ctx not None, bytes data not None):
    cdef int hash_id = _hash_id(name)
    cdef _HashContext context
    cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef size_t length = len(data)
    cdef int ok
    _load_context(hash_id, ctx, &context)
    with nogil:
        ok = _hash_absorb(hash_id, &context, source, length)
    _check(ok, "SHA update")
    return _dump_context(hash_id, &context)


def hash_final(name, bytes ctx not None):
    cdef int hash_id = _hash_id(name)
    cdef _HashContext context
    cdef unsigned char out[_MAX_DIGEST]
    cdef int ok
    _load_context(hash_id, ctx, &context)
    with nogil:
        ok = _hash_finish(hash_id, &context, out)
    _check(ok, "SHA final")
    return PyBytes_FromStringAndSize(<char *>out, _HASHES[hash_id].digest_size)


# ---------------------------------------------------------------------------------------------
# HMAC (RFC 2104) on the serialisable hash contexts


cdef int _hmac_key_block(
    int hash_id, const unsigned char *key, size_t key_length, unsigned char *block
) noexcept nogil:
    """Write K' (the key, or its hash when longer than a block) zero-padded to one block."""
    cdef size_t block_size = <size_t>_HASHES[hash_id].block_size
    memset(block, 0, block_size)
    if key_length > block_size:
        return _hash_once(hash_id, key, key_length, block)
    if key_length:
        memcpy(block, key, key_length)
    return 1


cdef int _hmac_start(
    int hash_id, const unsigned char *key_block, unsigned char pad, _HashContext *context
) noexcept nogil:
    """Start a hash of (K' XOR pad), the first block of the inner or the outer HMAC hash."""
    cdef int block_size = _HASHES[hash_id].block_size
    cdef unsigned char padded[_MAX_BLOCK]
    cdef int i
    cdef int ok
    for i in range(block_size):
        padded[i] = key_block[i] ^ pad
    ok = (
        _hash_start(hash_id, context) > 0
        and _hash_absorb(hash_id, context, padded, block_size) > 0
    )
    OPENSSL_cleanse(padded, sizeof(padded))
    return ok


cdef int _hmac_outer(
    int hash_id, const unsigned char *key_block, const unsigned char *inner, unsigned char *out
) noexcept nogil:
    """Compute H((K' XOR opad) || inner) into ``out``."""
    cdef _HashContext context
    if _hmac_start(hash_id, key_block, 0x5C, &context) <= 0:
        return 0
    if _hash_absorb(hash_id, &context, inner, _HASHES[hash_id].digest_size) <= 0:
        OPENSSL_cleanse(&context, sizeof(_HashContext))
        return 0
    return _hash_finish(hash_id, &context, out)


cdef int _hmac_once(
    int hash_id,
    const unsigned char *key,
    size_t key_length,
    const unsigned char *data,
    size_t length,
    unsigned char *out,
) noexcept nogil:
    cdef unsigned char key_block[_MAX_BLOCK]
    cdef unsigned char inner[_MAX_DIGEST]
    cdef _HashContext context
    cdef int ok = (
        _hmac_key_block(hash_id, key, key_length, key_block) > 0
        and _hmac_start(hash_id, key_block, 0x36, &context) > 0
        and _hash_absorb(hash_id, &context, data, length) > 0
        and _hash_finish(hash_id, &context, inner) > 0
        and _hmac_outer(hash_id, key_block, inner, out) > 0
    )
    OPENSSL_cleanse(key_block, sizeof(key_block))
    OPENSSL_cleanse(inner, sizeof(inner))
    OPENSSL_cleanse(&context, sizeof(_HashContext))
    return ok


def hmac(name, bytes key not None, bytes data not None):
    cdef int hash_id = _hash_id(name)
    cdef unsigned char out[_MAX_DIGEST]
    cdef const unsigned char *key_bytes = <const unsigned char *>PyBytes_AS_STRING(key)
    cdef size_t key_length = len(key)
    cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef size_t length = len(data)
    cdef int ok
    with nogil:
        ok = _hmac_once(hash_id, key_bytes, key_length, source, length, out)
    _check(ok, "HMAC")
    return PyBytes_FromStringAndSize(<char *>out, _HASHES[hash_id].digest_size)


def hmac_init(name, bytes key not None):
    cdef int hash_id = _hash_id(name)
    cdef unsigned char key_block[_MAX_BLOCK]
    cdef _HashContext context
    cdef const unsigned char *key_bytes = <const unsigned char *>PyBytes_AS_STRING(key)
    cdef size_t key_length = len(key)
    cdef int ok
    with nogil:
        ok = (
            _hmac_key_block(hash_id, key_bytes, key_length, key_block) > 0
            and _hmac_start(hash_id, key_block, 0x36, &context) > 0
        )
        OPENSSL_cleanse(key_block, sizeof(key_block))
    _check(ok, "HMAC init")
    return _dump_context(hash_id, &context)


def hmac_update(name, bytes ctx not None, bytes data not None):
    return hash_update(name, ctx, data)


def hmac_final(name, bytes key not None, bytes ctx not None):
    cdef int hash_id = _hash_id(name)
    cdef unsigned char key_block[_MAX_BLOCK]
    cdef unsigned char inner[_MAX_DIGEST]
    cdef unsigned char out[_MAX_DIGEST]
    cdef _HashContext context
    cdef const unsigned char *key_bytes = <const unsigned char *>PyBytes_AS_STRING(key)
    cdef size_t key_length = len(key)
    cdef int ok
    _load_context(hash_id, ctx, &context)
    with nogil:
        ok = (
            _hash_finish(hash_id, &context, inner) > 0
            and _hmac_key_block(hash_id, key_bytes, key_length, key_block) > 0
            and _hmac_outer(hash_id, key_block, inner, out) > 0
        )
        OPENSSL_cleanse(key_block, sizeof(key_block))
        OPENSSL_cleanse(inner, sizeof(inner))
    _check(ok, "HMAC final")
    return PyBytes_FromStringAndSize(<char *>out, _HASHES[hash_id].digest_size)


# ---------------------------------------------------------------------------------------------
# Block ciphers


cdef enum _CipherId:
    # AES ids come in groups of three per mode, in key-size order (128, 192, 256 bits), so
    # _aes_cipher_id can compute them.
    _AES_128_ECB
    _AES_192_ECB
    _AES_256_ECB
    _AES_128_CBC
    _AES_192_CBC
    _AES_256_CBC
    _AES_128_GCM
    _AES_192_GCM
    _AES_256_GCM
    _DES_EDE3_ECB
    _DES_EDE3_CBC
    _CIPHER_COUNT


cdef enum _CipherMode:
    _MODE_ECB
    _MODE_CBC
    _MODE_GCM


cdef enum:
    _AES_BLOCK = 16
    _DES_BLOCK = 8
    # Three-key triple DES and AES-256 keys, the longest keys the ciphers take.
    _MAX_CIPHER_KEY = 32
    # Bytes processed per EVP_CipherUpdate call where the output goes to a stack buffer.
    _CHUNK_BYTES = 1024


# Fetched once at import: an explicitly fetched EVP_CIPHER spares EVP_CipherInit_ex2 the
# implicit provider lookup on every call. A NULL entry is a cipher the providers lack.
cdef EVP_CIPHER *_CIPHERS[<int>_CIPHER_COUNT]


cdef void _fetch_ciphers() noexcept:
    cdef const char *names[<int>_CIPHER_COUNT]
    names[<int>_AES_128_ECB] = b"AES-128-ECB"
    names[<int>_AES_192_ECB] = b"AES-192-ECB"
    names[<int>_AES_256_ECB] = b"AES-256-ECB"
    names[<int>_AES_128_CBC] = b"AES-128-CBC"
    names[<int>_AES_192_CBC] = b"AES-192-CBC"
    names[<int>_AES_256_CBC] = b"AES-256-CBC"
    names[<int>_AES_128_GCM] = b"AES-128-GCM"
    names[<int>_AES_192_GCM] = b"AES-192-GCM"
    names[<int>_AES_256_GCM] = b"AES-256-GCM"
    names[<int>_DES_EDE3_ECB] = b"DES-EDE3-ECB"
    names[<int>_DES_EDE3_CBC] = b"DES-EDE3-CBC"
    for i in range(<int>_CIPHER_COUNT):
        _CIPHERS[i] = EVP_CIPHER_fetch(NULL, names[i], NULL)
    ERR_clear_error()


_fetch_ciphers()


cdef int _aes_cipher_id(int key_length, int mode) except -1:
    if key_length == 16:
        return <int>_AES_128_ECB + 3 * mode
    if key_length == 24:
        return <int>_AES_192_ECB + 3 * mode
    if key_length == 32:
        return <int>_AES_256_ECB + 3 * mode
    raise ValueError(f"an AES key is 16, 24 or 32 bytes, got {key_length}")


cdef int _des3_cipher_id(int key_length, int mode) except -1:
    if key_length != 16 and key_length != 24:
        raise ValueError(f"a triple DES key is 16 or 24 bytes, got {key_length}")
    return _DES_EDE3_CBC if mode == _MODE_CBC else _DES_EDE3_ECB


cdef int _load_cipher_key(bint des3, bytes key, unsigned char *key_buffer) noexcept:
    """Copy ``key`` into the ``_MAX_CIPHER_KEY``-byte ``key_buffer`` in the form libcrypto takes.

    Two-key triple DES becomes three-key triple DES with K3 = K1. The caller checked the length
    and clears the buffer after use.
    """
    cdef int key_length = len(key)
    memcpy(key_buffer, PyBytes_AS_STRING(key), key_length)
    if des3 and key_length == 16:
        memcpy(key_buffer + 16, PyBytes_AS_STRING(key), 8)
    return 0


cdef int _start_cipher(
    EVP_CIPHER_CTX **ctx,
    int cipher_id,
    const unsigned char *key,
    const unsigned char *iv,
    int encrypt,
) except -1 nogil:
    """Allocate ``ctx[0]`` and initialise it for an ECB or CBC cipher without padding."""
    cdef const EVP_CIPHER *algorithm = _CIPHERS[cipher_id]
    _check(algorithm != NULL, "EVP_CIPHER_fetch")
    ctx[0] = EVP_CIPHER_CTX_new()
    _check(ctx[0] != NULL, "EVP_CIPHER_CTX_new")
    _check(EVP_CipherInit_ex2(ctx[0], algorithm, key, iv, encrypt, NULL), "EVP_CipherInit_ex2")
    _check(EVP_CIPHER_CTX_set_padding(ctx[0], 0), "EVP_CIPHER_CTX_set_padding")
    return 0


cdef dict _CIPHER_MODES = {
    "aes-ecb": (False, _MODE_ECB),
    "aes-cbc": (False, _MODE_CBC),
    "des3-ecb": (True, _MODE_ECB),
    "des3-cbc": (True, _MODE_CBC),
}


def cipher(name, bint encrypt, bytes key not None, iv, bytes data not None, bint pad):
    try:
        des3, mode = _CIPHER_MODES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unsupported cipher {name!r}: expected aes-ecb, aes-cbc, des3-ecb or des3-cbc"
        ) from None

    cdef int key_length = len(key)
    cdef int cipher_id
    cdef int block_size
    if des3:
        block_size = _DES_BLOCK
        cipher_id = _des3_cipher_id(key_length, mode)
    else:
        block_size = _AES_BLOCK
        cipher_id = _aes_cipher_id(key_length, mode)

    cdef const unsigned char *iv_bytes = NULL
    if mode == _MODE_CBC:
        if not isinstance(iv, bytes) or len(iv) != block_size:
            found = f"{len(iv)} bytes" if isinstance(iv, bytes) else type(iv).__name__
            raise ValueError(f"{name} needs a {block_size}-byte IV of type bytes, got {found}")
        iv_bytes = <const unsigned char *>PyBytes_AS_STRING(iv)

    cdef Py_ssize_t length = len(data)
    cdef Py_ssize_t out_length = length
    if length > INT_MAX - block_size:
        raise DataLengthError(
            f"{length} bytes exceed the cipher input limit of {INT_MAX - block_size} bytes"
        )
    if encrypt and pad:
        out_length = length + block_size - length % block_size
    elif length % block_size:
        raise DataLengthError(
            f"{length} bytes are not a whole number of {block_size}-byte blocks"
        )
    elif pad and length == 0:
        raise DataLengthError("padded ciphertext cannot be empty")

    cdef unsigned char key_buffer[_MAX_CIPHER_KEY]
    _load_cipher_key(des3, key, key_buffer)
    cdef const EVP_CIPHER *algorithm = _CIPHERS[cipher_id]
    cdef bytes out = PyBytes_FromStringAndSize(NULL, out_length)
    cdef unsigned char *target = <unsigned char *>PyBytes_AS_STRING(out)
    cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef EVP_CIPHER_CTX *ctx = NULL
    cdef int update_length = 0
    cdef int final_length = 0
    cdef int final_error = _PADDING_ERROR if pad and not encrypt else _CRYPTO_ERROR
    try:
        with nogil:
            _check(algorithm != NULL, "EVP_CIPHER_fetch")
            ctx = EVP_CIPHER_CTX_new()
            _check(ctx != NULL, "EVP_CIPHER_CTX_new")
            _check(
                EVP_CipherInit_ex2(ctx, algorithm, key_buffer, iv_bytes, encrypt, NULL),
                "EVP_CipherInit_ex2",
            )
            _check(EVP_CIPHER_CTX_set_padding(ctx, pad), "EVP_CIPHER_CTX_set_padding")
            _check(
                EVP_CipherUpdate(ctx, target, &update_length, source, <int>length),
                "EVP_CipherUpdate",
            )
            # With padding, decryption fails here only when the padding is invalid, because
            # the length was checked above.
            _check(
                EVP_CipherFinal_ex(ctx, target + update_length, &final_length),
                "EVP_CipherFinal_ex",
                final_error,
            )
    finally:
        EVP_CIPHER_CTX_free(ctx)
        OPENSSL_cleanse(key_buffer, sizeof(key_buffer))
    if update_length + final_length != out_length:
        return out[: update_length + final_length]
    return out


# ---------------------------------------------------------------------------------------------
# CMAC (NIST SP 800-38B) over AES and triple DES, with a serialisable context
#
# The context is the CBC-MAC chaining value (one block) followed by the buffered input, 0 to
# one block long. Updates hold back the last block, even a whole one, because CMAC treats the
# final block differently.


# CMAC cipher name: (triple DES, block size).
cdef dict _CMAC_CIPHERS = {"aes": (False, _AES_BLOCK), "des3": (True, _DES_BLOCK)}


cdef tuple _cmac_cipher_info(name):
    try:
        return _CMAC_CIPHERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unsupported CMAC cipher {name!r}: expected aes or des3") from None


cdef int _cmac_cipher(name, bytes key, int *block_size) except -1:
    """Check the key for the CMAC cipher ``name`` and return the ECB cipher id."""
    des3, block_size[0] = _cmac_cipher_info(name)
    if des3:
        return _des3_cipher_id(len(key), _MODE_ECB)
    return _aes_cipher_id(len(key), _MODE_ECB)


cdef int _check_cmac_context(name, bytes ctx, int block_size) except -1:
    if not block_size <= len(ctx) <= 2 * block_size:
        raise ValueError(
            f"a {name} CMAC context is {block_size} to {2 * block_size} bytes, got {len(ctx)}"
        )
    return 0


cdef int _cbc_mac_blocks(
    int cbc_id,
    const unsigned char *key,
    int block_size,
    unsigned char *chain,
    const unsigned char *data,
    size_t length,
) except -1 nogil:
    """Advance the CBC-MAC value ``chain`` over ``length`` bytes of whole blocks."""
    cdef EVP_CIPHER_CTX *ctx = NULL
    cdef unsigned char buffer[_CHUNK_BYTES]
    cdef int chunk
    cdef int written = 0
    try:
        _start_cipher(&ctx, cbc_id, key, chain, 1)
        while length:
            chunk = <int>(length if length < _CHUNK_BYTES else _CHUNK_BYTES)
            _check(EVP_CipherUpdate(ctx, buffer, &written, data, chunk), "EVP_CipherUpdate")
            data += chunk
            length -= chunk
        memcpy(chain, buffer + written - block_size, block_size)
    finally:
        EVP_CIPHER_CTX_free(ctx)
        OPENSSL_cleanse(buffer, sizeof(buffer))
    return 0


cdef void _cmac_double(unsigned char *block, int block_size) noexcept nogil:
    """Multiply ``block`` by x in GF(2^128) or GF(2^64), the subkey step of SP 800-38B."""
    cdef unsigned char carry = block[0] >> 7
    cdef int i
    for i in range(block_size - 1):
        block[i] = <unsigned char>((block[i] << 1) | (block[i + 1] >> 7))
    block[block_size - 1] = <unsigned char>(block[block_size - 1] << 1)
    if carry:
        # The reduction constants of SP 800-38B: R_128 = 0x87 and R_64 = 0x1B.
        block[block_size - 1] ^= 0x87 if block_size == _AES_BLOCK else 0x1B


cdef int _cmac_finish(
    int ecb_id,
    const unsigned char *key,
    int block_size,
    const unsigned char *chain,
    const unsigned char *last,
    int last_length,
    unsigned char *out,
) except -1 nogil:
    """Compute the CMAC tag from the chaining value and the final, possibly partial, block."""
    cdef EVP_CIPHER_CTX *ctx = NULL
    cdef unsigned char subkey[_AES_BLOCK]
    cdef unsigned char block[_AES_BLOCK]
    cdef int written = 0
    cdef int i
    try:
        _start_cipher(&ctx, ecb_id, key, NULL, 1)
        memset(block, 0, sizeof(block))
        _check(EVP_CipherUpdate(ctx, subkey, &written, block, block_size), "EVP_CipherUpdate")
        _cmac_double(subkey, block_size)
        if last_length != block_size:
            # A partial (or empty) final block gets the 10* padding and the second subkey.
            _cmac_double(subkey, block_size)
            memcpy(block, last, last_length)
            block[last_length] = 0x80
        else:
            memcpy(block, last, block_size)
        for i in range(block_size):
            block[i] ^= subkey[i] ^ chain[i]
        _check(EVP_CipherUpdate(ctx, out, &written, block, block_size), "EVP_CipherUpdate")
    finally:
        EVP_CIPHER_CTX_free(ctx)
        OPENSSL_cleanse(subkey, sizeof(subkey))
        OPENSSL_cleanse(block, sizeof(block))
    return 0


def cmac_init(name):
    _, block_size = _cmac_cipher_info(name)
    return bytes(block_size)


def cmac_update(name, bytes key not None, bytes ctx not None, bytes data not None):
    cdef int block_size
    cdef int ecb_id = _cmac_cipher(name, key, &block_size)
    cdef bint des3 = ecb_id == _DES_EDE3_ECB
    cdef int cbc_id = _DES_EDE3_CBC if des3 else ecb_id + 3 * _MODE_CBC
    _check_cmac_context(name, ctx, block_size)
    cdef bytes pending = ctx[block_size:] + data
    # Every byte but the last block (whole or partial) is ready for the CBC-MAC.
    cdef size_t ready = ((len(pending) - 1) // block_size) * block_size if pending else 0
    if ready == 0:
        return ctx[:block_size] + pending
    cdef unsigned char key_buffer[_MAX_CIPHER_KEY]
    cdef unsigned char chain[_AES_BLOCK]
    cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(pending)
    _load_cipher_key(des3, key, key_buffer)
    memcpy(chain, PyBytes_AS_STRING(ctx), block_size)
    try:
        with nogil:
            _cbc_mac_blocks(cbc_id, key_buffer, block_size, chain, source, ready)
        return PyBytes_FromStringAndSize(<char *>chain, block_size) + pending[ready:]
    finally:
        OPENSSL_cleanse(key_buffer, sizeof(key_buffer))
        OPENSSL_cleanse(chain, sizeof(chain))


def cmac_final(name, bytes key not None, bytes ctx not None):
    cdef int block_size
    cdef int ecb_id = _cmac_cipher(name, key, &block_size)
    _check_cmac_context(name, ctx, block_size)
    cdef unsigned char key_buffer[_MAX_CIPHER_KEY]
    cdef unsigned char out[_AES_BLOCK]
    cdef const unsigned char *chain = <const unsigned char *>PyBytes_AS_STRING(ctx)
    cdef int last_length = len(ctx) - block_size
    _load_cipher_key(ecb_id == _DES_EDE3_ECB, key, key_buffer)
    try:
        with nogil:
            _cmac_finish(
                ecb_id, key_buffer, block_size, chain, chain + block_size, last_length, out
            )
        return PyBytes_FromStringAndSize(<char *>out, block_size)
    finally:
        OPENSSL_cleanse(key_buffer, sizeof(key_buffer))


def cmac(name, bytes key not None, bytes data not None):
    return cmac_final(name, key, cmac_update(name, key, cmac_init(name), data))


# ---------------------------------------------------------------------------------------------
# AES-CTR (NIST SP 800-38A) with a counter of 1 to 128 bits, as CK_AES_CTR_PARAMS defines


cdef inline void _counter_block(
    uint64_t high, uint64_t low, uint64_t high_mask, uint64_t low_mask, uint64_t index,
    unsigned char *out,
) noexcept nogil:
    """Write the counter block ``index`` blocks after (high, low) into ``out``.

    Only the masked counter bits take part in the addition, so the counter wraps within them
    and the other bits of the block stay as they are.
    """
    cdef uint64_t sum_low = low + index
    cdef uint64_t sum_high = high + (1 if sum_low < low else 0)
    cdef uint64_t new_low = (low & ~low_mask) | (sum_low & low_mask)
    cdef uint64_t new_high = (high & ~high_mask) | (sum_high & high_mask)
    cdef int i
    for i in range(8):
        out[i] = <unsigned char>(new_high >> (56 - 8 * i))
        out[8 + i] = <unsigned char>(new_low >> (56 - 8 * i))


cdef int _ctr_crypt(
    int ecb_id,
    const unsigned char *key,
    const unsigned char *initial,
    int counter_bits,
    uint64_t offset,
    const unsigned char *data,
    size_t length,
    unsigned char *out,
) except -1 nogil:
    cdef EVP_CIPHER_CTX *ctx = NULL
    cdef unsigned char counters[_CHUNK_BYTES]
    cdef unsigned char keystream[_CHUNK_BYTES]
    cdef uint64_t high = 0
    cdef uint64_t low = 0
    cdef uint64_t low_mask = <uint64_t>-1
    cdef uint64_t high_mask = <uint64_t>-1
    cdef uint64_t block_index = offset // _AES_BLOCK
    cdef size_t skip = offset % _AES_BLOCK
    cdef size_t produced
    cdef size_t take
    cdef size_t i
    cdef int blocks
    cdef int written = 0
    for i in range(8):
        high = (high << 8) | initial[i]
        low = (low << 8) | initial[8 + i]
    if counter_bits < 64:
        low_mask = ((<uint64_t>1) << counter_bits) - 1
        high_mask = 0
    elif counter_bits < 128:
        high_mask = ((<uint64_t>1) << (counter_bits - 64)) - 1 if counter_bits > 64 else 0
    try:
        _start_cipher(&ctx, ecb_id, key, NULL, 1)
        while length:
            blocks = <int>((skip + length + _AES_BLOCK - 1) // _AES_BLOCK)
            if blocks > _CHUNK_BYTES // _AES_BLOCK:
                blocks = _CHUNK_BYTES // _AES_BLOCK
            for i in range(<size_t>blocks):
                _counter_block(
                    high, low, high_mask, low_mask, block_index + i, counters + i * _AES_BLOCK
                )
            _check(
                EVP_CipherUpdate(ctx, keystream, &written, counters, blocks * _AES_BLOCK),
                "EVP_CipherUpdate",
            )
            produced = <size_t>blocks * _AES_BLOCK - skip
            take = length if length < produced else produced
            for i in range(take):
                out[i] = data[i] ^ keystream[skip + i]
            data += take
            out += take
            length -= take
            block_index += <uint64_t>blocks
            skip = 0
    finally:
        EVP_CIPHER_CTX_free(ctx)
        OPENSSL_cleanse(keystream, sizeof(keystream))
    return 0


def aes_ctr(
    bytes key not None,
    bytes counter_block not None,
    int counter_bits,
    unsigned long long offset,
    bytes data not None,
):
    cdef int ecb_id = _aes_cipher_id(len(key), _MODE_ECB)
    if len(counter_block) != _AES_BLOCK:
        raise ValueError(f"the AES-CTR counter block is 16 bytes, got {len(counter_block)}")
    if not 1 <= counter_bits <= 128:
        raise ValueError(f"the AES-CTR counter is 1 to 128 bits, got {counter_bits}")
    cdef size_t length = len(data)
    # The last block this call uses must not bring the counter back to its initial value.
    cdef unsigned long long last_block = (offset + length - 1) // _AES_BLOCK if length else 0
    if counter_bits < 64 and last_block >= (<unsigned long long>1) << counter_bits:
        raise DataLengthError(
            f"a {counter_bits}-bit counter covers {1 << counter_bits} blocks; this input "
            f"would need block {last_block}"
        )
    cdef unsigned char key_buffer[_MAX_CIPHER_KEY]
    cdef bytes out = PyBytes_FromStringAndSize(NULL, length)
    cdef unsigned char *target = <unsigned char *>PyBytes_AS_STRING(out)
    cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef const unsigned char *initial = <const unsigned char *>PyBytes_AS_STRING(counter_block)
    _load_cipher_key(False, key, key_buffer)
    try:
        with nogil:
            _ctr_crypt(ecb_id, key_buffer, initial, counter_bits, offset, source, length, target)
    finally:
        OPENSSL_cleanse(key_buffer, sizeof(key_buffer))
    return out


# ---------------------------------------------------------------------------------------------
# AES-GCM (NIST SP 800-38D)


cdef enum:
    # OpenSSL 3.0 keeps the GCM IV in a fixed 128-byte field (GCM_IV_MAX_SIZE) and rejects
    # longer ones.
    _GCM_MAX_IV = 128
    _GCM_MAX_TAG = 16


def aes_gcm(
    bint encrypt,
    bytes key not None,
    bytes iv not None,
    bytes aad not None,
    bytes data not None,
    int tag_length,
):
    cdef int cipher_id = _aes_cipher_id(len(key), _MODE_GCM)
    cdef int iv_length = len(iv)
    if not 1 <= iv_length <= _GCM_MAX_IV:
        raise ValueError(f"an AES-GCM IV is 1 to {_GCM_MAX_IV} bytes, got {iv_length}")
    if not 1 <= tag_length <= _GCM_MAX_TAG:
        raise ValueError(f"an AES-GCM tag is 1 to {_GCM_MAX_TAG} bytes, got {tag_length}")
    if len(aad) > INT_MAX or len(data) > INT_MAX - _GCM_MAX_TAG:
        raise DataLengthError(
            f"AES-GCM takes at most {INT_MAX - _GCM_MAX_TAG} bytes of data and {INT_MAX} of AAD"
        )
    if not encrypt and len(data) < tag_length:
        raise DataLengthError(
            f"AES-GCM ciphertext ends with a {tag_length}-byte tag, got {len(data)} bytes"
        )
    cdef int text_length = len(data) if encrypt else len(data) - tag_length
    cdef int aad_length = len(aad)
    cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef const unsigned char *aad_bytes = <const unsigned char *>PyBytes_AS_STRING(aad)
    cdef const unsigned char *iv_bytes = <const unsigned char *>PyBytes_AS_STRING(iv)
    cdef unsigned char tag[_GCM_MAX_TAG]
    cdef unsigned char key_buffer[_MAX_CIPHER_KEY]
    cdef const EVP_CIPHER *algorithm = _CIPHERS[cipher_id]
    cdef bytes out = PyBytes_FromStringAndSize(NULL, text_length + (tag_length if encrypt else 0))
    cdef unsigned char *target = <unsigned char *>PyBytes_AS_STRING(out)
    cdef EVP_CIPHER_CTX *ctx = NULL
    cdef int written = 0
    cdef int final_length = 0
    if not encrypt:
        memcpy(tag, source + text_length, tag_length)
    _load_cipher_key(False, key, key_buffer)
    try:
        with nogil:
            _check(algorithm != NULL, "EVP_CIPHER_fetch")
            ctx = EVP_CIPHER_CTX_new()
            _check(ctx != NULL, "EVP_CIPHER_CTX_new")
            _check(
                EVP_CipherInit_ex2(ctx, algorithm, NULL, NULL, encrypt, NULL),
                "EVP_CipherInit_ex2",
            )
            _check(
                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, iv_length, NULL),
                "setting the AES-GCM IV length",
            )
            _check(
                EVP_CipherInit_ex2(ctx, NULL, key_buffer, iv_bytes, encrypt, NULL),
                "EVP_CipherInit_ex2",
            )
            if aad_length:
                _check(
                    EVP_CipherUpdate(ctx, NULL, &written, aad_bytes, aad_length),
                    "EVP_CipherUpdate",
                )
            if text_length:
                _check(
                    EVP_CipherUpdate(ctx, target, &written, source, text_length),
                    "EVP_CipherUpdate",
                )
            if not encrypt:
                _check(
                    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, tag_length, tag),
                    "setting the AES-GCM tag",
                )
            if encrypt:
                _check(
                    EVP_CipherFinal_ex(ctx, target + text_length, &final_length),
                    "EVP_CipherFinal_ex",
                )
                _check(
                    EVP_CIPHER_CTX_ctrl(
                        ctx, EVP_CTRL_AEAD_GET_TAG, tag_length, target + text_length
                    ),
                    "reading the AES-GCM tag",
                )
            else:
                # On decryption the final call compares the tag.
                _check(
                    EVP_CipherFinal_ex(ctx, target + text_length, &final_length),
                    "AES-GCM tag verification",
                    _AUTHENTICATION_ERROR,
                )
    except AuthenticationError:
        # The plaintext of a forged message never leaves this function.
        OPENSSL_cleanse(target, text_length)
        raise
    finally:
        EVP_CIPHER_CTX_free(ctx)
        OPENSSL_cleanse(key_buffer, sizeof(key_buffer))
    return out



# ---------------------------------------------------------------------------------------------
# Elliptic curves


cdef set _builtin_curve_nids():
    cdef size_t count = EC_get_builtin_curves(NULL, 0)
    cdef EC_builtin_curve *curves = <EC_builtin_curve *>malloc(count * sizeof(EC_builtin_curve))
    if curves == NULL:
        raise MemoryError()
    try:
        count = EC_get_builtin_curves(curves, count)
        return {curves[i].nid for i in range(count)}
    finally:
        free(curves)


cdef set _CURVE_NIDS = _builtin_curve_nids()


cdef int _curve_nid(curve) except -1:
    """Return the NID of a built-in curve named by its OpenSSL short name or NIST name."""
    if not isinstance(curve, str):
        raise TypeError(f"curve must be str, got {type(curve).__name__}")
    encoded = (<str>curve).encode("ascii", "replace")
    cdef int nid = OBJ_sn2nid(encoded)
    if nid == NID_undef:
        nid = EC_curve_nist2nid(encoded)
    if nid == NID_undef or nid not in _CURVE_NIDS:
        raise ValueError(f"unsupported curve {curve!r}: expected an OpenSSL curve short name")
    return nid


# ---------------------------------------------------------------------------------------------
# RSA padding options


cdef struct _RsaOptions:
    int padding
    const EVP_MD *md
    const EVP_MD *mgf1_md
    int md_size
    int salt_len


cdef const EVP_MD *_md_or_null(name) except? NULL:
    if name is None:
        return NULL
    return _HASHES[_hash_id(name)].md


cdef int _signature_options(
    padding, md, mgf1_md, int salt_len, _RsaOptions *options
) except -1:
    options.md = _md_or_null(md)
    options.md_size = _HASHES[_hash_id(md)].digest_size if md is not None else 0
    options.mgf1_md = NULL
    options.salt_len = 0
    if padding == "pkcs1":
        options.padding = RSA_PKCS1_PADDING
        if mgf1_md is not None:
            raise ValueError("PKCS #1 v1.5 signatures take no mgf1_md")
    elif padding == "pss":
        options.padding = RSA_PKCS1_PSS_PADDING
        if md is None:
            raise ValueError("PSS signatures need md")
        options.mgf1_md = _md_or_null(mgf1_md) if mgf1_md is not None else options.md
        if salt_len < 0:
            raise ValueError(f"salt_len must be non-negative, got {salt_len}")
        options.salt_len = salt_len
    elif padding == "none":
        options.padding = RSA_NO_PADDING
        if md is not None or mgf1_md is not None:
            raise ValueError("raw RSA signatures take no md or mgf1_md")
    elif padding == "x931":
        options.padding = RSA_X931_PADDING
        # OpenSSL 3.0 pads for X9.31 only with a digest that has an X9.31 hash identifier.
        if md not in ("sha1", "sha256", "sha384", "sha512") or mgf1_md is not None:
            raise ValueError("ANSI X9.31 signatures need md sha1, sha256, sha384 or sha512")
    else:
        raise ValueError(
            f"unsupported RSA signature padding {padding!r}: expected pkcs1, pss, x931 or none"
        )
    return 0


cdef int _encryption_options(padding, md, mgf1_md, label, _RsaOptions *options) except -1:
    options.md = NULL
    options.mgf1_md = NULL
    options.md_size = 0
    options.salt_len = 0
    if padding == "oaep":
        options.padding = RSA_PKCS1_OAEP_PADDING
        options.md = _md_or_null(md if md is not None else "sha1")
        options.md_size = _HASHES[_hash_id(md if md is not None else "sha1")].digest_size
        options.mgf1_md = _md_or_null(mgf1_md) if mgf1_md is not None else options.md
        if label is not None and not isinstance(label, bytes):
            raise TypeError(f"label must be bytes or None, got {type(label).__name__}")
        return 0
    if padding == "pkcs1":
        options.padding = RSA_PKCS1_PADDING
    elif padding == "none":
        options.padding = RSA_NO_PADDING
    else:
        raise ValueError(
            f"unsupported RSA encryption padding {padding!r}: expected pkcs1, oaep or none"
        )
    if md is not None or mgf1_md is not None or label:
        raise ValueError(f"RSA {padding} encryption takes no md, mgf1_md or label")
    return 0


cdef int _apply_signature_options(EVP_PKEY_CTX *ctx, const _RsaOptions *options) noexcept nogil:
    """Set the padding, digest, MGF1 digest and salt length. Return 1, or 0 on failure.

    The digest goes first, because OpenSSL checks X9.31 padding against the digest set.
    """
    if options.md != NULL and EVP_PKEY_CTX_set_signature_md(ctx, options.md) <= 0:
        return 0
    if EVP_PKEY_CTX_set_rsa_padding(ctx, options.padding) <= 0:
        return 0
    if options.padding == RSA_PKCS1_PSS_PADDING:
        if EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, options.mgf1_md) <= 0:
            return 0
        if EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, options.salt_len) <= 0:
            return 0
    return 1


cdef int _apply_encryption_options(
    EVP_PKEY_CTX *ctx, const _RsaOptions *options, const unsigned char *label, int label_length
) noexcept nogil:
    """Set the padding and, for OAEP, the digests and label. Return 1, or 0 on failure."""
    cdef void *label_copy = NULL
    if EVP_PKEY_CTX_set_rsa_padding(ctx, options.padding) <= 0:
        return 0
    if options.padding != RSA_PKCS1_OAEP_PADDING:
        return 1
    if EVP_PKEY_CTX_set_rsa_oaep_md(ctx, options.md) <= 0:
        return 0
    if EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, options.mgf1_md) <= 0:
        return 0
    if label_length == 0:
        return 1
    # The context frees the label with OPENSSL_free, so it gets its own OPENSSL_malloc copy.
    # set0 takes ownership only when it succeeds.
    label_copy = OPENSSL_malloc(<size_t>label_length)
    if label_copy == NULL:
        return 0
    memcpy(label_copy, label, <size_t>label_length)
    if EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label_copy, label_length) <= 0:
        OPENSSL_free(label_copy)
        return 0
    return 1


cdef bytes _left_pad(bytes data, Py_ssize_t size):
    if len(data) >= size:
        return data
    return bytes(size - len(data)) + data


# ---------------------------------------------------------------------------------------------
# Keys


cdef enum _KeyType:
    _RSA_KEY
    _EC_KEY
    _ED25519_KEY
    _ED448_KEY
    _X25519_KEY
    _X448_KEY
    _DSA_KEY
    _DH_KEY
    _KEY_TYPE_COUNT


cdef struct _KeyTypeInfo:
    # The OpenSSL key type name, which the key_type property returns.
    const char *name
    # The NID of the algorithm OID in a SubjectPublicKeyInfo or PKCS #8 PrivateKeyInfo.
    int nid
    # The raw public and private key length of the curve keys without parameters (ED25519,
    # ED448, X25519, X448: OpenSSL's ECX keys), else 0.
    int raw_length
    # The EdDSA signature length, else 0.
    int signature_length


cdef _KeyTypeInfo _KEY_TYPES[<int>_KEY_TYPE_COUNT]
_KEY_TYPES[<int>_RSA_KEY] = _KeyTypeInfo(b"RSA", NID_rsaEncryption, 0, 0)
_KEY_TYPES[<int>_EC_KEY] = _KeyTypeInfo(b"EC", NID_X9_62_id_ecPublicKey, 0, 0)
_KEY_TYPES[<int>_ED25519_KEY] = _KeyTypeInfo(b"ED25519", NID_ED25519, 32, 64)
_KEY_TYPES[<int>_ED448_KEY] = _KeyTypeInfo(b"ED448", NID_ED448, 57, 114)
_KEY_TYPES[<int>_X25519_KEY] = _KeyTypeInfo(b"X25519", NID_X25519, 32, 0)
_KEY_TYPES[<int>_X448_KEY] = _KeyTypeInfo(b"X448", NID_X448, 56, 0)
_KEY_TYPES[<int>_DSA_KEY] = _KeyTypeInfo(b"DSA", NID_dsa, 0, 0)
_KEY_TYPES[<int>_DH_KEY] = _KeyTypeInfo(b"DH", NID_dhKeyAgreement, 0, 0)

# The ECX key types by their OpenSSL name, which doubles as their curve name.
cdef dict _ECX_TYPES = {
    "ED25519": _ED25519_KEY,
    "ED448": _ED448_KEY,
    "X25519": _X25519_KEY,
    "X448": _X448_KEY,
}
cdef dict _FFC_TYPES = {"DSA": _DSA_KEY, "DH": _DH_KEY}

# The SubjectPublicKeyInfo of an ECX key as EP11 writes it: the AlgorithmIdentifier is
# id-ecPublicKey (1.2.840.10045.2.1) with the curve OID of RFC 8410 as its parameter, and the
# BIT STRING holds the raw key. The values are the DER AlgorithmIdentifiers.
cdef dict _EP11_ECX_ALGORITHMS = {
    _ED25519_KEY: bytes.fromhex("300e06072a8648ce3d020106032b6570"),
    _ED448_KEY: bytes.fromhex("300e06072a8648ce3d020106032b6571"),
    _X25519_KEY: bytes.fromhex("300e06072a8648ce3d020106032b656e"),
    _X448_KEY: bytes.fromhex("300e06072a8648ce3d020106032b656f"),
}

cdef enum:
    # Large enough for a DER (EC)DSA signature with an order of up to 571 bits and an
    # uncompressed point on such a curve.
    _MAX_ECDSA_DER = 256
    _MAX_EC_POINT = 256
    # The largest raw ECX key (ED448, 57 bytes), rounded up.
    _MAX_RAW_KEY = 64


cdef inline bint _is_ecx(int key_type) noexcept nogil:
    return _KEY_TYPES[key_type].raw_length != 0


cdef int _key_type_of_nid(int nid) noexcept:
    """Return the _KeyType whose algorithm OID has ``nid``, or -1."""
    cdef int key_type
    for key_type in range(<int>_KEY_TYPE_COUNT):
        if _KEY_TYPES[key_type].nid == nid:
            return key_type
    return -1


cdef int _ecx_type(curve) except -1:
    try:
        return _ECX_TYPES[curve]
    except (KeyError, TypeError):
        raise ValueError(
            f"unsupported curve {curve!r}: expected ED25519, ED448, X25519 or X448"
        ) from None


cdef int _ffc_type(algorithm) except -1:
    try:
        return _FFC_TYPES[algorithm]
    except (KeyError, TypeError):
        raise ValueError(f"unsupported algorithm {algorithm!r}: expected DSA or DH") from None


cdef bytes _der(int tag, bytes content):
    """Encode one DER element with a definite length."""
    cdef Py_ssize_t length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + content


cdef bytes _bn_bytes_of(const EVP_PKEY *pkey, const char *param, bint optional):
    """Return a BIGNUM parameter of ``pkey`` as minimal big-endian bytes.

    A missing optional parameter returns None and leaves the error queue empty.
    """
    cdef BIGNUM *value = NULL
    cdef bytes out
    if EVP_PKEY_get_bn_param(pkey, param, &value) <= 0:
        if optional:
            ERR_clear_error()
            return None
        _check(0, "EVP_PKEY_get_bn_param")
    try:
        out = PyBytes_FromStringAndSize(NULL, BN_num_bytes(value))
        BN_bn2binpad(value, <unsigned char *>PyBytes_AS_STRING(out), len(out))
        return out
    finally:
        BN_free(value)


cdef class PKey:
    cdef EVP_PKEY *_pkey
    cdef int _type
    cdef bint _private
    cdef int _bits
    # The modulus length in bytes (RSA), the byte length of the group order (EC) or of q
    # (DSA), the length of p in bytes (DH), or the raw key length (ECX).
    cdef int _size

    def __cinit__(self):
        self._pkey = NULL

    def __dealloc__(self):
        EVP_PKEY_free(self._pkey)

    def __init__(self, *args, **kwargs):
        raise TypeError(
            "create PKey objects with PKey.generate_rsa, PKey.generate_ec, "
            "PKey.generate_ffc, PKey.from_pkcs8, PKey.from_spki, PKey.from_ec_point, "
            "PKey.from_raw_private_key or PKey.from_ffc_public"
        )

    def __repr__(self):
        if self._pkey == NULL:
            return "<PKey empty>"
        kind = "private" if self._private else "public"
        if self._type == _EC_KEY:
            return f"<PKey EC {self.curve} {kind}>"
        return f"<PKey {self.key_type} {self._bits} {kind}>"

    # -- construction ------------------------------------------------------------------------

    @staticmethod
    def generate_rsa(int bits, public_exponent=65537, *, bint x931=False):
        if bits < 512 or bits > 16384:
            raise ValueError(f"RSA modulus size must be 512 to 16384 bits, got {bits}")
        if x931 and (bits < 1024 or bits % 256):
            raise ValueError(
                f"ANSI X9.31 moduli are multiples of 256 bits from 1024, got {bits}"
            )
        if not isinstance(public_exponent, int):
            raise TypeError(f"public_exponent must be int, got {type(public_exponent).__name__}")
        if public_exponent < 3 or public_exponent % 2 == 0:
            raise ValueError(f"public_exponent must be odd and at least 3, got {public_exponent}")
        cdef bytes exponent = public_exponent.to_bytes(
            (public_exponent.bit_length() + 7) // 8, "big"
        )
        cdef const unsigned char *exponent_bytes = (
            <const unsigned char *>PyBytes_AS_STRING(exponent)
        )
        cdef int exponent_length = len(exponent)
        cdef BIGNUM *e = NULL
        cdef EVP_PKEY_CTX *ctx = NULL
        cdef EVP_PKEY *pkey = NULL
        if x931:
            return _generate_x931_rsa(bits, exponent_bytes, exponent_length)
        try:
            with nogil:
                e = BN_bin2bn(exponent_bytes, exponent_length, NULL)
                _check(e != NULL, "BN_bin2bn")
                ctx = EVP_PKEY_CTX_new_from_name(NULL, b"RSA", NULL)
                _check(ctx != NULL, "EVP_PKEY_CTX_new_from_name")
                _check(EVP_PKEY_keygen_init(ctx), "EVP_PKEY_keygen_init")
                _check(
                    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits),
                    "EVP_PKEY_CTX_set_rsa_keygen_bits",
                )
                _check(
                    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e),
                    "EVP_PKEY_CTX_set1_rsa_keygen_pubexp",
                )
                _check(EVP_PKEY_generate(ctx, &pkey), "EVP_PKEY_generate")
        finally:
            EVP_PKEY_CTX_free(ctx)
            BN_free(e)
        return _wrap_key(pkey, True)

    @staticmethod
    def generate_ec(curve):
        if isinstance(curve, str) and curve in _ECX_TYPES:
            return _generate_ecx(_ECX_TYPES[curve])
        cdef int nid = _curve_nid(curve)
        cdef EVP_PKEY_CTX *ctx = NULL
        cdef EVP_PKEY *pkey = NULL
        try:
            with nogil:
                ctx = EVP_PKEY_CTX_new_from_name(NULL, b"EC", NULL)
                _check(ctx != NULL, "EVP_PKEY_CTX_new_from_name")
                _check(EVP_PKEY_keygen_init(ctx), "EVP_PKEY_keygen_init")
                _check(
                    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, nid),
                    "EVP_PKEY_CTX_set_ec_paramgen_curve_nid",
                )
                _check(EVP_PKEY_generate(ctx, &pkey), "EVP_PKEY_generate")
        finally:
            EVP_PKEY_CTX_free(ctx)
        return _wrap_key(pkey, True)

    @staticmethod
    def from_pkcs8(bytes der not None, *, bint pairwise_check=True):
        cdef const unsigned char *start = <const unsigned char *>PyBytes_AS_STRING(der)
        cdef const unsigned char *cursor = start
        cdef long length = len(der)
        cdef PKCS8_PRIV_KEY_INFO *info = NULL
        cdef EVP_PKEY *pkey = NULL
        cdef unsigned char *encoded = NULL
        cdef int encoded_length = 0
        cdef bint provider_key = False
        try:
            with nogil:
                info = d2i_PKCS8_PRIV_KEY_INFO(NULL, &cursor, length)
            _check(info != NULL, "d2i_PKCS8_PRIV_KEY_INFO", _KEY_FORMAT_ERROR)
            if cursor != start + length:
                raise KeyFormatError(
                    f"{start + length - cursor} trailing bytes after the PKCS #8 PrivateKeyInfo"
                )
            # OpenSSL also parses BER, so re-encoding and comparing keeps the input to strict DER.
            with nogil:
                encoded_length = i2d_PKCS8_PRIV_KEY_INFO(info, &encoded)
            _check(encoded_length > 0, "i2d_PKCS8_PRIV_KEY_INFO", _KEY_FORMAT_ERROR)
            if encoded_length != length or memcmp(encoded, start, <size_t>length) != 0:
                raise KeyFormatError("the PKCS #8 PrivateKeyInfo is not DER-encoded")
            pkey = _decode_private_key(info, &provider_key)
        finally:
            if encoded != NULL:
                OPENSSL_clear_free(encoded, <size_t>encoded_length)
            PKCS8_PRIV_KEY_INFO_free(info)
        cdef PKey key = _wrap_key(pkey, True, provider_key)
        if pairwise_check and key._type == _EC_KEY:
            # An ECPrivateKey may carry a public point that does not belong to its scalar.
            # The check costs 0.1 ms on P-256 and 1.7 ms on P-384 (OpenSSL 3.0.19, AMD EPYC),
            # so callers may skip it for keys they checked when they sealed them.
            key._check_pairwise()
        return key

    @staticmethod
    def from_spki(bytes der not None):
        cdef const unsigned char *start = <const unsigned char *>PyBytes_AS_STRING(der)
        cdef const unsigned char *cursor = start
        cdef long length = len(der)
        cdef PKey key = _wrap_key(_decode_public_key(&cursor, length), False)
        if cursor != start + length:
            raise KeyFormatError(
                f"{start + length - cursor} trailing bytes after the SubjectPublicKeyInfo"
            )
        return key

    @staticmethod
    def from_ec_point(curve, bytes point not None):
        if isinstance(curve, str) and curve in _ECX_TYPES:
            return _wrap_key(
                _new_raw_key(
                    _ECX_TYPES[curve],
                    <const unsigned char *>PyBytes_AS_STRING(point),
                    len(point),
                    False,
                ),
                False,
            )
        cdef int nid = _curve_nid(curve)
        cdef const char *group = OBJ_nid2sn(nid)
        cdef OSSL_PARAM params[3]
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, <char *>group, 0)
        params[1] = OSSL_PARAM_construct_octet_string(
            OSSL_PKEY_PARAM_PUB_KEY, <void *>PyBytes_AS_STRING(point), <size_t>len(point)
        )
        params[2] = OSSL_PARAM_construct_end()
        cdef EVP_PKEY_CTX *ctx = NULL
        cdef EVP_PKEY *pkey = NULL
        try:
            with nogil:
                ctx = EVP_PKEY_CTX_new_from_name(NULL, b"EC", NULL)
                _check(ctx != NULL, "EVP_PKEY_CTX_new_from_name")
                _check(EVP_PKEY_fromdata_init(ctx), "EVP_PKEY_fromdata_init")
                _check(
                    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params),
                    "EVP_PKEY_fromdata",
                    _KEY_FORMAT_ERROR,
                )
        finally:
            EVP_PKEY_CTX_free(ctx)
        return _wrap_key(pkey, False, True)

    @staticmethod
    def from_raw_private_key(curve, bytes raw not None):
        cdef int key_type = _ecx_type(curve)
        cdef EVP_PKEY *pkey = _new_raw_key(
            key_type, <const unsigned char *>PyBytes_AS_STRING(raw), len(raw), True
        )
        return _wrap_key(pkey, True)

    @staticmethod
    def generate_ffc(algorithm, bytes p not None, q, bytes g not None):
        cdef int key_type = _ffc_type(algorithm)
        cdef EVP_PKEY *parameters = _ffc_key(key_type, p, q, g, None)
        cdef EVP_PKEY_CTX *ctx = NULL
        cdef EVP_PKEY *pkey = NULL
        try:
            with nogil:
                ctx = EVP_PKEY_CTX_new_from_pkey(NULL, parameters, NULL)
                _check(ctx != NULL, "EVP_PKEY_CTX_new_from_pkey")
                # The quick check tests the sizes and ranges of p, q and g, not primality.
                _check(
                    EVP_PKEY_param_check_quick(ctx),
                    "EVP_PKEY_param_check_quick",
                    _KEY_FORMAT_ERROR,
                )
                _check(EVP_PKEY_keygen_init(ctx), "EVP_PKEY_keygen_init")
                _check(EVP_PKEY_generate(ctx, &pkey), "EVP_PKEY_generate")
        finally:
            EVP_PKEY_CTX_free(ctx)
            EVP_PKEY_free(parameters)
        return _wrap_key(pkey, True)

    @staticmethod
    def from_ffc_public(algorithm, bytes p not None, q, bytes g not None, bytes y not None):
        cdef int key_type = _ffc_type(algorithm)
        return _wrap_key(_ffc_key(key_type, p, q, g, y), False)

    cdef int _finish_init(self, bint normalise_ec) except -1:
        """Classify a newly wrapped key and check that an EC key has a named curve and a point.

        ``normalise_ec`` gives a provider EC key named-curve parameters and uncompressed points
        (the legacy decoders in this module set both on the EC_KEY). It runs before the key is
        shared, so it may still modify the EVP_PKEY.
        """
        cdef int key_type = 0
        while key_type < <int>_KEY_TYPE_COUNT:
            if EVP_PKEY_is_a(self._pkey, _KEY_TYPES[key_type].name):
                break
            key_type += 1
        else:
            raise KeyFormatError(
                "unsupported key type: expected RSA, EC, ED25519, ED448, X25519, X448, DSA or DH"
            )
        self._type = key_type
        if key_type == _RSA_KEY:
            self._bits = EVP_PKEY_get_bits(self._pkey)
            self._size = EVP_PKEY_get_size(self._pkey)
            _check(self._bits > 0 and self._size > 0, "EVP_PKEY_get_bits", _KEY_FORMAT_ERROR)
            return 0
        if _is_ecx(key_type):
            # Bits of the raw key, so that X25519 counts 256 and X448 448, as EP11 sizes them.
            self._size = _KEY_TYPES[key_type].raw_length
            self._bits = 8 * self._size
            return 0
        if key_type == _DSA_KEY or key_type == _DH_KEY:
            self._bits = EVP_PKEY_get_bits(self._pkey)
            _check(self._bits > 0, "EVP_PKEY_get_bits", _KEY_FORMAT_ERROR)
            if key_type == _DSA_KEY:
                self._size = len(_bn_bytes_of(self._pkey, OSSL_PKEY_PARAM_FFC_Q, False))
            else:
                self._size = (self._bits + 7) // 8
            return 0
        if self.curve is None:
            raise KeyFormatError("EC keys must use a named curve, not explicit parameters")
        if normalise_ec:
            self._normalise_ec()
        self._bits = EVP_PKEY_get_bits(self._pkey)
        _check(self._bits > 0, "EVP_PKEY_get_bits", _KEY_FORMAT_ERROR)
        self._size = (self._bits + 7) // 8
        point = self.ec_point
        if not point or point[0] != 0x04:
            raise KeyFormatError("the EC public key is the point at infinity")
        return 0

    cdef int _normalise_ec(self) except -1:
        _check(
            EVP_PKEY_set_utf8_string_param(
                self._pkey, OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_GROUP
            ),
            "EVP_PKEY_set_utf8_string_param",
            _KEY_FORMAT_ERROR,
        )
        _check(
            EVP_PKEY_set_utf8_string_param(
                self._pkey,
                OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED,
            ),
            "EVP_PKEY_set_utf8_string_param",
            _KEY_FORMAT_ERROR,
        )
        return 0

    cdef int _check_pairwise(self) except -1:
        cdef EVP_PKEY_CTX *ctx = NULL
        try:
            with nogil:
                ctx = EVP_PKEY_CTX_new_from_pkey(NULL, self._pkey, NULL)
                _check(ctx != NULL, "EVP_PKEY_CTX_new_from_pkey")
                _check(EVP_PKEY_pairwise_check(ctx), "EVP_PKEY_pairwise_check", _KEY_FORMAT_ERROR)
        finally:
            EVP_PKEY_CTX_free(ctx)
        return 0

    cdef EVP_PKEY_CTX *_new_ctx(self) except NULL nogil:
        cdef EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, self._pkey, NULL)
        _check(ctx != NULL, "EVP_PKEY_CTX_new_from_pkey")
        return ctx

    cdef int _require_key(self) except -1:
        if self._pkey == NULL:
            raise ValueError("this PKey contains no key")
        return 0

    cdef int _require_private(self, str operation) except -1:
        self._require_key()
        if not self._private:
            raise ValueError(f"{operation} needs a private key")
        return 0

    cdef int _require_rsa(self, str operation) except -1:
        self._require_key()
        if self._type != _RSA_KEY:
            raise ValueError(f"{operation} needs an RSA key")
        return 0

    # -- properties --------------------------------------------------------------------------

    @property
    def key_type(self):
        self._require_key()
        return _KEY_TYPES[self._type].name.decode("ascii")

    @property
    def is_private(self):
        self._require_key()
        return bool(self._private)

    @property
    def bits(self):
        self._require_key()
        return self._bits

    @property
    def curve(self):
        cdef char name[80]
        cdef size_t length = 0
        self._require_key()
        if _is_ecx(self._type):
            return self.key_type
        if self._type != _EC_KEY:
            return None
        if EVP_PKEY_get_utf8_string_param(
            self._pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &length
        ) <= 0:
            ERR_clear_error()
            return None
        return name[:length].decode("ascii")

    @property
    def public_exponent(self):
        self._require_key()
        if self._type != _RSA_KEY:
            return None
        return int.from_bytes(self._bn_param(OSSL_PKEY_PARAM_RSA_E), "big")

    @property
    def modulus(self):
        self._require_key()
        if self._type != _RSA_KEY:
            return None
        return self._bn_param(OSSL_PKEY_PARAM_RSA_N)

    @property
    def ec_point(self):
        cdef unsigned char point[_MAX_EC_POINT]
        cdef size_t length = 0
        cdef const EC_KEY *ec_key = NULL
        self._require_key()
        if _is_ecx(self._type):
            length = sizeof(point)
            _check(
                EVP_PKEY_get_raw_public_key(self._pkey, point, &length),
                "EVP_PKEY_get_raw_public_key",
            )
            return PyBytes_FromStringAndSize(<char *>point, length)
        if self._type != _EC_KEY:
            return None
        # The provider parameters of OpenSSL 3.0 return a legacy-decoded key's point in
        # compressed form, so the point is encoded from the EC_KEY in the form required here.
        ec_key = EVP_PKEY_get0_EC_KEY(self._pkey)
        _check(ec_key != NULL, "EVP_PKEY_get0_EC_KEY")
        length = EC_POINT_point2oct(
            EC_KEY_get0_group(ec_key),
            EC_KEY_get0_public_key(ec_key),
            POINT_CONVERSION_UNCOMPRESSED,
            point,
            sizeof(point),
            NULL,
        )
        _check(length > 0, "EC_POINT_point2oct")
        return PyBytes_FromStringAndSize(<char *>point, length)

    @property
    def ffc_params(self):
        self._require_key()
        if self._type != _DSA_KEY and self._type != _DH_KEY:
            return None
        return (
            self._bn_param(OSSL_PKEY_PARAM_FFC_P),
            _bn_bytes_of(self._pkey, OSSL_PKEY_PARAM_FFC_Q, True),
            self._bn_param(OSSL_PKEY_PARAM_FFC_G),
        )

    @property
    def public_value(self):
        self._require_key()
        if self._type != _DSA_KEY and self._type != _DH_KEY:
            return None
        return self._bn_param(OSSL_PKEY_PARAM_PUB_KEY)

    def raw_private_key(self):
        cdef unsigned char raw[_MAX_RAW_KEY]
        cdef size_t length = sizeof(raw)
        self._require_private("raw_private_key")
        if not _is_ecx(self._type):
            raise ValueError("raw_private_key needs an ED25519, ED448, X25519 or X448 key")
        try:
            _check(
                EVP_PKEY_get_raw_private_key(self._pkey, raw, &length),
                "EVP_PKEY_get_raw_private_key",
            )
            return PyBytes_FromStringAndSize(<char *>raw, length)
        finally:
            OPENSSL_cleanse(raw, sizeof(raw))

    cdef bytes _bn_param(self, const char *param):
        return _bn_bytes_of(self._pkey, param, False)

    # -- encodings ---------------------------------------------------------------------------

    def spki(self):
        cdef unsigned char *encoded = NULL
        cdef int length
        self._require_key()
        if _is_ecx(self._type):
            bit_string = _der(0x03, b"\x00" + self.ec_point)
            return _der(0x30, _EP11_ECX_ALGORITHMS[self._type] + bit_string)
        with nogil:
            length = i2d_PUBKEY(self._pkey, &encoded)
        _check(length > 0, "i2d_PUBKEY")
        return _take_openssl_buffer(encoded, length, False)

    def pkcs8(self):
        cdef PKCS8_PRIV_KEY_INFO *info = NULL
        cdef unsigned char *encoded = NULL
        cdef int length = 0
        self._require_private("pkcs8")
        try:
            with nogil:
                info = EVP_PKEY2PKCS8(self._pkey)
                _check(info != NULL, "EVP_PKEY2PKCS8")
                length = i2d_PKCS8_PRIV_KEY_INFO(info, &encoded)
                _check(length > 0, "i2d_PKCS8_PRIV_KEY_INFO")
        finally:
            PKCS8_PRIV_KEY_INFO_free(info)
        return _take_openssl_buffer(encoded, length, True)

    # -- signatures --------------------------------------------------------------------------

    def sign(self, bytes tbs not None, padding="pkcs1", md=None, mgf1_md=None, int salt_len=0):
        self._require_private("sign")
        if self._type == _EC_KEY or self._type == _DSA_KEY:
            return self._dsa_sign(tbs)
        if self._type == _ED25519_KEY or self._type == _ED448_KEY:
            return self._eddsa_sign(tbs)
        if self._type != _RSA_KEY:
            raise ValueError(f"{self.key_type} keys cannot sign")
        cdef _RsaOptions options
        _signature_options(padding, md, mgf1_md, salt_len, &options)
        cdef Py_ssize_t limit = self._size
        if options.padding == RSA_NO_PADDING:
            if len(tbs) > limit:
                raise DataLengthError(f"raw RSA signs at most {limit} bytes, got {len(tbs)}")
            tbs = _left_pad(tbs, limit)
        elif options.md != NULL:
            if len(tbs) != options.md_size:
                raise DataLengthError(
                    f"tbs must be a {options.md_size}-byte {md} digest, got {len(tbs)} bytes"
                )
        elif len(tbs) > limit - RSA_PKCS1_PADDING_SIZE:
            raise DataLengthError(
                f"PKCS #1 v1.5 signs at most {limit - RSA_PKCS1_PADDING_SIZE} bytes "
                f"with this key, got {len(tbs)}"
            )
        cdef bytes out = PyBytes_FromStringAndSize(NULL, self._size)
        cdef unsigned char *target = <unsigned char *>PyBytes_AS_STRING(out)
        cdef size_t signature_length = self._size
        cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(tbs)
        cdef size_t length = len(tbs)
        cdef EVP_PKEY_CTX *ctx = NULL
        try:
            with nogil:
                ctx = self._new_ctx()
                _check(EVP_PKEY_sign_init(ctx), "EVP_PKEY_sign_init")
                _check(
                    _apply_signature_options(ctx, &options), "setting the RSA signature options"
                )
                _check(
                    EVP_PKEY_sign(ctx, target, &signature_length, source, length), "EVP_PKEY_sign"
                )
        finally:
            EVP_PKEY_CTX_free(ctx)
        if signature_length != <size_t>self._size:
            return out[:signature_length]
        return out

    cdef bytes _eddsa_sign(self, bytes tbs):
        cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(tbs)
        cdef size_t length = len(tbs)
        cdef size_t signature_length = _KEY_TYPES[self._type].signature_length
        cdef bytes out = PyBytes_FromStringAndSize(NULL, signature_length)
        cdef unsigned char *target = <unsigned char *>PyBytes_AS_STRING(out)
        cdef EVP_MD_CTX *md_ctx = NULL
        try:
            with nogil:
                md_ctx = EVP_MD_CTX_new()
                _check(md_ctx != NULL, "EVP_MD_CTX_new")
                # Without a digest name, ED25519 and ED448 keys sign pure EdDSA (RFC 8032)
                # with an empty context string.
                _check(
                    EVP_DigestSignInit_ex(md_ctx, NULL, NULL, NULL, NULL, self._pkey, NULL),
                    "EVP_DigestSignInit_ex",
                )
                _check(
                    EVP_DigestSign(md_ctx, target, &signature_length, source, length),
                    "EVP_DigestSign",
                )
        finally:
            EVP_MD_CTX_free(md_ctx)
        return out

    cdef bytes _dsa_sign(self, bytes tbs):
        """Sign with ECDSA or DSA and return ``r || s``, each half padded to the order size.

        The DER Dss-Sig-Value of DSA and ECDSA-Sig-Value of ECDSA are both a SEQUENCE of two
        INTEGERs, so the ECDSA_SIG codec reads both.
        """
        cdef unsigned char der[_MAX_ECDSA_DER]
        cdef size_t der_length = sizeof(der)
        cdef const unsigned char *cursor = der
        cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(tbs)
        cdef size_t length = len(tbs)
        cdef int half = self._size
        cdef bytes out = PyBytes_FromStringAndSize(NULL, 2 * half)
        cdef unsigned char *target = <unsigned char *>PyBytes_AS_STRING(out)
        cdef EVP_PKEY_CTX *ctx = NULL
        cdef ECDSA_SIG *signature = NULL
        cdef const BIGNUM *r = NULL
        cdef const BIGNUM *s = NULL
        try:
            with nogil:
                ctx = self._new_ctx()
                _check(EVP_PKEY_sign_init(ctx), "EVP_PKEY_sign_init")
                # With no signature digest set, OpenSSL signs a tbs of any length and truncates
                # it to the bit length of the group order (FIPS 186-4 sections 4.6 and 6.4).
                _check(EVP_PKEY_sign(ctx, der, &der_length, source, length), "EVP_PKEY_sign")
                signature = d2i_ECDSA_SIG(NULL, &cursor, <long>der_length)
                _check(signature != NULL, "d2i_ECDSA_SIG")
                ECDSA_SIG_get0(signature, &r, &s)
                _check(BN_bn2binpad(r, target, half) == half, "BN_bn2binpad")
                _check(BN_bn2binpad(s, target + half, half) == half, "BN_bn2binpad")
        finally:
            ECDSA_SIG_free(signature)
            EVP_PKEY_CTX_free(ctx)
        return out

    def verify(
        self,
        bytes tbs not None,
        bytes signature not None,
        padding="pkcs1",
        md=None,
        mgf1_md=None,
        int salt_len=0,
    ):
        cdef _RsaOptions options
        cdef int result
        self._require_key()
        if self._type == _EC_KEY or self._type == _DSA_KEY:
            if len(signature) != 2 * self._size:
                return False
            result = self._dsa_verify(tbs, signature)
        elif self._type == _ED25519_KEY or self._type == _ED448_KEY:
            if len(signature) != _KEY_TYPES[self._type].signature_length:
                return False
            result = self._eddsa_verify(tbs, signature)
        elif self._type != _RSA_KEY:
            raise ValueError(f"{self.key_type} keys cannot verify")
        else:
            _signature_options(padding, md, mgf1_md, salt_len, &options)
            if len(signature) != self._size:
                return False
            if options.padding == RSA_NO_PADDING:
                if len(tbs) > self._size:
                    return False
                tbs = _left_pad(tbs, self._size)
            result = self._rsa_verify(tbs, signature, &options)
        if result != 1:
            # A bad signature leaves entries on the error queue, which are no error here.
            ERR_clear_error()
            return False
        return True

    cdef int _rsa_verify(self, bytes tbs, bytes signature, const _RsaOptions *options):
        cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(tbs)
        cdef size_t length = len(tbs)
        cdef const unsigned char *sig = <const unsigned char *>PyBytes_AS_STRING(signature)
        cdef size_t sig_length = len(signature)
        cdef EVP_PKEY_CTX *ctx = NULL
        cdef int result = 0
        with nogil:
            ctx = EVP_PKEY_CTX_new_from_pkey(NULL, self._pkey, NULL)
            if (
                ctx != NULL
                and EVP_PKEY_verify_init(ctx) > 0
                and _apply_signature_options(ctx, options) > 0
            ):
                result = EVP_PKEY_verify(ctx, sig, sig_length, source, length)
            EVP_PKEY_CTX_free(ctx)
        return result

    cdef int _eddsa_verify(self, bytes tbs, bytes signature):
        cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(tbs)
        cdef size_t length = len(tbs)
        cdef const unsigned char *sig = <const unsigned char *>PyBytes_AS_STRING(signature)
        cdef size_t sig_length = len(signature)
        cdef EVP_MD_CTX *md_ctx = NULL
        cdef int result = 0
        with nogil:
            md_ctx = EVP_MD_CTX_new()
            if (
                md_ctx != NULL
                and EVP_DigestVerifyInit_ex(md_ctx, NULL, NULL, NULL, NULL, self._pkey, NULL) > 0
            ):
                result = EVP_DigestVerify(md_ctx, sig, sig_length, source, length)
            EVP_MD_CTX_free(md_ctx)
        return result

    cdef int _dsa_verify(self, bytes tbs, bytes signature):
        cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(tbs)
        cdef size_t length = len(tbs)
        cdef const unsigned char *raw = <const unsigned char *>PyBytes_AS_STRING(signature)
        cdef int half = self._size
        cdef BIGNUM *r = NULL
        cdef BIGNUM *s = NULL
        cdef ECDSA_SIG *parsed = NULL
        cdef unsigned char *der = NULL
        cdef int der_length = 0
        cdef EVP_PKEY_CTX *ctx = NULL
        cdef int result = 0
        with nogil:
            r = BN_bin2bn(raw, half, NULL)
            s = BN_bin2bn(raw + half, half, NULL)
            parsed = ECDSA_SIG_new()
            if r != NULL and s != NULL and parsed != NULL and ECDSA_SIG_set0(parsed, r, s) > 0:
                # The signature owns r and s now. OpenSSL rejects r or s outside [1, n - 1]
                # (ECDSA) or [1, q - 1] (DSA).
                r = NULL
                s = NULL
                der_length = i2d_ECDSA_SIG(parsed, &der)
                ctx = EVP_PKEY_CTX_new_from_pkey(NULL, self._pkey, NULL)
                if der_length > 0 and ctx != NULL and EVP_PKEY_verify_init(ctx) > 0:
                    result = EVP_PKEY_verify(ctx, der, <size_t>der_length, source, length)
            EVP_PKEY_CTX_free(ctx)
            OPENSSL_free(der)
            ECDSA_SIG_free(parsed)
            BN_free(r)
            BN_free(s)
        return result

    # -- encryption --------------------------------------------------------------------------

    def encrypt(self, bytes data not None, padding="pkcs1", md=None, mgf1_md=None, label=None):
        cdef _RsaOptions options
        self._require_rsa("encrypt")
        _encryption_options(padding, md, mgf1_md, label, &options)
        cdef Py_ssize_t limit
        if options.padding == RSA_PKCS1_OAEP_PADDING:
            limit = self._size - 2 * options.md_size - 2
        elif options.padding == RSA_PKCS1_PADDING:
            limit = self._size - RSA_PKCS1_PADDING_SIZE
        else:
            limit = self._size
        if len(data) > limit:
            raise DataLengthError(
                f"RSA {padding} encryption takes at most {max(limit, 0)} bytes with this key, "
                f"got {len(data)}"
            )
        if options.padding == RSA_NO_PADDING:
            data = _left_pad(data, self._size)
        cdef bytes label_bytes = b""
        if options.padding == RSA_PKCS1_OAEP_PADDING and label:
            label_bytes = label
        cdef const unsigned char *label_ptr = <const unsigned char *>PyBytes_AS_STRING(label_bytes)
        cdef int label_length = len(label_bytes)
        cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(data)
        cdef size_t length = len(data)
        cdef bytes out = PyBytes_FromStringAndSize(NULL, self._size)
        cdef unsigned char *target = <unsigned char *>PyBytes_AS_STRING(out)
        cdef size_t out_length = self._size
        cdef EVP_PKEY_CTX *ctx = NULL
        try:
            with nogil:
                ctx = self._new_ctx()
                _check(EVP_PKEY_encrypt_init(ctx), "EVP_PKEY_encrypt_init")
                _check(
                    _apply_encryption_options(ctx, &options, label_ptr, label_length),
                    "setting the RSA encryption options",
                )
                _check(
                    EVP_PKEY_encrypt(ctx, target, &out_length, source, length),
                    "EVP_PKEY_encrypt",
                )
        finally:
            EVP_PKEY_CTX_free(ctx)
        if out_length != <size_t>self._size:
            return out[:out_length]
        return out

    def decrypt(self, bytes data not None, padding="pkcs1", md=None, mgf1_md=None, label=None):
        cdef _RsaOptions options
        self._require_rsa("decrypt")
        self._require_private("decrypt")
        _encryption_options(padding, md, mgf1_md, label, &options)
        if len(data) != self._size:
            raise DataLengthError(
                f"RSA ciphertext for this key is {self._size} bytes, got {len(data)}"
            )
        cdef bytes label_bytes = b""
        if options.padding == RSA_PKCS1_OAEP_PADDING and label:
            label_bytes = label
        cdef const unsigned char *label_ptr = <const unsigned char *>PyBytes_AS_STRING(label_bytes)
        cdef int label_length = len(label_bytes)
        cdef const unsigned char *source = <const unsigned char *>PyBytes_AS_STRING(data)
        cdef size_t length = len(data)
        cdef unsigned char *plain = <unsigned char *>OPENSSL_malloc(<size_t>self._size)
        cdef size_t plain_length = self._size
        cdef EVP_PKEY_CTX *ctx = NULL
        if plain == NULL:
            raise MemoryError()
        try:
            with nogil:
                ctx = self._new_ctx()
                _check(EVP_PKEY_decrypt_init(ctx), "EVP_PKEY_decrypt_init")
                _check(
                    _apply_encryption_options(ctx, &options, label_ptr, label_length),
                    "setting the RSA decryption options",
                )
                _check(
                    EVP_PKEY_decrypt(ctx, plain, &plain_length, source, length),
                    "EVP_PKEY_decrypt",
                    _DECRYPT_ERROR,
                )
            return PyBytes_FromStringAndSize(<char *>plain, plain_length)
        finally:
            EVP_PKEY_CTX_free(ctx)
            OPENSSL_clear_free(plain, <size_t>self._size)

    # -- key agreement -----------------------------------------------------------------------

    def derive(self, PKey peer not None):
        cdef EVP_PKEY_CTX *ctx = NULL
        cdef size_t length = 0
        cdef unsigned char *secret = NULL
        self._require_private("derive")
        if (
            self._type not in (_EC_KEY, _X25519_KEY, _X448_KEY, _DH_KEY)
            or peer._pkey == NULL
            or peer._type != self._type
        ):
            raise ValueError(
                "derive needs an EC, X25519, X448 or DH private key and a peer key of its type"
            )
        cdef bint pad = self._type == _DH_KEY
        try:
            with nogil:
                ctx = self._new_ctx()
                _check(EVP_PKEY_derive_init(ctx), "EVP_PKEY_derive_init")
                if pad:
                    _check(EVP_PKEY_CTX_set_dh_pad(ctx, 1), "EVP_PKEY_CTX_set_dh_pad")
                _check(
                    EVP_PKEY_derive_set_peer_ex(ctx, peer._pkey, 1), "EVP_PKEY_derive_set_peer_ex"
                )
                _check(EVP_PKEY_derive(ctx, NULL, &length), "EVP_PKEY_derive")
                secret = <unsigned char *>OPENSSL_malloc(length)
                _check(secret != NULL, "OPENSSL_malloc")
                _check(EVP_PKEY_derive(ctx, secret, &length), "EVP_PKEY_derive")
            return PyBytes_FromStringAndSize(<char *>secret, length)
        finally:
            EVP_PKEY_CTX_free(ctx)
            if secret != NULL:
                OPENSSL_clear_free(secret, length)


cdef PKey _wrap_key(EVP_PKEY *pkey, bint private, bint normalise_ec=False):
    """Give ``pkey`` to a new PKey, which frees it even if the checks that follow fail."""
    cdef PKey key = PKey.__new__(PKey)
    key._pkey = pkey
    key._private = private
    key._finish_init(normalise_ec)
    return key


cdef PKey _generate_x931_rsa(int bits, const unsigned char *exponent, int exponent_length):
    """Generate an RSA key with the ANSI X9.31 prime generation of the legacy RSA API."""
    cdef BIGNUM *e = NULL
    cdef RSA *rsa = NULL
    cdef int ok = 0
    with nogil:
        e = BN_bin2bn(exponent, exponent_length, NULL)
        rsa = RSA_new()
        if e != NULL and rsa != NULL:
            ok = RSA_X931_generate_key_ex(rsa, bits, e, NULL)
        BN_free(e)
    if ok <= 0:
        RSA_free(rsa)
        _check(0, "RSA_X931_generate_key_ex")
    return _wrap_key(_wrap_legacy_key(EVP_PKEY_RSA, rsa), True)


cdef PKey _generate_ecx(int key_type):
    cdef const char *name = _KEY_TYPES[key_type].name
    cdef EVP_PKEY_CTX *ctx = NULL
    cdef EVP_PKEY *pkey = NULL
    try:
        with nogil:
            ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL)
            _check(ctx != NULL, "EVP_PKEY_CTX_new_from_name")
            _check(EVP_PKEY_keygen_init(ctx), "EVP_PKEY_keygen_init")
            _check(EVP_PKEY_generate(ctx, &pkey), "EVP_PKEY_generate")
    finally:
        EVP_PKEY_CTX_free(ctx)
    return _wrap_key(pkey, True)


cdef EVP_PKEY *_new_raw_key(
    int key_type, const unsigned char *raw, Py_ssize_t length, bint private
) except NULL:
    """Build an ECX key from its raw public key or raw private key (RFC 7748, RFC 8032)."""
    cdef const _KeyTypeInfo *info = &_KEY_TYPES[key_type]
    cdef EVP_PKEY *pkey = NULL
    if length != info.raw_length:
        raise KeyFormatError(
            f"a raw {info.name.decode()} key is {info.raw_length} bytes, got {length}"
        )
    with nogil:
        if private:
            pkey = EVP_PKEY_new_raw_private_key_ex(NULL, info.name, NULL, raw, <size_t>length)
        else:
            pkey = EVP_PKEY_new_raw_public_key_ex(NULL, info.name, NULL, raw, <size_t>length)
    _check(pkey != NULL, "EVP_PKEY_new_raw_key", _KEY_FORMAT_ERROR)
    return pkey


# ---------------------------------------------------------------------------------------------
# Finite-field keys: DSA and DH domain parameters (p, q, g) and keys built from them


cdef enum:
    # p, q, g and the public value y.
    _FFC_FIELDS = 4


cdef EVP_PKEY *_ffc_key(int key_type, bytes p, q, bytes g, y) except NULL:
    """Build DSA or DH parameters (``y`` None) or a public key from big-endian integers.

    ``q`` may be None for DH. OpenSSL recognises the p and g of its named DH groups (RFC 3526,
    RFC 7919) and fills in their q.
    """
    cdef const char *keys[_FFC_FIELDS]
    cdef BIGNUM *numbers[_FFC_FIELDS]
    cdef OSSL_PARAM_BLD *builder = NULL
    cdef OSSL_PARAM *params = NULL
    cdef EVP_PKEY_CTX *ctx = NULL
    cdef EVP_PKEY *pkey = NULL
    cdef int selection = EVP_PKEY_KEY_PARAMETERS if y is None else EVP_PKEY_PUBLIC_KEY
    cdef int count = 0
    cdef int i
    if key_type == _DSA_KEY and q is None:
        raise ValueError("DSA parameters need q")
    for name, value in (("q", q), ("y", y)):
        if value is not None and not isinstance(value, bytes):
            raise TypeError(f"{name} must be bytes or None, got {type(value).__name__}")
    for value in (p, q, g, y):
        if value is not None and not any(value):
            raise ValueError("DSA and DH parameters and public values must be positive")
    try:
        for value, key in ((p, OSSL_PKEY_PARAM_FFC_P), (q, OSSL_PKEY_PARAM_FFC_Q),
                           (g, OSSL_PKEY_PARAM_FFC_G), (y, OSSL_PKEY_PARAM_PUB_KEY)):
            if value is None:
                continue
            numbers[count] = BN_bin2bn(
                <const unsigned char *>PyBytes_AS_STRING(value), <int>len(value), NULL
            )
            keys[count] = key
            count += 1
            _check(numbers[count - 1] != NULL, "BN_bin2bn")
        with nogil:
            builder = OSSL_PARAM_BLD_new()
            _check(builder != NULL, "OSSL_PARAM_BLD_new")
            for i in range(count):
                # The builder keeps a reference to each BIGNUM until OSSL_PARAM_BLD_to_param.
                _check(
                    OSSL_PARAM_BLD_push_BN(builder, keys[i], numbers[i]), "OSSL_PARAM_BLD_push_BN"
                )
            params = OSSL_PARAM_BLD_to_param(builder)
            _check(params != NULL, "OSSL_PARAM_BLD_to_param")
            ctx = EVP_PKEY_CTX_new_from_name(NULL, _KEY_TYPES[key_type].name, NULL)
            _check(ctx != NULL, "EVP_PKEY_CTX_new_from_name")
            _check(EVP_PKEY_fromdata_init(ctx), "EVP_PKEY_fromdata_init")
            _check(
                EVP_PKEY_fromdata(ctx, &pkey, selection, params),
                "EVP_PKEY_fromdata",
                _KEY_FORMAT_ERROR,
            )
    finally:
        EVP_PKEY_CTX_free(ctx)
        OSSL_PARAM_free(params)
        OSSL_PARAM_BLD_free(builder)
        for i in range(count):
            BN_free(numbers[i])
    return pkey


cdef tuple _ffc_parameters_of(EVP_PKEY *parameters):
    return (
        _bn_bytes_of(parameters, OSSL_PKEY_PARAM_FFC_P, False),
        _bn_bytes_of(parameters, OSSL_PKEY_PARAM_FFC_Q, False),
        _bn_bytes_of(parameters, OSSL_PKEY_PARAM_FFC_G, False),
    )


def generate_dsa_parameters(int bits, int qbits):
    if bits < 1024 or bits > 15360 or qbits not in (160, 224, 256):
        raise ValueError(
            f"DSA parameters need 1024 to 15360 bits and a q of 160, 224 or 256 bits, "
            f"got {bits} and {qbits}"
        )
    cdef EVP_PKEY_CTX *ctx = NULL
    cdef EVP_PKEY *parameters = NULL
    try:
        with nogil:
            ctx = EVP_PKEY_CTX_new_from_name(NULL, b"DSA", NULL)
            _check(ctx != NULL, "EVP_PKEY_CTX_new_from_name")
            _check(EVP_PKEY_paramgen_init(ctx), "EVP_PKEY_paramgen_init")
            _check(
                EVP_PKEY_CTX_set_dsa_paramgen_bits(ctx, bits), "EVP_PKEY_CTX_set_dsa_paramgen_bits"
            )
            _check(
                EVP_PKEY_CTX_set_dsa_paramgen_q_bits(ctx, qbits),
                "EVP_PKEY_CTX_set_dsa_paramgen_q_bits",
            )
            _check(EVP_PKEY_paramgen(ctx, &parameters), "EVP_PKEY_paramgen")
        return _ffc_parameters_of(parameters)
    finally:
        EVP_PKEY_CTX_free(ctx)
        EVP_PKEY_free(parameters)


# The safe-prime groups built into OpenSSL 3.0: RFC 3526 (MODP) and RFC 7919 (FFDHE).
_DH_GROUP_NAMES = frozenset(
    {
        "modp_1536", "modp_2048", "modp_3072", "modp_4096", "modp_6144", "modp_8192",
        "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192",
    }
)


def dh_named_group(name):
    if name not in _DH_GROUP_NAMES:
        raise ValueError(
            f"unknown DH group {name!r}: expected one of {', '.join(sorted(_DH_GROUP_NAMES))}"
        )
    cdef bytes encoded = name.encode("ascii")
    cdef const char *group = encoded
    cdef EVP_PKEY_CTX *ctx = NULL
    cdef EVP_PKEY *parameters = NULL
    try:
        with nogil:
            ctx = EVP_PKEY_CTX_new_from_name(NULL, b"DH", NULL)
            _check(ctx != NULL, "EVP_PKEY_CTX_new_from_name")
            _check(EVP_PKEY_paramgen_init(ctx), "EVP_PKEY_paramgen_init")
            _check(EVP_PKEY_CTX_set_group_name(ctx, group), "EVP_PKEY_CTX_set_group_name")
            _check(EVP_PKEY_paramgen(ctx, &parameters), "EVP_PKEY_paramgen")
        return _ffc_parameters_of(parameters)
    finally:
        EVP_PKEY_CTX_free(ctx)
        EVP_PKEY_free(parameters)


# ---------------------------------------------------------------------------------------------
# Key decoding
#
# OpenSSL 3.0 decodes d2i_PUBKEY and EVP_PKCS82PKEY through the OSSL_DECODER framework, which
# costs 150 to 850 us per key (OpenSSL 3.0.19, AMD EPYC). The engine parses a key on every
# request, so RSA and EC keys go through the deprecated legacy decoders instead
# (d2i_RSA_PUBKEY, d2i_RSAPrivateKey, d2i_EC_PUBKEY, d2i_ECPrivateKey), which the 3.0 provider
# decoders also call, in 3 to 40 us. OpenSSL exports a legacy key to its provider on first use
# and caches the export under the key's lock, so a shared PKey stays safe across threads.


cdef EVP_PKEY *_wrap_legacy_key(int key_type, void *legacy_key) except NULL:
    """Move an RSA or EC_KEY into a new EVP_PKEY, or free the key if that fails."""
    cdef EVP_PKEY *pkey = EVP_PKEY_new()
    if pkey != NULL and EVP_PKEY_assign(pkey, key_type, legacy_key) > 0:
        return pkey
    EVP_PKEY_free(pkey)
    if key_type == EVP_PKEY_RSA:
        RSA_free(<RSA *>legacy_key)
    else:
        EC_KEY_free(<EC_KEY *>legacy_key)
    _check(0, "EVP_PKEY_assign")
    return NULL


cdef EVP_PKEY *_wrap_legacy_ec_key(EC_KEY *ec_key) except NULL:
    """Give an EC_KEY named-curve parameters and uncompressed points, then wrap it."""
    if EC_GROUP_get_curve_name(EC_KEY_get0_group(ec_key)) == NID_undef:
        EC_KEY_free(ec_key)
        raise KeyFormatError("EC keys must use a named curve, not explicit parameters")
    EC_KEY_set_asn1_flag(ec_key, OPENSSL_EC_NAMED_CURVE)
    EC_KEY_set_conv_form(ec_key, POINT_CONVERSION_UNCOMPRESSED)
    return _wrap_legacy_key(EVP_PKEY_EC, ec_key)


cdef str _algorithm_name(int nid):
    return OBJ_nid2sn(nid).decode("ascii", "replace") if nid != NID_undef else "an unknown OID"


cdef struct _AlgorithmIds:
    # The NID of the algorithm OID.
    int nid
    # The ASN.1 type of the parameters (V_ASN1_UNDEF when they are absent) and, when they are
    # an OID, its NID.
    int parameter_type
    int parameter_nid


cdef int _public_key_algorithm(
    const unsigned char *der, long length, _AlgorithmIds *ids
) except -1:
    """Read the AlgorithmIdentifier of a DER SubjectPublicKeyInfo into ``ids``."""
    cdef const unsigned char *cursor = der
    cdef long content_length = 0
    cdef int tag = 0
    cdef int tag_class = 0
    cdef int flags = ASN1_get_object(&cursor, &content_length, &tag, &tag_class, length)
    cdef X509_ALGOR *algorithm = NULL
    cdef const ASN1_OBJECT *oid = NULL
    cdef const void *parameter = NULL
    _check(
        flags == V_ASN1_CONSTRUCTED and tag == V_ASN1_SEQUENCE and tag_class == V_ASN1_UNIVERSAL,
        "reading the SubjectPublicKeyInfo SEQUENCE header",
        _KEY_FORMAT_ERROR,
    )
    algorithm = d2i_X509_ALGOR(NULL, &cursor, content_length)
    _check(algorithm != NULL, "d2i_X509_ALGOR", _KEY_FORMAT_ERROR)
    X509_ALGOR_get0(&oid, &ids.parameter_type, &parameter, algorithm)
    ids.nid = OBJ_obj2nid(oid)
    ids.parameter_nid = NID_undef
    if ids.parameter_type == V_ASN1_OBJECT:
        ids.parameter_nid = OBJ_obj2nid(<const ASN1_OBJECT *>parameter)
    X509_ALGOR_free(algorithm)
    return 0


cdef EVP_PKEY *_decode_curve_public_key(
    int key_type, const unsigned char **cursor, long length
) except NULL:
    """Build an ECX key from the raw key in the BIT STRING of a SubjectPublicKeyInfo.

    The caller has read the AlgorithmIdentifier. ``cursor`` moves past the SubjectPublicKeyInfo.
    """
    cdef const unsigned char *position = cursor[0]
    cdef const unsigned char *end
    cdef long content_length = 0
    cdef int tag = 0
    cdef int tag_class = 0
    cdef int flags = ASN1_get_object(&position, &content_length, &tag, &tag_class, length)
    _check(
        flags == V_ASN1_CONSTRUCTED and tag == V_ASN1_SEQUENCE and tag_class == V_ASN1_UNIVERSAL,
        "reading the SubjectPublicKeyInfo SEQUENCE header",
        _KEY_FORMAT_ERROR,
    )
    end = position + content_length
    flags = ASN1_get_object(&position, &content_length, &tag, &tag_class, end - position)
    _check(
        flags == V_ASN1_CONSTRUCTED and tag == V_ASN1_SEQUENCE and tag_class == V_ASN1_UNIVERSAL,
        "reading the AlgorithmIdentifier header",
        _KEY_FORMAT_ERROR,
    )
    position += content_length
    flags = ASN1_get_object(&position, &content_length, &tag, &tag_class, end - position)
    # The BIT STRING must end the SEQUENCE, and its first octet (the unused bits) must be 0.
    _check(
        flags == 0
        and tag == V_ASN1_BIT_STRING
        and tag_class == V_ASN1_UNIVERSAL
        and content_length >= 1
        and position + content_length == end
        and position[0] == 0,
        "reading the public key BIT STRING",
        _KEY_FORMAT_ERROR,
    )
    cdef EVP_PKEY *pkey = _new_raw_key(key_type, position + 1, content_length - 1, False)
    cursor[0] = end
    return pkey


cdef EVP_PKEY *_decode_public_key(const unsigned char **cursor, long length) except NULL:
    """Parse a DER SubjectPublicKeyInfo and advance ``cursor`` past it.

    ED25519, ED448, X25519 and X448 keys are read in both encodings: RFC 8410 (the curve OID as
    the algorithm, no parameters) and EP11's (id-ecPublicKey with the curve OID as parameter).
    """
    cdef _AlgorithmIds ids
    _public_key_algorithm(cursor[0], length, &ids)
    cdef int nid = ids.nid
    cdef int key_type = _key_type_of_nid(nid)
    cdef RSA *rsa = NULL
    cdef EC_KEY *ec_key = NULL
    cdef EVP_PKEY *pkey = NULL
    if nid == NID_X9_62_id_ecPublicKey and ids.parameter_type == V_ASN1_OBJECT:
        curve_type = _key_type_of_nid(ids.parameter_nid)
        if curve_type >= 0 and _is_ecx(curve_type):
            return _decode_curve_public_key(curve_type, cursor, length)
    if key_type >= 0 and _is_ecx(key_type):
        if ids.parameter_type != V_ASN1_UNDEF:
            raise KeyFormatError(
                f"the {_algorithm_name(nid)} AlgorithmIdentifier must have no parameters"
            )
        return _decode_curve_public_key(key_type, cursor, length)
    if nid == NID_dsa or nid == NID_dhKeyAgreement:
        # DSA and DH keys are rare here, so they take the slower provider decoder.
        with nogil:
            pkey = d2i_PUBKEY(NULL, cursor, length)
        _check(pkey != NULL, "d2i_PUBKEY", _KEY_FORMAT_ERROR)
        return pkey
    if nid == NID_rsaEncryption:
        with nogil:
            rsa = d2i_RSA_PUBKEY(NULL, cursor, length)
        _check(rsa != NULL, "d2i_RSA_PUBKEY", _KEY_FORMAT_ERROR)
        return _wrap_legacy_key(EVP_PKEY_RSA, rsa)
    if nid == NID_X9_62_id_ecPublicKey:
        with nogil:
            ec_key = d2i_EC_PUBKEY(NULL, cursor, length)
        _check(ec_key != NULL, "d2i_EC_PUBKEY", _KEY_FORMAT_ERROR)
        return _wrap_legacy_ec_key(ec_key)
    raise KeyFormatError(
        f"unsupported public key algorithm {_algorithm_name(nid)}: expected RSA, EC, "
        "ED25519, ED448, X25519, X448, DSA or DH"
    )


cdef EVP_PKEY *_decode_private_key(
    const PKCS8_PRIV_KEY_INFO *info, bint *provider_key
) except NULL:
    """Build the RSA or EC key inside a parsed PKCS #8 PrivateKeyInfo.

    Sets ``provider_key`` when the key comes from the provider decoder, not a legacy one.
    """
    cdef const ASN1_OBJECT *oid = NULL
    cdef const unsigned char *cursor = NULL
    cdef int length = 0
    cdef const X509_ALGOR *algorithm = NULL
    cdef int parameter_type = 0
    cdef const void *parameter = NULL
    cdef RSA *rsa = NULL
    cdef EC_KEY *ec_key = NULL
    cdef EC_KEY *parsed = NULL
    cdef EVP_PKEY *pkey = NULL
    _check(PKCS8_pkey_get0(&oid, &cursor, &length, &algorithm, info), "PKCS8_pkey_get0")
    cdef const unsigned char *end = cursor + length
    cdef int nid = OBJ_obj2nid(oid)
    cdef int key_type = _key_type_of_nid(nid)
    if key_type >= 0 and _is_ecx(key_type):
        X509_ALGOR_get0(NULL, &parameter_type, NULL, algorithm)
        if parameter_type != V_ASN1_UNDEF:
            raise KeyFormatError(
                f"the {_algorithm_name(nid)} AlgorithmIdentifier must have no parameters"
            )
        return _decode_curve_private_key(key_type, cursor, length)
    if nid == NID_dsa or nid == NID_dhKeyAgreement:
        with nogil:
            pkey = EVP_PKCS82PKEY(info)
        _check(pkey != NULL, "EVP_PKCS82PKEY", _KEY_FORMAT_ERROR)
        provider_key[0] = True
        return pkey
    if nid == NID_rsaEncryption:
        with nogil:
            rsa = d2i_RSAPrivateKey(NULL, &cursor, length)
        _check(rsa != NULL, "d2i_RSAPrivateKey", _KEY_FORMAT_ERROR)
        if cursor != end:
            RSA_free(rsa)
            raise KeyFormatError("trailing bytes after the RSAPrivateKey")
        return _wrap_legacy_key(EVP_PKEY_RSA, rsa)
    if nid != NID_X9_62_id_ecPublicKey:
        raise KeyFormatError(
            f"unsupported private key algorithm {_algorithm_name(nid)}: expected RSA, EC, "
            "ED25519, ED448, X25519, X448, DSA or DH"
        )
    X509_ALGOR_get0(NULL, &parameter_type, &parameter, algorithm)
    if parameter_type != V_ASN1_OBJECT:
        # Explicit curve parameters are rare. The provider decoder handles them, and
        # _finish_init accepts the key only if they match a named curve.
        with nogil:
            pkey = EVP_PKCS82PKEY(info)
        _check(pkey != NULL, "EVP_PKCS82PKEY", _KEY_FORMAT_ERROR)
        provider_key[0] = True
        return pkey
    ec_key = EC_KEY_new_by_curve_name(OBJ_obj2nid(<const ASN1_OBJECT *>parameter))
    _check(ec_key != NULL, "EC_KEY_new_by_curve_name", _KEY_FORMAT_ERROR)
    with nogil:
        # With a key passed in, d2i_ECPrivateKey parses into it and leaves it to the caller
        # on failure. It computes the public point when the encoding omits it.
        parsed = d2i_ECPrivateKey(&ec_key, &cursor, length)
    if parsed == NULL or cursor != end:
        EC_KEY_free(ec_key)
        _check(parsed != NULL, "d2i_ECPrivateKey", _KEY_FORMAT_ERROR)
        raise KeyFormatError("trailing bytes after the ECPrivateKey")
    return _wrap_legacy_ec_key(ec_key)


cdef EVP_PKEY *_decode_curve_private_key(
    int key_type, const unsigned char *der, long length
) except NULL:
    """Build an ECX key from an RFC 8410 CurvePrivateKey: an OCTET STRING with the raw key."""
    cdef const unsigned char *cursor = der
    cdef long content_length = 0
    cdef int tag = 0
    cdef int tag_class = 0
    cdef int flags = ASN1_get_object(&cursor, &content_length, &tag, &tag_class, length)
    _check(
        flags == 0
        and tag == V_ASN1_OCTET_STRING
        and tag_class == V_ASN1_UNIVERSAL
        and cursor + content_length == der + length,
        "reading the CurvePrivateKey OCTET STRING",
        _KEY_FORMAT_ERROR,
    )
    return _new_raw_key(key_type, cursor, content_length, True)
