"""`<run>/report.md`: what a run produced, as markdown tables and PNG charts.

report.json (pipeline.report) holds the figures; report.md shows them to a reader on
GitHub, without running anything: tables in markdown, charts as PNGs in `report/`
beside it, linked relatively. Two steps:
* `gather` reads what report.json lacks from the run: wall time per component (ML
  Metadata), timestamps per split (the raw examples), the pruning curve
  (compression_report.json), and the test split scored by the teacher, the student
  and the int8 student through the exported models, with the gate's own code;
* `render` is pure: that summary in, markdown and charts out. A part that cannot be
  read or a chart that cannot be drawn becomes a line in the report, never an
  exception, so the report can never cost a run its exit code.
"""

import math
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from models import features, fileio, int8_evaluation, metrics
from models.distillation_trainer import CompressionReport
from pipeline import charts, mlmd
from pipeline import report as run_report

REPORT_FILE = "report.md"
CHARTS_DIR = "report"  # beside report.md; the markdown links `report/<chart>.png`
SPLITS = ("train", "eval", "test")
TEST_SPLIT = "test"
# report.json's "models" rows, in order, and the keys of its test slices.
MODELS = (int8_evaluation.TEACHER, int8_evaluation.STUDENT, int8_evaluation.INT8)
# The score chart scores at most this many test rows (every k-th, in file order): the
# whole test split of the default run, a couple of seconds with the three models.
SCORED_ROWS = 10_000
# Below this many days the timeline counts per day, below the next per week, else per month.
_DAY_SPAN, _WEEK_SPAN = 120, 3 * 365
_CHART_LABELS = {"teacher": "teacher", "student": "student (float)", "int8": "student int8"}
_USER_GROUPS = (("all", "overall"), ("known users", "user_in_train:known"),
                ("new users", "user_in_train:new"))


# --- Reading the run ------------------------------------------------------------------


def component_times(metadata_path: str) -> List[Dict]:
  """[{"node", "state", "seconds"}] of each component's newest execution, in run order.

  A component cached in the newest run shows the seconds of the execution that
  computed what it reused: that is what its outputs cost.
  """
  rows = mlmd.finished_executions(metadata_path)
  newest = {row["node"]: row for row in rows}  # rows are oldest first
  result = []
  for node, row in sorted(newest.items(), key=lambda item: item[1]["id"]):
    seconds = row["seconds"]
    if row["state"] == "cached":
      computed = [r["seconds"] for r in rows if r["node"] == node and r["state"] == "done"]
      seconds = computed[-1] if computed else seconds
    result.append({"node": node, "state": row["state"], "seconds": seconds})
  return result


def _day(timestamps) -> np.ndarray:
  return np.asarray(timestamps, dtype=np.int64).astype("datetime64[s]").astype("datetime64[D]")


def bin_timeline(timestamps: Dict[str, np.ndarray]) -> Optional[Dict]:
  """Events per day, week (from Monday) or month by split, whichever gives a readable chart.

  timestamps: {split: seconds since the epoch}. Returns {"unit", "starts" (ISO dates of
  the bins), "counts" {split: [rows per bin]}, "ranges" {split: {"rows", "first",
  "last"}} (ISO dates, UTC)}; None without any timestamp.
  """
  present = [np.asarray(v) for v in timestamps.values() if len(v)]
  if not present:
    return None
  low = min(int(v.min()) for v in present)
  high = max(int(v.max()) for v in present)
  span_days = (high - low) / 86400
  unit = "day" if span_days <= _DAY_SPAN else "week" if span_days <= _WEEK_SPAN else "month"

  def bin_start(values) -> np.ndarray:
    days = _day(values)
    if unit == "week":  # 1970-01-01, day 0, was a Thursday: Monday is 3 days before
      number = days.astype(np.int64)
      return (number - (number + 3) % 7).astype("datetime64[D]")
    if unit == "month":
      return days.astype("datetime64[M]").astype("datetime64[D]")
    return days

  first, last = bin_start([low])[0], bin_start([high])[0]
  if unit == "month":
    starts = np.arange(first.astype("datetime64[M]"),
                       last.astype("datetime64[M]") + 1).astype("datetime64[D]")
  else:
    step = np.timedelta64(7 if unit == "week" else 1, "D")
    starts = np.arange(first, last + step, step)
  counts, ranges = {}, {}
  for split, values in timestamps.items():
    values = np.asarray(values, dtype=np.int64)
    positions = np.searchsorted(starts, bin_start(values))
    counts[split] = np.bincount(positions, minlength=len(starts)).astype(int).tolist()
    ranges[split] = ({"rows": int(len(values)), "first": str(_day([values.min()])[0]),
                      "last": str(_day([values.max()])[0])} if len(values)
                     else {"rows": 0, "first": None, "last": None})
  return {"unit": unit, "starts": [str(s) for s in starts], "counts": counts, "ranges": ranges}


def timeline(outputs: Dict) -> Optional[Dict]:
  """bin_timeline of the timestamps of every raw example, per split (ExampleGen's output)."""
  examples = outputs.get("InteractionsExampleGen", {}).get("examples")
  if examples is None:
    return None
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from models import inputs
  # pylint: enable=g-import-not-at-top
  spec = {features.TIMESTAMP: tf.io.FixedLenFeature([], tf.int64)}
  stamps = {}
  for split in SPLITS:
    dataset = (tf.data.TFRecordDataset(inputs.split_files(examples.uri, split),
                                       compression_type="GZIP")
               .batch(8192)
               .map(lambda records: tf.io.parse_example(records, spec)[features.TIMESTAMP]))
    batches = [batch.numpy() for batch in dataset]
    stamps[split] = np.concatenate(batches) if batches else np.zeros(0, np.int64)
  return bin_timeline(stamps)


def compression(outputs: Dict) -> Optional[Dict]:
  """The pruning curve of compression_report.json: {"curve": [steps], "decision"}."""
  model_run = outputs.get("DistillationTrainer", {}).get("model_run")
  if model_run is None or not os.path.exists(
      os.path.join(model_run.uri, CompressionReport.FILE_NAME)):
    return None
  prune = CompressionReport.read(model_run.uri).student.stages.get("prune") or {}
  chosen = prune.get("chosen_step")
  return {"curve": [dict(step, chosen=index == chosen)
                    for index, step in enumerate(prune.get("curve") or [])],
          "decision": prune.get("decision")}


def test_scores(outputs: Dict, report: Dict) -> Optional[Dict]:
  """The test split scored by the teacher and the int8 student: {"labels", model: scores}.

  The gate's code path (models.int8_evaluation.run): raw test tf.Examples, the
  teacher SavedModel's serving_default (score_saved_model) and the mobile bundle
  through its vocabularies and manifest (MobileBundle.predict). At most SCORED_ROWS
  rows: every k-th in file order when the split is larger. The float student is left
  out: loading a third SavedModel costs seconds, and the gate reports int8 vs float.
  """
  examples = outputs.get("InteractionsExampleGen", {}).get("examples")
  teacher = outputs.get("TeacherTrainer", {}).get("model")
  bundle = outputs.get("DistillationTrainer", {}).get("mobile_model")
  if None in (examples, teacher, bundle):
    return None
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from tfx.utils import path_utils
  from models import export, inputs
  # pylint: enable=g-import-not-at-top
  cold_start = (report.get("data") or {}).get("cold_start") or {}
  split_rows = (cold_start.get(TEST_SPLIT) or {}).get("rows")
  every = max(1, math.ceil(split_rows / SCORED_ROWS)) if split_rows else 1
  dataset = tf.data.TFRecordDataset(inputs.split_files(examples.uri, TEST_SPLIT),
                                    compression_type="GZIP")
  records = [r.numpy() for r in dataset.shard(every, 0).take(SCORED_ROWS)]
  rows = export.parse_raw_rows(records)
  return {
      "split_rows": split_rows, "rows": len(rows), "every": every,
      "labels": np.asarray([row[features.LABEL] for row in rows], dtype=np.float64),
      int8_evaluation.INT8: export.MobileBundle(bundle.uri).predict(rows),
      int8_evaluation.TEACHER: int8_evaluation.score_saved_model(
          path_utils.serving_model_dir(teacher.uri), records),
  }


def _error(e: BaseException) -> str:
  text = " ".join(str(e).split())
  return f"{type(e).__name__}: {text[:300]}" if text else type(e).__name__


def gather(config, report: Dict) -> Dict:
  """report.json's content plus what report.md draws; a part that fails is a note."""
  summary = dict(report)
  summary["notes"] = []
  summary["teacher_architecture"] = config.teacher.architecture
  outputs = mlmd.latest_outputs(config.metadata_path)
  parts = (("components", "wall time per component (ML Metadata)",
            lambda: component_times(config.metadata_path)),
           ("timeline", "timestamps of the raw examples", lambda: timeline(outputs)),
           ("compression", "pruning curve (compression_report.json)",
            lambda: compression(outputs)),
           ("scores", "test split scored through the exported models",
            lambda: test_scores(outputs, report)))
  for key, what, read in parts:
    try:
      summary[key] = read()
    except Exception as e:  # pylint: disable=broad-except
      summary[key] = None
      summary["notes"].append(f"The {what} could not be read: {_error(e)}")
  return summary


# --- Markdown -----------------------------------------------------------------------


def _number(value, pattern: str = "{:,}") -> str:
  if value is None or (isinstance(value, float) and value != value):
    return "-"
  return pattern.format(value)


def _cell(value) -> str:
  """A table cell: pipes escaped (GitHub reads `\\|` inside a table), no line breaks."""
  return " ".join(str(value).split()).replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence], align: str = "") -> List[str]:
  """Markdown table; align: one "l" or "r" per column (numbers right), default left."""
  align = align or "l" * len(header)
  rule = ["---:" if a == "r" else "---" for a in align]
  return ["| " + " | ".join(_cell(h) for h in header) + " |",
          "| " + " | ".join(rule) + " |"] + [
              "| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def _where(path: Optional[str], run_dir: str) -> str:
  """A path below the run folder as relative to it (readable wherever the run is)."""
  if not path:
    return "-"
  absolute, root = os.path.abspath(path), os.path.abspath(run_dir)
  return os.path.relpath(absolute, root) if absolute.startswith(root + os.sep) else path


class _Charts:
  """Draws each chart into `<output_dir>/report/`; a failure is kept, not raised."""

  def __init__(self, output_dir: str):
    self.folder = os.path.join(output_dir, CHARTS_DIR)
    self.problems: List[str] = []
    self.drawn: List[str] = []

  def draw(self, name: str, title: str, draw: Callable, *args) -> List[str]:
    """Markdown lines: the image link, or a line saying why there is no chart."""
    path = os.path.join(self.folder, name)
    link = f"{CHARTS_DIR}/{name}"
    try:
      draw(path, *args)
    except Exception as e:  # pylint: disable=broad-except
      if os.path.exists(path):
        os.remove(path)  # an older chart of another run's figures must not stay linked
      problem = f"chart {link} ({title}) could not be drawn: {_error(e)}"
      self.problems.append(problem)
      return [f"> **Chart not drawn.** {problem[0].upper()}{problem[1:]}", ""]
    self.drawn.append(link)
    return [f"![{title}]({link})", ""]


def _outcome_lines(summary: Dict) -> List[str]:
  test = summary.get("test")
  if not test:
    stage = "after training, before the gate" if summary.get("models") else "before training"
    return [f"**Outcome:** the run stopped {stage}: no test-split figures, nothing pushed.", ""]
  problems = run_report.outcome(summary)
  if problems:
    return ["**Outcome:** not everything was blessed and pushed:", ""] + [
        f"* `{line}`" for line in problems] + [""]
  versions = ", ".join(f"{kind} version {test['pushed'][kind]['version']}"
                       for _, kind, _ in run_report.PUSHERS if test["pushed"].get(kind))
  return [f"**Outcome:** both models passed every threshold and were pushed ({versions}).", ""]


def _data_lines(summary: Dict, drawer: _Charts) -> List[str]:
  lines = ["## Data", ""]
  data = summary.get("data")
  if not data:
    return lines + ["No data summary: InteractionsExampleGen has not finished in this run.", ""]
  lines += [f"{data['valid_rows']:,} valid of {data['total_rows']:,} rows ({data['format']}), "
            f"{data['bad_rows']:,} quarantined ({data.get('duplicate_rows', 0):,} of them "
            f"duplicates). Split by time into consecutive ranges (fractions "
            f"{' / '.join(f'{f:g}' for f in data.get('split_fractions') or [])}): every eval "
            f"and test row is later than every train row. New user / new item: no event in "
            f"train (time splits are cold-start heavy).", ""]
  timeline_ = summary.get("timeline") or {}
  ranges = timeline_.get("ranges") or {}
  total = sum(data["cold_start"][split]["rows"] for split in SPLITS) or 1
  rows = []
  for split in SPLITS:
    entry, span = data["cold_start"][split], ranges.get(split) or {}
    rows.append([split, f"{entry['rows']:,}", f"{100 * entry['rows'] / total:.1f}%",
                 span.get("first") or "-", span.get("last") or "-", f"{entry['users']:,}",
                 f"{100 * entry['unknown_user_share']:.1f}%",
                 f"{100 * entry['unknown_item_share']:.1f}%"])
  lines += _table(["split", "rows", "share", "first event (UTC)", "last event (UTC)", "users",
                   "rows of new users", "rows of new items"], rows, "lrrllrrr") + [""]
  if timeline_:
    lines += drawer.draw("data_timeline.png", f"Interactions per {timeline_['unit']} by split",
                         charts.timeline, timeline_["unit"], timeline_["starts"],
                         timeline_["counts"], data.get("boundaries") or [])
  shares = {split: {"new user": data["cold_start"][split]["unknown_user_share"],
                    "new item": data["cold_start"][split]["unknown_item_share"],
                    "new user or item": data["cold_start"][split].get(
                        "unknown_user_or_item_share", float("nan"))}
            for split in SPLITS}
  lines += drawer.draw("cold_start.png", "Cold-start shares by split", charts.cold_start, shares)
  return lines


def _component_lines(summary: Dict, drawer: _Charts) -> List[str]:
  lines = ["## Wall time per component", ""]
  rows = summary.get("components")
  if not rows:
    return lines + ["No finished component in ML Metadata.", ""]
  lines += [f"Each component's newest execution as ML Metadata recorded it, "
            f"{sum(r['seconds'] for r in rows):.0f} s together. *cached*: reused from an "
            f"earlier run; the time shown is the execution that computed it.", ""]
  lines += _table(["component", "state", "wall time (s)"],
                  [[r["node"], r["state"], f"{r['seconds']:.1f}"] for r in rows], "llr") + [""]
  return lines + drawer.draw("component_times.png", "Wall time per component",
                             charts.component_times, rows)


def _test_figures(summary: Dict) -> Dict[str, Dict[str, Dict]]:
  """{model: {user group: figures}} from the test slices (empty without the gate)."""
  slices = (summary.get("test") or {}).get("slices") or {}
  return {model: {group: slices[name][model] for group, name in _USER_GROUPS
                  if model in slices.get(name, {})}
          for model in MODELS if model in slices.get("overall", {})}


def _model_lines(summary: Dict, drawer: _Charts) -> List[str]:
  lines = ["## Models", ""]
  models = summary.get("models") or []
  test = summary.get("test") or {}
  figures = _test_figures(summary)
  if not models and not figures:
    return lines + ["No model in this run yet.", ""]
  k = test.get("ndcg_k", 10)
  rows_text = ""
  overall = (test.get("slices") or {}).get("overall") or {}
  test_rows = next((m["rows"] for m in overall.values() if m.get("rows")), None)
  if test_rows:
    rows_text = f" ({test_rows:,.0f} rows)"
  lines += [f"Sizes, sparsity and eval AUC from the student's compression_report.json (eval: "
            f"the split training stopped on and the pruning budget chose on). Test: the "
            f"gate's figures on the test split{rows_text}, never used for a choice; teacher "
            f"and student by TFX's Evaluator (TFMA), the int8 student by the Int8Evaluator "
            f"through the mobile bundle, on the same rows. GAUC: AUC within each user, "
            f"weighted by rows; NDCG@{k} per user. Known / new users: with / without an "
            f"event in train. Bytes: the teacher's SavedModel variables, the student "
            f"SavedModel folder, model.tflite.", ""]
  header = ["model", "parameters", "bytes", "gzipped bytes", "sparsity", "eval AUC",
            "test AUC", "test GAUC", f"test NDCG@{k}", "test log loss", "test AUC known users",
            "test AUC new users", "test GAUC new users"]
  rows = []
  for index, model in enumerate(MODELS):
    row = models[index] if index < len(models) else {"model": model}
    groups = figures.get(model, {})
    if index >= len(models) and not groups:
      continue
    all_, known, new = (groups.get(g) or {} for g, _ in _USER_GROUPS)
    four = "{:.4f}"
    rows.append([row["model"], _number(row.get("parameters")), _number(row.get("bytes")),
                 _number(row.get("gzipped_bytes")), _number(row.get("sparsity"), "{:.2f}"),
                 _number(row.get("eval_auc"), four), _number(all_.get("auc"), four),
                 _number(all_.get("gauc"), four), _number(all_.get("ndcg"), four),
                 _number(all_.get("log_loss"), four), _number(known.get("auc"), four),
                 _number(new.get("auc"), four), _number(new.get("gauc"), four)])
  lines += _table(header, rows, "l" + "r" * (len(header) - 1)) + [""]
  if figures:
    lines += drawer.draw("test_by_user.png", "Test AUC and GAUC by user group",
                         charts.test_by_user, figures)
  return lines


def pruning_curve_table(curve: Sequence[Dict]) -> List[str]:
  """The pruning curve of a compression report (its steps, dense first, each with
  "chosen" where known) as a markdown table; `make bench` prints the same table."""
  return _table(
      ["step", "target sparsity", "sparsity", "eval AUC", "eval GAUC",
       "eval GAUC known users", "eval GAUC new users", "int8 bytes",
       "int8 gzipped bytes", "epochs", "chosen"],
      [[index, _number(s.get("target"), "{:.2f}"), _number(s.get("sparsity"), "{:.3f}"),
        _number(s.get("eval_auc"), "{:.4f}"), _number(s.get("eval_gauc"), "{:.4f}"),
        _number(s.get("eval_gauc_known"), "{:.4f}"), _number(s.get("eval_gauc_new"), "{:.4f}"),
        _number(s.get("int8_bytes")), _number(s.get("int8_gzipped_bytes")),
        _number(s.get("epochs")), "yes" if s.get("chosen") else ""]
       for index, s in enumerate(curve)], "rrrrrrrrrrl")


def _size_lines(summary: Dict, drawer: _Charts) -> List[str]:
  lines = ["## AUC vs bytes", ""]
  models = summary.get("models") or []
  if len(models) < len(MODELS):
    return lines + ["No compression report in this run (the student has not been trained).",
                    ""]
  curve = (summary.get("compression") or {}).get("curve") or []
  if summary.get("teacher_architecture") == "mf":
    baseline = ("The teacher of this run is itself matrix factorization "
                "(`teacher.architecture=mf`).")
  else:
    baseline = ("A matrix-factorization baseline is not part of a run: `make bench` trains "
                "one on the same split and reports it beside the teacher and the students "
                "in `benchmarks/results.md`.")
  tried = sum(1 for step in curve if step.get("target"))  # the curve starts dense (target 0)
  lines += [f"Left, the eval split: the teacher, the float and the int8 student, and the "
            f"student dense and at each pruning step tried ({tried}), each converted to int8 "
            f"TFLite for its size, with its eval AUC before quantization-aware training. Right, the "
            f"test split: the gate's AUC of the three models. Filled markers: bytes; hollow: "
            f"gzipped bytes (what pruning saves shows there). {baseline}", ""]
  figures = _test_figures(summary)
  eval_points, test_points = [], []
  for model, row in zip(MODELS, models):
    point = {"model": model, "label": _CHART_LABELS[model], "bytes": row["bytes"],
             "gzipped_bytes": row["gzipped_bytes"]}
    if row.get("eval_auc") is not None:
      eval_points.append(dict(point, auc=row["eval_auc"]))
    test_auc = figures.get(model, {}).get("all", {}).get("auc")
    if test_auc is not None:
      test_points.append(dict(point, auc=test_auc))
  steps = [{"sparsity": s["sparsity"], "auc": s["eval_auc"], "bytes": s["int8_bytes"],
            "gzipped_bytes": s["int8_gzipped_bytes"], "chosen": s.get("chosen", False)}
           for s in curve]
  if curve:
    lines += pruning_curve_table(curve) + [""]
  decision = (summary.get("compression") or {}).get("decision")
  if decision:
    lines += [f"Budget's decision: {decision}.", ""]
  return lines + drawer.draw("auc_vs_bytes.png", "AUC vs bytes", charts.auc_vs_bytes,
                             eval_points, steps, test_points)


def _score_lines(summary: Dict, drawer: _Charts) -> List[str]:
  lines = ["## Teacher vs int8 student scores (test split)", ""]
  scores = summary.get("scores")
  if not scores:
    return lines + ["Not in this run: it needs the teacher, the student and its int8 bundle.",
                    ""]
  sample = (f"all {scores['rows']:,} test rows" if scores["every"] == 1
            else f"{scores['rows']:,} of {scores['split_rows']:,} test rows (one in every "
                 f"{scores['every']}, in file order)")
  lines += [f"P(like) of {sample}, scored now through the exported models with the gate's "
            f"code (models.int8_evaluation): the teacher's `serving_default` on the raw "
            f"tf.Examples, the int8 student through the mobile bundle's vocabularies and "
            f"manifest, as an app runs it. Points on the diagonal: the int8 student agrees "
            f"with the teacher. (int8 against the float student: the gate's figures below.)",
            ""]
  labels = np.asarray(scores["labels"], dtype=np.float64)
  teacher = np.asarray(scores[int8_evaluation.TEACHER], dtype=np.float64)
  rows = []
  for model in MODELS:
    if model not in scores:
      continue
    values = np.asarray(scores[model], dtype=np.float64)
    correlation = (float(np.corrcoef(teacher, values)[0, 1])
                   if len(values) > 1 and values.std() > 0 and teacher.std() > 0
                   else float("nan"))
    rows.append([model, _number(metrics.auc(labels, values), "{:.4f}"),
                 _number(len(np.unique(values))), _number(float(values.mean()), "{:.4f}"),
                 _number(float(np.abs(values - teacher).mean()), "{:.4f}"),
                 _number(correlation, "{:.4f}")])
  lines += _table(["model", "AUC on these rows", "distinct scores", "mean score",
                   "mean |score - teacher's|", "correlation with the teacher"], rows,
                  "lrrrrr") + [""]
  lines += ["The int8 student's score takes at most 256 values (an int8 output), and fewer "
            "in the middle of the range, where one step of its int8 logit moves the sigmoid "
            "by more than 1/256: hence the stripes in the scatter and the comb in its "
            "histogram.", ""]
  return lines + drawer.draw("scores.png", "Teacher vs int8 student scores", charts.scores,
                             scores[int8_evaluation.TEACHER], scores[int8_evaluation.INT8],
                             labels)


def _gate_lines(summary: Dict) -> List[str]:
  lines = ["## Gate: thresholds and blessings", ""]
  test = summary.get("test")
  if not test:
    return lines + ["The gate has not run.", ""]
  lines += ["Every threshold of the run's `gate` config section, judged on the test split "
            "(student: TFX's Evaluator; int8: the Int8Evaluator). A model is pushed only "
            "when it passes all of its own.", ""]
  rows = [[c["model"], c["metric"], _number(c["value"], "{:.4f}"),
           f"{c['kind']} {c['limit']:.4f}", "pass" if c["passed"] else "**FAIL**"]
          for c in test["checks"]]
  lines += _table(["model", "threshold", "value", "limit", "result"], rows, "llrll") + [""]
  judges = {"student": "Evaluator (TFMA)", "int8": "Int8Evaluator"}
  lines += _table(["model", "blessed", "judged by"],
                  [[model, "yes" if blessed else "**no**", judges.get(model, "")]
                   for model, blessed in sorted(test["blessed"].items())], "lll") + [""]
  int8 = test.get("int8")
  if int8:
    latency = int8["latency"]
    lines += [f"int8 student: p50 {latency['p50_ms']:.3f} ms, p99 {latency['p99_ms']:.3f} ms "
              f"for {latency['candidates']} candidates on {latency['threads']} thread "
              f"({latency['requests']} requests); model.tflite {int8['tflite_bytes']:,} bytes, "
              f"1/{int8['teacher_variables_bytes'] / max(int8['tflite_bytes'], 1):.0f} of the "
              f"teacher's variables; mean |int8 - float student| score "
              f"{int8['mean_abs_score_diff_vs_float']:.4f}.", ""]
  return lines


def _push_lines(summary: Dict) -> List[str]:
  lines = ["## Pushed versions", ""]
  test = summary.get("test")
  if not test:
    return lines + ["Nothing pushed: the run stopped before the gate.", ""]
  rows = []
  for _, kind, model in run_report.PUSHERS:
    pushed = test["pushed"].get(kind)
    if pushed:
      where = _where(pushed["path"], summary["run_dir"])
      rows.append([kind, model, pushed["version"], f"`{where}`"])
    else:
      reason = "not blessed" if not test["blessed"].get(model) else "pusher did not run"
      rows.append([kind, model, "nothing", f"({model} {reason})"])
  lines += _table(["push", "model", "version", "where (in the run folder)"], rows, "llll")
  return lines + ["", "Earlier versions stay beside the newest; `distillrec verify RUN_DIR` "
                  "re-checks them all.", ""]


def _artifact_lines(summary: Dict) -> List[str]:
  artifacts = summary.get("artifacts") or {}
  if not artifacts:
    return []
  return ["## Artifacts", ""] + _table(
      ["artifact", "where (in the run folder)"],
      [[label, f"`{_where(uri, summary['run_dir'])}`"] for label, uri in artifacts.items()],
      "ll") + [""]


def render(summary: Dict, output_dir: str) -> Tuple[str, List[str]]:
  """(report.md's text, problems): draws the charts into `<output_dir>/report/`.

  summary: gather()'s dict (report.json's keys plus components, timeline, compression,
  scores, teacher_architecture, notes); any of them may be missing or None.
  """
  drawer = _Charts(output_dir)
  lines = ["# distillrec run report", "",
           f"Run folder `{summary.get('run_dir', output_dir)}`. Written at the end of "
           f"`distillrec run` and by `distillrec report RUN_DIR`, from the run's ML Metadata "
           f"and artifacts; the same figures, machine-readable, are in "
           f"[report.json](report.json), the charts in [report/](report/).", ""]
  lines += _outcome_lines(summary)
  for section in (_data_lines, _component_lines, _model_lines, _size_lines, _score_lines):
    try:
      lines += section(summary, drawer)
    except Exception as e:  # pylint: disable=broad-except
      drawer.problems.append(f"section {section.__name__[1:-6]} could not be written: "
                             f"{_error(e)}")
  for section in (_gate_lines, _push_lines, _artifact_lines):
    try:
      lines += section(summary)
    except Exception as e:  # pylint: disable=broad-except
      drawer.problems.append(f"section {section.__name__[1:-6]} could not be written: "
                             f"{_error(e)}")
  problems = list(summary.get("notes") or []) + drawer.problems
  if problems:
    lines += ["## Not in this report", ""] + [f"* {p}" for p in problems] + [""]
  return "\n".join(lines).rstrip("\n") + "\n", problems


def write(config, report: Dict, output_dir: Optional[str] = None) -> Tuple[str, List[str]]:
  """Gathers, renders and writes `<output_dir>/report.md` (default the run folder).

  Returns (its path, the problems it names). The charts are written first: report.md
  (temp name, then rename) only links what exists.
  """
  output_dir = output_dir or config.output_dir
  text, problems = render(gather(config, report), output_dir)
  path = os.path.join(output_dir, REPORT_FILE)
  fileio.write_text(path, text)
  return path, problems
