"""Secret-key mechanisms: AES, DES2, DES3 and generic secret key generation, AES and triple
DES in ECB and CBC modes, HMAC."""

import hmac as _hmac

from .. import _crypto
from ..constants import CKA, CKK, CKM, CKR
from ..errors import PKCS11Error
from .base import (
    CRYPT_WRAP,
    SIGN_VERIFY,
    CipherScheme,
    Function,
    MechanismSpec,
    SecretKeyGenerator,
    SignScheme,
    data_length_error,
    invalid_signature,
    signature_length_error,
)
from .parameters import DIGEST_OF_MECHANISM, HASH_SIZE, iv_parameter

AES_KEY_LENGTHS = (16, 24, 32)
GENERIC_SECRET_MAX_BYTES = 256
# Two-key and three-key triple DES. Each key type implies its length, so key generation,
# unwrapping and derivation ignore CKA_VALUE_LEN for them.
DES_KEY_LENGTHS = {CKK.DES2: 16, CKK.DES3: 24}

SECRET_MAC_KEY_TYPES = frozenset(
    {
        CKK.GENERIC_SECRET,
        CKK.AES,
        CKK.SHA_1_HMAC,
        CKK.SHA224_HMAC,
        CKK.SHA256_HMAC,
        CKK.SHA384_HMAC,
        CKK.SHA512_HMAC,
    }
)

_GENERIC_LENGTHS = range(1, GENERIC_SECRET_MAX_BYTES + 1)
# The legal value lengths of each secret key type that keys can be unwrapped or derived as.
SECRET_KEY_LENGTHS = {
    CKK.AES: AES_KEY_LENGTHS,
    CKK.DES2: (DES_KEY_LENGTHS[CKK.DES2],),
    CKK.DES3: (DES_KEY_LENGTHS[CKK.DES3],),
    **{key_type: _GENERIC_LENGTHS for key_type in SECRET_MAC_KEY_TYPES - {CKK.AES}},
}
DES_KEY_TYPES = frozenset(DES_KEY_LENGTHS)
SECRET_KEY_TYPES = frozenset(SECRET_KEY_LENGTHS)

# Each byte with its least significant bit set so that the byte has an odd number of one bits,
# the parity rule of DES keys.
_ODD_PARITY = bytes(
    (value & 0xFE) | (1 - bin(value & 0xFE).count("1") % 2) for value in range(256)
)


def with_des_parity(value: bytes) -> bytes:
    """Return a DES key value with the parity bit of every byte set to odd parity."""
    return value.translate(_ODD_PARITY)


def normalize_secret_value(key_type: int, value: bytes) -> bytes:
    """Return a secret value as a key of ``key_type`` stores it: DES keys get odd parity."""
    if key_type in DES_KEY_TYPES:
        return with_des_parity(value)
    return value


class BlockCipherScheme(CipherScheme):
    """ECB or CBC, with or without PKCS #7 padding.

    The multi-part context is the chaining block (the IV, then the last ciphertext block)
    followed by the buffered bytes that do not yet form a whole block. Decryption with padding
    holds back the last whole block until the final call, which removes the padding.
    """

    def __init__(self, cipher_name: str, block_size: int, pad: bool, chained: bool):
        self.cipher_name = cipher_name
        self.block_size = block_size
        self.pad = pad
        self.chained = chained
        self.exact_length = pad

    def _run(self, encrypt, key, iv, data, pad):
        try:
            return _crypto.cipher(self.cipher_name, encrypt, key.value, iv, data, pad)
        except _crypto.DataLengthError:
            raise data_length_error(
                encrypt,
                f"{len(data)} bytes are not a whole number of {self.block_size}-byte blocks",
            ) from None
        except _crypto.PaddingError:
            raise PKCS11Error(
                CKR.ENCRYPTED_DATA_INVALID, "the decrypted data has invalid padding"
            ) from None

    def encrypt_once(self, key, parameter, data):
        return self._run(True, key, parameter, data, self.pad)

    def decrypt_once(self, key, parameter, data):
        if self.pad and not data:
            raise data_length_error(False, "padded ciphertext cannot be empty")
        return self._run(False, key, parameter, data, self.pad)

    def start(self, parameter):
        chain = parameter if self.chained else b""
        return bytes((len(chain),)) + chain

    def _split_context(self, context: bytes):
        size = context[0]
        return context[1 : 1 + size], context[1 + size :]

    def update(self, key, context, data, encrypt):
        chain, buffered = self._split_context(context)
        pending = buffered + data
        block = self.block_size
        if encrypt or not self.pad:
            ready = len(pending) - len(pending) % block
        else:
            ready = ((len(pending) - 1) // block) * block if pending else 0
        output = b""
        if ready:
            chunk = pending[:ready]
            output = self._run(encrypt, key, chain or None, chunk, False)
            if self.chained:
                chain = (output if encrypt else chunk)[-block:]
        new_context = bytes((len(chain),)) + chain + pending[ready:]
        return new_context, output

    def final(self, key, context, encrypt):
        chain, buffered = self._split_context(context)
        if not self.pad:
            if buffered:
                raise data_length_error(
                    encrypt, f"{len(buffered)} bytes are left over after the last whole block"
                )
            return b""
        if encrypt:
            return self._run(True, key, chain or None, buffered, True)
        if len(buffered) != self.block_size:
            raise data_length_error(False, "padded ciphertext must end on a whole block")
        return self._run(False, key, chain or None, buffered, True)



class HMACScheme(SignScheme):
    """HMAC with a secret key; verification compares in constant time."""

    asymmetric = False

    def __init__(self, hash_name: str):
        self.hash_name = hash_name
        self.size = HASH_SIZE[hash_name]

    def start(self, key, parameter):
        return _crypto.hmac_init(self.hash_name, key.value)

    def update(self, key, context, data):
        return _crypto.hmac_update(self.hash_name, context, data)

    def sign_final(self, key, parameter, context):
        return _crypto.hmac_final(self.hash_name, key.value, context)

    def _compare(self, mac, signature):
        if len(signature) != self.size:
            raise signature_length_error(self.size, len(signature))
        if not _hmac.compare_digest(mac, signature):
            raise invalid_signature()

    def verify_final(self, key, parameter, context, signature):
        self._compare(self.sign_final(key, parameter, context), signature)

    def sign_once(self, key, parameter, data):
        return _crypto.hmac(self.hash_name, key.value, data)

    def verify_once(self, key, parameter, data, signature):
        self._compare(_crypto.hmac(self.hash_name, key.value, data), signature)



class DESKeyGenerator(SecretKeyGenerator):
    """Random DES2 or DES3 key values with odd parity; the key type sets the length.

    CKA_VALUE_LEN is ignored whatever its value, as EP11 does: clients send 32 for DES3.
    """

    def __init__(self, key_type: int):
        self.key_type = key_type
        self.length = DES_KEY_LENGTHS[key_type]

    def generate(self, attributes):
        return with_des_parity(_crypto.random_bytes(self.length))


class LengthKeyGenerator(SecretKeyGenerator):
    """Random key values whose length CKA_VALUE_LEN gives; ``lengths`` lists the legal ones."""

    def __init__(self, key_type: int, lengths, description: str):
        self.key_type = key_type
        self.lengths = lengths
        self.description = description

    def generate(self, attributes):
        length = attributes.get(CKA.VALUE_LEN)
        if length is None:
            raise PKCS11Error(CKR.TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required")
        if length not in self.lengths:
            raise PKCS11Error(
                CKR.KEY_SIZE_RANGE, f"{self.description}, not {length}"
            )
        return _crypto.random_bytes(length)


_AES = frozenset({CKK.AES})
AES_SIZES = {"key_types": _AES, "min_key_size": 16, "max_key_size": 32}
# Triple DES mechanisms take two-key (16-byte) and three-key (24-byte) keys.
DES3_SIZES = {"key_types": DES_KEY_TYPES, "min_key_size": 16, "max_key_size": 24}
MAC_SIZES = {"key_types": SECRET_MAC_KEY_TYPES, "min_key_size": 1, "max_key_size": 256}

# HMAC mechanisms and the digest mechanism of their hash.
HMAC_HASHES = {
    CKM.SHA_1_HMAC: CKM.SHA_1,
    CKM.SHA224_HMAC: CKM.SHA224,
    CKM.SHA256_HMAC: CKM.SHA256,
    CKM.SHA384_HMAC: CKM.SHA384,
    CKM.SHA512_HMAC: CKM.SHA512,
    CKM.SHA512_224_HMAC: CKM.SHA512_224,
    CKM.SHA512_256_HMAC: CKM.SHA512_256,
    CKM.IBM_SHA512_224_HMAC: CKM.SHA512_224,
    CKM.IBM_SHA512_256_HMAC: CKM.SHA512_256,
    CKM.IBM_SHA3_224_HMAC: CKM.IBM_SHA3_224,
    CKM.IBM_SHA3_256_HMAC: CKM.IBM_SHA3_256,
    CKM.IBM_SHA3_384_HMAC: CKM.IBM_SHA3_384,
    CKM.IBM_SHA3_512_HMAC: CKM.IBM_SHA3_512,
}

ROWS = [
    MechanismSpec(
        CKM.AES_KEY_GEN,
        Function.GENERATE,
        generator=LengthKeyGenerator(CKK.AES, AES_KEY_LENGTHS, "AES keys are 16, 24 or 32 bytes"),
        **AES_SIZES,
    ),
    MechanismSpec(
        CKM.AES_ECB,
        CRYPT_WRAP,
        cipher=BlockCipherScheme("aes-ecb", 16, pad=False, chained=False),
        **AES_SIZES,
    ),
    MechanismSpec(
        CKM.AES_CBC,
        CRYPT_WRAP,
        parameter=iv_parameter(16),
        cipher=BlockCipherScheme("aes-cbc", 16, pad=False, chained=True),
        **AES_SIZES,
    ),
    MechanismSpec(
        CKM.AES_CBC_PAD,
        CRYPT_WRAP,
        parameter=iv_parameter(16),
        cipher=BlockCipherScheme("aes-cbc", 16, pad=True, chained=True),
        **AES_SIZES,
    ),
    MechanismSpec(
        CKM.GENERIC_SECRET_KEY_GEN,
        Function.GENERATE,
        key_types=frozenset({CKK.GENERIC_SECRET}),
        min_key_size=1,
        max_key_size=GENERIC_SECRET_MAX_BYTES,
        generator=LengthKeyGenerator(
            CKK.GENERIC_SECRET,
            range(1, GENERIC_SECRET_MAX_BYTES + 1),
            f"generic secret keys are 1 to {GENERIC_SECRET_MAX_BYTES} bytes",
        ),
    ),
    MechanismSpec(
        CKM.DES2_KEY_GEN,
        Function.GENERATE,
        key_types=frozenset({CKK.DES2}),
        min_key_size=16,
        max_key_size=16,
        generator=DESKeyGenerator(CKK.DES2),
    ),
    MechanismSpec(
        CKM.DES3_KEY_GEN,
        Function.GENERATE,
        key_types=frozenset({CKK.DES3}),
        min_key_size=24,
        max_key_size=24,
        generator=DESKeyGenerator(CKK.DES3),
    ),
    MechanismSpec(
        CKM.DES3_ECB,
        CRYPT_WRAP,
        cipher=BlockCipherScheme("des3-ecb", 8, pad=False, chained=False),
        **DES3_SIZES,
    ),
    MechanismSpec(
        CKM.DES3_CBC,
        CRYPT_WRAP,
        parameter=iv_parameter(8),
        cipher=BlockCipherScheme("des3-cbc", 8, pad=False, chained=True),
        **DES3_SIZES,
    ),
    MechanismSpec(
        CKM.DES3_CBC_PAD,
        CRYPT_WRAP,
        parameter=iv_parameter(8),
        cipher=BlockCipherScheme("des3-cbc", 8, pad=True, chained=True),
        **DES3_SIZES,
    ),
] + [
    MechanismSpec(
        mechanism,
        SIGN_VERIFY,
        sign=HMACScheme(DIGEST_OF_MECHANISM[hash_mechanism][0]),
        **MAC_SIZES,
    )
    for mechanism, hash_mechanism in HMAC_HASHES.items()
]
