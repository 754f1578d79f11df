"""A run's PDFs: rendered on every core, and never rendered twice from the same input.

Laying out a PDF (WeasyPrint) is pure Python and takes about a second a document,
more for a long flag list; a run has one per site and one per study, independent of
each other. Inside `with RenderBatch(cache_dir, workers=n):` every `write_pdf` call
(`registry.reports.render`) is queued instead of run: the documents are laid out by
`n` worker processes (forked from a server that imported WeasyPrint once, as soon as
enough HTML waits to pay for their start-up) while the
caller builds the next one's HTML, and leaving the
block waits for all of them (the first failure is raised then, so an output folder
is never completed with a PDF missing).

**Longest first.** The workers are given one document each at a time, the longest
waiting first (by `layout_size`: its HTML's length without the figures' data URIs,
which layout time follows), so a long document
queued late (the study's, a big site's) does not start when the others are done and
leave one core idle to the end.

**Content-addressed.** A PDF is a pure function of its HTML, the stylesheet, the
epoch stamped into it and WeasyPrint's version (`render.write_pdf` puts nothing else
in). Each one rendered is kept in `cache_dir` under the SHA-256 of those; the same
input again (a rebuilt run, a report that did not change) is copied from there. The
cache holds patient data: the folder is the owner's only (0700, files 0600), and
entries unused for `keep_days` are removed.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import importlib.metadata
import logging
import multiprocessing
import multiprocessing.context
import os
import re
import shutil
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from registry.log import event, get_logger
from registry.reports import render

__all__ = ["POOL_MIN_HTML", "RenderBatch", "default_workers", "layout_size"]

# Worker processes start only once this much HTML waits to be laid out. Measured on the
# 2-core machine (2026-12-02): layout costs ~0.4 s a document plus ~28 kB of HTML a CPU
# second, and a spawned worker ~1 s of imports; 150 kB is ~5 s of layout, below which the
# workers' start-up costs about what they save (a small run's PDFs, every test's nightly).
# Counted by `layout_size`: a figure's data URI is decoded, not laid out.
POOL_MIN_HTML = 150_000

#: An inline image (the study report's figures): base64 bytes WeasyPrint decodes, at
#: next to no layout cost. The study PDF of the demo's 60 patients is 196 kB of HTML,
#: 166 kB of it figures; its layout takes 1.47 CPU s, what its 30 kB of text predicts.
_DATA_URI = re.compile(r"data:[^\"')\s]+")

_log = get_logger("report")


def default_workers(documents: int) -> int:
    """Worker processes worth starting for `documents` PDFs: none for one (a worker's
    start-up, ~1 s of imports, costs more than it saves), else one per core, at most 2
    (a run's PDFs are few, and the nightly shares the machine)."""
    if documents < 2:
        return 0
    return max(0, min(2, os.cpu_count() or 1, documents))


def layout_size(html: str) -> int:
    """The characters of `html` that its layout time follows: all but its data URIs."""
    return len(html) - sum(m.end() - m.start() for m in _DATA_URI.finditer(html))


@functools.lru_cache(maxsize=1)
def _layout_version() -> str:
    """WeasyPrint's version, from its package metadata: importing WeasyPrint itself costs
    the process that only computes keys 0.5-0.9 CPU s (cffi parsing Pango's headers), and
    the layout happens in the workers."""
    return importlib.metadata.version("weasyprint")


def _content_key(html: str, epoch: int) -> str:
    digest = hashlib.sha256()
    for part in (_layout_version(), str(int(epoch)), render.STYLESHEET.read_text("utf-8"),
                 html):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def _render(html: str, path: str, epoch: int) -> list[str]:
    """In a worker: lay out one PDF; return WeasyPrint's warnings for the parent's log."""
    caught: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record.getMessage()[:300])

    handler = _Keep(logging.WARNING)
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        render.write_pdf_now(html, path, epoch=epoch)
    finally:
        logger.removeHandler(handler)
    return caught


def _warm() -> None:
    import weasyprint  # noqa: F401  (loaded once per worker, before the first document)


def _worker_context() -> multiprocessing.context.BaseContext:
    """How workers start: forked from a server process that imported WeasyPrint once.

    A spawned worker pays a fresh interpreter and WeasyPrint's import (cffi parsing
    Pango's headers): ~1.7 CPU s each, measured on the 2-core machine (2026-12-03); two
    workers forked from the server cost ~1 s for both. The server is multiprocessing's
    standard one: it starts with the first pool and lives as long as this process (a
    later batch's workers are forked at once), and it imports only WeasyPrint and this
    module, never `__main__`. Spawned where a platform has no fork server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["weasyprint", __name__])
    return context


class RenderBatch:
    """Queue a run's `write_pdf` calls; lay them out on `workers` processes (0: here).

    The workers start only once `pool_min_html` characters of HTML wait (see
    POOL_MIN_HTML); a run with less lays its PDFs out here, at the end of the block."""

    def __init__(self, cache_dir: Path | None, *, workers: int = 0,
                 keep_days: int = 30, pool_min_html: int = POOL_MIN_HTML) -> None:
        self.cache_dir, self.workers, self.keep_days = cache_dir, workers, keep_days
        self.pool_min_html = pool_min_html
        self._pool: Executor | None = None
        self._jobs: list[tuple[Future[list[str]], Path, Path | None]] = []
        self._waiting: list[tuple[str, Path, int, Path | None]] = []
        self._waiting_bytes = 0
        self._token: Any = None
        # longest first: (-length, order, html, path, epoch, cached) not yet on a worker
        self._ready: list[tuple[int, int, str, Path, int, Path | None]] = []
        self._busy = 0
        self._wake = threading.Condition()
        self._closing = False
        self._dispatcher: threading.Thread | None = None
        self.rendered = 0
        self.reused = 0
        self.pool_used = False

    def __enter__(self) -> RenderBatch:
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.cache_dir, 0o700)
        self._token = render.BATCH.set(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> None:
        render.BATCH.reset(self._token)
        try:
            if exc_type is None:
                self._finish()
        finally:
            self._stop_dispatcher()
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
        if exc_type is None:
            event(_log, "report.pdfs", rendered=self.rendered, reused=self.reused,
                  workers=self.workers if self.pool_used else 0)
            self._prune()

    def submit(self, html: str, path: Path, epoch: int) -> Path:
        """Queue one PDF (or copy it from the cache now); return where it will be."""
        cached: Path | None = None
        if self.cache_dir is not None:
            cached = self.cache_dir / f"{_content_key(html, epoch)}.pdf"
            if cached.is_file():
                self._copy(cached, path, render.PDF_MODE)
                os.utime(cached)  # used: kept another `keep_days`
                self.reused += 1
                return path
        if self.workers > 0 and self._pool is None:
            self._waiting.append((html, path, epoch, cached))
            self._waiting_bytes += layout_size(html)
            if self._waiting_bytes >= self.pool_min_html:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=_worker_context(),
                                                 initializer=_warm)
                self.pool_used = True
                self._drain()  # all held back: the longest of them goes first
                self._dispatcher = threading.Thread(target=self._dispatch, daemon=True,
                                                    name="render-dispatch")
                self._dispatcher.start()
            return path
        self._queue(html, path, epoch, cached)
        return path

    def _queue(self, html: str, path: Path, epoch: int, cached: Path | None) -> None:
        """Lay out one PDF on the pool if it runs, else here and now."""
        future: Future[list[str]] = Future()
        if self._pool is not None:
            size = layout_size(html)
            with self._wake:
                heapq.heappush(self._ready, (-size, len(self._jobs), html, path, epoch, cached))
                self._jobs.append((future, path, cached))
                self._wake.notify()
        else:
            future.set_result(_render(html, str(path), epoch))
            self._jobs.append((future, path, cached))

    def _dispatch(self) -> None:
        """(A thread) Give each free worker the longest document waiting."""
        assert self._pool is not None
        while True:
            with self._wake:
                while not self._closing and not (self._ready and self._busy < self.workers):
                    self._wake.wait()
                if self._closing:
                    return
                _, order, html, path, epoch, _cached = heapq.heappop(self._ready)
                self._busy += 1
                mine = self._jobs[order][0]
            try:
                done = self._pool.submit(_render, html, str(path), epoch)
            except BaseException as exc:  # the pool broke: this document fails
                mine.set_exception(exc)
                self._free()
                continue
            done.add_done_callback(functools.partial(self._settle, mine=mine))

    def _settle(self, done: Future[list[str]], *, mine: Future[list[str]]) -> None:
        if done.cancelled():  # the pool shut down after a failure elsewhere
            mine.cancel()
            self._free()
            return
        exc = done.exception()
        if exc is not None:
            mine.set_exception(exc)
        else:
            mine.set_result(done.result())
        self._free()

    def _free(self) -> None:
        with self._wake:
            self._busy -= 1
            self._wake.notify()

    def _stop_dispatcher(self) -> None:
        if self._dispatcher is None:
            return
        with self._wake:
            self._closing = True
            for _, order, *_rest in self._ready:  # left by a failure: never laid out
                self._jobs[order][0].cancel()
            self._ready.clear()
            self._wake.notify()
        self._dispatcher.join()
        self._dispatcher = None

    def _drain(self) -> None:
        """Queue the documents held back while deciding whether workers pay off."""
        waiting, self._waiting, self._waiting_bytes = self._waiting, [], 0
        for html, path, epoch, cached in waiting:
            self._queue(html, path, epoch, cached)

    def _finish(self) -> None:
        self._drain()  # too little for the workers: laid out here
        for future, path, cached in self._jobs:
            for warning in future.result():  # raises the worker's error, if any
                event(_log, "report.render_warning", logging.WARNING, file=path.name,
                      warning=warning)
            self.rendered += 1
            if cached is not None:
                self._copy(path, cached, 0o600)
        self._jobs.clear()

    @staticmethod
    def _copy(source: Path, target: Path, mode: int) -> None:
        """Copy atomically (a temporary name, then a rename) with the file mode `mode`."""
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _prune(self) -> None:
        if self.cache_dir is None:
            return
        cutoff = time.time() - self.keep_days * 86400
        for entry in self.cache_dir.glob("*.pdf"):
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except OSError:
                continue
