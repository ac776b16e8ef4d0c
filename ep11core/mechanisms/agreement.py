"""Secret keys from key agreement, shared by ECDH and DH derivation.

CKM_ECDH1_DERIVE, CKM_IBM_EC_X25519, CKM_IBM_EC_X448 and CKM_DH_PKCS_DERIVE compute a shared
secret Z from the base private key and the peer's public value. Z is the x-coordinate of the
shared point in the byte length of the field (ECDH, SEC 1 section 3.3.1), the X25519 or X448
output (RFC 7748), or g^xy mod p left-padded to the byte length of p (DH). The new key is
made from Z by the key derivation function of the parameter:

- CKD_NULL and CKD_IBM_HYBRID_NULL keep the leading CKA_VALUE_LEN bytes of Z, or for a generic
  secret whose template has no CKA_VALUE_LEN, all of Z up to 256 bytes. CKD_IBM_HYBRID_NULL
  makes a generic secret only: it is the classical half of the IBM Kyber hybrid scheme, whose
  KEM derivation takes the secret's blob.
- CKD_SHA1_KDF to CKD_SHA512_KDF run the ANSI X9.63 KDF (SEC 1 section 3.6.1): the key is the
  leading bytes of H(Z || 1 || SharedData) || H(Z || 2 || SharedData) || ..., with the counter
  as 4 bytes big-endian.

The result is a CKO_SECRET_KEY of type CKK_AES (16, 24 or 32 bytes) or CKK_GENERIC_SECRET (1 to
256 bytes). A template without CKA_KEY_TYPE makes a generic secret.
"""

from typing import Optional, Tuple

from .. import _crypto
from ..constants import CKA, CKD, CKK, CKO, CKR, describe_key_type
from ..errors import PKCS11Error
from .symmetric import AES_KEY_LENGTHS, GENERIC_SECRET_MAX_BYTES

NULL_KDFS = frozenset({CKD.NULL, CKD.IBM_HYBRID_NULL})
X963_KDF_HASHES = {
    CKD.SHA1_KDF: "sha1",
    CKD.SHA224_KDF: "sha224",
    CKD.SHA256_KDF: "sha256",
    CKD.SHA384_KDF: "sha384",
    CKD.SHA512_KDF: "sha512",
}
DERIVED_KEY_TYPES = frozenset({CKK.AES, CKK.GENERIC_SECRET})


def x963_kdf(hash_name: str, shared_secret: bytes, shared_data: bytes, length: int) -> bytes:
    """Return ``length`` bytes of the ANSI X9.63 KDF over ``shared_secret`` and ``shared_data``."""
    output = bytearray()
    counter = 1
    while len(output) < length:
        block = shared_secret + counter.to_bytes(4, "big") + shared_data
        output += _crypto.digest(hash_name, block)
        counter += 1
    return bytes(output[:length])


def _template_key(template: dict, kdf: int) -> Tuple[int, Optional[int]]:
    """Return the key type and CKA_VALUE_LEN (None when absent) that the template requests."""
    object_class = template.get(CKA.CLASS, CKO.SECRET_KEY)
    if object_class != CKO.SECRET_KEY:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT,
            f"key agreement makes secret keys, not objects of class {object_class:#x}",
        )
    key_type = template.get(CKA.KEY_TYPE, CKK.GENERIC_SECRET)
    if key_type not in DERIVED_KEY_TYPES:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT,
            f"key agreement makes CKK_AES or CKK_GENERIC_SECRET keys, not key type "
            f"{describe_key_type(key_type)}",
        )
    if kdf == CKD.IBM_HYBRID_NULL and key_type != CKK.GENERIC_SECRET:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT,
            "CKD_IBM_HYBRID_NULL makes a CKK_GENERIC_SECRET for the Kyber hybrid derivation",
        )
    length = template.get(CKA.VALUE_LEN)
    if key_type == CKK.AES:
        if length is None:
            raise PKCS11Error(
                CKR.TEMPLATE_INCOMPLETE, "an AES key from key agreement needs CKA_VALUE_LEN"
            )
        if length not in AES_KEY_LENGTHS:
            raise PKCS11Error(
                CKR.ATTRIBUTE_VALUE_INVALID, f"an AES key cannot be {length} bytes long"
            )
    elif length is not None and not 1 <= length <= GENERIC_SECRET_MAX_BYTES:
        raise PKCS11Error(
            CKR.ATTRIBUTE_VALUE_INVALID,
            f"a generic secret is 1 to {GENERIC_SECRET_MAX_BYTES} bytes, not {length}",
        )
    return key_type, length


def secret_from_shared_secret(
    shared_secret: bytes, kdf: int, shared_data: bytes, template: dict
) -> Tuple[int, bytes]:
    """Return the key type and value of the secret key that ``template`` requests."""
    key_type, length = _template_key(template, kdf)
    if kdf in NULL_KDFS:
        if length is None:
            length = min(len(shared_secret), GENERIC_SECRET_MAX_BYTES)
        if length > len(shared_secret):
            raise PKCS11Error(
                CKR.TEMPLATE_INCONSISTENT,
                f"CKA_VALUE_LEN {length} exceeds the {len(shared_secret)}-byte shared secret, "
                "which a null KDF cannot stretch",
            )
        return key_type, shared_secret[:length]
    if length is None:
        raise PKCS11Error(
            CKR.TEMPLATE_INCOMPLETE, "a key made with an X9.63 KDF needs CKA_VALUE_LEN"
        )
    return key_type, x963_kdf(X963_KDF_HASHES[kdf], shared_secret, shared_data, length)
