"""CKM_IBM_ATTRIBUTEBOUND_WRAP: wrapping that carries a key's attributes with its value.

WrapKey and UnwrapKey take a MAC key besides the key-encryption key: a CKK_GENERIC_SECRET with
CKA_IBM_ATTRBOUND. EP11 does not publish its wrapped format, so the emulator uses its own
(encrypt-then-MAC), which only the emulator reads:

    4   magic "EAB1"
    1   KEK kind: 1 = RSA-OAEP with SHA-256 and MGF1-SHA-256, 2 = AES
    4+n the random AES-256 content key, encrypted under the KEK (AES: CBC with a zero IV)
    16  IV of the payload
    4+m the payload, AES-256-CBC with PKCS #7 padding under the content key
    32  HMAC-SHA-256 under the MAC key's value over every byte before it

The payload is the object class, the key type, the key value (the raw secret or the DER
PKCS #8 private key) and every attribute of the key, Booleans included. Lengths are 32-bit
big-endian. Unwrapping restores value and attributes, so a template may only name the class
and the key type, which must match.
"""

import hmac as _hmac
import struct

from .. import _crypto
from ..attributes import decode_attributes, encode_attributes
from ..constants import CKA, CKK, CKM, CKO, CKR
from ..errors import PKCS11Error
from .base import Function, MechanismSpec

MAGIC = b"EAB1"
KEK_RSA, KEK_AES = 1, 2
CONTENT_KEY_BYTES = 32
IV_BYTES = 16
MAC_BYTES = 32
_PAYLOAD_HEADER = struct.Struct(">QQI")
_OAEP = {"padding": "oaep", "md": "sha256", "mgf1_md": "sha256", "label": None}

# The class of the key-encryption key when wrapping and when unwrapping, per key type.
KEK_CLASSES = {
    CKK.RSA: (CKO.PUBLIC_KEY, CKO.PRIVATE_KEY),
    CKK.AES: (CKO.SECRET_KEY, CKO.SECRET_KEY),
}


def _malformed() -> PKCS11Error:
    return PKCS11Error(CKR.WRAPPED_KEY_INVALID, "the data is not an attribute-bound wrapped key")


def _field(data: bytes, offset: int):
    if offset + 4 > len(data):
        raise _malformed()
    (length,) = struct.unpack_from(">I", data, offset)
    end = offset + 4 + length
    if end > len(data):
        raise _malformed()
    return data[offset + 4 : end], end


class AttributeBoundWrapScheme:
    """Wraps and unwraps a key together with its attributes; see the module documentation."""

    def kek_class(self, key_type: int, wrap: bool) -> int:
        # Other key types fail the mechanism's key type check, whatever class is returned here.
        wrap_class, unwrap_class = KEK_CLASSES.get(key_type, (CKO.SECRET_KEY, CKO.SECRET_KEY))
        return wrap_class if wrap else unwrap_class

    def check_mac_key(self, mac_key) -> bytes:
        """Return the MAC key's value; it must be an attribute-bound generic secret."""
        if mac_key.object_class != CKO.SECRET_KEY or mac_key.key_type != CKK.GENERIC_SECRET:
            raise PKCS11Error(
                CKR.KEY_TYPE_INCONSISTENT, "the MAC key must be a CKK_GENERIC_SECRET key"
            )
        if not mac_key.attributes.get(CKA.IBM_ATTRBOUND, False):
            raise PKCS11Error(
                CKR.KEY_FUNCTION_NOT_PERMITTED, "the MAC key needs CKA_IBM_ATTRBOUND = TRUE"
            )
        return mac_key.value

    def check_kek(self, kek) -> None:
        if not kek.attributes.get(CKA.IBM_ATTRBOUND, False):
            raise PKCS11Error(
                CKR.KEY_FUNCTION_NOT_PERMITTED,
                "the key-encryption key needs CKA_IBM_ATTRBOUND = TRUE",
            )

    def wrap(self, kek, mac_value: bytes, target) -> bytes:
        content_key = _crypto.random_bytes(CONTENT_KEY_BYTES)
        if kek.key_type == CKK.RSA:
            kind, encrypted_key = KEK_RSA, kek.pkey.encrypt(content_key, **_OAEP)
        else:
            encrypted_key = _crypto.cipher("aes-cbc", True, kek.value, bytes(IV_BYTES), content_key, False)
            kind = KEK_AES
        payload = (
            _PAYLOAD_HEADER.pack(target.object_class, target.key_type, len(target.value))
            + target.value
            + encode_attributes(target.attributes)
        )
        iv = _crypto.random_bytes(IV_BYTES)
        ciphertext = _crypto.cipher("aes-cbc", True, content_key, iv, payload, True)
        body = (
            MAGIC
            + bytes((kind,))
            + struct.pack(">I", len(encrypted_key))
            + encrypted_key
            + iv
            + struct.pack(">I", len(ciphertext))
            + ciphertext
        )
        return body + _crypto.hmac("sha256", mac_value, body)

    def unwrap(self, kek, mac_value: bytes, wrapped: bytes):
        """Return (class, key type, attributes, value) of an attribute-bound wrapped key."""
        if len(wrapped) < len(MAGIC) + 1 + MAC_BYTES or not wrapped.startswith(MAGIC):
            raise _malformed()
        body, mac = wrapped[:-MAC_BYTES], wrapped[-MAC_BYTES:]
        if not _hmac.compare_digest(_crypto.hmac("sha256", mac_value, body), mac):
            raise PKCS11Error(
                CKR.WRAPPED_KEY_INVALID, "the MAC of the wrapped key does not verify under this MAC key"
            )
        kind = body[len(MAGIC)]
        expected_kind = KEK_RSA if kek.key_type == CKK.RSA else KEK_AES
        if kind != expected_kind:
            raise PKCS11Error(
                CKR.UNWRAPPING_KEY_TYPE_INCONSISTENT, "the key was wrapped under another KEK type"
            )
        encrypted_key, offset = _field(body, len(MAGIC) + 1)
        iv = body[offset : offset + IV_BYTES]
        ciphertext, end = _field(body, offset + IV_BYTES)
        if len(iv) != IV_BYTES or end != len(body):
            raise _malformed()
        try:
            if kind == KEK_RSA:
                content_key = kek.pkey.decrypt(encrypted_key, **_OAEP)
            else:
                content_key = _crypto.cipher(
                    "aes-cbc", False, kek.value, bytes(IV_BYTES), encrypted_key, False
                )
            payload = _crypto.cipher("aes-cbc", False, content_key, iv, ciphertext, True)
            object_class, key_type, length = _PAYLOAD_HEADER.unpack_from(payload, 0)
            start = _PAYLOAD_HEADER.size
            value = payload[start : start + length]
            attributes = decode_attributes(payload[start + length :])
        except (_crypto.CryptoError, ValueError, struct.error):
            raise PKCS11Error(
                CKR.WRAPPED_KEY_INVALID, "the wrapped key does not decrypt under this KEK"
            ) from None
        if len(value) != length:
            raise _malformed()
        return object_class, key_type, attributes, value


ROWS = [
    MechanismSpec(
        CKM.IBM_ATTRIBUTEBOUND_WRAP,
        Function.WRAP | Function.UNWRAP,
        key_types=frozenset(KEK_CLASSES),
        min_key_size=16,
        max_key_size=4096,
        bound_wrap=AttributeBoundWrapScheme(),
    ),
]
