"""Cryptographic primitives over OpenSSL libcrypto for the EP11 engine.

Byte arguments must be ``bytes`` (``bytearray`` and ``memoryview`` raise ``TypeError``).
Hash names are ``"sha1"``, ``"sha224"``, ``"sha256"``, ``"sha384"``, ``"sha512"``,
``"sha512_224"``, ``"sha512_256"``, ``"sha3_224"``, ``"sha3_256"``, ``"sha3_384"`` and
``"sha3_512"`` (the ``hashlib`` names), and any other name raises ``ValueError``. libcrypto
failures raise ``CryptoError`` or a subclass, with the OpenSSL error strings in the message
and never key material. Calls that hash, encrypt, sign, verify, generate or parse release the
GIL while libcrypto works.
"""

from typing import Literal, TypeAlias

__all__ = [
    "AuthenticationError",
    "CryptoError",
    "DataLengthError",
    "DecryptError",
    "KeyFormatError",
    "PKey",
    "PaddingError",
    "aes_ctr",
    "aes_gcm",
    "cipher",
    "cmac",
    "cmac_final",
    "cmac_init",
    "cmac_update",
    "dh_named_group",
    "digest",
    "digest_size",
    "generate_dsa_parameters",
    "hash_final",
    "hash_init",
    "hash_update",
    "hmac",
    "hmac_final",
    "hmac_init",
    "hmac_update",
    "random_bytes",
]

_HashName: TypeAlias = Literal[
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha512_224",
    "sha512_256",
    "sha3_224",
    "sha3_256",
    "sha3_384",
    "sha3_512",
]
_CipherName: TypeAlias = Literal["aes-ecb", "aes-cbc", "des3-ecb", "des3-cbc"]
_KeyType: TypeAlias = Literal["RSA", "EC", "ED25519", "ED448", "X25519", "X448", "DSA", "DH"]
_EcxCurve: TypeAlias = Literal["ED25519", "ED448", "X25519", "X448"]
_FfcAlgorithm: TypeAlias = Literal["DSA", "DH"]
_DhGroup: TypeAlias = Literal[
    "modp_1536", "modp_2048", "modp_3072", "modp_4096", "modp_6144", "modp_8192",
    "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192",
]
_CmacCipher: TypeAlias = Literal["aes", "des3"]

class CryptoError(Exception):
    """A libcrypto operation failed. The message contains the OpenSSL error strings."""

class KeyFormatError(CryptoError):
    """A DER key encoding is malformed, has trailing bytes or contains an unsupported key."""

class DataLengthError(CryptoError, ValueError):
    """The input length does not fit the cipher block size or the RSA modulus."""

class PaddingError(CryptoError):
    """The PKCS #7 padding of a decrypted block is invalid."""

class DecryptError(CryptoError):
    """RSA decryption failed: wrong key, corrupt ciphertext or invalid padding."""

class AuthenticationError(CryptoError):
    """An authentication tag (AES-GCM) does not match the ciphertext, IV and AAD."""

def random_bytes(n: int) -> bytes:
    """Return ``n`` bytes from the OpenSSL DRBG. A negative ``n`` raises ``ValueError``."""

def digest_size(name: _HashName) -> int:
    """Return the output size in bytes of the hash ``name``."""

def digest(name: _HashName, data: bytes) -> bytes:
    """Hash ``data`` in one call."""

def hash_init(name: _HashName) -> bytes:
    """Start a multi-part hash and return its context.

    The context is the raw bytes of OpenSSL's ``SHA_CTX`` (SHA-1), ``SHA256_CTX`` (SHA-224,
    SHA-256) or ``SHA512_CTX`` (SHA-384, SHA-512, SHA-512/224, SHA-512/256), so it can be
    stored between requests. SHA-3 contexts are 212 bytes: the 200-byte Keccak state (lanes
    little-endian, as FIPS 202 orders the bits), then the buffered-byte count, the rate and the
    digest size as native ``unsigned int``.
    NOTE: the layout is that of the OpenSSL build and the CPU's byte order, so a context does
    not move between hosts that differ in either.
    """

def hash_update(name: _HashName, ctx: bytes, data: bytes) -> bytes:
    """Absorb ``data`` into the context ``ctx`` and return the new context.

    Raises ``ValueError`` if ``ctx`` has the wrong size for ``name`` or inconsistent counters
    (a context of SHA-256 passed as SHA-224 also fails). ``ctx`` itself is not modified.
    """

def hash_final(name: _HashName, ctx: bytes) -> bytes:
    """Return the digest of the context ``ctx``, with the ``ValueError`` of ``hash_update``."""

def hmac(name: _HashName, key: bytes, data: bytes) -> bytes:
    """Compute HMAC (RFC 2104) of ``data`` under ``key`` in one call.

    The HMAC block size is the hash's block size, which for SHA-3 is the sponge rate (144,
    136, 104 or 72 bytes), the same as Python's ``hmac`` module uses.
    """

def hmac_init(name: _HashName, key: bytes) -> bytes:
    """Start a multi-part HMAC and return the inner hash context.

    The context has absorbed (K' XOR ipad), where K' is ``key``, or its hash when ``key`` is
    longer than the hash block size, zero-padded to one block. It is a ``hash_init`` context.
    """

def hmac_update(name: _HashName, ctx: bytes, data: bytes) -> bytes:
    """Absorb ``data`` into the inner hash context, exactly as ``hash_update`` does."""

def hmac_final(name: _HashName, key: bytes, ctx: bytes) -> bytes:
    """Finish the inner hash of ``ctx`` and return H((K' XOR opad) || inner digest).

    ``key`` must be the key given to ``hmac_init``, because the context does not contain it.
    """

def cipher(
    name: _CipherName, encrypt: bool, key: bytes, iv: bytes | None, data: bytes, pad: bool
) -> bytes:
    """Encrypt or decrypt ``data`` in one call.

    The key length picks AES-128, AES-192 or AES-256 (16, 24 or 32 bytes) and three-key or
    two-key triple DES (24 or 16 bytes). Other lengths raise ``ValueError``. CBC needs an
    ``iv`` of exactly one block (16 bytes for AES, 8 for triple DES), else ``ValueError``.
    ECB ignores ``iv``. ``pad`` adds or removes PKCS #7 padding.

    Raises ``DataLengthError`` when ``data`` is not a whole number of blocks (unless
    encrypting with ``pad``) or is empty when decrypting with ``pad``. Raises
    ``PaddingError`` when the decrypted padding is invalid. To chain CBC across calls, pass
    the last ciphertext block as the next ``iv``.
    """

def cmac(name: _CmacCipher, key: bytes, data: bytes) -> bytes:
    """Compute CMAC (NIST SP 800-38B) of ``data`` in one call: 16 bytes for AES, 8 for DES3.

    The key length picks the cipher as in ``cipher``; other lengths raise ``ValueError``.
    """

def cmac_init(name: _CmacCipher) -> bytes:
    """Start a multi-part CMAC and return its context.

    The context is the CBC-MAC chaining value (one block) followed by the buffered input,
    0 to one block long. It contains no key material.
    """

def cmac_update(name: _CmacCipher, key: bytes, ctx: bytes, data: bytes) -> bytes:
    """Absorb ``data`` into the context ``ctx`` and return the new context.

    Raises ``ValueError`` if ``ctx`` is not one to two blocks long.
    """

def cmac_final(name: _CmacCipher, key: bytes, ctx: bytes) -> bytes:
    """Return the full-block CMAC of the context ``ctx``, with the errors of ``cmac_update``."""

def aes_ctr(
    key: bytes, counter_block: bytes, counter_bits: int, offset: int, data: bytes
) -> bytes:
    """Encrypt or decrypt ``data`` with AES-CTR (NIST SP 800-38A), starting ``offset`` bytes
    into the key stream.

    The key stream is AES of ``counter_block`` (16 bytes), then of that block with its low
    ``counter_bits`` bits (1 to 128) incremented by 1, 2, and so on, as CK_AES_CTR_PARAMS
    defines: the counter wraps within those bits and the other bits stay fixed. So splitting
    a message at any offsets and passing each part's offset gives the one-call output. Raises
    ``DataLengthError`` when the input would use more than 2^counter_bits blocks, which would
    repeat a counter value, and ``ValueError`` for a bad key, counter block or counter size.
    """

def aes_gcm(
    encrypt: bool, key: bytes, iv: bytes, aad: bytes, data: bytes, tag_length: int
) -> bytes:
    """Encrypt or decrypt ``data`` with AES-GCM (NIST SP 800-38D) in one call.

    Encryption returns the ciphertext followed by the first ``tag_length`` bytes (1 to 16) of
    the tag. Decryption takes that form and returns the plaintext. ``iv`` is 1 to 128 bytes,
    the limit of OpenSSL 3.0. Raises ``AuthenticationError`` when the tag does not match,
    ``DataLengthError`` when the ciphertext is shorter than the tag, and ``ValueError`` for a
    bad key, IV or tag length.
    """

def generate_dsa_parameters(bits: int, qbits: int) -> tuple[bytes, bytes, bytes]:
    """Generate DSA domain parameters (FIPS 186-4) and return ``(p, q, g)``, big-endian.

    ``bits`` is the size of p (1024 to 15360) and ``qbits`` the size of q (160, 224 or 256),
    else ``ValueError``. The search for primes varies in length: four runs each took 1.5 to
    4.2 s for 2048 bits and 4.5 to 6.2 s for 3072 bits (OpenSSL 3.0.19, two AMD EPYC cores
    shared with a test run).
    """

def dh_named_group(name: _DhGroup) -> tuple[bytes, bytes, bytes]:
    """Return ``(p, q, g)`` of a safe-prime group built into OpenSSL, big-endian.

    The ``modp_*`` groups are those of RFC 3526 and the ``ffdhe*`` groups those of RFC 7919;
    q is (p - 1) / 2 and g is 2. Other names raise ``ValueError``.
    """

class PKey:
    """A private or public key (``EVP_PKEY``) of one of the types of ``key_type``.

    ED25519, ED448, X25519 and X448 keys (OpenSSL's ECX keys) count as EC keys on the curve of
    that name: ``generate_ec``, ``from_ec_point``, ``curve`` and ``ec_point`` take them.
    Create keys with the static methods. A key is read-only after creation, and one key may
    be used by several threads at once.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        """Raise ``TypeError``: keys come from the static methods."""

    @staticmethod
    def generate_rsa(bits: int, public_exponent: int = 65537, *, x931: bool = False) -> PKey:
        """Generate an RSA key with a ``bits``-bit modulus.

        ``bits`` must be 512 to 16384 and ``public_exponent`` odd and at least 3 (17 and 65537
        both work), else ``ValueError``. With ``x931`` the primes are generated as ANSI X9.31
        specifies (OpenSSL's RSA_X931_generate_key_ex), and ``bits`` must be a multiple of 256
        from 1024.
        """

    @staticmethod
    def generate_ec(curve: str) -> PKey:
        """Generate an EC key on ``curve``.

        ``curve`` is an OpenSSL short name such as ``"prime256v1"``, ``"secp384r1"``,
        ``"secp521r1"``, ``"secp256k1"``, ``"secp224r1"`` or ``"brainpoolP256r1"``, a NIST
        name such as ``"P-256"``, or ``"ED25519"``, ``"ED448"``, ``"X25519"`` or ``"X448"``. A
        name that is not a built-in curve of the linked OpenSSL raises ``ValueError``.
        """

    @staticmethod
    def generate_ffc(algorithm: _FfcAlgorithm, p: bytes, q: bytes | None, g: bytes) -> PKey:
        """Generate a DSA or DH key on the domain parameters p, q and g (big-endian).

        DSA needs q (else ``ValueError``). A DH ``q`` may be None: OpenSSL then fills in the q
        of a named group whose p and g match, and otherwise draws a private value as long as
        p. OpenSSL checks the sizes and ranges of the parameters but not the primality of p
        and q; parameters that fail raise ``KeyFormatError``.
        """

    @staticmethod
    def from_ffc_public(
        algorithm: _FfcAlgorithm, p: bytes, q: bytes | None, g: bytes, y: bytes
    ) -> PKey:
        """Build a DSA or DH public key from its domain parameters and public value ``y``.

        Zero values raise ``ValueError``. ``y`` is checked only when the key is used: a DH
        ``derive`` with an invalid peer value raises ``CryptoError``.
        """

    @staticmethod
    def from_raw_private_key(curve: _EcxCurve, raw: bytes) -> PKey:
        """Build an ED25519, ED448, X25519 or X448 private key from its raw bytes.

        ``raw`` is the RFC 8032 private key (the seed) or the RFC 7748 scalar: 32 bytes, or 57
        for ED448 and 56 for X448. Another length raises ``KeyFormatError``.
        """

    @staticmethod
    def from_pkcs8(der: bytes, *, pairwise_check: bool = True) -> PKey:
        """Parse a DER PKCS #8 PrivateKeyInfo holding a private key of a ``key_type``.

        ED25519, ED448, X25519 and X448 keys are in the RFC 8410 form. DSA and DH keys go
        through OpenSSL's provider decoder, which took about 5 ms per 2048-bit key (OpenSSL
        3.0.19, two AMD EPYC cores shared with a test run), so callers cache parsed keys.
        Raises ``KeyFormatError`` on malformed input, trailing bytes and BER that is not DER.
        It also rejects encrypted and traditional key formats, other key types (RSA-PSS and
        X9.42 DH keys included), EC curves that match no named curve, and a public point at
        infinity. With ``pairwise_check``, an EC key whose optional public point does not
        belong to its private scalar also raises ``KeyFormatError``. The check costs one
        scalar multiplication, so skip it only for keys checked when they were sealed.
        RSA keys get no consistency check.
        """

    @staticmethod
    def from_spki(der: bytes) -> PKey:
        """Parse a DER SubjectPublicKeyInfo holding a public key of a ``key_type``.

        ED25519, ED448, X25519 and X448 keys are read in the RFC 8410 form and in EP11's form
        (see ``spki``). Raises ``KeyFormatError`` on malformed input, trailing bytes, other key
        types, EC curves that match no named curve, and the point at infinity. A compressed EC
        point is accepted, and ``spki()`` and ``ec_point`` return it uncompressed.
        """

    @staticmethod
    def from_ec_point(curve: str, point: bytes) -> PKey:
        """Build an EC public key from an X9.62 point (compressed or uncompressed) on ``curve``.

        ``curve`` is named as in ``generate_ec``. For ED25519, ED448, X25519 and X448,
        ``point`` is the raw public key of RFC 8032 or RFC 7748. A point that is malformed, of
        the wrong length or not on the curve raises ``KeyFormatError``; OpenSSL does not check
        that a raw Edwards key decodes to a point until it verifies with it.
        """

    @property
    def key_type(self) -> _KeyType:
        """Key algorithm: the OpenSSL key type name."""

    @property
    def is_private(self) -> bool:
        """Whether the key contains private material."""

    @property
    def bits(self) -> int:
        """Key size in bits.

        The modulus size (RSA), the bit length of the group order (EC), the size of p (DSA,
        DH), or eight times the raw key length (256 for ED25519 and X25519, 456 for ED448, 448
        for X448).
        """

    @property
    def curve(self) -> str | None:
        """OpenSSL short name of the curve (EC, and ``key_type`` for ECX keys), else ``None``."""

    @property
    def public_exponent(self) -> int | None:
        """Public exponent (RSA), else ``None``."""

    @property
    def modulus(self) -> bytes | None:
        """Modulus as big-endian bytes without leading zeros (RSA), else ``None``."""

    @property
    def ec_point(self) -> bytes | None:
        """Public point as uncompressed ``04 || X || Y`` (EC), the raw public key (ECX keys),
        else ``None``."""

    @property
    def ffc_params(self) -> tuple[bytes, bytes | None, bytes] | None:
        """Domain parameters ``(p, q, g)`` as minimal big-endian bytes (DSA, DH), else ``None``.

        q is None for a DH key whose parameters do not include it.
        """

    @property
    def public_value(self) -> bytes | None:
        """Public value y as minimal big-endian bytes (DSA, DH), else ``None``."""

    def raw_private_key(self) -> bytes:
        """Return the raw private key of an ED25519, ED448, X25519 or X448 private key.

        Other keys raise ``ValueError``.
        """

    def spki(self) -> bytes:
        """Encode the public key as DER SubjectPublicKeyInfo.

        EC keys use namedCurve parameters and an uncompressed point. ED25519, ED448, X25519
        and X448 keys use EP11's form, which GREP11 clients parse: the AlgorithmIdentifier is
        id-ecPublicKey (1.2.840.10045.2.1) with the RFC 8410 curve OID as its parameter, and
        the BIT STRING contains the raw public key. DSA keys carry Dss-Parms and DH keys the
        PKCS #3 DHParameter {p, g} with the public value as a DER INTEGER.
        """

    def pkcs8(self) -> bytes:
        """Encode the private key as DER PKCS #8 PrivateKeyInfo.

        EC keys carry namedCurve parameters in the AlgorithmIdentifier, the form that Go's
        ``x509.ParsePKCS8PrivateKey`` reads. ED25519, ED448, X25519 and X448 keys use RFC 8410.
        A public key raises ``ValueError``.
        """

    def sign(
        self,
        tbs: bytes,
        padding: Literal["pkcs1", "pss", "x931", "none"] = "pkcs1",
        md: _HashName | None = None,
        mgf1_md: _HashName | None = None,
        salt_len: int = 0,
    ) -> bytes:
        """Sign ``tbs`` with the private key.

        RSA, ``"pkcs1"`` with ``md``: ``tbs`` is a digest of ``md`` and the DigestInfo is
        built here. RSA, ``"pkcs1"`` without ``md``: ``tbs`` is signed raw with PKCS #1 v1.5
        type 1 padding (CKM_RSA_PKCS), at most modulus bytes - 11. RSA, ``"pss"``: ``md`` is
        required, ``mgf1_md`` defaults to ``md`` and ``salt_len`` is the salt length in bytes
        (0 allowed). RSA, ``"none"``: raw RSA of ``tbs`` left-padded with zeros to the modulus
        size (CKM_RSA_X_509). RSA, ``"x931"``: ANSI X9.31 signatures of ``tbs``, a digest
        of ``md``. OpenSSL appends the hash identifier and 0xCC, so ``md`` is required and one
        of the hashes with an X9.31 identifier: sha1, sha256, sha384 or sha512. The signature has the
        modulus size.

        EC and DSA: ``padding``, ``md``, ``mgf1_md`` and ``salt_len`` are ignored. ``tbs`` is a
        hash of any length, truncated to the bit length of the group order (of q for DSA) as
        FIPS 186-4 specifies, and the result is ``r || s`` with each half left-padded to the
        byte length of the order.

        ED25519 and ED448: the options are ignored, ``tbs`` is the message, and the result is
        the pure EdDSA signature of RFC 8032 (64 or 114 bytes; ED448 with an empty context).
        X25519, X448 and DH keys raise ``ValueError``.

        Raises ``DataLengthError`` when ``tbs`` has the wrong length, ``ValueError`` on a
        public key or invalid options, and ``CryptoError`` when OpenSSL fails (for example a
        PSS salt too long for the modulus).
        """

    def verify(
        self,
        tbs: bytes,
        signature: bytes,
        padding: Literal["pkcs1", "pss", "x931", "none"] = "pkcs1",
        md: _HashName | None = None,
        mgf1_md: _HashName | None = None,
        salt_len: int = 0,
    ) -> bool:
        """Return whether ``signature`` is valid for ``tbs``, with the options of ``sign``.

        Returns ``False`` without raising for a signature of the wrong length, an ECDSA or DSA
        ``r`` or ``s`` outside [1, n - 1] and any OpenSSL failure. The OpenSSL error queue is
        then cleared. For RSA keys, invalid options still raise ``ValueError``, and keys that
        cannot sign raise it as in ``sign``.
        """

    def encrypt(
        self,
        data: bytes,
        padding: Literal["pkcs1", "oaep", "none"] = "pkcs1",
        md: _HashName | None = None,
        mgf1_md: _HashName | None = None,
        label: bytes | None = None,
    ) -> bytes:
        """Encrypt ``data`` with the RSA public key.

        ``"pkcs1"`` is PKCS #1 v1.5 (at most modulus bytes - 11). ``"oaep"`` takes ``md``
        (default ``"sha1"``), ``mgf1_md`` (default ``md``) and an optional ``label`` (at most
        modulus bytes - 2 * digest size - 2). ``"none"`` is raw RSA of ``data`` left-padded to
        the modulus size. Longer input raises ``DataLengthError``, and EC keys raise
        ``ValueError``.
        """

    def decrypt(
        self,
        data: bytes,
        padding: Literal["pkcs1", "oaep", "none"] = "pkcs1",
        md: _HashName | None = None,
        mgf1_md: _HashName | None = None,
        label: bytes | None = None,
    ) -> bytes:
        """Decrypt ``data`` with the RSA private key, with the options of ``encrypt``.

        ``data`` must have the modulus size, else ``DataLengthError``. Invalid padding, a
        wrong label or a wrong key raise ``DecryptError``.
        NOTE: OpenSSL 3.0 has no implicit rejection for PKCS #1 v1.5, so the error reveals
        whether the padding was valid (the Bleichenbacher oracle that PKCS #11 also exposes).
        """

    def derive(self, peer: PKey) -> bytes:
        """Return the shared secret with the public key ``peer`` of the same key type.

        EC: the ECDH x-coordinate. X25519 and X448: the RFC 7748 output. DH: g^xy mod p,
        left-padded to the byte length of p. Keys on different curves or groups, an invalid
        peer value, and an all-zero X25519 or X448 result (a peer key of small order) raise
        ``CryptoError``. Other key types, mixed types and a public ``self`` raise
        ``ValueError``.
        """
