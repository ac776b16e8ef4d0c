"""Per-call authentication of GREP11 calls: client certificates and IAM bearer tokens.

``AuthInterceptor`` runs before every servicer method. Each gRPC server gets its own: the one
of the plaintext port, and the one behind the TLS front end, which finds the client's
certificates in its ``PeerRegistry`` under ``context.peer()``. A connection to that server that
did not come through the front end counts as a TLS connection without a client certificate.

1. Client certificate, every port: ``ClientCertificatePolicy.check`` with the chain of the TLS
   connection, or no chain on the plaintext port. While the certificate manager contains any CA
   certificate, a call without a valid chain is rejected with UNAUTHENTICATED.
2. IAM token, TLS port only and only when a ``TokenService`` is configured (``--iam``): the
   ``authorization: Bearer <token>`` metadata entry must hold a token that the service
   verifies (UNAUTHENTICATED otherwise), and one of the token's roles must allow the RPC
   (PERMISSION_DENIED otherwise). The ``bluemix-instance`` entry that older clients send is
   ignored. The plaintext port needs no token, like IBM's clients in local mode
   (``GREP11_LOCAL``), which send none.

Both rejections carry one ``Grep11Error`` with CKR_IBM_GREP11_NOT_AUTHENTICATED, the only
authentication code in the public GREP11 headers, and a detail that names the failed check. A
rejected call never reaches the engine; the checks run when a call starts, so a trust store
change never fails a call already running.
"""

import logging
from typing import Callable, Dict, FrozenSet, Optional, Tuple

import grpc

from certmgr.iam import ROLE_MANAGER, ROLE_READER, ROLE_WRITER, IAMError
from ep11core.constants import CKR
from grpc_server.clientcerts import ClientCertificatePolicy, PeerCertificates
from grpc_server.errors import grep11_status
from grpc_server.tlsfront import PeerRegistry

logger = logging.getLogger(__name__)

READER = ROLE_READER
WRITER = ROLE_WRITER

# Each IAM service role grants everything the roles before it grant. The Certificate Manager
# role grants only the certificate-manager operations, no GREP11 RPC.
ROLE_ORDER = (ROLE_READER, ROLE_WRITER, ROLE_MANAGER)

# The lowest role that allows each grep11.Crypto RPC, after the IAM service roles of Hyper
# Protect Crypto Services. Reader may get mechanism information and random numbers, get and set
# attributes, wrap, unwrap and rewrap keys, encrypt, decrypt, sign, verify and digest. Writer may
# also generate keys and key pairs. Manager adds only keystore operations, which GREP11 lacks.
# The HPCS role table names no role for three groups, so these are our choices: DeriveKey needs
# Writer, because it creates a key as GenerateKey does. ReencryptSingle (a decryption and an
# encryption) and DigestKey (a digest) need Reader. Login and Logout need Reader, because they
# create no key.
RPC_ROLES = {
    "GenerateRandom": READER,
    "DigestInit": READER,
    "Digest": READER,
    "DigestUpdate": READER,
    "DigestKey": READER,
    "DigestFinal": READER,
    "DigestSingle": READER,
    "EncryptInit": READER,
    "DecryptInit": READER,
    "EncryptUpdate": READER,
    "DecryptUpdate": READER,
    "Encrypt": READER,
    "Decrypt": READER,
    "EncryptFinal": READER,
    "DecryptFinal": READER,
    "EncryptSingle": READER,
    "DecryptSingle": READER,
    "SignInit": READER,
    "VerifyInit": READER,
    "SignUpdate": READER,
    "VerifyUpdate": READER,
    "SignFinal": READER,
    "VerifyFinal": READER,
    "Sign": READER,
    "Verify": READER,
    "SignSingle": READER,
    "VerifySingle": READER,
    "ReencryptSingle": READER,
    "GenerateKey": WRITER,
    "GenerateKeyPair": WRITER,
    "WrapKey": READER,
    "UnwrapKey": READER,
    "DeriveKey": WRITER,
    "GetMechanismList": READER,
    "GetMechanismInfo": READER,
    "GetAttributeValue": READER,
    "SetAttributeValue": READER,
    "Login": READER,
    "Logout": READER,
    "RewrapKeyBlob": READER,
}

BEARER_PREFIX = "bearer "


class CallRejected(Exception):
    """A call failed authentication (UNAUTHENTICATED) or authorization (PERMISSION_DENIED)."""

    def __init__(self, status_code: grpc.StatusCode, detail: str):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def role_allows(roles: FrozenSet[str], required: str) -> bool:
    """Return whether any of ``roles`` grants ``required``; Reader < Writer < Manager."""
    return any(role in roles for role in ROLE_ORDER[ROLE_ORDER.index(required) :])


def bearer_token(metadata) -> Optional[str]:
    """Return the token of the ``authorization: Bearer <token>`` entry, or None when absent."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            if value[: len(BEARER_PREFIX)].lower() == BEARER_PREFIX:
                token = value[len(BEARER_PREFIX) :].strip()
                return token or None
            return None
    return None


class AuthInterceptor(grpc.ServerInterceptor):
    """Check the client certificate on every port and, with a ``token_service``, IAM on TLS.

    ``token_service`` is a ``certmgr.iam.TokenService``, or None to turn IAM off. ``tls`` is
    True for the interceptor of the gRPC server behind the TLS front end.
    """

    def __init__(
        self,
        certificate_policy: ClientCertificatePolicy,
        registry: PeerRegistry,
        token_service,
        tls: bool,
    ):
        self._certificate_policy = certificate_policy
        self._registry = registry
        self._token_service = token_service
        self._tls = tls
        # The guarded handler of each method, with the handler it wraps. grpcio runs this
        # interceptor on the one thread that dispatches every call, so the handler is built
        # once per method instead of once per call.
        self._guarded: Dict[str, Tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        cached = self._guarded.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        rpc = method.rsplit("/", 1)[-1]

        def check(context: grpc.ServicerContext) -> None:
            try:
                self.authenticate(rpc, context.invocation_metadata(), context.peer())
            except CallRejected as rejection:
                context.abort_with_status(
                    grep11_status(
                        CKR.IBM_GREP11_NOT_AUTHENTICATED, rejection.detail, rejection.status_code
                    )
                )

        guarded = _guarded_handler(handler, check)
        self._guarded[method] = (handler, guarded)
        return guarded

    def authenticate(self, rpc: str, metadata, peer_name: str) -> None:
        """Raise ``CallRejected`` unless a call of ``rpc`` from ``peer_name`` may run."""
        peer = None
        if self._tls:
            peer = self._registry.lookup(peer_name) or PeerCertificates(chain=(), address=peer_name)
        client = peer.address if peer is not None else peer_name
        unauthenticated = grpc.StatusCode.UNAUTHENTICATED
        reason = self._certificate_policy.check(peer)
        if reason is not None:
            raise _rejection(unauthenticated, rpc, client, reason)
        if self._token_service is None or not self._tls:
            return
        token = bearer_token(metadata)
        if token is None:
            reason = "missing IAM token: send the metadata entry authorization: Bearer <token>"
            raise _rejection(unauthenticated, rpc, client, reason)
        try:
            identity = self._token_service.verify(token)
        except IAMError as error:
            raise _rejection(unauthenticated, rpc, client, f"invalid IAM token: {error}") from None
        required = RPC_ROLES.get(rpc)
        if required is None or not role_allows(identity.roles, required):
            needed = f"the {required} role or higher" if required else "a role table entry"
            granted = ", ".join(sorted(identity.roles)) or "no role"
            reason = (
                f"IAM identity {identity.name} may not call {rpc}: it needs {needed}, "
                f"has {granted}"
            )
            raise _rejection(grpc.StatusCode.PERMISSION_DENIED, rpc, client, reason)


def _rejection(status_code: grpc.StatusCode, rpc: str, client: str, reason: str) -> CallRejected:
    """Log a rejected call and return the exception that aborts it."""
    logger.info("%s from %s rejected with %s: %s", rpc, client, status_code.name, reason)
    return CallRejected(status_code, reason)


# grpc.RpcMethodHandler attribute of each call shape, and the factory that builds a handler of
# that shape. Every shape passes (request or request iterator, context) to its behaviour.
_HANDLER_SHAPES = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)


class MalformedRequest:
    """Stands in for a request whose bytes did not parse as the RPC's protobuf message."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


def _tolerant(deserializer: Optional[Callable]) -> Optional[Callable]:
    """Wrap a request deserializer so that bad bytes give a ``MalformedRequest``.

    grpcio answers a failing deserializer with INTERNAL and a logged traceback, which carries
    no Grep11Error; the guarded handler turns the stand-in into CKR_IBM_GREP11_CANNOT_UNMARSHAL.
    """
    if deserializer is None:
        return None

    def deserialize(data: bytes):
        try:
            return deserializer(data)
        except Exception as error:  # any parse failure of untrusted bytes
            return MalformedRequest(type(error).__name__)

    return deserialize


def _guarded_handler(handler: grpc.RpcMethodHandler, check: Callable) -> grpc.RpcMethodHandler:
    """Return ``handler`` with ``check(context)`` run before its behaviour."""
    for attribute, factory in _HANDLER_SHAPES:
        behaviour = getattr(handler, attribute)
        if behaviour is None:
            continue

        def guarded(request, context, behaviour=behaviour):
            check(context)
            if isinstance(request, MalformedRequest):
                logger.info("rejected a request that is not valid protobuf (%s)", request.reason)
                context.abort_with_status(
                    grep11_status(
                        CKR.IBM_GREP11_CANNOT_UNMARSHAL,
                        "the request bytes are not a valid protobuf message for this RPC",
                    )
                )
            return behaviour(request, context)

        return factory(
            guarded,
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    return handler
