"""Excel (xlsx) workbooks for console exports: plain tables, one per sheet.

Model-free on purpose: callers mask and shape the rows, this module only lays them out.
Cells that start like a formula are written as text, so an exported value can never run
as a formula in the reader's spreadsheet program (CSV/formula injection).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

Cell = str | int | float | None

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1565E0")
# Excel refuses sheet titles longer than 31 characters or containing these.
_TITLE_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its title, the header row and the data rows."""

    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence[Cell]]
    notes: Sequence[str] = field(default_factory=tuple)


def _width(value: object) -> int:
    # CJK characters take two columns in a spreadsheet's default font.
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in str(value if value is not None else ""))


def _safe(value: Cell) -> Cell:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        # A leading apostrophe is how spreadsheet users themselves mark "this is text".
        return "'" + value
    return value


def write_xlsx_sheets(sheets: Sequence[Sheet]) -> bytes:
    """A workbook with one sheet per ``Sheet``: optional note lines, then a bold header."""
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    workbook = Workbook()
    workbook.remove(workbook.active)
    for sheet in sheets:
        worksheet = workbook.create_sheet(sheet.title.translate(_TITLE_FORBIDDEN)[:31] or "Sheet")
        for note in sheet.notes:
            worksheet.append([_safe(note)])
        header_row = len(sheet.notes) + 1
        worksheet.append([_safe(h) for h in sheet.headers])
        for column, _ in enumerate(sheet.headers, start=1):
            cell = worksheet.cell(row=header_row, column=column)
            cell.font = _HEADER_FONT
            cell.fill = _HEADER_FILL
            cell.alignment = Alignment(vertical="center")
        widths = [max(6, _width(h) + 2) for h in sheet.headers]
        for row in sheet.rows:
            worksheet.append([_safe(value) for value in row])
            for index, value in enumerate(row[: len(widths)]):
                widths[index] = min(60, max(widths[index], _width(value) + 2))
        for index, width in enumerate(widths, start=1):
            worksheet.column_dimensions[get_column_letter(index)].width = width
        worksheet.freeze_panes = worksheet.cell(row=header_row + 1, column=1)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_xlsx(sheet_title: str, headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """A one-sheet workbook: a bold header row, then ``rows``."""
    return write_xlsx_sheets([Sheet(sheet_title, headers, rows)])


XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

__all__ = ["XLSX_CONTENT_TYPE", "Cell", "Sheet", "write_xlsx", "write_xlsx_sheets"]
