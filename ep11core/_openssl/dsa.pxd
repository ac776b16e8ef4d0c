# openssl/dsa.h: the EVP_PKEY_CTX setters of DSA parameter generation.

from ep11core._openssl.types cimport EVP_PKEY_CTX

cdef extern from "openssl/dsa.h" nogil:
    int EVP_PKEY_CTX_set_dsa_paramgen_bits(EVP_PKEY_CTX *ctx, int nbits)
    int EVP_PKEY_CTX_set_dsa_paramgen_q_bits(EVP_PKEY_CTX *ctx, int qbits)
