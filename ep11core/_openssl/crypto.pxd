# openssl/crypto.h: memory allocated or released by libcrypto.

cdef extern from "openssl/crypto.h" nogil:
    # OPENSSL_malloc, OPENSSL_free and OPENSSL_clear_free are macros that add the file and line.
    void *OPENSSL_malloc(size_t num)
    void OPENSSL_free(void *addr)
    void OPENSSL_clear_free(void *addr, size_t num)
    void OPENSSL_cleanse(void *ptr, size_t len)
