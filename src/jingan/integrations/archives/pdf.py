"""A minimal, deterministic PDF writer for the simulated record documents.

The archive simulator serves thousands of section documents and must state each one's
SM3 digest in its index before anyone asks for the file, so documents are built by hand
in microseconds (a layout engine takes a fifth of a second each). Chinese text uses the
standard Adobe-GB1 font STSong-Light with the UniGB-UCS2-H encoding, which PDF viewers
provide without embedding; the same lines are repeated in ASCII where it matters
(admission number, section, page), so a viewer without CJK fonts still shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PAGE_WIDTH = 595  # A4 in points
PAGE_HEIGHT = 842


@dataclass(frozen=True)
class Line:
    text: str
    size: float = 11
    ascii_only: bool = False


def _cjk_hex(text: str) -> str:
    # UCS-2 big-endian; characters outside the BMP are replaced, records never need them.
    return "".join(f"{ord(c) if ord(c) < 0x10000 else 0x3013:04X}" for c in text)


def _ascii_literal(text: str) -> str:
    safe = text.encode("ascii", "replace").decode("ascii")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _page_stream(lines: Sequence[Line], footer: str) -> bytes:
    commands = ["BT"]
    y: float = PAGE_HEIGHT - 100
    for line in lines:
        if line.ascii_only:
            commands.append(
                f"/F2 {line.size:g} Tf 1 0 0 1 60 {y:g} Tm ({_ascii_literal(line.text)}) Tj"
            )
        else:
            commands.append(f"/F1 {line.size:g} Tf 1 0 0 1 60 {y:g} Tm <{_cjk_hex(line.text)}> Tj")
        y -= line.size * 1.9
    commands.append(f"/F2 8 Tf 1 0 0 1 60 40 Tm ({_ascii_literal(footer)}) Tj")
    commands.append("ET")
    # A frame around the text block, as on the hospital's printed forms.
    commands.append("0.5 w 50 60 495 720 re S")
    return "\n".join(commands).encode("ascii")


def build_pdf(pages: Sequence[Sequence[Line]], *, footers: Sequence[str], title: str) -> bytes:
    """A PDF with one page per entry of ``pages``; identical input gives identical bytes."""
    if not pages or len(pages) != len(footers):
        raise ValueError("a document needs at least one page and one footer per page")
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled once the page tree exists
    tree = add(b"")
    cid_font = add(
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> "
        b"/FontDescriptor 5 0 R /DW 1000 /W [1 95 500] >>"  # ASCII (CIDs 1–95) half width
    )
    assert cid_font == 3
    chinese = add(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light-UniGB-UCS2-H "
        b"/Encoding /UniGB-UCS2-H /DescendantFonts [3 0 R] >>"
    )
    descriptor = add(
        b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 "
        b"/FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 "
        b"/CapHeight 880 /StemV 93 >>"
    )
    assert descriptor == 5
    latin = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    info = add(
        b"<< /Title <FEFF"
        + _cjk_hex(title).encode("ascii")
        + b"> /Producer (jingan archive simulator) >>"
    )
    kids: list[int] = []
    for lines, footer in zip(pages, footers, strict=True):
        stream = _page_stream(lines, footer)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>"
                % (tree, PAGE_WIDTH, PAGE_HEIGHT, chinese, latin, content)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        info,
        xref,
    )
    return bytes(out)
