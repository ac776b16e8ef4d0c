"""Shared fixtures and helpers of the test suite.

The server fixtures come from ``grpc_server.pytest_plugin``. An installed grep11-emulator
registers it through its pytest11 entry point; in a source checkout on PYTHONPATH it is
registered here.

``ep11`` runs a test on three backends with the interface of ``ep11core.Engine``: ``engine`` (an
in-process engine), ``grpc`` (``RemoteEngine`` to the session server, keys in ``KeyBlob``
fields) and ``grpc_legacy`` (the same server, keys in the legacy ``bytes`` fields).
``import_secret``, ``import_private`` and ``import_public`` bring known key material into a
backend through its public API only, so known-answer tests run on every backend.
"""

import contextlib
import os

import grpc
import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asymmetric_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from grpc_status import rpc_status

from ep11core import Engine, masterkey
from ep11core.constants import CKA, CKG, CKK, CKM, CKO, CKZ, ckr_name
from ep11core.errors import PKCS11Error
from ep11core.types import KeyResult, Mechanism, OAEPParams
from grpc_server.client import RemoteEngine
from grpc_server.generated import grep11_pb2

GREP11_ERROR_TYPE_URL = "type.googleapis.com/grep11.Grep11Error"


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("grep11_emulator"):
        config.pluginmanager.import_plugin("grpc_server.pytest_plugin")


def grep11_error(error: grpc.RpcError, status_code=grpc.StatusCode.UNKNOWN):
    """Return the ``google.rpc.Status`` and the unpacked ``Grep11Error`` of a failed call.

    Asserts the GREP11 error form: gRPC status ``status_code`` (UNKNOWN for engine errors), the
    same message in the status trailer, and exactly one detail, a ``grep11.Grep11Error``.
    """
    assert error.code() == status_code, f"status {error.code()}: {error.details()}"
    status = rpc_status.from_call(error)
    assert status is not None, "the grpc-status-details-bin trailer is missing"
    assert status.code == status_code.value[0]
    assert status.message == error.details()
    assert len(status.details) == 1
    assert status.details[0].type_url == GREP11_ERROR_TYPE_URL
    detail = grep11_pb2.Grep11Error()
    assert status.details[0].Unpack(detail)
    return status, detail


def expect_grep11_error(call, request, code: int) -> grep11_pb2.Grep11Error:
    """Run ``call(request)``, expect the GREP11 error form with ``code`` and return the detail."""
    with pytest.raises(grpc.RpcError) as raised:
        call(request)
    status, detail = grep11_error(raised.value)
    assert detail.Code == code, f"Grep11Error.Code {detail.Code:#x}, expected {code:#x}"
    assert status.message == ckr_name(code)
    assert detail.Retry is False
    return detail


# --- backends with the Engine interface

BACKENDS = ("engine", "grpc", "grpc_legacy")


@pytest.fixture(scope="session")
def local_engine(tmp_path_factory) -> Engine:
    """An in-process engine on a master key of its own, made in a temporary state folder."""
    state_dir = tmp_path_factory.mktemp("engine-state")
    return Engine(masterkey.load_or_create(str(state_dir)))


@pytest.fixture(scope="session")
def foreign_engine(tmp_path_factory) -> Engine:
    """An engine on yet another master key, which makes blobs that no backend can open."""
    state_dir = tmp_path_factory.mktemp("foreign-state")
    return Engine(masterkey.load_or_create(str(state_dir)))


@pytest.fixture(scope="session")
def grep11_channel(grep11_emulator):
    """A plaintext channel to the session server."""
    with grpc.insecure_channel(grep11_emulator.address) as channel:
        yield channel


@pytest.fixture(scope="session", params=BACKENDS)
def ep11(request):
    """An object with the ``Engine`` interface: in-process, over gRPC, or over legacy gRPC."""
    if request.param == "engine":
        return request.getfixturevalue("local_engine")
    channel = request.getfixturevalue("grep11_channel")
    return RemoteEngine(channel, legacy_key_fields=request.param == "grpc_legacy")


@contextlib.contextmanager
def raises_ckr(*codes: int):
    """Expect the block to raise ``PKCS11Error`` with one of ``codes``."""
    with pytest.raises(PKCS11Error) as raised:
        yield raised
    expected = " or ".join(ckr_name(code) for code in codes)
    assert raised.value.code in codes, f"got {raised.value}, expected {expected}"


def der_element(data: bytes) -> bytes:
    """Return the first DER element of ``data``, such as the SPKI at the start of a MACed SPKI."""
    if len(data) < 2:
        raise ValueError("data too short for a DER element")
    first_length_byte = data[1]
    if first_length_byte < 0x80:
        header_size, length = 2, first_length_byte
    else:
        header_size = 2 + (first_length_byte & 0x7F)
        length = int.from_bytes(data[2:header_size], "big")
    end = header_size + length
    if end > len(data):
        raise ValueError(f"DER element of {end} bytes overruns {len(data)} bytes of data")
    return data[:end]


def load_public_blob(blob: bytes):
    """Parse the SPKI at the start of a public key blob with ``cryptography``."""
    return serialization.load_der_public_key(der_element(blob))


# --- importing known key material through the public API

TRANSPORT_RSA_BITS = 2048
# OAEP with SHA-1 under a 2048-bit key carries at most 256 - 2 * 20 - 2 bytes.
OAEP_SHA1_MAX_BYTES = TRANSPORT_RSA_BITS // 8 - 2 * 20 - 2
SECRET_USAGE = {
    CKA.ENCRYPT: True,
    CKA.DECRYPT: True,
    CKA.SIGN: True,
    CKA.VERIFY: True,
    CKA.WRAP: True,
    CKA.UNWRAP: True,
}
PUBLIC_USAGE = {CKA.ENCRYPT: True, CKA.VERIFY: True, CKA.WRAP: True}
# EP11 rejects CKA_ENCRYPT and CKA_WRAP on EC keys, so other public keys only verify.
NON_RSA_PUBLIC_USAGE = {CKA.VERIFY: True}
OAEP_SHA1 = Mechanism(
    CKM.RSA_PKCS_OAEP, OAEPParams(CKM.SHA_1, CKG.MGF1_SHA1, CKZ.NO_DATA_SPECIFIED)
)


def aes_cbc_pad_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Encrypt ``data`` with AES-CBC and PKCS #7 padding outside the HSM."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


class KeyImporter:
    """Imports known keys into a backend with UnwrapKey, as an application would.

    Per backend it makes one RSA-2048 transport key pair in the HSM and imports one AES-256
    key-encryption key under it. Later imports reuse both.
    """

    def __init__(self):
        self._transport = {}
        self._kek = {}

    def _transport_pair(self, ep11):
        if ep11 not in self._transport:
            pair = ep11.generate_key_pair(
                Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN),
                {
                    CKA.MODULUS_BITS: TRANSPORT_RSA_BITS,
                    CKA.PUBLIC_EXPONENT: 65537,
                    CKA.ENCRYPT: True,
                    CKA.WRAP: True,
                },
                {CKA.DECRYPT: True, CKA.UNWRAP: True},
            )
            self._transport[ep11] = (pair, load_public_blob(pair.public_blob))
        return self._transport[ep11]

    def _key_encryption_key(self, ep11):
        """Return the AES-256 KEK of ``ep11`` as (value, KeyResult)."""
        if ep11 not in self._kek:
            value = os.urandom(32)
            result = self._unwrap_secret_with_rsa(ep11, CKK.AES, value, {})
            self._kek[ep11] = (value, result)
        return self._kek[ep11]

    def _unwrap_secret_with_rsa(self, ep11, key_type, value, template) -> KeyResult:
        pair, public_key = self._transport_pair(ep11)
        oaep = asymmetric_padding.OAEP(
            mgf=asymmetric_padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None
        )
        wrapped = public_key.encrypt(value, oaep)
        full_template = {
            CKA.CLASS: CKO.SECRET_KEY,
            CKA.KEY_TYPE: key_type,
            CKA.VALUE_LEN: len(value),
            **SECRET_USAGE,
            **template,
        }
        return ep11.unwrap_key(OAEP_SHA1, wrapped, pair.private_blob, full_template)

    def _unwrap_with_kek(self, ep11, data, template) -> KeyResult:
        kek_value, kek = self._key_encryption_key(ep11)
        iv = os.urandom(16)
        wrapped = aes_cbc_pad_encrypt(kek_value, iv, data)
        return ep11.unwrap_key(Mechanism(CKM.AES_CBC_PAD, iv), wrapped, kek.blob, template)

    def secret(self, ep11, key_type, value: bytes, extra_attributes=None) -> KeyResult:
        """Import a secret key of ``key_type`` with the given value.

        The key gets every usage flag, then ``extra_attributes`` (CKA_EXTRACTABLE stays at the
        backend's default unless given there). Values longer than RSA-OAEP can carry travel
        under the AES KEK with CKM_AES_CBC_PAD instead.
        """
        extra = dict(extra_attributes or {})
        if len(value) <= OAEP_SHA1_MAX_BYTES:
            return self._unwrap_secret_with_rsa(ep11, key_type, bytes(value), extra)
        template = {
            CKA.CLASS: CKO.SECRET_KEY,
            CKA.KEY_TYPE: key_type,
            CKA.VALUE_LEN: len(value),
            **SECRET_USAGE,
            **extra,
        }
        return self._unwrap_with_kek(ep11, bytes(value), template)

    def private(self, ep11, pkcs8_der: bytes, key_type, extra_attributes=None) -> KeyResult:
        """Import a DER PKCS #8 private key, wrapped with CKM_AES_CBC_PAD under the KEK."""
        template = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: key_type}
        template.update(extra_attributes or {})
        return self._unwrap_with_kek(ep11, bytes(pkcs8_der), template)

    def public(self, ep11, spki_der: bytes, extra_attributes=None) -> KeyResult:
        """Import a DER SubjectPublicKeyInfo as a MACed SPKI with CKM_IBM_TRANSPORTKEY."""
        _, kek = self._key_encryption_key(ep11)
        try:
            is_rsa = isinstance(
                serialization.load_der_public_key(bytes(spki_der)), rsa.RSAPublicKey
            )
        except (ValueError, UnsupportedAlgorithm):
            is_rsa = False
        usage = PUBLIC_USAGE if is_rsa else NON_RSA_PUBLIC_USAGE
        template = {**usage, **(extra_attributes or {})}
        return ep11.unwrap_key(Mechanism(CKM.IBM_TRANSPORTKEY), bytes(spki_der), kek.blob, template)


@pytest.fixture(scope="session")
def key_importer() -> KeyImporter:
    return KeyImporter()


@pytest.fixture(scope="session")
def import_secret(key_importer):
    """``import_secret(ep11, key_type, value, extra_attributes=None) -> KeyResult``."""
    return key_importer.secret


@pytest.fixture(scope="session")
def import_private(key_importer):
    """``import_private(ep11, pkcs8_der, key_type, extra_attributes=None) -> KeyResult``."""
    return key_importer.private


@pytest.fixture(scope="session")
def import_public(key_importer):
    """``import_public(ep11, spki_der, extra_attributes=None) -> KeyResult``."""
    return key_importer.public


def subprocess_environment() -> dict:
    """Return this run's environment with PYTHONPATH entries made absolute.

    Subprocesses of the tests start outside the repository, so that a clean install imports the
    installed package and not the unbuilt source folders; a relative PYTHONPATH entry such as
    ``.`` must still name the same folder there.
    """
    environment = dict(os.environ)
    entries = [entry for entry in environment.get("PYTHONPATH", "").split(os.pathsep) if entry]
    if entries:
        environment["PYTHONPATH"] = os.pathsep.join(os.path.abspath(entry) for entry in entries)
    return environment
