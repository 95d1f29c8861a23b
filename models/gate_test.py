"""The gate's thresholds: the TFMA EvalConfig says what the config says; checks judge NaN."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs, metric_types

from models import features, gate, int8_evaluation


def test_eval_config_carries_the_thresholds_and_is_valid_for_tfma():
  config = gate.tfma_eval_config(gate.GateConfig(auc_floor=0.65, max_auc_drop=0.02,
                                                 max_gauc_drop=0.03, ndcg_k=5))
  tfma.utils.verify_eval_config(config)
  assert [(m.name, m.is_baseline, m.prediction_key, m.label_key, m.model_type)
          for m in config.model_specs] == [
      ("candidate", False, "score", features.LABEL, "tf_generic"),
      ("baseline", True, "score", features.LABEL, "tf_generic")]
  by_class = {m.class_name: m for spec in config.metrics_specs for m in spec.metrics}
  # Judged on the overall slice only (a MetricConfig.threshold would judge every slice).
  (auc,) = by_class["ExactAUC"].per_slice_thresholds
  assert [list(s.feature_keys) for s in auc.slicing_specs] == [[]]
  assert auc.threshold.value_threshold.lower_bound.value == 0.65
  assert auc.threshold.change_threshold.absolute.value == -0.02
  assert not by_class["ExactAUC"].HasField("threshold")
  (gauc,) = by_class["GAUC"].per_slice_thresholds
  assert gauc.threshold.change_threshold.absolute.value == -0.03
  # All are ours and read one rows computation per model (same user_key).
  assert sorted(by_class) == ["ExactAUC", "GAUC", "LogLoss", "MeanCalibration", "RowCount",
                              "UserNDCG"]
  for name in ("RowCount", "ExactAUC", "LogLoss", "MeanCalibration", "GAUC"):
    assert by_class[name].module == "models.tfma_metrics"
    assert json.loads(by_class[name].config) == {"user_key": features.USER_ID}
  # Per-user metrics group by user themselves: no query_key spec, which would make TFMA
  # group whole extracts by user.
  assert json.loads(by_class["UserNDCG"].config) == {"user_key": features.USER_ID,
                                                     "top_k_list": [5]}
  assert [s.query_key for s in config.metrics_specs] == [""]
  assert [list(s.feature_keys) for s in config.slicing_specs] == [
      [], [features.USER_IN_TRAIN], [features.ITEM_IN_TRAIN], [features.USER_ACTIVITY]]
  # No metric goes through TFMA's Keras path, which loads every model as a Keras model in
  # each worker: not the models' compiled metrics, and every configured one is a TFMA
  # metric (a Keras class name such as "BinaryCrossentropy" would be taken as Keras').
  assert config.options.include_default_metrics.value is False
  for metric in by_class.values():
    assert issubclass(type(metric_specs.metric_instance(metric)), metric_types.Metric), metric


def test_checks_pass_fail_and_a_missing_value_fails():
  assert gate.check_at_least("int8", "auc", 0.7, 0.6).passed
  assert not gate.check_at_least("int8", "auc", 0.5, 0.6).passed
  assert gate.check_at_most("int8", "p50 ms", 1.0, 2.0).passed
  missing = gate.check_at_least("student", "auc", math.nan, 0.6)
  assert not missing.passed
  assert gate.check_at_least("student", "auc - teacher auc", -0.046, -0.01).line() == (
      "student: auc - teacher auc -0.0460 vs limit -0.0100 (at least)")


class _ScoreReader(tf.Module):
  """A SavedModel whose serving_default returns a feature of the example as its score."""

  def __init__(self, key):
    super().__init__()
    self._key = key

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
  def serve(self, examples):
    parsed = tf.io.parse_example(examples, {self._key: tf.io.FixedLenFeature([1], tf.float32)})
    return {"score": parsed[self._key]}


def _score_reader(path, key):
  module = _ScoreReader(key)
  tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
  return path


def _scored_example(row):
  """A test row as a tf.Example: its user, label, slice features and both models' scores."""
  def text(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))

  feature = {name: text(row[name]) for name in (features.USER_ID, features.USER_IN_TRAIN,
                                                features.ITEM_IN_TRAIN, features.USER_ACTIVITY)}
  feature[features.LABEL] = tf.train.Feature(
      int64_list=tf.train.Int64List(value=[row[features.LABEL]]))
  for model in ("student", "teacher"):
    feature[f"{model}_score"] = tf.train.Feature(float_list=tf.train.FloatList(value=[row[model]]))
  return tf.train.Example(features=tf.train.Features(feature=feature))


def test_tfma_runs_the_gate_config_per_slice_as_numpy_and_judges_gauc(tmp_path):
  # The gate's EvalConfig run by TFMA's Beam pipeline on rows that carry both models'
  # scores (TFMA reads a prediction from a feature when no model is given), against the
  # Int8Evaluator's numpy figures on the same rows, slice by slice. Scores on a 1/8 grid
  # tie often, as a fake-quantized student's do.
  rng = np.random.default_rng(3)
  rows = []
  for user in ["a", "b", "c", "d", "e", "n", "p", "q", "r"]:
    for position in range(int(rng.integers(1, 12))):
      label = int(rng.integers(0, 2))
      teacher = float(np.clip(0.5 + 0.3 * (2 * label - 1) + rng.normal(0, 0.2), 0.01, 0.99))
      student = float(np.round(rng.random() * 8) / 8 * 0.98 + 0.01)
      rows.append({features.USER_ID: user, features.LABEL: label, "student": student,
                   "teacher": teacher, features.ITEM_IN_TRAIN: "known" if rng.random() < 0.7
                   else "new", features.USER_ACTIVITY: features.activity_bucket(position),
                   features.USER_IN_TRAIN: "known" if user < "m" else "new"})
  data = str(tmp_path / "test.tfrecord")
  with tf.io.TFRecordWriter(data) as writer:
    for row in rows:
      writer.write(_scored_example(row).SerializeToString())
  config = gate.tfma_eval_config(gate.GateConfig(auc_floor=0.0, max_auc_drop=1.0,
                                                 max_gauc_drop=0.0001, ndcg_k=3))
  models = [tfma.default_eval_shared_model(
      _score_reader(str(tmp_path / name), f"{model}_score"), eval_config=config, model_name=name)
            for name, model in ((gate.CANDIDATE, "student"), (gate.BASELINE, "teacher"))]
  output = str(tmp_path / "evaluation")
  tfma.run_model_analysis(eval_shared_model=models, eval_config=config, data_location=data,
                          output_path=output)

  reported = gate.read_tfma_metrics(output)
  # The scores as the examples carry them (float32), for the log loss and calibration.
  scores = {model: np.array([r[model] for r in rows], np.float32).astype(np.float64)
            for model in ("student", "teacher")}
  expected = int8_evaluation.sliced_metrics(rows, scores, ndcg_k=3)
  assert sorted(s.name for s in expected) == sorted(reported)
  for expected_slice in expected:
    for model, figures in expected_slice.models.items():
      got = reported[expected_slice.name][model]
      assert got["example_count"] == figures.rows
      for name, reported_name in (("auc", gate.AUC), ("gauc", gate.GAUC), ("ndcg", "ndcg@3"),
                                  ("log_loss", gate.LOG_LOSS),
                                  ("calibration", gate.CALIBRATION)):
        value = getattr(figures, name)
        reported_value = got[reported_name]
        if math.isnan(value):
          assert math.isnan(reported_value), (expected_slice.name, model, name)
        else:
          assert reported_value == pytest.approx(value, abs=1e-12), (
              expected_slice.name, model, name)
  # The teacher ranks within users far better: TFMA fails the GAUC change threshold on the
  # overall slice, and the gate's checks say so.
  checks = {c.metric: c for c in gate.tfma_checks(output, gate.GateConfig(max_gauc_drop=0.0001),
                                                 reported)}
  assert not checks["gauc - teacher gauc"].passed
  assert checks["gauc - teacher gauc"].value == pytest.approx(
      expected[0].models["student"].gauc - expected[0].models["teacher"].gauc, abs=1e-12)
