"""The master (wrapping) key file and its registers.

An EP11 domain has two wrapping-key registers. The current master key seals and opens every
blob. The new master key of a rotation is empty, then pending (loaded and still replaceable),
then committed (fixed, and RewrapKeyBlob reseals blobs under it). Finalizing makes the new key
current and drops the old one. ``master-key.json`` stores both registers (format 2)::

    {"format": 2,
     "current": {"key": "<64 hex digits>", "wkid": "<32 hex digits>"},
     "new": {"key": "...", "wkid": "...", "state": "pending" | "committed"}}

``new`` is absent while the register is empty. A format 1 file (``current`` only) loads as an
empty new register and is rewritten as format 2 by the first rotation step.

The file is created once, on the first start. A file that cannot be read or does not parse
stops the caller with ``MasterKeyError``; it is never replaced by a new key. Every change
replaces the whole file: the new contents go to a temporary file (mode 0600) that is flushed to
disk, renamed over the old file, and then the folder is flushed, so a crash at any point leaves
either the old or the new file, complete. Writers hold an exclusive ``flock`` on the state
folder, so rotation steps from two processes never interleave.
"""

import contextlib
import enum
import fcntl
import glob
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Optional

logger = logging.getLogger(__name__)

FILE_NAME = "master-key.json"
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
KEY_BYTES = 32
WKID_BYTES = 16

# A running engine re-reads the file at most this often. A rotation command waits this long
# after its change, so every running server on the folder applies it from its next call on.
RELOAD_INTERVAL_SECONDS = 0.05


class MasterKeyError(Exception):
    """The master key file is missing where it must exist, unreadable or corrupt, or a key
    given for it (a new key, a key part) is invalid."""


class RotationError(Exception):
    """A rotation step that the current state of the registers does not allow."""


def compute_wkid(key: bytes) -> bytes:
    """Return the wrapping key identifier: the first 16 bytes of SHA-256 of the key."""
    return hashlib.sha256(key).digest()[:WKID_BYTES]


@dataclass(frozen=True)
class MasterKey:
    """An AES-256 wrapping key and its identifier (WKID)."""

    key: bytes

    def __post_init__(self):
        if len(self.key) != KEY_BYTES:
            raise MasterKeyError(f"a master key must be {KEY_BYTES} bytes, got {len(self.key)}")

    @property
    def wkid(self) -> bytes:
        return compute_wkid(self.key)

    @classmethod
    def generate(cls) -> "MasterKey":
        return cls(secrets.token_bytes(KEY_BYTES))

    def __repr__(self) -> str:
        return f"MasterKey(wkid={self.wkid.hex()})"


class NewKeyState(enum.Enum):
    """The state of the new master key register."""

    EMPTY = "empty"
    PENDING = "pending"
    COMMITTED = "committed"


@dataclass(frozen=True)
class Registers:
    """The current master key and the new one of a rotation in progress."""

    current: MasterKey
    new: Optional[MasterKey] = None
    committed: bool = False

    def __post_init__(self):
        if self.committed and self.new is None:
            raise ValueError("an empty new master key register cannot be committed")

    @property
    def new_state(self) -> NewKeyState:
        if self.new is None:
            return NewKeyState.EMPTY
        return NewKeyState.COMMITTED if self.committed else NewKeyState.PENDING

    def describe(self) -> str:
        """Return the WKIDs and the register state in one line, without key material."""
        text = f"current WKID {self.current.wkid.hex()}"
        if self.new is None:
            return text + ", new register empty"
        return text + f", new WKID {self.new.wkid.hex()} ({self.new_state.value})"


def _key_entry(master_key: MasterKey) -> dict:
    return {"key": master_key.key.hex(), "wkid": master_key.wkid.hex()}


def _document(registers: Registers) -> dict:
    document = {"format": FORMAT_VERSION, "current": _key_entry(registers.current)}
    if registers.new is not None:
        document["new"] = {**_key_entry(registers.new), "state": registers.new_state.value}
    return document


def _corrupt(path: str, problem: str) -> MasterKeyError:
    return MasterKeyError(
        f"the master key file {path} is corrupt ({problem}); restore it from a backup, or move "
        "it away to start over with a new key (every existing blob becomes unusable)"
    )


def _parse_key(entry, path: str, register: str) -> MasterKey:
    try:
        key = bytes.fromhex(entry["key"])
        wkid = bytes.fromhex(entry["wkid"])
    except (ValueError, KeyError, TypeError):
        raise _corrupt(path, f"the {register} register is not a key and WKID in hex") from None
    if len(key) != KEY_BYTES or compute_wkid(key) != wkid:
        raise _corrupt(path, f"the {register} key does not match its WKID")
    return MasterKey(key)


def _parse(raw: bytes, path: str) -> Registers:
    try:
        document = json.loads(raw)
        version = document["format"]
        current_entry = document["current"]
    except (ValueError, KeyError, TypeError):
        raise _corrupt(path, "not the expected JSON document") from None
    if version not in READABLE_FORMATS:
        raise MasterKeyError(
            f"the master key file {path} has unknown format {version!r}; this version reads "
            f"formats {', '.join(map(str, READABLE_FORMATS))}"
        )
    current = _parse_key(current_entry, path, "current")
    new_entry = document.get("new") if version >= 2 else None
    if new_entry is None:
        return Registers(current)
    new = _parse_key(new_entry, path, "new")
    state = new_entry.get("state") if isinstance(new_entry, dict) else None
    if state not in (NewKeyState.PENDING.value, NewKeyState.COMMITTED.value):
        raise _corrupt(path, f"the new register has unknown state {state!r}")
    return Registers(current, new, state == NewKeyState.COMMITTED.value)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise MasterKeyError(
            f"cannot read the master key file {path}: {error.strerror}"
        ) from None


def load_registers(path: str) -> Registers:
    """Read and check both registers of the master key file at ``path``."""
    return _parse(_read(path), path)


def load(path: str) -> MasterKey:
    """Read and check the master key file at ``path``; return the current master key."""
    return load_registers(path).current


def key_file_path(state_dir: str) -> str:
    return os.path.join(state_dir, FILE_NAME)


# --- writing


@contextlib.contextmanager
def _locked_folder(directory: str):
    """Hold an exclusive lock on ``directory``; yield its descriptor for fsync."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield descriptor
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock


def _temporary_path(path: str) -> str:
    return f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def _remove_stale_temporaries(path: str) -> None:
    # Temporary files of a writer that died before its rename. Writers hold the folder lock, so
    # under the lock no temporary file belongs to a live writer.
    for stale in glob.glob(glob.escape(path) + ".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(stale)


def _write_temporary(path: str, document: dict) -> str:
    temporary = _temporary_path(path)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def check_new_key(master_key: MasterKey) -> None:
    """Raise ``MasterKeyError`` if ``master_key`` must not become a master key.

    Anyone could open blobs sealed under an all-zero key. Keys read from an existing file are
    not checked, so such a file still loads and its blobs can be rewrapped under a new key.
    """
    if not any(master_key.key):
        raise MasterKeyError(
            "the new master key is all zeros, which would let anyone open its blobs; use a "
            "random key"
        )


def write_new(path: str, master_key: MasterKey) -> None:
    """Write ``master_key`` to ``path``, which must not exist yet.

    The key goes to a temporary file that is flushed to disk and then linked to ``path``.
    Linking fails with FileExistsError if ``path`` appeared in the meantime, so an existing key
    file is never overwritten. A crash leaves either no file or a complete one.
    """
    check_new_key(master_key)
    directory = os.path.dirname(os.path.abspath(path))
    with _locked_folder(directory) as folder:
        _remove_stale_temporaries(path)
        temporary = _write_temporary(path, _document(Registers(master_key)))
        try:
            os.link(temporary, path)
        finally:
            os.unlink(temporary)
        os.fsync(folder)


def _replace(path: str, registers: Registers, folder: int) -> None:
    """Replace the file at ``path`` with ``registers``; the caller holds the folder lock."""
    _remove_stale_temporaries(path)
    temporary = _write_temporary(path, _document(registers))
    try:
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    os.fsync(folder)


def load_or_create(state_dir: str) -> MasterKey:
    """Load the master key of ``state_dir``, creating the folder and the key on first use."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    path = key_file_path(state_dir)
    if not os.path.lexists(path):
        master_key = MasterKey.generate()
        try:
            write_new(path, master_key)
        except FileExistsError:
            pass  # another process created it first; load theirs
        except OSError as error:
            raise MasterKeyError(
                f"cannot create the master key file {path}: {error.strerror}"
            ) from None
        else:
            logger.info(
                "created the master key file %s with a random master key, WKID %s",
                path,
                master_key.wkid.hex(),
            )
    return load(path)


# --- rotation steps


def _change(path: str, step) -> Registers:
    """Apply ``step`` (Registers -> Registers) to the file under the folder lock."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        with _locked_folder(directory) as folder:
            changed = step(load_registers(path))
            _replace(path, changed, folder)
    except OSError as error:
        raise MasterKeyError(
            f"cannot update the master key file {path}: {error.strerror}"
        ) from None
    logger.info("master key registers of %s changed: %s", path, changed.describe())
    return changed


def load_new(path: str, master_key: MasterKey) -> Registers:
    """Put ``master_key`` into the empty new register as a pending key.

    Raises ``MasterKeyError`` for an all-zero key (``check_new_key``) before the file is read.
    """
    check_new_key(master_key)

    def step(registers: Registers) -> Registers:
        if registers.new is not None:
            raise RotationError(
                f"a new master key is already {registers.new_state.value} "
                f"(WKID {registers.new.wkid.hex()}); discard it first"
            )
        if master_key.wkid == registers.current.wkid:
            raise RotationError("the new master key equals the current one")
        return Registers(registers.current, master_key)

    return _change(path, step)


def commit(path: str) -> Registers:
    """Commit the pending new master key; RewrapKeyBlob reseals under it from then on."""

    def step(registers: Registers) -> Registers:
        if registers.new_state is not NewKeyState.PENDING:
            raise RotationError(
                f"commit needs a pending new master key, but the new register is "
                f"{registers.new_state.value}"
            )
        return Registers(registers.current, registers.new, committed=True)

    return _change(path, step)


def finalize(path: str) -> Registers:
    """Make the committed new master key current and drop the old current key."""

    def step(registers: Registers) -> Registers:
        if registers.new_state is not NewKeyState.COMMITTED:
            raise RotationError(
                f"finalize needs a committed new master key, but the new register is "
                f"{registers.new_state.value}"
            )
        return Registers(registers.new)

    return _change(path, step)


def discard(path: str) -> Registers:
    """Empty the new register, pending or committed; the current key stays."""

    def step(registers: Registers) -> Registers:
        if registers.new is None:
            raise RotationError("the new master key register is already empty")
        return Registers(registers.current)

    return _change(path, step)


def key_from_parts(parts: Iterable[bytes]) -> MasterKey:
    """Combine key parts by XOR, as HPCS administrators load a master key from parts.

    Raises ``MasterKeyError`` for a part that is not ``KEY_BYTES`` bytes, for no parts, and for
    parts whose XOR is all zeros.
    """
    combined = bytes(KEY_BYTES)
    count = 0
    for part in parts:
        if not isinstance(part, (bytes, bytearray)) or len(part) != KEY_BYTES:
            size = f"{len(part)} bytes" if isinstance(part, (bytes, bytearray)) else "not bytes"
            raise MasterKeyError(f"a key part must be {KEY_BYTES} bytes, got {size}")
        combined = bytes(a ^ b for a, b in zip(combined, part))
        count += 1
    if count == 0:
        raise MasterKeyError("no key part was given")
    if not any(combined):
        raise MasterKeyError(
            f"the {count} key part(s) XOR to an all-zero master key, which would let anyone "
            "open its blobs; the usual causes are one all-zero part or the same part given twice"
        )
    return MasterKey(combined)


def read_key_part(path: str) -> bytes:
    """Read a key part file: 64 hex digits, whitespace ignored."""
    try:
        with open(path) as handle:
            text = "".join(handle.read().split())
    except (OSError, UnicodeDecodeError) as error:
        raise MasterKeyError(f"cannot read the key part file {path}: {error}") from None
    try:
        part = bytes.fromhex(text)
    except ValueError:
        raise MasterKeyError(
            f"the key part file {path} must contain {2 * KEY_BYTES} hex digits"
        ) from None
    if len(part) != KEY_BYTES:
        raise MasterKeyError(
            f"the key part file {path} must contain {2 * KEY_BYTES} hex digits, "
            f"got {2 * len(part)}"
        )
    return part


# --- following the file from a running engine


class RegisterFile:
    """The registers of a master key file, re-read when the file changes.

    ``poll`` reads the file at most once per RELOAD_INTERVAL_SECONDS and returns the registers
    when they differ from the last read. A file that became unreadable or corrupt keeps the
    last good registers in force and is logged once per distinct error.
    """

    def __init__(self, path: str):
        self.path = path
        self._raw = _read(path)
        self.registers = _parse(self._raw, path)
        self.next_check = time.monotonic() + RELOAD_INTERVAL_SECONDS
        self._lock = threading.Lock()
        self._last_error: Optional[str] = None

    def poll(self, force: bool = False) -> Optional[Registers]:
        """Return the new registers if the file changed, else None."""
        with self._lock:
            started = time.monotonic()
            if not force and started < self.next_check:
                return None  # another thread has just read the file
            # Measured from the start of the read: a change written after this read started is
            # seen by any call that begins RELOAD_INTERVAL_SECONDS after the change or later.
            self.next_check = started + RELOAD_INTERVAL_SECONDS
            try:
                raw = _read(self.path)
                if raw == self._raw:
                    return None
                registers = _parse(raw, self.path)
            except MasterKeyError as error:
                if str(error) != self._last_error:
                    logger.error("keeping the last master key registers in force: %s", error)
                    self._last_error = str(error)
                return None
            self._raw = raw
            self._last_error = None
            changed = registers != self.registers
            self.registers = registers
        if not changed:
            return None
        logger.info("master key registers reloaded from %s: %s", self.path, registers.describe())
        return registers
