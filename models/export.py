"""SavedModel exports with the Transform graph inside.

Signatures:
* `serving_default`: serialized raw `tf.Example`s (what TF Serving's Predict and
  Classify send) -> {"score": P(like), "logit"}. Parsing and the Transform graph
  run inside, so clients send raw ids and values.
* `predict_instances`: the same raw features as named dense tensors (TF
  Serving's REST `instances` form) -> {"score", "logit"}.
* `rank`: one ranking request, the user context once (as TF-Ranking's example list
  with context): `context`, one serialized tf.Example with the user's features
  (features.CONTEXT_FEATURES; the history may be shorter than history_length, or
  absent), and the candidates' item features (features.CANDIDATE_FEATURES) as lists,
  one entry per candidate -> {"score", "logit"} per candidate. The same scores as
  `serving_default` on the merged rows, without parsing the user's features once per
  candidate, with lookup tables in place of the Transform layer (`RankingPreprocessor`)
  and, for the student, the model run once on the context (`context_once`).
* `transformed_logits`: the transformed tensors -> {"logit"}, and for the teacher
  its user, item and history vectors ({"user_vector", ...}); the distillation step
  computes the teacher's logits (and hints) with it, batch by batch.

Models are saved under a temporary name and renamed into place. Artifacts are read
through `tf.io.gfile`, so sizes and bundles work on local paths and on URIs (gs://).
"""

import bisect
import contextlib
import gzip
import hashlib
import io
import json
import logging
import math
import os
import sys
import tempfile
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Union

import numpy as np
import tensorflow as tf

import tf_keras as keras

from models import features, fileio, inputs as model_inputs, teacher

SERVING_SIGNATURE = "serving_default"
TRANSFORMED_SIGNATURE = "transformed_logits"
INSTANCES_SIGNATURE = "predict_instances"
RANK_SIGNATURE = "rank"
EXAMPLES_INPUT = "examples"
CONTEXT_INPUT = "context"
WARMUP_FILE = "tf_serving_warmup_requests"


def raw_serving_feature_spec(tft_output):
  """Raw features a request carries: all but the label, the timestamp and the
  evaluation-only features (none is a model input)."""
  spec = model_inputs.training_feature_spec(tft_output)
  spec.pop(features.LABEL, None)
  return spec


def raw_instance_signature(tft_output, max_genres: int) -> Dict[str, tf.TensorSpec]:
  """Raw features as named dense tensors, for TF Serving's REST `instances` form.

  Scalars are [batch]; the history is [batch, N]; genres are [batch, max_genres]
  padded with empty strings.
  """
  specs = {}
  for name, feature in raw_serving_feature_spec(tft_output).items():
    if isinstance(feature, tf.io.VarLenFeature):
      specs[name] = tf.TensorSpec([None, max_genres], feature.dtype, name=name)
    elif list(feature.shape) == [1]:
      specs[name] = tf.TensorSpec([None], feature.dtype, name=name)
    else:
      specs[name] = tf.TensorSpec([None] + list(feature.shape), feature.dtype, name=name)
  return specs


def context_feature_spec(tft_output) -> Dict[str, tf.io.FixedLenFeature]:
  """What the `rank` signature parses from its context example: the user's raw features,
  the history as a list of any length (padded or cut to history_length in the graph)."""
  spec = raw_serving_feature_spec(tft_output)
  context = {name: spec[name] for name in features.CONTEXT_FEATURES}
  context[features.HISTORY_ITEM_IDS] = tf.io.VarLenFeature(tf.string)
  return context


def rank_input_signature(tft_output) -> Dict[str, tf.TensorSpec]:
  """The `rank` signature's inputs: the context as one serialized tf.Example, each
  candidate feature (features.CANDIDATE_FEATURES) as a list over the candidates; the
  genres as [candidates, any width], padded at the end with ""."""
  spec = raw_serving_feature_spec(tft_output)
  inputs = {CONTEXT_INPUT: tf.TensorSpec([], tf.string, name=CONTEXT_INPUT)}
  for name in features.CANDIDATE_FEATURES:
    shape = [None, None] if isinstance(spec[name], tf.io.VarLenFeature) else [None]
    inputs[name] = tf.TensorSpec(shape, spec[name].dtype, name=name)
  return inputs


def rank_request(context: Dict, candidates: List[Dict]) -> Dict[str, np.ndarray]:
  """The `rank` inputs for one user's raw features and the candidates' (raw rows as in
  `raw_example`): what a client sends."""
  genres = [list(c[features.ITEM_GENRES]) for c in candidates]
  width = max([len(g) for g in genres] + [0])
  return {CONTEXT_INPUT: np.array(raw_example(context), dtype=object),
          features.ITEM_ID: np.array([c[features.ITEM_ID] for c in candidates], dtype=object),
          features.ITEM_GENRES: np.array([g + [""] * (width - len(g)) for g in genres],
                                         dtype=object).reshape([len(candidates), width]),
          features.ITEM_YEAR: np.array([c[features.ITEM_YEAR] for c in candidates],
                                       dtype=np.int64)}


class RankingPreprocessor(tf.Module):
  """What `rank` runs in place of the Transform layer: the Transform graph's vocabularies
  as lookup tables (the same files, as assets) and its numeric mappings as step functions
  and a formula, read off the graph as for the mobile bundle (`numeric_mappings`).

  In a served request of 100 candidates the Transform layer executed ~360 graph nodes
  (a Session trace), these lookups ~110; with parsing 100 candidate tf.Examples gone
  too, that was ~0.3 ms of the old `rank`'s 1.2 ms. Tests check that `rank` answers what
  `serving_default` (which runs the Transform layer) answers on the same rows.
  """

  def __init__(self, tft_output, sizes: model_inputs.InputSizes):
    super().__init__(name="ranking_preprocessor")
    self.history_length, self.max_genres = sizes.history_length, sizes.max_genres
    self.tables, self.shifts = {}, {}
    for name, _, _, shift in _VOCABULARY_INPUTS:
      initializer = tf.lookup.TextFileInitializer(
          tf.saved_model.Asset(tft_output.vocabulary_file_by_name(name)),
          tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
          tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
      # As tft.apply_vocabulary: unknown values -> size (+ a hash bucket if several).
      self.tables[name] = (
          tf.lookup.StaticHashTable(initializer,
                                    default_value=tft_output.vocabulary_size_by_name(name))
          if sizes.num_oov_buckets == 1
          else tf.lookup.StaticVocabularyTable(initializer, sizes.num_oov_buckets))
      self.shifts[name] = shift
    self.mappings = numeric_mappings(tft_output, sizes)
    made = set(CONTEXT_INPUTS) | set(CANDIDATE_INPUTS)
    if made != set(model_inputs.MODEL_INPUTS):
      raise ValueError(f"RankingPreprocessor makes {sorted(made)}, the models take "
                       f"{sorted(model_inputs.MODEL_INPUTS)}: update it with preprocessing_fn")

  def _lookup(self, vocabulary: str, values: tf.Tensor, padding=None) -> tf.Tensor:
    ids = self.tables[vocabulary].lookup(values) + self.shifts[vocabulary]
    if padding is None:
      return ids
    return tf.where(tf.equal(values, padding), tf.zeros_like(ids), ids)

  def _step(self, name: str, values: tf.Tensor) -> tf.Tensor:
    """The bucket of the last step whose `from` is <= the value (the first below them)."""
    steps = self.mappings[name]["steps"]
    starts = tf.constant([step["from"] for step in steps], dtype=tf.int64)
    buckets = tf.constant([step["bucket"] for step in steps], dtype=tf.int64)
    index = tf.searchsorted(starts, tf.cast(values, tf.int64), side="right") - 1
    return tf.gather(buckets, tf.maximum(index, 0))

  @staticmethod
  def _fit(values: tf.Tensor, width: int, padding) -> tf.Tensor:
    """[rows, any] -> [rows, width]: cut, or padded at the end."""
    values = values[:, :width]
    return tf.pad(values, [[0, 0], [0, width - tf.shape(values)[1]]], constant_values=padding)

  def _context_inputs(self, context: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """One user's raw features ([1] each, the history [1, any]) -> model inputs [1, ...]."""
    log = self.mappings[features.PRIOR_COUNT_LOG]
    count = context[features.USER_PRIOR_COUNT]
    history = self._fit(context[features.HISTORY_ITEM_IDS], self.history_length,
                        features.HISTORY_PAD)
    return {
        features.USER_INDEX: self._lookup(features.USER_VOCABULARY, context[features.USER_ID]),
        features.HISTORY_INDEX: self._lookup(features.ITEM_VOCABULARY, history,
                                             features.HISTORY_PAD),
        features.GENDER_INDEX: self._lookup(features.GENDER_VOCABULARY,
                                            context[features.USER_GENDER]),
        features.OCCUPATION_INDEX: self._lookup(features.OCCUPATION_VOCABULARY,
                                                context[features.USER_OCCUPATION]),
        features.AGE_BUCKET: self._step(features.AGE_BUCKET, context[features.USER_AGE]),
        features.PRIOR_COUNT_BUCKET: self._step(features.PRIOR_COUNT_BUCKET, count),
        features.PRIOR_COUNT_LOG: tf.cast(
            log["intercept"] + log["slope"] * tf.math.log1p(tf.cast(count, tf.float64)),
            tf.float32),
        features.PRIOR_LIKE_RATE: tf.cast(context[features.USER_PRIOR_LIKE_RATE], tf.float32),
    }

  def __call__(self, context_example: tf.Tensor, item_id: tf.Tensor, item_genres: tf.Tensor,
               item_year: tf.Tensor, context_spec) -> Dict[str, tf.Tensor]:
    """A `rank` request -> (the context's model inputs, a batch of 1; the candidates', one
    row each)."""
    parsed = tf.io.parse_example(tf.reshape(context_example, [1]), context_spec)
    context = {name: tf.sparse.to_dense(value, default_value=features.HISTORY_PAD)
               if isinstance(value, tf.sparse.SparseTensor) else tf.reshape(value, [1])
               for name, value in parsed.items()}
    return self._context_inputs(context), self._candidate_inputs(item_id, item_genres,
                                                                 item_year)

  def _candidate_inputs(self, item_id, item_genres, item_year) -> Dict[str, tf.Tensor]:
    return {features.ITEM_INDEX: self._lookup(features.ITEM_VOCABULARY, item_id),
            features.GENRE_INDEX: self._lookup(
                features.GENRE_VOCABULARY, self._fit(item_genres, self.max_genres, ""), ""),
            features.YEAR_BUCKET: self._step(features.YEAR_BUCKET, item_year)}


def frozen_call(model, signature: Dict[str, tf.TensorSpec],
                single_row: Iterable[str] = ()) -> Callable:
  """model's inference call with its variables folded into constants: a served graph
  without three nodes (handle, read, identity) per variable, ~300 for the QAT student
  (its ranges are variables too), which cost ~0.1 ms a request (0.85 -> 0.74 ms).
  The SavedModel keeps the variables for everything else.

  single_row: inputs always given with a batch of 1 (the context): traced with that
  static shape, so the graph optimizer folds their shape arithmetic into constants.
  """
  from tensorflow.python.framework import convert_to_constants  # pylint: disable=g-import-not-at-top
  single_row = set(single_row)
  signature = {name: tf.TensorSpec([1] + list(spec.shape[1:]), spec.dtype, name=spec.name)
               if name in single_row else spec for name, spec in signature.items()}
  concrete = tf.function(lambda batch: model(batch, training=False)).get_concrete_function(
      signature)
  frozen = convert_to_constants.convert_variables_to_constants_v2(concrete)
  return lambda batch: frozen(*tf.nest.flatten(batch))[0]


def _raw_instances_to_features(instances, tft_output):
  """Dense named tensors -> what tf.io.parse_example would give for the same raw features."""
  parsed = {}
  for name, feature in raw_serving_feature_spec(tft_output).items():
    value = instances[name]
    if isinstance(feature, tf.io.VarLenFeature):
      parsed[name] = tf.sparse.from_dense(value)  # drops "" padding
    elif list(feature.shape) == [1]:
      parsed[name] = tf.reshape(value, [-1, 1])
    else:
      parsed[name] = value
  return parsed


def serving_signatures(model, tft_output, sizes: model_inputs.InputSizes,
                       cast_inputs: Optional[Callable] = None,
                       transformed_signature: Optional[Dict[str, tf.TensorSpec]] = None,
                       with_vectors: bool = False, context_once: bool = False):
  """The tf.functions to save with `model` (which gets `tft_layer` and `ranking_preprocessor`
  attributes to track).

  cast_inputs maps Transform's outputs to the model's input dtypes (the student
  takes int32 ids); transformed_signature is the spec of `transformed_logits`, which
  also returns the model's vectors (models.teacher.vector_outputs) if with_vectors.
  context_once: `rank` runs the model on the context's inputs once (a batch of 1 that
  broadcasts against the candidates': only for a model that joins user and item parts
  by adds and products, never a concatenation, as the student), with its weights frozen
  into the graph (`frozen_call`); otherwise the context is repeated on every candidate's
  row.
  """
  model.tft_layer = tft_output.transform_features_layer()
  raw_spec = raw_serving_feature_spec(tft_output)
  cast_inputs = cast_inputs or (lambda batch: batch)

  def score(parsed):
    transformed = model.tft_layer(parsed)
    batch = cast_inputs({k: transformed[k] for k in model_inputs.MODEL_INPUTS})
    logit = tf.reshape(model(batch, training=False), [-1])
    return {"score": tf.sigmoid(logit), "logit": logit}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
  def serve_examples(serialized):
    return score(tf.io.parse_example(serialized, raw_spec))

  @tf.function(input_signature=[raw_instance_signature(tft_output, sizes.max_genres)])
  def serve_instances(instances):
    return score(_raw_instances_to_features(instances, tft_output))

  context_spec = context_feature_spec(tft_output)
  model.ranking_preprocessor = RankingPreprocessor(tft_output, sizes)
  model_signature = transformed_signature or model_inputs.input_signature(sizes)
  ranking_model = (frozen_call(model, model_signature, CONTEXT_INPUTS) if context_once
                   else lambda batch: model(batch, training=False))

  @tf.function(input_signature=[rank_input_signature(tft_output)])
  def serve_rank(request):
    context, candidates = model.ranking_preprocessor(
        request[CONTEXT_INPUT], request[features.ITEM_ID], request[features.ITEM_GENRES],
        request[features.ITEM_YEAR], context_spec)
    count = tf.shape(request[features.ITEM_ID])[0]
    if not context_once:
      context = {name: tf.repeat(value, count, axis=0) for name, value in context.items()}
    inputs = {**context, **candidates}
    batch = cast_inputs({name: inputs[name] for name in model_inputs.MODEL_INPUTS})
    # With the context once, its rows (a batch of 1) broadcast against the candidates'.
    logit = tf.reshape(tf.broadcast_to(ranking_model(batch), [count, 1]), [-1])
    return {"score": tf.sigmoid(logit), "logit": logit}

  if with_vectors:
    vectors = teacher.vector_outputs(model)
    names = list(vectors)
    outputs = keras.Model(model.inputs, [model.output] + [vectors[name] for name in names])
  else:
    names, outputs = [], model

  @tf.function(input_signature=[transformed_signature or model_inputs.input_signature(sizes)])
  def transformed_logits(transformed):
    results = outputs(transformed, training=False)
    if not names:
      return {"logit": tf.reshape(results, [-1])}
    logit, *values = results
    return {"logit": tf.reshape(logit, [-1]),
            **{f"{name}_vector": value for name, value in zip(names, values)}}

  return {SERVING_SIGNATURE: serve_examples, INSTANCES_SIGNATURE: serve_instances,
          RANK_SIGNATURE: serve_rank, TRANSFORMED_SIGNATURE: transformed_logits}


def export_serving_model(model, tft_output, sizes: model_inputs.InputSizes, target_dir: str,
                         cast_inputs: Optional[Callable] = None,
                         transformed_signature: Optional[Dict[str, tf.TensorSpec]] = None,
                         warmup_examples: Optional[List[bytes]] = None,
                         with_vectors: bool = False, context_once: bool = False) -> None:
  """Saves `model` with the signatures above; optional TF Serving warmup requests."""
  signatures = serving_signatures(model, tft_output, sizes, cast_inputs, transformed_signature,
                                  with_vectors, context_once)

  def save(path):
    # Without the optimizer: TF Serving never reads Adam's slots, which are twice the
    # model's own weights, and every size figure divides by this directory.
    # Without traces: Keras would also trace every layer's call (its own revival of the
    # layers without their classes), functions no signature calls. Measured on the 1e6
    # run's models (2 cores): the student's export 14.3 -> 8.7 s, 2.41 -> 1.90 MB, its
    # tf.saved_model.load 2.4 -> 1.5 s; the teacher's 13.1 -> 8.4 s, 3.38 -> 3.01 MB, load
    # 2.1 -> 1.4 s; same signatures and scores. keras.models.load_model still rebuilds the
    # model, from its config, with models.layers imported (and, for the QAT student,
    # inside tfmot.quantization.keras.quantize_scope({"OutputQuantizeConfig":
    # models.distillation.OutputQuantizeConfig})).
    model.save(path, save_format="tf", signatures=signatures, include_optimizer=False,
               save_traces=False)
    if warmup_examples:
      write_warmup_requests(path, warmup_examples)

  fileio.write_directory(save, target_dir)


def write_warmup_requests(saved_model_dir: str, examples: List[bytes],
                          model_name: str = "distillrec", batch_size: int = 8) -> str:
  """assets.extra/tf_serving_warmup_requests: PredictionLogs TF Serving replays at load."""
  from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2  # pylint: disable=g-import-not-at-top
  folder = os.path.join(saved_model_dir, "assets.extra")
  tf.io.gfile.makedirs(folder)
  path = os.path.join(folder, WARMUP_FILE)
  with tf.io.TFRecordWriter(path) as writer:
    for start in range(0, len(examples), batch_size):
      request = predict_pb2.PredictRequest(
          model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SERVING_SIGNATURE))
      request.inputs[EXAMPLES_INPUT].CopyFrom(
          tf.make_tensor_proto(examples[start:start + batch_size], dtype=tf.string))
      log = prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(request=request))
      writer.write(log.SerializeToString())
  return path


def directory_bytes(path: str) -> int:
  return sum(tf.io.gfile.stat(f).length for f in tree_files(path))



# --- TFLite ------------------------------------------------------------------------

TFLITE_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"
VOCABULARY_DIR = "vocabularies"
SCORE_OUTPUT = "score"


@contextlib.contextmanager
def _native_stderr_to_log(what: str):
  """Moves what native code writes to file descriptor 2 meanwhile into the log.

  The TFLite converter's C++ code prints its settings and MLIR notes straight to
  stderr, past Python's logging; they go to the debug log, or to the error log
  when the block fails.
  """
  sys.stderr.flush()
  saved = os.dup(2)
  failed = False
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    except BaseException:
      failed = True
      raise
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      text = captured.read().decode(errors="replace").strip()
      if text:
        (logging.error if failed else logging.debug)("%s wrote:\n%s", what, text)


def convert_to_tflite(model, input_signature: Dict[str, tf.TensorSpec],
                      representative_batches: Callable[[], Iterable[Dict[str, tf.Tensor]]],
                      keep_tensor_names: bool = False) -> bytes:
  """Full-integer TFLite model: int8 internals, int8 float-inputs and output, int32 ids.

  representative_batches yields dicts keyed by input name (a list would be
  matched to inputs by position and silently mis-order them). Unless keep_tensor_names,
  the intermediate tensors' names are left out (`strip_tensor_names`).
  """

  @tf.function(input_signature=[input_signature])
  def serve(inputs):
    return {SCORE_OUTPUT: tf.sigmoid(tf.reshape(model(inputs, training=False), [-1]))}

  # The converter saves what it is given to a temporary SavedModel first. Given the Keras
  # model, that save traced every layer's call for Keras' own revival, ~70% of the
  # conversion; the function needs only the variables. Same bytes either way (measured
  # on the QAT student: 24.6 s -> 6.5 s, with another job on the 2 cores).
  holder = tf.Module()
  holder.model_variables = list(model.variables)
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [serve.get_concrete_function()], holder)
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  converter.representative_dataset = representative_batches
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  converter.inference_input_type = tf.int8
  converter.inference_output_type = tf.int8
  with _native_stderr_to_log("TFLite converter"):
    tflite_model = converter.convert()
  return tflite_model if keep_tensor_names else strip_tensor_names(tflite_model)


def strip_tensor_names(tflite_model: bytes) -> bytes:
  """The TFLite model without the names of its intermediate tensors.

  The converter names each tensor after the TensorFlow ops it came from (e.g.
  'student/quant_hidden_0_user_dot/MatMul;student/quant_hidden_0_user_dot/LastValueQuant/
  FakeQuantWithMinMaxVars'): 4.6 KB of a default student's 50.6 KB, read by nothing but
  debugging tools. The inputs' and outputs' names (what `MobileBundle` and `tflite_io` key
  the inputs by), the signature, the ops and the buffers stay as they are; TFLite's own
  `flatbuffer_utils.strip_strings` would drop the names of the inputs and the signature
  too. Packing the unchanged model again gives the same bytes, so nothing but the names
  moves.
  """
  # pylint: disable=g-import-not-at-top
  from tensorflow.lite.tools import flatbuffer_utils
  # pylint: enable=g-import-not-at-top
  parsed = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite_model))
  for subgraph in parsed.subgraphs:
    named = set(subgraph.inputs) | set(subgraph.outputs)
    for index, tensor in enumerate(subgraph.tensors):
      if index not in named:
        tensor.name = None
  return bytes(flatbuffer_utils.convert_object_to_bytearray(parsed))


def representative_rows(features_by_name: Dict[str, Any], count: int, seed: int,
                        table_rows: Dict[str, int], batch_size: int = 100
                        ) -> Iterator[Dict[str, np.ndarray]]:
  """Calibration batches for `convert_to_tflite`: `count` rows drawn (seeded) from the whole
  of `features_by_name` (numpy arrays or tensors), then rows that look up every row of
  every embedding table.

  The converter gives a table the range of the lookups it saw: a table row the
  calibration rows never looked up was clipped to it (an age bucket's 0.39 became 0.27,
  moving a score by 0.27). A table row is looked up with every other input as in the
  first row; a list input gets the id at its first position, padding after.

  Every batch has batch_size rows (the last of each kind filled with repeats of its last
  row): TFLite's calibrator fails on a batch smaller than the one before it.
  """
  total = len(next(iter(features_by_name.values())))
  rng = np.random.default_rng(seed)
  sample = np.sort(rng.choice(total, size=min(count, total), replace=False))
  for start in range(0, len(sample), batch_size):
    chosen = _fill(sample[start:start + batch_size], batch_size)
    yield {name: _rows(values, chosen) for name, values in features_by_name.items()}
  for name, rows in table_rows.items():
    is_list = features_by_name[name].ndim == 2
    ids = np.arange(1 if is_list else 0, rows)  # a list's 0 is padding
    for start in range(0, len(ids), batch_size):
      chunk = _fill(ids[start:start + batch_size], batch_size)
      batch = {key: np.repeat(_rows(values, [0]), batch_size, axis=0)
               for key, values in features_by_name.items()}
      looked_up = np.zeros_like(batch[name])
      if is_list:
        looked_up[:, 0] = chunk
      else:
        looked_up[:] = chunk
      batch[name] = looked_up
      yield batch


def _rows(values, rows) -> np.ndarray:
  """values[rows] of a numpy array or a tensor (which takes no index array: gathered)."""
  return values[rows] if isinstance(values, np.ndarray) else tf.gather(values, rows).numpy()


def _fill(values: np.ndarray, size: int) -> np.ndarray:
  return np.concatenate([values, np.repeat(values[-1:], size - len(values))])


def _interpreter(tflite_model: bytes, num_threads: Optional[int] = None):
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  return Interpreter(model_content=tflite_model, num_threads=num_threads)


def tflite_dtype_census(tflite_model: bytes) -> Dict[str, int]:
  """How many tensors of each dtype the TFLite model holds."""
  counts: Dict[str, int] = {}
  for detail in _interpreter(tflite_model).get_tensor_details():
    name = np.dtype(detail["dtype"]).name
    counts[name] = counts.get(name, 0) + 1
  return dict(sorted(counts.items()))


def _input_key(tensor_name: str) -> str:
  """'serving_default_user_id_xf:0' -> 'user_id_xf'."""
  return tensor_name.split(":")[0].replace("serving_default_", "", 1)


def tflite_io(tflite_model: bytes):
  """(inputs, outputs): name, dtype, shape and quantization of each I/O tensor."""
  interpreter = _interpreter(tflite_model)

  def describe(detail, key):
    scale, zero_point = detail["quantization"]
    return {"name": key, "tensor": detail["name"], "dtype": np.dtype(detail["dtype"]).name,
            "shape": [int(d) for d in detail["shape_signature"]],
            "quantization": {"scale": float(scale), "zero_point": int(zero_point)}}

  inputs = sorted((describe(d, _input_key(d["name"])) for d in interpreter.get_input_details()),
                  key=lambda d: d["name"])
  outputs = [describe(d, SCORE_OUTPUT) for d in interpreter.get_output_details()]
  return inputs, outputs


def quantize_values(values, scale: float, zero_point: int) -> np.ndarray:
  """Floats on an int8 input's grid: values / scale + zero_point, rounded half to even and
  clipped to [-128, 127] (still floats; the caller casts). The same values as np.clip of
  np.round, whose Python wrappers cost ~9 us on a one-row input against ~5 us this way:
  MobileBundle.rank on an encoded catalogue (1e5 run, one thread) took 113 us, not 126."""
  return np.minimum(np.maximum(np.rint(np.asarray(values) / scale + zero_point), -128), 127)


def quantize_scalar(value: float, scale: float, zero_point: int) -> int:
  """One float on an int8 input's grid: `quantize_values` of a float32 one-element array,
  in NumPy's float32 scalars and Python's round (half to even, as np.rint): ~1 us against
  ~5 us through arrays, what a ranking request's one-row context pays per float."""
  return min(max(round(float(np.float32(value) / np.float32(scale) + np.float32(zero_point))),
                 -128), 127)


class TfliteScorer:
  """The int8 model behind an interpreter sized for `batch_size` rows, reused call after call.

  `score(inputs)` quantizes float inputs with each input's scale and zero point,
  runs the model and dequantizes the output, as an app does. num_threads=1 is what a
  latency figure on one thread means.
  """

  def __init__(self, tflite_model: bytes, batch_size: int, num_threads: Optional[int] = None,
               single_row: Iterable[str] = ()):
    """single_row: inputs sized for one row whatever batch_size is (the context of a
    ranking request, which the model's adds and products broadcast against the rows)."""
    self.batch_size = batch_size
    self._interpreter = _interpreter(tflite_model, num_threads)
    self._inputs = self._interpreter.get_input_details()
    single_row = set(single_row)
    for detail in self._inputs:
      rows = 1 if _input_key(detail["name"]) in single_row else batch_size
      self._interpreter.resize_tensor_input(detail["index"], [rows] + list(detail["shape"][1:]))
    # Allocation applies the XNNPACK delegate, which announces itself on stderr once.
    with _native_stderr_to_log("TFLite interpreter"):
      self._interpreter.allocate_tensors()
    self._output = self._interpreter.get_output_details()[0]
    # (tensor index, input name, dtype, (scale, zero point) of an int8 input or None)
    self._quantization = [(detail["index"], _input_key(detail["name"]), detail["dtype"],
                           detail["quantization"] if detail["dtype"] == np.int8 else None)
                          for detail in self._inputs]
    # The output's 256 int8 values dequantized, indexed by the int8 value (a negative one
    # wraps to the end): the same floats as (q - zero_point) * scale, in one NumPy call.
    scale, zero_point = self._output["quantization"]
    self._dequantized = np.roll(
        (np.arange(-128, 128, dtype=np.int8).astype(np.float32) - zero_point) * scale, -128)
    # The read-only arrays (EncodedCandidates') each input was last set from: TFLite keeps a
    # model's inputs through invoke, so the same array again need not be copied in again.
    self._held: Dict[int, np.ndarray] = {}

  def quantize(self, inputs: Dict[str, np.ndarray]) -> Dict[int, np.ndarray]:
    """Model inputs (floats and indices) as the tensors the interpreter takes, by index.
    Indices already of the input's type are passed on without a copy."""
    tensors = {}
    for index, name, dtype, quantization in self._quantization:
      value = inputs[name]
      if quantization is not None:
        value = quantize_values(value, *quantization)
      tensors[index] = np.asarray(value, dtype=dtype)
    return tensors

  def invoke(self, tensors: Dict[int, np.ndarray]) -> np.ndarray:
    """Scores of quantized inputs (see `quantize`): what an app times per request.

    An input given the same read-only array as in the last call (an encoded catalogue's)
    still holds it and is not set again; a writable array is always copied in, as it may
    have changed in place.
    """
    held = self._held
    for index, value in tensors.items():
      if held.get(index) is value:
        continue
      self._interpreter.set_tensor(index, value)
      if value.flags.writeable:
        held.pop(index, None)
      else:
        held[index] = value
    self._interpreter.invoke()
    return self._dequantized[self._interpreter.get_tensor(self._output["index"])]

  def rank(self, context: Dict[str, object], candidates: Dict[str, np.ndarray]) -> np.ndarray:
    """Scores of one ranking request on an interpreter whose context inputs are one row
    (single_row): `context` maps each of those inputs to its one row's value before
    quantization (a number, or a list for the history; `MobileBundle._encode_context`),
    `candidates` the others to arrays of their dtype (EncodedCandidates.inputs). The same
    scores as `score` on the context as one-row arrays, with less NumPy per call:
    MobileBundle.rank on an encoded catalogue took 70 us a request instead of 88 (a 1e5
    run's model, 100 candidates, one thread, a tight loop; the interpreter's invoke alone
    46 us)."""
    tensors = {}
    for index, name, dtype, quantization in self._quantization:
      value = candidates.get(name)
      if value is None:
        value = context[name]
        if quantization is not None:
          value = quantize_scalar(value, *quantization)
        value = np.array([value], dtype=dtype)
      tensors[index] = value
    return self.invoke(tensors)

  def score(self, inputs: Dict[str, np.ndarray]) -> np.ndarray:
    return self.invoke(self.quantize(inputs))


def tflite_predict(tflite_model: bytes, batch: Dict[str, np.ndarray]) -> np.ndarray:
  """Scores of one batch through the int8 model: quantizes inputs, dequantizes the output."""
  size = len(next(iter(batch.values())))
  return TfliteScorer(tflite_model, size).score(batch)


def fidelity_rows(dataset: tf.data.Dataset, cast_fn, max_rows: int, seed: int):
  """(features, labels) of every row of `dataset` (through cast_fn), or of `max_rows` of them
  drawn at random, seeded, in their order, when it has more.

  Not its first `max_rows`: rows come in the order Beam wrote them, users together, so a
  prefix is a biased slice of the split. On 3e6 interactions (297,357 eval rows) the first
  100,000 scored float AUC 0.9253 where the whole split scores 0.8989, and the int8 model's
  "eval AUC" in the run summary and the mobile bundle's manifest was that slice's.
  """
  cast = dataset.map(lambda batch, label: (cast_fn(batch), tf.reshape(label, [-1])))
  try:
    features, labels = model_inputs.in_memory(cast)
  except ValueError as e:  # nothing in it
    raise ValueError("no rows to compare the int8 model with the float model on") from e
  features = {k: v.numpy() for k, v in features.items()}
  labels = labels.numpy()
  if len(labels) > max_rows:
    keep = np.sort(np.random.default_rng(seed).choice(len(labels), max_rows, replace=False))
    features = {k: v[keep] for k, v in features.items()}
    labels = labels[keep]
  return features, labels


def int8_fidelity(model, tflite_model: bytes, dataset: tf.data.Dataset, cast_fn,
                  max_rows: int, seed: int = 0) -> Dict:
  """Scores of the int8 TFLite model against the float model on the same rows
  (`fidelity_rows`)."""
  from models import metrics  # pylint: disable=g-import-not-at-top
  features, labels = fidelity_rows(dataset, cast_fn, max_rows, seed)
  float_scores = tf.sigmoid(tf.reshape(model(features, training=False), [-1])).numpy()
  int8_scores = tflite_predict(tflite_model, features)
  auc_float, auc_int8 = metrics.auc(labels, float_scores), metrics.auc(labels, int8_scores)
  return {"rows": int(len(labels)),
          "mean_abs_score_diff": float(np.mean(np.abs(int8_scores - float_scores))),
          "max_abs_score_diff": float(np.max(np.abs(int8_scores - float_scores))),
          "auc_float": auc_float, "auc_int8": auc_int8, "auc_diff": abs(auc_float - auc_int8)}


def file_sizes(paths: Iterable[str]) -> Dict[str, int]:
  """Raw and gzipped bytes of some files together (gzip shows what pruning saves)."""
  raw, zipped = 0, 0
  for path in paths:
    with tf.io.gfile.GFile(path, "rb") as f:
      data = f.read()
    raw += len(data)
    zipped += len(gzip.compress(data, compresslevel=9, mtime=0))
  return {"bytes": raw, "gzipped_bytes": zipped}


def tree_files(root: str) -> List[str]:
  return sorted(os.path.join(folder, name) for folder, _, names in tf.io.gfile.walk(root)
                for name in names)


def sha256(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


# --- Mobile bundle -------------------------------------------------------------------


def _probe(tft_output, sizes: model_inputs.InputSizes, overrides: Dict[str, np.ndarray]):
  """Runs the Transform layer on dummy raw rows with some features set; returns its outputs."""
  size = len(next(iter(overrides.values())))
  dummy = {}
  for name, spec in raw_instance_signature(tft_output, sizes.max_genres).items():
    shape = [size] + list(spec.shape[1:])
    dummy[name] = (np.full(shape, b"", dtype=object) if spec.dtype == tf.string
                   else np.zeros(shape, dtype=spec.dtype.as_numpy_dtype))
  dummy.update(overrides)
  tensors = {k: tf.constant(v) for k, v in dummy.items()}
  return tft_output.transform_features_layer()(_raw_instances_to_features(tensors, tft_output))


def _steps(values: np.ndarray, buckets: np.ndarray) -> List[Dict[str, int]]:
  """[{"from": v, "bucket": b}]: the bucket of x is that of the last step with from <= x."""
  steps = [{"from": int(values[0]), "bucket": int(buckets[0])}]
  for value, bucket in zip(values[1:], buckets[1:]):
    if bucket != steps[-1]["bucket"]:
      steps.append({"from": int(value), "bucket": int(bucket)})
  return steps


def numeric_mappings(tft_output, sizes: model_inputs.InputSizes) -> Dict[str, Dict]:
  """How an app turns raw numbers into the model's inputs, read off the Transform graph.

  Each bucketized feature is probed on every integer of a range that holds its
  boundaries (a value far above the range must fall in the range's last bucket, or
  this raises); below the range, values fall in its first step's bucket.
  """
  ages = np.arange(0, 121, dtype=np.int64)
  years = np.arange(0, 2201, dtype=np.int64)
  counts = np.arange(0, 20001, dtype=np.int64)
  beyond = np.array([10**9], dtype=np.int64)
  out_age = _probe(tft_output, sizes, {features.USER_AGE: np.concatenate([ages, beyond])})
  out_year = _probe(tft_output, sizes, {features.ITEM_YEAR: np.concatenate([years, beyond])})
  out_count = _probe(tft_output, sizes,
                     {features.USER_PRIOR_COUNT: np.concatenate([counts, beyond])})
  for name, out in ((features.AGE_BUCKET, out_age), (features.YEAR_BUCKET, out_year),
                    (features.PRIOR_COUNT_BUCKET, out_count)):
    buckets = out[name].numpy()
    if buckets[-1] != buckets[-2]:
      raise ValueError(f"{name}: the Transform graph has a bucket boundary above the "
                       f"probed range (bucket {buckets[-2]} at its top, {buckets[-1]} at "
                       f"{beyond[0]}): widen the range in numeric_mappings")
  logs = out_count[features.PRIOR_COUNT_LOG].numpy()[:-1]
  slope = float(logs[1] - logs[0]) / float(np.log1p(1.0))
  intercept = float(logs[0])
  predicted = intercept + slope * np.log1p(counts.astype(np.float64))
  if not np.allclose(predicted, logs, atol=1e-4):
    raise ValueError("user_prior_count_log_xf is not linear in log1p(count); "
                     "update numeric_mappings with preprocessing_fn")
  return {
      features.AGE_BUCKET: {"from_feature": features.USER_AGE,
                            "steps": _steps(ages, out_age[features.AGE_BUCKET].numpy())},
      features.YEAR_BUCKET: {"from_feature": features.ITEM_YEAR,
                             "steps": _steps(years, out_year[features.YEAR_BUCKET].numpy())},
      features.PRIOR_COUNT_BUCKET: {
          "from_feature": features.USER_PRIOR_COUNT,
          "steps": _steps(counts, out_count[features.PRIOR_COUNT_BUCKET].numpy())},
      features.PRIOR_COUNT_LOG: {"from_feature": features.USER_PRIOR_COUNT,
                                 "formula": "intercept + slope * log(1 + count)",
                                 "intercept": intercept, "slope": slope},
      features.PRIOR_LIKE_RATE: {"from_feature": features.USER_PRIOR_LIKE_RATE,
                                 "formula": "unchanged"},
  }


# The model inputs made from the user's features (features.CONTEXT_FEATURES): one row per
# ranking request in `rank` and MobileBundle.rank; and those made from the candidate's.
CONTEXT_INPUTS = (features.USER_INDEX, features.HISTORY_INDEX, features.GENDER_INDEX,
                  features.OCCUPATION_INDEX, features.AGE_BUCKET, features.PRIOR_COUNT_BUCKET,
                  features.PRIOR_COUNT_LOG, features.PRIOR_LIKE_RATE)
CANDIDATE_INPUTS = (features.ITEM_INDEX, features.GENRE_INDEX, features.YEAR_BUCKET)

# Which vocabulary turns which raw feature into which input, and how indices are shifted.
_VOCABULARY_INPUTS = (
    (features.USER_VOCABULARY, features.USER_ID, (features.USER_INDEX,), 0),
    (features.ITEM_VOCABULARY, features.ITEM_ID, (features.ITEM_INDEX, features.HISTORY_INDEX), 1),
    (features.GENRE_VOCABULARY, features.ITEM_GENRES, (features.GENRE_INDEX,), 1),
    (features.GENDER_VOCABULARY, features.USER_GENDER, (features.GENDER_INDEX,), 0),
    (features.OCCUPATION_VOCABULARY, features.USER_OCCUPATION, (features.OCCUPATION_INDEX,), 0),
)


def write_mobile_bundle(target_dir: str, tflite_model: bytes, tft_output,
                        sizes: model_inputs.InputSizes, metrics: Dict) -> Dict:
  """model.tflite + vocabularies/ + manifest.json, written to a temp folder and renamed."""
  inputs, outputs = tflite_io(tflite_model)
  vocabularies = {}
  for name, raw_feature, model_input_names, shift in _VOCABULARY_INPUTS:
    size = tft_output.vocabulary_size_by_name(name)
    vocabularies[name] = {
        "file": f"{VOCABULARY_DIR}/{name}.txt",
        "size": size,
        "raw_feature": raw_feature, "inputs": list(model_input_names),
        "offset": shift,
        "oov_index": size + shift,
        "index": (f"line number (0-based) + {shift}; unknown values -> {size + shift} "
                  f"(OOV bucket)" + ("; padding -> 0" if shift else "")),
    }
  manifest = {
      "model_file": TFLITE_FILE,
      "inputs": inputs,
      "outputs": outputs,
      "output_meaning": ("probability that the user likes the item: (q - zero_point) * scale "
                         "of the int8 output"),
      "input_quantization": ("int8 inputs are floats quantized as round(x / scale) + "
                             "zero_point; int32 inputs are indices"),
      "history_length": sizes.history_length,
      "max_genres": sizes.max_genres,
      "vocabularies": vocabularies,
      "numeric_features": numeric_mappings(tft_output, sizes),
      "tflite_bytes": len(tflite_model),
      "tflite_gzipped_bytes": len(gzip.compress(tflite_model, compresslevel=9, mtime=0)),
      "sha256": sha256(tflite_model),
      "metrics": metrics,
  }

  def save(path):
    tf.io.gfile.makedirs(os.path.join(path, VOCABULARY_DIR))
    with tf.io.gfile.GFile(os.path.join(path, TFLITE_FILE), "wb") as f:
      f.write(tflite_model)
    for name in vocabularies:
      tf.io.gfile.copy(tft_output.vocabulary_file_by_name(name),
                       os.path.join(path, VOCABULARY_DIR, f"{name}.txt"), overwrite=True)
    with tf.io.gfile.GFile(os.path.join(path, MANIFEST_FILE), "w") as f:
      f.write(json.dumps(manifest, indent=2, sort_keys=True))

  fileio.write_directory(save, target_dir)
  return manifest


class EncodedCandidates:
  """Candidates encoded for a MobileBundle once (`MobileBundle.encode_candidates`): their
  model inputs (CANDIDATE_INPUTS, int32 indices, one row per candidate).

  An app encodes its catalogue once and ranks any subset of it per request
  (`take(positions)`), so a request pays only for its user's features and the model.
  `bundle_sha256` names the model whose vocabularies made the indices (the manifest's
  sha256): another bundle's `rank` refuses them.
  """

  def __init__(self, inputs: Dict[str, np.ndarray], bundle_sha256: str):
    self.bundle_sha256 = bundle_sha256
    if set(inputs) != set(CANDIDATE_INPUTS):
      raise ValueError(f"EncodedCandidates needs exactly {list(CANDIDATE_INPUTS)}, "
                       f"got {sorted(inputs)}")
    rows = {len(value) for value in inputs.values()}
    if len(rows) != 1:
      raise ValueError(f"EncodedCandidates: inputs of different lengths {sorted(rows)}")
    # Copies of their own: a view of the caller's array could change under a scorer
    # that keeps it as its input (TfliteScorer.invoke).
    self.inputs = {name: np.array(value, dtype=np.int32, order="C", copy=True)
                   for name, value in inputs.items()}
    for value in self.inputs.values():
      value.flags.writeable = False

  def __len__(self) -> int:
    return len(self.inputs[features.ITEM_INDEX])

  def take(self, positions) -> "EncodedCandidates":
    """The candidates at `positions` (indices into this block), in that order."""
    positions = np.asarray(positions, dtype=np.int64)
    return EncodedCandidates({name: value[positions] for name, value in self.inputs.items()},
                             self.bundle_sha256)


class MobileBundle:
  """Reads a mobile bundle and scores raw rows the way an app would: no TensorFlow graph.

  Raw rows are dicts of raw feature values (models.features names). Ids are looked
  up in the bundled vocabularies, numbers mapped with the manifest's steps and
  formulas, and the int8 model does the rest. `rank` takes a ranking request as
  the served `rank` signature does: the user's features once, then the candidates.

  num_threads: the interpreter's threads (1 is what a one-thread latency means).
  Interpreters are kept per batch size (the last MAX_INTERPRETERS sizes), so a
  request after the first of its size costs no allocation. `rank` sizes the context's
  inputs for one row: the int8 model runs the user's side once and its adds and
  products broadcast it against the candidates (the student has no concatenation;
  a test checks `rank` against `predict` on the merged rows).
  """

  MAX_INTERPRETERS = 4

  def __init__(self, bundle_dir: str, num_threads: Optional[int] = None):
    self.bundle_dir = bundle_dir
    self.num_threads = num_threads
    self._scorers: Dict[int, TfliteScorer] = {}
    with tf.io.gfile.GFile(os.path.join(bundle_dir, MANIFEST_FILE), "rb") as f:
      self.manifest = json.loads(f.read().decode("utf-8"))
    with tf.io.gfile.GFile(os.path.join(bundle_dir, self.manifest["model_file"]), "rb") as f:
      self.tflite_model = f.read()
    self._index = {}
    for name, entry in self.manifest["vocabularies"].items():
      with tf.io.gfile.GFile(os.path.join(bundle_dir, entry["file"]), "rb") as f:
        data = f.read()
      # Split as open(..., encoding="utf-8") does (universal newlines); GFile's own text
      # mode splits on "\n" only, and str.splitlines on more characters than open.
      words = [line.rstrip("\n") for line in io.TextIOWrapper(io.BytesIO(data),
                                                             encoding="utf-8")]
      self._index[name] = ({w: i + entry["offset"] for i, w in enumerate(words)},
                           entry["oov_index"])
    # Each bucketized input's steps as (starts, buckets) arrays.
    self._steps = {name: (np.array([step["from"] for step in entry["steps"]], dtype=np.int64),
                          np.array([step["bucket"] for step in entry["steps"]], dtype=np.int32))
                   for name, entry in self.manifest["numeric_features"].items()
                   if "steps" in entry}
    self._step_lists = {name: (starts.tolist(), buckets.tolist())
                        for name, (starts, buckets) in self._steps.items()}
    # What each model input is before quantization: floats for int8 inputs, else indices.
    self._input_dtypes = {d["name"]: np.float32 if d["dtype"] == "int8" else np.int32
                          for d in self.manifest.get("inputs", ())}

  def _lookup(self, vocabulary: str, value: str) -> int:
    table, oov = self._index[vocabulary]
    return table.get(value, oov)

  def _buckets(self, name: str, values) -> np.ndarray:
    """The bucket of the last step whose `from` is <= each value (the first below them):
    what RankingPreprocessor._step does in the graph."""
    starts, buckets = self._steps[name]
    index = np.searchsorted(starts, np.asarray(values, dtype=np.int64), side="right") - 1
    return buckets[np.maximum(index, 0)]

  def _encode_context(self, row: Dict) -> Dict[str, object]:
    """The model inputs that come from the user's features (features.CONTEXT_FEATURES)."""
    numeric = self.manifest["numeric_features"]
    history_length = self.manifest["history_length"]
    history = list(row.get(features.HISTORY_ITEM_IDS, ()))[:history_length]
    history += [features.HISTORY_PAD] * (history_length - len(history))
    out = {
        features.USER_INDEX: self._lookup(features.USER_VOCABULARY, row[features.USER_ID]),
        features.HISTORY_INDEX: [
            0 if h == features.HISTORY_PAD else self._lookup(features.ITEM_VOCABULARY, h)
            for h in history],
        features.GENDER_INDEX: self._lookup(features.GENDER_VOCABULARY,
                                            row[features.USER_GENDER]),
        features.OCCUPATION_INDEX: self._lookup(features.OCCUPATION_VOCABULARY,
                                                row[features.USER_OCCUPATION]),
        features.PRIOR_LIKE_RATE: row[features.USER_PRIOR_LIKE_RATE],
    }
    for name in (features.AGE_BUCKET, features.PRIOR_COUNT_BUCKET):
      # One value: bisect on lists is _buckets' searchsorted without numpy's overhead.
      starts, buckets = self._step_lists[name]
      out[name] = buckets[max(bisect.bisect_right(starts, row[numeric[name]["from_feature"]])
                              - 1, 0)]
    log_entry = numeric[features.PRIOR_COUNT_LOG]
    out[features.PRIOR_COUNT_LOG] = (log_entry["intercept"] + log_entry["slope"]
                                     * math.log1p(row[features.USER_PRIOR_COUNT]))
    return out

  def _encode_candidate(self, row: Dict) -> Dict[str, object]:
    """The model inputs that come from the item's features (features.CANDIDATE_FEATURES)."""
    max_genres = self.manifest["max_genres"]
    genres = [self._lookup(features.GENRE_VOCABULARY, g)
              for g in row[features.ITEM_GENRES]][:max_genres]
    year = self.manifest["numeric_features"][features.YEAR_BUCKET]
    return {features.ITEM_INDEX: self._lookup(features.ITEM_VOCABULARY, row[features.ITEM_ID]),
            features.GENRE_INDEX: genres + [0] * (max_genres - len(genres)),
            features.YEAR_BUCKET: int(self._buckets(features.YEAR_BUCKET,
                                                    row[year["from_feature"]]))}

  def _as_arrays(self, columns: Dict[str, list],
                 names: Optional[Iterable[str]] = model_inputs.MODEL_INPUTS
                 ) -> Dict[str, np.ndarray]:
    """columns (all of `names`, or all given if None) as the arrays the scorer quantizes."""
    dtypes = self._input_dtypes
    return {name: np.asarray(columns[name], dtype=dtypes[name])
            for name in (columns if names is None else names)}

  def encode(self, rows: List[Dict]) -> Dict[str, np.ndarray]:
    """Model inputs (before int8 quantization) for raw rows."""
    columns: Dict[str, list] = {name: [] for name in model_inputs.MODEL_INPUTS}
    for row in rows:
      for name, value in {**self._encode_context(row), **self._encode_candidate(row)}.items():
        columns[name].append(value)
    return self._as_arrays(columns)

  def encode_candidates(self, rows: List[Dict]) -> EncodedCandidates:
    """Candidates' raw item features (features.CANDIDATE_FEATURES) encoded once, for `rank`:
    `_encode_candidate` of every row, as arrays, the numbers mapped all at once."""
    items, oov = self._index[features.ITEM_VOCABULARY]
    genre_table, genre_oov = self._index[features.GENRE_VOCABULARY]
    max_genres = self.manifest["max_genres"]
    genres = np.zeros([len(rows), max_genres], dtype=np.int32)
    for index, row in enumerate(rows):
      ids = [genre_table.get(g, genre_oov) for g in row[features.ITEM_GENRES][:max_genres]]
      genres[index, :len(ids)] = ids
    years = [row[features.ITEM_YEAR] for row in rows]
    return EncodedCandidates({
        features.ITEM_INDEX: np.array([items.get(row[features.ITEM_ID], oov)
                                       for row in rows], dtype=np.int32),
        features.GENRE_INDEX: genres,
        features.YEAR_BUCKET: self._buckets(features.YEAR_BUCKET, years)},
        self.manifest["sha256"])

  def encode_ranking(self, context: Dict, candidates: Union[List[Dict], EncodedCandidates]
                     ) -> Dict[str, np.ndarray]:
    """Model inputs for one user's candidates: the context's encoded once, as one row
    (CONTEXT_INPUTS), the candidates' one row each (raw rows, or encode_candidates')."""
    if not len(candidates):  # pylint: disable=g-explicit-length-test
      raise ValueError("encode_ranking needs at least one candidate")
    columns = {name: [value] for name, value in self._encode_context(context).items()}
    return {**self._as_arrays(columns, CONTEXT_INPUTS), **self._candidates(candidates).inputs}

  def _candidates(self, candidates: Union[List[Dict], EncodedCandidates]) -> EncodedCandidates:
    """Raw candidate rows encoded, or encoded ones checked to come from this bundle."""
    if not isinstance(candidates, EncodedCandidates):
      return self.encode_candidates(candidates)
    if candidates.bundle_sha256 != self.manifest["sha256"]:
      raise ValueError(f"these candidates were encoded for the bundle of model sha256 "
                       f"{candidates.bundle_sha256}, not this one ({self.manifest['sha256']} "
                       f"in {self.bundle_dir}): encode them again with this bundle")
    return candidates

  def _scorer(self, batch_size: int, context_once: bool = False) -> TfliteScorer:
    """An interpreter sized for batch_size rows (the context's inputs for one row if
    context_once), kept for the next call of that size."""
    key = (batch_size, context_once)
    if key not in self._scorers:
      if len(self._scorers) >= self.MAX_INTERPRETERS:
        self._scorers.pop(next(iter(self._scorers)))  # the oldest size
      self._scorers[key] = TfliteScorer(self.tflite_model, batch_size, self.num_threads,
                                        single_row=CONTEXT_INPUTS if context_once else ())
    return self._scorers[key]

  def predict(self, rows: List[Dict]) -> np.ndarray:
    """Scores of raw rows (each carries the user's and the item's features)."""
    return self._scorer(len(rows)).score(self.encode(rows))

  def rank(self, context: Dict, candidates: Union[List[Dict], EncodedCandidates]
           ) -> np.ndarray:
    """Scores of one user's candidates: `context` has the user's raw features
    (features.CONTEXT_FEATURES; a history of any length, or none), each candidate its
    item's (features.CANDIDATE_FEATURES), or `encode_candidates` made them beforehand
    (an app's catalogue, encoded once). The same scores as `predict` on the merged rows."""
    if not len(candidates):  # pylint: disable=g-explicit-length-test
      return np.zeros([0], dtype=np.float32)
    return self._scorer(len(candidates), context_once=True).rank(
        self._encode_context(context), self._candidates(candidates).inputs)


def raw_example(row: Dict) -> bytes:
  """A raw row (or a part of one: a ranking context, a candidate) as the serialized
  tf.Example the signatures parse, with ExampleGen's types; parse_raw_rows inverts it."""
  feature = {}
  for name, value in row.items():
    values = list(value) if name in features.STRING_LIST_FEATURES else [value]
    if name in features.INT_SCALAR_FEATURES:
      feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    elif name in features.FLOAT_SCALAR_FEATURES:
      feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    else:
      feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[v.encode("utf-8") for v in values]))
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_raw_rows(records: Iterable[bytes]) -> List[Dict]:
  """Serialized raw tf.Examples as the rows MobileBundle.encode takes (decoded strings).

  List features (history, genres) stay lists; every other feature is its one value.
  """
  rows = []
  from_string = tf.train.Example.FromString
  for record in records:
    row = {}
    for key, value in from_string(record).features.feature.items():
      kind = value.WhichOneof("kind")
      if kind == "bytes_list":
        values = [v.decode("utf-8") for v in value.bytes_list.value]
      elif kind == "int64_list":
        values = list(value.int64_list.value)
      else:
        values = list(value.float_list.value)
      row[key] = values if key in features.STRING_LIST_FEATURES else values[0]
    rows.append(row)
  return rows
