"""EP11 login sessions: PIN blobs, and the session id that binds a key blob to a login.

EP11's ``m_Login`` turns a PIN and a nonce into a PIN blob, and every EP11 call that creates a
key takes that PIN blob as an argument. The GREP11 protocol has Login and Logout RPCs but no
PIN-blob argument on the other calls, so the emulator binds keys as follows (our choice):

- ``Login(store_id, pin)`` returns an 80-byte PIN blob: the 32-byte session id, a 16-byte random
  salt and an HMAC-SHA-256 over both (the EP11 PIN blob sizes, ``XCP_PINBLOB_BYTES``). The
  session id is an HMAC of the store id and the PIN under a key derived from the master key.
  Logging in again with the same store id and PIN therefore reopens the same session, which
  EP11 hosts rely on when they log in again after CKR_SESSION_CLOSED.
- A call that creates a key binds it to a session when its template carries
  CKA_IBM_LOGIN_SESSION with that PIN blob. The key blob then carries the session id in its
  first 32 bytes, and CKA_IBM_LOGIN_SESSION reads back as the session id. Public keys (MACed
  SPKIs) stay unbound, because EP11 cannot restrict the use of public keys.
- A session-bound blob works only while its session is open; otherwise every call that opens
  it, GetAttributeValue included, fails with CKR_SESSION_CLOSED. Stateful operations on a bound key fail the same way, because every state
  blob reopens its key.
- ``Logout()`` closes every session of the domain, because the GREP11 LogoutRequest names none.

Open sessions live in memory only: after a restart every bound blob fails with
CKR_SESSION_CLOSED until its session is logged in again.
"""

import hmac as _hmac
import struct
import threading
from typing import Optional

from . import _crypto
from .constants import CKR
from .errors import PKCS11Error

SESSION_ID_BYTES = 32
PIN_SALT_BYTES = 16
PIN_MAC_BYTES = 32
PIN_BLOB_BYTES = SESSION_ID_BYTES + PIN_SALT_BYTES + PIN_MAC_BYTES
# EP11 accepts 8 to 16 PIN bytes (XCP_MIN_PINBYTES, XCP_MAX_PINBYTES) and up to 64 for its
# FIPS 2021 login; the emulator accepts the union.
PIN_MIN_BYTES = 8
PIN_MAX_BYTES = 64
# NOTE: EP11 does not publish a limit for the nonce (GREP11 Storeid); 64 bytes is our choice.
STORE_ID_MAX_BYTES = 64
ZERO_SESSION = bytes(SESSION_ID_BYTES)
# A leading 0x30 would make a bound blob look like a DER SPKI to hosts that test byte 0.
DER_SEQUENCE_TAG = 0x30


class LoginSessions:
    """The open login sessions of one domain; safe to use from several threads."""

    def __init__(self, master_key):
        root = master_key.key
        self._session_id_key = _crypto.hmac("sha256", root, b"grep11-emulator login session id")
        self._pin_blob_key = _crypto.hmac("sha256", root, b"grep11-emulator pin blob mac")
        self._open = set()
        self._lock = threading.Lock()

    def login(self, store_id: bytes, pin: bytes) -> bytes:
        """Open the session of (store id, PIN) and return its PIN blob."""
        store_id, pin = bytes(store_id), bytes(pin)
        if not PIN_MIN_BYTES <= len(pin) <= PIN_MAX_BYTES:
            raise PKCS11Error(
                CKR.PIN_LEN_RANGE,
                f"a PIN is {PIN_MIN_BYTES} to {PIN_MAX_BYTES} bytes, got {len(pin)}",
            )
        if len(store_id) > STORE_ID_MAX_BYTES:
            raise PKCS11Error(
                CKR.ARGUMENTS_BAD,
                f"a store id is at most {STORE_ID_MAX_BYTES} bytes, got {len(store_id)}",
            )
        message = struct.pack(">H", len(store_id)) + store_id + pin
        session = bytearray(_crypto.hmac("sha256", self._session_id_key, message))
        if session[0] == DER_SEQUENCE_TAG:
            session[0] ^= 0x01
        session = bytes(session)
        salt = _crypto.random_bytes(PIN_SALT_BYTES)
        mac = _crypto.hmac("sha256", self._pin_blob_key, session + salt)
        with self._lock:
            self._open.add(session)
        return session + salt + mac

    def logout_all(self) -> None:
        """Close every open session."""
        with self._lock:
            self._open.clear()

    def session_of(self, pin_blob: Optional[bytes]) -> bytes:
        """Return the session id of a PIN blob whose session is open."""
        pin_blob = bytes(pin_blob or b"")
        if len(pin_blob) != PIN_BLOB_BYTES:
            raise PKCS11Error(
                CKR.ATTRIBUTE_VALUE_INVALID,
                f"CKA_IBM_LOGIN_SESSION must be a {PIN_BLOB_BYTES}-byte PIN blob from Login, "
                f"got {len(pin_blob)} bytes",
            )
        signed, mac = pin_blob[:-PIN_MAC_BYTES], pin_blob[-PIN_MAC_BYTES:]
        expected = _crypto.hmac("sha256", self._pin_blob_key, signed)
        if not _hmac.compare_digest(expected, mac):
            raise PKCS11Error(CKR.PIN_INCORRECT, "the PIN blob was not issued by this domain")
        session = pin_blob[:SESSION_ID_BYTES]
        self.require_open(session)
        return session

    def require_open(self, session: bytes) -> None:
        """Raise CKR_SESSION_CLOSED unless ``session`` is zero (unbound) or open."""
        if session == ZERO_SESSION:
            return
        with self._lock:
            is_open = session in self._open
        if not is_open:
            raise PKCS11Error(
                CKR.SESSION_CLOSED,
                "the key is bound to a login session that is not open; log in again",
            )
