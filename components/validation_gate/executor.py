"""Executor of ValidationGate: stop the run when ExampleValidator found anomalies.

ExampleValidator only records anomalies; nothing downstream looks at them. The
gate reads its output for every split and raises with one line per anomalous
feature, so Transform and training never see data that broke the schema; else
it passes the schema on (Transform reads it from the gate's output).
"""

import os
from typing import Any, Dict, List

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from models import fileio

# File name ExampleValidator writes under Split-<name>/ (tfx ExampleValidator executor).
ANOMALIES_FILE = "SchemaDiff.pb"


class ValidationGateError(RuntimeError):
  """Raised when the examples do not match the curated schema."""


def load_anomalies(anomalies_uri: str, split_names: List[str]) -> Dict[str, anomalies_pb2.Anomalies]:
  result = {}
  for split in split_names:
    path = os.path.join(anomalies_uri, f"Split-{split}", ANOMALIES_FILE)
    with tf.io.gfile.GFile(path, "rb") as f:
      result[split] = anomalies_pb2.Anomalies.FromString(f.read())
  return result


def describe_anomalies(anomalies_by_split: Dict[str, anomalies_pb2.Anomalies]) -> List[str]:
  """One readable line per anomaly: split, feature, short and long description."""
  lines = []
  for split, anomalies in sorted(anomalies_by_split.items()):
    for feature, info in sorted(anomalies.anomaly_info.items()):
      reasons = "; ".join(f"{r.short_description}: {r.description}" for r in info.reason) or (
          f"{info.short_description}: {info.description}")
      lines.append(f"[{split}] feature {feature!r}: {reasons}")
    if anomalies.HasField("dataset_anomaly_info"):
      info = anomalies.dataset_anomaly_info
      reasons = "; ".join(f"{r.short_description}: {r.description}" for r in info.reason)
      lines.append(f"[{split}] dataset: {reasons}")
  return lines


def check(anomalies_uri: str, split_names: List[str]) -> None:
  lines = describe_anomalies(load_anomalies(anomalies_uri, split_names))
  if lines:
    raise ValidationGateError(
        "Validation gate: the examples do not match schemas/schema.pbtxt, so the run stops "
        "before Transform.\n  " + "\n  ".join(lines))


class Executor(base_executor.BaseExecutor):
  """Raises ValidationGateError listing each anomaly; else copies the schema through."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    anomalies = artifact_utils.get_single_instance(input_dict["anomalies"])
    check(anomalies.uri, artifact_utils.decode_split_names(anomalies.split_names))
    schema_file = io_utils.get_only_uri_in_dir(
        artifact_utils.get_single_uri(input_dict["schema"]))
    validated = artifact_utils.get_single_uri(output_dict["validated_schema"])
    fileio.copy_file(schema_file, os.path.join(validated, os.path.basename(schema_file)))
