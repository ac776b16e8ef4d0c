"""GREP11 wire behaviour, through a real server on loopback ports.

The ``grep11_emulator``, ``grep11_stub`` and ``grep11_tls_stub`` fixtures come from
``grpc_server.pytest_plugin``.
"""

import datetime
import hashlib
import threading

import grpc
import pytest
from conftest import GREP11_ERROR_TYPE_URL, expect_grep11_error, grep11_error
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ep11core.constants import CKA, CKF, CKK, CKM, CKO, CKR
from ep11core.errors import PKCS11Error
from ep11core.types import Mechanism
from grpc_server.client import RemoteEngine
from grpc_server.generated import grep11_pb2 as pb
from grpc_server.generated import grep11_pb2_grpc

UNKNOWN_MECHANISM = 0x7FFFFFF0
PLAINTEXT = b"GREP11 wire test plaintext, 47 bytes long......"


def attribute(value) -> pb.AttributeValue:
    """Wrap a Python value in the AttributeValue variant a Go client would pick."""
    if isinstance(value, bool):
        return pb.AttributeValue(AttributeTF=value)
    if isinstance(value, int):
        return pb.AttributeValue(AttributeI=value)
    return pb.AttributeValue(AttributeB=value)


def template(**attributes) -> dict:
    return {int(CKA[name]): attribute(value) for name, value in attributes.items()}


def generate_aes_key(stub, **extra) -> pb.GenerateKeyResponse:
    request = pb.GenerateKeyRequest(
        Mech=pb.Mechanism(Mechanism=CKM.AES_KEY_GEN),
        Template=template(VALUE_LEN=32, ENCRYPT=True, DECRYPT=True, **extra),
    )
    return stub.GenerateKey(request)


def cbc_pad(iv: bytes) -> pb.Mechanism:
    return pb.Mechanism(Mechanism=CKM.AES_CBC_PAD, ParameterB=iv)


@pytest.fixture(scope="module")
def aes_key(grep11_stub) -> pb.GenerateKeyResponse:
    return generate_aes_key(grep11_stub)


@pytest.fixture(scope="module")
def rsa_key_pair(grep11_stub) -> pb.GenerateKeyPairResponse:
    request = pb.GenerateKeyPairRequest(
        Mech=pb.Mechanism(Mechanism=CKM.RSA_PKCS_KEY_PAIR_GEN),
        PubKeyTemplate=template(
            MODULUS_BITS=2048, PUBLIC_EXPONENT=65537, ENCRYPT=True, VERIFY=True
        ),
        PrivKeyTemplate=template(PRIVATE=True, SENSITIVE=True, DECRYPT=True, SIGN=True),
    )
    return grep11_stub.GenerateKeyPair(request)


# --- the error form


def test_unknown_mechanism_error_form(grep11_stub):
    request = pb.DigestSingleRequest(Mech=pb.Mechanism(Mechanism=UNKNOWN_MECHANISM), Data=b"x")
    with pytest.raises(grpc.RpcError) as raised:
        grep11_stub.DigestSingle(request)
    error = raised.value

    assert error.code() == grpc.StatusCode.UNKNOWN
    assert error.details() == "CKR_MECHANISM_INVALID"
    trailer_keys = [key for key, _ in error.trailing_metadata()]
    assert "grpc-status-details-bin" in trailer_keys
    status, detail = grep11_error(error)
    assert status.message == "CKR_MECHANISM_INVALID"
    assert status.details[0].type_url == GREP11_ERROR_TYPE_URL
    assert detail.Code == CKR.MECHANISM_INVALID == 0x70
    assert detail.Retry is False
    assert detail.Detail


def test_unknown_key_pair_mechanism(grep11_stub):
    request = pb.GenerateKeyPairRequest(Mech=pb.Mechanism(Mechanism=UNKNOWN_MECHANISM))
    expect_grep11_error(grep11_stub.GenerateKeyPair, request, CKR.MECHANISM_INVALID)


def test_empty_key_error_form(grep11_stub):
    request = pb.EncryptSingleRequest(Mech=cbc_pad(bytes(16)), Plain=PLAINTEXT)
    detail = expect_grep11_error(grep11_stub.EncryptSingle, request, CKR.KEY_HANDLE_INVALID)
    assert detail.Detail


def test_keyblob_without_elements_is_empty_key(grep11_stub):
    request = pb.EncryptSingleRequest(Mech=cbc_pad(bytes(16)), Key=pb.KeyBlob(), Plain=PLAINTEXT)
    expect_grep11_error(grep11_stub.EncryptSingle, request, CKR.KEY_HANDLE_INVALID)


CRYPTO_SERVICE = pb.DESCRIPTOR.services_by_name["Crypto"]
CRYPTO_METHODS = list(CRYPTO_SERVICE.methods)
# (RPC, field) for every Mechanism message field of a request.
MECHANISM_FIELDS = [
    (method, field.name)
    for method in CRYPTO_METHODS
    for field in method.input_type.fields
    if field.message_type is not None and field.message_type.name == "Mechanism"
]


def test_mechanism_fields_found():
    names = {(method.name, field) for method, field in MECHANISM_FIELDS}
    assert len(names) == 17
    assert ("DigestSingle", "Mech") in names
    assert ("ReencryptSingle", "DecMech") in names
    assert ("ReencryptSingle", "EncMech") in names


@pytest.mark.parametrize(
    "method, field", MECHANISM_FIELDS, ids=lambda value: getattr(value, "name", value)
)
def test_absent_mechanism_rejected(grep11_stub, method, field):
    request_class = getattr(pb, method.input_type.name)
    request = request_class()
    # The other Mechanism field of ReencryptSingle is valid, so only ``field`` is missing.
    for other_method, other_field in MECHANISM_FIELDS:
        if other_method is method and other_field != field:
            getattr(request, other_field).CopyFrom(cbc_pad(bytes(16)))
    call = getattr(grep11_stub, method.name)
    detail = expect_grep11_error(call, request, CKR.MECHANISM_INVALID)
    assert detail.Detail == f"the request has no {field}"


def test_digest_without_mech(grep11_stub):
    request = pb.DigestSingleRequest(Data=b"data")
    detail = expect_grep11_error(grep11_stub.DigestSingle, request, CKR.MECHANISM_INVALID)
    assert detail.Detail == "the request has no Mech"


def test_mech_zero_is_rsa_key_pair_gen(grep11_stub, rsa_key_pair):
    # Mechanism 0 serializes as an empty message, which is present and means
    # CKM_RSA_PKCS_KEY_PAIR_GEN: the rsa_key_pair fixture generates its pair that way.
    assert rsa_key_pair.PubKeyBytes
    request = pb.DigestSingleRequest(Mech=pb.Mechanism(Mechanism=0), Data=b"data")
    assert request.HasField("Mech")
    assert pb.Mechanism(Mechanism=0).SerializeToString() == b""
    detail = expect_grep11_error(grep11_stub.DigestSingle, request, CKR.MECHANISM_INVALID)
    assert "CKM_RSA_PKCS_KEY_PAIR_GEN (0x0) cannot be used to digest" in detail.Detail


def test_service_has_40_rpcs():
    assert len(CRYPTO_METHODS) == 40


@pytest.mark.parametrize("method", CRYPTO_METHODS, ids=lambda method: method.name)
def test_empty_request_gets_grep11_answer(grep11_emulator, method):
    """An empty request returns OK or the GREP11 error form, never a bare gRPC error."""
    request_class = getattr(pb, method.input_type.name)
    response_class = getattr(pb, method.output_type.name)
    with grpc.insecure_channel(grep11_emulator.address) as channel:
        call = channel.unary_unary(
            f"/grep11.Crypto/{method.name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        try:
            call(request_class(), timeout=30)
        except grpc.RpcError as error:
            status, detail = grep11_error(error)
            assert detail.Code != CKR.GENERAL_ERROR, detail.Detail


def test_unexpected_exception_becomes_general_error(grep11_emulator, grep11_stub, monkeypatch):
    def fail(length):
        raise RuntimeError("simulated engine bug with secret text")

    monkeypatch.setattr(grep11_emulator.engine, "generate_random", fail)
    request = pb.GenerateRandomRequest(Len=16)
    detail = expect_grep11_error(grep11_stub.GenerateRandom, request, CKR.GENERAL_ERROR)
    assert "secret" not in detail.Detail


def test_attribute_value_without_variant(grep11_stub):
    request = pb.GenerateKeyRequest(
        Mech=pb.Mechanism(Mechanism=CKM.AES_KEY_GEN),
        Template={CKA.VALUE_LEN: pb.AttributeValue()},
    )
    expect_grep11_error(grep11_stub.GenerateKey, request, CKR.ATTRIBUTE_VALUE_INVALID)


def test_parameter_of_other_mechanism_rejected(grep11_stub, aes_key):
    mechanism = pb.Mechanism(
        Mechanism=CKM.SHA256_HMAC,
        ECSGParameter=pb.ECSGParm(Type=pb.ECSGParm.CkEcsgIbmEcsdsaS256),
    )
    request = pb.SignSingleRequest(Mech=mechanism, PrivKey=aes_key.Key, Data=b"data")
    expect_grep11_error(grep11_stub.SignSingle, request, CKR.MECHANISM_PARAM_INVALID)


def test_oaep_mgf_none_rejected(grep11_stub, rsa_key_pair):
    mechanism = pb.Mechanism(
        Mechanism=CKM.RSA_PKCS_OAEP,
        RSAOAEPParameter=pb.RSAOAEPParm(HashMech=CKM.SHA_1, Mgf=pb.RSAOAEPParm.CkgMgf1None),
    )
    request = pb.EncryptSingleRequest(Mech=mechanism, Key=rsa_key_pair.PubKey, Plain=b"data")
    expect_grep11_error(grep11_stub.EncryptSingle, request, CKR.MECHANISM_PARAM_INVALID)


# --- key fields


def test_generate_key_fills_both_forms(aes_key):
    assert aes_key.KeyBytes
    assert list(aes_key.Key.KeyBlobs) == [aes_key.KeyBytes]
    attributes = aes_key.Key.Attributes
    assert attributes[CKA.CLASS].AttributeI == CKO.SECRET_KEY
    assert attributes[CKA.KEY_TYPE].AttributeI == CKK.AES
    assert attributes[CKA.VALUE_LEN].AttributeI == 32
    assert attributes[CKA.ENCRYPT].AttributeTF is True
    assert CKA.VALUE not in attributes
    assert aes_key.Key.KeyBlobID == b""
    assert aes_key.Key.Version == 0
    assert aes_key.Key.TxID == b""
    assert len(aes_key.CheckSum) >= 3


def test_generate_key_pair_fills_both_forms(rsa_key_pair):
    assert list(rsa_key_pair.PrivKey.KeyBlobs) == [rsa_key_pair.PrivKeyBytes]
    assert list(rsa_key_pair.PubKey.KeyBlobs) == [rsa_key_pair.PubKeyBytes]
    assert rsa_key_pair.PubKey.Attributes[CKA.CLASS].AttributeI == CKO.PUBLIC_KEY
    assert rsa_key_pair.PrivKey.Attributes[CKA.CLASS].AttributeI == CKO.PRIVATE_KEY
    assert rsa_key_pair.PubKey.Attributes[CKA.MODULUS_BITS].AttributeI == 2048


def test_legacy_key_field_accepted(grep11_stub, aes_key):
    iv = bytes(range(16))
    ciphered = grep11_stub.EncryptSingle(
        pb.EncryptSingleRequest(Mech=cbc_pad(iv), LegacyKey=aes_key.KeyBytes, Plain=PLAINTEXT)
    ).Ciphered
    plain = grep11_stub.DecryptSingle(
        pb.DecryptSingleRequest(Mech=cbc_pad(iv), Key=aes_key.Key, Ciphered=ciphered)
    ).Plain
    assert plain == PLAINTEXT


def test_keyblob_key_field_accepted(grep11_stub, aes_key):
    iv = bytes(range(16))
    ciphered = grep11_stub.EncryptSingle(
        pb.EncryptSingleRequest(Mech=cbc_pad(iv), Key=aes_key.Key, Plain=PLAINTEXT)
    ).Ciphered
    plain = grep11_stub.DecryptSingle(
        pb.DecryptSingleRequest(Mech=cbc_pad(iv), LegacyKey=aes_key.KeyBytes, Ciphered=ciphered)
    ).Plain
    assert plain == PLAINTEXT


def test_keyblob_wins_over_legacy_key(grep11_stub, aes_key):
    iv = bytes(16)
    valid_blob = pb.EncryptSingleRequest(
        Mech=cbc_pad(iv), Key=aes_key.Key, LegacyKey=b"not a key blob", Plain=PLAINTEXT
    )
    assert grep11_stub.EncryptSingle(valid_blob).Ciphered

    invalid_blob = pb.EncryptSingleRequest(
        Mech=cbc_pad(iv),
        Key=pb.KeyBlob(KeyBlobs=[b"not a key blob"]),
        LegacyKey=aes_key.KeyBytes,
        Plain=PLAINTEXT,
    )
    expect_grep11_error(grep11_stub.EncryptSingle, invalid_blob, CKR.KEY_HANDLE_INVALID)


def test_empty_keyblob_falls_back_to_legacy(grep11_stub, aes_key):
    request = pb.EncryptSingleRequest(
        Mech=cbc_pad(bytes(16)), Key=pb.KeyBlob(), LegacyKey=aes_key.KeyBytes, Plain=PLAINTEXT
    )
    assert grep11_stub.EncryptSingle(request).Ciphered


def test_legacy_sign_verify_fields(grep11_stub, rsa_key_pair):
    mechanism = pb.Mechanism(Mechanism=CKM.SHA256_RSA_PKCS)
    signature = grep11_stub.SignSingle(
        pb.SignSingleRequest(Mech=mechanism, LegacyPrivKey=rsa_key_pair.PrivKeyBytes, Data=b"data")
    ).Signature
    grep11_stub.VerifySingle(
        pb.VerifySingleRequest(
            Mech=mechanism, LegacyPubKey=rsa_key_pair.PubKeyBytes, Data=b"data", Signature=signature
        )
    )


def test_rewrap_keyblob_field_wins(grep11_stub, aes_key):
    request = pb.RewrapKeyBlobRequest(
        WrappedKeyBytes=aes_key.KeyBytes, WrappedKey=pb.KeyBlob(KeyBlobs=[b"not a key blob"])
    )
    expect_grep11_error(grep11_stub.RewrapKeyBlob, request, CKR.KEY_HANDLE_INVALID)


# --- mechanism parameters


def test_oaep_parameter_round_trip(grep11_stub, rsa_key_pair):
    mechanism = pb.Mechanism(
        Mechanism=CKM.RSA_PKCS_OAEP,
        RSAOAEPParameter=pb.RSAOAEPParm(
            HashMech=CKM.SHA_1,
            Mgf=pb.RSAOAEPParm.CkgMgf1Sha1,
            EncodingParmType=pb.RSAOAEPParm.CkzNoDataSpecified,
        ),
    )
    ciphered = grep11_stub.EncryptSingle(
        pb.EncryptSingleRequest(Mech=mechanism, Key=rsa_key_pair.PubKey, Plain=PLAINTEXT)
    ).Ciphered
    plain = grep11_stub.DecryptSingle(
        pb.DecryptSingleRequest(Mech=mechanism, Key=rsa_key_pair.PrivKey, Ciphered=ciphered)
    ).Plain
    assert plain == PLAINTEXT


def test_pss_signature_tamper_detected(grep11_stub, rsa_key_pair):
    mechanism = pb.Mechanism(
        Mechanism=CKM.SHA256_RSA_PKCS_PSS,
        RSAPSSParameter=pb.RSAPSSParm(HashMech=CKM.SHA256, Mgf=pb.RSAPSSParm.CkgMgf1Sha256),
    )
    signature = grep11_stub.SignSingle(
        pb.SignSingleRequest(Mech=mechanism, PrivKey=rsa_key_pair.PrivKey, Data=PLAINTEXT)
    ).Signature
    grep11_stub.VerifySingle(
        pb.VerifySingleRequest(
            Mech=mechanism, PubKey=rsa_key_pair.PubKey, Data=PLAINTEXT, Signature=signature
        )
    )

    tampered = bytes([signature[0] ^ 0xFF]) + signature[1:]
    request = pb.VerifySingleRequest(
        Mech=mechanism, PubKey=rsa_key_pair.PubKey, Data=PLAINTEXT, Signature=tampered
    )
    expect_grep11_error(grep11_stub.VerifySingle, request, CKR.SIGNATURE_INVALID)


# --- multi-part state round trips


def test_digest_state_round_trip(grep11_stub):
    data = bytes(range(256)) * 4
    state = grep11_stub.DigestInit(
        pb.DigestInitRequest(Mech=pb.Mechanism(Mechanism=CKM.SHA256))
    ).State
    state = grep11_stub.DigestUpdate(pb.DigestUpdateRequest(State=state, Data=data[:64])).State
    state = grep11_stub.DigestUpdate(pb.DigestUpdateRequest(State=state, Data=data[64:])).State
    digest = grep11_stub.DigestFinal(pb.DigestFinalRequest(State=state)).Digest
    assert digest == hashlib.sha256(data).digest()


def test_encrypt_update_state_round_trip(grep11_stub, aes_key):
    iv = bytes(range(16))
    state = grep11_stub.EncryptInit(pb.EncryptInitRequest(Mech=cbc_pad(iv), Key=aes_key.Key)).State
    first = grep11_stub.EncryptUpdate(pb.EncryptUpdateRequest(State=state, Plain=PLAINTEXT[:20]))
    second = grep11_stub.EncryptUpdate(
        pb.EncryptUpdateRequest(State=first.State, Plain=PLAINTEXT[20:])
    )
    final = grep11_stub.EncryptFinal(pb.EncryptFinalRequest(State=second.State)).Ciphered
    ciphered = first.Ciphered + second.Ciphered + final

    single = grep11_stub.EncryptSingle(
        pb.EncryptSingleRequest(Mech=cbc_pad(iv), Key=aes_key.Key, Plain=PLAINTEXT)
    ).Ciphered
    assert ciphered == single


# --- attributes


def test_get_attribute_value_both_maps(grep11_stub, aes_key):
    requested = {CKA.VALUE_LEN: b"", CKA.ENCRYPT: b"", CKA.CLASS: b""}
    by_bytes = grep11_stub.GetAttributeValue(
        pb.GetAttributeValueRequest(Object=aes_key.KeyBytes, AttributesBytes=requested)
    )
    assert by_bytes.AttributesBytes[CKA.VALUE_LEN] == (32).to_bytes(8, "big")
    assert by_bytes.AttributesBytes[CKA.ENCRYPT] == b"\x01"
    assert by_bytes.AttributesBytes[CKA.CLASS] == int(CKO.SECRET_KEY).to_bytes(8, "big")
    assert len(by_bytes.Attributes) == 0

    by_value = grep11_stub.GetAttributeValue(
        pb.GetAttributeValueRequest(
            Object=aes_key.KeyBytes, Attributes={CKA.VALUE_LEN: pb.AttributeValue()}
        )
    )
    assert by_value.Attributes[CKA.VALUE_LEN].AttributeI == 32
    assert len(by_value.AttributesBytes) == 0


def test_set_attribute_value_returns_new_object(grep11_stub):
    key = generate_aes_key(grep11_stub)
    changed = grep11_stub.SetAttributeValue(
        pb.SetAttributeValueRequest(Object=key.KeyBytes, Attributes=template(ENCRYPT=False))
    ).Object
    assert changed != key.KeyBytes

    request = pb.EncryptSingleRequest(Mech=cbc_pad(bytes(16)), LegacyKey=changed, Plain=PLAINTEXT)
    expect_grep11_error(grep11_stub.EncryptSingle, request, CKR.KEY_FUNCTION_NOT_PERMITTED)


# --- random numbers and mechanisms


@pytest.mark.parametrize("length", [1, 16, 4096, 1_000_000])
def test_generate_random_lengths(grep11_stub, length):
    random = grep11_stub.GenerateRandom(pb.GenerateRandomRequest(Len=length)).Rnd
    assert len(random) == length


def test_generate_random_differs(grep11_stub):
    first = grep11_stub.GenerateRandom(pb.GenerateRandomRequest(Len=32)).Rnd
    second = grep11_stub.GenerateRandom(pb.GenerateRandomRequest(Len=32)).Rnd
    assert first != second


@pytest.mark.parametrize("length", [0, 1_000_001])
def test_generate_random_length_out_of_range(grep11_stub, length):
    request = pb.GenerateRandomRequest(Len=length)
    expect_grep11_error(grep11_stub.GenerateRandom, request, CKR.ARGUMENTS_BAD)


def test_mechanism_list_starts_with_rsa_pkcs(grep11_stub):
    mechanisms = list(grep11_stub.GetMechanismList(pb.GetMechanismListRequest()).Mechs)
    assert mechanisms[0] == CKM.RSA_PKCS
    assert CKM.AES_KEY_GEN in mechanisms


def test_mechanism_info_rsa_pkcs(grep11_stub):
    info = grep11_stub.GetMechanismInfo(pb.GetMechanismInfoRequest(Mech=CKM.RSA_PKCS)).MechInfo
    assert info.MinKeySize == 512
    assert info.MaxKeySize == 4096
    assert info.Flags & CKF.ENCRYPT
    assert info.Flags & CKF.SIGN


def test_mechanism_info_unknown(grep11_stub):
    request = pb.GetMechanismInfoRequest(Mech=UNKNOWN_MECHANISM)
    expect_grep11_error(grep11_stub.GetMechanismInfo, request, CKR.MECHANISM_INVALID)


# --- transport


def test_tls_port_with_emulator_ca(grep11_tls_stub):
    random = grep11_tls_stub.GenerateRandom(pb.GenerateRandomRequest(Len=16)).Rnd
    assert len(random) == 16


def test_tls_port_with_localhost_name(grep11_emulator):
    with open(grep11_emulator.ca_cert_path, "rb") as handle:
        credentials = grpc.ssl_channel_credentials(root_certificates=handle.read())
    options = [("grpc.ssl_target_name_override", "localhost")]
    with grpc.secure_channel(grep11_emulator.tls_address, credentials, options) as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        assert len(stub.GenerateRandom(pb.GenerateRandomRequest(Len=8)).Rnd) == 8


def _foreign_ca_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "untrusted test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def test_tls_port_rejects_untrusting_client(grep11_emulator):
    credentials = grpc.ssl_channel_credentials(root_certificates=_foreign_ca_pem())
    with grpc.secure_channel(grep11_emulator.tls_address, credentials) as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GenerateRandom(pb.GenerateRandomRequest(Len=8), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plaintext_client_on_tls_port_fails(grep11_emulator):
    with grpc.insecure_channel(grep11_emulator.tls_address) as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GenerateRandom(pb.GenerateRandomRequest(Len=8), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_large_request_accepted(grep11_stub):
    data = bytes(16 * 1024 * 1024)
    request = pb.DigestSingleRequest(Mech=pb.Mechanism(Mechanism=CKM.SHA256), Data=data)
    assert grep11_stub.DigestSingle(request).Digest == hashlib.sha256(data).digest()


def test_request_over_64_mib_rejected(grep11_stub):
    data = bytes(64 * 1024 * 1024 + 1024)
    request = pb.DigestSingleRequest(Mech=pb.Mechanism(Mechanism=CKM.SHA256), Data=data)
    with pytest.raises(grpc.RpcError) as raised:
        grep11_stub.DigestSingle(request)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.slow
def test_rsa_4096_keygen_blocks_no_callers(grep11_emulator):
    """Other calls complete while an RSA-4096 key pair is being generated.

    The server runs in this process, so if key generation held the GIL, no other call (not
    even this test's client code) could finish until the generation returned.
    """
    request = pb.GenerateKeyPairRequest(
        Mech=pb.Mechanism(Mechanism=CKM.RSA_PKCS_KEY_PAIR_GEN),
        PubKeyTemplate=template(MODULUS_BITS=4096, PUBLIC_EXPONENT=65537),
    )
    with grpc.insecure_channel(grep11_emulator.address) as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        generator = threading.Thread(target=stub.GenerateKeyPair, args=(request,))
        generator.start()
        completed_during_generation = 0
        while generator.is_alive():
            stub.GenerateRandom(pb.GenerateRandomRequest(Len=16))
            if generator.is_alive():
                completed_during_generation += 1
        generator.join()

    assert completed_during_generation >= 10


def test_huge_public_exponent_rejected(grep11_stub):
    request = pb.GenerateKeyPairRequest(
        Mech=pb.Mechanism(Mechanism=CKM.RSA_PKCS_KEY_PAIR_GEN),
        PubKeyTemplate=template(MODULUS_BITS=2048, PUBLIC_EXPONENT=b"\x03" * 2000),
    )
    expect_grep11_error(grep11_stub.GenerateKeyPair, request, CKR.ATTRIBUTE_VALUE_INVALID)


def test_huge_attribute_detail_truncated(grep11_stub):
    request = pb.GenerateKeyPairRequest(
        Mech=pb.Mechanism(Mechanism=CKM.EC_KEY_PAIR_GEN),
        PubKeyTemplate=template(EC_PARAMS=b"\x06" * 10000),
    )
    detail = expect_grep11_error(grep11_stub.GenerateKeyPair, request, CKR.CURVE_NOT_SUPPORTED)
    assert len(detail.Detail) <= 1024


@pytest.mark.parametrize("body", [b"\x0a\x64abc", b"\xff\xff\xff", b"\x08"])
def test_unparseable_request_body(grep11_emulator, body):
    with grpc.insecure_channel(grep11_emulator.address) as channel:
        raw_call = channel.unary_unary("/grep11.Crypto/GenerateRandom")
        expect_grep11_error(raw_call, body, CKR.IBM_GREP11_CANNOT_UNMARSHAL)


def test_large_ck_ulong_reaches_engine(grep11_channel):
    # AttributeI is int64, so the CK_ULONG 2**64 - 1 travels as -1 and must reach the engine
    # as 2**64 - 1, which its error message then names.
    ep11 = RemoteEngine(grep11_channel)
    with pytest.raises(PKCS11Error) as caught:
        ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 2**64 - 1})
    assert str(2**64 - 1) in caught.value.detail
    assert "-1" not in caught.value.detail
