"""The validation gate reads ExampleValidator's output and stops on any anomaly."""

import os

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2

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
