"""``grep11-certmgr`` as real subprocesses against a real server: flows, output layout, errors."""

import datetime
import os
import re
import socket
import stat
import subprocess
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from certmgr import signing
from certmgr_support import (  # noqa: F401 - fixtures
    certmgr_command,
    certmgr_iam_server,
    certmgr_server,
    make_certificate,
    tls_files,
)

CLI_TIMEOUT_SECONDS = 60
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class CLI:
    """Runs grep11-certmgr against one server with one config folder."""

    def __init__(self, server, config_dir, environment=None):
        self.server = server
        self.config_dir = str(config_dir)
        self.environment = {
            key: value for key, value in os.environ.items()
            if not key.startswith("GREP11_CERTMGR_")
        }
        self.environment.update(environment or {})

    def run(self, *arguments, connection=True) -> subprocess.CompletedProcess:
        command = certmgr_command() + list(arguments)
        if connection:
            command += ["--endpoint", self.server.url, "--cacert", self.server.tls.ca_path,
                        "--config-dir", self.config_dir]
        return subprocess.run(command, capture_output=True, text=True, env=self.environment,
                              timeout=CLI_TIMEOUT_SECONDS)

    def ok(self, *arguments) -> list:
        """Run a command that must succeed and return its stdout lines."""
        result = self.run(*arguments)
        assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        lines = result.stdout.splitlines()
        assert lines[0] == f"Connecting to certificate manager server 127.0.0.1:{self.server.port}..."
        assert lines[-1].startswith("OK: "), lines[-1]
        return lines

    def fails(self, *arguments, status=1, connection=True) -> str:
        """Run a command that must fail with ``status`` and return its stderr."""
        result = self.run(*arguments, connection=connection)
        assert result.returncode == status, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        assert result.stderr.startswith("FAILED\n") or status == 2, result.stderr
        assert "OK: " not in result.stdout
        return result.stderr


def table(lines: list) -> list:
    """Return the rows of the one ASCII table in ``lines`` as lists of stripped cells."""
    start = next(index for index, line in enumerate(lines) if line.startswith("+-"))
    end = max(index for index, line in enumerate(lines) if line.startswith("+-"))
    block = lines[start:end + 1]
    assert block[0] == block[2] == block[-1], "borders differ"
    assert re.fullmatch(r"\+(-+\+)+", block[0])
    widths = {len(line) for line in block}
    assert len(widths) == 1, "ragged table"
    rows = []
    for line in block[1:-1]:
        if line.startswith("+-"):
            continue
        assert line.startswith("| "), line
        assert line.endswith(" |"), line
        rows.append([cell.strip() for cell in line[2:-2].split(" | ")])
    return rows


def key_paths(lines: list) -> tuple:
    rows = table(lines)
    assert rows[0] == ["KEYTYPE", "FILE"]
    assert rows[1][0] == "PrivateKey"
    assert rows[2][0] == "PublicKey"
    return rows[1][1], rows[2][1]


@pytest.fixture
def cli(certmgr_server, tmp_path):
    return CLI(certmgr_server, tmp_path / "config")


@pytest.fixture
def ca_file(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text(make_certificate("CLI CA").pem)
    return str(path)


def test_full_flow(cli, certmgr_server, tmp_path, ca_file):
    lines = cli.ok("adminkey", "set", "--crn", "crn:v1:bluemix:public:hs-crypto:us-south:a/1:2::")
    private_path, public_path = key_paths(lines)
    assert re.fullmatch(rf"{re.escape(cli.config_dir)}/{UUID}\.priv", private_path)
    assert public_path == private_path[:-len(".priv")] + ".pub"
    assert stat.S_IMODE(os.stat(private_path).st_mode) == 0o600
    assert any("Keep the private key safe" in line for line in lines)
    key_id = os.path.basename(private_path)[:-len(".priv")]
    assert certmgr_server.store.admin_key("admin").key_id == key_id

    rows = table(cli.ok("adminkey", "get", "--private"))
    assert rows[0] == ["PROPERTIES", "VALUES"]
    assert rows[1] == ["PublicKey", "-----BEGIN PUBLIC KEY-----"]
    with open(public_path) as handle:
        public_lines = handle.read().strip().splitlines()
    assert [row[1] for row in rows[1:len(public_lines) + 1]] == public_lines
    assert ["KeyID", key_id] in rows

    lines = cli.ok("cert", "set", "--admin-priv-key", private_path, "--cert-id", "ca-one",
                   "--cert", ca_file)
    assert lines[1:] == ["OK: CA certificate ca-one uploaded."]
    second = tmp_path / "second.pem"
    second.write_text(make_certificate("second CLI CA").pem)
    cli.ok("cert", "set", "--admin-priv-key", private_path, "--cert-id", "ca-two",
           "--cert", str(second))
    lines = cli.ok("cert", "set", "--admin-priv-key", private_path, "--cert-id", "ca-two",
                   "--cert", str(second))
    assert lines[-1] == "OK: CA certificate ca-two replaced."

    rows = table(cli.ok("cert", "list"))
    assert rows[0] == ["CERTID", "CERT"]
    assert rows[1] == ["ca-one", "-----BEGIN CERTIFICATE-----"]
    separator = rows.index(["", ""])
    assert rows[separator - 1][1] == "-----END CERTIFICATE-----"
    assert rows[separator + 1] == ["ca-two", "-----BEGIN CERTIFICATE-----"]
    assert rows[-1][1] == "-----END CERTIFICATE-----"

    stored = tmp_path / "stored.pem"
    lines = cli.ok("cert", "get", "--cert-id", "ca-one", "--cert-store-file", str(stored))
    assert re.fullmatch(r"-{40,}", lines[1])
    assert lines[2] == "Certificate ca-one"
    assert lines[3] == lines[1]
    assert lines[4] == "-----BEGIN CERTIFICATE-----"
    with open(ca_file) as handle:
        assert stored.read_text() == handle.read()
    assert "\n".join(lines[4:]).startswith(stored.read_text().strip())

    assert cli.ok("cert", "delete", "--admin-priv-key", private_path,
                  "--cert-id", "ca-one")[-1] == "OK: CA certificate ca-one deleted."
    stderr = cli.fails("cert", "get", "--cert-id", "ca-one")
    assert "certificate_not_found" in stderr
    assert "HTTP 404" in stderr

    new_private, _ = key_paths(cli.ok("adminkey", "update", "--admin-priv-key", private_path))
    assert new_private != private_path
    stderr = cli.fails("cert", "delete", "--admin-priv-key", private_path, "--cert-id", "ca-two")
    assert "invalid_signature" in stderr
    assert "--admin-priv-key" in stderr

    result = cli.run("adminkey", "delete", "--admin-priv-key", new_private)
    assert result.returncode == 0, result.stderr
    assert "1 CA certificate(s) stay in the trust store" in result.stderr
    assert certmgr_server.store.admin_key("admin") is None
    assert certmgr_server.store.certificate_count() == 1
    stderr = cli.fails("adminkey", "get")
    assert "has no admin key" in stderr


def test_rejections_name_the_reason(cli, tmp_path):
    private_path, _ = key_paths(cli.ok("adminkey", "set"))
    now = datetime.datetime.now(datetime.timezone.utc)
    expired = tmp_path / "expired.pem"
    expired.write_text(make_certificate(
        "expired CA",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    ).pem)
    stderr = cli.fails("cert", "set", "--admin-priv-key", private_path, "--cert-id", "old",
                       "--cert", str(expired))
    assert "expired on" in stderr
    assert "expired" in stderr.split("\n")[1]

    weak = tmp_path / "weak.pem"
    weak.write_text(make_certificate(
        "weak CA", key=rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ).pem)
    stderr = cli.fails("cert", "set", "--admin-priv-key", private_path, "--cert-id", "weak",
                       "--cert", str(weak))
    assert "unsupported_key" in stderr


def test_cert_set_rejects_bad_file_locally(cli, certmgr_server, tmp_path, ca_file):
    private_path, _ = key_paths(cli.ok("adminkey", "set"))
    audited = len(certmgr_server.store.audit_events(limit=1000))
    leaf = make_certificate("leaf", ca=False).pem
    no_key_cert_sign = make_certificate("no keyCertSign CA", key_cert_sign=False).pem
    cases = [
        ("hello\n", "no '-----BEGIN CERTIFICATE-----' block found"),
        (signing.public_key_pem(signing.generate_admin_key()), "no '-----BEGIN CERTIFICATE-----'"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "does not parse"),
        (leaf, "is not a CA certificate: basicConstraints has CA:FALSE"),
        (make_certificate("no constraints", ca=None).pem, "has no basicConstraints extension"),
        (no_key_cert_sign, "its keyUsage lacks keyCertSign"),
        (leaf + make_certificate("second").pem, "the PEM holds 2 certificates"),
    ]
    for index, (contents, message) in enumerate(cases):
        path = tmp_path / f"bad{index}.pem"
        path.write_text(contents)
        result = cli.run("cert", "set", "--admin-priv-key", private_path, "--cert-id",
                         f"bad{index}", "--cert", str(path))
        assert result.returncode == 2, f"{message}:\n{result.stdout}\n{result.stderr}"
        assert result.stderr.startswith(f"FAILED\ncannot use the certificate file {path}: ")
        assert message in result.stderr
        assert "Connecting to" not in result.stdout
        assert "OK: " not in result.stdout

    der = tmp_path / "ca.der"
    with open(ca_file, "rb") as handle:
        certificate = x509.load_pem_x509_certificate(handle.read())
    der.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    stderr = cli.fails("cert", "set", "--admin-priv-key", private_path, "--cert-id", "der",
                       "--cert", str(der), status=2)
    assert "is not a PEM text file (DER?" in stderr

    assert certmgr_server.store.certificates("admin") == []
    # A rejected upload is audited too, so an unchanged log shows that no request was sent.
    assert len(certmgr_server.store.audit_events(limit=1000)) == audited


def _feed_fifo(path, total_bytes: int, written: list) -> None:
    """Write ``total_bytes`` of PEM-like text into the FIFO at ``path`` until its reader leaves."""
    chunk = b"A" * 65536
    with open(path, "wb") as fifo:
        try:
            while written[0] < total_bytes:
                fifo.write(chunk)
                written[0] += len(chunk)
        except BrokenPipeError:
            pass


def _fifo_writer(path, total_bytes: int):
    written = [0]
    thread = threading.Thread(target=_feed_fifo, args=(path, total_bytes, written), daemon=True)
    thread.start()
    return thread, written


def _release_fifo_writer(path, thread) -> None:
    # A writer whose reader never came still waits in open(), so open and close the FIFO as a
    # reader to free it.
    if thread.is_alive():
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.close(descriptor)
    thread.join(timeout=CLI_TIMEOUT_SECONDS)


def test_cert_set_rejects_large_files(cli, tmp_path):
    private_path, _ = key_paths(cli.ok("adminkey", "set"))
    large = tmp_path / "large.pem"
    large.write_bytes(b"A" * (1024 * 1024 + 1))
    stderr = cli.fails("cert", "set", "--admin-priv-key", private_path, "--cert-id", "large",
                       "--cert", str(large), status=2)
    assert f"the certificate file {large} has more than 1048576 bytes" in stderr
    assert "a PEM CA certificate is far smaller" in stderr

    # A FIFO reports size 0, like a pipe or a device. The writer offers four times the limit,
    # and the CLI has to stop reading after the limit.
    fifo = tmp_path / "cert.fifo"
    os.mkfifo(fifo)
    offered = 4 * 1024 * 1024
    thread, written = _fifo_writer(fifo, offered)
    try:
        stderr = cli.fails("cert", "set", "--admin-priv-key", private_path, "--cert-id",
                           "fifo", "--cert", str(fifo), status=2)
    finally:
        _release_fifo_writer(fifo, thread)
    assert f"the certificate file {fifo} has more than 1048576 bytes" in stderr
    assert "a PEM CA certificate is far smaller" in stderr
    assert not thread.is_alive()
    assert written[0] < offered


def test_adminkey_set_twice_removes_new_files(cli):
    cli.ok("adminkey", "set")
    before = sorted(os.listdir(cli.config_dir))
    stderr = cli.fails("adminkey", "set")
    assert "admin_key_exists" in stderr
    assert sorted(os.listdir(cli.config_dir)) == before


def test_adminkey_set_with_existing_key(cli, certmgr_server, tmp_path, ca_file):
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "mine.pem"
    path.write_bytes(signing.private_key_pem(key))
    lines = cli.ok("adminkey", "set", "--admin-priv-key", str(path))
    assert key_paths(lines) == (str(path), str(tmp_path / "mine.pub"))
    assert certmgr_server.store.admin_key("admin").public_key_pem == signing.public_key_pem(key)
    cli.ok("cert", "set", "--admin-priv-key", str(path), "--cert-id", "c", "--cert", ca_file)


def test_local_problems_exit_2(cli, tmp_path, ca_file):
    private_path, _ = key_paths(cli.ok("adminkey", "set"))
    stderr = cli.fails("cert", "set", "--admin-priv-key", private_path, "--cert-id", "x",
                       "--cert", str(tmp_path / "missing.pem"), status=2)
    assert "cannot read the certificate file" in stderr
    stderr = cli.fails("cert", "set", "--admin-priv-key", str(tmp_path / "nokey"),
                       "--cert-id", "x", "--cert", ca_file, status=2)
    assert "cannot read the admin private key" in stderr
    stderr = cli.fails("cert", "set", "--admin-priv-key", private_path, "--cert-id", "bad id",
                       "--cert", ca_file, status=2)
    assert "--cert-id 'bad id' is invalid" in stderr
    not_a_key = tmp_path / "not-a-key"
    not_a_key.write_text("hello")
    stderr = cli.fails("cert", "delete", "--admin-priv-key", str(not_a_key), "--cert-id", "x",
                       status=2)
    assert "cannot use the admin private key" in stderr


def test_usage_errors_exit_2(cli):
    result = cli.run("cert", "set", "--cert-id", "x", connection=False)
    assert result.returncode == 2
    assert "--admin-priv-key" in result.stderr
    result = cli.run("nonsense", connection=False)
    assert result.returncode == 2
    result = cli.run("cert", "--help", connection=False)
    assert result.returncode == 0
    assert "list" in result.stdout


def test_connection_flags_after_command(cli, certmgr_server):
    # The README states this placement: the flags belong to the command, not to the program.
    flags = ["--endpoint", certmgr_server.url, "--cacert", certmgr_server.tls.ca_path]
    for command in (flags + ["cert", "list"], ["cert"] + flags + ["list"]):
        result = subprocess.run(
            certmgr_command() + command,
            capture_output=True, text=True, env=cli.environment, timeout=CLI_TIMEOUT_SECONDS,
        )
        assert result.returncode == 2, command
        assert "invalid choice" in result.stderr
    result = subprocess.run(
        certmgr_command() + ["cert", "list"] + flags,
        capture_output=True, text=True, env=cli.environment, timeout=CLI_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, result.stderr


def test_untrusted_server_exits_3(cli, certmgr_server):
    result = subprocess.run(
        certmgr_command() + ["cert", "list", "--endpoint", certmgr_server.url],
        capture_output=True, text=True, env=cli.environment, timeout=CLI_TIMEOUT_SECONDS,
    )
    assert result.returncode == 3
    assert "--cacert" in result.stderr


def test_unreachable_server_exits_3(cli):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        certmgr_command() + ["cert", "list", "--endpoint", f"https://127.0.0.1:{port}"],
        capture_output=True, text=True, env=cli.environment, timeout=CLI_TIMEOUT_SECONDS,
    )
    assert result.returncode == 3
    assert "cannot connect" in result.stderr


def test_two_administrators_by_name(certmgr_server, tmp_path, ca_file):
    alice = CLI(certmgr_server, tmp_path / "alice", {"GREP11_CERTMGR_ADMIN": "alice"})
    bob = CLI(certmgr_server, tmp_path / "bob")
    alice_key, _ = key_paths(alice.ok("adminkey", "set"))
    bob_key, _ = key_paths(bob.ok("adminkey", "set", "--admin-name", "bob"))
    alice.ok("cert", "set", "--admin-priv-key", alice_key, "--cert-id", "a", "--cert", ca_file)
    assert table(bob.ok("cert", "list", "--admin-name", "bob")) == [["CERTID", "CERT"]]
    stderr = bob.fails("cert", "delete", "--admin-name", "bob", "--admin-priv-key", bob_key,
                       "--cert-id", "a")
    assert "certificate_not_found" in stderr
    assert certmgr_server.store.certificate("alice", "a") is not None


def test_iam_apikey(certmgr_iam_server, tmp_path, ca_file):
    anonymous = CLI(certmgr_iam_server, tmp_path / "anon")
    stderr = anonymous.fails("cert", "list")
    assert "missing_token" in stderr

    alice = CLI(certmgr_iam_server, tmp_path / "alice", {"GREP11_CERTMGR_APIKEY": "alice-key"})
    private_path, _ = key_paths(alice.ok("adminkey", "set"))
    alice.ok("cert", "set", "--admin-priv-key", private_path, "--cert-id", "a", "--cert", ca_file)
    assert certmgr_iam_server.store.certificate("alice", "a") is not None

    writer = CLI(certmgr_iam_server, tmp_path / "carol")
    stderr = writer.fails("cert", "list", "--apikey", "writer-key")
    assert "missing_role" in stderr
    stderr = writer.fails("cert", "list", "--apikey", "no-such-key")
    assert "the API key was rejected" in stderr
