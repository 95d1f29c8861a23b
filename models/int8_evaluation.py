"""The int8 student's gate: the test split scored through the mobile bundle, as an app would.

TFMA's TFLite path feeds each feature's dtype unchanged (int64 ids into int32 inputs),
fills a missing input with -1 and truncates when it quantizes, so the int8 model is
judged here instead: raw test tf.Examples -> the bundle's vocabularies and manifest ->
the int8 model. The float student and the teacher score the same rows through their
`serving_default`, so every comparison is on identical rows with one metric code
(models.metrics): AUC, GAUC, NDCG@k, log loss, calibration, overall and per slice.
Thresholds (models.gate): the AUC floor, AUC and GAUC drop against the teacher,
|int8 - float AUC|, the size of model.tflite against the teacher's variables and the
p50 latency of one 100-candidate request on one thread.
"""

import dataclasses
import logging
import os
import time
from typing import Dict, List, Optional

import numpy as np

from models import features, metrics
from models.dataclass_json import Summary
from models.gate import (SLICE_FEATURES, GateConfig, ThresholdCheck, check_at_least,
                         check_at_most)

TEACHER, STUDENT, INT8 = "teacher", "student", "int8"
OVERALL = "overall"


@dataclasses.dataclass
class ModelMetrics(Summary):
  rows: int
  auc: float
  gauc: float
  ndcg: float  # NDCG@k per user, k = GateConfig.ndcg_k
  log_loss: float
  calibration: float  # mean prediction / mean label


@dataclasses.dataclass
class SliceMetrics(Summary):
  """One slice ("overall" or "<feature>:<value>") and each model's figures on it."""
  name: str
  models: Dict[str, ModelMetrics]


@dataclasses.dataclass
class Latency(Summary):
  """Scoring one request of `candidates` rows of one user through the int8 model."""
  candidates: int
  requests: int
  threads: int
  p50_ms: float
  p99_ms: float


@dataclasses.dataclass
class Int8Evaluation(Summary):
  """What the int8 gate measured and decided; `int8_evaluation.json` in its artifacts."""
  split: str
  rows: int
  ndcg_k: int
  slices: List[SliceMetrics]  # overall first
  mean_abs_score_diff: float  # int8 vs float student on the same rows
  max_abs_score_diff: float
  tflite_bytes: int
  teacher_variables_bytes: int
  latency: Latency
  checks: List[ThresholdCheck]
  blessed: bool

  FILE_NAME = "int8_evaluation.json"

  def overall(self, model: str) -> ModelMetrics:
    return self.slices[0].models[model]


def model_metrics(labels, scores, users, ndcg_k: int) -> ModelMetrics:
  """The gate's metrics of one model's scores (probabilities) on some rows."""
  return ModelMetrics(
      rows=int(len(labels)), auc=metrics.auc(labels, scores),
      gauc=metrics.gauc(labels, scores, users),
      ndcg=metrics.ndcg_at_k(labels, scores, users, ndcg_k),
      log_loss=metrics.log_loss(labels, scores),
      calibration=metrics.calibration(labels, scores))


def sliced_metrics(rows: List[Dict], scores: Dict[str, np.ndarray],
                   ndcg_k: int) -> List[SliceMetrics]:
  """Each model's metrics overall and per value of every slice feature."""
  labels = np.asarray([row[features.LABEL] for row in rows], dtype=np.float64)
  users = np.asarray([row[features.USER_ID] for row in rows])
  everything = np.ones(len(rows), dtype=bool)
  masks = [(OVERALL, everything)]
  for feature in SLICE_FEATURES:
    values = np.asarray([row[feature] for row in rows])
    for value in sorted(set(values.tolist())):
      masks.append((f"{feature}:{value}", values == value))
  return [SliceMetrics(name, {model: model_metrics(labels[mask], model_scores[mask],
                                                   users[mask], ndcg_k)
                              for model, model_scores in scores.items()})
          for name, mask in masks]


def new_session(graph, threads: Optional[int] = None):
  """A Session on `graph` with `threads` intra- and inter-op threads (None: TensorFlow's
  default): how `SessionSignature` runs a SavedModel (and the latency benchmark's floor
  runs its empty graph)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  config = (tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                     inter_op_parallelism_threads=threads)
            if threads else None)
  return tf.compat.v1.Session(graph=graph, config=config)


class SessionSignature:
  """One SignatureDef of a SavedModel in its own Session, run as TF Serving runs it.
  `tf.saved_model.load` would first rebuild every function the Keras models saved (~700
  for the two): loading and scoring the 1e5 run's test split took 6.2 s (student) and 3.4
  s (teacher) that way, 3.4 and 2.1 s this way, the scores equal within 1.2e-7.

  threads: the Session's intra- and inter-op threads (None: TensorFlow's default).
  Calling it with the signature's inputs by name returns its "score" output.
  """

  def __init__(self, saved_model_dir: str, signature: str, threads: Optional[int] = None):
    # pylint: disable=g-import-not-at-top
    import tensorflow as tf
    from tensorflow.python.saved_model import loader_impl
    from models import export
    # pylint: enable=g-import-not-at-top
    self._session = new_session(tf.Graph(), threads)
    # The loader behind the deprecated tf.compat.v1.saved_model.load, without its warning.
    meta_graph = loader_impl.SavedModelLoader(saved_model_dir).load(
        self._session, [tf.saved_model.SERVING])
    definition = meta_graph.signature_def[signature]
    self._inputs = {name: info.name for name, info in definition.inputs.items()}
    self._output = definition.outputs[export.SCORE_OUTPUT].name

  def __call__(self, **inputs):
    return self._session.run(self._output, {self._inputs[k]: v for k, v in inputs.items()})

  def close(self) -> None:
    self._session.close()


def score_saved_model(serving_dir: str, records: List[bytes], batch_size: int = 2048):
  """P(like) of raw serialized tf.Examples through a SavedModel's `serving_default`
  (`SessionSignature`)."""
  from models import export  # pylint: disable=g-import-not-at-top
  signature = SessionSignature(serving_dir, export.SERVING_SIGNATURE)
  try:
    scores = [signature(**{export.EXAMPLES_INPUT: records[start:start + batch_size]})
              for start in range(0, len(records), batch_size)]
  finally:
    signature.close()
  return np.concatenate(scores).reshape(-1) if scores else np.zeros(0, np.float32)


def measure_latency(bundle, rows: List[Dict], candidates: int, requests: int) -> Latency:
  """p50/p99 of one request: `candidates` items for one user, int8 model, one thread.

  The request is the first row's user context (history, attributes) with the items of
  the first `candidates` rows (repeated if there are fewer), encoded once, as an app
  that keeps its candidate features ready; each timed call sets the inputs, invokes
  and reads the scores.
  """
  from models import export  # pylint: disable=g-import-not-at-top
  context = rows[0]
  request = []
  for index in range(candidates):
    candidate = rows[index % len(rows)]
    row = dict(context)
    for name in (features.ITEM_ID, features.ITEM_GENRES, features.ITEM_YEAR):
      row[name] = candidate[name]
    request.append(row)
  scorer = export.TfliteScorer(bundle.tflite_model, candidates, num_threads=1)
  tensors = scorer.quantize(bundle.encode(request))
  for _ in range(20):  # warm up caches and the delegate
    scorer.invoke(tensors)
  timings = []
  for _ in range(requests):
    started = time.perf_counter()
    scorer.invoke(tensors)
    timings.append(time.perf_counter() - started)
  timings_ms = 1000 * np.asarray(timings)
  return Latency(candidates=candidates, requests=requests, threads=1,
                 p50_ms=float(np.percentile(timings_ms, 50)),
                 p99_ms=float(np.percentile(timings_ms, 99)))


def judge(evaluation_slices: List[SliceMetrics], size_ratio: float, latency: Latency,
          gate: GateConfig) -> List[ThresholdCheck]:
  """The int8 model's thresholds, on the overall slice."""
  overall = evaluation_slices[0].models
  int8, student, teacher = overall[INT8], overall[STUDENT], overall[TEACHER]
  return [
      check_at_least(INT8, "auc", int8.auc, gate.auc_floor),
      check_at_least(INT8, "auc - teacher auc", int8.auc - teacher.auc, -gate.max_auc_drop),
      check_at_least(INT8, "gauc - teacher gauc", int8.gauc - teacher.gauc,
                     -gate.max_gauc_drop),
      check_at_most(INT8, "|auc - float student auc|", abs(int8.auc - student.auc),
                    gate.max_int8_auc_diff),
      check_at_most(INT8, "tflite bytes / teacher variables bytes", size_ratio,
                    gate.max_tflite_size_ratio),
      check_at_most(INT8, f"p50 ms, {latency.candidates} candidates, 1 thread",
                    latency.p50_ms, gate.max_int8_latency_ms),
  ]


def run(raw_examples_uri: str, mobile_dir: str, student_serving_dir: str,
        teacher_serving_dir: str, gate: GateConfig, split: str = "test") -> Int8Evaluation:
  """Scores `split` with the three models, measures the int8 model, judges it."""
  from models import export, inputs  # pylint: disable=g-import-not-at-top
  files = inputs.split_files(raw_examples_uri, split)
  records = inputs.read_records(files)
  if not records:
    raise ValueError(f"{raw_examples_uri}: split {split!r} has no examples to evaluate on")
  rows = export.parse_raw_rows(records)
  logging.info("Int8Evaluator: scoring %d %s rows with the int8 bundle, the student and the "
               "teacher", len(rows), split)
  bundle = export.MobileBundle(mobile_dir)
  scores = {INT8: bundle.predict(rows),
            STUDENT: score_saved_model(student_serving_dir, records),
            TEACHER: score_saved_model(teacher_serving_dir, records)}
  slices = sliced_metrics(rows, scores, gate.ndcg_k)
  difference = np.abs(scores[INT8] - scores[STUDENT])
  tflite_bytes = len(bundle.tflite_model)
  teacher_bytes = export.directory_bytes(os.path.join(teacher_serving_dir, "variables"))
  latency = measure_latency(bundle, rows, gate.latency_candidates, gate.latency_requests)
  checks = judge(slices, tflite_bytes / teacher_bytes, latency, gate)
  for check in checks:
    logging.info("Int8Evaluator: %s %s", "pass" if check.passed else "FAIL", check.line())
  return Int8Evaluation(
      split=split, rows=len(rows), ndcg_k=gate.ndcg_k, slices=slices,
      mean_abs_score_diff=float(difference.mean()), max_abs_score_diff=float(difference.max()),
      tflite_bytes=tflite_bytes, teacher_variables_bytes=teacher_bytes, latency=latency,
      checks=checks, blessed=all(check.passed for check in checks))
