"""The gate: thresholds a model must pass on the test split before it is pushed.

`GateConfig` is the `gate` section of PipelineConfig. The same thresholds judge the
student SavedModel (TFX's Evaluator, through `tfma_eval_config`, with the teacher as
baseline) and the int8 student (models.int8_evaluation, the same metrics on the
same rows through the mobile bundle, plus fidelity, size and latency budgets).
Thresholds are product decisions: defaults are deliberate, not tuned to pass.
"""

import dataclasses
from typing import Dict, List

from models import features
from models.dataclass_json import Section, Summary, knob

# Model names inside the Evaluator's EvalConfig.
CANDIDATE = "candidate"
BASELINE = "baseline"
# Metric names as TFMA reports them (and as the int8 evaluation reports its own).
AUC = "auc"
GAUC = "gauc"
NDCG = "ndcg"
LOG_LOSS = "binary_crossentropy"
CALIBRATION = "calibration"
EXAMPLE_COUNT = "example_count"
# Slices: the whole test split, then by the evaluation-only features InteractionsExampleGen
# writes (user / item seen in train, the user's activity before the event).
SLICE_FEATURES = (features.USER_IN_TRAIN, features.ITEM_IN_TRAIN, features.USER_ACTIVITY)


@dataclasses.dataclass
class GateConfig(Section):
  """Thresholds on the test split; a model that misses one is not pushed."""
  # Value threshold: test AUC of the student (and of the int8 student) at least this.
  # A broken or collapsed model scores about 0.5.
  auc_floor: float = 0.6
  # Change thresholds against the teacher on the same rows: AUC and GAUC may drop at
  # most this much (absolute).
  max_auc_drop: float = 0.01
  max_gauc_drop: float = 0.01
  # int8 TFLite vs the float student on the same rows: |AUC difference| at most this.
  max_int8_auc_diff: float = 0.002
  # Bytes of model.tflite over bytes of the teacher's SavedModel variables (its weights:
  # the export leaves the optimizer out). The embedding tables dominate both models, so
  # the ratio tends to 4 x 64 / 24 = 10.7x (float rows of 64 against int8 rows of 24);
  # measured 17.9x at 1e5 and 14.2x at 1e6 interactions. 8x passes that at any data
  # size and fails a student left in float (2.7x) or int8 tables over ~32 wide. (DESIGN's
  # 30x is a `make bench` target, missed: see benchmarks/results.md.)
  max_tflite_size_ratio: float = 1 / 8
  # p50 of scoring `latency_candidates` candidates of one user through the int8 model,
  # one thread (ai_edge_litert), in milliseconds; `latency_requests` requests timed.
  max_int8_latency_ms: float = 2.0
  latency_candidates: int = 100
  latency_requests: int = 300
  # NDCG@k per user (k is reported, not judged).
  ndcg_k: int = 10

  def validate(self, where: str) -> None:
    if not 0 <= self.auc_floor <= 1:
      raise ValueError(f"{knob(where, 'auc_floor')} must be in [0, 1], got {self.auc_floor}")
    for name in ("max_auc_drop", "max_gauc_drop", "max_int8_auc_diff", "max_tflite_size_ratio",
                 "max_int8_latency_ms"):
      if getattr(self, name) < 0:
        raise ValueError(f"{knob(where, name)} must be >= 0, got {getattr(self, name)}")
    for name in ("latency_candidates", "latency_requests", "ndcg_k"):
      if getattr(self, name) < 1:
        raise ValueError(f"{knob(where, name)} must be >= 1, got {getattr(self, name)}")


@dataclasses.dataclass
class ThresholdCheck(Summary):
  """One threshold as judged: `metric value` against `limit` (value <= limit or >= limit)."""
  model: str
  metric: str
  value: float
  limit: float
  passed: bool
  # "at least" or "at most": how value must stand to limit.
  kind: str

  def line(self) -> str:
    """`not blessed: <model>: <metric> <value> vs limit <limit>` style, pass or fail."""
    return (f"{self.model}: {self.metric} {self.value:.4f} vs limit {self.limit:.4f} "
            f"({self.kind})")


def check_at_least(model: str, metric: str, value: float, limit: float) -> ThresholdCheck:
  return ThresholdCheck(model, metric, float(value), float(limit),
                        bool(value == value and value >= limit), "at least")


def check_at_most(model: str, metric: str, value: float, limit: float) -> ThresholdCheck:
  return ThresholdCheck(model, metric, float(value), float(limit),
                        bool(value == value and value <= limit), "at most")


def tfma_eval_config(gate: GateConfig):
  """The Evaluator's EvalConfig: the student (candidate) against the teacher (baseline).

  Both are scored by `serving_default` on the raw test tf.Examples (output "score").
  Metrics per slice: example count, exact AUC, log loss, calibration, and per user (feature
  user_id) NDCG@k with the label as gain and GAUC (all from models.tfma_metrics, which
  group the rows by user themselves rather than through a query_key). AUC has the value
  floor and the change threshold, GAUC the change threshold; TFMA checks them on the
  overall slice only and writes the blessing.
  """
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  higher = tfma.MetricDirection.HIGHER_IS_BETTER

  def change(max_drop):
    return tfma.GenericChangeThreshold(direction=higher, absolute={"value": -max_drop})

  def overall_only(threshold):
    # A MetricConfig's `threshold` applies to every slice; the gate judges the whole
    # test split (slices are reported, not judged: some have a few hundred rows).
    return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()],
                                         threshold=threshold)]

  # tf_generic: TFMA loads each SavedModel with tf.saved_model.load and calls the signature,
  # as TF Serving would. Without a type it tries tf.keras.models.load_model on each path to
  # find out, and then revives both models as Keras in every worker (TFMA alone on the 1e5
  # run's test split: 20.5 s that way, 18.6 s this way; same figures to 3e-7).
  model_specs = [
      tfma.ModelSpec(name=name, signature_name="serving_default", prediction_key="score",
                     label_key=features.LABEL, is_baseline=name == BASELINE,
                     model_type=tfma.TF_GENERIC)
      for name in (CANDIDATE, BASELINE)]
  # Every metric is ours (models.tfma_metrics): one computation per model keeps the rows'
  # (user, label, score) and each figure is computed from those, rather than TFMA handing
  # every example of every slice to one Python combiner per metric and model (on the 1e6
  # run's test split its AUC, Calibration and our log loss alone took ~440 of 776 profiled
  # seconds). The same user_key makes them share that computation.
  user = f'{{"user_key": "{features.USER_ID}"}}'
  user_and_k = f'{{"user_key": "{features.USER_ID}", "top_k_list": [{gate.ndcg_k}]}}'

  def ours(class_name, config=user, threshold=None):
    return tfma.MetricConfig(
        class_name=class_name, module="models.tfma_metrics", config=config,
        per_slice_thresholds=overall_only(threshold) if threshold else [])

  spec = tfma.MetricsSpec(metrics=[
      # TFMA's ExampleCount was one more combiner fed every example of every slice (~12 of
      # the 1e6 Evaluator's 217 profiled seconds); the rows already hold the count.
      ours("RowCount"),
      # Exact (ties count half), as the Int8Evaluator's: not TFMA's 10,000-bucket AUC.
      ours("ExactAUC", threshold=tfma.MetricThreshold(
          value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gate.auc_floor}),
          change_threshold=change(gate.max_auc_drop))),
      # Clipped, as the Keras metric computes it (TFMA's turns NaN on a score of 1.0).
      ours("LogLoss"),
      ours("MeanCalibration"),
      # Per user, without a query_key spec: TFMA would group whole extracts by user.
      ours("UserNDCG", config=user_and_k),
      ours("GAUC", threshold=tfma.MetricThreshold(
          change_threshold=change(gate.max_gauc_drop))),
  ])
  slicing = [tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[name])
                                    for name in SLICE_FEATURES]
  # Not the models' compiled Keras metrics and loss as well (TFMA's default for Keras
  # SavedModels): the same Keras path again, for figures the gate does not read.
  # Measured on the 1e6 run's test split (98,783 rows, two models, 2 workers), TFMA alone:
  # 227 s with them, 192 s without.
  options = tfma.Options(include_default_metrics={"value": False})
  return tfma.EvalConfig(model_specs=model_specs, metrics_specs=[spec],
                         slicing_specs=slicing, options=options)


def failed(checks: List[ThresholdCheck]) -> List[ThresholdCheck]:
  return [c for c in checks if not c.passed]


# --- Reading the Evaluator's results ----------------------------------------------------

# TFMA's model names in our EvalConfig -> the names the report uses.
TFMA_MODELS = {CANDIDATE: "student", BASELINE: "teacher"}


def _slice_name(slice_key) -> str:
  """'overall' or '<feature>:<value>' (as models.int8_evaluation names slices)."""
  parts = []
  for single in slice_key.single_slice_keys:
    kind = single.WhichOneof("kind")
    value = getattr(single, kind)
    parts.append(f"{single.column}:{value.decode() if isinstance(value, bytes) else value}")
  return ", ".join(parts) or "overall"


def _metric_name(key) -> str:
  name = key.name
  if key.HasField("sub_key") and key.sub_key.HasField("top_k"):
    name = f"{name}@{key.sub_key.top_k.value}"
  return name


def read_tfma_metrics(evaluation_uri: str) -> Dict[str, Dict[str, Dict[str, float]]]:
  """{slice: {"student" | "teacher" | "student - teacher": {metric: value}}} of an Evaluator run.

  Metric names as TFMA reports them (auc, gauc, ndcg@10, binary_crossentropy, ...).
  """
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  result: Dict[str, Dict[str, Dict[str, float]]] = {}
  for metrics_for_slice in tfma.load_metrics(evaluation_uri):
    by_model = result.setdefault(_slice_name(metrics_for_slice.slice_key), {})
    for entry in metrics_for_slice.metric_keys_and_values:
      if not entry.value.HasField("double_value"):
        continue
      model = TFMA_MODELS.get(entry.key.model_name, entry.key.model_name)
      if entry.key.is_diff:
        model = "student - teacher"
      by_model.setdefault(model, {})[_metric_name(entry.key)] = entry.value.double_value.value
  return result


def tfma_checks(evaluation_uri: str, gate: GateConfig,
                tfma_metrics: Dict[str, Dict[str, Dict[str, float]]]) -> List[ThresholdCheck]:
  """The student's thresholds as the Evaluator judged them, failures as TFMA found them.

  tfma_metrics: read_tfma_metrics(evaluation_uri), read once by the caller.
  """
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  overall = tfma_metrics.get("overall", {})
  student, diff = overall.get("student", {}), overall.get("student - teacher", {})
  nan = float("nan")
  checks = [
      check_at_least("student", AUC, student.get(AUC, nan), gate.auc_floor),
      check_at_least("student", "auc - teacher auc", diff.get(AUC, nan), -gate.max_auc_drop),
      check_at_least("student", "gauc - teacher gauc", diff.get(GAUC, nan),
                     -gate.max_gauc_drop),
  ]
  # TFMA's own verdict wins where it differs (it checks with its own comparisons).
  validation = tfma.load_validation_result(evaluation_uri)
  failed_keys = {(f.metric_key.name, f.metric_key.is_diff)
                 for per_slice in validation.metric_validations_per_slice
                 if not per_slice.slice_key.single_slice_keys  # the overall slice
                 for f in per_slice.failures}
  keys = [(AUC, False), (AUC, True), (GAUC, True)]
  for check, key in zip(checks, keys):
    check.passed = key not in failed_keys and check.value == check.value
  return checks
