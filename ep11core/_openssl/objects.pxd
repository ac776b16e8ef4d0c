# openssl/objects.h: the table of object identifiers and their short names.

from ep11core._openssl.types cimport ASN1_OBJECT

cdef extern from "openssl/objects.h" nogil:
    enum:
        NID_undef
        NID_rsaEncryption
        NID_X9_62_id_ecPublicKey
        NID_ED25519
        NID_ED448
        NID_X25519
        NID_X448
        NID_dsa
        NID_dhKeyAgreement
    const char *OBJ_nid2sn(int n)
    int OBJ_sn2nid(const char *s)
    int OBJ_obj2nid(const ASN1_OBJECT *o)
