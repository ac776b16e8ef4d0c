# openssl/ec.h: named curves, EC key generation and ECDSA signature values.

from ep11core._openssl.types cimport BIGNUM, BN_CTX, EC_KEY, EVP_PKEY_CTX

cdef extern from "openssl/ec.h" nogil:
    enum:
        OPENSSL_EC_NAMED_CURVE

    ctypedef enum point_conversion_form_t:
        POINT_CONVERSION_UNCOMPRESSED

    ctypedef struct EC_GROUP:
        pass

    ctypedef struct EC_POINT:
        pass

    ctypedef struct ECDSA_SIG:
        pass

    ctypedef struct EC_builtin_curve:
        int nid
        const char *comment

    size_t EC_get_builtin_curves(EC_builtin_curve *r, size_t nitems)
    int EC_curve_nist2nid(const char *name)
    int EVP_PKEY_CTX_set_ec_paramgen_curve_nid(EVP_PKEY_CTX *ctx, int nid)
    int EC_GROUP_get_curve_name(const EC_GROUP *group)
    size_t EC_POINT_point2oct(
        const EC_GROUP *group,
        const EC_POINT *p,
        point_conversion_form_t form,
        unsigned char *buf,
        size_t len,
        BN_CTX *ctx,
    )

    # Deprecated in OpenSSL 3.0: the legacy EC_KEY object, parsed without the decoder framework.
    EC_KEY *EC_KEY_new_by_curve_name(int nid)
    void EC_KEY_free(EC_KEY *key)
    const EC_GROUP *EC_KEY_get0_group(const EC_KEY *key)
    const EC_POINT *EC_KEY_get0_public_key(const EC_KEY *key)
    void EC_KEY_set_conv_form(EC_KEY *eckey, point_conversion_form_t cform)
    void EC_KEY_set_asn1_flag(EC_KEY *eckey, int asn1_flag)
    # With *key set, it parses into that key and its group. The caller still owns it on failure.
    EC_KEY *d2i_ECPrivateKey(EC_KEY **key, const unsigned char **in_, long len)

    ECDSA_SIG *ECDSA_SIG_new()
    void ECDSA_SIG_free(ECDSA_SIG *sig)
    ECDSA_SIG *d2i_ECDSA_SIG(ECDSA_SIG **sig, const unsigned char **pp, long length)
    int i2d_ECDSA_SIG(const ECDSA_SIG *sig, unsigned char **pp)
    void ECDSA_SIG_get0(const ECDSA_SIG *sig, const BIGNUM **pr, const BIGNUM **ps)
    # On success the signature takes ownership of r and s.
    int ECDSA_SIG_set0(ECDSA_SIG *sig, BIGNUM *r, BIGNUM *s)
