# openssl/param_build.h: building OSSL_PARAM arrays that own copies of their values.

from ep11core._openssl.types cimport BIGNUM, OSSL_PARAM, OSSL_PARAM_BLD

cdef extern from "openssl/param_build.h" nogil:
    OSSL_PARAM_BLD *OSSL_PARAM_BLD_new()
    void OSSL_PARAM_BLD_free(OSSL_PARAM_BLD *bld)
    # The builder copies the value of bn when it builds the array.
    int OSSL_PARAM_BLD_push_BN(OSSL_PARAM_BLD *bld, const char *key, const BIGNUM *bn)
    # Frees the builder's pushed values; the returned array is freed with OSSL_PARAM_free.
    OSSL_PARAM *OSSL_PARAM_BLD_to_param(OSSL_PARAM_BLD *bld)
