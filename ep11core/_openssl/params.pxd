# openssl/params.h: construction of OSSL_PARAM arrays.

from ep11core._openssl.types cimport OSSL_PARAM

cdef extern from "openssl/params.h" nogil:
    OSSL_PARAM OSSL_PARAM_construct_utf8_string(const char *key, char *buf, size_t bsize)
    OSSL_PARAM OSSL_PARAM_construct_octet_string(const char *key, void *buf, size_t bsize)
    OSSL_PARAM OSSL_PARAM_construct_end()
    void OSSL_PARAM_free(OSSL_PARAM *params)
