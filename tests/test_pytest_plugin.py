"""The pytest plugin in another project: ``pytest --fixtures`` documents each fixture."""

import subprocess
import sys
import textwrap

from conftest import subprocess_environment

FIXTURES = {
    "grep11_emulator": "A started ``EmulatorServer`` for the whole session",
    "grep11_stub": "A ``CryptoStub`` for the whole session, on a plaintext channel",
    "grep11_tls_stub": "A ``CryptoStub`` for the whole session, on a TLS channel",
}

# Registers the plugin as this repository's conftest does, so the check also runs from a source
# checkout where the pytest11 entry point is not installed.
PROJECT_CONFTEST = textwrap.dedent(
    """
    def pytest_configure(config):
        if not config.pluginmanager.has_plugin("grep11_emulator"):
            config.pluginmanager.import_plugin("grpc_server.pytest_plugin")
    """
)


def test_fixtures_have_docstrings(tmp_path):
    (tmp_path / "conftest.py").write_text(PROJECT_CONFTEST)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=subprocess_environment(),
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name, summary in FIXTURES.items():
        headers = [index for index, line in enumerate(lines) if line.startswith(f"{name} ")]
        assert len(headers) == 1, f"{name} is missing from:\n{result.stdout}"
        assert "[session scope]" in lines[headers[0]]
        assert lines[headers[0] + 1].strip().startswith(summary)
