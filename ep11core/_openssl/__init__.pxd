# Cython declarations of the libcrypto API that ep11core._crypto uses, one file per OpenSSL header.
