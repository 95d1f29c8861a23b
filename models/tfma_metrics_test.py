"""The TFMA metrics equal models.metrics (and TFMA's own NDCG and AUC), through TFMA's plumbing."""

import numpy as np
import pytest
from tensorflow_model_analysis import metrics as tfma_metrics_api
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.utils import util as tfma_util

from models import metrics, tfma_metrics

# Users a, b, c: a ranks its positive first, b ranks it second of three, c has one row.
USERS = {"a": ([1, 0], [0.9, 0.1]), "b": ([1, 0, 0], [0.2, 0.5, 0.1]), "c": ([1], [0.3])}


def _example(user, label, prediction):
  return {"labels": np.array([label]), "predictions": np.array([prediction]),
          "example_weights": np.array([1.0]),
          "features": {"user_id": np.array([user]), "label": np.array([label])}}


def _figures_of(metric, halves):
  """The metric's output for `halves`, lists of (user, label, score) rows fed one example at
  a time, in one accumulator each, merged as Beam would."""
  rows, figures = metric.computations()
  (preprocessor,), combiner = rows.preprocessors, rows.combiner
  accumulators = []
  for half in halves:
    accumulator = combiner.create_accumulator()
    for user, label, prediction in half:
      # As TFMA does: the preprocessor's outputs for an example go to the combiner.
      accumulator = combiner.add_inputs(
          accumulator, preprocessor.process(_example(user, label, prediction)))
    accumulators.append(accumulator)
  return figures.result(combiner.extract_output(combiner.merge_accumulators(accumulators)))


def _per_user_figures(metric, halves):
  """The metric's output for rows of USERS, the users in `halves` one accumulator each."""
  return _figures_of(metric, [[(name, label, prediction) for name in names
                               for label, prediction in zip(*USERS[name])]
                              for names in halves])


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
    list(rows.preprocessors[0].process(query))


def test_gauc_and_ndcg_share_one_rows_computation_which_tfma_runs_once():
  gauc_rows, _ = tfma_metrics.GAUC().computations(model_names=["candidate"])
  ndcg_rows, _ = tfma_metrics.UserNDCG().computations(model_names=["candidate"])
  other_model, _ = tfma_metrics.GAUC().computations(model_names=["baseline"])
  # TFMA keeps one of equal computations (metrics_plots_and_validations_evaluator).
  assert gauc_rows == ndcg_rows and hash(gauc_rows) == hash(ndcg_rows)
  assert gauc_rows != other_model


def _log_loss(labels, scores):
  rows = [("a", label, score) for label, score in zip(labels, scores)]
  (value,) = _figures_of(tfma_metrics.LogLoss(), [rows[:2], rows[2:]]).values()
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


def _tfmas_own(metric, halves):
  """TFMA's built-in `metric` (one computation, or its last derived one) on the same rows."""
  computations = metric.computations(example_weighted=False)
  results = {}
  for computation in computations:
    if isinstance(computation, metric_types.DerivedMetricComputation):
      results.update(computation.result(results))
      continue
    combiner = computation.combiner
    accumulators = []
    for half in halves:
      accumulator = combiner.create_accumulator()
      for user, label, prediction in half:
        element = metric_util.to_standard_metric_inputs(_example(user, label, prediction), True)
        if computation.preprocessors:
          (element,) = computation.preprocessors[-1].process(element)
        accumulator = combiner.add_input(accumulator, element)
      accumulators.append(accumulator)
    results.update(combiner.extract_output(combiner.merge_accumulators(accumulators)))
  return results[computations[-1].keys[0]]


# Scores on a 1/8 grid (ties, as a fake-quantized model's), users of one to six rows.
_RNG = np.random.default_rng(7)
_ROWS = [(f"u{int(_RNG.integers(0, 6))}", int(_RNG.random() < 0.4),
          float(np.round(_RNG.random() * 8) / 8 * 0.98 + 0.01)) for _ in range(40)]


def test_exact_auc_counts_ties_half_and_is_tfmas_auc_without_its_buckets():
  halves = [_ROWS[:15], _ROWS[15:]]
  (key, value), = _figures_of(tfma_metrics.ExactAUC(), halves).items()
  assert key.name == "auc"
  labels = np.array([label for _, label, _ in _ROWS])
  scores = np.array([score for _, _, score in _ROWS])
  # Every (positive, negative) pair by hand: 1 when the positive scores higher, 1/2 on a tie.
  pairs = [1.0 if p > n else 0.5 if p == n else 0.0
           for p in scores[labels == 1] for n in scores[labels == 0]]
  assert value == pytest.approx(np.mean(pairs), abs=1e-12)
  # TFMA's AUC buckets scores into 10,000 thresholds: on scores that fall on a coarse grid
  # the buckets separate them all and it agrees.
  assert value == pytest.approx(_tfmas_own(tfma_metrics_api.AUC(), halves), abs=1e-6)


def test_calibration_is_tfmas_mean_score_over_mean_label():
  halves = [_ROWS[:15], _ROWS[15:]]
  (key, value), = _figures_of(tfma_metrics.MeanCalibration(), halves).items()
  assert key.name == "calibration"
  scores = [score for _, _, score in _ROWS]
  assert value == pytest.approx(sum(scores) / sum(label for _, label, _ in _ROWS), rel=1e-12)
  assert value == pytest.approx(_tfmas_own(tfma_metrics_api.Calibration(), halves), rel=1e-6)


def test_row_count_is_tfmas_example_count():
  halves = [_ROWS[:15], _ROWS[15:]]
  (key, value), = _figures_of(tfma_metrics.RowCount(), halves).items()
  assert key.name == "example_count"
  assert value == len(_ROWS) == 40
  assert value == _tfmas_own(tfma_metrics_api.ExampleCount(), halves)


def test_every_metric_reads_one_rows_computation_and_refuses_example_weights():
  metrics_ = [tfma_metrics.RowCount(), tfma_metrics.ExactAUC(), tfma_metrics.LogLoss(),
              tfma_metrics.MeanCalibration(), tfma_metrics.GAUC(), tfma_metrics.UserNDCG()]
  rows = {metric.computations(model_names=["candidate"])[0] for metric in metrics_}
  assert len(rows) == 1
  for metric in metrics_:
    with pytest.raises(ValueError, match="counts rows, not example weights"):
      metric.computations(example_weighted=True)
