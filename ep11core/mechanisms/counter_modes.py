"""AES in counter mode (CKM_AES_CTR) and in Galois/counter mode (CKM_AES_GCM).

Both take their PKCS #11 parameter structure as ParameterB bytes, in the layouts that
``parameters.encode_ctr_parameter`` and ``parameters.encode_gcm_parameter`` describe.
"""

import struct

from .. import _crypto
from ..constants import CKM, CKR
from ..errors import PKCS11Error
from .base import CRYPT_WRAP, CipherScheme, MechanismSpec, data_length_error
from .parameters import (
    ctr_parameter,
    gcm_parameter,
    parse_ctr_parameter,
    parse_gcm_parameter,
)
from .symmetric import AES_SIZES

# Multi-part GCM keeps its whole input in the state blob until the final call, so the input
# of EncryptUpdate and DecryptUpdate together is capped. Single-part calls have no such cap.
GCM_MAX_MULTI_PART_BYTES = 1 << 20

_OFFSET = struct.Struct(">Q")
_PARAMETER_LENGTH = struct.Struct(">I")


class CTRScheme(CipherScheme):
    """AES-CTR with a counter of 1 to 128 bits; the key stream never repeats a counter.

    The multi-part context is the parameter followed by the number of bytes processed so far
    (8 bytes big-endian), so any split gives the single-part output.
    """

    def _run(self, key, counter, offset: int, data: bytes, encrypt: bool) -> bytes:
        try:
            return _crypto.aes_ctr(
                key.value, counter.counter_block, counter.counter_bits, offset, data
            )
        except _crypto.DataLengthError as error:
            raise data_length_error(encrypt, str(error)) from None

    def encrypt_once(self, key, parameter, data):
        return self._run(key, parse_ctr_parameter(parameter), 0, data, True)

    def decrypt_once(self, key, parameter, data):
        return self._run(key, parse_ctr_parameter(parameter), 0, data, False)

    def start(self, parameter):
        return parameter + _OFFSET.pack(0)

    def update(self, key, context, data, encrypt):
        parameter, (offset,) = context[: -_OFFSET.size], _OFFSET.unpack(context[-_OFFSET.size :])
        output = self._run(key, parse_ctr_parameter(parameter), offset, data, encrypt)
        return parameter + _OFFSET.pack(offset + len(data)), output

    def final(self, key, context, encrypt):
        return b""


class GCMScheme(CipherScheme):
    """AES-GCM; encryption appends the tag and decryption checks it before returning data.

    Multi-part calls buffer their input: the context is the parameter length (4 bytes
    big-endian), the parameter and the input so far. Updates return no output, and the final
    call returns all of it, as PKCS #11 requires for GCM decryption.
    """

    def _run(self, key, parameter, data: bytes, encrypt: bool) -> bytes:
        gcm = parse_gcm_parameter(parameter)
        try:
            return _crypto.aes_gcm(encrypt, key.value, gcm.iv, gcm.aad, data, gcm.tag_bits // 8)
        except _crypto.AuthenticationError:
            raise PKCS11Error(
                CKR.ENCRYPTED_DATA_INVALID, "the AES-GCM tag does not match the data"
            ) from None
        except _crypto.DataLengthError as error:
            raise data_length_error(encrypt, str(error)) from None

    def encrypt_once(self, key, parameter, data):
        return self._run(key, parameter, data, True)

    def decrypt_once(self, key, parameter, data):
        return self._run(key, parameter, data, False)

    def start(self, parameter):
        return _PARAMETER_LENGTH.pack(len(parameter)) + parameter

    @staticmethod
    def _split(context: bytes):
        (length,) = _PARAMETER_LENGTH.unpack_from(context)
        end = _PARAMETER_LENGTH.size + length
        return context[_PARAMETER_LENGTH.size : end], context[end:]

    def update(self, key, context, data, encrypt):
        parameter, buffered = self._split(context)
        if len(buffered) + len(data) > GCM_MAX_MULTI_PART_BYTES:
            raise data_length_error(
                encrypt,
                f"multi-part AES-GCM takes at most {GCM_MAX_MULTI_PART_BYTES} bytes in all; "
                "use a single-part call for more",
            )
        return context + data, b""

    def final(self, key, context, encrypt):
        parameter, buffered = self._split(context)
        return self._run(key, parameter, buffered, encrypt)


ROWS = [
    MechanismSpec(
        CKM.AES_CTR, CRYPT_WRAP, parameter=ctr_parameter, cipher=CTRScheme(), **AES_SIZES
    ),
    MechanismSpec(
        CKM.AES_GCM, CRYPT_WRAP, parameter=gcm_parameter, cipher=GCMScheme(), **AES_SIZES
    ),
]
