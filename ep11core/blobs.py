"""Sealing and opening of key blobs, MACed SPKIs and state blobs.

Secret and private keys travel as blobs in the EP11 frame (offsets match the structure that
opencryptoki and the Linux zcrypt driver read):

    0   32  session id (zero: not bound to a login session)
    32  16  WKID of the master key
    48   8  XCP_BLOB_* Boolean attribute bits, big-endian
    56   8  mode bits (zero)
    64   2  magic: 0x1234 for key blobs, 0x5354 for state blobs
    66  14  random IV
    80   n  AES-256-CBC ciphertext (IV = the 14 bytes and two zero bytes) of the payload
   -32  32  HMAC-SHA-256 over all bytes before it

Public keys are the DER SubjectPublicKeyInfo followed by a fixed trailer of DER OCTET STRINGs:
WKID (16), session id (32), salt (8), mode (8), attribute header and Boolean bits (4 + 8), and
the HMAC-SHA-256 (32) over the SPKI and the trailer before the MAC.

The encryption and MAC keys are HMAC-SHA-256 of the master key over fixed labels, one pair for
key blobs, one for state blobs and one MAC key for SPKIs. Blob contents are specific to this
emulator and cannot be exchanged with real HSM blobs.

During a master key rotation a ``Sealer`` also holds the committed new master key. It still
seals and opens under the current key only; ``rewrap`` moves a key blob or a MACed SPKI from
the current key to the new one.
"""

import enum
import hmac as _hmac
import struct
from dataclasses import dataclass
from typing import List, Optional

from . import _crypto
from .masterkey import MasterKey

HEADER_BYTES = 80
MAC_BYTES = 32
SESSION_BYTES = 32
WKID_BYTES = 16
IV_BYTES = 14
KEY_MAGIC = 0x1234
STATE_MAGIC = 0x5354
ZERO_SESSION = bytes(SESSION_BYTES)
MIN_BLOB_BYTES = HEADER_BYTES + 16 + MAC_BYTES

SPKI_SALT_BYTES = 8
SPKI_MODE_BYTES = 8
SPKI_ATTRIBUTE_HEADER = 0x10000000  # version 1, no integer or variable-length attributes
SPKI_TRAILER_BYTES = (
    (2 + WKID_BYTES)
    + (2 + SESSION_BYTES)
    + (2 + SPKI_SALT_BYTES)
    + (2 + SPKI_MODE_BYTES)
    + (2 + 12)
    + (2 + MAC_BYTES)
)
# The maximum number of public key objects in one concatenation. Opening checks the MAC and the
# G1 subgroup of every element (about 0.15 ms each through Engine.verify_single on a 2-CPU x86-64
# guest), and verification runs outside the slow-call limit, so the count bounds one call's time.
# NOTE: IBM documents no such limit; 4096 is our choice.
MAX_CONCATENATED_PUBLIC_KEYS = 4096


class BlobFault(enum.Enum):
    """The reason a blob did not open; the engine maps each to the CKR code of the blob's role."""

    MALFORMED = "malformed"
    WKID_MISMATCH = "wkid mismatch"
    MAC_MISMATCH = "integrity check failed"


class BlobError(Exception):
    """A blob did not open."""

    def __init__(self, fault: BlobFault, detail: str):
        self.fault = fault
        super().__init__(detail)


@dataclass(frozen=True)
class OpenedBlob:
    """The authenticated contents of a key or state blob."""

    session: bytes
    bits: int
    payload: bytes


@dataclass(frozen=True)
class OpenedPublicKey:
    """An SPKI and, when it carried a valid MAC trailer, its Boolean bits."""

    spki: bytes
    bits: int
    maced: bool


def _der_length(data: bytes, offset: int):
    """Return (length, offset of the content) of the DER element starting at ``offset``."""
    if offset + 2 > len(data):
        raise BlobError(BlobFault.MALFORMED, "truncated DER element")
    first = data[offset + 1]
    if first < 0x80:
        return first, offset + 2
    count = first & 0x7F
    if count == 0 or count > 4 or offset + 2 + count > len(data):
        raise BlobError(BlobFault.MALFORMED, "invalid DER length")
    length = int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
    return length, offset + 2 + count


def spki_length(data: bytes, offset: int = 0) -> int:
    """Return the end offset of the DER SEQUENCE at ``offset`` (its length when ``offset`` is 0).

    Parsing in place, without slicing ``data``, keeps splitting a long concatenation linear.
    """
    if offset >= len(data) or data[offset] != 0x30:
        raise BlobError(BlobFault.MALFORMED, "not a DER SubjectPublicKeyInfo")
    length, start = _der_length(data, offset)
    end = start + length
    if end > len(data):
        raise BlobError(BlobFault.MALFORMED, "truncated SubjectPublicKeyInfo")
    return end


def _octet_string(value: bytes) -> bytes:
    return bytes((0x04, len(value))) + value


class _DerivedKeys:
    """The blob keys derived from one master key."""

    def __init__(self, master_key: MasterKey):
        self.wkid = master_key.wkid
        root = master_key.key
        derive = lambda label: _crypto.hmac("sha256", root, label)  # noqa: E731
        self.key_encryption = derive(b"grep11-emulator key blob encryption")
        self.key_mac = derive(b"grep11-emulator key blob mac")
        self.state_encryption = derive(b"grep11-emulator state blob encryption")
        self.state_mac = derive(b"grep11-emulator state blob mac")
        self.spki_mac = derive(b"grep11-emulator spki mac")

    def for_magic(self, magic: int):
        if magic == KEY_MAGIC:
            return self.key_encryption, self.key_mac
        return self.state_encryption, self.state_mac


class Sealer:
    """Seals and opens blobs under the current master key.

    ``next_key`` is the committed new master key of a rotation, the target of ``rewrap``.
    """

    def __init__(self, master_key: MasterKey, next_key: Optional[MasterKey] = None):
        self.wkid = master_key.wkid
        self._current = _DerivedKeys(master_key)
        self._next = _DerivedKeys(next_key) if next_key is not None else None
        self.next_wkid = next_key.wkid if next_key is not None else None

    def _seal(
        self, magic: int, payload: bytes, bits: int, session: bytes, keys=None
    ) -> bytes:
        keys = keys or self._current
        encryption_key, mac_key = keys.for_magic(magic)
        iv = _crypto.random_bytes(IV_BYTES)
        header = (
            session
            + keys.wkid
            + struct.pack(">QQH", bits, 0, magic)
            + iv
        )
        ciphertext = _crypto.cipher("aes-cbc", True, encryption_key, iv + b"\0\0", payload, True)
        body = header + ciphertext
        return body + _crypto.hmac("sha256", mac_key, body)

    def _open(self, magic: int, blob: bytes, keys=None) -> OpenedBlob:
        keys = keys or self._current
        if len(blob) < MIN_BLOB_BYTES or (len(blob) - HEADER_BYTES - MAC_BYTES) % 16:
            raise BlobError(BlobFault.MALFORMED, f"a blob cannot be {len(blob)} bytes long")
        found_magic = struct.unpack_from(">H", blob, 64)[0]
        if found_magic != magic:
            raise BlobError(BlobFault.MALFORMED, f"unexpected blob magic {found_magic:#06x}")
        if blob[32:48] != keys.wkid:
            raise BlobError(
                BlobFault.WKID_MISMATCH,
                f"blob WKID {blob[32:48].hex()} is not the current master key's {keys.wkid.hex()}",
            )
        encryption_key, mac_key = keys.for_magic(magic)
        body, mac = blob[:-MAC_BYTES], blob[-MAC_BYTES:]
        if not _hmac.compare_digest(_crypto.hmac("sha256", mac_key, body), mac):
            raise BlobError(BlobFault.MAC_MISMATCH, "the blob's MAC does not match its contents")
        iv = blob[66:80] + b"\0\0"
        try:
            payload = _crypto.cipher("aes-cbc", False, encryption_key, iv, body[HEADER_BYTES:], True)
        except _crypto.CryptoError:
            raise BlobError(BlobFault.MAC_MISMATCH, "the blob does not decrypt") from None
        bits = struct.unpack_from(">Q", blob, 48)[0]
        return OpenedBlob(session=blob[:32], bits=bits, payload=payload)

    def seal_key(self, payload: bytes, bits: int, session: bytes = ZERO_SESSION) -> bytes:
        return self._seal(KEY_MAGIC, payload, bits, session)

    def open_key(self, blob: bytes) -> OpenedBlob:
        return self._open(KEY_MAGIC, blob)

    def seal_state(self, payload: bytes, session: bytes = ZERO_SESSION) -> bytes:
        return self._seal(STATE_MAGIC, payload, 0, session)

    def open_state(self, blob: bytes) -> OpenedBlob:
        return self._open(STATE_MAGIC, blob)

    def seal_public_key(self, spki: bytes, bits: int, session: bytes = ZERO_SESSION) -> bytes:
        return self._seal_public(spki, struct.pack(">IQ", SPKI_ATTRIBUTE_HEADER, bits), session)

    def _seal_public(
        self,
        spki: bytes,
        attribute_field: bytes,
        session: bytes,
        mode: bytes = bytes(SPKI_MODE_BYTES),
        keys=None,
    ) -> bytes:
        keys = keys or self._current
        trailer = (
            _octet_string(keys.wkid)
            + _octet_string(session)
            + _octet_string(_crypto.random_bytes(SPKI_SALT_BYTES))
            + _octet_string(mode)
            + _octet_string(attribute_field)
        )
        mac = _crypto.hmac("sha256", keys.spki_mac, spki + trailer)
        return spki + trailer + _octet_string(mac)

    def _open_public_trailer(self, blob: bytes, end: int, keys=None):
        """Check the trailer after the SPKI ending at ``end``.

        Returns (session, mode, attribute field) once the WKID and the MAC match ``keys``.
        """
        keys = keys or self._current
        trailer = blob[end:]
        if len(trailer) != SPKI_TRAILER_BYTES:
            raise BlobError(
                BlobFault.MALFORMED, f"a MACed SPKI trailer is {SPKI_TRAILER_BYTES} bytes"
            )
        fields = []
        offset = 0
        for size in (WKID_BYTES, SESSION_BYTES, SPKI_SALT_BYTES, SPKI_MODE_BYTES, 12, MAC_BYTES):
            if trailer[offset] != 0x04 or trailer[offset + 1] != size:
                raise BlobError(BlobFault.MALFORMED, "malformed MACed SPKI trailer")
            fields.append(trailer[offset + 2 : offset + 2 + size])
            offset += 2 + size
        wkid, session, _salt, mode, attribute_field, mac = fields
        if wkid != keys.wkid:
            raise BlobError(
                BlobFault.WKID_MISMATCH,
                f"public key WKID {wkid.hex()} is not the current master key's {keys.wkid.hex()}",
            )
        expected = _crypto.hmac("sha256", keys.spki_mac, blob[: -(2 + MAC_BYTES)])
        if not _hmac.compare_digest(expected, mac):
            raise BlobError(BlobFault.MAC_MISMATCH, "the public key's MAC does not match")
        header = struct.unpack(">I", attribute_field[:4])[0]
        if header != SPKI_ATTRIBUTE_HEADER:
            raise BlobError(BlobFault.MALFORMED, f"unknown SPKI attribute header {header:#x}")
        return session, mode, attribute_field

    def open_public_key(self, blob: bytes) -> OpenedPublicKey:
        """Split a public key object into its SPKI and checked trailer.

        A plain SPKI (nothing after the DER) opens with ``maced=False``.
        """
        end = spki_length(blob)
        spki = blob[:end]
        if end == len(blob):
            return OpenedPublicKey(spki=spki, bits=0, maced=False)
        _session, _mode, attribute_field = self._open_public_trailer(blob, end)
        bits = struct.unpack(">Q", attribute_field[4:])[0]
        return OpenedPublicKey(spki=spki, bits=bits, maced=True)

    def open_public_keys(self, blob: bytes) -> List[OpenedPublicKey]:
        """Split a concatenation of public key objects and open each one, in order.

        Each element is a DER SPKI with its trailer, or a plain SPKI. A trailer starts with an
        OCTET STRING and an SPKI with a SEQUENCE, so the byte after each SPKI distinguishes them.
        """
        opened = []
        offset = 0
        while offset < len(blob):
            if len(opened) == MAX_CONCATENATED_PUBLIC_KEYS:
                raise BlobError(
                    BlobFault.MALFORMED,
                    f"a concatenation contains at most {MAX_CONCATENATED_PUBLIC_KEYS} public keys",
                )
            end = spki_length(blob, offset)
            element_end = end
            if end < len(blob) and blob[end] == 0x04:
                element_end = end + SPKI_TRAILER_BYTES
                if element_end > len(blob):
                    raise BlobError(BlobFault.MALFORMED, "truncated MACed SPKI trailer")
            opened.append(self.open_public_key(blob[offset:element_end]))
            offset = element_end
        return opened

    # --- rotation

    def _keys_of(self, wkid: bytes):
        """Return the keys of the current or the new master key with ``wkid``.

        An unknown WKID returns the current keys, whose open then reports the mismatch.
        """
        if self._next is not None and wkid == self._next.wkid:
            return self._next
        return self._current

    def rewrap(self, blob: bytes) -> bytes:
        """Reseal a key blob or MACed SPKI under the committed new master key.

        The blob may be under the current or already under the new key, so a rewrap job can
        run again after an interruption. The result has the same length, session id, Boolean
        bits and contents. A plain SPKI belongs to no master key and is returned unchanged.
        """
        if self._next is None:
            raise ValueError("no new master key is committed")
        if blob[:1] == b"\x30":
            end = spki_length(blob)
            if end == len(blob):
                return blob
            trailer_wkid = blob[end + 2 : end + 2 + WKID_BYTES]
            session, mode, attribute_field = self._open_public_trailer(
                blob, end, self._keys_of(trailer_wkid)
            )
            return self._seal_public(blob[:end], attribute_field, session, mode, self._next)
        opened = self._open(KEY_MAGIC, blob, self._keys_of(blob[32:48]))
        return self._seal(KEY_MAGIC, opened.payload, opened.bits, opened.session, self._next)
