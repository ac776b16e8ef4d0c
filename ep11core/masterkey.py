"""The master (wrapping) key file in the state folder.

The file is created once, on the first start, and loaded on every later start. Losing it loses
every blob sealed under it, so a file that cannot be read or does not parse stops the caller
with ``MasterKeyError``; it is never replaced.
"""

import hashlib
import json
import os
import secrets
from dataclasses import dataclass

FILE_NAME = "master-key.json"
FORMAT_VERSION = 1
KEY_BYTES = 32
WKID_BYTES = 16


class MasterKeyError(Exception):
    """The master key file is missing where it must exist, unreadable or corrupt."""


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


def _fsync_directory(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_new(path: str, master_key: MasterKey) -> None:
    """Write ``master_key`` to ``path``, which must not exist yet.

    The key goes to a temporary file (mode 0600) that is flushed to disk and then linked to
    ``path``; linking fails if ``path`` appeared in the meantime, so an existing key file is
    never overwritten, and a crash leaves either no file or a complete one.
    """
    document = {
        "format": FORMAT_VERSION,
        "current": {"key": master_key.key.hex(), "wkid": master_key.wkid.hex()},
    }
    directory = os.path.dirname(os.path.abspath(path))
    temporary = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    finally:
        os.unlink(temporary)
    _fsync_directory(directory)


def load(path: str) -> MasterKey:
    """Read and check the master key file at ``path``."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise MasterKeyError(f"cannot read the master key file {path}: {error.strerror}") from None
    try:
        document = json.loads(raw)
        current = document["current"]
        key = bytes.fromhex(current["key"])
        wkid = bytes.fromhex(current["wkid"])
        version = document["format"]
    except (ValueError, KeyError, TypeError):
        raise MasterKeyError(
            f"the master key file {path} is corrupt (not the expected JSON document); "
            "restore it from a backup, or move it away to start over with a new key "
            "(every existing blob becomes unusable)"
        ) from None
    if version != FORMAT_VERSION:
        raise MasterKeyError(f"the master key file {path} has unknown format {version!r}")
    if len(key) != KEY_BYTES or compute_wkid(key) != wkid:
        raise MasterKeyError(
            f"the master key file {path} is corrupt: the key does not match its WKID; "
            "restore it from a backup"
        )
    return MasterKey(key)


def load_or_create(state_dir: str) -> MasterKey:
    """Load the master key of ``state_dir``, creating the folder and the key on first use."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    path = os.path.join(state_dir, FILE_NAME)
    if not os.path.lexists(path):
        try:
            write_new(path, MasterKey.generate())
        except FileExistsError:
            pass  # another process created it first; load theirs
        except OSError as error:
            raise MasterKeyError(
                f"cannot create the master key file {path}: {error.strerror}"
            ) from None
    return load(path)
