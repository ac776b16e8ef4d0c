# openssl/evp.h: digests, ciphers and public-key operations (OpenSSL 3.0 API).

from ep11core._openssl.types cimport (
    BIGNUM,
    EC_KEY,
    EVP_CIPHER,
    EVP_CIPHER_CTX,
    EVP_MD,
    EVP_MD_CTX,
    EVP_PKEY,
    EVP_PKEY_CTX,
    OSSL_LIB_CTX,
    OSSL_PARAM,
)

cdef extern from "openssl/evp.h" nogil:
    enum:
        EVP_PKEY_RSA
        EVP_PKEY_EC
        EVP_PKEY_PUBLIC_KEY
        EVP_PKEY_KEY_PARAMETERS
        # EVP_CIPHER_CTX_ctrl commands of the AEAD modes (GCM).
        EVP_CTRL_AEAD_SET_IVLEN
        EVP_CTRL_AEAD_GET_TAG
        EVP_CTRL_AEAD_SET_TAG

    const EVP_MD *EVP_sha1()
    const EVP_MD *EVP_sha224()
    const EVP_MD *EVP_sha256()
    const EVP_MD *EVP_sha384()
    const EVP_MD *EVP_sha512()
    const EVP_MD *EVP_sha512_224()
    const EVP_MD *EVP_sha512_256()
    const EVP_MD *EVP_sha3_224()
    const EVP_MD *EVP_sha3_256()
    const EVP_MD *EVP_sha3_384()
    const EVP_MD *EVP_sha3_512()

    EVP_CIPHER *EVP_CIPHER_fetch(OSSL_LIB_CTX *ctx, const char *algorithm, const char *properties)
    EVP_CIPHER_CTX *EVP_CIPHER_CTX_new()
    void EVP_CIPHER_CTX_free(EVP_CIPHER_CTX *c)
    int EVP_CIPHER_CTX_set_padding(EVP_CIPHER_CTX *c, int pad)
    int EVP_CIPHER_CTX_ctrl(EVP_CIPHER_CTX *ctx, int type, int arg, void *ptr)
    int EVP_CipherInit_ex2(
        EVP_CIPHER_CTX *ctx,
        const EVP_CIPHER *cipher,
        const unsigned char *key,
        const unsigned char *iv,
        int enc,
        const OSSL_PARAM *params,
    )
    int EVP_CipherUpdate(
        EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl, const unsigned char *in_, int inl
    )
    int EVP_CipherFinal_ex(EVP_CIPHER_CTX *ctx, unsigned char *outm, int *outl)

    int EVP_PKEY_is_a(const EVP_PKEY *pkey, const char *name)
    int EVP_PKEY_get_bits(const EVP_PKEY *pkey)
    int EVP_PKEY_get_size(const EVP_PKEY *pkey)
    EVP_PKEY *EVP_PKEY_new()
    # On success the EVP_PKEY takes ownership of key (an RSA or EC_KEY for these types).
    int EVP_PKEY_assign(EVP_PKEY *pkey, int type, void *key)
    void EVP_PKEY_free(EVP_PKEY *pkey)
    # Deprecated in OpenSSL 3.0. For a provider key it caches a legacy copy under the key's
    # lock, so concurrent calls on a shared key are safe.
    const EC_KEY *EVP_PKEY_get0_EC_KEY(const EVP_PKEY *pkey)
    int EVP_PKEY_get_bn_param(const EVP_PKEY *pkey, const char *key_name, BIGNUM **bn)
    int EVP_PKEY_get_utf8_string_param(
        const EVP_PKEY *pkey, const char *key_name, char *str, size_t max_buf_sz, size_t *out_sz
    )
    int EVP_PKEY_set_utf8_string_param(EVP_PKEY *pkey, const char *key_name, const char *str)

    # Keys of the types without parameters (ED25519, ED448, X25519, X448) in their raw form.
    EVP_PKEY *EVP_PKEY_new_raw_public_key_ex(
        OSSL_LIB_CTX *libctx, const char *keytype, const char *propq,
        const unsigned char *pub, size_t len,
    )
    EVP_PKEY *EVP_PKEY_new_raw_private_key_ex(
        OSSL_LIB_CTX *libctx, const char *keytype, const char *propq,
        const unsigned char *priv, size_t len,
    )
    int EVP_PKEY_get_raw_public_key(const EVP_PKEY *pkey, unsigned char *pub, size_t *len)
    int EVP_PKEY_get_raw_private_key(const EVP_PKEY *pkey, unsigned char *priv, size_t *len)

    EVP_PKEY_CTX *EVP_PKEY_CTX_new_from_name(
        OSSL_LIB_CTX *libctx, const char *name, const char *propquery
    )
    EVP_PKEY_CTX *EVP_PKEY_CTX_new_from_pkey(
        OSSL_LIB_CTX *libctx, EVP_PKEY *pkey, const char *propquery
    )
    void EVP_PKEY_CTX_free(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_CTX_set_signature_md(EVP_PKEY_CTX *ctx, const EVP_MD *md)

    int EVP_PKEY_keygen_init(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_paramgen_init(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_paramgen(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey)
    int EVP_PKEY_CTX_set_group_name(EVP_PKEY_CTX *ctx, const char *name)
    int EVP_PKEY_param_check_quick(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_generate(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey)
    int EVP_PKEY_pairwise_check(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_fromdata_init(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_fromdata(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey, int selection, OSSL_PARAM *params)

    int EVP_PKEY_sign_init(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_sign(
        EVP_PKEY_CTX *ctx,
        unsigned char *sig,
        size_t *siglen,
        const unsigned char *tbs,
        size_t tbslen,
    )
    int EVP_PKEY_verify_init(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_verify(
        EVP_PKEY_CTX *ctx,
        const unsigned char *sig,
        size_t siglen,
        const unsigned char *tbs,
        size_t tbslen,
    )
    int EVP_PKEY_encrypt_init(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_encrypt(
        EVP_PKEY_CTX *ctx,
        unsigned char *out,
        size_t *outlen,
        const unsigned char *in_,
        size_t inlen,
    )
    int EVP_PKEY_decrypt_init(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_decrypt(
        EVP_PKEY_CTX *ctx,
        unsigned char *out,
        size_t *outlen,
        const unsigned char *in_,
        size_t inlen,
    )
    # One-shot signatures through a digest context; EdDSA signs the message itself this way.
    EVP_MD_CTX *EVP_MD_CTX_new()
    void EVP_MD_CTX_free(EVP_MD_CTX *ctx)
    int EVP_DigestSignInit_ex(
        EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const char *mdname, OSSL_LIB_CTX *libctx,
        const char *props, EVP_PKEY *pkey, const OSSL_PARAM *params,
    )
    int EVP_DigestSign(
        EVP_MD_CTX *ctx, unsigned char *sigret, size_t *siglen,
        const unsigned char *tbs, size_t tbslen,
    )
    int EVP_DigestVerifyInit_ex(
        EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const char *mdname, OSSL_LIB_CTX *libctx,
        const char *props, EVP_PKEY *pkey, const OSSL_PARAM *params,
    )
    int EVP_DigestVerify(
        EVP_MD_CTX *ctx, const unsigned char *sigret, size_t siglen,
        const unsigned char *tbs, size_t tbslen,
    )

    int EVP_PKEY_derive_init(EVP_PKEY_CTX *ctx)
    int EVP_PKEY_derive_set_peer_ex(EVP_PKEY_CTX *ctx, EVP_PKEY *peer, int validate_peer)
    int EVP_PKEY_derive(EVP_PKEY_CTX *ctx, unsigned char *key, size_t *keylen)
