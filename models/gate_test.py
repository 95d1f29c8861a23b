"""The gate's thresholds: the TFMA EvalConfig says what the config says; checks judge NaN."""

import math

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs, metric_types

from models import features, gate


def test_eval_config_carries_the_thresholds_and_is_valid_for_tfma():
  config = gate.tfma_eval_config(gate.GateConfig(auc_floor=0.65, max_auc_drop=0.02,
                                                 max_gauc_drop=0.03, ndcg_k=5))
  tfma.utils.verify_eval_config(config)
  assert [(m.name, m.is_baseline, m.prediction_key, m.label_key) for m in config.model_specs] == [
      ("candidate", False, "score", features.LABEL), ("baseline", True, "score", features.LABEL)]
  by_class = {m.class_name: m for spec in config.metrics_specs for m in spec.metrics}
  # Judged on the overall slice only (a MetricConfig.threshold would judge every slice).
  (auc,) = by_class["AUC"].per_slice_thresholds
  assert [list(s.feature_keys) for s in auc.slicing_specs] == [[]]
  assert auc.threshold.value_threshold.lower_bound.value == 0.65
  assert auc.threshold.change_threshold.absolute.value == -0.02
  assert not by_class["AUC"].HasField("threshold")
  (gauc,) = by_class["GAUC"].per_slice_thresholds
  assert gauc.threshold.change_threshold.absolute.value == -0.03
  assert by_class["GAUC"].module == "models.tfma_metrics"
  assert '"top_k_list": [5]' in by_class["NDCG"].config
  query_specs = [s for s in config.metrics_specs if s.query_key]
  assert [s.query_key for s in query_specs] == [features.USER_ID]
  assert [list(s.feature_keys) for s in config.slicing_specs] == [
      [], [features.USER_IN_TRAIN], [features.ITEM_IN_TRAIN], [features.USER_ACTIVITY]]
  # No metric goes through TFMA's Keras path, which loads every model as a Keras model in
  # each worker: not the models' compiled metrics, and every configured one is a TFMA
  # metric (a Keras class name such as "BinaryCrossentropy" would be taken as Keras').
  assert config.options.include_default_metrics.value is False
  for metric in by_class.values():
    assert issubclass(type(metric_specs.metric_instance(metric)), metric_types.Metric), metric
  assert by_class["LogLoss"].module == "models.tfma_metrics"


def test_checks_pass_fail_and_a_missing_value_fails():
  assert gate.check_at_least("int8", "auc", 0.7, 0.6).passed
  assert not gate.check_at_least("int8", "auc", 0.5, 0.6).passed
  assert gate.check_at_most("int8", "p50 ms", 1.0, 2.0).passed
  missing = gate.check_at_least("student", "auc", math.nan, 0.6)
  assert not missing.passed
  assert gate.check_at_least("student", "auc - teacher auc", -0.046, -0.01).line() == (
      "student: auc - teacher auc -0.0460 vs limit -0.0100 (at least)")
