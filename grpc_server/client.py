"""A Python GREP11 client with the interface of ``ep11core.Engine``.

``RemoteEngine`` has the method names, signatures and return types of ``Engine``, but every
call travels as one ``grep11.Crypto`` RPC over a gRPC channel. The same code therefore runs
in-process or against any GREP11 server::

    import grpc
    from ep11core import CKA, CKM, Mechanism
    from grpc_server.client import RemoteEngine

    with grpc.insecure_channel("127.0.0.1:9876") as channel:
        ep11 = RemoteEngine(channel)
        aes = ep11.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32})

A failed call whose status carries a ``grep11.Grep11Error`` detail raises
``ep11core.errors.PKCS11Error`` with its code and detail, chained to the ``grpc.RpcError``
(``__cause__``). Any other gRPC failure (no server, a deadline, a status without that detail)
propagates as ``grpc.RpcError``.

Mechanism parameters carry C constants, as for ``Engine``; the client translates IBM vendor
values (0x80000000 + n) to the proto enum numbering (0x800000 + n).
"""

from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import grpc
from grpc_status import rpc_status

from ep11core.errors import PKCS11Error
from ep11core.types import (
    BTCDeriveParams,
    ECAGGParams,
    ECDH1DeriveParams,
    ECSGParams,
    KeyPair,
    KeyResult,
    KyberKEMParams,
    Mechanism,
    MechanismInfo,
    OAEPParams,
    PSSParams,
    UpdateResult,
)
from grpc_server.convert import C_VENDOR_BASE, PROTO_VENDOR_BASE, attribute_values
from grpc_server.generated import grep11_pb2 as pb
from grpc_server.generated import grep11_pb2_grpc

_UINT64_LIMIT = 1 << 64
_INT32_LIMIT = 1 << 31


def proto_enum_value(value: int) -> int:
    """Translate a C parameter constant to the proto enum numbering.

    Standard PKCS #11 values (below 0x800000) pass unchanged, and IBM vendor values
    0x80000000 + n become 0x800000 + n. Other values have no proto form and raise ValueError.
    """
    value = int(value)
    if 0 <= value < PROTO_VENDOR_BASE:
        return value
    translated = value - C_VENDOR_BASE + PROTO_VENDOR_BASE
    if value >= C_VENDOR_BASE and translated < _INT32_LIMIT:
        return translated
    raise ValueError(f"parameter constant {value:#x} has no proto enum value")


def _oaep_message(parameter: OAEPParams) -> Dict[str, object]:
    # CKZ_NO_DATA_SPECIFIED and CKZ_DATA_SPECIFIED have the same numbers in proto and C.
    message = pb.RSAOAEPParm(
        HashMech=parameter.hash_mechanism,
        Mgf=proto_enum_value(parameter.mgf),
        EncodingParmType=parameter.source,
        EncodingParm=parameter.label,
    )
    return {"RSAOAEPParameter": message}


def _pss_message(parameter: PSSParams) -> Dict[str, object]:
    message = pb.RSAPSSParm(
        HashMech=parameter.hash_mechanism,
        Mgf=proto_enum_value(parameter.mgf),
        SaltByteCount=parameter.salt_length,
    )
    return {"RSAPSSParameter": message}


def _ecdh1_derive_message(parameter: ECDH1DeriveParams) -> Dict[str, object]:
    message = pb.ECDH1DeriveParm(
        Kdf=proto_enum_value(parameter.kdf),
        SharedData=parameter.shared_data,
        PublicData=parameter.public_data,
    )
    return {"ECDH1DeriveParameter": message}


def _btc_derive_message(parameter: BTCDeriveParams) -> Dict[str, object]:
    message = pb.BTCDeriveParm(
        Type=parameter.type,
        ChildKeyIndex=parameter.child_key_index,
        ChainCode=parameter.chain_code,
        Version=parameter.version,
    )
    return {"BTCDeriveParameter": message}


def _ecsg_message(parameter: ECSGParams) -> Dict[str, object]:
    return {"ECSGParameter": pb.ECSGParm(Type=parameter.type)}


def _kyber_kem_message(parameter: KyberKEMParams) -> Dict[str, object]:
    message = pb.KyberKEMParm(
        Version=parameter.version,
        Mode=parameter.mode,
        Kdf=proto_enum_value(parameter.kdf),
        Prepend=parameter.prepend,
        CipherText=parameter.ciphertext,
        SharedData=parameter.shared_data,
        Blob=parameter.blob,
    )
    return {"KyberKEMParameter": message}


def _ecagg_message(parameter: ECAGGParams) -> Dict[str, object]:
    message = pb.ECAGGParm(
        Version=parameter.version,
        Mode=parameter.mode,
        PerElementSize=parameter.per_element_size,
        Elements=parameter.elements,
    )
    return {"ECAGGParameter": message}


# The member of the Mechanism.Parameter oneof for each parameter type of ep11core.types.
_PARAMETER_ENCODERS: Mapping[type, Callable[[object], Dict[str, object]]] = {
    type(None): lambda parameter: {},
    bytes: lambda parameter: {"ParameterB": parameter},
    bytearray: lambda parameter: {"ParameterB": bytes(parameter)},
    OAEPParams: _oaep_message,
    PSSParams: _pss_message,
    ECDH1DeriveParams: _ecdh1_derive_message,
    BTCDeriveParams: _btc_derive_message,
    ECSGParams: _ecsg_message,
    KyberKEMParams: _kyber_kem_message,
    ECAGGParams: _ecagg_message,
}


def mechanism_message(mechanism: Mechanism) -> pb.Mechanism:
    """Convert an ``ep11core.types.Mechanism`` to the ``grep11.Mechanism`` message."""
    encode = _PARAMETER_ENCODERS.get(type(mechanism.parameter))
    if encode is None:
        raise TypeError(
            f"mechanism parameter of type {type(mechanism.parameter).__name__} cannot be sent; "
            "expected None, bytes or a parameter class of ep11core.types"
        )
    return pb.Mechanism(Mechanism=int(mechanism.mechanism), **encode(mechanism.parameter))


# AttributeI is int64 while attribute integers are CK_ULONG, so values from 2**63 up arrive in
# two's complement and are turned back into unsigned numbers.
_ATTRIBUTE_DECODERS: Mapping[str, Callable[[object], object]] = {
    "AttributeTF": bool,
    "AttributeI": lambda value: value % _UINT64_LIMIT,
    "AttributeB": bytes,
}


def attributes_from_message(entries: Mapping[int, pb.AttributeValue]) -> Dict[int, object]:
    """Convert a ``map<uint64, AttributeValue>`` to ``{CKA: bool | int | bytes}``."""
    attributes = {}
    for attribute_type, value in entries.items():
        variant = value.WhichOneof("one_attr")
        if variant is None:
            raise ValueError(f"attribute {attribute_type:#x} arrived with no value set")
        attributes[int(attribute_type)] = _ATTRIBUTE_DECODERS[variant](getattr(value, variant))
    return attributes


def pkcs11_error(error: grpc.RpcError) -> Optional[PKCS11Error]:
    """Return the ``PKCS11Error`` that a failed call carries, or None.

    The call must carry a ``grpc-status-details-bin`` trailer that agrees with its status and
    contains a ``grep11.Grep11Error`` detail.
    """
    if not isinstance(error, grpc.Call):
        return None
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        # The trailer contradicts the call's status code or message.
        return None
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(pb.Grep11Error.DESCRIPTOR):
            grep11_error = pb.Grep11Error()
            detail.Unpack(grep11_error)
            return PKCS11Error(grep11_error.Code, grep11_error.Detail)
    return None


class RemoteEngine:
    """The ``ep11core.Engine`` interface over a GREP11 gRPC channel.

    With ``legacy_key_fields=True`` the client sends keys in the raw ``bytes`` fields of the
    2021-2022 proto generation (``LegacyKey``, ``LegacyPrivKey``, ...) and reads new keys from
    the raw ``*Bytes`` response fields, as IBM's 2022 JavaScript client does. ReencryptSingle
    has no legacy fields, so its keys always travel as ``KeyBlob``. ``metadata`` (for example
    an ``authorization`` header) and ``timeout`` (seconds) apply to every call.
    """

    def __init__(
        self,
        channel: grpc.Channel,
        legacy_key_fields: bool = False,
        *,
        metadata: Optional[Sequence[Tuple[str, str]]] = None,
        timeout: Optional[float] = None,
    ):
        self._stub = grep11_pb2_grpc.CryptoStub(channel)
        self.legacy_key_fields = legacy_key_fields
        self._metadata = tuple(metadata) if metadata else None
        self._timeout = timeout

    # --- request and response plumbing

    def _call(self, rpc: str, request):
        try:
            return getattr(self._stub, rpc)(
                request, timeout=self._timeout, metadata=self._metadata
            )
        except grpc.RpcError as error:
            converted = pkcs11_error(error)
            if converted is None:
                raise
            raise converted from error

    def _key_fields(self, blob_field: str, legacy_field: Optional[str], key) -> dict:
        """Return the request fields that carry ``key``: the KeyBlob or the legacy bytes."""
        if key is None:
            return {}
        if self.legacy_key_fields and legacy_field:
            return {legacy_field: bytes(key)}
        return {blob_field: pb.KeyBlob(KeyBlobs=[bytes(key)])}

    def _new_key(self, raw: bytes, key_blob: pb.KeyBlob) -> bytes:
        if self.legacy_key_fields:
            return bytes(raw)
        return bytes(key_blob.KeyBlobs[0]) if key_blob.KeyBlobs else b""

    def _key_result(self, raw: bytes, checksum: bytes, key_blob: pb.KeyBlob) -> KeyResult:
        return KeyResult(
            self._new_key(raw, key_blob),
            bytes(checksum),
            attributes_from_message(key_blob.Attributes),
        )

    def _start_operation(
        self, rpc: str, mechanism: Mechanism, key: bytes, blob_field: str, legacy_field: str
    ) -> bytes:
        """Send the ``{rpc}Request`` of an Init RPC and return the state it creates."""
        request = getattr(pb, f"{rpc}Request")(
            Mech=mechanism_message(mechanism), **self._key_fields(blob_field, legacy_field, key)
        )
        return self._call(rpc, request).State

    # --- random and digest

    def generate_random(self, length: int) -> bytes:
        response = self._call("GenerateRandom", pb.GenerateRandomRequest(Len=length))
        return response.Rnd

    def digest_init(self, mechanism: Mechanism) -> bytes:
        request = pb.DigestInitRequest(Mech=mechanism_message(mechanism))
        return self._call("DigestInit", request).State

    def digest(self, state: bytes, data: bytes) -> bytes:
        return self._call("Digest", pb.DigestRequest(State=state, Data=data)).Digest

    def digest_update(self, state: bytes, data: bytes) -> bytes:
        return self._call("DigestUpdate", pb.DigestUpdateRequest(State=state, Data=data)).State

    def digest_key(self, state: bytes, key: bytes) -> bytes:
        request = pb.DigestKeyRequest(State=state, **self._key_fields("Key", "LegacyKey", key))
        return self._call("DigestKey", request).State

    def digest_final(self, state: bytes) -> bytes:
        return self._call("DigestFinal", pb.DigestFinalRequest(State=state)).Digest

    def digest_single(self, mechanism: Mechanism, data: bytes) -> bytes:
        request = pb.DigestSingleRequest(Mech=mechanism_message(mechanism), Data=data)
        return self._call("DigestSingle", request).Digest

    # --- encryption and decryption

    def encrypt_init(self, mechanism: Mechanism, key: bytes) -> bytes:
        return self._start_operation("EncryptInit", mechanism, key, "Key", "LegacyKey")

    def decrypt_init(self, mechanism: Mechanism, key: bytes) -> bytes:
        return self._start_operation("DecryptInit", mechanism, key, "Key", "LegacyKey")

    def encrypt_update(self, state: bytes, data: bytes) -> UpdateResult:
        response = self._call("EncryptUpdate", pb.EncryptUpdateRequest(State=state, Plain=data))
        return UpdateResult(response.State, response.Ciphered)

    def decrypt_update(self, state: bytes, data: bytes) -> UpdateResult:
        request = pb.DecryptUpdateRequest(State=state, Ciphered=data)
        response = self._call("DecryptUpdate", request)
        return UpdateResult(response.State, response.Plain)

    def encrypt(self, state: bytes, data: bytes) -> bytes:
        return self._call("Encrypt", pb.EncryptRequest(State=state, Plain=data)).Ciphered

    def decrypt(self, state: bytes, data: bytes) -> bytes:
        return self._call("Decrypt", pb.DecryptRequest(State=state, Ciphered=data)).Plain

    def encrypt_final(self, state: bytes) -> bytes:
        return self._call("EncryptFinal", pb.EncryptFinalRequest(State=state)).Ciphered

    def decrypt_final(self, state: bytes) -> bytes:
        return self._call("DecryptFinal", pb.DecryptFinalRequest(State=state)).Plain

    def encrypt_single(self, mechanism: Mechanism, key: bytes, data: bytes) -> bytes:
        request = pb.EncryptSingleRequest(
            Mech=mechanism_message(mechanism),
            Plain=data,
            **self._key_fields("Key", "LegacyKey", key),
        )
        return self._call("EncryptSingle", request).Ciphered

    def decrypt_single(self, mechanism: Mechanism, key: bytes, data: bytes) -> bytes:
        request = pb.DecryptSingleRequest(
            Mech=mechanism_message(mechanism),
            Ciphered=data,
            **self._key_fields("Key", "LegacyKey", key),
        )
        return self._call("DecryptSingle", request).Plain

    def reencrypt_single(
        self,
        decrypt_mechanism: Mechanism,
        encrypt_mechanism: Mechanism,
        decrypt_key: bytes,
        encrypt_key: bytes,
        data: bytes,
    ) -> bytes:
        request = pb.ReencryptSingleRequest(
            DecMech=mechanism_message(decrypt_mechanism),
            EncMech=mechanism_message(encrypt_mechanism),
            Ciphered=data,
            **self._key_fields("DecKey", None, decrypt_key),
            **self._key_fields("EncKey", None, encrypt_key),
        )
        return self._call("ReencryptSingle", request).Reciphered

    # --- signatures

    def sign_init(self, mechanism: Mechanism, key: bytes) -> bytes:
        return self._start_operation("SignInit", mechanism, key, "PrivKey", "LegacyPrivKey")

    def verify_init(self, mechanism: Mechanism, key: bytes) -> bytes:
        return self._start_operation("VerifyInit", mechanism, key, "PubKey", "LegacyPubKey")

    def sign_update(self, state: bytes, data: bytes) -> bytes:
        return self._call("SignUpdate", pb.SignUpdateRequest(State=state, Data=data)).State

    def verify_update(self, state: bytes, data: bytes) -> bytes:
        return self._call("VerifyUpdate", pb.VerifyUpdateRequest(State=state, Data=data)).State

    def sign_final(self, state: bytes) -> bytes:
        return self._call("SignFinal", pb.SignFinalRequest(State=state)).Signature

    def verify_final(self, state: bytes, signature: bytes) -> None:
        self._call("VerifyFinal", pb.VerifyFinalRequest(State=state, Signature=signature))

    def sign(self, state: bytes, data: bytes) -> bytes:
        return self._call("Sign", pb.SignRequest(State=state, Data=data)).Signature

    def verify(self, state: bytes, data: bytes, signature: bytes) -> None:
        self._call("Verify", pb.VerifyRequest(State=state, Data=data, Signature=signature))

    def sign_single(self, mechanism: Mechanism, key: Optional[bytes], data: bytes) -> bytes:
        # A key of None leaves PrivKey unset, as IBM's Go client does for signature aggregation.
        request = pb.SignSingleRequest(
            Mech=mechanism_message(mechanism),
            Data=data,
            **self._key_fields("PrivKey", "LegacyPrivKey", key),
        )
        return self._call("SignSingle", request).Signature

    def verify_single(
        self, mechanism: Mechanism, key: bytes, data: bytes, signature: bytes
    ) -> None:
        request = pb.VerifySingleRequest(
            Mech=mechanism_message(mechanism),
            Data=data,
            Signature=signature,
            **self._key_fields("PubKey", "LegacyPubKey", key),
        )
        self._call("VerifySingle", request)

    # --- key generation

    def generate_key(self, mechanism: Mechanism, template: dict) -> KeyResult:
        request = pb.GenerateKeyRequest(
            Mech=mechanism_message(mechanism), Template=attribute_values(template)
        )
        response = self._call("GenerateKey", request)
        return self._key_result(response.KeyBytes, response.CheckSum, response.Key)

    def generate_key_pair(
        self, mechanism: Mechanism, public_template: dict, private_template: dict
    ) -> KeyPair:
        request = pb.GenerateKeyPairRequest(
            Mech=mechanism_message(mechanism),
            PubKeyTemplate=attribute_values(public_template),
            PrivKeyTemplate=attribute_values(private_template),
        )
        response = self._call("GenerateKeyPair", request)
        return KeyPair(
            self._new_key(response.PrivKeyBytes, response.PrivKey),
            self._new_key(response.PubKeyBytes, response.PubKey),
            attributes_from_message(response.PrivKey.Attributes),
            attributes_from_message(response.PubKey.Attributes),
        )

    # --- wrapping and derivation

    def wrap_key(
        self,
        mechanism: Mechanism,
        key: bytes,
        kek: bytes,
        mac_key: Optional[bytes] = None,
    ) -> bytes:
        request = pb.WrapKeyRequest(
            Mech=mechanism_message(mechanism),
            **self._key_fields("Key", "LegacyKey", key),
            **self._key_fields("KeK", "LegacyKeK", kek),
            **self._key_fields("MacKey", "LegacyMacKey", mac_key),
        )
        return self._call("WrapKey", request).Wrapped

    def unwrap_key(
        self,
        mechanism: Mechanism,
        wrapped: bytes,
        kek: bytes,
        template: dict,
        mac_key: Optional[bytes] = None,
    ) -> KeyResult:
        request = pb.UnwrapKeyRequest(
            Mech=mechanism_message(mechanism),
            Wrapped=wrapped,
            Template=attribute_values(template),
            **self._key_fields("KeK", "LegacyKeK", kek),
            **self._key_fields("MacKey", "LegacyMacKey", mac_key),
        )
        response = self._call("UnwrapKey", request)
        return self._key_result(response.UnwrappedBytes, response.CheckSum, response.Unwrapped)

    def derive_key(
        self, mechanism: Mechanism, base_key: Optional[bytes], data: bytes, template: dict
    ) -> KeyResult:
        request = pb.DeriveKeyRequest(
            Mech=mechanism_message(mechanism),
            Data=data,
            Template=attribute_values(template),
            **self._key_fields("BaseKey", "LegacyBaseKey", base_key),
        )
        response = self._call("DeriveKey", request)
        return self._key_result(response.NewKeyBytes, response.CheckSum, response.NewKey)

    # --- mechanisms

    def get_mechanism_list(self) -> List[int]:
        return list(self._call("GetMechanismList", pb.GetMechanismListRequest()).Mechs)

    def get_mechanism_info(self, mechanism: int) -> MechanismInfo:
        request = pb.GetMechanismInfoRequest(Mech=int(mechanism))
        info = self._call("GetMechanismInfo", request).MechInfo
        return MechanismInfo(info.MinKeySize, info.MaxKeySize, info.Flags)

    # --- attributes

    def get_attribute_value(self, obj: bytes, types: Iterable[int]) -> Dict[int, object]:
        # The request names the attribute types as the keys of the Attributes map. The server
        # ignores the values, so they stay empty.
        requested = {int(type_): pb.AttributeValue() for type_ in types}
        request = pb.GetAttributeValueRequest(Object=obj, Attributes=requested)
        response = self._call("GetAttributeValue", request)
        return attributes_from_message(response.Attributes)

    def set_attribute_value(self, obj: bytes, attributes: dict) -> bytes:
        request = pb.SetAttributeValueRequest(Object=obj, Attributes=attribute_values(attributes))
        return self._call("SetAttributeValue", request).Object

    # --- sessions and master keys

    def login(self, store_id: bytes, pin: bytes) -> bytes:
        return self._call("Login", pb.LoginRequest(Storeid=store_id, Pin=pin)).Pinblob

    def logout(self) -> None:
        self._call("Logout", pb.LogoutRequest())

    def rewrap_key_blob(self, blob: bytes) -> bytes:
        if self.legacy_key_fields:
            request = pb.RewrapKeyBlobRequest(WrappedKeyBytes=blob)
        else:
            request = pb.RewrapKeyBlobRequest(WrappedKey=pb.KeyBlob(KeyBlobs=[blob]))
        response = self._call("RewrapKeyBlob", request)
        return self._new_key(response.RewrappedKeyBytes, response.RewrappedKey)
