"""SoftHSMv2 through python-pkcs11, on a token made in a temporary folder.

The Debian package ``softhsm2`` provides the PKCS #11 library and ``softhsm2-util``
(``benchmarks/install-softhsm.sh`` installs it). ``open_token`` writes a configuration file
into a temporary folder, points ``SOFTHSM2_CONF`` at it, initialises one token there and logs
in. Nothing outside that folder changes, and the folder is removed on ``close``.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
from typing import Callable, Dict, Optional, Tuple

LIBRARY_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
LIBRARY_VARIABLE = "SOFTHSM2_LIBRARY"
TOKEN_LABEL = "grep11-bench"
USER_PIN = "1234"
SO_PIN = "123456"
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")


class Token:
    """A logged-in session on a fresh SoftHSMv2 token, with the benchmark keys made in it."""

    def __init__(self, folder: str, library_path: str, version: str):
        import pkcs11

        self.folder = folder
        self.library_path = library_path
        self.version = version
        self._pkcs11 = pkcs11
        self._token = pkcs11.lib(library_path).get_token(token_label=TOKEN_LABEL)
        self._session = self._token.open(user_pin=USER_PIN, rw=True)
        # The login of the first session covers every later session of this process.
        self._keygen_session = self._token.open(rw=True)

    def operations(self, data: bytes, iv: bytes) -> Dict[str, Callable[[], object]]:
        """Return the benchmark operations on keys made in this token (session objects)."""
        pkcs11 = self._pkcs11
        Attribute, KeyType, Mechanism = pkcs11.Attribute, pkcs11.KeyType, pkcs11.Mechanism
        session = self._session
        _public, rsa_private = session.generate_keypair(KeyType.RSA, 2048)
        parameters = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: P256_PARAMS}, local=True
        )
        _public, ec_private = parameters.generate_keypair()
        aes_key = session.generate_key(KeyType.AES, 256)

        def ecdsa_sign():
            # NOTE: SoftHSMv2 2.6 has no CKM_ECDSA_SHA256, so the application hashes and signs
            # the digest with CKM_ECDSA. Hashing 1 KiB in-process adds an estimated 2 us per call.
            return ec_private.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)

        return {
            "rsa2048_sign": lambda: rsa_private.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS),
            "ecdsa_p256_sign": ecdsa_sign,
            "aes256_cbc_pad_encrypt": lambda: aes_key.encrypt(
                data, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv
            ),
            "sha256_digest": lambda: session.digest(data, mechanism=Mechanism.SHA256),
            "aes256_keygen": lambda: self._keygen_session.generate_key(KeyType.AES, 256),
        }

    def discard_session_objects(self) -> None:
        """Close and reopen the key generation session, which destroys the keys it made.

        Generated keys are session objects; thousands of them would slow SoftHSMv2's object
        lookups in the rounds after.
        """
        self._keygen_session.close()
        self._keygen_session = self._token.open(rw=True)

    def close(self) -> None:
        self._keygen_session.close()
        self._session.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def find_library() -> Optional[str]:
    """Return the path of libsofthsm2.so from $SOFTHSM2_LIBRARY or the Debian locations."""
    configured = os.environ.get(LIBRARY_VARIABLE)
    if configured:
        return configured if os.path.exists(configured) else None
    for candidate in LIBRARY_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    return None


def open_token() -> Tuple[Optional[Token], Optional[str]]:
    """Initialise a token in a temporary folder; return (token, None) or (None, reason)."""
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return None, (
            "python-pkcs11 is not installed (pip install 'grep11-emulator[bench]' or "
            "pip install python-pkcs11)"
        )
    utility = shutil.which("softhsm2-util")
    library = find_library()
    if utility is None or library is None:
        return None, (
            "SoftHSMv2 is not installed (softhsm2-util or libsofthsm2.so not found); run "
            "benchmarks/install-softhsm.sh or apt-get install softhsm2"
        )
    version = subprocess.run(
        [utility, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    folder = tempfile.mkdtemp(prefix="grep11-bench-softhsm-")
    tokens = os.path.join(folder, "tokens")
    os.mkdir(tokens)
    config = os.path.join(folder, "softhsm2.conf")
    with open(config, "w") as handle:
        handle.write(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
        handle.write("log.level = ERROR\n")
    # The library reads SOFTHSM2_CONF when it is loaded, which happens in Token().
    os.environ["SOFTHSM2_CONF"] = config
    initialised = subprocess.run(
        [
            utility,
            "--init-token",
            "--free",
            "--label",
            TOKEN_LABEL,
            "--pin",
            USER_PIN,
            "--so-pin",
            SO_PIN,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if initialised.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"softhsm2-util --init-token failed: {initialised.stderr.strip()}"
    return Token(folder, library, version), None
