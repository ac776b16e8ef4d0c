"""Text output of ``grep11-certmgr``: ASCII tables and banners in the plug-in's layout.

The layout follows the ``hpcs-cert-mgr`` plug-in: ``+---+`` borders, ``|`` separators, capitalised
headers, and cells that may span several lines (a PEM block in one cell). The wording of the
progress, notice and completion lines is the emulator's own.
"""

from typing import Sequence


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return the table as text without a trailing newline; cells may contain newlines."""
    split_rows = [[str(cell).split("\n") for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in split_rows:
        for index, cell_lines in enumerate(row):
            widths[index] = max([widths[index]] + [len(line) for line in cell_lines])

    border = "+" + "+".join("-" * (width + 2) for width in widths) + "+"
    lines = [border, _row_line(headers, widths), border]
    for row in split_rows:
        height = max(len(cell_lines) for cell_lines in row)
        for line_index in range(height):
            cells = [
                cell_lines[line_index] if line_index < len(cell_lines) else ""
                for cell_lines in row
            ]
            lines.append(_row_line(cells, widths))
    lines.append(border)
    return "\n".join(lines)


def _row_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"


def render_banner(title: str) -> str:
    """Return ``title`` between two lines of dashes as long as the title."""
    rule = "-" * max(len(title), 40)
    return f"{rule}\n{title}\n{rule}"
