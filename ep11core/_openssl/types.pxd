# Opaque libcrypto types shared by the other declaration files (OpenSSL 3.0 openssl/types.h).

cdef extern from "openssl/types.h" nogil:
    ctypedef struct ASN1_OBJECT:
        pass
    ctypedef struct BIGNUM:
        pass
    ctypedef struct BN_CTX:
        pass
    ctypedef struct EC_KEY:
        pass
    ctypedef struct EVP_CIPHER:
        pass
    ctypedef struct EVP_CIPHER_CTX:
        pass
    ctypedef struct EVP_MD:
        pass
    ctypedef struct EVP_MD_CTX:
        pass
    ctypedef struct EVP_PKEY:
        pass
    ctypedef struct EVP_PKEY_CTX:
        pass
    ctypedef struct PKCS8_PRIV_KEY_INFO:
        pass
    ctypedef struct RSA:
        pass
    ctypedef struct X509_ALGOR:
        pass
    ctypedef struct OSSL_LIB_CTX:
        pass
    ctypedef struct OSSL_PARAM:
        pass
    ctypedef struct OSSL_PARAM_BLD:
        pass
