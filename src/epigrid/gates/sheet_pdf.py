"""The print sheet of pass cards as a PDF (临时出入证): A4 portrait, 2 × 4 cards a page inside
10 mm margins, each card framed by a dashed cut line — the layout of static/epigrid/print.css, so
the file prints the same as the browser's page. A card: the title, the QR code of its pass's
token (drawn as vector squares from segno's symbol, crisp at any zoom and on any printer), the
pass number, the household's address and the grid's name.

Chinese text uses reportlab's CID font STSong-Light (Adobe-GB1): no font file is shipped or
embedded; PDF readers supply the glyphs (every common reader has them)."""

import segno
from reportlab.lib.colors import Color, black, white
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

CJK_FONT = "STSong-Light"
MONO_FONT = "Courier-Bold"
TITLE = "临时出入证"
NOTE = "凭证出入,测温登记"
RED = Color(0xC8 / 255, 0x10 / 255, 0x2E / 255)
GREY = Color(0x55 / 255, 0x55 / 255, 0x55 / 255)

COLUMNS, ROWS = 2, 4
CARDS_PER_PAGE = COLUMNS * ROWS
MARGIN, GAP, CARD_HEIGHT, PADDING = 10 * mm, 4 * mm, 66 * mm, 3 * mm
QR_SIZE = 32 * mm  # the symbol with its quiet zone
QR_BORDER = 4  # modules of quiet zone, as the standard asks
QR_ERROR = "m"
SMALLEST = 6  # points: the smallest text a card prints

_registered = False


def _fonts() -> None:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
        _registered = True


def qr_symbol(token: str):
    """The QR symbol a card carries for its pass's token (the same segno makes for the web sheet)."""
    return segno.make(token, error=QR_ERROR)


def draw_qr(canvas: Canvas, token: str, *, x: float, y: float, size: float) -> None:
    """Draw the token's QR code with its quiet zone in the square of side `size` whose lower-left
    corner is (x, y): a white square, then each row's runs of dark modules as one rectangle, all
    in one filled path (row 0 of the symbol at the top)."""
    rows = [list(row) for row in qr_symbol(token).matrix_iter(border=QR_BORDER)]
    module = size / len(rows)
    canvas.saveState()
    canvas.setFillColor(white)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColor(black)
    path = canvas.beginPath()
    for r, row in enumerate(rows):
        top = y + size - (r + 1) * module
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                path.rect(x + start * module, top, (c - start) * module, module)
            else:
                c += 1
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """`text` broken between characters (Chinese addresses have no spaces) into lines of `width`."""
    lines, line = [], ""
    for char in text:
        if line and pdfmetrics.stringWidth(line + char, font, size) > width:
            lines.append(line)
            line = ""
        line += char
    return [*lines, line]


def _fit(text: str, font: str, size: float, width: float, *, max_lines: int) -> tuple[list[str], float]:
    """The lines and size to draw `text` in `width`: one line, shrunk by at most a fifth; else up to
    `max_lines` lines, shrunk as needed down to SMALLEST (past that, the last line is cut)."""
    for one_line in (size - 0.5 * step for step in range(int(size * 0.2 / 0.5) + 1)):
        if pdfmetrics.stringWidth(text, font, one_line) <= width:
            return [text], one_line
    while True:
        lines = _wrap(text, font, size, width)
        if len(lines) <= max_lines or size <= SMALLEST:
            return lines[:max_lines], size
        size -= 0.5


def _centred(canvas: Canvas, text: str, *, font: str, size: float, centre: float, y: float, width: float, lines=1):
    """Draw `text` centred on `centre`, its first baseline at `y`; returns the last baseline."""
    rows, size = _fit(text, font, size, width, max_lines=lines)
    canvas.setFont(font, size)
    for row in rows:
        canvas.drawCentredString(centre, y, row)
        y -= size * 1.15
    return y + size * 1.15


def _text_font(text: str, ascii_font: str) -> str:
    return ascii_font if text.isascii() else CJK_FONT


def draw_card(canvas: Canvas, *, x: float, y: float, width: float, token: str, number: str, address: str, grid_name):
    """One card in the box of `width` × CARD_HEIGHT whose lower-left corner is (x, y)."""
    canvas.saveState()
    canvas.setDash(3, 2)
    canvas.setLineWidth(0.75)
    canvas.setStrokeColor(GREY)
    canvas.rect(x, y, width, CARD_HEIGHT, stroke=1, fill=0)
    canvas.restoreState()
    centre, inner = x + width / 2, width - 2 * PADDING
    top = y + CARD_HEIGHT - PADDING
    # The title, bold as on the web sheet: the CID font has no bold face, so stroked as well as filled.
    canvas.saveState()
    canvas.setFillColor(RED)
    canvas.setStrokeColor(RED)
    canvas.setLineWidth(0.4)
    text = canvas.beginText()
    text.setTextRenderMode(2)
    text.setFont(CJK_FONT, 14)
    text.setTextOrigin(centre - pdfmetrics.stringWidth(TITLE, CJK_FONT, 14) / 2, top - 14)
    text.textOut(TITLE)
    canvas.drawText(text)
    canvas.restoreState()
    qr_top = top - 14 - 2 * mm
    draw_qr(canvas, token, x=centre - QR_SIZE / 2, y=qr_top - QR_SIZE, size=QR_SIZE)
    baseline = qr_top - QR_SIZE - 4 * mm
    baseline = _centred(
        canvas, number, font=_text_font(number, MONO_FONT), size=11, centre=centre, y=baseline, width=inner
    )
    _centred(canvas, address, font=CJK_FONT, size=10, centre=centre, y=baseline - 4.5 * mm, width=inner, lines=3)
    canvas.saveState()
    canvas.setFillColor(GREY)
    _centred(canvas, f"{grid_name}\u3000{NOTE}", font=CJK_FONT, size=8, centre=centre, y=y + PADDING + 1, width=inner)
    canvas.restoreState()


class SheetWriter:
    """Draws cards one after another into `out` (a binary file object), CARDS_PER_PAGE a page;
    `close()` finishes the document. The number of pages is ceil(cards / CARDS_PER_PAGE), one
    empty page for no card."""

    def __init__(self, out, *, title: str):
        _fonts()
        self.canvas = Canvas(out, pagesize=A4, pageCompression=1, invariant=0)
        self.canvas.setTitle(title)
        self.canvas.setCreator("epigrid")
        self.cards = 0
        page_width, page_height = A4
        self.card_width = (page_width - 2 * MARGIN - (COLUMNS - 1) * GAP) / COLUMNS
        self.page_top = page_height - MARGIN

    def add(self, *, token: str, number: str, address: str, grid_name: str) -> None:
        slot = self.cards % CARDS_PER_PAGE
        if slot == 0 and self.cards:
            self.canvas.showPage()
        row, column = divmod(slot, COLUMNS)
        self.canvas.setFillColor(black)
        draw_card(
            self.canvas,
            x=MARGIN + column * (self.card_width + GAP),
            y=self.page_top - (row + 1) * CARD_HEIGHT - row * GAP,
            width=self.card_width,
            token=token,
            number=number,
            address=address,
            grid_name=grid_name,
        )
        self.cards += 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.cards // CARDS_PER_PAGE))

    def close(self) -> None:
        self.canvas.showPage()
        self.canvas.save()
