"""TFMA metrics TFMA lacks: GAUC, and a log loss that stays finite on saturated scores.

GAUC is AUC within each query (user), weighted by its rows.

Overall AUC rewards ranking users against each other; a recommender ranks items for
one user, which is what GAUC measures. Users whose rows all carry one label have no
AUC and are left out (as are their rows from the weights).

Used through the EvalConfig as
  tfma.MetricConfig(class_name="GAUC", module="models.tfma_metrics")
in a MetricsSpec with `query_key` set (TFMA then hands the combiner one element per
query, as for its own NDCG). The same figure in numpy is `models.metrics.gauc`.

LogLoss is the mean binary cross-entropy of the scores with each score clipped to
[1e-7, 1 - 1e-7] (the Keras BinaryCrossentropy metric's figure on unsaturated scores;
Keras adds another epsilon inside the logarithms). TFMA's own
BinaryCrossEntropy takes log(score) unclipped: one score that rounds to 1.0 in float32
(a logit above ~17) turns it into NaN. The Keras metric itself would do, but TFMA runs a
Keras metric by loading every model again as a Keras model in each worker (as it does for
the models' compiled metrics: TFMA alone on the 1e6 run's test split took 227 s with
those, 192 s without).
"""

from typing import Callable, Dict, Iterable, List, Optional, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

from models import metrics

GAUC_NAME = "gauc"
LOG_LOSS_NAME = "binary_crossentropy"  # the Keras metric's name, which reports already use
EPSILON = 1e-7  # tf_keras.backend.epsilon(), the Keras metric's clipping


def _per_model(name: str, contribution, eval_config, model_names, output_names,
               example_weighted: bool, preprocessors=None) -> metric_types.MetricComputations:
  """One computation per model and output: a _WeightedMeanCombiner of `contribution`."""
  computations = []
  for model_name in model_names or [""]:
    for output_name in output_names or [""]:
      key = metric_types.MetricKey(name, model_name=model_name, output_name=output_name,
                                   example_weighted=example_weighted)
      computations.append(metric_types.MetricComputation(
          keys=[key], preprocessors=preprocessors,
          combiner=_WeightedMeanCombiner(key, eval_config, model_name, output_name,
                                         example_weighted, contribution)))
  return computations


class _WeightedMeanCombiner(beam.CombineFn):
  """Accumulates [sum of weight x value, sum of weights]; the output is their ratio.

  `contribution(labels, predictions, weight)` gives one element's (weighted value,
  weight): each metric's own part (a module-level function, so Beam can pickle it).
  """

  def __init__(self, key: metric_types.MetricKey, eval_config, model_name: str,
               output_name: str, example_weighted: bool,
               contribution: Callable[[np.ndarray, np.ndarray, float], Tuple[float, float]]):
    self._contribution = contribution
    self._key = key
    self._eval_config = eval_config
    self._model_name = model_name
    self._output_name = output_name
    self._example_weighted = example_weighted

  def create_accumulator(self):
    return [0.0, 0.0]

  def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
    labels, predictions, weights = next(metric_util.to_label_prediction_example_weight(
        element, eval_config=self._eval_config, model_name=self._model_name,
        output_name=self._output_name, example_weighted=self._example_weighted,
        flatten=False, require_single_example_weight=True))
    weighted, weight = self._contribution(np.asarray(labels, dtype=np.float64).ravel(),
                                          np.asarray(predictions, dtype=np.float64).ravel(),
                                          float(np.asarray(weights, dtype=np.float64).ravel()[0]))
    accumulator[0] += weighted
    accumulator[1] += weight
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[List[float]]):
    total = [0.0, 0.0]
    for weighted, weights in accumulators:
      total[0] += weighted
      total[1] += weights
    return total

  def extract_output(self, accumulator) -> Dict[metric_types.MetricKey, float]:
    weighted, weights = accumulator
    return {self._key: weighted / weights if weights else float("nan")}


class GAUC(metric_types.Metric):
  """AUC per query (query_key), averaged with each query's row count as its weight."""

  def __init__(self, name: str = GAUC_NAME):
    super().__init__(_gauc, name=name)


metric_types.register_metric(GAUC)


def _gauc(name: str = GAUC_NAME,
          eval_config: Optional[config_pb2.EvalConfig] = None,
          model_names: Optional[List[str]] = None,
          output_names: Optional[List[str]] = None,
          sub_keys: Optional[List[metric_types.SubKey]] = None,
          example_weighted: bool = False,
          query_key: str = "") -> metric_types.MetricComputations:
  """One computation per model and output, grouping by query_key."""
  del sub_keys  # a single figure per model
  if not query_key:
    raise ValueError("GAUC needs a query_key in its MetricsSpec (the user id feature)")
  return _per_model(name, _gauc_contribution, eval_config, model_names, output_names,
                    example_weighted,
                    [metric_types.CombinedFeaturePreprocessor(feature_keys=[query_key])])


def _gauc_contribution(labels, predictions, weight) -> Tuple[float, float]:
  """One query's (rows x AUC, rows); (0, 0) for a query with one class only."""
  del weight  # a query's weight is its row count
  auc = metrics.auc(labels, predictions)
  if auc != auc:  # NaN when the query has one class only
    return 0.0, 0.0
  return len(labels) * auc, float(len(labels))


class LogLoss(metric_types.Metric):
  """Mean binary cross-entropy of the scores, clipped to [EPSILON, 1 - EPSILON]."""

  def __init__(self, name: str = LOG_LOSS_NAME):
    super().__init__(_log_loss, name=name)


metric_types.register_metric(LogLoss)


def _log_loss(name: str = LOG_LOSS_NAME,
              eval_config: Optional[config_pb2.EvalConfig] = None,
              model_names: Optional[List[str]] = None,
              output_names: Optional[List[str]] = None,
              sub_keys: Optional[List[metric_types.SubKey]] = None,
              example_weighted: bool = False) -> metric_types.MetricComputations:
  del sub_keys  # binary labels: a single figure per model
  return _per_model(name, _log_loss_contribution, eval_config, model_names, output_names,
                    example_weighted)


def _log_loss_contribution(labels, predictions, weight) -> Tuple[float, float]:
  """One element's (weight x summed cross-entropy, weight x rows)."""
  scores = np.clip(predictions, EPSILON, 1 - EPSILON)
  losses = -(labels * np.log(scores) + (1 - labels) * np.log(1 - scores))
  return weight * float(losses.sum()), weight * len(losses)
