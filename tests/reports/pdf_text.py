"""Reading rendered PDFs back: text, link annotations, fonts (pypdf)."""

from __future__ import annotations

import re
from pathlib import Path

from pypdf import PdfReader


def text(path: Path) -> str:
    """All pages' text, whitespace runs collapsed to one space."""
    reader = PdfReader(path)
    raw = "\n".join(page.extract_text() or "" for page in reader.pages)
    return re.sub(r"\s+", " ", raw)


def links(path: Path) -> list[str]:
    """Every /URI of every link annotation, in page order."""
    out = []
    for page in PdfReader(path).pages:
        for annot in page.get("/Annots") or []:
            obj = annot.get_object()
            action = obj.get("/A")
            if action is not None and action.get_object().get("/URI"):
                out.append(str(action.get_object()["/URI"]))
    return out


def fonts(path: Path) -> dict[str, bool]:
    """Base font name -> whether its font program is embedded (FontFile/2/3)."""
    out: dict[str, bool] = {}

    def visit(resources: object) -> None:
        if resources is None:
            return
        res = resources.get_object()  # type: ignore[attr-defined]
        for font in (res.get("/Font") or {}).values():
            font = font.get_object()
            descriptors = [font.get("/FontDescriptor")]
            for desc in font.get("/DescendantFonts") or []:
                descriptors.append(desc.get_object().get("/FontDescriptor"))
            embedded = any(
                d is not None and any(k in d.get_object() for k in
                                      ("/FontFile", "/FontFile2", "/FontFile3"))
                for d in descriptors)
            out[str(font.get("/BaseFont"))] = embedded
        for xobj in (res.get("/XObject") or {}).values():
            visit(xobj.get_object().get("/Resources"))

    for page in PdfReader(path).pages:
        visit(page.get("/Resources"))
    return out


def page_sizes(path: Path) -> list[tuple[float, float]]:
    return [(float(p.mediabox.width), float(p.mediabox.height)) for p in PdfReader(path).pages]
