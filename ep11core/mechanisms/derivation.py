"""Secret keys derived from secret keys, as PKCS #11 defines them.

CKM_SHA*_KEY_DERIVATION hashes the value of the base key. CKM_DES3_ECB_ENCRYPT_DATA and
CKM_AES_ECB_ENCRYPT_DATA encrypt the parameter (CK_KEY_DERIVATION_STRING_DATA, sent as
ParameterB) under the base key in ECB mode. The DeriveKey ``Data`` field is not used. The
new key is cut from the start of the result by ``derived_secret``.
"""

from typing import Tuple

from .. import _crypto
from ..constants import CKA, CKK, CKM, CKO, CKR, describe_key_type
from ..errors import PKCS11Error
from .base import DerivedKey, DeriveScheme, Function, MechanismSpec
from .parameters import HASH_OF_MECHANISM, derivation_data_parameter
from .symmetric import (
    AES_SIZES,
    DES3_SIZES,
    DES_KEY_LENGTHS,
    GENERIC_SECRET_MAX_BYTES,
    SECRET_KEY_LENGTHS,
    SECRET_KEY_TYPES,
    normalize_secret_value,
)


def derived_secret(material: bytes, template: dict) -> Tuple[int, bytes]:
    """Return the key type and value of a key cut from ``material`` for ``template``.

    Without CKA_KEY_TYPE the key is a generic secret, as long as CKA_VALUE_LEN gives or else
    as long as the material. DES2 and DES3 keys take their fixed length and ignore
    CKA_VALUE_LEN. Other key types need CKA_VALUE_LEN. A length beyond the material or not
    legal for the key type raises CKR_KEY_SIZE_RANGE. DES keys get odd parity.
    """
    object_class = template.get(CKA.CLASS, CKO.SECRET_KEY)
    if object_class != CKO.SECRET_KEY:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT,
            f"this mechanism derives secret keys, but the template names class {object_class:#x}",
        )
    key_type = template.get(CKA.KEY_TYPE)
    length = template.get(CKA.VALUE_LEN)
    if key_type is None:
        key_type = CKK.GENERIC_SECRET
        if length is None:
            length = len(material)
    lengths = SECRET_KEY_LENGTHS.get(key_type)
    if lengths is None:
        raise PKCS11Error(
            CKR.TEMPLATE_INCONSISTENT,
            f"cannot derive a secret key of type {describe_key_type(key_type)}",
        )
    length = DES_KEY_LENGTHS.get(key_type, length)
    if length is None:
        raise PKCS11Error(
            CKR.TEMPLATE_INCOMPLETE,
            f"a derived {CKK(key_type).name} key needs CKA_VALUE_LEN",
        )
    if length > len(material):
        raise PKCS11Error(
            CKR.KEY_SIZE_RANGE,
            f"this derivation yields {len(material)} bytes, but the key needs {length}",
        )
    if length not in lengths:
        raise PKCS11Error(
            CKR.KEY_SIZE_RANGE, f"a {CKK(key_type).name} key cannot be {length} bytes long"
        )
    return key_type, normalize_secret_value(key_type, material[:length])


class HashKeyDerivation(DeriveScheme):
    """CKM_SHA*_KEY_DERIVATION: the key value is cut from the hash of the base key's value."""

    def __init__(self, hash_name: str):
        self.hash_name = hash_name

    def derive(self, base_key, parameter, data, template):
        material = _crypto.digest(self.hash_name, base_key.value)
        key_type, value = derived_secret(material, template)
        return DerivedKey(CKO.SECRET_KEY, key_type, value)


class EncryptDataDerivation(DeriveScheme):
    """CKM_*_ECB_ENCRYPT_DATA: the key value is cut from the ECB encryption of the parameter."""

    def __init__(self, cipher_name: str):
        self.cipher_name = cipher_name

    def derive(self, base_key, parameter, data, template):
        material = _crypto.cipher(self.cipher_name, True, base_key.value, None, parameter, False)
        key_type, value = derived_secret(material, template)
        return DerivedKey(CKO.SECRET_KEY, key_type, value)


KEY_DERIVATION_HASHES = {
    CKM.SHA1_KEY_DERIVATION: CKM.SHA_1,
    CKM.SHA224_KEY_DERIVATION: CKM.SHA224,
    CKM.SHA256_KEY_DERIVATION: CKM.SHA256,
    CKM.SHA384_KEY_DERIVATION: CKM.SHA384,
    CKM.SHA512_KEY_DERIVATION: CKM.SHA512,
}

ROWS = [
    MechanismSpec(
        mechanism,
        Function.DERIVE,
        key_types=SECRET_KEY_TYPES,
        min_key_size=1,
        max_key_size=GENERIC_SECRET_MAX_BYTES,
        derive=HashKeyDerivation(HASH_OF_MECHANISM[hash_mechanism][0]),
    )
    for mechanism, hash_mechanism in KEY_DERIVATION_HASHES.items()
] + [
    MechanismSpec(
        CKM.DES3_ECB_ENCRYPT_DATA,
        Function.DERIVE,
        parameter=derivation_data_parameter(8),
        derive=EncryptDataDerivation("des3-ecb"),
        **DES3_SIZES,
    ),
    MechanismSpec(
        CKM.AES_ECB_ENCRYPT_DATA,
        Function.DERIVE,
        parameter=derivation_data_parameter(16),
        derive=EncryptDataDerivation("aes-ecb"),
        **AES_SIZES,
    ),
]
