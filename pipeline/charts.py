"""The charts of report.md: matplotlib on the Agg canvas, one PNG per chart.

Each function takes plain numbers (what pipeline.report_markdown gathered from the
run) and writes one PNG. No pyplot: a Figure on its own Agg canvas needs no display
and leaves the process's global backend alone, so drawing at the end of a run cannot
disturb anything else that draws. The style is fixed here, not taken from a user's
matplotlibrc, and the PNG carries no Software or creation-time text, so the same
figures give the same bytes. Files are written to a temporary name and renamed.
"""

import datetime
from typing import Dict, List, Optional, Sequence

import matplotlib
import numpy as np
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from models import fileio

DPI = 100
# One colour per model and per split, the same in every chart.
MODEL_COLORS = {"teacher": "#4C72B0", "student": "#DD8452", "int8": "#55A868"}
SPLIT_COLORS = {"train": "#4C72B0", "eval": "#DD8452", "test": "#C44E52"}
_STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False,
}


def _figure(width: float, height: float) -> Figure:
  figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
  FigureCanvasAgg(figure)
  return figure


def _save(figure: Figure, path: str) -> None:
  # "Software" is the only text matplotlib writes into a PNG by default; None drops it.
  with fileio.open_atomic(path, "wb") as f:
    figure.savefig(f, format="png", dpi=DPI, metadata={"Software": None})


def _styled(draw):
  """Runs a chart function under the fixed style, whatever the process's rcParams are."""

  def wrapper(*args, **kwargs):
    with matplotlib.rc_context():
      matplotlib.rcdefaults()
      matplotlib.rcParams.update(_STYLE)
      return draw(*args, **kwargs)

  wrapper.__name__, wrapper.__doc__ = draw.__name__, draw.__doc__
  return wrapper


@_styled
def timeline(path: str, unit: str, starts: Sequence[str], counts: Dict[str, Sequence[int]],
             boundaries: Sequence[int] = ()) -> None:
  """Interactions per `unit` (day, week or month) by split: stacked bars, split boundaries.

  starts: ISO date of each bin; counts: {split: rows per bin}; boundaries: the first
  timestamp (seconds) of each split after the first.
  """
  days = {"day": 1, "week": 7, "month": 30}[unit]
  dates = [datetime.date.fromisoformat(start) for start in starts]
  figure = _figure(8, 3.6)
  axes = figure.add_subplot()
  bottom = np.zeros(len(dates))
  for split, values in counts.items():
    values = np.asarray(values, dtype=float)
    axes.bar(dates, values, width=0.9 * days, bottom=bottom, align="edge",
             color=SPLIT_COLORS.get(split), label=split)
    bottom += values
  for boundary in boundaries:
    axes.axvline(datetime.datetime.fromtimestamp(int(boundary), datetime.timezone.utc),
                 color="black", linestyle="--", linewidth=0.8)
  locator = mdates.AutoDateLocator()
  axes.xaxis.set_major_locator(locator)
  axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
  axes.set_ylabel(f"interactions per {unit}")
  axes.set_title(f"Interactions per {unit} by split (dashed: split boundaries, UTC)")
  axes.legend(loc="upper left")
  _save(figure, path)


@_styled
def cold_start(path: str, shares: Dict[str, Dict[str, float]]) -> None:
  """Share of each split's rows whose user / item is not in train: grouped bars, percent.

  shares: {split: {"new user": share, "new item": share, "new user or item": share}}.
  """
  splits = list(shares)
  kinds = list(next(iter(shares.values())))
  figure = _figure(6, 3.2)
  axes = figure.add_subplot()
  width = 0.8 / len(kinds)
  for index, kind in enumerate(kinds):
    values = [100 * shares[split][kind] for split in splits]
    positions = np.arange(len(splits)) + (index - (len(kinds) - 1) / 2) * width
    bars = axes.bar(positions, values, width=width, label=kind)
    axes.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
  axes.set_xticks(np.arange(len(splits)), splits)
  axes.set_ylabel("% of the split's rows")
  axes.set_title("Cold start: rows whose user or item has no event in train")
  axes.legend(loc="upper left")
  axes.margins(y=0.15)
  _save(figure, path)


@_styled
def component_times(path: str, rows: Sequence[Dict]) -> None:
  """Wall time of each component, pipeline order top to bottom.

  rows: [{"node", "seconds", "state"}]; a "cached" row's seconds are those of the
  execution that computed its outputs, drawn hatched.
  """
  figure = _figure(7, max(2.5, 0.3 * len(rows) + 1.0))
  axes = figure.add_subplot()
  positions = np.arange(len(rows))[::-1]
  seconds = [row["seconds"] for row in rows]
  colors = ["#C44E52" if row["state"] == "FAILED" else "#4C72B0" for row in rows]
  bars = axes.barh(positions, seconds, color=colors,
                   hatch=["//" if row["state"] == "cached" else "" for row in rows])
  labels = [f"{row['seconds']:.1f} s" + (f" ({row['state']})" if row["state"] != "done" else "")
            for row in rows]
  axes.bar_label(bars, labels=labels, fontsize=7, padding=2)
  axes.set_yticks(positions, [row["node"] for row in rows])
  axes.set_xlabel("wall time (s)")
  axes.set_title(f"Wall time per component (total {sum(seconds):.0f} s)")
  axes.margins(x=0.18)
  axes.grid(axis="y", visible=False)
  _save(figure, path)


def _model_points(axes, points: Sequence[Dict]) -> None:
  """Filled marker at bytes, hollow at gzipped bytes, joined; one colour per model."""
  for point in points:
    color = MODEL_COLORS.get(point["model"], "black")
    axes.plot([point["gzipped_bytes"], point["bytes"]], [point["auc"]] * 2, color=color,
              linewidth=0.8, alpha=0.6)
    axes.scatter([point["bytes"]], [point["auc"]], color=color, s=45, zorder=3,
                 label=point["label"])
    axes.scatter([point["gzipped_bytes"]], [point["auc"]], facecolors="white", edgecolors=color,
                 s=45, zorder=3)


@_styled
def auc_vs_bytes(path: str, eval_points: Sequence[Dict], curve: Sequence[Dict],
                 test_points: Sequence[Dict]) -> None:
  """AUC against model bytes (log scale): the eval split with the pruning curve, the test split.

  eval_points / test_points: [{"model", "label", "bytes", "gzipped_bytes", "auc"}];
  curve: the pruning steps [{"sparsity", "auc", "bytes", "gzipped_bytes", "chosen"}] (int8
  bytes of each step). Filled markers: bytes; hollow: gzipped bytes.
  """
  panels = [("eval split: teacher, students the budget chose from", eval_points, curve)]
  if test_points:
    panels.append(("test split: the gate's models", test_points, ()))
  figure = _figure(5 * len(panels) + 0.5, 4)
  for index, (title, points, steps) in enumerate(panels):
    axes = figure.add_subplot(1, len(panels), index + 1)
    if steps:
      color = "#8172B3"
      axes.plot([s["bytes"] for s in steps], [s["auc"] for s in steps], color=color,
                marker="s", markersize=4, linewidth=1, label="pruning steps (int8 bytes)")
      axes.plot([s["gzipped_bytes"] for s in steps], [s["auc"] for s in steps], color=color,
                marker="s", markersize=4, markerfacecolor="white", linewidth=0.8,
                linestyle=":", label="pruning steps (int8 gzipped)")
      for step in steps:
        axes.annotate(f"{step['sparsity']:.2f}" + (" chosen" if step.get("chosen") else ""),
                      (step["bytes"], step["auc"]), textcoords="offset points",
                      xytext=(4, -10), fontsize=7, color=color)
    _model_points(axes, points)
    axes.set_xscale("log")
    axes.set_xlabel("bytes (filled) / gzipped bytes (hollow), log scale")
    axes.set_ylabel("AUC")
    axes.set_title(title)
    axes.margins(x=0.15, y=0.3)
    axes.legend(loc="best")
  _save(figure, path)


@_styled
def scores(path: str, teacher: Sequence[float], int8: Sequence[float],
           labels: Optional[Sequence[float]] = None) -> None:
  """Teacher vs int8 student P(like) on the same rows: a scatter and the two histograms."""
  teacher, int8 = np.asarray(teacher, dtype=float), np.asarray(int8, dtype=float)
  figure = _figure(9, 4)
  left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
  groups = [(None, np.ones(len(teacher), dtype=bool), "#4C72B0")]
  if labels is not None:
    labels = np.asarray(labels)
    groups = [("not liked", labels == 0, "#4C72B0"), ("liked", labels == 1, "#DD8452")]
  # Faint points where there are many, so that dense regions still read as dense.
  alpha = float(np.clip(1000 / max(len(teacher), 1), 0.15, 0.8))
  for name, mask, color in groups:
    left.scatter(teacher[mask], int8[mask], s=4, alpha=alpha, color=color, linewidths=0,
                 label=name)
  left.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle="--")
  left.set_xlim(0, 1)
  left.set_ylim(0, 1)
  left.set_aspect("equal")
  left.set_xlabel("teacher score")
  left.set_ylabel("int8 student score")
  left.set_title(f"Teacher vs int8 student, {len(teacher):,} test rows")
  if labels is not None:
    left.legend(loc="upper left", markerscale=4)
  # The int8 score has 256 levels (scale 1/256): 64 bins hold 4 levels each, where 50
  # would alternate 5 and 6 and draw a comb that is not in the scores.
  bins = np.linspace(0, 1, 65)
  for name, values in (("teacher", teacher), ("int8", int8)):
    right.hist(values, bins=bins, histtype="step", linewidth=1.2,
               color=MODEL_COLORS[name], label=name)
  right.set_xlabel("score P(like)")
  right.set_ylabel("rows")
  right.set_title("Score histograms (64 bins)")
  right.legend(loc="upper left")
  _save(figure, path)


@_styled
def test_by_user(path: str, figures: Dict[str, Dict[str, Dict[str, float]]],
                 metrics: Sequence[str] = ("auc", "gauc")) -> None:
  """Test-split metrics per model and user group (all / known to train / new): a dot plot.

  figures: {model: {group: {metric: value}}}; a missing value is left out.
  """
  groups: List[str] = []
  for by_group in figures.values():
    groups += [g for g in by_group if g not in groups]
  figure = _figure(4 * len(metrics) + 0.5, 3.4)
  offsets = np.linspace(-0.2, 0.2, len(figures)) if len(figures) > 1 else [0.0]
  for index, metric in enumerate(metrics):
    axes = figure.add_subplot(1, len(metrics), index + 1)
    for offset, (model, by_group) in zip(offsets, figures.items()):
      xs, ys = [], []
      for position, group in enumerate(groups):
        value = by_group.get(group, {}).get(metric)
        if value is not None and value == value:
          xs.append(position + offset)
          ys.append(value)
      axes.scatter(xs, ys, color=MODEL_COLORS.get(model), s=40, label=model, zorder=3)
    axes.set_xticks(np.arange(len(groups)), groups)
    axes.set_xlim(-0.6, len(groups) - 0.4)
    axes.set_ylabel(f"test {metric.upper()}")
    axes.set_title(f"Test {metric.upper()} by user group")
    axes.margins(y=0.2)
    axes.legend(loc="lower left")
  _save(figure, path)
