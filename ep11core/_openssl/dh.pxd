# openssl/dh.h: the EVP_PKEY_CTX setter of Diffie-Hellman derivation.

from ep11core._openssl.types cimport EVP_PKEY_CTX

cdef extern from "openssl/dh.h" nogil:
    # With pad = 1, EVP_PKEY_derive returns the shared secret left-padded to the size of p.
    int EVP_PKEY_CTX_set_dh_pad(EVP_PKEY_CTX *ctx, int pad)
