"""Reading uploaded tables (.xlsx, .csv) in bounded memory and time: every importer reads here.

A spreadsheet is a zip of XML. A 1.5 KB workbook can declare a sheet of A1:XFD1048576, and
python-calamine materialises a sheet's whole used range as a dense grid (~550 GB for that one),
so the sheet is read here instead: the zip's entries are checked first (count, declared sizes,
compression ratio), then the first sheet's XML is streamed through expat, its declared
`<dimension>` and every real cell position checked against the limits before a row is yielded.
A CSV is decoded as UTF-8 (with or without BOM), else GB18030 (Chinese Excel's "CSV"), and read
with the same limits. Every refusal is a DomainError (400) with a bilingual message.

Rows come out as lists of text cells from column A, one list per sheet row from row 1 (empty
rows included, so row numbers match the sheet), cells as the ledgers read them: text stripped,
whole numbers without ".0", dates as ISO text — what the python-calamine reader gave.

Limits (settings, with defaults): IMPORT_MAX_FILE_BYTES (20 MB), IMPORT_MAX_ROWS (200,000 data
rows), IMPORT_MAX_COLUMNS (50), IMPORT_MAX_CELL_CHARS (1,000), IMPORT_MAX_UNCOMPRESSED_BYTES
(300 MB for all entries), IMPORT_MAX_COMPRESSION_RATIO (100, for entries over 1 MB).
"""

import codecs
import csv
import datetime as dt
import io
import lzma
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from xml.parsers import expat

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .errors import DomainError

DEFAULTS = {
    "IMPORT_MAX_FILE_BYTES": 20 * 1024 * 1024,
    "IMPORT_MAX_ROWS": 200_000,
    "IMPORT_MAX_COLUMNS": 50,
    "IMPORT_MAX_CELL_CHARS": 1000,
    "IMPORT_MAX_UNCOMPRESSED_BYTES": 300 * 1024 * 1024,
    "IMPORT_MAX_COMPRESSION_RATIO": 100,
}
MAX_ZIP_ENTRIES = 1000
RATIO_FLOOR = 1024 * 1024  # small entries may compress as they like
CHUNK = 64 * 1024
EXCEL_MAX_ROWS, EXCEL_MAX_COLUMNS = 1_048_576, 16_384


def limit(name: str) -> int:
    return int(getattr(settings, name, DEFAULTS[name]))


def _unreadable() -> DomainError:
    return DomainError("file_unreadable", _("This file cannot be read as an .xlsx workbook."), field="file")


def _column_letters(index: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _too_many_rows() -> DomainError:
    return DomainError(
        "file_too_many_rows",
        _("The file has more than %(limit)s data rows; split it into smaller files."),
        field="file",
        params={"limit": limit("IMPORT_MAX_ROWS")},
    )


def _too_many_columns(row: int, column: int) -> DomainError:
    return DomainError(
        "file_too_many_columns",
        _("Row %(row)s has a value in column %(column)s; at most %(limit)s columns are read."),
        field="file",
        params={"row": row, "column": _column_letters(column), "limit": limit("IMPORT_MAX_COLUMNS")},
    )


def _cell_too_long(row: int, column: int) -> DomainError:
    return DomainError(
        "file_cell_too_long",
        _("The cell in row %(row)s, column %(column)s is longer than %(limit)s characters."),
        field="file",
        params={"row": row, "column": _column_letters(column), "limit": limit("IMPORT_MAX_CELL_CHARS")},
    )


def check_size(size: int | None) -> None:
    if size is not None and size > limit("IMPORT_MAX_FILE_BYTES"):
        raise DomainError(
            "file_too_large",
            _("The file is larger than %(limit)s MB; split it into smaller files."),
            field="file",
            params={"limit": limit("IMPORT_MAX_FILE_BYTES") // (1024 * 1024)},
        )


def read_upload(upload) -> bytes:
    """The bytes of an uploaded file, refused by its size before it is read into memory."""
    check_size(getattr(upload, "size", None))
    data = upload.read(limit("IMPORT_MAX_FILE_BYTES") + 1)
    check_size(len(data))
    return data


def iter_table(data: bytes, file_name: str) -> Iterator[list[str]]:
    """Rows of the first sheet (or of the CSV) as lists of text cells, within the limits."""
    check_size(len(data))
    if file_name.lower().endswith(".csv"):
        return _iter_csv(data)
    return _iter_xlsx(data)


# ---------------------------------------------------------------- CSV


def _damaged_utf8(data: bytes) -> bool:
    """Mostly UTF-8 with a few bad bytes: a damaged UTF-8 file, not GB18030 (which it might still
    decode as, into nonsense)."""
    text = data.decode("utf-8", errors="replace")
    wide = sum(1 for ch in text if ord(ch) > 127)
    return wide > 0 and text.count("\ufffd") * 10 < wide


def _csv_encoding(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        if encoding == "gb18030" and _damaged_utf8(data):
            break
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            for start in range(0, len(data), CHUNK):
                decoder.decode(data[start : start + CHUNK])
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise DomainError(
        "csv_encoding",
        _("This CSV file is neither UTF-8 nor GB18030 text; save it again as “CSV UTF-8” or as .xlsx."),
        field="file",
    )


def _iter_csv(data: bytes) -> Iterator[list[str]]:
    text = io.TextIOWrapper(io.BytesIO(data), encoding=_csv_encoding(data), newline="")
    max_rows, max_columns = limit("IMPORT_MAX_ROWS"), limit("IMPORT_MAX_COLUMNS")
    max_chars = limit("IMPORT_MAX_CELL_CHARS")
    reader = csv.reader(text)
    number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DomainError(
                "csv_unreadable",
                _("This CSV file cannot be read near row %(row)s: a cell is too long or the file is damaged."),
                field="file",
                params={"row": number + 1},
            ) from exc
        number += 1
        if number > max_rows + 1:
            raise _too_many_rows()
        while row and not row[-1].strip():
            row.pop()
        if not row:
            yield []
            continue
        if len(row) > max_columns:
            raise _too_many_columns(number, len(row))
        for column, cell in enumerate(row, start=1):
            if len(cell) > max_chars:
                raise _cell_too_long(number, column)
        yield [cell.strip() for cell in row]


# ---------------------------------------------------------------- xlsx

_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


_COLUMNS: dict[str, int] = {}  # "AB" → 28, filled as met (at most 3 letters: bounded)


def _ref(text: str) -> tuple[int, int] | None:
    """The cell reference "B3" as (row 3, column 2)."""
    letters = text.rstrip("0123456789")
    column = _COLUMNS.get(letters)
    digits = text[len(letters) :]
    if column is None or not digits or len(digits) > 7:
        match = _REF.match(text.strip())
        if not match:
            return None
        column = 0
        for letter in match.group(1).upper():
            column = column * 26 + ord(letter) - 64
        if match.group(1).isupper() and "$" not in text and text == text.strip():
            _COLUMNS[match.group(1)] = column
        return int(match.group(2)), column
    return int(digits), column


_LOCAL: dict[str, str] = {}


def _local(name: str) -> str:
    """The element's name without its namespace (sheets written with prefixes or Strict OOXML)."""
    local = _LOCAL.get(name)
    if local is None:
        local = name.rsplit("}", 1)[-1]
        if len(_LOCAL) < 500:
            _LOCAL[name] = local
    return local


class _Entries:
    """The zip's entries, checked for size and compression before anything is decompressed."""

    def __init__(self, data: bytes):
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
            raise _unreadable() from exc
        if len(infos) > MAX_ZIP_ENTRIES:
            raise _unreadable()
        total, ratio = 0, limit("IMPORT_MAX_COMPRESSION_RATIO")
        for info in infos:
            total += info.file_size
            if info.file_size > RATIO_FLOOR and info.file_size > ratio * max(info.compress_size, 1):
                raise self._bomb()
        if total > limit("IMPORT_MAX_UNCOMPRESSED_BYTES"):
            raise self._bomb()
        self.names = {info.filename.lstrip("/"): info for info in infos}
        self.read_so_far = 0

    @staticmethod
    def _bomb() -> DomainError:
        return DomainError(
            "file_expands",
            _("This workbook unpacks to far more data than a ledger holds; it is refused."),
            field="file",
        )

    def has(self, name: str) -> bool:
        return name in self.names

    def chunks(self, name: str) -> Iterator[bytes]:
        """The entry's bytes, counted: more than declared or than the total limit is refused."""
        info = self.names[name]
        try:
            with self.zip.open(info) as stream:
                read = 0
                while chunk := stream.read(CHUNK):
                    read += len(chunk)
                    self.read_so_far += len(chunk)
                    if read > info.file_size or self.read_so_far > limit("IMPORT_MAX_UNCOMPRESSED_BYTES"):
                        raise self._bomb()
                    yield chunk
        except (
            zipfile.BadZipFile,
            zlib.error,
            lzma.LZMAError,
            ValueError,
            OSError,
            EOFError,
            NotImplementedError,
            RuntimeError,
        ) as exc:
            raise _unreadable() from exc


def _no_doctype(*args):
    raise _unreadable()


def _parser() -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = _no_doctype  # no DTD, so no entities to expand
    parser.EntityDeclHandler = _no_doctype
    parser.buffer_text = True
    return parser


def _parse_all(entries: _Entries, name: str, parser) -> None:
    try:
        for chunk in entries.chunks(name):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise _unreadable() from exc


def _rels(entries: _Entries, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id → (type, target path) of a part."""
    folder, base = posixpath.split(part)
    name = posixpath.join(folder, "_rels", base + ".rels")
    found: dict[str, tuple[str, str]] = {}
    if not entries.has(name):
        return found
    parser = _parser()

    def start(tag, attrs):
        if _local(tag) == "Relationship" and "Id" in attrs and "Target" in attrs:
            target = attrs["Target"]
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            found[attrs["Id"]] = (attrs.get("Type", ""), path)

    parser.StartElementHandler = start
    _parse_all(entries, name, parser)
    return found


def _workbook(entries: _Entries) -> tuple[str, str | None, str | None, bool]:
    """(first sheet's part, shared strings part, styles part, 1904 dates)."""
    book = "xl/workbook.xml"
    for rel_type, path in _rels(entries, "").values():
        if rel_type.endswith("/officeDocument"):
            book = path
    if not entries.has(book):
        raise _unreadable()
    state = {"sheet": None, "date1904": False}

    def start(tag, attrs):
        local = _local(tag)
        if local == "sheet" and state["sheet"] is None:
            state["sheet"] = next((v for k, v in attrs.items() if k.endswith("relationships}id")), None)
        elif local == "workbookPr":
            state["date1904"] = attrs.get("date1904", "0").lower() in ("1", "true")

    parser = _parser()
    parser.StartElementHandler = start
    _parse_all(entries, book, parser)
    rels = _rels(entries, book)
    sheet = rels.get(state["sheet"], ("", ""))[1] if state["sheet"] else ""
    if not entries.has(sheet):
        sheet = "xl/worksheets/sheet1.xml"
    if not entries.has(sheet):
        raise _unreadable()
    shared = next((p for t, p in rels.values() if t.endswith("/sharedStrings") and entries.has(p)), None)
    styles = next((p for t, p in rels.values() if t.endswith("/styles") and entries.has(p)), None)
    return sheet, shared, styles, state["date1904"]


def _shared_strings(entries: _Entries, name: str | None) -> list[str | None]:
    """The shared strings; None for one longer than the cell limit (a cell using it is refused)."""
    strings: list[str | None] = []
    if name is None:
        return strings
    cap = limit("IMPORT_MAX_CELL_CHARS")
    most = (limit("IMPORT_MAX_ROWS") + 1) * limit("IMPORT_MAX_COLUMNS")  # more strings than cells: a bomb
    state = {"parts": [], "length": 0, "in_t": False, "skip": 0}

    def start(tag, attrs):
        local = _local(tag)
        if local == "si":
            if len(strings) >= most:
                raise _Entries._bomb()
            state["parts"], state["length"] = [], 0
        elif local == "rPh":
            state["skip"] += 1  # phonetic guide, not part of the text
        elif local == "t" and not state["skip"]:
            state["in_t"] = True

    def end(tag):
        local = _local(tag)
        if local == "si":
            strings.append(_unescape("".join(state["parts"])) if state["length"] <= cap else None)
        elif local == "rPh":
            state["skip"] -= 1
        elif local == "t":
            state["in_t"] = False

    def text(data):
        if state["in_t"]:
            state["length"] += len(data)
            if state["length"] <= cap:
                state["parts"].append(data)

    parser = _parser()
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    _parse_all(entries, name, parser)
    return strings


_BUILTIN_DATES = set(range(14, 23)) | set(range(27, 37)) | set(range(45, 48)) | set(range(50, 59))
_DATE_CODE = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')


def _is_date_format(code: str) -> bool:
    code = code.split(";", 1)[0]
    if re.search(r"\[(h+|m+|s+)\]", code, re.IGNORECASE):
        return True
    return bool(re.search(r"[ymdhs]", _DATE_CODE.sub("", code), re.IGNORECASE))


def _date_styles(entries: _Entries, name: str | None) -> set[int]:
    """Indexes of the cell formats that show a date or a time."""
    dates: set[int] = set()
    if name is None:
        return dates
    custom: dict[int, str] = {}
    state = {"xfs": False, "index": 0}

    def start(tag, attrs):
        local = _local(tag)
        if local == "numFmt" and attrs.get("numFmtId", "").isdigit():
            custom[int(attrs["numFmtId"])] = attrs.get("formatCode", "")
        elif local == "cellXfs":
            state["xfs"] = True
        elif local == "xf" and state["xfs"]:
            fmt = attrs.get("numFmtId", "0")
            fmt = int(fmt) if fmt.isdigit() else 0
            if _is_date_format(custom[fmt]) if fmt in custom else fmt in _BUILTIN_DATES:
                dates.add(state["index"])
            state["index"] += 1

    def end(tag):
        if _local(tag) == "cellXfs":
            state["xfs"] = False

    parser = _parser()
    parser.StartElementHandler, parser.EndElementHandler = start, end
    _parse_all(entries, name, parser)
    return dates


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _number_text(value: str, is_date: bool, date1904: bool) -> str:
    try:
        number = float(value)
    except ValueError:
        return value.strip()
    if is_date and number < 2958466:
        if number < 1:  # a time of day
            moment = dt.datetime(1900, 1, 1) + dt.timedelta(milliseconds=round(max(number, 0) * 86_400_000))
            return str(moment.time())
        if date1904:
            epoch = dt.datetime(1904, 1, 1)
        elif number < 61:  # before Excel's 1900-02-29 that never was
            epoch, number = dt.datetime(1899, 12, 31), number if number < 60 else number - 1
        else:
            epoch = dt.datetime(1899, 12, 30)
        moment = epoch + dt.timedelta(milliseconds=round(number * 86_400_000))
        return str(moment.date()) if moment.time() == dt.time(0) else str(moment)
    if number.is_integer():
        return str(int(number))
    return str(number)


def _check_dimension(ref: str) -> None:
    corners = [_ref(part) for part in ref.split(":")]
    if not corners or any(c is None for c in corners):
        return  # an unreadable dimension says nothing; the cells are checked one by one
    rows = max(c[0] for c in corners)
    columns = max(c[1] for c in corners)
    if rows > limit("IMPORT_MAX_ROWS") + 1 or columns > limit("IMPORT_MAX_COLUMNS"):
        raise DomainError(
            "file_too_large_sheet",
            _(
                "The sheet spans %(rows)s rows and %(columns)s columns (up to %(corner)s); at most "
                "%(max_rows)s data rows and %(max_columns)s columns are read. Delete the empty rows "
                "and columns after the data, or split the file."
            ),
            field="file",
            params={
                "rows": rows,
                "columns": columns,
                "corner": f"{_column_letters(columns)}{rows}",
                "max_rows": limit("IMPORT_MAX_ROWS"),
                "max_columns": limit("IMPORT_MAX_COLUMNS"),
            },
        )


class _SheetReader:
    """Streams a worksheet's XML; finished rows wait in `ready` until the generator yields them."""

    def __init__(self, strings: list[str], dates: set[int], date1904: bool):
        self.strings, self.dates, self.date1904 = strings, dates, date1904
        self.max_rows = limit("IMPORT_MAX_ROWS") + 1
        self.max_columns = limit("IMPORT_MAX_COLUMNS")
        self.max_chars = limit("IMPORT_MAX_CELL_CHARS")
        self.ready: list[list[str]] = []
        self.emitted = 0  # sheet rows handed out so far (1-based numbering)
        self.row_number = 0
        self.row: dict[int, str] = {}
        self.column = 0
        self.cell: dict | None = None
        self.text: list[str] | None = None
        self.in_data = False
        self.text_length = 0
        self.parser = _parser()
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.chars

    def start(self, tag, attrs):
        local = _LOCAL.get(tag) or _local(tag)
        if local == "dimension" and not self.in_data:
            _check_dimension(attrs.get("ref", ""))
        elif local == "sheetData":
            self.in_data = True
        elif not self.in_data:
            return
        elif local == "row":
            position = attrs.get("r", "")
            self.row_number = int(position) if position.isdigit() else self.row_number + 1
            self.row, self.column = {}, 0
        elif local == "c":
            position = _ref(attrs.get("r", ""))
            self.column = position[1] if position else self.column + 1
            self.cell = {"type": attrs.get("t", "n"), "style": attrs.get("s", "0"), "v": None, "is": []}
            self.text_length = 0  # all the cell's text, however many runs it comes in
        elif local in ("v", "t") and self.cell is not None:
            self.text = []

    def chars(self, data):
        if self.text is not None:
            self.text_length += len(data)
            if self.text_length <= self.max_chars:
                self.text.append(data)
            else:
                self.cell["long"] = True

    def end(self, tag):
        local = _LOCAL.get(tag) or _local(tag)
        if not self.in_data:
            return
        if local == "v" and self.cell is not None and self.text is not None:
            self.cell["v"] = "".join(self.text)
            self.text = None
        elif local == "t" and self.cell is not None and self.text is not None:
            self.cell["is"].append("".join(self.text))
            self.text = None
        elif local == "c" and self.cell is not None:
            value = self._value(self.cell)
            long = self.cell.get("long")
            self.cell = None
            if value is None:
                return  # a formatted empty cell: as if absent
            if self.row_number > self.max_rows or self.row_number > EXCEL_MAX_ROWS:
                raise _too_many_rows()
            if self.column > self.max_columns:
                raise _too_many_columns(self.row_number, self.column)
            if long or len(value) > self.max_chars:
                raise _cell_too_long(self.row_number, self.column)
            self.row[self.column] = value
        elif local == "row":
            if self.row:
                self._emit(self.row_number, self.row)
            self.row = {}
        elif local == "sheetData":
            self.in_data = False

    def _value(self, cell) -> str | None:
        kind, raw = cell["type"], cell["v"]
        if kind == "inlineStr":
            return _unescape("".join(cell["is"])).strip() if cell["is"] else None
        if raw is None:
            return None
        if kind == "s":
            try:
                text = self.strings[int(raw)]
            except (ValueError, IndexError):
                raise _unreadable() from None
            if text is None:
                cell["long"] = True  # refused once its position is checked
                return ""
            return text.strip()
        if kind == "b":
            return "True" if raw.strip() in ("1", "true") else "False"
        if kind in ("str", "e", "d"):
            return _unescape(raw).strip()
        style = int(cell["style"]) if cell["style"].isdigit() else 0
        return _number_text(raw, style in self.dates, self.date1904)

    def _emit(self, number: int, cells: dict[int, str]) -> None:
        if number <= self.emitted:
            raise _unreadable()  # rows out of order
        while self.emitted < number - 1:  # the rows the sheet skips, empty
            self.emitted += 1
            self.ready.append([])
        self.emitted = number
        row = [""] * max(cells)
        for column, value in cells.items():
            row[column - 1] = value
        self.ready.append(row)


def _iter_xlsx(data: bytes) -> Iterator[list[str]]:
    entries = _Entries(data)
    sheet, shared, styles, date1904 = _workbook(entries)
    reader = _SheetReader(_shared_strings(entries, shared), _date_styles(entries, styles), date1904)
    try:
        for chunk in entries.chunks(sheet):
            reader.parser.Parse(chunk, False)
            yield from reader.ready
            reader.ready.clear()
        reader.parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise _unreadable() from exc
    yield from reader.ready
