"""``RemoteEngine``: the request forms it sends and the errors it raises.

The flows in ``test_client_flows.py`` show that results survive the round trip. The server
accepts keys in both field generations, so those flows cannot tell which fields the client
filled. The tests here record the requests on the channel and check them.
"""

import socket

import grpc
import pytest
from conftest import raises_ckr

from ep11core.constants import CKA, CKD, CKG, CKK, CKM, CKO, CKR, CKZ
from ep11core.errors import PKCS11Error
from ep11core.types import ECDH1DeriveParams, Mechanism, OAEPParams, PSSParams
from grpc_server.client import (
    RemoteEngine,
    attributes_from_message,
    mechanism_message,
    proto_enum_value,
)
from grpc_server.generated import grep11_pb2 as pb

TEXT = b"client request form test"
UNKNOWN_MECHANISM = 0x8FFF0001


class RequestRecorder(grpc.UnaryUnaryClientInterceptor):
    """Records the method name and request of every unary call on a channel."""

    def __init__(self):
        self.calls = []

    def intercept_unary_unary(self, continuation, client_call_details, request):
        self.calls.append((client_call_details.method.rsplit("/", 1)[-1], request))
        return continuation(client_call_details, request)

    def last(self, method: str):
        requests = [request for name, request in self.calls if name == method]
        assert requests, f"no {method} call was recorded"
        return requests[-1]


@pytest.fixture(params=[False, True], ids=["keyblob", "legacy"])
def recorded(request, grep11_channel):
    """A RemoteEngine on the session server whose requests are recorded."""
    recorder = RequestRecorder()
    channel = grpc.intercept_channel(grep11_channel, recorder)
    return RemoteEngine(channel, legacy_key_fields=request.param), recorder


def check_key_field(request, blob_field: str, legacy_field: str, key: bytes, legacy: bool):
    if legacy:
        assert getattr(request, legacy_field) == key
        assert not request.HasField(blob_field)
    else:
        assert list(getattr(request, blob_field).KeyBlobs) == [key]
        assert getattr(request, legacy_field) == b""


def test_encrypt_key_fields(recorded):
    client, recorder = recorded
    key = client.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16}).blob
    mechanism = Mechanism(CKM.AES_CBC_PAD, bytes(16))
    legacy = client.legacy_key_fields

    ciphertext = client.encrypt_single(mechanism, key, TEXT)
    check_key_field(recorder.last("EncryptSingle"), "Key", "LegacyKey", key, legacy)
    client.decrypt_single(mechanism, key, ciphertext)
    check_key_field(recorder.last("DecryptSingle"), "Key", "LegacyKey", key, legacy)
    client.encrypt_init(mechanism, key)
    check_key_field(recorder.last("EncryptInit"), "Key", "LegacyKey", key, legacy)
    client.decrypt_init(mechanism, key)
    check_key_field(recorder.last("DecryptInit"), "Key", "LegacyKey", key, legacy)


def test_sign_key_fields(recorded):
    client, recorder = recorded
    pair = client.generate_key_pair(
        Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107")}, {}
    )
    mechanism = Mechanism(CKM.ECDSA_SHA256)
    legacy = client.legacy_key_fields

    signature = client.sign_single(mechanism, pair.private_blob, TEXT)
    request = recorder.last("SignSingle")
    check_key_field(request, "PrivKey", "LegacyPrivKey", pair.private_blob, legacy)
    client.verify_single(mechanism, pair.public_blob, TEXT, signature)
    request = recorder.last("VerifySingle")
    check_key_field(request, "PubKey", "LegacyPubKey", pair.public_blob, legacy)
    client.sign_init(mechanism, pair.private_blob)
    request = recorder.last("SignInit")
    check_key_field(request, "PrivKey", "LegacyPrivKey", pair.private_blob, legacy)
    client.verify_init(mechanism, pair.public_blob)
    request = recorder.last("VerifyInit")
    check_key_field(request, "PubKey", "LegacyPubKey", pair.public_blob, legacy)


def test_wrap_key_fields(recorded):
    client, recorder = recorded
    key = client.generate_key(
        Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16, CKA.EXTRACTABLE: True}
    ).blob
    kek = client.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32}).blob
    mechanism = Mechanism(CKM.AES_CBC_PAD, bytes(16))
    legacy = client.legacy_key_fields

    wrapped = client.wrap_key(mechanism, key, kek)
    request = recorder.last("WrapKey")
    check_key_field(request, "Key", "LegacyKey", key, legacy)
    check_key_field(request, "KeK", "LegacyKeK", kek, legacy)
    assert not request.HasField("MacKey")
    assert request.LegacyMacKey == b""

    template = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 16}
    client.unwrap_key(mechanism, wrapped, kek, template)
    check_key_field(recorder.last("UnwrapKey"), "KeK", "LegacyKeK", kek, legacy)


def test_digest_key_field(recorded):
    client, recorder = recorded
    key = client.generate_key(
        Mechanism(CKM.GENERIC_SECRET_KEY_GEN), {CKA.VALUE_LEN: 16, CKA.IBM_USE_AS_DATA: True}
    ).blob
    state = client.digest_init(Mechanism(CKM.SHA256))
    assert len(client.digest_final(client.digest_key(state, key))) == 32
    request = recorder.last("DigestKey")
    check_key_field(request, "Key", "LegacyKey", key, client.legacy_key_fields)


def test_derive_key_field(recorded):
    # No derivation mechanism is in the table, so an unknown one still shows the request form.
    client, recorder = recorded
    key = client.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16}).blob
    with raises_ckr(CKR.MECHANISM_INVALID):
        client.derive_key(Mechanism(UNKNOWN_MECHANISM), key, b"data", {CKA.VALUE_LEN: 16})
    request = recorder.last("DeriveKey")
    check_key_field(request, "BaseKey", "LegacyBaseKey", key, client.legacy_key_fields)
    assert request.Data == b"data"
    assert request.Template[CKA.VALUE_LEN].AttributeI == 16


def test_rewrap_key_field(recorded):
    client, recorder = recorded
    key = client.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16}).blob
    with raises_ckr(CKR.IBM_WK_NOT_INITIALIZED):
        client.rewrap_key_blob(key)
    request = recorder.last("RewrapKeyBlob")
    if client.legacy_key_fields:
        assert request.WrappedKeyBytes == key
        assert not request.HasField("WrappedKey")
    else:
        assert list(request.WrappedKey.KeyBlobs) == [key]
        assert request.WrappedKeyBytes == b""


def test_reencrypt_always_keyblob(recorded):
    # ReencryptSingle has no legacy key fields, so keys travel as KeyBlob in both modes.
    client, recorder = recorded
    first = client.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16}).blob
    second = client.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16}).blob
    mechanism = Mechanism(CKM.AES_CBC_PAD, bytes(16))
    ciphertext = client.encrypt_single(mechanism, first, TEXT)
    reciphered = client.reencrypt_single(mechanism, mechanism, first, second, ciphertext)
    request = recorder.last("ReencryptSingle")
    assert list(request.DecKey.KeyBlobs) == [first]
    assert list(request.EncKey.KeyBlobs) == [second]
    assert client.decrypt_single(mechanism, second, reciphered) == TEXT


def test_template_variants(recorded):
    client, recorder = recorded
    template = {CKA.VALUE_LEN: 16, CKA.EXTRACTABLE: True, CKA.LABEL: b"label"}
    client.generate_key(Mechanism(CKM.AES_KEY_GEN), template)
    sent = recorder.last("GenerateKey").Template
    assert sent[CKA.VALUE_LEN].WhichOneof("one_attr") == "AttributeI"
    assert sent[CKA.VALUE_LEN].AttributeI == 16
    assert sent[CKA.EXTRACTABLE].WhichOneof("one_attr") == "AttributeTF"
    assert sent[CKA.EXTRACTABLE].AttributeTF is True
    assert sent[CKA.LABEL].WhichOneof("one_attr") == "AttributeB"
    assert sent[CKA.LABEL].AttributeB == b"label"


def test_generated_key_attributes(recorded):
    client, _ = recorded
    template = {CKA.VALUE_LEN: 24, CKA.EXTRACTABLE: True, CKA.LABEL: b"label"}
    key = client.generate_key(Mechanism(CKM.AES_KEY_GEN), template)
    assert key.attributes[CKA.VALUE_LEN] == 24
    assert key.attributes[CKA.EXTRACTABLE] is True
    assert key.attributes[CKA.LABEL] == b"label"
    assert key.attributes[CKA.KEY_TYPE] == CKK.AES
    assert len(key.checksum) == 7


# --- mechanism and attribute conversion


def test_mechanism_without_parameter():
    message = mechanism_message(Mechanism(CKM.SHA256))
    assert message.Mechanism == CKM.SHA256
    assert message.WhichOneof("Parameter") is None


def test_mechanism_bytes_parameter():
    message = mechanism_message(Mechanism(CKM.AES_CBC_PAD, bytes(range(16))))
    assert message.WhichOneof("Parameter") == "ParameterB"
    assert message.ParameterB == bytes(range(16))


def test_mechanism_oaep_parameter():
    parameter = OAEPParams(CKM.SHA256, CKG.MGF1_SHA256, CKZ.DATA_SPECIFIED, b"label")
    message = mechanism_message(Mechanism(CKM.RSA_PKCS_OAEP, parameter)).RSAOAEPParameter
    assert message.HashMech == CKM.SHA256
    assert message.Mgf == pb.RSAOAEPParm.CkgMgf1Sha256
    assert message.EncodingParmType == pb.RSAOAEPParm.CkzDataSpecifiied
    assert message.EncodingParm == b"label"


def test_mechanism_pss_vendor_mgf():
    parameter = PSSParams(CKM.SHA256, CKG.IBM_MGF1_SHA3_384, 32)
    message = mechanism_message(Mechanism(CKM.RSA_PKCS_PSS, parameter)).RSAPSSParameter
    assert message.Mgf == pb.RSAPSSParm.CkgIbmMgf1Sha3_384
    assert message.SaltByteCount == 32


def test_mechanism_ecdh_parameter():
    parameter = ECDH1DeriveParams(CKD.IBM_HYBRID_NULL, b"shared", b"\x04point")
    message = mechanism_message(Mechanism(CKM.ECDH1_DERIVE, parameter)).ECDH1DeriveParameter
    assert message.Kdf == pb.ECDH1DeriveParm.CkdIbmHybridNull
    assert message.SharedData == b"shared"
    assert message.PublicData == b"\x04point"


def test_mechanism_unknown_parameter_type():
    with pytest.raises(TypeError):
        mechanism_message(Mechanism(CKM.AES_CBC_PAD, "not bytes"))


@pytest.mark.parametrize(
    "value, expected",
    [(0x1, 0x1), (0x5, 0x5), (0x7FFFFF, 0x7FFFFF), (0x80000001, 0x800001), (0x80000004, 0x800004)],
)
def test_proto_enum_value(value, expected):
    assert proto_enum_value(value) == expected


@pytest.mark.parametrize("value", [0x800000, 0x7FFFFFFF, -1, 0xFF800000])
def test_proto_enum_value_invalid(value):
    with pytest.raises(ValueError):
        proto_enum_value(value)


def test_attributes_from_message():
    entries = {
        CKA.SIGN: pb.AttributeValue(AttributeTF=False),
        CKA.VALUE_LEN: pb.AttributeValue(AttributeI=32),
        CKA.KEY_GEN_MECHANISM: pb.AttributeValue(AttributeI=-1),
        CKA.ID: pb.AttributeValue(AttributeB=b"id"),
    }
    attributes = attributes_from_message(entries)
    assert attributes[CKA.SIGN] is False
    assert attributes[CKA.VALUE_LEN] == 32
    # AttributeI is int64, so the CK_ULONG 2**64 - 1 arrives as -1.
    assert attributes[CKA.KEY_GEN_MECHANISM] == 2**64 - 1
    assert attributes[CKA.ID] == b"id"


def test_attributes_from_message_unset():
    with pytest.raises(ValueError):
        attributes_from_message({CKA.SIGN: pb.AttributeValue()})


# --- errors


def test_vendor_mgf_reaches_engine(ep11):
    # The IBM MGF1 values must arrive at the engine as their C values: SHA3-256 works, and an
    # undefined vendor value is named in the engine's error.
    pair = ep11.generate_key_pair(
        Mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), {CKA.MODULUS_BITS: 1024}, {}
    )
    mechanism = Mechanism(
        CKM.RSA_PKCS_OAEP,
        OAEPParams(CKM.SHA_1, CKG.IBM_MGF1_SHA3_256, CKZ.NO_DATA_SPECIFIED),
    )
    ciphertext = ep11.encrypt_single(mechanism, pair.public_blob, TEXT)
    assert ep11.decrypt_single(mechanism, pair.private_blob, ciphertext) == TEXT
    undefined = Mechanism(
        CKM.RSA_PKCS_OAEP, OAEPParams(CKM.SHA_1, 0x80000005, CKZ.NO_DATA_SPECIFIED)
    )
    with raises_ckr(CKR.MECHANISM_PARAM_INVALID) as raised:
        ep11.encrypt_single(undefined, pair.public_blob, TEXT)
    assert "0x80000005" in raised.value.detail


def test_error_chains_rpc_error(grep11_channel):
    client = RemoteEngine(grep11_channel)
    with raises_ckr(CKR.ARGUMENTS_BAD) as raised:
        client.generate_random(0)
    cause = raised.value.__cause__
    assert isinstance(cause, grpc.RpcError)
    assert cause.code() == grpc.StatusCode.UNKNOWN
    assert cause.details() == "CKR_ARGUMENTS_BAD"
    assert raised.value.detail


def test_unreachable_server_raises_rpc_error():
    # A loopback port that was bound and released again has no listener.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        client = RemoteEngine(channel, timeout=5)
        with pytest.raises(grpc.RpcError) as raised:
            client.generate_random(16)
    assert not isinstance(raised.value, PKCS11Error)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
