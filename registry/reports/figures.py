"""The report figures, drawn with matplotlib as SVG (vector, text kept as text).

Every figure must read printed in black and white: arms and series differ by line
style, marker and hatching, never by colour alone. Text stays text in the SVG
(`svg.fonttype = none`) so WeasyPrint sets it in the embedded DejaVu font and the
numbers at risk can be read back from the PDF. The one exception is the points of a
Schoenfeld plot with many residuals: one embedded 300 dpi image instead of a vector
marker each (`RASTER_DPI`), the same on paper. Output is deterministic (fixed hash
salt, no date) so a report rebuilt from the same run is byte-identical.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

from registry.reports.format import fmt_hr_ci
from registry.reports.models import AnalysisRow, KMCurve, NightCount

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = ["forest_svg", "history_svg", "km_svg", "schoenfeld_svg"]

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "registry-reports",
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "legend.frameon": False,
    "hatch.linewidth": 0.6,
}

#: The resolution of the Schoenfeld plot's residual points when there are many (at 100x
#: ~2,800): one image instead of a vector marker each, which WeasyPrint drew at ~1 ms a
#: point (2-3 s of the study PDF's 3-4); the curve, axes and text stay vector.
RASTER_DPI = 300

#: (line style, colour, marker) per arm: distinguishable in grey scale.
_ARM_STYLES = (("-", "#000000"), ("--", "#555555"), (":", "#000000"), ("-.", "#777777"))


def _svg(fig: Figure, *, raster_dpi: float | None = None) -> str:
    """The figure as SVG; artists drawn `rasterized` are embedded as one PNG image at
    `raster_dpi` (everything else stays vector, whatever the dpi)."""
    FigureCanvasSVG(fig)
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None},
                    dpi="figure" if raster_dpi is None else raster_dpi)
    return buf.getvalue()


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


#: Widths of DejaVu Sans glyphs in em (digits 0.636, the comma 0.318), for spacing the
#: numbers at risk without a layout pass.
_DIGIT_EM, _COMMA_EM = 0.636, 0.318
#: The KM plot's width in inches the numbers at risk can count on (6.4 in wide figure
#: less the arm names and the axis label on the left).
_KM_AXES_INCHES = 5.0


def _at_risk_fontsize(texts: Sequence[tuple[float, str]], horizon: float,
                      largest: float = 8.5, smallest: float = 5.5) -> float:
    """The largest font size (points) at which the numbers at risk of one row, centred
    on their days, leave at least 0.9 em between neighbours (at 100x, "2,610" on day 0
    and "2,235" on day 30 touch at the default size)."""
    size = largest
    pts_per_day = _KM_AXES_INCHES * 72 / max(horizon, 1.0)
    ordered = sorted(texts)
    for (t0, a), (t1, b) in zip(ordered, ordered[1:], strict=False):
        em = sum(_COMMA_EM if ch in ",." else _DIGIT_EM for ch in a + b) / 2 + 0.9
        size = min(size, (t1 - t0) * pts_per_day / em)
    return max(size, smallest)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


def km_svg(curves: Sequence[KMCurve], *, horizon: float, ylabel: str,
           xlabel: str = "Days since the index day") -> str:
    """Kaplan-Meier step curves, one per arm, with the numbers at risk set below (a
    smaller size when they would touch); a long axis label wraps rather than clips."""
    with matplotlib.rc_context(_RC):
        fig = _figure(6.4, 3.9)
        grid = fig.add_gridspec(2, 1, height_ratios=[4.2, 0.4 + 0.35 * len(curves)])
        ax = fig.add_subplot(grid[0])
        table = fig.add_subplot(grid[1], sharex=ax)
        for i, curve in enumerate(curves):
            style, colour = _ARM_STYLES[i % len(_ARM_STYLES)]
            if curve.ci_low and curve.ci_high:
                ax.fill_between(curve.times, curve.ci_low, curve.ci_high, step="post",
                                color=colour, alpha=0.08, linewidth=0)
            ax.step(curve.times, curve.survival, where="post", linestyle=style, color=colour,
                    linewidth=1.7, label=curve.arm)
        ax.set_ylim(0, 1.03)
        ax.set_xlim(0, horizon)
        ax.set_ylabel(_wrap(ylabel, 34))
        ax.yaxis.set_major_locator(FixedLocator([0, 0.25, 0.5, 0.75, 1.0]))
        ax.grid(axis="y", color="#cccccc", linewidth=0.5)
        ax.legend(loc="lower left", handlelength=3.2)
        ticks = sorted({t for c in curves for t, _ in c.at_risk if t <= horizon})
        if ticks:
            ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.set_xlabel(xlabel)
        ax.tick_params(labelbottom=True)

        table.set_ylim(len(curves) - 0.5, -1.3)
        for side in ("top", "right", "bottom", "left"):
            table.spines[side].set_visible(False)
        table.tick_params(axis="both", length=0, labelbottom=False)
        table.tick_params(axis="y", pad=24)
        table.set_yticks(range(len(curves)))
        table.set_yticklabels([c.arm for c in curves])
        table.text(-0.02, -1.0, "Number at risk", fontweight="bold", ha="right", va="center",
                   transform=table.get_yaxis_transform())
        shown = [[(t, f"{n:,}") for t, n in c.at_risk if t <= horizon] for c in curves]
        size = min((_at_risk_fontsize(row, horizon) for row in shown), default=8.5)
        for row, texts in enumerate(shown):
            for t, text in texts:
                table.text(t, row, text, ha="center", va="center", fontsize=size)
        return _svg(fig)


def _log_ticks(low: float, high: float) -> list[float]:
    """Round HRs inside [low, high]: the coarse set, or a finer one when the CIs are
    narrow (at 100x the axis spans 0.8-1.3 and the coarse set leaves only "1")."""
    coarse = [0.05, 0.1, 0.2, 0.5, 1, 2, 4, 10, 20]
    ticks = [t for t in coarse if low <= t <= high]
    if len(ticks) < 3:
        fine = [0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 4]
        ticks = [t for t in fine if low <= t <= high]
    return ticks


def forest_svg(rows: Sequence[AnalysisRow], *, left_label: str, right_label: str,
               ci_label: str = "HR (95% CI)") -> str:
    """A forest plot: one line per analysis, HR on a log axis, reference line at 1.

    Main analysis: filled diamond; subgroups: filled squares; sensitivity analyses:
    open circles. Each line's HR (CI) is printed to its right.
    """
    estimated = [(r, r.hr, r.ci_low, r.ci_high) for r in rows
                 if r.hr is not None and r.ci_low is not None and r.ci_high is not None
                 and r.hr > 0 and r.ci_low > 0]
    shown = list(rows)              # a line for every analysis: no estimate says why
    y_of = {id(r): y for y, r in enumerate(shown)}
    with matplotlib.rc_context(_RC):
        fig = _figure(6.4, 0.9 + 0.34 * max(len(shown), 1))
        ax = fig.add_subplot()
        if not estimated:
            ax.axis("off")
            ax.text(0.5, 0.5, "No hazard ratio could be estimated", ha="center",
                    transform=ax.transAxes)
            return _svg(fig)
        low = min(min(lo for _, _, lo, _ in estimated), 1.0) / 1.3
        high = max(max(hi for _, _, _, hi in estimated), 1.0) * 1.3
        markers = {"main": ("D", 7.5, "#000000"), "subgroup": ("s", 5.5, "#000000"),
                   "sensitivity": ("o", 5.5, "#ffffff")}
        for row in shown:
            if row.hr is None or row.ci_low is None or row.ci_high is None:
                # the reason is in the results table, beside the same label
                ax.text(1.02, y_of[id(row)], "not estimable (see table)", va="center",
                        ha="left", transform=ax.get_yaxis_transform(), fontsize=7)
        for row, hr, ci_low, ci_high in estimated:
            y = y_of[id(row)]
            marker, size, face = markers[row.kind]
            ax.plot([ci_low, ci_high], [y, y], color="#000000", linewidth=1.2,
                    solid_capstyle="butt")
            ax.plot([hr], [y], marker=marker, markersize=size, markerfacecolor=face,
                    markeredgecolor="#000000", linestyle="none")
            ax.text(1.02, y, fmt_hr_ci(hr, ci_low, ci_high), va="center",
                    ha="left", transform=ax.get_yaxis_transform())
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        ax.axvline(1.0, color="#000000", linestyle="--", linewidth=0.8)
        ticks = _log_ticks(low, high)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{t:g}" for t in ticks])
        ax.set_yticks(range(len(shown)))
        ax.set_yticklabels([r.label for r in shown])
        for y, row in enumerate(shown):
            if row.kind == "main":
                ax.get_yticklabels()[y].set_fontweight("bold")
        ax.set_ylim(len(shown) - 0.5, -0.9)
        ax.text(1.02, -0.75, ci_label, fontweight="bold", ha="left", va="center",
                transform=ax.get_yaxis_transform())
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_xlabel("Hazard ratio (log scale)", labelpad=13)
        ax.annotate(f"\u2190 {left_label}", xy=(1.0, 0), xycoords=("data", "axes fraction"),
                    xytext=(-6, -15), textcoords="offset points", ha="right", va="top",
                    fontsize=7.5)
        ax.annotate(f"{right_label} \u2192", xy=(1.0, 0), xycoords=("data", "axes fraction"),
                    xytext=(6, -15), textcoords="offset points", ha="left", va="top",
                    fontsize=7.5)
        return _svg(fig)


def schoenfeld_svg(times: Sequence[float], scaled: Sequence[float], *, beta: float | None,
                   horizon: float) -> str:
    """Scaled Schoenfeld residuals against time with a running mean (over a third of
    the events, at most 100 at a time); a flat line at the log HR is what proportional
    hazards look like."""
    t = np.asarray(times, float)
    r = np.asarray(scaled, float)
    order = np.argsort(t, kind="stable")
    t, r = t[order], r[order]
    with matplotlib.rc_context(_RC):
        fig = _figure(6.4, 2.6)
        ax = fig.add_subplot()
        many = len(t) > 400           # at 100x thousands of points: small and light
        ax.plot(t, r, marker="o", markersize=1.6 if many else 3, linestyle="none",
                markerfacecolor="none", markeredgewidth=0.4 if many else 1.0,
                markeredgecolor="#999999" if many else "#555555", label="scaled residual",
                rasterized=many)
        if len(t) >= 3:
            w = max(3, min(len(t) // 3, 100))   # a third of the events, 100 at most
            kernel = np.ones(w) / w
            smooth = np.convolve(r, kernel, mode="valid")
            centre = np.convolve(t, kernel, mode="valid")
            ax.plot(centre, smooth, color="#000000", linewidth=1.6,
                    label=f"running mean of {w} events")
        if beta is not None:
            ax.axhline(beta, color="#000000", linestyle="--", linewidth=0.8,
                       label="log hazard ratio")
        ax.set_xlim(0, horizon)
        ax.set_xlabel("Days since the index day")
        ax.set_ylabel("log HR(t)")
        ax.grid(axis="y", color="#cccccc", linewidth=0.5)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, fontsize=7)
        return _svg(fig, raster_dpi=RASTER_DPI)


def history_svg(nights: Sequence[NightCount]) -> str:
    """Open flags over past nights: stacked bars, blocking solid black, warnings hatched."""
    with matplotlib.rc_context(_RC):
        fig = _figure(6.4, 1.9)
        ax = fig.add_subplot()
        xs = list(range(len(nights)))
        blocking = [n.blocking for n in nights]
        warning = [n.warning for n in nights]
        ax.bar(xs, blocking, color="#222222", width=0.7, label="Blocking")
        ax.bar(xs, warning, bottom=blocking, color="#ffffff", edgecolor="#444444",
               hatch="////", width=0.7, linewidth=0.6, label="Warning")
        pad = max(0.0, (7 - len(nights)) / 2)  # few nights: narrow bars, not slabs
        ax.set_xlim(-0.6 - pad, len(nights) - 0.4 + pad)
        step = max(1, math.ceil(len(nights) / 10))
        ax.set_xticks(xs[::step])
        ax.set_xticklabels([f"{n.night.day} {n.night:%b}" for n in nights][::step])
        top = max((n.total for n in nights), default=0)
        ax.set_ylim(0, max(top * 1.15, 1))
        locator = ax.yaxis.get_major_locator()
        if isinstance(locator, MaxNLocator):  # the default AutoLocator is one
            locator.set_params(integer=True)
        ax.set_ylabel("Open flags")
        ax.legend(loc="upper left", ncols=2, bbox_to_anchor=(0, 1.18))
        ax.grid(axis="y", color="#cccccc", linewidth=0.5)
        ax.set_axisbelow(True)
        return _svg(fig)
