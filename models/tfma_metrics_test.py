"""The GAUC TFMA metric equals models.metrics.gauc, computed through TFMA's own plumbing."""

import numpy as np
import pytest
from tensorflow_model_analysis import metrics as tfma_metrics_api  # noqa: F401 (registers)
from tensorflow_model_analysis.metrics import metric_util
from tensorflow_model_analysis.utils import util as tfma_util

from models import metrics, tfma_metrics


def _query(user, labels, predictions):
  return tfma_util.merge_extracts([
      {"labels": np.array([label]), "predictions": np.array([prediction]),
       "example_weights": np.array([1.0]), "features": {"user_id": np.array([user])}}
      for label, prediction in zip(labels, predictions)])


def test_gauc_metric_through_tfma_matches_numpy_and_hand_value():
  computation = tfma_metrics.GAUC().computations(query_key="user_id")[0]
  combiner = computation.combiner
  queries = {"a": ([1, 0], [0.9, 0.1]), "b": ([1, 0, 0], [0.2, 0.5, 0.1]), "c": ([1], [0.3])}
  halves = []
  for names in (("a",), ("b", "c")):  # two accumulators, merged as Beam would
    accumulator = combiner.create_accumulator()
    for name in names:
      element = metric_util.to_standard_metric_inputs(_query(name, *queries[name]), True)
      accumulator = combiner.add_input(accumulator, element)
    halves.append(accumulator)
  result = combiner.extract_output(combiner.merge_accumulators(halves))
  (value,) = result.values()
  # a: AUC 1.0 on 2 rows; b: 0.5 on 3 rows; c: one class, left out -> 3.5 / 5.
  assert value == pytest.approx(0.7)
  labels = sum((queries[q][0] for q in "abc"), [])
  scores = sum((queries[q][1] for q in "abc"), [])
  users = sum(([q] * len(queries[q][0]) for q in "abc"), [])
  assert value == pytest.approx(metrics.gauc(labels, scores, users))


def test_gauc_needs_a_query_key():
  with pytest.raises(ValueError, match="GAUC needs a query_key"):
    tfma_metrics.GAUC().computations()



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
