"""CMAC (NIST SP 800-38B): CKM_AES_CMAC, CKM_AES_CMAC_GENERAL and CKM_IBM_CMAC.

CKM_IBM_CMAC is EP11's CMAC for any block-cipher key: the key type picks AES (16-byte MAC) or
triple DES (8-byte MAC), and it takes no parameter.
"""

import hmac as _hmac

from .. import _crypto
from ..constants import CKK, CKM
from .base import (
    SIGN_VERIFY,
    MechanismSpec,
    SignScheme,
    invalid_signature,
    signature_length_error,
)
from .parameters import mac_length, mac_length_parameter
from .symmetric import AES_SIZES, DES_KEY_TYPES

# The ``_crypto.cmac`` cipher of each key type, and its block (and full MAC) size.
CMAC_CIPHERS = {
    CKK.AES: ("aes", 16),
    CKK.DES2: ("des3", 8),
    CKK.DES3: ("des3", 8),
}


class CMACScheme(SignScheme):
    """CMAC with the cipher of the key type; ``general`` takes the MAC length as parameter.

    The multi-part context is that of ``_crypto.cmac_init``: the CBC-MAC value and the
    held-back final block, with no key material.
    """

    asymmetric = False

    def __init__(self, general: bool = False):
        self.general = general

    def _length(self, key, parameter) -> int:
        if self.general:
            return mac_length(parameter)
        return CMAC_CIPHERS[key.key_type][1]

    def start(self, key, parameter):
        return _crypto.cmac_init(CMAC_CIPHERS[key.key_type][0])

    def update(self, key, context, data):
        return _crypto.cmac_update(CMAC_CIPHERS[key.key_type][0], key.value, context, data)

    def sign_final(self, key, parameter, context):
        mac = _crypto.cmac_final(CMAC_CIPHERS[key.key_type][0], key.value, context)
        return mac[: self._length(key, parameter)]

    def verify_final(self, key, parameter, context, signature):
        expected = self.sign_final(key, parameter, context)
        if len(signature) != len(expected):
            raise signature_length_error(len(expected), len(signature))
        if not _hmac.compare_digest(expected, signature):
            raise invalid_signature()

    def sign_once(self, key, parameter, data):
        mac = _crypto.cmac(CMAC_CIPHERS[key.key_type][0], key.value, data)
        return mac[: self._length(key, parameter)]


ROWS = [
    MechanismSpec(CKM.AES_CMAC, SIGN_VERIFY, sign=CMACScheme(), **AES_SIZES),
    MechanismSpec(
        CKM.AES_CMAC_GENERAL,
        SIGN_VERIFY,
        parameter=mac_length_parameter(16),
        sign=CMACScheme(general=True),
        **AES_SIZES,
    ),
    MechanismSpec(
        CKM.IBM_CMAC,
        SIGN_VERIFY,
        key_types=frozenset({CKK.AES}) | DES_KEY_TYPES,
        min_key_size=16,
        max_key_size=32,
        sign=CMACScheme(),
    ),
]
