# openssl/sha.h: the low-level SHA-1 and SHA-2 functions and their context structures.
#
# The structures declare only the fields that ep11core._crypto validates or sets. SHA-512/224
# and SHA-512/256 overwrite the SHA-512 chaining value ``h`` with their own initial values.
# Cython takes sizeof() and the layout from the C header. OpenSSL 3.0 marks these functions
# deprecated but still exports them.

cdef extern from "openssl/sha.h" nogil:
    enum:
        SHA_DIGEST_LENGTH
        SHA224_DIGEST_LENGTH
        SHA256_DIGEST_LENGTH
        SHA384_DIGEST_LENGTH
        SHA512_DIGEST_LENGTH
        SHA_CBLOCK
        SHA256_CBLOCK
        SHA512_CBLOCK

    ctypedef struct SHA_CTX:
        unsigned int num

    ctypedef struct SHA256_CTX:
        unsigned int num
        unsigned int md_len

    # A macro for unsigned long long (unsigned __int64 on Windows).
    ctypedef unsigned long long SHA_LONG64

    ctypedef struct SHA512_CTX:
        SHA_LONG64 h[8]
        unsigned int num
        unsigned int md_len

    int SHA1_Init(SHA_CTX *c)
    int SHA1_Update(SHA_CTX *c, const void *data, size_t len)
    int SHA1_Final(unsigned char *md, SHA_CTX *c)

    int SHA224_Init(SHA256_CTX *c)
    int SHA224_Update(SHA256_CTX *c, const void *data, size_t len)
    int SHA224_Final(unsigned char *md, SHA256_CTX *c)
    int SHA256_Init(SHA256_CTX *c)
    int SHA256_Update(SHA256_CTX *c, const void *data, size_t len)
    int SHA256_Final(unsigned char *md, SHA256_CTX *c)

    int SHA384_Init(SHA512_CTX *c)
    int SHA384_Update(SHA512_CTX *c, const void *data, size_t len)
    int SHA384_Final(unsigned char *md, SHA512_CTX *c)
    int SHA512_Init(SHA512_CTX *c)
    int SHA512_Update(SHA512_CTX *c, const void *data, size_t len)
    int SHA512_Final(unsigned char *md, SHA512_CTX *c)
