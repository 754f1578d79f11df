"""Pages of the site coordinators' PDFs at 1x, 10x and 100x the study's size.

The synthetic registry (seed 2025, 234 patients x scale, 5 DAG sites, error rate 0.1)
is kept as one snapshot per site in a fresh SQLite store, validated with the
anti-MDA5 suites as `registry validate` does (`registry.run.run_validate`), and every
site's PDF is written by the production writer (`registry.outputs.write_run_outputs`).
Prints, per site, open flags, records with a flag, pages and render seconds; with
`--png DIR` also renders every page to PNG (pypdfium2, at 1x and 2x) to look at.

    .venv/bin/python benchmarks/site_pdf_pages.py --scale 100 [--png var/pages]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGISTRY = ROOT / "registries" / "anti_mda5"
SITES = ("paris", "lyon", "lille", "marseille", "bordeaux")


def _settings(folder: Path, sites: tuple[str, ...]) -> Path:
    path = folder / "settings.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{folder / "registry.sqlite"}"\n'
        f'[reports]\ndir = "{folder / "reports"}"\n'
        f'[registry]\nprofile = "{REGISTRY / "profile.toml"}"\n'
        f'[quality]\nsuites = "{REGISTRY / "expectations"}"\n'
        f'[run]\nlock_file = "{folder / "registry.lock"}"\n' + "".join(
            f'[[sites]]\nname = "{s}"\nurl = "http://127.0.0.1:9/api/"\n'
            f'token_env = "REGISTRY_TOKEN_{s.upper()}"\ndag = "{s}"\n' for s in sites),
        encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--patients", type=int, default=None,
                        help="patients instead of 234 x scale (the smoke test's tiny run)")
    parser.add_argument("--png", type=Path, default=None)
    parser.add_argument("--site", action="append", default=None,
                        help="only this site (repeatable; default all five)")
    args = parser.parse_args()

    from pypdf import PdfReader

    from registry.outputs import write_run_outputs
    from registry.run import run_validate
    from registry.sandbox.generator import GeneratorParams, generate
    from registry.settings import load_settings
    from registry.store import Store

    reg = generate(GeneratorParams(seed=2025, patients=args.patients or 234 * args.scale, sites=5,
                                   error_rate=0.1))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sites = tuple(args.site or SITES)
        settings = load_settings(_settings(folder, sites))
        info = {"project_info": reg.project_info, "version": "15.0.0"}
        with Store.open(settings.store.url) as store:
            for site, rows in reg.rows_by_site().items():
                if site not in sites:
                    continue
                by_id: dict[str, list[dict[str, str]]] = {}
                for r in rows:
                    by_id.setdefault(r["record_id"], []).append(r)
                store.write_snapshot(site, by_id, metadata=reg.metadata, project_info=info)
        started = time.perf_counter()
        run = run_validate(settings)
        validated = time.perf_counter() - started
        started = time.perf_counter()
        with Store.open(settings.store.url) as store:
            out = write_run_outputs(settings, store, run.run_id)
        rendered = time.perf_counter() - started
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"scale {args.scale}x: {len(reg.records)} rows; validate {validated:.1f}s, "
              f"outputs {rendered:.1f}s (load {load})")
        print(f"{'site':10} {'open':>6} {'records':>8} {'pages':>6}")
        for site in sites:
            counts = run.counts.get(site, {})
            n_open = sum(counts.get(s, 0) for s in ("new", "open", "reopened"))
            pdf = out / f"site-{site}.pdf"
            pages = len(PdfReader(pdf).pages)
            import csv
            with (out / f"flags-{site}.csv").open(encoding="utf-8-sig") as fh:
                records = {r["record_id"] for r in csv.DictReader(fh)
                           if r["status"] != "resolved"}
            print(f"{site:10} {n_open:>6} {len(records):>8} {pages:>6}")
            if args.png:
                import pypdfium2 as pdfium

                args.png.mkdir(parents=True, exist_ok=True)
                doc = pdfium.PdfDocument(pdf)
                for i in range(min(len(doc), 6)):
                    for zoom in (1, 2):
                        image = doc[i].render(scale=zoom).to_pil()
                        image.save(args.png / f"{args.scale}x-{site}-p{i + 1}-z{zoom}.png")
                doc.close()


if __name__ == "__main__":
    main()
