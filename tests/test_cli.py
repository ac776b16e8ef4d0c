"""``grep11-emulator serve`` as a real subprocess: ready file, signals, restarts, bad state."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import grpc
import pytest

from ep11core.constants import CKA, CKM
from grpc_server.cli import default_state_dir
from grpc_server.generated import grep11_pb2 as pb
from grpc_server.generated import grep11_pb2_grpc

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
PLAINTEXT = b"survives a restart"


def emulator_command() -> list:
    """Return the installed console script next to this Python, else ``python -m``."""
    script = os.path.join(os.path.dirname(sys.executable), "grep11-emulator")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "grpc_server.cli"]


class EmulatorProcess:
    """A ``grep11-emulator serve`` subprocess on free loopback ports, with stderr in a file."""

    def __init__(self, tmp_path, state_dir, name="emulator", arguments=()):
        self.state_dir = state_dir
        self.arguments = list(arguments)
        self.ready_file = tmp_path / f"{name}-ready.json"
        self.log_file = tmp_path / f"{name}.log"
        self.process = None

    def start(self) -> None:
        command = emulator_command() + [
            "serve",
            "--state-dir", str(self.state_dir),
            "--port", "0",
            "--tls-port", "0",
            "--http-port", "0",
            "--ready-file", str(self.ready_file),
            *self.arguments,
        ]
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> dict:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.ready_file.exists():
            if self.process.poll() is not None:
                pytest.fail(f"the emulator exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no ready file after {START_TIMEOUT_SECONDS} s:\n{self.log()}")
            time.sleep(0.05)
        return json.loads(self.ready_file.read_text())

    def stop(self, signal_number=signal.SIGTERM) -> int:
        self.process.send_signal(signal_number)
        return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def wait_exit(self) -> int:
        return self.process.wait(timeout=START_TIMEOUT_SECONDS)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def emulator_processes(tmp_path):
    """Factory of emulator subprocesses; any still running at the end of the test are killed."""
    started = []

    def start(state_dir, name="emulator", arguments=()):
        emulator = EmulatorProcess(tmp_path, state_dir, name, arguments)
        emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.kill()


def logged_wkid(log: str) -> str:
    match = re.search(r"WKID ([0-9a-f]{32})", log)
    assert match, f"no WKID in the start log line:\n{log}"
    return match.group(1)


def test_ready_file_contents(tmp_path, emulator_processes):
    emulator = emulator_processes(tmp_path / "state")
    ready = emulator.wait_ready()

    assert set(ready) == {"grep11", "grep11_tls", "http", "ca_cert"}
    host, port = ready["grep11"].rsplit(":", 1)
    tls_host, tls_port = ready["grep11_tls"].rsplit(":", 1)
    http_host, http_port = ready["http"].rsplit(":", 1)
    assert host == tls_host == http_host == "127.0.0.1"
    assert int(port) > 0
    assert int(tls_port) > 0
    assert int(http_port) > 0
    assert len({port, tls_port, http_port}) == 3
    assert os.path.isabs(ready["ca_cert"])
    assert os.path.dirname(ready["ca_cert"]) == str(tmp_path / "state" / "tls")
    assert emulator.stop() == 0


def test_ready_file_addresses_serve(tmp_path, emulator_processes):
    emulator = emulator_processes(tmp_path / "state")
    ready = emulator.wait_ready()

    with grpc.insecure_channel(ready["grep11"]) as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        assert len(stub.GenerateRandom(pb.GenerateRandomRequest(Len=8)).Rnd) == 8

    with open(ready["ca_cert"], "rb") as handle:
        credentials = grpc.ssl_channel_credentials(root_certificates=handle.read())
    with grpc.secure_channel(ready["grep11_tls"], credentials) as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        assert len(stub.GenerateRandom(pb.GenerateRandomRequest(Len=8)).Rnd) == 8
    assert emulator.stop() == 0


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(tmp_path, emulator_processes, signal_number):
    emulator = emulator_processes(tmp_path / "state")
    emulator.wait_ready()

    assert emulator.stop(signal_number) == 0
    log = emulator.log()
    assert "Traceback" not in log
    assert f"stopping on {signal_number.name}" in log
    assert "stopped" in log
    assert not emulator.ready_file.exists()


def test_log_names_http_server_lines(tmp_path, emulator_processes):
    emulator = emulator_processes(tmp_path / "state")
    emulator.wait_ready()
    assert emulator.stop() == 0

    log = emulator.log()
    for line in ("Started server process", "Shutting down", "Finished server process"):
        assert f"INFO certmgr.http.server: {line}" in log
    assert "uvicorn" not in log


def test_log_never_contains_master_key(tmp_path, emulator_processes):
    emulator = emulator_processes(tmp_path / "state")
    emulator.wait_ready()
    assert emulator.stop() == 0

    with open(tmp_path / "state" / "master-key.json") as handle:
        key_hex = json.load(handle)["current"]["key"]
    log = emulator.log()
    assert key_hex.lower() not in log.lower()
    assert logged_wkid(log)


def test_restart_keeps_wkid_and_key_blobs(tmp_path, emulator_processes):
    state_dir = tmp_path / "state"
    iv = bytes(16)
    mechanism = pb.Mechanism(Mechanism=CKM.AES_CBC_PAD, ParameterB=iv)

    first = emulator_processes(state_dir, "first")
    ready = first.wait_ready()
    with grpc.insecure_channel(ready["grep11"]) as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        key = stub.GenerateKey(
            pb.GenerateKeyRequest(
                Mech=pb.Mechanism(Mechanism=CKM.AES_KEY_GEN),
                Template={CKA.VALUE_LEN: pb.AttributeValue(AttributeI=32)},
            )
        )
        ciphered = stub.EncryptSingle(
            pb.EncryptSingleRequest(Mech=mechanism, Key=key.Key, Plain=PLAINTEXT)
        ).Ciphered
    assert first.stop() == 0
    master_key_before = (state_dir / "master-key.json").read_bytes()
    ca_before = (state_dir / "tls" / "ca.pem").read_bytes()

    second = emulator_processes(state_dir, "second")
    ready = second.wait_ready()
    with grpc.insecure_channel(ready["grep11"]) as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        plain = stub.DecryptSingle(
            pb.DecryptSingleRequest(Mech=mechanism, Key=key.Key, Ciphered=ciphered)
        ).Plain
        key_wkid = stub.GetAttributeValue(
            pb.GetAttributeValueRequest(
                Object=key.KeyBytes, AttributesBytes={CKA.GREP11_WKID: b""}
            )
        ).AttributesBytes[CKA.GREP11_WKID]
    assert second.stop() == 0

    assert plain == PLAINTEXT
    assert logged_wkid(first.log()) == logged_wkid(second.log())
    assert key_wkid.hex() == logged_wkid(second.log())
    assert (state_dir / "master-key.json").read_bytes() == master_key_before
    assert (state_dir / "tls" / "ca.pem").read_bytes() == ca_before


def test_log_names_created_master_key(tmp_path, emulator_processes):
    state_dir = tmp_path / "state"
    first = emulator_processes(state_dir, "first")
    first.wait_ready()
    assert first.stop() == 0
    second = emulator_processes(state_dir, "second")
    second.wait_ready()
    assert second.stop() == 0

    wkid = logged_wkid(first.log())
    created = (
        f"created the master key file {state_dir / 'master-key.json'} with a random master "
        f"key, WKID {wkid}"
    )
    assert created in first.log()
    assert "created the master key file" not in second.log()
    assert f"WKID {wkid}, new register empty" in second.log()
    assert "master key rotation in progress" not in second.log()


def test_thread_options_reach_server(tmp_path, emulator_processes):
    arguments = ["--call-threads", "4", "--slow-call-threads", "1", "--slow-call-queue", "0"]
    emulator = emulator_processes(tmp_path / "state", arguments=arguments)
    ready = emulator.wait_ready()

    # With no queue, the one slow call that runs is all the server admits, and it succeeds.
    request = pb.GenerateKeyPairRequest(
        Mech=pb.Mechanism(Mechanism=CKM.RSA_PKCS_KEY_PAIR_GEN),
        PubKeyTemplate={
            CKA.MODULUS_BITS: pb.AttributeValue(AttributeI=2048),
            CKA.PUBLIC_EXPONENT: pb.AttributeValue(AttributeI=65537),
        },
    )
    with grpc.insecure_channel(ready["grep11"]) as channel:
        stub = grep11_pb2_grpc.CryptoStub(channel)
        assert stub.GenerateKeyPair(request).PrivKeyBytes
    assert emulator.stop() == 0
    log = emulator.log()
    assert "threads: 4 for calls, 1 for slow calls, with a queue of 0 slow calls" in log


@pytest.mark.parametrize("option, value, message", [
    ("--call-threads", "0", "0 is invalid: expected 1 or more"),
    ("--slow-call-threads", "-1", "-1 is invalid: expected 0 or more"),
    ("--slow-call-queue", "many", "'many' is not a whole number"),
])
def test_thread_option_invalid_exits_2(tmp_path, option, value, message):
    command = emulator_command() + ["serve", "--state-dir", str(tmp_path / "state"), option, value]
    result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS)
    assert result.returncode == 2
    assert f"argument {option}: {message}" in result.stderr
    assert not (tmp_path / "state").exists()


def test_corrupt_master_key_exits_2(tmp_path, emulator_processes):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    key_file = state_dir / "master-key.json"
    corrupt = b'{"format": 1, "current": {"key": "not hex'
    key_file.write_bytes(corrupt)

    emulator = emulator_processes(state_dir)
    status = emulator.wait_exit()

    log = emulator.log()
    assert status == 2, log
    assert "corrupt" in log
    assert str(key_file) in log
    assert "Traceback" not in log
    assert key_file.read_bytes() == corrupt
    assert not emulator.ready_file.exists()


def test_port_in_use_exits_1(tmp_path, emulator_processes):
    first = emulator_processes(tmp_path / "first-state", "first")
    ready = first.wait_ready()
    busy_port = ready["grep11"].rsplit(":", 1)[1]

    command = emulator_command() + [
        "serve", "--state-dir", str(tmp_path / "second-state"), "--port", busy_port,
        "--tls-port", "0", "--http-port", "0",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS
    )
    assert result.returncode == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{busy_port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert first.stop() == 0


def test_default_state_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("GREP11_EMULATOR_STATE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_dir() == str(tmp_path / "explicit")

    monkeypatch.delenv("GREP11_EMULATOR_STATE_DIR")
    assert default_state_dir() == str(tmp_path / "xdg" / "grep11-emulator")

    monkeypatch.delenv("XDG_STATE_HOME")
    expected = tmp_path / "home" / ".local" / "state" / "grep11-emulator"
    assert default_state_dir() == str(expected)
