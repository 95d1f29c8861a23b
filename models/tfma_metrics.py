"""GAUC, a TFMA metric TFMA lacks: AUC within each query (user), weighted by its rows.

Overall AUC rewards ranking users against each other; a recommender ranks items for
one user, which is what GAUC measures. Users whose rows all carry one label have no
AUC and are left out (as are their rows from the weights).

Used through the EvalConfig as
  tfma.MetricConfig(class_name="GAUC", module="models.tfma_metrics")
in a MetricsSpec with `query_key` set (TFMA then hands the combiner one element per
query, as for its own NDCG). The same figure in numpy is `models.metrics.gauc`.
"""

from typing import Dict, Iterable, List, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

from models import metrics

GAUC_NAME = "gauc"


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
  computations = []
  for model_name in model_names or [""]:
    for output_name in output_names or [""]:
      key = metric_types.MetricKey(name, model_name=model_name, output_name=output_name,
                                   example_weighted=example_weighted)
      computations.append(metric_types.MetricComputation(
          keys=[key],
          preprocessors=[metric_types.CombinedFeaturePreprocessor(feature_keys=[query_key])],
          combiner=_GAUCCombiner(key, eval_config, model_name, output_name,
                                 example_weighted)))
  return computations


class _GAUCCombiner(beam.CombineFn):
  """Accumulates (sum of rows x AUC, sum of rows) over queries with both labels."""

  def __init__(self, key: metric_types.MetricKey, eval_config, model_name: str,
               output_name: str, example_weighted: bool):
    self._key = key
    self._eval_config = eval_config
    self._model_name = model_name
    self._output_name = output_name
    self._example_weighted = example_weighted

  def create_accumulator(self):
    return [0.0, 0.0]

  def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
    labels, predictions, _ = next(metric_util.to_label_prediction_example_weight(
        element, eval_config=self._eval_config, model_name=self._model_name,
        output_name=self._output_name, example_weighted=self._example_weighted,
        flatten=False, require_single_example_weight=True))
    labels = np.asarray(labels, dtype=np.float64).ravel()
    predictions = np.asarray(predictions, dtype=np.float64).ravel()
    auc = metrics.auc(labels, predictions)
    if auc == auc:  # NaN when the query has one class only
      accumulator[0] += len(labels) * auc
      accumulator[1] += len(labels)
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[List[float]]):
    total = [0.0, 0.0]
    for weighted, rows in accumulators:
      total[0] += weighted
      total[1] += rows
    return total

  def extract_output(self, accumulator) -> Dict[metric_types.MetricKey, float]:
    weighted, rows = accumulator
    return {self._key: weighted / rows if rows else float("nan")}
