"""The ``grep11.Crypto`` servicer: one thin method per RPC.

Each method converts the request (``grpc_server.convert``), calls one ``Engine`` method and builds
the response. ``grep11_errors`` turns every failure into the GREP11 error form, so the methods
contain no error handling of their own.
"""

from typing import Optional

from grpc_server import convert
from grpc_server.errors import grep11_errors
from grpc_server.generated import grep11_pb2 as pb
from grpc_server.generated import grep11_pb2_grpc
from grpc_server.lowpriority import SLOW_MECHANISMS, SlowCallLimiter


class CryptoServicer(grep11_pb2_grpc.CryptoServicer):
    """Serve the 40 GREP11 RPCs from one ``ep11core.Engine``, which keeps no per-call state."""

    def __init__(self, engine, slow_calls: Optional[SlowCallLimiter] = None):
        self._engine = engine
        # RSA key pair and DSA parameter generation (seconds each) and BLS aggregation (up to
        # minutes) run on low-priority threads behind a bounded queue, so that short calls keep
        # their latency and their workers.
        self._slow_calls = slow_calls or SlowCallLimiter()

    def _call(self, context, mechanism, verb, *args):
        """Run ``verb(mechanism, *args)``, on a slow-call thread if the mechanism is slow."""
        if mechanism.mechanism in SLOW_MECHANISMS:
            return self._slow_calls.call(context, verb, mechanism, *args)
        return verb(mechanism, *args)

    # Random numbers and digests

    @grep11_errors
    def GenerateRandom(self, request):
        return pb.GenerateRandomResponse(Rnd=self._engine.generate_random(request.Len))

    @grep11_errors
    def DigestInit(self, request):
        state = self._engine.digest_init(convert.required_mechanism(request))
        return pb.DigestInitResponse(State=state)

    @grep11_errors
    def Digest(self, request):
        return pb.DigestResponse(Digest=self._engine.digest(request.State, request.Data))

    @grep11_errors
    def DigestUpdate(self, request):
        state = self._engine.digest_update(request.State, request.Data)
        return pb.DigestUpdateResponse(State=state)

    @grep11_errors
    def DigestKey(self, request):
        key = convert.key_argument(request, "Key", "LegacyKey")
        return pb.DigestKeyResponse(State=self._engine.digest_key(request.State, key))

    @grep11_errors
    def DigestFinal(self, request):
        return pb.DigestFinalResponse(Digest=self._engine.digest_final(request.State))

    @grep11_errors
    def DigestSingle(self, request):
        digest = self._engine.digest_single(convert.required_mechanism(request), request.Data)
        return pb.DigestSingleResponse(Digest=digest)

    # Encryption and decryption

    @grep11_errors
    def EncryptInit(self, request):
        key = convert.key_argument(request, "Key", "LegacyKey")
        state = self._engine.encrypt_init(convert.required_mechanism(request), key)
        return pb.EncryptInitResponse(State=state)

    @grep11_errors
    def DecryptInit(self, request):
        key = convert.key_argument(request, "Key", "LegacyKey")
        state = self._engine.decrypt_init(convert.required_mechanism(request), key)
        return pb.DecryptInitResponse(State=state)

    @grep11_errors
    def EncryptUpdate(self, request):
        result = self._engine.encrypt_update(request.State, request.Plain)
        return pb.EncryptUpdateResponse(State=result.state, Ciphered=result.output)

    @grep11_errors
    def DecryptUpdate(self, request):
        result = self._engine.decrypt_update(request.State, request.Ciphered)
        return pb.DecryptUpdateResponse(State=result.state, Plain=result.output)

    @grep11_errors
    def Encrypt(self, request):
        return pb.EncryptResponse(Ciphered=self._engine.encrypt(request.State, request.Plain))

    @grep11_errors
    def Decrypt(self, request):
        return pb.DecryptResponse(Plain=self._engine.decrypt(request.State, request.Ciphered))

    @grep11_errors
    def EncryptFinal(self, request):
        return pb.EncryptFinalResponse(Ciphered=self._engine.encrypt_final(request.State))

    @grep11_errors
    def DecryptFinal(self, request):
        return pb.DecryptFinalResponse(Plain=self._engine.decrypt_final(request.State))

    @grep11_errors
    def EncryptSingle(self, request):
        key = convert.key_argument(request, "Key", "LegacyKey")
        mechanism = convert.required_mechanism(request)
        ciphered = self._engine.encrypt_single(mechanism, key, request.Plain)
        return pb.EncryptSingleResponse(Ciphered=ciphered)

    @grep11_errors
    def DecryptSingle(self, request):
        key = convert.key_argument(request, "Key", "LegacyKey")
        mechanism = convert.required_mechanism(request)
        plain = self._engine.decrypt_single(mechanism, key, request.Ciphered)
        return pb.DecryptSingleResponse(Plain=plain)

    @grep11_errors
    def ReencryptSingle(self, request):
        reciphered = self._engine.reencrypt_single(
            convert.required_mechanism(request, "DecMech"),
            convert.required_mechanism(request, "EncMech"),
            convert.key_argument(request, "DecKey"),
            convert.key_argument(request, "EncKey"),
            request.Ciphered,
        )
        return pb.ReencryptSingleResponse(Reciphered=reciphered)

    # Signatures

    @grep11_errors
    def SignInit(self, request):
        key = convert.key_argument(request, "PrivKey", "LegacyPrivKey")
        state = self._engine.sign_init(convert.required_mechanism(request), key)
        return pb.SignInitResponse(State=state)

    @grep11_errors
    def VerifyInit(self, request):
        key = convert.key_argument(request, "PubKey", "LegacyPubKey")
        state = self._engine.verify_init(convert.required_mechanism(request), key)
        return pb.VerifyInitResponse(State=state)

    @grep11_errors
    def SignUpdate(self, request):
        state = self._engine.sign_update(request.State, request.Data)
        return pb.SignUpdateResponse(State=state)

    @grep11_errors
    def VerifyUpdate(self, request):
        state = self._engine.verify_update(request.State, request.Data)
        return pb.VerifyUpdateResponse(State=state)

    @grep11_errors
    def SignFinal(self, request):
        return pb.SignFinalResponse(Signature=self._engine.sign_final(request.State))

    @grep11_errors
    def VerifyFinal(self, request):
        self._engine.verify_final(request.State, request.Signature)
        return pb.VerifyFinalResponse()

    @grep11_errors
    def Sign(self, request):
        return pb.SignResponse(Signature=self._engine.sign(request.State, request.Data))

    @grep11_errors
    def Verify(self, request):
        self._engine.verify(request.State, request.Data, request.Signature)
        return pb.VerifyResponse()

    @grep11_errors
    def SignSingle(self, request, context):
        key = convert.key_argument(request, "PrivKey", "LegacyPrivKey")
        mechanism = convert.required_mechanism(request)
        signature = self._call(context, mechanism, self._engine.sign_single, key, request.Data)
        return pb.SignSingleResponse(Signature=signature)

    @grep11_errors
    def VerifySingle(self, request):
        key = convert.key_argument(request, "PubKey", "LegacyPubKey")
        mechanism = convert.required_mechanism(request)
        self._engine.verify_single(mechanism, key, request.Data, request.Signature)
        return pb.VerifySingleResponse()

    # Key management

    @grep11_errors
    def GenerateKey(self, request, context):
        key = self._call(
            context,
            convert.required_mechanism(request),
            self._engine.generate_key,
            convert.template(request.Template),
        )
        return pb.GenerateKeyResponse(
            KeyBytes=key.blob,
            CheckSum=key.checksum,
            Key=convert.key_blob(key.blob, key.attributes),
        )

    @grep11_errors
    def GenerateKeyPair(self, request, context):
        pair = self._call(
            context,
            convert.required_mechanism(request),
            self._engine.generate_key_pair,
            convert.template(request.PubKeyTemplate),
            convert.template(request.PrivKeyTemplate),
        )
        return pb.GenerateKeyPairResponse(
            PrivKeyBytes=pair.private_blob,
            PubKeyBytes=pair.public_blob,
            PrivKey=convert.key_blob(pair.private_blob, pair.private_attributes),
            PubKey=convert.key_blob(pair.public_blob, pair.public_attributes),
        )

    @grep11_errors
    def WrapKey(self, request):
        wrapped = self._engine.wrap_key(
            convert.required_mechanism(request),
            convert.key_argument(request, "Key", "LegacyKey"),
            convert.key_argument(request, "KeK", "LegacyKeK"),
            convert.key_argument(request, "MacKey", "LegacyMacKey"),
        )
        return pb.WrapKeyResponse(Wrapped=wrapped)

    @grep11_errors
    def UnwrapKey(self, request):
        key = self._engine.unwrap_key(
            convert.required_mechanism(request),
            request.Wrapped,
            convert.key_argument(request, "KeK", "LegacyKeK"),
            convert.template(request.Template),
            convert.key_argument(request, "MacKey", "LegacyMacKey"),
        )
        return pb.UnwrapKeyResponse(
            UnwrappedBytes=key.blob,
            CheckSum=key.checksum,
            Unwrapped=convert.key_blob(key.blob, key.attributes),
        )

    @grep11_errors
    def DeriveKey(self, request, context):
        key = self._call(
            context,
            convert.required_mechanism(request),
            self._engine.derive_key,
            convert.key_argument(request, "BaseKey", "LegacyBaseKey"),
            request.Data,
            convert.template(request.Template),
        )
        return pb.DeriveKeyResponse(
            NewKeyBytes=key.blob,
            CheckSum=key.checksum,
            NewKey=convert.key_blob(key.blob, key.attributes),
        )

    # Mechanisms and attributes

    @grep11_errors
    def GetMechanismList(self, request):
        return pb.GetMechanismListResponse(Mechs=self._engine.get_mechanism_list())

    @grep11_errors
    def GetMechanismInfo(self, request):
        info = self._engine.get_mechanism_info(request.Mech)
        return pb.GetMechanismInfoResponse(
            MechInfo=pb.MechanismInfo(
                MinKeySize=info.min_key_size, MaxKeySize=info.max_key_size, Flags=info.flags
            )
        )

    @grep11_errors
    def GetAttributeValue(self, request):
        # The requested types are the keys of either request map, and each map that the request
        # uses is filled in the response.
        requested_types = sorted(set(request.Attributes) | set(request.AttributesBytes))
        values = self._engine.get_attribute_value(request.Object, requested_types)
        attributes = convert.attribute_values(values) if request.Attributes else {}
        attributes_bytes = convert.attribute_bytes(values) if request.AttributesBytes else {}
        return pb.GetAttributeValueResponse(Attributes=attributes, AttributesBytes=attributes_bytes)

    @grep11_errors
    def SetAttributeValue(self, request):
        attributes = convert.template(request.Attributes)
        blob = self._engine.set_attribute_value(request.Object, attributes)
        return pb.SetAttributeValueResponse(Object=blob)

    # Sessions and master-key rotation

    @grep11_errors
    def Login(self, request):
        return pb.LoginResponse(Pinblob=self._engine.login(request.Storeid, request.Pin))

    @grep11_errors
    def Logout(self, request):
        self._engine.logout()
        return pb.LogoutResponse()

    @grep11_errors
    def RewrapKeyBlob(self, request):
        blob = convert.key_argument(request, "WrappedKey", "WrappedKeyBytes")
        rewrapped = self._engine.rewrap_key_blob(blob)
        # NOTE: RewrappedKey carries no Attributes, because the engine returns only the blob.
        return pb.RewrapKeyBlobResponse(
            RewrappedKeyBytes=rewrapped, RewrappedKey=pb.KeyBlob(KeyBlobs=[rewrapped])
        )
