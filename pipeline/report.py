"""What a run produced: artifact locations and data figures, read back from ML Metadata.

Writes `<run>/report.json` (machine-readable) and returns the lines the CLI prints;
pipeline.report_markdown draws the same figures into `<run>/report.md`.
"""

import json
import os
from typing import Dict, List, Optional

from models import fileio, gate, int8_evaluation
from models.dataclass_json import to_plain
from models.distillation_trainer import CompressionReport
from pipeline import configs, mlmd

REPORT_FILE = "report.json"
# Output artifacts worth pointing a user to: (node id, output key, label).
_OUTPUTS = (
    ("InteractionsExampleGen", "examples", "examples (raw tf.Examples)"),
    ("StatisticsGen", "statistics", "statistics"),
    ("ExampleValidator", "anomalies", "anomalies"),
    ("Transform", "transform_graph", "transform graph"),
    ("TeacherTrainer", "model", "teacher model"),
    ("DistillationTrainer", "model", "student SavedModel"),
    ("DistillationTrainer", "mobile_model", "student int8 bundle"),
    ("Evaluator", "evaluation", "student evaluation (TFMA)"),
    ("Int8Evaluator", "evaluation", "int8 evaluation"),
)
# TFMA's metric names -> the names of models.int8_evaluation.ModelMetrics.
_TFMA_METRICS = {gate.EXAMPLE_COUNT: "rows", gate.AUC: "auc", gate.GAUC: "gauc",
                 gate.LOG_LOSS: "log_loss", gate.CALIBRATION: "calibration"}
# The gate's pushers: (node id, what it pushes, the model whose blessing it needs).
PUSHERS = (("ServingPusher", "serving", "student"), ("MobilePusher", "mobile", "int8"))


def build_report(config: configs.PipelineConfig) -> Dict:
  # Beam and TensorFlow load here, when a report is built, not when one is only rendered.
  # pylint: disable-next=g-import-not-at-top
  from interactions.beam_transforms import SUMMARY_FILE as INGESTION_SUMMARY_FILE
  outputs = mlmd.latest_outputs(config.metadata_path)
  report = {"run_dir": config.output_dir, "artifacts": {}, "data": None, "models": None}
  for node, key, label in _OUTPUTS:
    artifact = outputs.get(node, {}).get(key)
    if artifact is not None:
      report["artifacts"][label] = artifact.uri
  examples = outputs.get("InteractionsExampleGen", {}).get("examples")
  if examples is not None:
    summary_path = os.path.join(examples.uri, INGESTION_SUMMARY_FILE)
    if os.path.exists(summary_path):
      with open(summary_path) as f:
        report["data"] = json.load(f)
  student = outputs.get("DistillationTrainer", {}).get("model_run")
  if student is not None and os.path.exists(os.path.join(student.uri, CompressionReport.FILE_NAME)):
    report["models"] = model_rows(CompressionReport.read(student.uri))
  report["test"] = gate_section(outputs, config.gate)
  return report


def _property(artifact, name: str):
  if name not in artifact.custom_properties:
    return None
  value = artifact.custom_properties[name]
  return getattr(value, value.WhichOneof("value"))


def gate_section(outputs: Dict, gate_config: gate.GateConfig) -> Optional[Dict]:
  """Test-split metrics of the three models, every threshold, blessings and pushes.

  Teacher and student figures are TFMA's (the Evaluator); the int8 model's are the
  Int8Evaluator's, on the same rows. None when the run stopped before the gate.
  """
  tfma_output = outputs.get("Evaluator", {}).get("evaluation")
  int8_output = outputs.get("Int8Evaluator", {}).get("evaluation")
  if tfma_output is None and int8_output is None:
    return None
  section = {"split": "test", "ndcg_k": gate_config.ndcg_k, "slices": {}, "checks": [],
             "blessed": {}, "pushed": {}}
  if tfma_output is not None:
    ndcg = f"{gate.NDCG}@{gate_config.ndcg_k}"
    tfma_metrics = gate.read_tfma_metrics(tfma_output.uri)
    for name, by_model in tfma_metrics.items():
      for model in ("teacher", "student"):
        values = by_model.get(model, {})
        figures = {ours: values.get(theirs) for theirs, ours in _TFMA_METRICS.items()}
        figures["ndcg"] = values.get(ndcg)
        section["slices"].setdefault(name, {})[model] = figures
    section["checks"] += [to_plain(c) for c in gate.tfma_checks(tfma_output.uri, gate_config,
                                                                 tfma_metrics)]
    blessing = outputs["Evaluator"].get("blessing")
    section["blessed"]["student"] = bool(blessing is not None and _property(blessing, "blessed"))
  if int8_output is not None:
    result = int8_evaluation.Int8Evaluation.read(int8_output.uri)
    for entry in result.slices:
      section["slices"].setdefault(entry.name, {})["int8"] = to_plain(
          entry.models[int8_evaluation.INT8])
    section["checks"] += [to_plain(c) for c in result.checks]
    section["blessed"]["int8"] = result.blessed
    section["int8"] = {"latency": to_plain(result.latency),
                       "mean_abs_score_diff_vs_float": result.mean_abs_score_diff,
                       "tflite_bytes": result.tflite_bytes,
                       "teacher_variables_bytes": result.teacher_variables_bytes}
  for node, kind, _ in PUSHERS:
    pushed = outputs.get(node, {}).get("pushed_model")
    if pushed is not None:
      section["pushed"][kind] = ({"path": _property(pushed, "pushed_destination"),
                                  "version": _property(pushed, "pushed_version")}
                                 if _property(pushed, "pushed") == 1 else None)
  return section


def test_lines(test: Optional[Dict]) -> List[str]:
  """The gate's table (test split), each threshold with pass/FAIL, and the pushes."""
  if not test:
    return []
  overall = test["slices"].get("overall", {})
  rows = next((m["rows"] for m in overall.values() if m.get("rows")), None)
  lines = [f"Test split{f' ({rows:,.0f} rows)' if rows else ''}, the gate's data: every figure "
           f"below is on it (known/new = users seen in train or not):",
           f"  {'model':<8} {'AUC':>6} {'GAUC':>6} {'NDCG@' + str(test['ndcg_k']):>7} "
           f"{'logloss':>7} {'calib':>6} "
           f"{'AUC known':>9} {'AUC new':>7} {'GAUC new':>8}"]
  known = test["slices"].get("user_in_train:known", {})
  new = test["slices"].get("user_in_train:new", {})
  for model in ("teacher", "student", "int8"):
    if model not in overall:
      continue
    figures = overall[model]
    value = lambda slice_, key: _number((slice_.get(model) or {}).get(key), "{:.4f}")  # pylint: disable=cell-var-from-loop
    lines.append(f"  {model:<8} {_number(figures.get('auc'), '{:.4f}'):>6} "
                 f"{_number(figures.get('gauc'), '{:.4f}'):>6} "
                 f"{_number(figures.get('ndcg'), '{:.4f}'):>7} "
                 f"{_number(figures.get('log_loss'), '{:.4f}'):>7} "
                 f"{_number(figures.get('calibration'), '{:.3f}'):>6} "
                 f"{value(known, 'auc'):>9} {value(new, 'auc'):>7} {value(new, 'gauc'):>8}")
  lines.append("Gate (thresholds on the test split):")
  for check in test["checks"]:
    lines.append(f"  {'pass' if check['passed'] else 'FAIL'}  "
                 f"{gate.ThresholdCheck(**check).line()}")
  lines.append("Pushed:")
  for _, kind, model in PUSHERS:
    pushed = test["pushed"].get(kind)
    if pushed:
      lines.append(f"  {kind:<8} version {pushed['version']}: {pushed['path']}")
    else:
      reason = "not blessed" if not test["blessed"].get(model) else "pusher did not run"
      lines.append(f"  {kind:<8} nothing ({model} {reason})")
  return lines


def outcome(report: Dict) -> List[str]:
  """`not blessed: <model>: <metric> <value> vs limit <limit>` per failed threshold; [] if none.

  Also a line for a blessed model that was not pushed (a pusher did not run).
  """
  test = report.get("test")
  if not test:
    return []
  lines = [f"not blessed: {gate.ThresholdCheck(**check).line()}"
           for check in test["checks"] if not check["passed"]]
  for _, kind, model in PUSHERS:
    if test["blessed"].get(model) and not test["pushed"].get(kind):
      lines.append(f"not pushed: {model} was blessed but the {kind} push did not happen")
  return lines


def model_rows(compression: CompressionReport) -> List[Dict]:
  """One row per deployable model: parameters, bytes, gzipped bytes, sparsity, eval AUC."""
  teacher, student, tflite = compression.teacher, compression.student, compression.tflite
  return [
      {"model": "teacher (SavedModel variables)", "parameters": teacher.parameters,
       "bytes": teacher.saved_model_variables.bytes,
       "gzipped_bytes": teacher.saved_model_variables.gzipped_bytes, "sparsity": None,
       "eval_auc": teacher.eval.auc, "eval_auc_new_users": teacher.eval.auc_unknown_users},
      {"model": "student (SavedModel)", "parameters": student.parameters,
       "bytes": student.saved_model.bytes, "gzipped_bytes": student.saved_model.gzipped_bytes,
       "sparsity": student.sparsity.overall, "eval_auc": student.eval.auc,
       "eval_auc_new_users": student.eval.auc_unknown_users},
      {"model": "student int8 (TFLite)", "parameters": student.parameters,
       "bytes": tflite.bytes, "gzipped_bytes": tflite.gzipped_bytes,
       "sparsity": student.sparsity.overall, "eval_auc": tflite.int8_vs_float.auc_int8,
       "eval_auc_new_users": None, "eval_rows": tflite.int8_vs_float.rows},
  ]


def _number(value, pattern):
  return "-" if value is None or value != value else pattern.format(value)


def write_report(config: configs.PipelineConfig, report: Optional[Dict] = None,
                 output_dir: Optional[str] = None) -> List[str]:
  """Writes report.json (built now unless given) and returns a printable summary.

  output_dir: where report.json goes (default the run folder).
  """
  report = report if report is not None else build_report(config)
  path = os.path.join(output_dir or config.output_dir, REPORT_FILE)
  fileio.write_json(path, report)
  lines = []
  data = report.get("data")
  if data:
    lines.append(f"Data: {data['valid_rows']:,} valid of {data['total_rows']:,} rows "
                 f"({data['format']}), {data['bad_rows']:,} quarantined "
                 f"({data.get('duplicate_rows', 0):,} of them duplicates)")
    lines.append(f"  {'split':<6} {'rows':>10} {'users':>8} {'new user':>9} {'new item':>9}")
    for name in ("train", "eval", "test"):
      entry = data["cold_start"][name]
      lines.append(f"  {name:<6} {entry['rows']:>10,} {entry['users']:>8,} "
                   f"{100 * entry['unknown_user_share']:>8.1f}% "
                   f"{100 * entry['unknown_item_share']:>8.1f}%")
  if report.get("models"):
    lines.append("Models (eval AUC: the eval split, which training stopped on; new = users "
                 "not in train):")
    lines.append(f"  {'model':<32} {'parameters':>11} {'bytes':>11} {'gzipped':>11} "
                 f"{'sparsity':>8} {'eval AUC':>8} {'eval AUC new':>12}")
    for row in report["models"]:
      lines.append(f"  {row['model']:<32} {row['parameters']:>11,} {row['bytes']:>11,} "
                   f"{row['gzipped_bytes']:>11,} {_number(row['sparsity'], '{:.2f}'):>8} "
                   f"{_number(row['eval_auc'], '{:.4f}'):>8} "
                   f"{_number(row['eval_auc_new_users'], '{:.4f}'):>12}")
  lines += test_lines(report.get("test"))
  lines.append("Artifacts:")
  for label, uri in report["artifacts"].items():
    lines.append(f"  {label:<22} {uri}")
  lines.append(f"Report: {path}")
  return lines
