# openssl/bn.h: conversion of big numbers to and from big-endian bytes.

from ep11core._openssl.types cimport BIGNUM

cdef extern from "openssl/bn.h" nogil:
    BIGNUM *BN_bin2bn(const unsigned char *s, int len, BIGNUM *ret)
    int BN_bn2binpad(const BIGNUM *a, unsigned char *to, int tolen)
    int BN_num_bytes(const BIGNUM *a)
    void BN_free(BIGNUM *a)
