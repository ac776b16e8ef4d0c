# openssl/err.h: the per-thread error queue.

cdef extern from "openssl/err.h" nogil:
    unsigned long ERR_get_error()
    void ERR_clear_error()
    void ERR_error_string_n(unsigned long e, char *buf, size_t len)
