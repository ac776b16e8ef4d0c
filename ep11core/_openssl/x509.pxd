# openssl/x509.h: DER SubjectPublicKeyInfo and PKCS #8 PrivateKeyInfo codecs.

from ep11core._openssl.types cimport (
    ASN1_OBJECT,
    EC_KEY,
    EVP_PKEY,
    PKCS8_PRIV_KEY_INFO,
    RSA,
    X509_ALGOR,
)

cdef extern from "openssl/x509.h" nogil:
    int i2d_PUBKEY(const EVP_PKEY *a, unsigned char **pp)
    # Decodes through the OSSL_DECODER framework in OpenSSL 3.0.
    EVP_PKEY *d2i_PUBKEY(EVP_PKEY **a, const unsigned char **pp, long length)

    X509_ALGOR *d2i_X509_ALGOR(X509_ALGOR **a, const unsigned char **pp, long length)
    void X509_ALGOR_free(X509_ALGOR *a)
    void X509_ALGOR_get0(
        const ASN1_OBJECT **paobj, int *pptype, const void **ppval, const X509_ALGOR *algor
    )

    # Deprecated in OpenSSL 3.0: SubjectPublicKeyInfo into the legacy key objects. They skip
    # the OSSL_DECODER framework, which costs about 150 us per call in OpenSSL 3.0.
    RSA *d2i_RSA_PUBKEY(RSA **a, const unsigned char **pp, long length)
    EC_KEY *d2i_EC_PUBKEY(EC_KEY **a, const unsigned char **pp, long length)

    PKCS8_PRIV_KEY_INFO *d2i_PKCS8_PRIV_KEY_INFO(
        PKCS8_PRIV_KEY_INFO **a, const unsigned char **pp, long length
    )
    int i2d_PKCS8_PRIV_KEY_INFO(const PKCS8_PRIV_KEY_INFO *a, unsigned char **pp)
    void PKCS8_PRIV_KEY_INFO_free(PKCS8_PRIV_KEY_INFO *a)
    EVP_PKEY *EVP_PKCS82PKEY(const PKCS8_PRIV_KEY_INFO *p8)
    int PKCS8_pkey_get0(
        const ASN1_OBJECT **ppkalg,
        const unsigned char **pk,
        int *ppklen,
        const X509_ALGOR **pa,
        const PKCS8_PRIV_KEY_INFO *p8,
    )
    PKCS8_PRIV_KEY_INFO *EVP_PKEY2PKCS8(const EVP_PKEY *pkey)
