"""Server processes that the runner starts and stops itself, on 127.0.0.1 only.

Each server runs in its own process, so the load generator and the server do not share a GIL.
``cpus`` pins a server to a set of CPUs (``os.sched_setaffinity``) for the scaling figure.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Sequence

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 120.0
# The folder that contains the benchmarks package, so server processes import this tree.
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ServerProcess:
    """A started server process and the loopback address from its ready file."""

    def __init__(self, name: str, command: List[str], folder: str, cpus: Optional[Sequence[int]]):
        self.name = name
        self.folder = folder
        self.ready_file = os.path.join(folder, "ready.json")
        self.log_path = os.path.join(folder, "server.log")
        self.cpus = sorted(cpus) if cpus else sorted(os.sched_getaffinity(0))
        self._log = open(self.log_path, "wb")
        affinity = set(self.cpus)
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            part for part in (SOURCE_ROOT, environment.get("PYTHONPATH")) if part
        )
        self.process = subprocess.Popen(
            [*command, "--ready-file", self.ready_file],
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.sched_setaffinity(0, affinity),
        )
        self.address = self._wait_ready()

    def _wait_ready(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"the {self.name} server exited with status {self.process.returncode}: "
                    f"{self._log_tail()}"
                )
            if os.path.exists(self.ready_file):
                with open(self.ready_file) as handle:
                    document = json.load(handle)
                return document.get("grep11") or document["address"]
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"the {self.name} server did not start within {START_TIMEOUT_SECONDS:.0f} s"
        )

    def cpu_seconds(self) -> float:
        """Return the user and system CPU time of the server process so far, in seconds."""
        with open(f"/proc/{self.process.pid}/stat") as handle:
            # The fields after the parenthesised command name; utime and stime are 14 and 15.
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _log_tail(self) -> str:
        with open(self.log_path, "rb") as handle:
            return handle.read()[-2000:].decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _serve_flags() -> List[str]:
    """Return the port flags of ``grep11-emulator serve`` that pick free ports."""
    from grpc_server.cli import build_parser

    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]
    known = {option for action in serve._actions for option in action.option_strings}
    flags = ["--host", HOST, "--port", "0", "--tls-port", "0"]
    # Every other listening port of the serve command also gets a free port, never a fixed one.
    for option in ("--http-port",):
        if option in known:
            flags += [option, "0"]
    return flags


def start_grep11(cpus: Optional[Sequence[int]] = None) -> ServerProcess:
    """Start ``grep11-emulator serve`` on free loopback ports with a temporary state folder."""
    folder = tempfile.mkdtemp(prefix="grep11-bench-server-")
    state_dir = os.path.join(folder, "state")
    command = [
        sys.executable,
        "-m",
        "grpc_server.cli",
        "serve",
        "--state-dir",
        state_dir,
        *_serve_flags(),
        "--log-level",
        "WARNING",
    ]
    return ServerProcess("GREP11", command, folder, cpus)


def start_empty(cpus: Optional[Sequence[int]] = None) -> ServerProcess:
    """Start the empty-RPC baseline server (``benchmarks.empty_server``) on 127.0.0.1."""
    folder = tempfile.mkdtemp(prefix="grep11-bench-empty-")
    command = [sys.executable, "-m", "benchmarks.empty_server"]
    return ServerProcess("empty-RPC", command, folder, cpus)
