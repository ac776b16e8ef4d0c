"""docs/MECHANISMS.md matches the mechanism table that it is generated from."""

import os

from ep11core import coverage
from ep11core.constants import CKM, ckm_name
from ep11core.mechanisms import MECHANISMS, MECHANISM_ROWS

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(REPOSITORY, "docs", "MECHANISMS.md")


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


def test_no_documented_gaps():
    text = coverage.render()
    assert coverage.NO_GAPS in text
    for mechanism, columns in coverage._documented().items():
        assert mechanism in MECHANISMS, ckm_name(mechanism)
        served = coverage._served_columns(MECHANISMS[mechanism].functions)
        assert set(columns) <= set(served), ckm_name(mechanism)


def test_gap_rows_name_missing_functions():
    # CKM_IBM_EAC is not in the table, and CKM_SHA256 does not sign.
    documented = {int(CKM.IBM_EAC): ["Derive"], int(CKM.SHA256): ["Digest", "Sign"]}
    rows = coverage._gap_rows(documented)
    assert rows[2] == f"| CKM_IBM_EAC | all | {coverage.DEFAULT_GAP_REASON} |"
    assert rows[3] == f"| CKM_SHA256 | Sign | {coverage.DEFAULT_GAP_REASON} |"
    assert len(rows) == 4


def test_main_writes_output(tmp_path):
    output = tmp_path / "MECHANISMS.md"
    assert coverage.main(["--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == coverage.render()
