"""The validation gate reads ExampleValidator's output and stops on any anomaly."""

import os

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts

from components.validation_gate import executor


def _write(uri, split, anomalies):
  folder = os.path.join(uri, f"Split-{split}")
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, executor.ANOMALIES_FILE), "wb") as f:
    f.write(anomalies.SerializeToString())


def _anomaly(feature, short, long):
  anomalies = anomalies_pb2.Anomalies()
  info = anomalies.anomaly_info[feature]
  reason = info.reason.add()
  reason.short_description = short
  reason.description = long
  return anomalies


def test_clean_splits_pass(tmp_path):
  for split in ("train", "eval"):
    _write(str(tmp_path), split, anomalies_pb2.Anomalies())
  executor.check(str(tmp_path), ["train", "eval"])


def test_each_anomalous_feature_is_named_with_its_reason(tmp_path):
  _write(str(tmp_path), "train", anomalies_pb2.Anomalies())
  _write(str(tmp_path), "eval", _anomaly("user_gender", "Unexpected string values",
                                         "Examples contain values missing from the schema: X (~40%)."))
  with pytest.raises(executor.ValidationGateError) as error:
    executor.check(str(tmp_path), ["train", "eval"])
  message = str(error.value)
  assert "stops before Transform" in message
  assert ("[eval] feature 'user_gender': Unexpected string values: Examples contain values "
          "missing from the schema: X (~40%).") in message
  assert "[train]" not in message


def test_dataset_level_anomaly(tmp_path):
  anomalies = anomalies_pb2.Anomalies()
  reason = anomalies.dataset_anomaly_info.reason.add()
  reason.short_description = "Low num examples in dataset."
  reason.description = "The dataset has 0 examples."
  _write(str(tmp_path), "test", anomalies)
  assert executor.describe_anomalies(executor.load_anomalies(str(tmp_path), ["test"])) == [
      "[test] dataset: Low num examples in dataset.: The dataset has 0 examples."]


def _artifacts(tmp_path, anomalies_by_split):
  anomalies = standard_artifacts.ExampleAnomalies()
  anomalies.uri = str(tmp_path / "anomalies")
  anomalies.split_names = artifact_utils.encode_split_names(list(anomalies_by_split))
  for split, value in anomalies_by_split.items():
    _write(anomalies.uri, split, value)
  schema = standard_artifacts.Schema()
  schema.uri = str(tmp_path / "schema")
  os.makedirs(schema.uri)
  (tmp_path / "schema" / "schema.pbtxt").write_text('feature { name: "x" type: INT }\n')
  validated = standard_artifacts.Schema()
  validated.uri = str(tmp_path / "validated")
  return {"anomalies": [anomalies], "schema": [schema]}, {"validated_schema": [validated]}


def test_executor_passes_the_schema_on_when_clean(tmp_path):
  inputs, outputs = _artifacts(tmp_path, {"train": anomalies_pb2.Anomalies(),
                                          "eval": anomalies_pb2.Anomalies()})
  executor.Executor().Do(inputs, outputs, {})
  assert os.listdir(tmp_path / "validated") == ["schema.pbtxt"]
  assert (tmp_path / "validated" / "schema.pbtxt").read_text() == \
      (tmp_path / "schema" / "schema.pbtxt").read_text()


def test_executor_stops_and_passes_nothing_on_an_anomaly(tmp_path):
  inputs, outputs = _artifacts(tmp_path, {
      "train": anomalies_pb2.Anomalies(),
      "eval": _anomaly("user_gender", "Unexpected string values", "X (~40%).")})
  with pytest.raises(executor.ValidationGateError, match=r"\[eval\] feature 'user_gender'"):
    executor.Executor().Do(inputs, outputs, {})
  assert not os.path.exists(tmp_path / "validated" / "schema.pbtxt")
