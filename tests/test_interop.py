"""Interoperability of the engine's RSA and ECDSA with the ``cryptography`` package.

Signatures and ciphertexts cross between the two in both directions, on every backend of the
``ep11`` fixture. Public keys leave the engine as MACed SPKIs: the DER SubjectPublicKeyInfo
at the start of the blob is cut at its own length and parsed with ``load_der_public_key``.
"""

import os
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from ep11core.constants import CKA, CKG, CKK, CKM, CKR, CKZ
from ep11core.errors import PKCS11Error
from ep11core.types import Mechanism, OAEPParams, PSSParams

RSA_BITS = 2048
RSA_BYTES = RSA_BITS // 8
MACED_SPKI_TRAILER_BYTES = 120
MESSAGE = b"interoperability test message, longer than one hash block " * 3


@dataclass(frozen=True)
class HashSpec:
    """A hash with the constants and mechanisms that name it."""

    name: str
    algorithm: type
    mechanism: int
    mgf: int
    oid: str
    rsa_pkcs: int
    rsa_pss: int
    ecdsa: int

    @property
    def size(self) -> int:
        return self.algorithm.digest_size

    def digest(self, data: bytes) -> bytes:
        hasher = hashes.Hash(self.algorithm())
        hasher.update(data)
        return hasher.finalize()


HASHES = [
    HashSpec(
        "SHA-1", hashes.SHA1, CKM.SHA_1, CKG.MGF1_SHA1, "1.3.14.3.2.26",
        CKM.SHA1_RSA_PKCS, CKM.SHA1_RSA_PKCS_PSS, CKM.ECDSA_SHA1,
    ),
    HashSpec(
        "SHA-224", hashes.SHA224, CKM.SHA224, CKG.MGF1_SHA224, "2.16.840.1.101.3.4.2.4",
        CKM.SHA224_RSA_PKCS, CKM.SHA224_RSA_PKCS_PSS, CKM.ECDSA_SHA224,
    ),
    HashSpec(
        "SHA-256", hashes.SHA256, CKM.SHA256, CKG.MGF1_SHA256, "2.16.840.1.101.3.4.2.1",
        CKM.SHA256_RSA_PKCS, CKM.SHA256_RSA_PKCS_PSS, CKM.ECDSA_SHA256,
    ),
    HashSpec(
        "SHA-384", hashes.SHA384, CKM.SHA384, CKG.MGF1_SHA384, "2.16.840.1.101.3.4.2.2",
        CKM.SHA384_RSA_PKCS, CKM.SHA384_RSA_PKCS_PSS, CKM.ECDSA_SHA384,
    ),
    HashSpec(
        "SHA-512", hashes.SHA512, CKM.SHA512, CKG.MGF1_SHA512, "2.16.840.1.101.3.4.2.3",
        CKM.SHA512_RSA_PKCS, CKM.SHA512_RSA_PKCS_PSS, CKM.ECDSA_SHA512,
    ),
]
HASH_BY_NAME = {spec.name: spec for spec in HASHES}
HASH_PARAMS = [pytest.param(spec, id=spec.name) for spec in HASHES]


def _pss_salt_lengths(spec):
    # The largest PSS salt is emLen - hLen - 2, with emLen = ceil((modBits - 1) / 8) (RFC 8017).
    largest = (RSA_BITS - 1 + 7) // 8 - spec.size - 2
    return (0, 20, spec.size, largest)


PSS_CASES = [
    pytest.param(spec, salt, id=f"{spec.name}-salt{salt}")
    for spec in HASHES
    for salt in _pss_salt_lengths(spec)
]


@dataclass(frozen=True)
class CurveSpec:
    """A named curve: its name, the ``cryptography`` curve class and CKA_EC_PARAMS (DER OID)."""

    name: str
    curve: type
    ec_params: bytes

    @property
    def order_bytes(self) -> int:
        return (self.curve.key_size + 7) // 8


CURVES = [
    CurveSpec("P-192", ec.SECP192R1, bytes.fromhex("06082a8648ce3d030101")),
    CurveSpec("P-224", ec.SECP224R1, bytes.fromhex("06052b81040021")),
    CurveSpec("P-256", ec.SECP256R1, bytes.fromhex("06082a8648ce3d030107")),
    CurveSpec("P-384", ec.SECP384R1, bytes.fromhex("06052b81040022")),
    CurveSpec("P-521", ec.SECP521R1, bytes.fromhex("06052b81040023")),
    CurveSpec("secp256k1", ec.SECP256K1, bytes.fromhex("06052b8104000a")),
]
CURVE_PARAMS = [pytest.param(curve, id=curve.name) for curve in CURVES]
CURVE_HASH_CASES = [
    pytest.param(curve, spec, id=f"{curve.name}-{spec.name}")
    for curve in CURVES
    for spec in HASHES
]

# How a verifier receives a public key that started as an imported private key.
PUBLIC_FORMS = ["maced-from-private", "transport-imported", "plain-spki"]


# --- DER helpers


def spki_of(blob: bytes) -> bytes:
    """Return the DER SubjectPublicKeyInfo at the start of a public key blob.

    The SPKI is a SEQUENCE, so its length octets give its end; the MACed SPKI trailer follows.
    """
    assert blob[0] == 0x30, f"a public key blob starts with a SEQUENCE, not {blob[0]:#04x}"
    first = blob[1]
    if first < 0x80:
        header, length = 2, first
    else:
        count = first & 0x7F
        header = 2 + count
        length = int.from_bytes(blob[2:header], "big")
    return blob[: header + length]


def _der(tag: int, content: bytes) -> bytes:
    if len(content) < 0x80:
        length = bytes((len(content),))
    else:
        size = (len(content).bit_length() + 7) // 8
        length = bytes((0x80 | size,)) + len(content).to_bytes(size, "big")
    return bytes((tag,)) + length + content


def _der_oid(dotted: str) -> bytes:
    numbers = [int(part) for part in dotted.split(".")]
    body = bytearray()
    for arc in [40 * numbers[0] + numbers[1]] + numbers[2:]:
        groups = [arc & 0x7F]
        arc >>= 7
        while arc:
            groups.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(groups))
    return _der(0x06, bytes(body))


def digest_info(spec: HashSpec, data: bytes) -> bytes:
    """Return the DER DigestInfo of ``data`` that RSASSA-PKCS1-v1_5 signs (RFC 8017 9.2)."""
    algorithm = _der(0x30, _der_oid(spec.oid) + _der(0x05, b""))
    return _der(0x30, algorithm + _der(0x04, spec.digest(data)))


def raw_to_der(signature: bytes) -> bytes:
    """Convert a raw ``r‖s`` ECDSA signature to the DER form ``cryptography`` verifies."""
    half = len(signature) // 2
    r = int.from_bytes(signature[:half], "big")
    s = int.from_bytes(signature[half:], "big")
    return utils.encode_dss_signature(r, s)


def der_to_raw(signature: bytes, curve: CurveSpec) -> bytes:
    """Convert a DER ECDSA signature to ``r‖s``, each half padded to the order size."""
    r, s = utils.decode_dss_signature(signature)
    return r.to_bytes(curve.order_bytes, "big") + s.to_bytes(curve.order_bytes, "big")


def _flip_last_bit(data: bytes) -> bytes:
    return data[:-1] + bytes((data[-1] ^ 0x01,))


# --- keys


class GeneratedKeys:
    """Key pairs generated inside one backend, made on first use and kept for the module."""

    def __init__(self, ep11):
        self.ep11 = ep11
        self._pairs = {}

    def rsa(self, exponent: int = 65537):
        if ("rsa", exponent) not in self._pairs:
            self._pairs[("rsa", exponent)] = self.ep11.generate_key_pair(
                Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN),
                {CKA.MODULUS_BITS: RSA_BITS, CKA.PUBLIC_EXPONENT: exponent},
                {},
            )
        return self._pairs[("rsa", exponent)]

    def ec(self, curve: CurveSpec):
        if curve.name not in self._pairs:
            self._pairs[curve.name] = self.ep11.generate_key_pair(
                Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: curve.ec_params}, {}
            )
        return self._pairs[curve.name]


class ImportedKeys:
    """Private keys made by ``cryptography`` and imported into one backend, with public forms."""

    def __init__(self, ep11, import_private, import_public):
        self.ep11 = ep11
        self._import_private = import_private
        self._import_public = import_public
        self._keys = {}

    def _imported(self, name, private_key, key_type):
        if name not in self._keys:
            pkcs8 = private_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            spki = private_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            private_blob = self._import_private(self.ep11, pkcs8, key_type, {}).blob
            maced = self.ep11.get_attribute_value(
                private_blob, [CKA.IBM_MACED_PUBLIC_KEY_INFO]
            )[CKA.IBM_MACED_PUBLIC_KEY_INFO]
            public = {
                "maced-from-private": maced,
                "transport-imported": self._import_public(self.ep11, spki, {}).blob,
                "plain-spki": spki,
            }
            self._keys[name] = (private_key, private_blob, public)
        return self._keys[name]

    def rsa(self, reference):
        return self._imported("rsa", reference.rsa, CKK.RSA)

    def ec(self, reference, curve: CurveSpec):
        return self._imported(curve.name, reference.ec[curve.name], CKK.EC)


class ReferenceKeys:
    """Private keys generated by ``cryptography`` once per module."""

    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        self.ec = {curve.name: ec.generate_private_key(curve.curve()) for curve in CURVES}


@pytest.fixture(scope="module")
def generated(ep11):
    return GeneratedKeys(ep11)


@pytest.fixture(scope="module")
def reference():
    return ReferenceKeys()


@pytest.fixture(scope="module")
def imported(ep11, import_private, import_public):
    return ImportedKeys(ep11, import_private, import_public)


# --- the MACed SPKI


def test_rsa_public_blob_parses(generated):
    pair = generated.rsa()
    spki = spki_of(pair.public_blob)
    public_key = serialization.load_der_public_key(spki)
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == RSA_BITS
    assert public_key.public_numbers().e == 65537
    assert len(pair.public_blob) - len(spki) == MACED_SPKI_TRAILER_BYTES


@pytest.mark.parametrize("curve", CURVE_PARAMS)
def test_ec_public_blob_parses(generated, curve):
    pair = generated.ec(curve)
    spki = spki_of(pair.public_blob)
    public_key = serialization.load_der_public_key(spki)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == curve.curve.name
    assert len(pair.public_blob) - len(spki) == MACED_SPKI_TRAILER_BYTES


def test_rsa_modulus_matches_spki(ep11, generated):
    pair = generated.rsa()
    public_key = serialization.load_der_public_key(spki_of(pair.public_blob))
    modulus = ep11.get_attribute_value(pair.public_blob, [CKA.MODULUS])[CKA.MODULUS]
    assert int.from_bytes(modulus, "big") == public_key.public_numbers().n


# --- signatures made by the engine, verified by cryptography


def _generated_rsa_public(generated, exponent=65537):
    pair = generated.rsa(exponent)
    return pair, serialization.load_der_public_key(spki_of(pair.public_blob))


@pytest.mark.parametrize("spec", HASH_PARAMS)
def test_rsa_pkcs_sign(ep11, generated, spec):
    pair, public_key = _generated_rsa_public(generated)
    signature = ep11.sign_single(Mechanism(spec.rsa_pkcs), pair.private_blob, MESSAGE)
    assert len(signature) == RSA_BYTES
    public_key.verify(signature, MESSAGE, padding.PKCS1v15(), spec.algorithm())


@pytest.mark.parametrize("spec", HASH_PARAMS)
def test_rsa_pkcs_sign_multi_part(ep11, generated, spec):
    pair, public_key = _generated_rsa_public(generated)
    state = ep11.sign_init(Mechanism(spec.rsa_pkcs), pair.private_blob)
    state = ep11.sign_update(state, MESSAGE[:37])
    state = ep11.sign_update(state, MESSAGE[37:])
    signature = ep11.sign_final(state)
    public_key.verify(signature, MESSAGE, padding.PKCS1v15(), spec.algorithm())


@pytest.mark.parametrize("spec", HASH_PARAMS)
def test_rsa_raw_digest_info_sign(ep11, generated, spec):
    pair, public_key = _generated_rsa_public(generated)
    tbs = digest_info(spec, MESSAGE)
    signature = ep11.sign_single(Mechanism(CKM.RSA_PKCS), pair.private_blob, tbs)
    public_key.verify(signature, MESSAGE, padding.PKCS1v15(), spec.algorithm())


@pytest.mark.parametrize("length", [1, 100, RSA_BYTES - 11])
def test_rsa_raw_sign_recovers(ep11, generated, length):
    # CKM_RSA_PKCS signs any data up to k - 11 bytes; the verifier recovers it unchanged.
    pair, public_key = _generated_rsa_public(generated)
    data = os.urandom(length)
    signature = ep11.sign_single(Mechanism(CKM.RSA_PKCS), pair.private_blob, data)
    assert public_key.recover_data_from_signature(signature, padding.PKCS1v15(), None) == data


def test_rsa_raw_sign_too_long(ep11, generated):
    pair = generated.rsa()
    with pytest.raises(PKCS11Error) as raised:
        ep11.sign_single(Mechanism(CKM.RSA_PKCS), pair.private_blob, bytes(RSA_BYTES - 10))
    assert raised.value.code == CKR.DATA_LEN_RANGE


@pytest.mark.parametrize("spec, salt", PSS_CASES)
def test_rsa_pss_sign(ep11, generated, spec, salt):
    pair, public_key = _generated_rsa_public(generated)
    mechanism = Mechanism(spec.rsa_pss, PSSParams(spec.mechanism, spec.mgf, salt))
    signature = ep11.sign_single(mechanism, pair.private_blob, MESSAGE)
    pss = padding.PSS(mgf=padding.MGF1(spec.algorithm()), salt_length=salt)
    public_key.verify(signature, MESSAGE, pss, spec.algorithm())


@pytest.mark.parametrize("spec", HASH_PARAMS)
def test_rsa_pss_raw_sign(ep11, generated, spec):
    pair, public_key = _generated_rsa_public(generated)
    mechanism = Mechanism(CKM.RSA_PKCS_PSS, PSSParams(spec.mechanism, spec.mgf, spec.size))
    signature = ep11.sign_single(mechanism, pair.private_blob, spec.digest(MESSAGE))
    pss = padding.PSS(mgf=padding.MGF1(spec.algorithm()), salt_length=spec.size)
    public_key.verify(signature, MESSAGE, pss, spec.algorithm())


def test_rsa_pss_mgf1_other_hash(ep11, generated):
    pair, public_key = _generated_rsa_public(generated)
    sha256, sha1 = HASH_BY_NAME["SHA-256"], HASH_BY_NAME["SHA-1"]
    mechanism = Mechanism(sha256.rsa_pss, PSSParams(sha256.mechanism, sha1.mgf, 32))
    signature = ep11.sign_single(mechanism, pair.private_blob, MESSAGE)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=32)
    public_key.verify(signature, MESSAGE, pss, hashes.SHA256())


@pytest.mark.parametrize("curve, spec", CURVE_HASH_CASES)
def test_ecdsa_hash_sign(ep11, generated, curve, spec):
    pair = generated.ec(curve)
    public_key = serialization.load_der_public_key(spki_of(pair.public_blob))
    signature = ep11.sign_single(Mechanism(spec.ecdsa), pair.private_blob, MESSAGE)
    assert len(signature) == 2 * curve.order_bytes
    public_key.verify(raw_to_der(signature), MESSAGE, ec.ECDSA(spec.algorithm()))


@pytest.mark.parametrize("curve", CURVE_PARAMS)
def test_ecdsa_hash_sign_multi_part(ep11, generated, curve):
    spec = HASH_BY_NAME["SHA-256"]
    pair = generated.ec(curve)
    public_key = serialization.load_der_public_key(spki_of(pair.public_blob))
    state = ep11.sign_init(Mechanism(spec.ecdsa), pair.private_blob)
    for offset in range(0, len(MESSAGE), 50):
        state = ep11.sign_update(state, MESSAGE[offset : offset + 50])
    signature = ep11.sign_final(state)
    public_key.verify(raw_to_der(signature), MESSAGE, ec.ECDSA(spec.algorithm()))


@pytest.mark.parametrize("curve, spec", CURVE_HASH_CASES)
def test_ecdsa_raw_sign(ep11, generated, curve, spec):
    # A digest longer than the group order is truncated to its leftmost bits on both sides.
    pair = generated.ec(curve)
    public_key = serialization.load_der_public_key(spki_of(pair.public_blob))
    signature = ep11.sign_single(Mechanism(CKM.ECDSA), pair.private_blob, spec.digest(MESSAGE))
    assert len(signature) == 2 * curve.order_bytes
    prehashed = ec.ECDSA(utils.Prehashed(spec.algorithm()))
    public_key.verify(raw_to_der(signature), spec.digest(MESSAGE), prehashed)


# --- signatures made by cryptography, verified by the engine


@pytest.mark.parametrize("form", PUBLIC_FORMS)
@pytest.mark.parametrize("spec", HASH_PARAMS)
def test_rsa_pkcs_verify(ep11, reference, imported, spec, form):
    private_key, _, public = imported.rsa(reference)
    signature = private_key.sign(MESSAGE, padding.PKCS1v15(), spec.algorithm())
    ep11.verify_single(Mechanism(spec.rsa_pkcs), public[form], MESSAGE, signature)


@pytest.mark.parametrize("form", PUBLIC_FORMS)
@pytest.mark.parametrize("spec", HASH_PARAMS)
def test_rsa_raw_digest_info_verify(ep11, reference, imported, spec, form):
    private_key, _, public = imported.rsa(reference)
    signature = private_key.sign(MESSAGE, padding.PKCS1v15(), spec.algorithm())
    tbs = digest_info(spec, MESSAGE)
    ep11.verify_single(Mechanism(CKM.RSA_PKCS), public[form], tbs, signature)


@pytest.mark.parametrize("form", PUBLIC_FORMS)
@pytest.mark.parametrize("spec, salt", PSS_CASES)
def test_rsa_pss_verify(ep11, reference, imported, spec, salt, form):
    private_key, _, public = imported.rsa(reference)
    pss = padding.PSS(mgf=padding.MGF1(spec.algorithm()), salt_length=salt)
    signature = private_key.sign(MESSAGE, pss, spec.algorithm())
    mechanism = Mechanism(spec.rsa_pss, PSSParams(spec.mechanism, spec.mgf, salt))
    ep11.verify_single(mechanism, public[form], MESSAGE, signature)


@pytest.mark.parametrize("form", PUBLIC_FORMS)
def test_rsa_pss_verify_other_salt(ep11, reference, imported, form):
    spec = HASH_BY_NAME["SHA-256"]
    private_key, _, public = imported.rsa(reference)
    pss = padding.PSS(mgf=padding.MGF1(spec.algorithm()), salt_length=32)
    signature = private_key.sign(MESSAGE, pss, spec.algorithm())
    mechanism = Mechanism(spec.rsa_pss, PSSParams(spec.mechanism, spec.mgf, 20))
    with pytest.raises(PKCS11Error) as raised:
        ep11.verify_single(mechanism, public[form], MESSAGE, signature)
    assert raised.value.code == CKR.SIGNATURE_INVALID


@pytest.mark.parametrize("form", PUBLIC_FORMS)
def test_rsa_verify_modified(ep11, reference, imported, form):
    private_key, _, public = imported.rsa(reference)
    signature = private_key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(PKCS11Error) as raised:
        ep11.verify_single(
            Mechanism(CKM.SHA256_RSA_PKCS), public[form], MESSAGE, _flip_last_bit(signature)
        )
    assert raised.value.code == CKR.SIGNATURE_INVALID


@pytest.mark.parametrize("form", PUBLIC_FORMS)
@pytest.mark.parametrize("curve, spec", CURVE_HASH_CASES)
def test_ecdsa_hash_verify(ep11, reference, imported, curve, spec, form):
    private_key, _, public = imported.ec(reference, curve)
    signature = private_key.sign(MESSAGE, ec.ECDSA(spec.algorithm()))
    raw = der_to_raw(signature, curve)
    ep11.verify_single(Mechanism(spec.ecdsa), public[form], MESSAGE, raw)


@pytest.mark.parametrize("form", PUBLIC_FORMS)
@pytest.mark.parametrize("curve", CURVE_PARAMS)
def test_ecdsa_raw_verify(ep11, reference, imported, curve, form):
    spec = HASH_BY_NAME["SHA-256"]
    private_key, _, public = imported.ec(reference, curve)
    digest = spec.digest(MESSAGE)
    signature = private_key.sign(digest, ec.ECDSA(utils.Prehashed(spec.algorithm())))
    raw = der_to_raw(signature, curve)
    ep11.verify_single(Mechanism(CKM.ECDSA), public[form], digest, raw)


@pytest.mark.parametrize("form", PUBLIC_FORMS)
@pytest.mark.parametrize("curve", CURVE_PARAMS)
def test_ecdsa_verify_modified(ep11, reference, imported, curve, form):
    spec = HASH_BY_NAME["SHA-256"]
    private_key, _, public = imported.ec(reference, curve)
    raw = der_to_raw(private_key.sign(MESSAGE, ec.ECDSA(spec.algorithm())), curve)
    with pytest.raises(PKCS11Error) as raised:
        ep11.verify_single(Mechanism(spec.ecdsa), public[form], MESSAGE, _flip_last_bit(raw))
    assert raised.value.code == CKR.SIGNATURE_INVALID


@pytest.mark.parametrize("curve", CURVE_PARAMS)
def test_imported_ec_key_signs(ep11, reference, imported, curve):
    spec = HASH_BY_NAME["SHA-256"]
    private_key, private_blob, _ = imported.ec(reference, curve)
    signature = ep11.sign_single(Mechanism(spec.ecdsa), private_blob, MESSAGE)
    private_key.public_key().verify(raw_to_der(signature), MESSAGE, ec.ECDSA(spec.algorithm()))


# --- RSA encryption in both directions


@dataclass(frozen=True)
class EncryptionScheme:
    """An RSA encryption scheme as a PKCS #11 mechanism and as a ``cryptography`` padding."""

    name: str
    hash_name: str = ""
    label: bytes = b""

    def mechanism(self) -> Mechanism:
        if not self.hash_name:
            return Mechanism(CKM.RSA_PKCS)
        spec = HASH_BY_NAME[self.hash_name]
        source = CKZ.DATA_SPECIFIED if self.label else CKZ.NO_DATA_SPECIFIED
        return Mechanism(
            CKM.RSA_PKCS_OAEP, OAEPParams(spec.mechanism, spec.mgf, source, self.label)
        )

    @property
    def max_plaintext(self) -> int:
        """The maximum plaintext length under a 2048-bit key (RFC 8017 7.1 and 7.2)."""
        if not self.hash_name:
            return RSA_BYTES - 11
        return RSA_BYTES - 2 * HASH_BY_NAME[self.hash_name].size - 2

    def padding(self):
        if not self.hash_name:
            return padding.PKCS1v15()
        algorithm = HASH_BY_NAME[self.hash_name].algorithm
        return padding.OAEP(
            mgf=padding.MGF1(algorithm()), algorithm=algorithm(), label=self.label or None
        )


ENCRYPTION_SCHEMES = [
    pytest.param(scheme, id=scheme.name)
    for scheme in (
        EncryptionScheme("pkcs1-v1.5"),
        EncryptionScheme("oaep-sha1", "SHA-1"),
        EncryptionScheme("oaep-sha224", "SHA-224"),
        EncryptionScheme("oaep-sha256", "SHA-256"),
        EncryptionScheme("oaep-sha384", "SHA-384"),
        EncryptionScheme("oaep-sha512", "SHA-512"),
        EncryptionScheme("oaep-sha1-label", "SHA-1", b"a label"),
        EncryptionScheme("oaep-sha256-label", "SHA-256", bytes(range(256)) * 2),
    )
]
PLAINTEXT_LENGTHS = ["empty", "one", "32", "max"]


def _plaintext(scheme, length: str) -> bytes:
    sizes = {"empty": 0, "one": 1, "32": 32, "max": scheme.max_plaintext}
    return os.urandom(sizes[length])


@pytest.mark.parametrize("length", PLAINTEXT_LENGTHS)
@pytest.mark.parametrize("scheme", ENCRYPTION_SCHEMES)
def test_rsa_decrypts_reference(ep11, generated, scheme, length):
    pair, public_key = _generated_rsa_public(generated)
    data = _plaintext(scheme, length)
    ciphertext = public_key.encrypt(data, scheme.padding())
    assert ep11.decrypt_single(scheme.mechanism(), pair.private_blob, ciphertext) == data


@pytest.mark.parametrize("form", ["maced-from-private", "transport-imported"])
@pytest.mark.parametrize("length", PLAINTEXT_LENGTHS)
@pytest.mark.parametrize("scheme", ENCRYPTION_SCHEMES)
def test_rsa_encrypts_for_reference(ep11, reference, imported, scheme, length, form):
    private_key, _, public = imported.rsa(reference)
    data = _plaintext(scheme, length)
    ciphertext = ep11.encrypt_single(scheme.mechanism(), public[form], data)
    assert len(ciphertext) == RSA_BYTES
    assert private_key.decrypt(ciphertext, scheme.padding()) == data


@pytest.mark.parametrize("scheme", ENCRYPTION_SCHEMES)
def test_rsa_encrypt_too_long(ep11, generated, scheme):
    pair = generated.rsa()
    data = os.urandom(scheme.max_plaintext + 1)
    with pytest.raises(PKCS11Error) as raised:
        ep11.encrypt_single(scheme.mechanism(), pair.public_blob, data)
    assert raised.value.code == CKR.DATA_LEN_RANGE


def test_rsa_oaep_wrong_label(ep11, generated):
    pair, public_key = _generated_rsa_public(generated)
    sent = EncryptionScheme("sent", "SHA-256", b"label one")
    expected = EncryptionScheme("expected", "SHA-256", b"label two")
    ciphertext = public_key.encrypt(b"secret", sent.padding())
    with pytest.raises(PKCS11Error) as raised:
        ep11.decrypt_single(expected.mechanism(), pair.private_blob, ciphertext)
    assert raised.value.code == CKR.ENCRYPTED_DATA_INVALID


def test_plain_spki_cannot_encrypt(ep11, reference, imported):
    _, _, public = imported.rsa(reference)
    with pytest.raises(PKCS11Error) as raised:
        ep11.encrypt_single(Mechanism(CKM.RSA_PKCS), public["plain-spki"], b"data")
    assert raised.value.code == CKR.KEY_FUNCTION_NOT_PERMITTED


# --- RSA with public exponent 17


def test_rsa_e17_public_exponent(generated):
    _, public_key = _generated_rsa_public(generated, exponent=17)
    assert public_key.public_numbers().e == 17


@pytest.mark.parametrize("spec", HASH_PARAMS)
def test_rsa_e17_sign(ep11, generated, spec):
    pair, public_key = _generated_rsa_public(generated, exponent=17)
    signature = ep11.sign_single(Mechanism(spec.rsa_pkcs), pair.private_blob, MESSAGE)
    public_key.verify(signature, MESSAGE, padding.PKCS1v15(), spec.algorithm())


def test_rsa_e17_pss_sign(ep11, generated):
    spec = HASH_BY_NAME["SHA-256"]
    pair, public_key = _generated_rsa_public(generated, exponent=17)
    mechanism = Mechanism(spec.rsa_pss, PSSParams(spec.mechanism, spec.mgf, spec.size))
    signature = ep11.sign_single(mechanism, pair.private_blob, MESSAGE)
    pss = padding.PSS(mgf=padding.MGF1(spec.algorithm()), salt_length=spec.size)
    public_key.verify(signature, MESSAGE, pss, spec.algorithm())


@pytest.mark.parametrize("scheme", ENCRYPTION_SCHEMES)
def test_rsa_e17_decrypt(ep11, generated, scheme):
    pair, public_key = _generated_rsa_public(generated, exponent=17)
    data = os.urandom(32)
    ciphertext = public_key.encrypt(data, scheme.padding())
    assert ep11.decrypt_single(scheme.mechanism(), pair.private_blob, ciphertext) == data


def test_rsa_e17_encrypt_round_trip(ep11, generated):
    # cryptography 50 generates RSA keys only with e=3 or e=65537, so the engine decrypts its
    # own ciphertext here.
    pair, _ = _generated_rsa_public(generated, exponent=17)
    scheme = EncryptionScheme("oaep-sha256", "SHA-256")
    ciphertext = ep11.encrypt_single(scheme.mechanism(), pair.public_blob, b"round trip")
    assert ep11.decrypt_single(scheme.mechanism(), pair.private_blob, ciphertext) == b"round trip"
