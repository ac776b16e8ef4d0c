"""A gRPC server with one empty unary method, the baseline of the server benchmarks.

It uses the grpcio server configuration of the GREP11 server (thread pool size and channel
options) without its servicer and interceptors, so ``GREP11 rps / empty rps`` is the share of
the gRPC framework's throughput that the GREP11 layer keeps. Run it as
``python -m benchmarks.empty_server --ready-file PATH``; it listens on a free port of 127.0.0.1,
writes ``{"address": "127.0.0.1:PORT"}`` to the ready file and serves until SIGTERM or SIGINT.
"""

import argparse
import json
import os
import signal
import threading
from concurrent import futures

import grpc
from google.protobuf import empty_pb2

# NOTE: _SERVER_OPTIONS is private to grpc_server.server; the baseline reads it so the two
# servers cannot drift apart.
from grpc_server.lowpriority import DEFAULT_QUEUE_SIZE
from grpc_server.server import _SERVER_OPTIONS, DEFAULT_MAX_WORKERS

# The default pool size of the GREP11 server: its call threads plus one per slow call it admits,
# one slow-call thread per CPU and DEFAULT_QUEUE_SIZE waiting.
GREP11_POOL_SIZE = DEFAULT_MAX_WORKERS + (os.cpu_count() or 1) + DEFAULT_QUEUE_SIZE

SERVICE = "bench.Empty"
METHOD = f"/{SERVICE}/Call"


def _empty_call(request, context):
    return empty_pb2.Empty()


def build_server(max_workers: int = GREP11_POOL_SIZE) -> grpc.Server:
    """Return an unstarted grpc.Server that serves ``METHOD`` with an empty response."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="empty"),
        options=_SERVER_OPTIONS,
    )
    handler = grpc.unary_unary_rpc_method_handler(
        _empty_call,
        request_deserializer=empty_pb2.Empty.FromString,
        response_serializer=empty_pb2.Empty.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Call": handler}),)
    )
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ready-file", required=True, help="path of the JSON ready file")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = build_server()
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    temporary = f"{args.ready_file}.tmp"
    with open(temporary, "w") as handle:
        json.dump({"address": f"127.0.0.1:{port}"}, handle)
    os.replace(temporary, args.ready_file)
    stop.wait()
    server.stop(None).wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
