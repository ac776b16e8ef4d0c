# openssl/rand.h: the default DRBG.

cdef extern from "openssl/rand.h" nogil:
    int RAND_bytes(unsigned char *buf, int num)
