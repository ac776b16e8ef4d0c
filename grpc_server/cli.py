"""The ``grep11-emulator`` command.

``grep11-emulator serve`` runs the GREP11 server and the certificate-manager HTTPS API in the
foreground until SIGINT or SIGTERM, then stops cleanly with exit status 0. Exit status 2 means
that the state folder or the IAM API keys file is unusable, for example a corrupt master key
file, which is never replaced. Exit status 1 means that a port could not be bound or the ready
file could not be written.

``grep11-emulator masterkey`` runs the master key rotation steps on the master key file of a
state folder, with the server running or stopped (``grpc_server.masterkeycli``).

``grep11-emulator bench`` drives a running server at the address it is given with concurrent
clients and reports throughput and latency percentiles (``grpc_server.loadgen``).
"""

import argparse
import json
import logging
import os
import secrets
import shlex
import signal
import sys
import threading
from typing import TYPE_CHECKING

from ep11core.masterkey import MasterKeyError, NewKeyState, Registers
from ep11core.policy import PolicyError
from grpc_server import loadgen, masterkeycli
from grpc_server.lowpriority import DEFAULT_MAX_WORKERS, DEFAULT_QUEUE_SIZE

if TYPE_CHECKING:
    from grpc_server.server import EmulatorServer

logger = logging.getLogger("grep11_emulator")

PROGRAM = "grep11-emulator"
STATE_DIR_VARIABLE = "GREP11_EMULATOR_STATE_DIR"
EXIT_START_ERROR = 1
EXIT_STATE_ERROR = 2
# Calls still running at shutdown get this long to finish before they are cancelled.
STOP_GRACE_SECONDS = 5.0


def default_state_dir() -> str:
    """Return $GREP11_EMULATOR_STATE_DIR, else $XDG_STATE_HOME/grep11-emulator.

    Without either variable the XDG default ~/.local/state/grep11-emulator applies.
    """
    configured = os.environ.get(STATE_DIR_VARIABLE)
    if configured:
        return configured
    state_home = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(state_home, PROGRAM)


def write_ready_file(path: str, server: "EmulatorServer") -> None:
    """Write the addresses and the CA path as JSON to ``path`` through a rename."""
    document = {
        "grep11": server.address,
        "grep11_tls": server.tls_address,
        "http": server.http_address,
        "ca_cert": os.path.abspath(server.ca_cert_path),
    }
    temporary = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    with open(temporary, "w") as handle:
        json.dump(document, handle)
        handle.write("\n")
    os.replace(temporary, path)


def port_number(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is invalid: expected 0 to 65535")
    return port


def count_argument(minimum: int):
    """Return an argparse type that accepts whole numbers from ``minimum`` up."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is invalid: expected {minimum} or more")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description="Software emulator of an IBM EP11 HSM behind the GREP11 gRPC API."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the GREP11 server until SIGINT or SIGTERM",
        description="Serve GREP11 on a plaintext port and a TLS port until SIGINT or SIGTERM.",
    )
    serve.add_argument(
        "--state-dir",
        default=None,
        help=f"folder of the master key and the TLS files (default: ${STATE_DIR_VARIABLE}, "
        f"else $XDG_STATE_HOME/{PROGRAM}, else ~/.local/state/{PROGRAM})",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=port_number,
        default=9876,
        help="plaintext port; 0 picks a free port (default: 9876)",
    )
    serve.add_argument(
        "--tls-port", type=port_number, default=9877, help="TLS port; 0 picks a free port (default: 9877)"
    )
    serve.add_argument(
        "--http-port",
        type=port_number,
        default=9878,
        help="HTTPS port of the certificate manager and of POST /identity/token; 0 picks a free "
        "port (default: 9878)",
    )
    serve.add_argument(
        "--iam",
        metavar="PATH",
        default=None,
        help="API keys file that turns IAM on: calls on the TLS port then need an "
        "'authorization: Bearer <token>' entry whose roles allow the RPC (default: IAM off)",
    )
    serve.add_argument(
        "--policy",
        metavar="PATH",
        default=None,
        help="JSON policy file of control points and disabled mechanisms (default: "
        "policy.json in the state folder if it exists, else every control point on)",
    )
    serve.add_argument(
        "--call-threads",
        type=count_argument(1),
        default=DEFAULT_MAX_WORKERS,
        metavar="N",
        help="gRPC worker threads that slow calls can never occupy; the thread pool has this "
        "many plus one for each slow call that may run or wait (--slow-call-threads and "
        f"--slow-call-queue) (default: {DEFAULT_MAX_WORKERS})",
    )
    serve.add_argument(
        "--slow-call-threads",
        type=count_argument(0),
        default=0,
        metavar="N",
        help="slow calls (RSA key pair generation, DSA parameter generation, BLS aggregation) "
        "that run at once, "
        "on threads of lower CPU priority; 0 means one per CPU (default: 0)",
    )
    serve.add_argument(
        "--slow-call-queue",
        type=count_argument(0),
        default=DEFAULT_QUEUE_SIZE,
        metavar="N",
        help="slow calls that may wait for a slow-call thread; a slow call beyond that fails at "
        "once with RESOURCE_EXHAUSTED and CKR_DEVICE_MEMORY, and a waiting call whose client "
        f"gives up never starts (default: {DEFAULT_QUEUE_SIZE})",
    )
    serve.add_argument(
        "--ready-file",
        default=None,
        help='once serving, write {"grep11", "grep11_tls", "http", "ca_cert"} as JSON to this '
        "path; it is removed on a clean stop",
    )
    serve.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="minimum level of the log lines on stderr (default: INFO)",
    )
    serve.set_defaults(run=serve_command)

    rotation = commands.add_parser(
        "masterkey",
        help="rotate the master key: status, load-new, commit, finalize, discard",
        description="Run a master key rotation step on the master key file of a state folder. "
        "A running server on that folder follows the change without a restart.",
    )
    masterkeycli.add_arguments(rotation)
    rotation.set_defaults(run=masterkey_command)

    bench = commands.add_parser(
        "bench",
        help="drive a running GREP11 server with concurrent clients and report its throughput",
        description="Send one kind of call to the GREP11 server at --address from concurrent "
        "clients for a bounded count or time, then report throughput and latency percentiles.",
    )
    loadgen.add_arguments(bench)
    bench.set_defaults(run=loadgen.bench_command)
    return parser


def masterkey_command(args: argparse.Namespace) -> int:
    return masterkeycli.run(args, os.path.abspath(args.state_dir or default_state_dir()))


def log_rotation_state(registers: Registers, state_dir: str) -> None:
    """Log a master key rotation that is in progress at start, with the next operator step."""
    if registers.new_state is NewKeyState.COMMITTED:
        logger.warning(
            "master key rotation in progress: the new master key (WKID %s) is committed, so "
            "every call except RewrapKeyBlob fails with CKR_FUNCTION_CANCELED. Rewrap the "
            "stored key blobs with RewrapKeyBlob, then run 'grep11-emulator masterkey finalize "
            "--state-dir %s', or 'masterkey discard' to cancel the rotation",
            registers.new.wkid.hex(),
            shlex.quote(state_dir),
        )
    elif registers.new_state is NewKeyState.PENDING:
        logger.info(
            "master key rotation in progress: the new master key (WKID %s) is pending, and "
            "calls work as before. Next: 'grep11-emulator masterkey commit --state-dir %s', or "
            "'masterkey discard' to cancel the rotation",
            registers.new.wkid.hex(),
            shlex.quote(state_dir),
        )


def serve_command(args: argparse.Namespace) -> int:
    # Imported here so that the other subcommands (masterkey, bench) start without the HTTP
    # stack, whose import took about 1.5 s of a 2.5 s start on a busy 2-core machine.
    from grpc_server.authservices import AuthServicesError
    from grpc_server.server import EmulatorServer, ServerStartError
    from grpc_server.tlscerts import TLSFilesError

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    state_dir = os.path.abspath(args.state_dir or default_state_dir())
    stop_requested = threading.Event()
    received = []

    def request_stop(signal_number, frame):
        received.append(signal.Signals(signal_number).name)
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    server = EmulatorServer(
        state_dir,
        host=args.host,
        port=args.port,
        tls_port=args.tls_port,
        http_port=args.http_port,
        iam_config_path=args.iam,
        policy_path=args.policy,
        max_workers=args.call_threads,
        slow_call_threads=args.slow_call_threads,
        slow_call_queue=args.slow_call_queue,
    )
    try:
        server.start()
    except (MasterKeyError, PolicyError, TLSFilesError, AuthServicesError, OSError) as error:
        logger.error("cannot start with state dir %s: %s", state_dir, error)
        return EXIT_STATE_ERROR
    except ServerStartError as error:
        logger.error("cannot start: %s", error)
        return EXIT_START_ERROR

    registers = server.engine.registers
    logger.info(
        "serving GREP11 on %s (plaintext) and %s (TLS), the certificate manager on https://%s "
        "(IAM %s); state dir %s; %s",
        server.address,
        server.tls_address,
        server.http_address,
        "on" if args.iam else "off",
        state_dir,
        registers.describe(),
    )
    log_rotation_state(registers, state_dir)
    logger.info("policy: %s", server.policy.describe())
    logger.info(
        "threads: %d for calls, %d for slow calls, with a queue of %d slow calls",
        server.max_workers,
        server.slow_calls.threads,
        server.slow_calls.queue_size,
    )
    if args.ready_file:
        try:
            write_ready_file(args.ready_file, server)
        except OSError as error:
            logger.error("cannot write the ready file %s: %s", args.ready_file, error)
            server.stop(None)
            return EXIT_START_ERROR

    stop_requested.wait()
    logger.info("stopping on %s", received[0])
    server.stop(STOP_GRACE_SECONDS)
    if args.ready_file and os.path.exists(args.ready_file):
        os.unlink(args.ready_file)
    logger.info("stopped")
    return 0


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
