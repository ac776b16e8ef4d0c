"""``grep11-certmgr``: the ``ibmcloud hpcs-cert-mgr`` commands against the emulator.

Commands and flags follow the IBM Cloud CLI plug-in: ``adminkey set|get|update|delete`` and
``cert set|get|list|delete`` with ``--crn``, ``--private``, ``--admin-priv-key``, ``--cert-id``,
``--cert`` and ``--cert-store-file``. ``--crn`` and ``--private`` are accepted and ignored,
because the emulator serves one instance on one endpoint. The emulator adds ``--endpoint``,
``--cacert``, ``--config-dir``, ``--apikey`` and ``--admin-name``.

Output: a progress line naming the server, the command's table or PEM, and a completion line
starting with ``OK``. Failures print ``FAILED`` and the reason to stderr and exit with:

- 1: the server rejected the request (the message carries the HTTP status and reason code);
- 2: wrong usage or an unusable local file (key, config folder, or a certificate that is not
  one PEM X.509 CA certificate), found before any request is sent;
- 3: the server could not be reached, or its TLS certificate is not trusted.
"""

import argparse
import os
import re
import sys
import uuid
from typing import Optional

from certmgr import policy, signing
from certmgr.client import CertMgrClient, ConnectionFailed, RequestRejected
from certmgr.output import render_banner, render_table

PROGRAM = "grep11-certmgr"
DEFAULT_ENDPOINT = "https://127.0.0.1:9878"
DEFAULT_CONFIG_DIR = os.path.join("~", ".hpcs-cert-mgr-cfg")
APIKEY_VARIABLE = "GREP11_CERTMGR_APIKEY"
ADMIN_VARIABLE = "GREP11_CERTMGR_ADMIN"
ENDPOINT_VARIABLE = "GREP11_CERTMGR_ENDPOINT"
CACERT_VARIABLE = "GREP11_CERTMGR_CACERT"
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
# Local certificate files larger than this are not sent; the server's own limit is lower.
MAX_CERT_FILE_BYTES = 1024 * 1024
KEY_NOTICE = (
    "The admin signature key pair is stored on this computer and its public key is registered "
    "with the certificate manager.\nKeep the private key safe: cert set, cert delete, adminkey "
    "update and adminkey delete are signed with it."
)


class UsageError(Exception):
    """A local problem: a missing or unusable file, or an invalid flag value."""


# --- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--crn", metavar="HPCS_CRN",
        help="CRN of the HPCS instance; accepted and ignored, the emulator serves one instance",
    )
    common.add_argument(
        "--private", action="store_true",
        help="use the private endpoint; accepted and ignored, the emulator has one endpoint",
    )
    common.add_argument(
        "--endpoint", default=os.environ.get(ENDPOINT_VARIABLE, DEFAULT_ENDPOINT), metavar="URL",
        help=f"certificate manager URL (default: ${ENDPOINT_VARIABLE}, else {DEFAULT_ENDPOINT})",
    )
    common.add_argument(
        "--cacert", default=os.environ.get(CACERT_VARIABLE), metavar="PATH",
        help="PEM file of the CA to trust for the endpoint, for example the emulator's "
        f"ca_cert from its ready file (default: ${CACERT_VARIABLE}, else the system CAs)",
    )
    common.add_argument(
        "--config-dir", default=DEFAULT_CONFIG_DIR, metavar="DIR",
        help="folder of the admin key files <uuid>.priv and <uuid>.pub "
        f"(default: {DEFAULT_CONFIG_DIR})",
    )
    common.add_argument(
        "--apikey", default=os.environ.get(APIKEY_VARIABLE), metavar="KEY",
        help=f"API key to exchange for an IAM token while the server runs with IAM "
        f"(default: ${APIKEY_VARIABLE})",
    )
    common.add_argument(
        "--admin-name", default=os.environ.get(ADMIN_VARIABLE), metavar="NAME",
        help="administrator to act as while the server runs without IAM "
        f"(default: ${ADMIN_VARIABLE}, else {policy.DEFAULT_ADMIN})",
    )

    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Manage the admin signature key and the client CA certificates of the "
        "grep11-emulator certificate manager (mutual TLS for GREP11).",
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="{adminkey,cert}")
    _add_adminkey_commands(groups, common)
    _add_cert_commands(groups, common)
    return parser


def _add_adminkey_commands(groups, common) -> None:
    group = groups.add_parser("adminkey", help="manage your admin signature key")
    commands = group.add_subparsers(dest="command", required=True,
                                    metavar="{set,get,update,delete}")
    command = commands.add_parser(
        "set", parents=[common], help="generate an admin key pair and register its public key"
    )
    command.add_argument(
        "--admin-priv-key", metavar="ADMIN_PRIV_KEY",
        help="register the public half of this existing PEM private key instead of generating "
        "a new pair",
    )
    command.set_defaults(handler=adminkey_set)
    command = commands.add_parser("get", parents=[common], help="show your registered public key")
    command.set_defaults(handler=adminkey_get)
    command = commands.add_parser(
        "update", parents=[common], help="generate a new key pair and replace the registered key"
    )
    command.add_argument("--admin-priv-key", required=True, metavar="ADMIN_PRIV_KEY",
                         help="path of the current admin private key, which signs the change")
    command.set_defaults(handler=adminkey_update)
    command = commands.add_parser("delete", parents=[common],
                                  help="remove your admin key (your certificates stay)")
    command.add_argument("--admin-priv-key", required=True, metavar="ADMIN_PRIV_KEY",
                         help="path of the current admin private key")
    command.set_defaults(handler=adminkey_delete)


def _add_cert_commands(groups, common) -> None:
    group = groups.add_parser("cert", help="manage your client CA certificates")
    commands = group.add_subparsers(dest="command", required=True,
                                    metavar="{set,get,list,delete}")
    command = commands.add_parser("set", parents=[common],
                                  help="upload a CA certificate, or replace the one with that ID")
    command.add_argument("--admin-priv-key", required=True, metavar="ADMIN_PRIV_KEY",
                         help="path of your admin private key")
    command.add_argument("--cert-id", required=True, metavar="CERT_ID",
                         help="your label for the certificate")
    command.add_argument("--cert", required=True, metavar="CERT_FILE",
                         help="path of the PEM CA certificate")
    command.set_defaults(handler=cert_set)
    command = commands.add_parser("get", parents=[common], help="print one of your certificates")
    command.add_argument("--cert-id", required=True, metavar="CERT_ID")
    command.add_argument("--cert-store-file", metavar="CERT_FILE",
                         help="also write the PEM certificate to this file")
    command.set_defaults(handler=cert_get)
    command = commands.add_parser("list", parents=[common], help="list your certificates")
    command.set_defaults(handler=cert_list)
    command = commands.add_parser("delete", parents=[common],
                                  help="delete one of your certificates")
    command.add_argument("--admin-priv-key", required=True, metavar="ADMIN_PRIV_KEY",
                         help="path of your admin private key")
    command.add_argument("--cert-id", required=True, metavar="CERT_ID")
    command.set_defaults(handler=cert_delete)


# --- local files


def config_dir(args) -> str:
    return os.path.abspath(os.path.expanduser(args.config_dir))


def read_private_key(path: str):
    try:
        with open(path, "rb") as handle:
            pem = handle.read(64 * 1024)
    except OSError as error:
        raise UsageError(f"cannot read the admin private key {path}: {error.strerror}") from None
    try:
        return signing.load_private_key(pem)
    except ValueError as error:
        raise UsageError(f"cannot use the admin private key {path}: {error}") from None


def write_key_pair(folder: str, key) -> tuple[str, str, str]:
    """Write ``<uuid>.priv`` (0600) and ``<uuid>.pub`` into ``folder``; return the three."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the config folder {folder}: {error.strerror}") from None
    key_id = str(uuid.uuid4())
    private_path = os.path.join(folder, f"{key_id}.priv")
    public_path = os.path.join(folder, f"{key_id}.pub")
    try:
        _write_new_file(private_path, signing.private_key_pem(key), 0o600)
        _write_new_file(public_path, signing.public_key_pem(key).encode("ascii"), 0o644)
    except OSError as error:
        _remove_quietly(private_path, public_path)
        raise UsageError(f"cannot write the key pair into {folder}: {error.strerror}") from None
    return key_id, private_path, public_path


def _write_new_file(path: str, data: bytes, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as handle:
        # The umask may have narrowed the mode; this sets it exactly.
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _remove_quietly(*paths: str) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def read_certificate_file(path: str) -> str:
    # Read at most one byte past the limit whatever the file is, because a pipe, a FIFO or a
    # device such as /dev/urandom reports size 0 and may never end.
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CERT_FILE_BYTES + 1)
    except OSError as error:
        raise UsageError(f"cannot read the certificate file {path}: {error.strerror}") from None
    if len(data) > MAX_CERT_FILE_BYTES:
        raise UsageError(
            f"the certificate file {path} has more than {MAX_CERT_FILE_BYTES} bytes; a PEM CA "
            "certificate is far smaller"
        )
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise UsageError(
            f"the certificate file {path} is not a PEM text file (DER? convert it with "
            "'openssl x509 -inform der -outform pem')"
        ) from None


def read_ca_certificate(path: str) -> str:
    """Read a PEM certificate file and check that it contains one CA certificate.

    The server checks the validity period, against its own clock, and the key type.
    """
    pem = read_certificate_file(path)
    try:
        policy.parse_ca_certificate(pem)
    except policy.CertificateRejected as error:
        raise UsageError(f"cannot use the certificate file {path}: {error.message}") from None
    return pem


def check_cert_id(cert_id: str) -> None:
    if not policy.is_cert_id(cert_id):
        raise UsageError(
            f"--cert-id {cert_id!r} is invalid: use 1 to 128 characters from A-Z a-z 0-9 . _ ~ -"
            ", starting with a letter or digit"
        )


# --- commands


def adminkey_set(args, client: CertMgrClient) -> str:
    folder = config_dir(args)
    if args.admin_priv_key:
        key = read_private_key(args.admin_priv_key)
        private_path = os.path.abspath(args.admin_priv_key)
        stem = os.path.splitext(os.path.basename(private_path))[0]
        key_id = stem if _is_uuid(stem) else str(uuid.uuid4())
        public_path = os.path.join(os.path.dirname(private_path), f"{stem}.pub")
        written = []
        if not os.path.exists(public_path):
            _write_new_file(public_path, signing.public_key_pem(key).encode("ascii"), 0o644)
            written.append(public_path)
    else:
        key = signing.generate_admin_key()
        key_id, private_path, public_path = write_key_pair(folder, key)
        written = [private_path, public_path]

    _connecting(client)
    try:
        client.set_admin_key(key_id, signing.public_key_pem(key))
    except BaseException:
        # The server did not register this pair, so nothing may ever need these files.
        _remove_quietly(*written)
        raise
    _print_key_table(private_path, public_path)
    return f"OK: admin signature key {key_id} registered."


def adminkey_get(args, client: CertMgrClient) -> str:
    _connecting(client)
    document = client.get_admin_key()
    print(render_table(
        ["PROPERTIES", "VALUES"],
        [["PublicKey", document["public_key"].strip()],
         ["KeyID", document["key_id"]],
         ["Algorithm", document["algorithm"]]],
    ))
    return "OK: admin signature key retrieved."


def adminkey_update(args, client: CertMgrClient) -> str:
    current = read_private_key(args.admin_priv_key)
    key = signing.generate_admin_key()
    key_id, private_path, public_path = write_key_pair(config_dir(args), key)
    _connecting(client)
    try:
        client.update_admin_key(current, key_id, signing.public_key_pem(key))
    except BaseException:
        _remove_quietly(private_path, public_path)
        raise
    _print_key_table(private_path, public_path)
    return (
        f"OK: admin signature key replaced by {key_id}; the previous private key no longer "
        "signs requests."
    )


def adminkey_delete(args, client: CertMgrClient) -> str:
    current = read_private_key(args.admin_priv_key)
    _connecting(client)
    document = client.delete_admin_key(current)
    kept = document.get("certificates_kept", 0)
    if kept:
        print(
            f"Note: your {kept} CA certificate(s) stay in the trust store. To remove them, run "
            "'adminkey set' again and then 'cert delete'.",
            file=sys.stderr,
        )
    return f"OK: admin signature key {document['key_id']} deleted."


def cert_set(args, client: CertMgrClient) -> str:
    check_cert_id(args.cert_id)
    key = read_private_key(args.admin_priv_key)
    pem = read_ca_certificate(args.cert)
    _connecting(client)
    document = client.set_certificate(key, args.cert_id, pem)
    verb = "uploaded" if document.get("created") else "replaced"
    return f"OK: CA certificate {args.cert_id} {verb}."


def cert_get(args, client: CertMgrClient) -> str:
    check_cert_id(args.cert_id)
    _connecting(client)
    document = client.get_certificate(args.cert_id)
    pem = document["pem"]
    print(render_banner(f"Certificate {args.cert_id}"))
    print(pem.rstrip("\n"))
    if args.cert_store_file:
        try:
            with open(args.cert_store_file, "w", encoding="ascii") as handle:
                handle.write(pem)
        except OSError as error:
            raise UsageError(
                f"cannot write {args.cert_store_file}: {error.strerror}"
            ) from None
        print(f"Certificate written to {os.path.abspath(args.cert_store_file)}")
    return f"OK: CA certificate {args.cert_id} retrieved."


def cert_list(args, client: CertMgrClient) -> str:
    _connecting(client)
    certificates = client.list_certificates()["certificates"]
    rows = []
    for index, certificate in enumerate(certificates):
        if index:
            rows.append(["", ""])
        rows.append([certificate["cert_id"], certificate["pem"].rstrip("\n")])
    print(render_table(["CERTID", "CERT"], rows))
    return f"OK: {len(certificates)} CA certificate(s) listed."


def cert_delete(args, client: CertMgrClient) -> str:
    check_cert_id(args.cert_id)
    key = read_private_key(args.admin_priv_key)
    _connecting(client)
    client.delete_certificate(key, args.cert_id)
    return f"OK: CA certificate {args.cert_id} deleted."


def _connecting(client: CertMgrClient) -> None:
    print(f"Connecting to certificate manager server {client.host_port}...", flush=True)


def _print_key_table(private_path: str, public_path: str) -> None:
    print(render_table(["KEYTYPE", "FILE"],
                       [["PrivateKey", private_path], ["PublicKey", public_path]]))
    print(KEY_NOTICE)


def _is_uuid(text: str) -> bool:
    return re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", text) is not None


# --- entry point


def _fail(message: str, status: int) -> int:
    sys.stdout.flush()
    print(f"FAILED\n{message}", file=sys.stderr)
    return status


def main(argv: Optional[list] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        client = CertMgrClient(args.endpoint, cacert=args.cacert, apikey=args.apikey,
                               admin=args.admin_name)
    except (ValueError, OSError) as error:
        return _fail(f"cannot set up the connection: {error}", EXIT_USAGE)
    try:
        with client:
            completion = args.handler(args, client)
    except UsageError as error:
        return _fail(str(error), EXIT_USAGE)
    except RequestRejected as error:
        return _fail(str(error), EXIT_REJECTED)
    except ConnectionFailed as error:
        return _fail(str(error), EXIT_CONNECTION)
    except OSError as error:
        return _fail(f"{error.filename or 'a local file'}: {error.strerror}", EXIT_USAGE)
    print(completion)
    return 0


if __name__ == "__main__":
    sys.exit(main())
