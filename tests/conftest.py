"""Shared helpers of the GREP11 server tests.

The fixtures come from ``grpc_server.pytest_plugin``. An installed grep11-emulator registers it
through its pytest11 entry point; in a source checkout on PYTHONPATH it is registered here.
"""

import grpc
import pytest
from grpc_status import rpc_status

from ep11core.constants import ckr_name
from grpc_server.generated import grep11_pb2

GREP11_ERROR_TYPE_URL = "type.googleapis.com/grep11.Grep11Error"


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("grep11_emulator"):
        config.pluginmanager.import_plugin("grpc_server.pytest_plugin")


def grep11_error(error: grpc.RpcError):
    """Return the ``google.rpc.Status`` and the unpacked ``Grep11Error`` of a failed call.

    Asserts the GREP11 error form: status UNKNOWN, the same message in the status trailer, and
    exactly one detail, a ``grep11.Grep11Error``.
    """
    assert error.code() == grpc.StatusCode.UNKNOWN
    status = rpc_status.from_call(error)
    assert status is not None, "the grpc-status-details-bin trailer is missing"
    assert status.code == grpc.StatusCode.UNKNOWN.value[0]
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
