"""What a run produced: artifact locations and data figures, read back from ML Metadata.

Writes `<run>/report.json` (machine-readable) and returns the lines the CLI prints.
"""

import json
import os
from typing import Dict, List

from pipeline import configs

# Output artifacts worth pointing a user to: (node id, output key, label).
_OUTPUTS = (
    ("InteractionsExampleGen", "examples", "examples (raw tf.Examples)"),
    ("StatisticsGen", "statistics", "statistics"),
    ("ExampleValidator", "anomalies", "anomalies"),
    ("Transform", "transform_graph", "transform graph"),
    ("Transform", "transformed_examples", "transformed examples"),
    ("TeacherTrainer", "model", "teacher model"),
    ("DistillationTrainer", "model", "student SavedModel"),
    ("DistillationTrainer", "mobile_model", "student int8 bundle"),
)
COMPRESSION_REPORT = "compression_report.json"


def latest_outputs(metadata_path: str) -> Dict[str, Dict[str, object]]:
  """{node: {output key: artifact}} of each node's newest successful execution."""
  from ml_metadata.metadata_store import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  store = metadata_store.MetadataStore(config)
  result: Dict[str, Dict[str, object]] = {}
  done = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
  for execution in sorted(store.get_executions(), key=lambda e: e.id):
    if execution.last_known_state not in done:
      continue
    node = next((c.name.split(".", 1)[-1] for c in store.get_contexts_by_execution(execution.id)
                 if c.type == "node"), execution.type)
    events = [e for e in store.get_events_by_execution_ids([execution.id])
              if e.type == metadata_store_pb2.Event.OUTPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs = {}
    for event in events:
      key = event.path.steps[0].key if event.path.steps else "output"
      outputs[key] = artifacts[event.artifact_id]
    result[node] = outputs
  return result


def build_report(config: configs.PipelineConfig) -> Dict:
  outputs = latest_outputs(config.metadata_path)
  report = {"run_dir": config.output_dir, "artifacts": {}, "data": None, "models": None}
  for node, key, label in _OUTPUTS:
    artifact = outputs.get(node, {}).get(key)
    if artifact is not None:
      report["artifacts"][label] = artifact.uri
  examples = outputs.get("InteractionsExampleGen", {}).get("examples")
  if examples is not None:
    summary_path = os.path.join(examples.uri, "ingestion_summary.json")
    if os.path.exists(summary_path):
      with open(summary_path) as f:
        report["data"] = json.load(f)
  student = outputs.get("DistillationTrainer", {}).get("model_run")
  if student is not None and os.path.exists(os.path.join(student.uri, COMPRESSION_REPORT)):
    with open(os.path.join(student.uri, COMPRESSION_REPORT)) as f:
      report["models"] = model_rows(json.load(f))
  return report


def model_rows(compression: Dict) -> List[Dict]:
  """One row per deployable model: parameters, bytes, gzipped bytes, sparsity, eval AUC."""
  teacher, student, tflite = compression["teacher"], compression["student"], compression["tflite"]
  fidelity = tflite["int8_vs_float"]
  return [
      {"model": "teacher (SavedModel variables)", "parameters": teacher["parameters"],
       "bytes": teacher["saved_model_variables"]["bytes"],
       "gzipped_bytes": teacher["saved_model_variables"]["gzipped_bytes"], "sparsity": None,
       "eval_auc": teacher["eval"]["auc"], "eval_auc_new_users": teacher["eval"]["auc_unknown_users"]},
      {"model": "student (SavedModel)", "parameters": student["parameters"],
       "bytes": student["saved_model"]["bytes"],
       "gzipped_bytes": student["saved_model"]["gzipped_bytes"],
       "sparsity": student["sparsity"]["overall"], "eval_auc": student["eval"]["auc"],
       "eval_auc_new_users": student["eval"]["auc_unknown_users"]},
      {"model": "student int8 (TFLite)", "parameters": student["parameters"],
       "bytes": tflite["bytes"], "gzipped_bytes": tflite["gzipped_bytes"],
       "sparsity": student["sparsity"]["overall"], "eval_auc": fidelity["auc_int8"],
       "eval_auc_new_users": None, "eval_rows": fidelity["rows"]},
  ]


def _number(value, pattern):
  return "-" if value is None or value != value else pattern.format(value)


def write_report(config: configs.PipelineConfig) -> List[str]:
  """Writes report.json and returns a printable summary."""
  report = build_report(config)
  path = os.path.join(config.output_dir, "report.json")
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(report, f, indent=2, sort_keys=True)
  os.replace(tmp, path)
  lines = []
  data = report.get("data")
  if data:
    lines.append(f"Data: {data['valid_rows']:,} valid of {data['total_rows']:,} rows "
                 f"({data['format']}), {data['bad_rows']:,} quarantined")
    lines.append(f"  {'split':<6} {'rows':>10} {'users':>8} {'new user':>9} {'new item':>9}")
    for name in ("train", "eval", "test"):
      entry = data["cold_start"][name]
      lines.append(f"  {name:<6} {entry['rows']:>10,} {entry['users']:>8,} "
                   f"{100 * entry['unknown_user_share']:>8.1f}% "
                   f"{100 * entry['unknown_item_share']:>8.1f}%")
  if report.get("models"):
    lines.append("Models (AUC on the eval split; new = users not in train):")
    lines.append(f"  {'model':<32} {'parameters':>11} {'bytes':>11} {'gzipped':>11} "
                 f"{'sparsity':>8} {'AUC':>6} {'AUC new':>7}")
    for row in report["models"]:
      lines.append(f"  {row['model']:<32} {row['parameters']:>11,} {row['bytes']:>11,} "
                   f"{row['gzipped_bytes']:>11,} {_number(row['sparsity'], '{:.2f}'):>8} "
                   f"{_number(row['eval_auc'], '{:.4f}'):>6} "
                   f"{_number(row['eval_auc_new_users'], '{:.4f}'):>7}")
  lines.append("Artifacts:")
  for label, uri in report["artifacts"].items():
    lines.append(f"  {label:<22} {uri}")
  lines.append(f"Report: {path}")
  return lines
