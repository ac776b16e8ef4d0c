"""docs/MECHANISMS.md matches the mechanism table that it is generated from."""

import os

from ep11core import coverage
from ep11core.constants import ckm_name
from ep11core.mechanisms import MECHANISMS, MECHANISM_ROWS

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(REPOSITORY, "docs", "MECHANISMS.md")


def _gap_rows(text: str):
    gaps = text.split("| Mechanism | Missing | Reason |\n|---|---|---|\n", 1)[1]
    return [line for line in gaps.splitlines() if line.startswith("| ")]


def test_page_matches_table():
    with open(PAGE, encoding="utf-8") as handle:
        committed = handle.read()
    assert committed == coverage.render(), (
        "docs/MECHANISMS.md is out of date with the mechanism table; regenerate it from the "
        f"repository root with: {coverage.REGENERATE_COMMAND}"
    )


def test_row_per_mechanism():
    text = coverage.render()
    for row in MECHANISM_ROWS:
        assert f"| {ckm_name(row.mechanism)} | {row.mechanism:#x} |" in text


def test_absent_documented_mechanism_is_gap():
    rows = _gap_rows(coverage.render())
    for mechanism in coverage._documented():
        if mechanism not in MECHANISMS:
            assert any(row.startswith(f"| {ckm_name(mechanism)} | all |") for row in rows)


def test_gap_rows_have_reasons():
    rows = _gap_rows(coverage.render())
    assert rows, "no gap rows; if the table now serves every documented mechanism, drop this test"
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 3, f"malformed gap row: {row}"
        assert cells[2], f"gap without a reason: {row}"


def test_main_writes_output(tmp_path):
    output = tmp_path / "MECHANISMS.md"
    assert coverage.main(["--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == coverage.render()
