"""Reading a run's ML Metadata store: finished executions and the artifacts they wrote.

The one place that opens the store (read-only: the orchestrator is the writer) and
knows how TFX names nodes in it. Used by the progress lines, the report, tests
and `make bench`.
"""

from typing import Dict, List

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

State = metadata_store_pb2.Execution.State
# Terminal states and the word a progress line shows for each.
FINISHED = {State.COMPLETE: "done", State.FAILED: "FAILED", State.CACHED: "cached"}
SUCCEEDED = (State.COMPLETE, State.CACHED)


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
  """The run's SQLite store, read-only."""
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  return metadata_store.MetadataStore(config)


def node_id(store: metadata_store.MetadataStore, execution) -> str:
  """The component id of an execution (TFX names its node context '<pipeline>.<id>')."""
  for context in store.get_contexts_by_execution(execution.id):
    if context.type == "node":
      return context.name.split(".", 1)[-1]
  return execution.type


def finished_executions(metadata_path: str, since: float = 0.0) -> List[Dict]:
  """Executions in a terminal state created after `since` (seconds), oldest first.

  Each: {"id", "node", "state" ("done" | "FAILED" | "cached"), "seconds"}.
  """
  store = open_store(metadata_path)
  rows = []
  for execution in store.get_executions():
    if execution.last_known_state not in FINISHED:
      continue
    if execution.create_time_since_epoch < since * 1000:
      continue
    rows.append({
        "id": execution.id,
        "node": node_id(store, execution),
        "state": FINISHED[execution.last_known_state],
        "seconds": (execution.last_update_time_since_epoch
                    - execution.create_time_since_epoch) / 1000.0,
    })
  return sorted(rows, key=lambda r: r["id"])


def latest_outputs(metadata_path: str) -> Dict[str, Dict[str, metadata_store_pb2.Artifact]]:
  """{node: {output key: artifact}} of each node's newest successful execution."""
  store = open_store(metadata_path)
  result: Dict[str, Dict[str, metadata_store_pb2.Artifact]] = {}
  for execution in sorted(store.get_executions(), key=lambda e: e.id):
    if execution.last_known_state not in SUCCEEDED:
      continue
    events = [e for e in store.get_events_by_execution_ids([execution.id])
              if e.type == metadata_store_pb2.Event.OUTPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs = {}
    for event in events:
      key = event.path.steps[0].key if event.path.steps else "output"
      outputs[key] = artifacts[event.artifact_id]
    result[node_id(store, execution)] = outputs
  return result
