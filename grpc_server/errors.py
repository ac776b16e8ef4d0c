"""The one place where failures become GREP11 gRPC errors.

A call that fails in the engine ends with gRPC status UNKNOWN, the CKR name (for example
``CKR_SIGNATURE_INVALID``) as the status message, and a ``grpc-status-details-bin`` trailer
containing a ``google.rpc.Status`` with exactly one detail: an ``Any`` that packs
``grep11.Grep11Error{Code, Detail, Retry}``. IBM's Go client decodes exactly this form; anything
else it turns into a synthetic CKR_GENERAL_ERROR.

Calls rejected before they reach the engine (no valid client certificate, a missing or invalid
IAM token, an IAM role that does not allow the RPC) use the same form with another gRPC status:
UNAUTHENTICATED or PERMISSION_DENIED (see ``grpc_server.auth``).

A slow call (``grpc_server.lowpriority``) that finds the server's slow-call queue full is
rejected before it waits, with gRPC status RESOURCE_EXHAUSTED and ``CKR_DEVICE_MEMORY``: no
PKCS #11 code means "busy", and CKR_DEVICE_MEMORY is the one for a device that lacks the
resources for a call. Its ``Retry`` is true, because the same call can succeed once the queue
drains; every other error has ``Retry`` false.
"""

import functools
import inspect
import logging

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2
from grpc_status import rpc_status

from ep11core.constants import CKR, ckr_name
from ep11core.errors import PKCS11Error
from grpc_server.generated import grep11_pb2
from grpc_server.lowpriority import SlowCallCancelled, SlowCallRejected

logger = logging.getLogger(__name__)

MAX_DETAIL_CHARS = 1024


def grep11_status(
    code: int,
    detail: str,
    status_code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
    retry: bool = False,
) -> grpc.Status:
    """Build the gRPC status ``status_code`` for the CK_RV ``code``, with one ``Grep11Error``."""
    name = ckr_name(code)
    if len(detail) > MAX_DETAIL_CHARS:
        # The status travels in a trailer, which grpcio clients cap at 16 KiB; a detail that
        # quotes a huge request value must not push the Grep11Error past that cap.
        detail = detail[: MAX_DETAIL_CHARS - 3] + "..."
    packed = any_pb2.Any()
    packed.Pack(grep11_pb2.Grep11Error(Code=code, Detail=detail, Retry=retry))
    status = status_pb2.Status(code=status_code.value[0], message=name, details=[packed])
    return rpc_status.to_status(status)


def grep11_errors(method):
    """Decorate a servicer method ``method(self, request)`` as a gRPC handler.

    The handler takes ``(self, request, context)``, and passes ``context`` on to a method that
    declares a ``context`` parameter. A ``PKCS11Error`` aborts the call with its code. Any other
    exception is logged with its traceback and aborts the call with CKR_GENERAL_ERROR, so no
    exception leaves a handler without a ``Grep11Error`` detail.
    """
    rpc_name = method.__name__
    takes_context = "context" in inspect.signature(method).parameters

    @functools.wraps(method)
    def handler(self, request, context):
        try:
            if takes_context:
                return method(self, request, context)
            return method(self, request)
        except SlowCallRejected as error:
            # lowpriority logs the rejections, rate-limited, so a flood does not flood the log.
            status = grep11_status(
                CKR.DEVICE_MEMORY, str(error), grpc.StatusCode.RESOURCE_EXHAUSTED, retry=True
            )
            context.abort_with_status(status)
        except SlowCallCancelled as error:
            # The client has gone, so no one receives this status. It only ends the handler.
            logger.info("%s ended early: %s", rpc_name, error)
            context.abort_with_status(grep11_status(CKR.FUNCTION_CANCELED, str(error)))
        except PKCS11Error as error:
            # The detail is the engine's sentence, which by contract never contains key material.
            logger.info("%s failed: %s %s", rpc_name, error.name, error.detail)
            context.abort_with_status(grep11_status(error.code, error.detail))
        except Exception:
            # The traceback carries no local variables, so no key bytes reach the log.
            logger.exception("%s failed with an unexpected error", rpc_name)
            detail = f"internal error in {rpc_name}; see the server log"
            context.abort_with_status(grep11_status(CKR.GENERAL_ERROR, detail))

    return handler
