"""RSA mechanisms: PKCS #1 v1.5, OAEP, PSS and ANSI X9.31, raw and with a hash, and key pairs."""

from typing import Optional

from .. import _crypto
from ..constants import CKA, CKK, CKM, CKR, CKZ
from ..errors import PKCS11Error
from .base import (
    CRYPT_WRAP,
    SIGN_VERIFY,
    CipherScheme,
    Function,
    KeyPairGenerator,
    MechanismSpec,
    invalid_signature,
    signature_length_error,
)
from .parameters import (
    HASH_OF_MECHANISM,
    HASH_SIZE,
    hash_of,
    mgf_hash,
    oaep_parameter,
    param_error,
    pss_parameter,
)
from .signing import HashThenSignScheme, RawSignScheme

RSA_MIN_BITS, RSA_MAX_BITS, RSA_BITS_STEP = 512, 4096, 256
RSA_MIN_PUBLIC_EXPONENT = 17
RSA_DEFAULT_PUBLIC_EXPONENT = 65537
# ANSI X9.31 takes moduli of 1024 bits and more, in steps of 256 bits.
X931_MIN_BITS = 1024
# The last byte of the X9.31 trailer, which follows the hash identifier byte.
X931_TRAILER_END = 0xCC
# The X9.31 hash identifiers of the hashes that OpenSSL 3.0 pads for (RSA_X931_hash_id).
X931_HASH_IDS = {0x33: "sha1", 0x34: "sha256", 0x36: "sha384", 0x35: "sha512"}


class RSACipherScheme(CipherScheme):
    """RSA PKCS #1 v1.5 or OAEP encryption; single-part only."""

    single_part = True
    asymmetric = True

    def __init__(self, padding: str):
        self.padding = padding

    def _options(self, parameter):
        if self.padding != "oaep":
            return {}
        label = parameter.label if parameter.source == CKZ.DATA_SPECIFIED else None
        return {
            "md": hash_of(parameter.hash_mechanism),
            "mgf1_md": mgf_hash(parameter.mgf),
            "label": label or None,
        }

    def encrypt_once(self, key, parameter, data):
        try:
            return key.pkey.encrypt(data, padding=self.padding, **self._options(parameter))
        except _crypto.DataLengthError:
            raise PKCS11Error(
                CKR.DATA_LEN_RANGE, f"{len(data)} bytes are too long for this RSA key"
            ) from None

    def decrypt_once(self, key, parameter, data):
        if len(data) != (key.bits + 7) // 8:
            raise PKCS11Error(
                CKR.ENCRYPTED_DATA_LEN_RANGE,
                f"RSA ciphertext must be {(key.bits + 7) // 8} bytes, got {len(data)}",
            )
        try:
            return key.pkey.decrypt(data, padding=self.padding, **self._options(parameter))
        except _crypto.CryptoError:
            raise PKCS11Error(CKR.ENCRYPTED_DATA_INVALID, "RSA decryption failed") from None


# Signers sign a digest (or raw data) that the sign scheme prepared.



class RSAPKCS1Signer:
    def __init__(self, hash_name: Optional[str]):
        self.hash_name = hash_name

    def sign(self, key, parameter, tbs):
        if self.hash_name is None and len(tbs) > (key.bits + 7) // 8 - 11:
            raise PKCS11Error(
                CKR.DATA_LEN_RANGE, f"{len(tbs)} bytes are too long for this RSA key"
            )
        return key.pkey.sign(tbs, padding="pkcs1", md=self.hash_name)

    def verify(self, key, parameter, tbs, signature):
        expected = (key.bits + 7) // 8
        if len(signature) != expected:
            raise signature_length_error(expected, len(signature))
        if not key.pkey.verify(tbs, signature, padding="pkcs1", md=self.hash_name):
            raise invalid_signature()



class RSAPSSSigner:
    def _options(self, key, parameter, tbs):
        hash_name = hash_of(parameter.hash_mechanism)
        if len(tbs) != HASH_SIZE[hash_name]:
            raise PKCS11Error(
                CKR.DATA_LEN_RANGE,
                f"RSA-PSS signs a {HASH_SIZE[hash_name]}-byte {hash_name} digest, "
                f"got {len(tbs)} bytes",
            )
        max_salt = (key.bits - 1 + 7) // 8 - HASH_SIZE[hash_name] - 2
        if parameter.salt_length > max_salt:
            raise param_error(
                f"salt length {parameter.salt_length} exceeds {max_salt} for this key"
            )
        return {
            "padding": "pss",
            "md": hash_name,
            "mgf1_md": mgf_hash(parameter.mgf),
            "salt_len": parameter.salt_length,
        }

    def sign(self, key, parameter, tbs):
        return key.pkey.sign(tbs, **self._options(key, parameter, tbs))

    def verify(self, key, parameter, tbs, signature):
        expected = (key.bits + 7) // 8
        if len(signature) != expected:
            raise signature_length_error(expected, len(signature))
        if not key.pkey.verify(tbs, signature, **self._options(key, parameter, tbs)):
            raise invalid_signature()



class RSAX931Signer:
    """ANSI X9.31 signatures of a SHA-1 digest, or of ``hash || trailer`` (CKM_RSA_X9_31).

    For CKM_RSA_X9_31, PKCS #11 leaves the trailer (the hash identifier byte, then 0xCC) to the
    application and has the HSM add the header and the padding. OpenSSL 3.0 pads for X9.31
    only with a digest set, so the identifier selects the digest and OpenSSL writes the
    trailer again. SHA-1, SHA-256, SHA-384 and SHA-512 work, and other identifiers get
    CKR_DATA_INVALID.
    """

    def __init__(self, hash_name: Optional[str]):
        self.hash_name = hash_name

    def _digest(self, key, tbs):
        """Return the hash name and the digest that ``tbs`` carries."""
        if key.bits < X931_MIN_BITS:
            raise PKCS11Error(
                CKR.KEY_SIZE_RANGE, f"X9.31 needs a modulus of at least {X931_MIN_BITS} bits"
            )
        if self.hash_name is not None:
            return self.hash_name, tbs
        hash_name = X931_HASH_IDS.get(tbs[-2]) if len(tbs) >= 2 else None
        if hash_name is None or tbs[-1] != X931_TRAILER_END:
            raise PKCS11Error(
                CKR.DATA_INVALID,
                "CKM_RSA_X9_31 signs a hash followed by its X9.31 trailer: 0x33 (SHA-1), "
                "0x34 (SHA-256), 0x36 (SHA-384) or 0x35 (SHA-512), then 0xCC",
            )
        if len(tbs) != HASH_SIZE[hash_name] + 2:
            raise PKCS11Error(
                CKR.DATA_LEN_RANGE,
                f"a {hash_name} hash with its X9.31 trailer is {HASH_SIZE[hash_name] + 2} "
                f"bytes, got {len(tbs)}",
            )
        return hash_name, tbs[:-2]

    def sign(self, key, parameter, tbs):
        hash_name, digest = self._digest(key, tbs)
        return key.pkey.sign(digest, padding="x931", md=hash_name)

    def verify(self, key, parameter, tbs, signature):
        hash_name, digest = self._digest(key, tbs)
        expected = (key.bits + 7) // 8
        if len(signature) != expected:
            raise signature_length_error(expected, len(signature))
        if not key.pkey.verify(digest, signature, padding="x931", md=hash_name):
            raise invalid_signature()


def _describe_exponent(exponent: int) -> str:
    # A huge exponent would exceed Python's integer-to-text limit, so give only its size.
    if exponent.bit_length() > 64:
        return f"a {exponent.bit_length()}-bit value"
    return str(exponent)


class RSAKeyPairGenerator(KeyPairGenerator):
    """RSA key pairs: CKA_MODULUS_BITS and CKA_PUBLIC_EXPONENT from either template.

    EP11 needs moduli that are multiples of 256 bits and public exponents of at least 17.
    """

    key_type = CKK.RSA
    min_bits = RSA_MIN_BITS
    x931 = False

    def generate(self, public, private):
        bits = public.get(CKA.MODULUS_BITS, private.get(CKA.MODULUS_BITS))
        if bits is None:
            raise PKCS11Error(CKR.TEMPLATE_INCOMPLETE, "CKA_MODULUS_BITS is required")
        if not self.min_bits <= bits <= RSA_MAX_BITS or bits % RSA_BITS_STEP:
            raise PKCS11Error(
                CKR.KEY_SIZE_RANGE,
                f"RSA moduli are multiples of {RSA_BITS_STEP} bits from {self.min_bits} to "
                f"{RSA_MAX_BITS}, not {bits}",
            )
        exponent_bytes = public.get(CKA.PUBLIC_EXPONENT, private.get(CKA.PUBLIC_EXPONENT))
        exponent = (
            int.from_bytes(exponent_bytes, "big")
            if exponent_bytes
            else RSA_DEFAULT_PUBLIC_EXPONENT
        )
        if (
            exponent < RSA_MIN_PUBLIC_EXPONENT
            or exponent % 2 == 0
            or exponent.bit_length() > 64
        ):
            raise PKCS11Error(
                CKR.ATTRIBUTE_VALUE_INVALID,
                f"the RSA public exponent must be odd, at least {RSA_MIN_PUBLIC_EXPONENT} "
                f"and at most 64 bits, not {_describe_exponent(exponent)}",
            )
        return _crypto.PKey.generate_rsa(bits, exponent, x931=self.x931)


class RSAX931KeyPairGenerator(RSAKeyPairGenerator):
    """CKM_RSA_X9_31_KEY_PAIR_GEN: RSA key pairs whose primes follow ANSI X9.31."""

    min_bits = X931_MIN_BITS
    x931 = True


_RSA = frozenset({CKK.RSA})
RSA_SIZES = {"key_types": _RSA, "min_key_size": RSA_MIN_BITS, "max_key_size": RSA_MAX_BITS}
X931_SIZES = {**RSA_SIZES, "min_key_size": X931_MIN_BITS}


def _hashed_rows():
    rows = []
    for mechanism, hash_mechanism in (
        (CKM.SHA1_RSA_PKCS, CKM.SHA_1),
        (CKM.SHA224_RSA_PKCS, CKM.SHA224),
        (CKM.SHA256_RSA_PKCS, CKM.SHA256),
        (CKM.SHA384_RSA_PKCS, CKM.SHA384),
        (CKM.SHA512_RSA_PKCS, CKM.SHA512),
    ):
        hash_name = HASH_OF_MECHANISM[hash_mechanism][0]
        scheme = HashThenSignScheme(hash_name, RSAPKCS1Signer(hash_name))
        rows.append(MechanismSpec(mechanism, SIGN_VERIFY, sign=scheme, **RSA_SIZES))
    for mechanism, hash_mechanism in (
        (CKM.SHA1_RSA_PKCS_PSS, CKM.SHA_1),
        (CKM.SHA224_RSA_PKCS_PSS, CKM.SHA224),
        (CKM.SHA256_RSA_PKCS_PSS, CKM.SHA256),
        (CKM.SHA384_RSA_PKCS_PSS, CKM.SHA384),
        (CKM.SHA512_RSA_PKCS_PSS, CKM.SHA512),
    ):
        hash_name = HASH_OF_MECHANISM[hash_mechanism][0]
        scheme = HashThenSignScheme(hash_name, RSAPSSSigner())
        rows.append(
            MechanismSpec(
                mechanism,
                SIGN_VERIFY,
                parameter=pss_parameter(hash_mechanism),
                sign=scheme,
                **RSA_SIZES,
            )
        )
    return rows


# CKM_RSA_PKCS comes first: clients read the first entry of GetMechanismList.
ROWS = [
    MechanismSpec(
        CKM.RSA_PKCS,
        CRYPT_WRAP | SIGN_VERIFY,
        cipher=RSACipherScheme("pkcs1"),
        sign=RawSignScheme(RSAPKCS1Signer(None)),
        **RSA_SIZES,
    ),
    MechanismSpec(
        CKM.RSA_PKCS_OAEP,
        CRYPT_WRAP,
        parameter=oaep_parameter,
        cipher=RSACipherScheme("oaep"),
        **RSA_SIZES,
    ),
    MechanismSpec(
        CKM.RSA_PKCS_PSS,
        SIGN_VERIFY,
        parameter=pss_parameter(None),
        sign=RawSignScheme(RSAPSSSigner()),
        **RSA_SIZES,
    ),
    MechanismSpec(
        CKM.RSA_PKCS_KEY_PAIR_GEN,
        Function.GENERATE_KEY_PAIR,
        generator=RSAKeyPairGenerator(),
        **RSA_SIZES,
    ),
    *_hashed_rows(),
    MechanismSpec(
        CKM.RSA_X9_31_KEY_PAIR_GEN,
        Function.GENERATE_KEY_PAIR,
        generator=RSAX931KeyPairGenerator(),
        **X931_SIZES,
    ),
    MechanismSpec(
        CKM.RSA_X9_31, SIGN_VERIFY, sign=RawSignScheme(RSAX931Signer(None)), **X931_SIZES
    ),
    MechanismSpec(
        CKM.SHA1_RSA_X9_31,
        SIGN_VERIFY,
        sign=HashThenSignScheme("sha1", RSAX931Signer("sha1")),
        **X931_SIZES,
    ),
]
