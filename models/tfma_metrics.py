"""TFMA metrics TFMA lacks: per-user GAUC and NDCG without query grouping, and a log loss
that stays finite on saturated scores.

GAUC is AUC within each user, weighted by the user's rows; NDCG@k is the mean over users
with a positive label of NDCG@k with the label as gain (`models.metrics.gauc` and
`models.metrics.ndcg_at_k`, which the Int8Evaluator uses too). Overall AUC rewards
ranking users against each other; a recommender ranks items for one user, which is what
these measure.

TFMA's own NDCG needs a MetricsSpec with `query_key`: TFMA then groups whole extracts
(every feature, the serialized input, both models' predictions) per user before slicing,
and gives each user's whole list to every slice any of its rows falls in. On the 1e6 run's
test split (98,783 rows, two models, two Beam workers) that grouping cost 59 s of TFMA's
206 s and 3.2 GB of its 6.8 GB peak. GAUC and UserNDCG instead sit in an ordinary
MetricsSpec and share one computation that keeps (user, label, score) of the rows it
sees, per slice and model; each groups them by user when it outputs (TFMA alone on the
same split: 175 s, 4.0 GB). A slice's figure is then over that slice's rows only, as
the Int8Evaluator computes it.

  tfma.MetricConfig(class_name="GAUC", module="models.tfma_metrics",
                    config='{"user_key": "user_id"}')
  tfma.MetricConfig(class_name="UserNDCG", module="models.tfma_metrics",
                    config='{"user_key": "user_id", "top_k_list": [10]}')

Both count rows, not example weights.

LogLoss is the mean binary cross-entropy of the scores with each score clipped to
[1e-7, 1 - 1e-7] (the Keras BinaryCrossentropy metric's figure on unsaturated scores;
Keras adds another epsilon inside the logarithms). TFMA's own
BinaryCrossEntropy takes log(score) unclipped: one score that rounds to 1.0 in float32
(a logit above ~17) turns it into NaN. The Keras metric itself would do, but TFMA runs a
Keras metric by loading every model again as a Keras model in each worker (as it does for
the models' compiled metrics: TFMA alone on the 1e6 run's test split took 227 s with
those, 192 s without).
"""

import functools
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

from models import features, metrics, tf_teardown

# TFMA imports this module in every Beam worker of the Evaluator, which exits holding
# both SavedModels: without this each worker prints TensorFlow's teardown noise.
tf_teardown.install()

GAUC_NAME = "gauc"
NDCG_NAME = "ndcg"  # TFMA's NDCG reports under this name too
LOG_LOSS_NAME = "binary_crossentropy"  # the Keras metric's name, which reports already use
EPSILON = 1e-7  # tf_keras.backend.epsilon(), the Keras metric's clipping


def _per_model(name: str, contribution, eval_config, model_names, output_names,
               example_weighted: bool) -> metric_types.MetricComputations:
  """One computation per model and output: a _WeightedMeanCombiner of `contribution`."""
  computations = []
  for model_name in model_names or [""]:
    for output_name in output_names or [""]:
      key = metric_types.MetricKey(name, model_name=model_name, output_name=output_name,
                                   example_weighted=example_weighted)
      computations.append(metric_types.MetricComputation(
          keys=[key], preprocessors=None,
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


class _UserRowsCombiner(beam.CombineFn):
  """Keeps each row's (user, label, score); the output is the three columns as arrays."""

  def __init__(self, key: metric_types.MetricKey, eval_config, model_name: str,
               output_name: str, user_key: str):
    self._key = key
    self._eval_config = eval_config
    self._model_name = model_name
    self._output_name = output_name
    self._user_key = user_key

  def create_accumulator(self):
    return [[], [], []]  # users, labels, scores

  def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
    labels, predictions, _ = next(metric_util.to_label_prediction_example_weight(
        element, eval_config=self._eval_config, model_name=self._model_name,
        output_name=self._output_name, flatten=False, require_single_example_weight=True))
    labels = np.asarray(labels, dtype=np.float64).ravel()
    predictions = np.asarray(predictions, dtype=np.float64).ravel()
    user = np.asarray(element.features[self._user_key]).ravel()
    if user.size != 1 or labels.size != predictions.size:
      raise ValueError(f"expected one {self._user_key!r} value per example and as many "
                       f"labels as predictions, got {self._user_key}={user.tolist()}, "
                       f"{labels.size} labels, {predictions.size} predictions (a MetricsSpec "
                       "with query_key groups examples: GAUC and UserNDCG group by user "
                       "themselves)")
    accumulator[0].extend([user[0]] * labels.size)
    accumulator[1].extend(labels.tolist())
    accumulator[2].extend(predictions.tolist())
    return accumulator

  def merge_accumulators(self, accumulators):
    # Into the first (Beam allows it): copying into a new one each merge would be
    # quadratic when Beam merges accumulators two at a time.
    accumulators = iter(accumulators)
    total = next(accumulators)
    for accumulator in accumulators:
      for column, values in zip(total, accumulator):
        column.extend(values)
    return total

  def extract_output(self, accumulator) -> Dict[metric_types.MetricKey, Tuple[np.ndarray, ...]]:
    users, labels, scores = accumulator
    return {self._key: (np.asarray(labels, dtype=np.float64),
                        np.asarray(scores, dtype=np.float64), np.asarray(users))}


def _per_user(name: str, user_key: str, values, sub_keys, eval_config, model_names,
              output_names, example_weighted: bool,
              query_key: str) -> metric_types.MetricComputations:
  """Per model and output: the rows' (user, label, score), and `values` of them per key.

  The rows are one private computation (keyed by the user feature), which TFMA computes
  once however many per-user metrics read it. `values(labels, scores, users)` returns one
  figure per sub key, in order (a module-level function or a functools.partial of one).
  """
  if query_key:
    raise ValueError(f"{name} groups rows by {user_key!r} itself: put it in a MetricsSpec "
                     f"without query_key (got query_key={query_key!r})")
  if not user_key:
    raise ValueError(f"{name} needs user_key, the feature that names a row's user")
  computations = []
  for model_name in model_names or [""]:
    for output_name in output_names or [""]:
      rows_key = metric_types.MetricKey(f"_rows_by_{user_key}", model_name=model_name,
                                        output_name=output_name,
                                        example_weighted=example_weighted)
      keys = [metric_types.MetricKey(name, model_name=model_name, output_name=output_name,
                                     sub_key=sub_key, example_weighted=example_weighted)
              for sub_key in sub_keys]
      computations.append(metric_types.MetricComputation(
          keys=[rows_key],
          preprocessors=[metric_types.FeaturePreprocessor(feature_keys=[user_key])],
          combiner=_UserRowsCombiner(rows_key, eval_config, model_name, output_name,
                                     user_key)))
      computations.append(metric_types.DerivedMetricComputation(
          keys=keys, result=functools.partial(_figures, rows_key, keys, values)))
  return computations


def _figures(rows_key, keys, values, results) -> Dict[metric_types.MetricKey, float]:
  labels, scores, users = results[rows_key]
  if not len(users):
    return {key: float("nan") for key in keys}
  return dict(zip(keys, values(labels, scores, users)))


class GAUC(metric_types.Metric):
  """AUC per user, averaged with each user's row count as its weight."""

  def __init__(self, name: str = GAUC_NAME, user_key: str = features.USER_ID):
    super().__init__(_gauc, name=name, user_key=user_key)


metric_types.register_metric(GAUC)


def _gauc(name: str = GAUC_NAME, user_key: str = features.USER_ID,
          eval_config: Optional[config_pb2.EvalConfig] = None,
          model_names: Optional[List[str]] = None,
          output_names: Optional[List[str]] = None,
          example_weighted: bool = False,
          query_key: str = "") -> metric_types.MetricComputations:
  return _per_user(name, user_key, _gauc_values, [None], eval_config, model_names,
                   output_names, example_weighted, query_key)


def _gauc_values(labels, scores, users) -> List[float]:
  return [metrics.gauc(labels, scores, users)]


class UserNDCG(metric_types.Metric):
  """NDCG@k per user with the label as gain, averaged over users with a positive label.

  Reported as TFMA's NDCG is: name "ndcg", one key per k (sub key top_k).
  """

  def __init__(self, name: str = NDCG_NAME, user_key: str = features.USER_ID,
               top_k_list: Sequence[int] = (10,)):
    super().__init__(_ndcg, name=name, user_key=user_key, top_k_list=list(top_k_list))


metric_types.register_metric(UserNDCG)


def _ndcg(name: str = NDCG_NAME, user_key: str = features.USER_ID,
          top_k_list: Sequence[int] = (10,),
          eval_config: Optional[config_pb2.EvalConfig] = None,
          model_names: Optional[List[str]] = None,
          output_names: Optional[List[str]] = None,
          example_weighted: bool = False,
          query_key: str = "") -> metric_types.MetricComputations:
  if not top_k_list or any(int(k) < 1 for k in top_k_list):
    raise ValueError(f"{name} needs top_k_list, positive cut-offs, got {list(top_k_list)}")
  top_ks = [int(k) for k in top_k_list]
  return _per_user(name, user_key, functools.partial(_ndcg_values, top_ks),
                   [metric_types.SubKey(top_k=k) for k in top_ks], eval_config,
                   model_names, output_names, example_weighted, query_key)


def _ndcg_values(top_ks: List[int], labels, scores, users) -> List[float]:
  return [metrics.ndcg_at_k(labels, scores, users, k) for k in top_ks]


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
