# openssl/core_names.h: names of the provider parameters that ep11core._crypto reads and sets.

cdef extern from "openssl/core_names.h" nogil:
    const char *OSSL_PKEY_PARAM_GROUP_NAME
    const char *OSSL_PKEY_PARAM_RSA_N
    const char *OSSL_PKEY_PARAM_RSA_E
    const char *OSSL_PKEY_PARAM_PUB_KEY
    const char *OSSL_PKEY_PARAM_FFC_P
    const char *OSSL_PKEY_PARAM_FFC_Q
    const char *OSSL_PKEY_PARAM_FFC_G
    const char *OSSL_PKEY_PARAM_EC_ENCODING
    const char *OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT
    const char *OSSL_PKEY_EC_ENCODING_GROUP
    const char *OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED
