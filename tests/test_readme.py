"""The README's Python examples, each run on its own against a real server."""

import os
import re
import subprocess
import sys

import pytest
from conftest import subprocess_environment

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
README_ADDRESS = "127.0.0.1:9876"
RUN_TIMEOUT_SECONDS = 60


def first_call_snippets() -> list:
    """Return the Python blocks of the README section "A first call from Python"."""
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    section = text.split("## A first call from Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def test_first_call_snippets_found():
    snippets = first_call_snippets()
    assert len(snippets) == 2
    for snippet in snippets:
        assert README_ADDRESS in snippet


@pytest.mark.parametrize("index", [0, 1])
def test_first_call_snippet_runs_alone(grep11_emulator, tmp_path, index):
    snippet = first_call_snippets()[index]
    script = tmp_path / f"snippet{index}.py"
    script.write_text(snippet.replace(README_ADDRESS, grep11_emulator.address))
    # Run outside the repository, as the README instructs, so each snippet needs its own imports.
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        cwd=str(tmp_path),
        env=subprocess_environment(),
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
