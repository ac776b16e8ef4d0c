"""Master key rotation: the register file, RewrapKeyBlob, the refusal window and crash safety.

The engine tests drive ``ep11core.masterkey`` directly. The server tests run
``grep11-emulator serve`` and ``grep11-emulator masterkey`` as subprocesses on one state folder,
with the server running and with it stopped.
"""

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import grpc
import pytest
from conftest import raises_ckr, subprocess_environment

from ep11core import Engine, masterkey
from ep11core.blobs import SPKI_TRAILER_BYTES
from ep11core.constants import CKA, CKM, CKR
from ep11core.masterkey import MasterKey, NewKeyState, Registers, RotationError
from ep11core.types import Mechanism
from grpc_server.client import RemoteEngine

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
CLI_TIMEOUT_SECONDS = 60
P256 = bytes.fromhex("06082a8648ce3d030107")
TEXT = b"encrypted before the rotation"
IV = bytes(range(16))
CBC_PAD = Mechanism(CKM.AES_CBC_PAD, IV)


# --- helpers


def run_masterkey(state_dir, step, *options) -> subprocess.CompletedProcess:
    """Run ``grep11-emulator masterkey STEP`` as a subprocess."""
    command = [sys.executable, "-m", "grpc_server.cli", "masterkey", step, "--state-dir"]
    return subprocess.run(
        command + [str(state_dir), *options],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        env=subprocess_environment(),
        cwd=os.path.dirname(os.path.abspath(state_dir)),
    )


def masterkey_step(state_dir, step, *options) -> str:
    result = run_masterkey(state_dir, step, *options)
    assert result.returncode == 0, f"masterkey {step} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


def cli_status(state_dir) -> dict:
    return json.loads(masterkey_step(state_dir, "status", "--json"))


class ServeProcess:
    """A ``grep11-emulator serve`` subprocess on free loopback ports."""

    def __init__(self, tmp_path, state_dir, name):
        self.state_dir = state_dir
        self.ready_file = tmp_path / f"{name}-ready.json"
        self.log_file = tmp_path / f"{name}.log"
        self.process = None
        self.channel = None

    def start(self) -> RemoteEngine:
        command = [
            sys.executable, "-m", "grpc_server.cli", "serve",
            "--state-dir", str(self.state_dir),
            "--port", "0", "--tls-port", "0", "--http-port", "0",
            "--ready-file", str(self.ready_file),
        ]
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=subprocess_environment(),
                cwd=os.path.dirname(os.path.abspath(self.state_dir)),
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.ready_file.exists():
            if self.process.poll() is not None:
                pytest.fail(f"serve exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no ready file after {START_TIMEOUT_SECONDS} s:\n{self.log()}")
            time.sleep(0.05)
        address = json.loads(self.ready_file.read_text())["grep11"]
        self.channel = grpc.insecure_channel(address)
        return RemoteEngine(self.channel)

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=STOP_TIMEOUT_SECONDS) == 0, self.log()

    def kill(self) -> None:
        if self.channel is not None:
            self.channel.close()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")


@pytest.fixture
def serve(tmp_path):
    """Factory of serve subprocesses; any still running at the end are killed."""
    started = []

    def start(state_dir, name="serve"):
        process = ServeProcess(tmp_path, state_dir, name)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


class Objects:
    """Keys, a ciphertext and a signature made under the master key before a rotation."""

    def __init__(self, hsm):
        self.aes = hsm.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32}).blob
        pair = hsm.generate_key_pair(Mechanism(CKM.EC_KEY_PAIR_GEN), {CKA.EC_PARAMS: P256}, {})
        self.private = pair.private_blob
        self.public = pair.public_blob
        self.ciphertext = hsm.encrypt_single(CBC_PAD, self.aes, TEXT)
        self.signature = hsm.sign_single(Mechanism(CKM.ECDSA_SHA256), self.private, TEXT)

    def blobs(self):
        return (self.aes, self.private, self.public)


def spki_trailer_wkid(public_blob: bytes) -> bytes:
    """Return the WKID field of a MACed SPKI trailer (the first OCTET STRING after the SPKI)."""
    length = public_blob[1]
    if length & 0x80:
        size = length & 0x7F
        end = 2 + size + int.from_bytes(public_blob[2 : 2 + size], "big")
    else:
        end = 2 + length
    return public_blob[end + 2 : end + 2 + 16]


def blob_wkid(blob: bytes) -> bytes:
    return spki_trailer_wkid(blob) if blob[0] == 0x30 else blob[32:48]


def check_rewrapped_work(hsm, objects: Objects, rewrapped) -> None:
    aes, private, public = rewrapped
    assert hsm.decrypt_single(CBC_PAD, aes, objects.ciphertext) == TEXT
    hsm.verify_single(Mechanism(CKM.ECDSA_SHA256), public, TEXT, objects.signature)
    signature = hsm.sign_single(Mechanism(CKM.ECDSA_SHA256), private, TEXT)
    hsm.verify_single(Mechanism(CKM.ECDSA_SHA256), public, TEXT, signature)


# --- the register file


@pytest.fixture
def state_dir(tmp_path):
    directory = tmp_path / "state"
    masterkey.load_or_create(str(directory))
    return directory


@pytest.fixture
def key_file(state_dir) -> str:
    return masterkey.key_file_path(str(state_dir))


def test_new_file_is_format_2(key_file):
    with open(key_file) as handle:
        document = json.load(handle)
    assert document["format"] == 2
    assert "new" not in document
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_format_1_file_migrates(tmp_path):
    state = tmp_path / "old-state"
    state.mkdir()
    key = MasterKey.generate()
    path = masterkey.key_file_path(str(state))
    with open(path, "w") as handle:
        json.dump({"format": 1, "current": {"key": key.key.hex(), "wkid": key.wkid.hex()}}, handle)
    assert masterkey.load_registers(path) == Registers(key)
    new = MasterKey.generate()
    masterkey.load_new(path, new)
    with open(path) as handle:
        document = json.load(handle)
    assert document["format"] == 2
    assert document["current"]["wkid"] == key.wkid.hex()
    assert document["new"] == {"key": new.key.hex(), "wkid": new.wkid.hex(), "state": "pending"}


def test_register_states(key_file):
    current = masterkey.load(key_file)
    new = MasterKey.generate()
    assert masterkey.load_new(key_file, new).new_state is NewKeyState.PENDING
    assert masterkey.commit(key_file).new_state is NewKeyState.COMMITTED
    assert masterkey.load_registers(key_file) == Registers(current, new, committed=True)
    assert masterkey.finalize(key_file) == Registers(new)
    assert masterkey.load(key_file) == new


def _empty(path):
    pass


def _pending(path):
    masterkey.load_new(path, MasterKey.generate())


def _committed(path):
    _pending(path)
    masterkey.commit(path)


STEPS_NOT_ALLOWED = [
    (_empty, masterkey.commit, "commit needs a pending new master key"),
    (_empty, masterkey.finalize, "finalize needs a committed new master key"),
    (_pending, masterkey.finalize, "finalize needs a committed new master key"),
    (_committed, masterkey.commit, "commit needs a pending new master key"),
    (_empty, masterkey.discard, "already empty"),
    (_pending, lambda path: masterkey.load_new(path, MasterKey.generate()), "discard it first"),
]


@pytest.mark.parametrize("setup, step, message", STEPS_NOT_ALLOWED)
def test_step_not_allowed(key_file, setup, step, message):
    setup(key_file)
    before = masterkey.load_registers(key_file)
    with pytest.raises(RotationError, match=message):
        step(key_file)
    assert masterkey.load_registers(key_file) == before


def test_load_current_key_as_new(key_file):
    with pytest.raises(RotationError, match="equals the current one"):
        masterkey.load_new(key_file, masterkey.load(key_file))


def test_discard_pending_and_committed(key_file):
    current = masterkey.load(key_file)
    _pending(key_file)
    assert masterkey.discard(key_file) == Registers(current)
    _committed(key_file)
    assert masterkey.discard(key_file) == Registers(current)


def test_key_parts_combine_by_xor(tmp_path):
    first, second = os.urandom(32), os.urandom(32)
    paths = []
    for index, part in enumerate((first, second)):
        path = tmp_path / f"part{index}.hex"
        # Whitespace between the hex digits is allowed.
        path.write_text(part[:16].hex() + "\n" + part[16:].hex().upper() + "\n")
        paths.append(str(path))
    parts = [masterkey.read_key_part(path) for path in paths]
    expected = bytes(a ^ b for a, b in zip(first, second))
    assert masterkey.key_from_parts(parts).key == expected


def test_bad_key_part_file(tmp_path):
    path = tmp_path / "short.hex"
    path.write_text("00" * 31)
    with pytest.raises(masterkey.MasterKeyError, match="64 hex digits, got 62"):
        masterkey.read_key_part(str(path))
    path.write_text("zz" * 32)
    with pytest.raises(masterkey.MasterKeyError, match="64 hex digits"):
        masterkey.read_key_part(str(path))


def test_zero_key_rejected_by_library(key_file, tmp_path):
    before = open(key_file, "rb").read()
    with pytest.raises(masterkey.MasterKeyError, match="all zeros"):
        masterkey.load_new(key_file, MasterKey(bytes(32)))
    assert open(key_file, "rb").read() == before

    part = os.urandom(32)
    with pytest.raises(masterkey.MasterKeyError, match="2 key part\\(s\\) XOR to an all-zero"):
        masterkey.key_from_parts([part, part])
    with pytest.raises(masterkey.MasterKeyError, match="1 key part\\(s\\) XOR to an all-zero"):
        masterkey.key_from_parts([bytes(32)])
    with pytest.raises(masterkey.MasterKeyError, match="must be 32 bytes, got 31 bytes"):
        masterkey.key_from_parts([part[:31]])
    with pytest.raises(masterkey.MasterKeyError, match="must be 32 bytes, got not bytes"):
        masterkey.key_from_parts([part.hex()])

    new_path = str(tmp_path / "fresh" / "master-key.json")
    os.makedirs(os.path.dirname(new_path))
    with pytest.raises(masterkey.MasterKeyError, match="all zeros"):
        masterkey.write_new(new_path, MasterKey(bytes(32)))
    assert not os.path.exists(new_path)


# --- the engine during a rotation


@pytest.fixture
def engine(key_file) -> Engine:
    return Engine(masterkey.RegisterFile(key_file))


@pytest.fixture
def objects(engine) -> Objects:
    return Objects(engine)


def test_pending_key_changes_nothing(engine, key_file, objects):
    _pending(key_file)
    engine.reload_master_keys()
    assert engine.decrypt_single(CBC_PAD, objects.aes, objects.ciphertext) == TEXT
    with raises_ckr(CKR.IBM_WK_NOT_INITIALIZED) as raised:
        engine.rewrap_key_blob(objects.aes)
    assert "pending" in str(raised.value)


WINDOW_CALLS = {
    "EncryptSingle": lambda hsm, objects: hsm.encrypt_single(CBC_PAD, objects.aes, TEXT),
    "DecryptInit": lambda hsm, objects: hsm.decrypt_init(CBC_PAD, objects.aes),
    "SignSingle": lambda hsm, objects: hsm.sign_single(
        Mechanism(CKM.ECDSA_SHA256), objects.private, TEXT
    ),
    "GenerateKey": lambda hsm, objects: hsm.generate_key(
        Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16}
    ),
    "GenerateRandom": lambda hsm, objects: hsm.generate_random(16),
    "DigestSingle": lambda hsm, objects: hsm.digest_single(Mechanism(CKM.SHA256), TEXT),
    "GetMechanismList": lambda hsm, objects: hsm.get_mechanism_list(),
    "GetAttributeValue": lambda hsm, objects: hsm.get_attribute_value(
        objects.aes, [CKA.VALUE_LEN]
    ),
}


@pytest.mark.parametrize("name", sorted(WINDOW_CALLS))
def test_window_refuses_call(engine, key_file, objects, name):
    _committed(key_file)
    engine.reload_master_keys()
    with raises_ckr(CKR.FUNCTION_CANCELED):
        WINDOW_CALLS[name](engine, objects)


def test_window_runs_rewrap(engine, key_file, objects):
    _committed(key_file)
    engine.reload_master_keys()
    rewrapped = engine.rewrap_key_blob(objects.aes)
    assert len(rewrapped) == len(objects.aes)


def test_rewrap_moves_blobs_to_new_key(engine, key_file, objects):
    _committed(key_file)
    new_wkid = masterkey.load_registers(key_file).new.wkid
    engine.reload_master_keys()
    for blob in objects.blobs():
        rewrapped = engine.rewrap_key_blob(blob)
        assert len(rewrapped) == len(blob)
        assert blob_wkid(blob) == engine.wkid
        assert blob_wkid(rewrapped) == new_wkid
    public_rewrapped = engine.rewrap_key_blob(objects.public)
    spki_length = len(public_rewrapped) - SPKI_TRAILER_BYTES
    assert public_rewrapped[:spki_length] == objects.public[:spki_length]


def test_rewrap_twice_stays_valid(engine, key_file, objects):
    _committed(key_file)
    engine.reload_master_keys()
    once = engine.rewrap_key_blob(objects.aes)
    twice = engine.rewrap_key_blob(once)
    assert len(twice) == len(objects.aes)
    masterkey.finalize(key_file)
    engine.reload_master_keys()
    assert engine.decrypt_single(CBC_PAD, twice, objects.ciphertext) == TEXT


def test_rewrap_plain_spki_unchanged(engine, key_file, objects):
    spki = engine.get_attribute_value(objects.public, [CKA.PUBLIC_KEY_INFO])[CKA.PUBLIC_KEY_INFO]
    _committed(key_file)
    engine.reload_master_keys()
    assert engine.rewrap_key_blob(spki) == spki


def test_rewrap_rejects_bad_blobs(engine, key_file, objects, foreign_engine):
    state = engine.encrypt_init(CBC_PAD, objects.aes)
    foreign = foreign_engine.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 32}).blob
    _committed(key_file)
    engine.reload_master_keys()
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        engine.rewrap_key_blob(foreign)
    corrupted = objects.aes[:-1] + bytes([objects.aes[-1] ^ 1])
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        engine.rewrap_key_blob(corrupted)
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        engine.rewrap_key_blob(state)
    with raises_ckr(CKR.KEY_HANDLE_INVALID):
        engine.rewrap_key_blob(b"")


def test_finalize_retires_old_blobs(engine, key_file, objects):
    _committed(key_file)
    new_wkid = masterkey.load_registers(key_file).new.wkid
    engine.reload_master_keys()
    rewrapped = [engine.rewrap_key_blob(blob) for blob in objects.blobs()]
    masterkey.finalize(key_file)
    engine.reload_master_keys()
    assert engine.wkid == new_wkid
    check_rewrapped_work(engine, objects, rewrapped)
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        engine.decrypt_single(CBC_PAD, objects.aes, objects.ciphertext)
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        engine.sign_single(Mechanism(CKM.ECDSA_SHA256), objects.private, TEXT)
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        engine.verify_single(
            Mechanism(CKM.ECDSA_SHA256), objects.public, TEXT, objects.signature
        )


def test_finalize_drops_cached_keys(engine, key_file, objects):
    # The first use puts the key into the engine's cache of opened blobs.
    assert engine.decrypt_single(CBC_PAD, objects.aes, objects.ciphertext) == TEXT
    _committed(key_file)
    masterkey.finalize(key_file)
    engine.reload_master_keys()
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        engine.decrypt_single(CBC_PAD, objects.aes, objects.ciphertext)


def test_state_blob_after_finalize(engine, key_file, objects):
    state = engine.decrypt_init(CBC_PAD, objects.aes)
    _committed(key_file)
    masterkey.finalize(key_file)
    engine.reload_master_keys()
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        engine.decrypt(state, objects.ciphertext)


def test_discard_after_rewrap(engine, key_file, objects):
    _committed(key_file)
    engine.reload_master_keys()
    rewrapped = engine.rewrap_key_blob(objects.aes)
    masterkey.discard(key_file)
    engine.reload_master_keys()
    assert engine.decrypt_single(CBC_PAD, objects.aes, objects.ciphertext) == TEXT
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        engine.decrypt_single(CBC_PAD, rewrapped, objects.ciphertext)


def test_engine_follows_file_by_itself(engine, key_file, objects):
    _committed(key_file)
    time.sleep(masterkey.RELOAD_INTERVAL_SECONDS)
    with raises_ckr(CKR.FUNCTION_CANCELED):
        engine.encrypt_single(CBC_PAD, objects.aes, TEXT)


def test_corrupt_file_keeps_registers(engine, key_file, objects, caplog):
    with open(key_file, "w") as handle:
        handle.write("{ not json")
    with caplog.at_level("ERROR", logger="ep11core.masterkey"):
        engine.reload_master_keys()
        engine.reload_master_keys()
    assert engine.decrypt_single(CBC_PAD, objects.aes, objects.ciphertext) == TEXT
    errors = [record for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 1, "a repeated error is logged once"
    assert "corrupt" in errors[0].getMessage()


def test_fixed_master_key_never_rotates(tmp_path):
    engine = Engine(MasterKey.generate())
    aes = engine.generate_key(Mechanism(CKM.AES_KEY_GEN), {CKA.VALUE_LEN: 16}).blob
    assert engine.reload_master_keys() == engine.registers
    with raises_ckr(CKR.IBM_WK_NOT_INITIALIZED):
        engine.rewrap_key_blob(aes)


# --- crash safety


class SimulatedCrash(BaseException):
    """Stands for the process dying at an injected point."""


def _crash_on_call(monkeypatch, module, name, call_number):
    original = getattr(module, name)
    calls = []

    def crashing(*args, **kwargs):
        calls.append(args)
        if len(calls) == call_number:
            raise SimulatedCrash(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, crashing)


# (function to break, its call number within one change, registers expected afterwards)
CRASH_POINTS = [
    ("fsync", 1, "old"),  # the temporary file's contents
    ("replace", 1, "old"),  # the rename over master-key.json
    ("fsync", 2, "new"),  # the state folder after the rename
]


@pytest.mark.parametrize("name, call_number, expected", CRASH_POINTS)
def test_crash_leaves_loadable_file(key_file, monkeypatch, name, call_number, expected):
    _pending(key_file)
    old = masterkey.load_registers(key_file)
    new = Registers(old.current, old.new, committed=True)
    _crash_on_call(monkeypatch, os, name, call_number)
    with pytest.raises(SimulatedCrash):
        masterkey.commit(key_file)
    monkeypatch.undo()
    assert masterkey.load_registers(key_file) == {"old": old, "new": new}[expected]


KILLED_CLI = textwrap.dedent(
    """
    import os, signal, stat, sys
    from grpc_server import cli

    point = sys.argv[1]
    original_fsync = os.fsync

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    def fsync(descriptor):
        if stat.S_ISDIR(os.fstat(descriptor).st_mode):
            die()
        original_fsync(descriptor)

    if point == "before-rename":
        os.replace = die
    else:
        os.fsync = fsync
    cli.main(sys.argv[2:])
    """
)


@pytest.mark.parametrize("point, expected_state", [
    ("before-rename", NewKeyState.PENDING),
    ("after-rename", NewKeyState.COMMITTED),
])
def test_killed_cli_leaves_loadable_file(state_dir, key_file, point, expected_state):
    _pending(key_file)
    pending = masterkey.load_registers(key_file)
    result = subprocess.run(
        [sys.executable, "-c", KILLED_CLI, point, "masterkey", "commit",
         "--state-dir", str(state_dir)],
        capture_output=True,
        timeout=CLI_TIMEOUT_SECONDS,
        env=subprocess_environment(),
        cwd=str(state_dir),
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    registers = masterkey.load_registers(key_file)
    assert registers.current == pending.current
    assert registers.new == pending.new
    assert registers.new_state is expected_state
    leftovers = list(state_dir.glob("master-key.json.*.tmp"))
    if point == "before-rename":
        assert len(leftovers) == 1
        assert stat.S_IMODE(leftovers[0].stat().st_mode) == 0o600
    # The next change removes the temporary file of the dead writer.
    if expected_state is NewKeyState.PENDING:
        masterkey_step(state_dir, "commit")
    masterkey_step(state_dir, "finalize")
    assert not list(state_dir.glob("master-key.json.*.tmp"))
    assert masterkey.load(key_file) == pending.new


# --- the CLI and the server


def test_cli_status_and_steps(state_dir, key_file):
    current = masterkey.load(key_file)
    text = masterkey_step(state_dir, "status")
    assert f"current: WKID {current.wkid.hex()}" in text
    assert "new: empty" in text
    output = masterkey_step(state_dir, "load-new")
    assert "next: commit, or discard" in output
    status = cli_status(state_dir)
    assert status["current_wkid"] == current.wkid.hex()
    assert status["new_state"] == "pending"
    new_wkid = status["new_wkid"]
    output = masterkey_step(state_dir, "commit")
    assert f"new: WKID {new_wkid} (committed)" in output
    masterkey_step(state_dir, "finalize")
    status = cli_status(state_dir)
    assert status == {
        "file": key_file,
        "current_wkid": new_wkid,
        "new_wkid": None,
        "new_state": "empty",
    }


def test_cli_step_not_allowed_exits_1(state_dir):
    result = run_masterkey(state_dir, "commit")
    assert result.returncode == 1
    assert "commit needs a pending new master key" in result.stderr


def test_cli_missing_file_exits_2(tmp_path):
    result = run_masterkey(tmp_path / "nothing-here", "status")
    assert result.returncode == 2
    assert "cannot read the master key file" in result.stderr


def test_cli_loads_key_parts(state_dir, tmp_path):
    first, second = os.urandom(32), os.urandom(32)
    (tmp_path / "a.hex").write_text(first.hex())
    (tmp_path / "b.hex").write_text(second.hex())
    masterkey_step(
        state_dir, "load-new",
        "--key-part", str(tmp_path / "a.hex"), "--key-part", str(tmp_path / "b.hex"),
    )
    expected = masterkey.compute_wkid(bytes(a ^ b for a, b in zip(first, second)))
    assert cli_status(state_dir)["new_wkid"] == expected.hex()


PART = "0123456789abcdef" * 4


@pytest.mark.parametrize("contents, message", [
    (["00" * 32], "1 key part(s) XOR to an all-zero master key"),
    ([PART, PART], "2 key part(s) XOR to an all-zero master key"),
    ([PART, PART.upper(), "00" * 32], "3 key part(s) XOR to an all-zero master key"),
    (["00" * 31], "must contain 64 hex digits, got 62"),
    (["00" * 33], "must contain 64 hex digits, got 66"),
    ([""], "must contain 64 hex digits, got 0"),
    (["0x" + "00" * 31], "must contain 64 hex digits"),
    (["zz" * 32], "must contain 64 hex digits"),
    ([PART[:-1]], "must contain 64 hex digits"),
])
def test_cli_rejects_bad_key_parts(state_dir, key_file, tmp_path, contents, message):
    before = open(key_file, "rb").read()
    options = []
    for index, text in enumerate(contents):
        path = tmp_path / f"part{index}.hex"
        path.write_text(text + "\n")
        options += ["--key-part", str(path)]

    result = run_masterkey(state_dir, "load-new", *options)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("masterkey load-new: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert open(key_file, "rb").read() == before
    assert cli_status(state_dir)["new_state"] == "empty"


def test_cli_rejects_missing_key_part(state_dir, key_file, tmp_path):
    before = open(key_file, "rb").read()
    result = run_masterkey(state_dir, "load-new", "--key-part", str(tmp_path / "missing.hex"))
    assert result.returncode == 2
    assert "cannot read the key part file" in result.stderr
    assert open(key_file, "rb").read() == before


def test_cli_same_key_part_twice_exits_2(state_dir, key_file, tmp_path):
    before = open(key_file, "rb").read()
    path = tmp_path / "part.hex"
    path.write_text(os.urandom(32).hex())
    result = run_masterkey(state_dir, "load-new", "--key-part", str(path), "--key-part", str(path))
    assert result.returncode == 2
    assert "the same part given twice" in result.stderr
    assert open(key_file, "rb").read() == before


def test_rotation_on_running_server(state_dir, serve):
    server = serve(state_dir)
    hsm = server.start()
    objects = Objects(hsm)

    masterkey_step(state_dir, "load-new")
    with raises_ckr(CKR.IBM_WK_NOT_INITIALIZED):
        hsm.rewrap_key_blob(objects.aes)
    assert hsm.decrypt_single(CBC_PAD, objects.aes, objects.ciphertext) == TEXT

    masterkey_step(state_dir, "commit")
    new_wkid = bytes.fromhex(cli_status(state_dir)["new_wkid"])
    with raises_ckr(CKR.FUNCTION_CANCELED):
        hsm.encrypt_single(CBC_PAD, objects.aes, TEXT)
    with raises_ckr(CKR.FUNCTION_CANCELED):
        hsm.get_mechanism_list()
    rewrapped = [hsm.rewrap_key_blob(blob) for blob in objects.blobs()]
    for blob, new_blob in zip(objects.blobs(), rewrapped):
        assert len(new_blob) == len(blob)
        assert blob_wkid(new_blob) == new_wkid

    masterkey_step(state_dir, "finalize")
    check_rewrapped_work(hsm, objects, rewrapped)
    wkid = hsm.get_attribute_value(rewrapped[0], [CKA.GREP11_WKID])[CKA.GREP11_WKID]
    assert wkid == new_wkid
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        hsm.decrypt_single(CBC_PAD, objects.aes, objects.ciphertext)
    server.stop()
    assert "master key registers reloaded" in server.log()


def test_start_logs_rotation_state(state_dir, serve):
    masterkey_step(state_dir, "load-new")
    new_wkid = cli_status(state_dir)["new_wkid"]
    pending = serve(state_dir, "pending")
    pending.start()
    pending.stop()
    masterkey_step(state_dir, "commit")
    committed = serve(state_dir, "committed")
    committed.start()
    committed.stop()

    assert f"new WKID {new_wkid} (pending)" in pending.log()
    assert f"the new master key (WKID {new_wkid}) is pending" in pending.log()
    assert "masterkey commit --state-dir" in pending.log()
    assert "WARNING" not in pending.log()

    warning = next(
        (line for line in committed.log().splitlines() if " WARNING " in line), ""
    )
    assert f"new WKID {new_wkid} (committed)" in committed.log()
    assert f"the new master key (WKID {new_wkid}) is committed" in warning
    assert "every call except RewrapKeyBlob fails with CKR_FUNCTION_CANCELED" in warning
    assert f"masterkey finalize --state-dir {state_dir}" in warning
    assert "'masterkey discard'" in warning


def test_rotation_on_stopped_server(state_dir, serve):
    server = serve(state_dir)
    hsm = server.start()
    objects = Objects(hsm)
    server.stop()

    masterkey_step(state_dir, "load-new")
    masterkey_step(state_dir, "commit")
    hsm = server.start()
    with raises_ckr(CKR.FUNCTION_CANCELED):
        hsm.decrypt_single(CBC_PAD, objects.aes, objects.ciphertext)
    rewrapped = [hsm.rewrap_key_blob(blob) for blob in objects.blobs()]
    server.stop()

    masterkey_step(state_dir, "finalize")
    hsm = server.start()
    check_rewrapped_work(hsm, objects, rewrapped)
    with raises_ckr(CKR.IBM_WKID_MISMATCH):
        hsm.decrypt_single(CBC_PAD, objects.aes, objects.ciphertext)
    server.stop()
