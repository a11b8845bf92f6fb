"""Tables as files: CSV and Excel (xlsx, openpyxl) bytes for download buttons and the command line.

The file holds exactly the rows and columns of the table on screen, headed by the same
labels. CSV is UTF-8 with a byte-order mark so that Excel on a Chinese desktop opens it
without garbling the characters.

Text that a spreadsheet would read as a formula (a cell starting with ``=``, ``+``, ``-`` or
``@``, or a tab or carriage return before one; names and descriptions are typed by people) is
written as text: in CSV with a leading apostrophe (the OWASP advice: Excel and LibreOffice then
show it as text), in xlsx as a string cell. Numbers, negative ones included, stay numbers.
"""
from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"
_HEAD_FILL = PatternFill("solid", fgColor="1E3A5F")
_HEAD_FONT = Font(bold=True, color="FFFFFF")


# What a spreadsheet may start evaluating; a plain number such as "-12.5" is harmless and kept.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def formula_like(v) -> bool:
    """True for text a spreadsheet would take as a formula (see the module's docstring)."""
    return isinstance(v, str) and v.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(v)


def _as_text(v):
    return "'" + v if formula_like(v) else v


# One decimal for what the screen shows with one decimal: per cents (``*_pct``, "83.4%") and
# working hours (``*_wh``, "10.2"); more digits in a file would be noise a reader must round again.
ROUNDED_SUFFIXES = ("_pct", "_wh")


def rounded(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with per cents and hours rounded to one decimal, as the screen shows them (the
    table on screen and both files use this one copy, so they agree)."""
    cols = [c for c in df.columns if str(c).endswith(ROUNDED_SUFFIXES) and pd.api.types.is_numeric_dtype(df[c])]
    return df.assign(**{c: df[c].round(1) for c in cols}) if cols else df


def period_tag(start: date, end: date) -> str:
    """The period as a file name part, the days the screen shows: ``end`` is exclusive, so the
    last day in the name is the day before it (``20261101-20261130`` for November).

    >>> period_tag(date(2026, 11, 1), date(2026, 12, 1))
    '20261101-20261130'
    """
    return f"{start:%Y%m%d}-{end - timedelta(days=1):%Y%m%d}"


def labelled(df: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """``df`` with its columns renamed to their labels (columns without a label keep their name)."""
    return df.rename(columns={c: labels.get(c, c) for c in df.columns})


def to_csv(df: pd.DataFrame) -> bytes:
    """The table as CSV, UTF-8 with BOM, no index; formula-like text is prefixed with ``'``."""
    safe = df.rename(columns=_as_text)
    for c in safe.columns[[pd.api.types.is_object_dtype(dt) or pd.api.types.is_string_dtype(dt) for dt in safe.dtypes]]:
        safe[c] = safe[c].map(_as_text)
    return safe.to_csv(index=False).encode("utf-8-sig")


def _cell(v):
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime().replace(tzinfo=None)
    if isinstance(v, datetime):
        return v.replace(tzinfo=None)
    if hasattr(v, "item") and not isinstance(v, (str, bytes, date)):
        return v.item()  # numpy scalars
    return v


def _text_cell(cell):
    """openpyxl stores any str starting with "=" as a formula; formula-like text becomes a string
    cell (and quote-prefixed, so editing it in Excel keeps it text)."""
    if formula_like(cell.value):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def _width(v) -> int:
    s = "" if v is None else str(v)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in s)  # CJK characters take two columns


def to_xlsx(df: pd.DataFrame, *, sheet: str = "Sheet1", title: str | None = None) -> bytes:
    """The table as an .xlsx workbook: one sheet, a header row (after an optional title row),
    frozen under the header, columns sized to their content."""
    wb = Workbook()
    ws = wb.active
    ws.title = (sheet or "Sheet1")[:31]
    first = 1
    if title:
        _text_cell(ws.cell(row=1, column=1, value=title)).font = Font(bold=True, size=13)
        first = 2
    cols = [str(c) for c in df.columns]
    for j, c in enumerate(cols, start=1):
        cell = _text_cell(ws.cell(row=first, column=j, value=c))
        cell.fill, cell.font, cell.alignment = _HEAD_FILL, _HEAD_FONT, Alignment(horizontal="center")
    for i, row in enumerate(df.itertuples(index=False), start=first + 1):
        for j, v in enumerate(row, start=1):
            _text_cell(ws.cell(row=i, column=j, value=_cell(v)))
    ws.freeze_panes = ws.cell(row=first + 1, column=1)
    for j, c in enumerate(cols, start=1):
        widest = max([_width(c)] + [_width(v) for v in df.iloc[:, j - 1].tolist()[:500]])
        ws.column_dimensions[get_column_letter(j)].width = min(max(8, widest + 2), 60)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
