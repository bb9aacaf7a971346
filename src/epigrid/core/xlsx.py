"""Writing ledgers to .xlsx with constant memory (XlsxWriter), every cell as text."""

import tempfile
from collections.abc import Iterable

import xlsxwriter


def write_ledger(*, sheet_name: str, headers: list[str], rows: Iterable[list], wide: set[int] = frozenset()):
    """Returns (file positioned at 0, number of data rows)."""
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False, "strings_to_numbers": False})
    sheet = book.add_worksheet(sheet_name[:31])
    text = book.add_format({"num_format": "@"})
    bold = book.add_format({"bold": True})
    for col, header in enumerate(headers):
        sheet.write_string(0, col, header, bold)
        sheet.set_column(col, col, 20 if col in wide else 14, text)
    count = 0
    for count, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if value not in (None, ""):
                sheet.write_string(count, col, str(value))
    book.close()
    out.seek(0)
    return out, count


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(out, filename: str):
    """A ledger as a download."""
    from django.http import FileResponse

    return FileResponse(out, as_attachment=True, filename=filename, content_type=XLSX_TYPE)
