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
)


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
  report = {"run_dir": config.output_dir, "artifacts": {}, "data": None}
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
  return report


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
  lines.append("Artifacts:")
  for label, uri in report["artifacts"].items():
    lines.append(f"  {label:<22} {uri}")
  lines.append(f"Report: {path}")
  return lines
