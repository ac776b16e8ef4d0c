# openssl/rsa.h: RSA padding modes and the EVP_PKEY_CTX setters for RSA (OpenSSL 3.0 API).

from ep11core._openssl.types cimport BIGNUM, EVP_MD, EVP_PKEY_CTX, RSA

cdef extern from "openssl/rsa.h" nogil:
    enum:
        RSA_PKCS1_PADDING
        RSA_NO_PADDING
        RSA_PKCS1_OAEP_PADDING
        RSA_PKCS1_PSS_PADDING
        RSA_X931_PADDING
        RSA_PKCS1_PADDING_SIZE

    # Deprecated in OpenSSL 3.0: the legacy RSA object, parsed without the decoder framework.
    RSA *d2i_RSAPrivateKey(RSA **a, const unsigned char **pp, long length)
    void RSA_free(RSA *r)
    RSA *RSA_new()
    # Deprecated in OpenSSL 3.0: ANSI X9.31 key generation. bits must be a multiple of 256
    # from 1024; cb may be NULL.
    int RSA_X931_generate_key_ex(RSA *rsa, int bits, const BIGNUM *e, void *cb)

    int EVP_PKEY_CTX_set_rsa_padding(EVP_PKEY_CTX *ctx, int pad_mode)
    int EVP_PKEY_CTX_set_rsa_pss_saltlen(EVP_PKEY_CTX *ctx, int saltlen)
    int EVP_PKEY_CTX_set_rsa_keygen_bits(EVP_PKEY_CTX *ctx, int bits)
    int EVP_PKEY_CTX_set1_rsa_keygen_pubexp(EVP_PKEY_CTX *ctx, BIGNUM *pubexp)
    int EVP_PKEY_CTX_set_rsa_mgf1_md(EVP_PKEY_CTX *ctx, const EVP_MD *md)
    int EVP_PKEY_CTX_set_rsa_oaep_md(EVP_PKEY_CTX *ctx, const EVP_MD *md)
    # On success the context takes ownership of label, which must come from OPENSSL_malloc.
    int EVP_PKEY_CTX_set0_rsa_oaep_label(EVP_PKEY_CTX *ctx, void *label, int llen)
