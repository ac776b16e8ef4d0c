# openssl/asn1.h: reading a DER tag and length.

cdef extern from "openssl/asn1.h" nogil:
    enum:
        V_ASN1_UNIVERSAL
        V_ASN1_UNDEF
        V_ASN1_CONSTRUCTED
        V_ASN1_INTEGER
        V_ASN1_BIT_STRING
        V_ASN1_OCTET_STRING
        V_ASN1_OBJECT
        V_ASN1_SEQUENCE

    # Returns V_ASN1_CONSTRUCTED and/or 0x01 (indefinite length) flags, or 0x80 on error.
    int ASN1_get_object(
        const unsigned char **pp, long *plength, int *ptag, int *pclass, long omax
    )
