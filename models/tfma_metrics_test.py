"""The TFMA metrics equal models.metrics (and TFMA's own NDCG), through TFMA's plumbing."""

import numpy as np
import pytest
from tensorflow_model_analysis import metrics as tfma_metrics_api
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.utils import util as tfma_util

from models import metrics, tfma_metrics

# Users a, b, c: a ranks its positive first, b ranks it second of three, c has one row.
USERS = {"a": ([1, 0], [0.9, 0.1]), "b": ([1, 0, 0], [0.2, 0.5, 0.1]), "c": ([1], [0.3])}


def _example(user, label, prediction):
  return {"labels": np.array([label]), "predictions": np.array([prediction]),
          "example_weights": np.array([1.0]),
          "features": {"user_id": np.array([user]), "label": np.array([label])}}


def _per_user_figures(metric, halves):
  """The metric's output for rows of USERS fed one example at a time, in two accumulators
  merged as Beam would."""
  rows, figures = metric.computations()
  combiner = rows.combiner
  accumulators = []
  for names in halves:
    accumulator = combiner.create_accumulator()
    for name in names:
      for label, prediction in zip(*USERS[name]):
        element = metric_util.to_standard_metric_inputs(_example(name, label, prediction), True)
        accumulator = combiner.add_input(accumulator, element)
    accumulators.append(accumulator)
  return figures.result(combiner.extract_output(combiner.merge_accumulators(accumulators)))


def _columns():
  labels = sum((USERS[u][0] for u in USERS), [])
  scores = sum((USERS[u][1] for u in USERS), [])
  users = sum(([u] * len(USERS[u][0]) for u in USERS), [])
  return labels, scores, users


def test_gauc_metric_through_tfma_matches_numpy_and_hand_value():
  result = _per_user_figures(tfma_metrics.GAUC(), (("a", "b"), ("c",)))
  (key, value), = result.items()
  assert key.name == "gauc" and key.sub_key is None
  # a: AUC 1.0 on 2 rows; b: 0.5 on 3 rows; c: one class, left out -> 3.5 / 5.
  assert value == pytest.approx(0.7)
  assert value == pytest.approx(metrics.gauc(*_columns()))
  # One user's rows split across accumulators (as across Beam bundles) give the same.
  assert list(_per_user_figures(tfma_metrics.GAUC(), (("a",), ("b", "c"))).values()) == [value]


def test_user_ndcg_equals_tfmas_query_grouped_ndcg():
  ours = _per_user_figures(tfma_metrics.UserNDCG(top_k_list=[1, 2]), (("b",), ("a", "c")))
  assert sorted((k.name, k.sub_key.top_k) for k in ours) == [("ndcg", 1), ("ndcg", 2)]
  by_k = {k.sub_key.top_k: v for k, v in ours.items()}
  # @1: a 1, b 0, c 1 -> 2/3; @2: b's positive second -> 1/log2(3).
  assert by_k[1] == pytest.approx(2 / 3)
  assert by_k[2] == pytest.approx((2 + 1 / np.log2(3)) / 3)
  # TFMA's own NDCG, which needs the rows grouped by a query_key, on the same rows.
  (computation,) = tfma_metrics_api.NDCG(gain_key="label", top_k_list=[1, 2]).computations(
      sub_keys=[], query_key="user_id")
  combiner = computation.combiner
  accumulator = combiner.create_accumulator()
  for name, (labels, predictions) in USERS.items():
    query = tfma_util.merge_extracts([_example(name, label, prediction)
                                      for label, prediction in zip(labels, predictions)])
    accumulator = combiner.add_input(
        accumulator, metric_util.to_standard_metric_inputs(query, True))
  theirs = {k.sub_key.top_k: v for k, v in combiner.extract_output(accumulator).items()}
  assert by_k == pytest.approx(theirs)


@pytest.mark.parametrize("metric", [tfma_metrics.GAUC(), tfma_metrics.UserNDCG()])
def test_per_user_metrics_refuse_a_query_key_spec(metric):
  with pytest.raises(ValueError, match="groups rows by 'user_id' itself"):
    metric.computations(query_key="user_id")


def test_per_user_metric_on_a_grouped_element_names_the_feature():
  rows, _ = tfma_metrics.GAUC().computations()
  query = tfma_util.merge_extracts([_example("a", 1, 0.9), _example("a", 0, 0.1)])
  with pytest.raises(ValueError, match="one 'user_id' value per example"):
    rows.combiner.add_input(rows.combiner.create_accumulator(),
                            metric_util.to_standard_metric_inputs(query, True))


def test_gauc_and_ndcg_share_one_rows_computation_which_tfma_runs_once():
  gauc_rows, _ = tfma_metrics.GAUC().computations(model_names=["candidate"])
  ndcg_rows, _ = tfma_metrics.UserNDCG().computations(model_names=["candidate"])
  other_model, _ = tfma_metrics.GAUC().computations(model_names=["baseline"])
  # TFMA keeps one of equal computations (metrics_plots_and_validations_evaluator).
  assert gauc_rows == ndcg_rows and hash(gauc_rows) == hash(ndcg_rows)
  assert gauc_rows != other_model


def _log_loss(labels, scores):
  combiner = tfma_metrics.LogLoss().computations()[0].combiner
  halves = []
  for part in (slice(0, 2), slice(2, None)):  # two accumulators, merged as Beam would
    accumulator = combiner.create_accumulator()
    for label, score in zip(labels[part], scores[part]):
      extract = {"labels": np.array([label]), "predictions": np.array([score]),
                 "example_weights": np.array([1.0])}
      accumulator = combiner.add_input(
          accumulator, metric_util.to_standard_metric_inputs(extract, True))
    halves.append(accumulator)
  (value,) = combiner.extract_output(combiner.merge_accumulators(halves)).values()
  return value


def test_log_loss_through_tfma_matches_keras_and_stays_finite_on_saturated_scores():
  import tf_keras as keras  # pylint: disable=g-import-not-at-top
  labels, scores = [1.0, 0.0, 1.0, 0.0], [0.9, 0.2, 0.6, 0.3]
  keras_metric = keras.metrics.BinaryCrossentropy()
  keras_metric.update_state(np.array(labels)[:, None], np.array(scores, np.float32)[:, None])
  assert _log_loss(labels, scores) == pytest.approx(float(keras_metric.result()), rel=1e-5)
  # A score of 1.0 with label 0: log(1 - 1.0) unclipped is -inf (TFMA's BinaryCrossEntropy
  # gives NaN); clipped to 1 - 1e-7 it costs -log(1e-7).
  value = _log_loss(labels + [0.0, 0.0], scores + [1.0, 0.0])
  by_hand = -(np.log(0.9) + np.log(0.8) + np.log(0.6) + np.log(0.7) + np.log(1e-7)
              + np.log(1 - 1e-7)) / 6
  assert value == pytest.approx(by_hand, rel=1e-9)
