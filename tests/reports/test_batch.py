"""A run's PDFs on worker processes, and never rendered twice from the same input.

Real WeasyPrint renders, read back: the bytes a worker writes are those of a render in
this process; the same input again is copied from the owner-only cache.
"""

from __future__ import annotations

import base64
import io
import stat

import pytest
from pypdf import PdfReader

from registry.errors import RegistryError
from registry.reports.batch import POOL_MIN_HTML, RenderBatch, default_workers, layout_size
from registry.reports.render import write_pdf, write_pdf_now
from tests.reports.pdf_text import text

HTML = "<html><body><h1>{title}</h1><p>{body}</p></body></html>"


def _docs(n: int) -> list[str]:
    return [HTML.format(title=f"Site {i}", body="Flag " * (50 * (i + 1))) for i in range(n)]


def test_workers_write_the_bytes_a_render_here_writes_and_the_cache_reuses_them(tmp_path):
    docs = _docs(3)
    here = [write_pdf_now(html, tmp_path / "here" / f"{i}.pdf", epoch=1_700_000_000)
            for i, html in enumerate(docs)]
    cache = tmp_path / "cache"
    (tmp_path / "out").mkdir()
    with RenderBatch(cache, workers=2, pool_min_html=0) as batch:
        paths = [write_pdf(html, tmp_path / "out" / f"{i}.pdf", epoch=1_700_000_000)
                 for i, html in enumerate(docs)]
    assert (batch.rendered, batch.reused, batch.pool_used) == (3, 0, True)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in here]
    assert "Site 2" in text(paths[2])
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    entries = sorted(cache.glob("*.pdf"))
    assert len(entries) == 3 and all(stat.S_IMODE(e.stat().st_mode) == 0o600 for e in entries)

    (tmp_path / "again").mkdir()
    with RenderBatch(cache, workers=0) as again:
        copies = [write_pdf(html, tmp_path / "again" / f"{i}.pdf", epoch=1_700_000_000)
                  for i, html in enumerate(docs)]
        write_pdf(docs[0], tmp_path / "again" / "later.pdf", epoch=1_800_000_000)
    assert (again.rendered, again.reused) == (1, 3)  # another epoch is another input
    assert [p.read_bytes() for p in copies] == [p.read_bytes() for p in here]
    assert stat.S_IMODE(copies[0].stat().st_mode) == 0o600  # owner-only, as rendered


def test_a_failed_render_fails_the_batch(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(RegistryError, match="cannot create the report directory"), \
            RenderBatch(tmp_path / "cache", workers=2):
        write_pdf(_docs(1)[0], tmp_path / "ok.pdf")
        write_pdf(_docs(1)[0], tmp_path / "file" / "x" / "site.pdf")


def test_one_document_is_rendered_without_a_worker():
    assert default_workers(1) == 0 and default_workers(0) == 0
    assert 1 <= default_workers(10) <= 2


def test_workers_start_only_for_enough_layout_work(tmp_path):
    docs = _docs(3)
    enough = layout_size(docs[0]) + layout_size(docs[1]) + 1
    with RenderBatch(None, workers=2, pool_min_html=enough) as small:
        paths = [write_pdf(html, tmp_path / f"{i}.pdf") for i, html in enumerate(docs[:2])]
    assert (small.rendered, small.pool_used) == (2, False)  # laid out here, at the end
    assert "Site 1" in text(paths[1])
    with RenderBatch(None, workers=2, pool_min_html=enough) as large:
        paths = [write_pdf(html, tmp_path / f"{i}.pdf") for i, html in enumerate(docs)]
    assert (large.rendered, large.pool_used) == (3, True)  # the third one tipped it
    assert "Site 2" in text(paths[2])


def test_a_figure_counts_as_no_layout_work(tmp_path):
    """The study PDF's figures are data URIs: ~85 % of its HTML, next to none of its
    layout time; they alone must not start the workers (two ~1 s spawns of imports)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise((300, 300), 60).convert("RGB").save(buffer, "PNG")
    figure = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    html = HTML.format(title="Study", body=f'<img src="{figure}" alt="km">')
    assert len(html) > POOL_MIN_HTML > layout_size(html) == len(html) - len(figure)
    with RenderBatch(None, workers=2) as batch:
        path = write_pdf(html, tmp_path / "study.pdf")
    assert (batch.rendered, batch.pool_used) == (1, False)
    assert "Study" in text(path) and len(PdfReader(path).pages[0].images) == 1


def test_the_longest_document_waiting_is_laid_out_first(tmp_path):
    docs = _docs(4)  # lengths grow with the index
    order = [1, 0, 3, 2]
    with RenderBatch(None, workers=1, pool_min_html=sum(map(len, docs))) as batch:
        paths = [write_pdf(docs[i], tmp_path / f"{i}.pdf") for i in order]
    assert (batch.rendered, batch.pool_used) == (4, True)
    # one worker lays them out one after another: the order they were written in
    written = sorted(paths, key=lambda p: p.stat().st_mtime_ns)
    assert [p.stem for p in written] == ["3", "2", "1", "0"]
    assert all(f"Site {p.stem}" in text(p) for p in paths)
