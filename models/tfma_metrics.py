"""The Evaluator's metrics, all read from one computation per model: the rows' (user, label,
score). Per-user GAUC and NDCG without query grouping, exact AUC, a log loss that stays
finite on saturated scores, calibration, and the row count.

GAUC is AUC within each user, weighted by the user's rows; NDCG@k is the mean over users
with a positive label of NDCG@k with the label as gain (`models.metrics.gauc` and
`models.metrics.ndcg_at_k`, which the Int8Evaluator uses too). Overall AUC rewards
ranking users against each other; a recommender ranks items for one user, which is what
these measure.

TFMA's own NDCG needs a MetricsSpec with `query_key`: TFMA then groups whole extracts
(every feature, the serialized input, both models' predictions) per user before slicing,
and gives each user's whole list to every slice any of its rows falls in. On the 1e6 run's
test split (98,783 rows, two models, two Beam workers) that grouping cost 59 s of TFMA's
206 s and 3.2 GB of its 6.8 GB peak. These metrics instead sit in an ordinary MetricsSpec
and share one computation that keeps (user, label, score) of the rows it sees, per slice
and model; each computes its figure from those columns when it outputs. A slice's figure is
then over that slice's rows only, as the Int8Evaluator computes it.

One computation for all of them because TFMA hands every example to every combiner of
every slice and model in Python: on the 1e6 run's test split (4 slicings, 2 models), TFMA's
AUC (a 10,000-bucket histogram), its Calibration and a log-loss combiner of our own took
~440 of the Evaluator's 776 profiled seconds, each re-reading the label and score of every
example; the shared rows already held them. A preprocessor reads an example's user, label
and score once per model, before TFMA fans the example out to its slices; the combiner
only appends them. TFMA alone on that split (in-memory Beam, one worker): 368.7 s before,
90.7 s after. So:

  RowCount          "example_count": the rows, as TFMA's ExampleCount counts them unweighted
  ExactAUC          "auc": the exact AUC, ties counting half (`models.metrics.auc`, the
                    Int8Evaluator's figure), not TFMA's bucketed approximation
  LogLoss           "binary_crossentropy": mean cross-entropy with each score clipped to
                    [1e-7, 1 - 1e-7] (the Keras BinaryCrossentropy metric's figure on
                    unsaturated scores; TFMA's own BinaryCrossEntropy takes log(score)
                    unclipped, so one score that rounds to 1.0 in float32 gives NaN)
  MeanCalibration   "calibration": mean score / mean label, as TFMA's Calibration
  GAUC              "gauc"
  UserNDCG          "ndcg", one key per k (sub key top_k), as TFMA's NDCG reports

Each takes `user_key`, the feature naming a row's user, which names the shared
computation: give every metric the same one and TFMA runs it once per model.

  tfma.MetricConfig(class_name="GAUC", module="models.tfma_metrics",
                    config='{"user_key": "user_id"}')
  tfma.MetricConfig(class_name="UserNDCG", module="models.tfma_metrics",
                    config='{"user_key": "user_id", "top_k_list": [10]}')

They count rows, not example weights (an example-weighted spec is refused). A Keras
metric would not do: TFMA runs Keras metrics by loading every model again as a Keras model
in each worker (as it does for the models' compiled metrics: TFMA alone on the 1e6 run's
test split took 227 s with those, 192 s without).
"""

import functools
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

from models import features, gate, metrics, tf_teardown

# TFMA imports this module in every Beam worker of the Evaluator, which exits holding
# both SavedModels: without this each worker prints TensorFlow's teardown noise.
tf_teardown.install()

# The metrics report under models.gate's names: TFMA's own for the count, AUC, NDCG and
# calibration, and the Keras metric's for the log loss, which reports already use.
EPSILON = 1e-7  # tf_keras.backend.epsilon(), the Keras metric's clipping


class _RowsPreprocessor(metric_types.Preprocessor):
  """One example's (user, labels, scores) for one model and output, read once per example:
  TFMA runs preprocessors before it hands each example to every slice it falls in."""

  def __init__(self, eval_config, model_name: str, output_name: str, user_key: str):
    # TFMA tells preprocessors apart by name.
    super().__init__(name=f"_rows_by_{user_key}[{model_name}][{output_name}]")
    self._eval_config = eval_config
    self._model_name = model_name
    self._output_name = output_name
    self._user_key = user_key

  def process(self, extracts) -> Iterator[Tuple[object, List[float], List[float]]]:
    element = metric_util.to_standard_metric_inputs(extracts, include_features=True)
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
                       "with query_key groups examples: the metrics of models.tfma_metrics "
                       "group rows by user themselves)")
    yield user[0], labels.tolist(), predictions.tolist()


class _UserRowsCombiner(beam.CombineFn):
  """Keeps each row's (user, label, score) from _RowsPreprocessor; the output is the three
  columns as arrays."""

  def __init__(self, key: metric_types.MetricKey):
    self._key = key

  def create_accumulator(self):
    return [[], [], []]  # users, labels, scores

  def add_input(self, accumulator, row: Tuple[object, List[float], List[float]]):
    user, labels, scores = row
    accumulator[0].extend([user] * len(labels))
    accumulator[1].extend(labels)
    accumulator[2].extend(scores)
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


def _from_rows(name: str, user_key: str, values, sub_keys, eval_config, model_names,
               output_names, example_weighted: bool,
               query_key: str) -> metric_types.MetricComputations:
  """Per model and output: the rows' (user, label, score), and `values` of them per key.

  The rows are one private computation (keyed by the user feature), which TFMA computes
  once however many metrics read it. `values(labels, scores, users)` returns one
  figure per sub key, in order (a module-level function or a functools.partial of one).
  """
  if example_weighted:
    raise ValueError(f"{name} counts rows, not example weights: use it in a MetricsSpec "
                     "without weighted example_weights")
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
          preprocessors=[_RowsPreprocessor(eval_config, model_name, output_name, user_key)],
          combiner=_UserRowsCombiner(rows_key)))
      computations.append(metric_types.DerivedMetricComputation(
          keys=keys, result=functools.partial(_figures, rows_key, keys, values)))
  return computations


def _figures(rows_key, keys, values, results) -> Dict[metric_types.MetricKey, float]:
  labels, scores, users = results[rows_key]
  if not len(users):
    return {key: float("nan") for key in keys}
  return dict(zip(keys, values(labels, scores, users)))


def _one_figure(values, name: str, user_key: str = features.USER_ID,
                eval_config: Optional[config_pb2.EvalConfig] = None,
                model_names: Optional[List[str]] = None,
                output_names: Optional[List[str]] = None,
                sub_keys: Optional[List[metric_types.SubKey]] = None,
                example_weighted: bool = False,
                query_key: str = "") -> metric_types.MetricComputations:
  """The computations of a metric with one figure per model and output, `values` of the rows
  (TFMA's create_computations_fn, with `values` bound)."""
  del sub_keys  # binary labels: one figure per model and output
  return _from_rows(name, user_key, values, [None], eval_config, model_names, output_names,
                    example_weighted, query_key)


class _OneFigure(metric_types.Metric):
  """A metric with one figure per model and output: VALUES(labels, scores, users) of the
  shared rows (a module-level function, so Beam pickles it by name)."""
  DEFAULT_NAME = ""
  VALUES = None

  def __init__(self, name: str = "", user_key: str = features.USER_ID):
    super().__init__(functools.partial(_one_figure, type(self).VALUES),
                     name=name or self.DEFAULT_NAME, user_key=user_key)


def _count_values(labels, scores, users) -> List[float]:
  del scores, users
  return [float(len(labels))]


def _auc_values(labels, scores, users) -> List[float]:
  del users
  return [metrics.auc(labels, scores)]


def _log_loss_values(labels, scores, users) -> List[float]:
  del users
  return [metrics.log_loss(labels, scores, eps=EPSILON)]


def _calibration_values(labels, scores, users) -> List[float]:
  del users
  return [metrics.calibration(labels, scores)]


def _gauc_values(labels, scores, users) -> List[float]:
  return [metrics.gauc(labels, scores, users)]


class RowCount(_OneFigure):
  """The rows of the slice (TFMA's ExampleCount without example weights)."""
  DEFAULT_NAME, VALUES = gate.EXAMPLE_COUNT, staticmethod(_count_values)


class ExactAUC(_OneFigure):
  """AUC over all rows, exact: P(score of a positive > score of a negative), ties half."""
  DEFAULT_NAME, VALUES = gate.AUC, staticmethod(_auc_values)


class LogLoss(_OneFigure):
  """Mean binary cross-entropy of the scores, clipped to [EPSILON, 1 - EPSILON]."""
  DEFAULT_NAME, VALUES = gate.LOG_LOSS, staticmethod(_log_loss_values)


class MeanCalibration(_OneFigure):
  """Mean score over mean label (1 = calibrated on average); NaN without positives."""
  DEFAULT_NAME, VALUES = gate.CALIBRATION, staticmethod(_calibration_values)


class GAUC(_OneFigure):
  """AUC per user, averaged with each user's row count as its weight."""
  DEFAULT_NAME, VALUES = gate.GAUC, staticmethod(_gauc_values)


class UserNDCG(metric_types.Metric):
  """NDCG@k per user with the label as gain, averaged over users with a positive label.

  Reported as TFMA's NDCG is: name "ndcg", one key per k (sub key top_k).
  """

  def __init__(self, name: str = gate.NDCG, user_key: str = features.USER_ID,
               top_k_list: Sequence[int] = (10,)):
    super().__init__(_ndcg, name=name, user_key=user_key, top_k_list=list(top_k_list))


def _ndcg(name: str = gate.NDCG, user_key: str = features.USER_ID,
          top_k_list: Sequence[int] = (10,),
          eval_config: Optional[config_pb2.EvalConfig] = None,
          model_names: Optional[List[str]] = None,
          output_names: Optional[List[str]] = None,
          example_weighted: bool = False,
          query_key: str = "") -> metric_types.MetricComputations:
  if not top_k_list or any(int(k) < 1 for k in top_k_list):
    raise ValueError(f"{name} needs top_k_list, positive cut-offs, got {list(top_k_list)}")
  top_ks = [int(k) for k in top_k_list]
  return _from_rows(name, user_key, functools.partial(_ndcg_values, top_ks),
                    [metric_types.SubKey(top_k=k) for k in top_ks], eval_config,
                    model_names, output_names, example_weighted, query_key)


def _ndcg_values(top_ks: List[int], labels, scores, users) -> List[float]:
  return [metrics.ndcg_at_k(labels, scores, users, k) for k in top_ks]


for _metric in (RowCount, ExactAUC, LogLoss, MeanCalibration, GAUC, UserNDCG):
  metric_types.register_metric(_metric)
