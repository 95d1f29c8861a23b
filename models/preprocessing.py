"""Transform `preprocessing_fn`: the only place raw ids and values become model inputs.

Vocabularies (user, item shared with the history, genres, occupation, gender)
are computed on the train split with a frequency threshold and OOV buckets;
release year and the count of earlier events are bucketized on exact train
quantiles (`exact_quantile_boundaries`); the label passes through. The serving
models later embed this graph (`transform_features_layer`), so training and
serving cannot drift apart.

Knobs come from `models.hparams.TransformConfig` through Transform's
`custom_config` (`TransformConfig.custom_config()`).
"""

import collections
from typing import Any, Dict, Mapping, Optional

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from models import features
from models.hparams import TransformConfig


def _dense(tensor, default_value) -> tf.Tensor:
  """A [batch, 1] dense or sparse scalar feature as a [batch] tensor."""
  if isinstance(tensor, tf.sparse.SparseTensor):
    tensor = tf.sparse.to_dense(tensor, default_value=default_value)
  return tf.reshape(tensor, [-1])


def _shifted_ids(values, vocabulary, num_oov_buckets: int) -> tf.Tensor:
  """Vocabulary ids shifted by one so that 0 can mean padding."""
  return tft.apply_vocabulary(values, vocabulary, num_oov_buckets=num_oov_buckets) + 1


def quantile_boundaries(counts: Mapping[int, int], num_buckets: int) -> np.ndarray:
  """`apply_buckets` boundaries ([1, num_buckets - 1] int64) that cut integer values,
  given as a count per distinct value, into `num_buckets` buckets at their exact
  quantiles.

  Bucket b (0-based) holds the values in (q_b, q_b+1], where q_j is the smallest value
  with at least j / num_buckets of the values at or below it (q_0 = -inf, q_num_buckets
  = +inf); for integers, `apply_buckets`'s boundary is q_j + 1. A value that fills
  several quantiles (many users with no earlier events) repeats a boundary, and the
  buckets between them stay empty, so that value does not share a bucket with the
  values above it. With no values every boundary is 1.
  """
  if num_buckets < 1:
    raise ValueError(f"num_buckets must be at least 1, got {num_buckets}")
  keys = np.array(sorted(counts), dtype=np.int64)
  if not len(keys):
    return np.ones([1, num_buckets - 1], dtype=np.int64)
  cumulative = np.cumsum([counts[key] for key in keys.tolist()], dtype=np.int64)
  # q_j: the first key whose cumulative count reaches j * total / num_buckets (in
  # integers: cumulative * num_buckets >= j * total).
  targets = np.arange(1, num_buckets, dtype=np.int64) * cumulative[-1]
  index = np.searchsorted(cumulative * num_buckets, targets, side="left")
  return (keys[index] + 1).reshape([1, num_buckets - 1])


class _CountPerValue(beam.CombineFn):
  """A count per distinct integer value, over batches (1-tuples of a value ndarray)."""

  def create_accumulator(self) -> collections.Counter:
    return collections.Counter()

  def add_input(self, counts: collections.Counter, batch) -> collections.Counter:
    values, tallies = np.unique(batch[0], return_counts=True)
    counts.update(dict(zip(values.tolist(), tallies.tolist())))
    return counts

  def merge_accumulators(self, accumulators) -> collections.Counter:
    accumulators = iter(accumulators)
    merged = next(accumulators)
    for counts in accumulators:
      merged.update(counts)
    return merged

  def extract_output(self, counts: collections.Counter) -> collections.Counter:
    return counts


class _ExactQuantileBoundaries(beam.PTransform):
  """The analyzer of `exact_quantile_boundaries`: each batch's values counted per distinct
  value and the counts merged (`_CountPerValue`), then the boundaries computed once
  (`quantile_boundaries`)."""

  def __init__(self, num_buckets: int):
    super().__init__()
    self._num_buckets = num_buckets

  def expand(self, batches):
    return (batches
            | "CountPerValue" >> beam.CombineGlobally(_CountPerValue())
            | "Boundaries" >> beam.Map(quantile_boundaries, self._num_buckets))


def exact_quantile_boundaries(values: tf.Tensor, num_buckets: int, name: str) -> tf.Tensor:
  """Boundaries, for `tft.apply_buckets`, that cut an integer feature's analyzed values
  into `num_buckets` buckets at their exact quantiles (`quantile_boundaries`).

  Exact because they come from a count per distinct value, which merges the same however
  Beam splits the rows, not from `tft.quantiles`'s approximate sketch, whose result
  depended on the split: two runs of the 3e6 pipeline on identical examples bucketed 18
  of 20,000 test rows apart and trained different models. The counts are a Beam combine
  over whole batches (a `tft.experimental.ptransform_analyzer`) and the boundaries a
  constant of the graph: `tft.count_per_key` made one Beam element per distinct value
  and batch, and left the sort and search to every transformed batch and serving
  request, which made Transform 15-30% slower. Meant for features with few distinct
  values (counts, years): the accumulator holds one entry per distinct value.
  """
  if num_buckets < 1:
    raise ValueError(f"{name}: num_buckets must be at least 1, got {num_buckets}")
  boundaries, = tft.experimental.ptransform_analyzer(
      [tf.cast(values, tf.int64)], _ExactQuantileBoundaries(num_buckets),
      output_dtypes=[tf.int64], output_shapes=[[1, num_buckets - 1]], name=name)
  return boundaries


def preprocessing_fn(inputs: Dict[str, Any],
                     custom_config: Optional[Dict[str, Any]] = None) -> Dict[str, tf.Tensor]:
  """Raw example tensors -> transformed model inputs (names in models.features)."""
  config = custom_config or {}
  missing = [key for key in TransformConfig.PREPROCESSING_KEYS if key not in config]
  if missing:
    raise ValueError(f"preprocessing_fn needs custom_config keys {', '.join(missing)} "
                     f"(from models.hparams.TransformConfig); got {sorted(config)}")
  threshold = int(config["vocabulary_frequency_threshold"])
  oov = int(config["num_oov_buckets"])
  outputs = {}

  user = _dense(inputs[features.USER_ID], b"")
  outputs[features.USER_INDEX] = tft.compute_and_apply_vocabulary(
      user, frequency_threshold=threshold, num_oov_buckets=oov,
      vocab_filename=features.USER_VOCABULARY)

  # Items: one vocabulary for the item and every history slot; 0 = padding.
  item = _dense(inputs[features.ITEM_ID], b"")
  item_vocabulary = tft.vocabulary(item, frequency_threshold=threshold,
                                   vocab_filename=features.ITEM_VOCABULARY)
  outputs[features.ITEM_INDEX] = _shifted_ids(item, item_vocabulary, oov)
  history = inputs[features.HISTORY_ITEM_IDS]
  if isinstance(history, tf.sparse.SparseTensor):
    history = tf.sparse.to_dense(history, default_value=features.HISTORY_PAD)
  history_ids = _shifted_ids(history, item_vocabulary, oov)
  is_pad = tf.equal(history, features.HISTORY_PAD)
  outputs[features.HISTORY_INDEX] = tf.where(is_pad, tf.zeros_like(history_ids), history_ids)
  outputs[features.HISTORY_LENGTH] = tf.reduce_sum(tf.cast(~is_pad, tf.int64), axis=1)

  # Genres: multi-valued; padded (0) or truncated to max_genres.
  genres = inputs[features.ITEM_GENRES]
  genre_vocabulary = tft.vocabulary(genres, vocab_filename=features.GENRE_VOCABULARY)
  genre_ids = tft.apply_vocabulary(genres, genre_vocabulary, num_oov_buckets=oov)
  genre_ids = tf.sparse.SparseTensor(genre_ids.indices, genre_ids.values + 1,
                                     genre_ids.dense_shape)
  outputs[features.GENRE_INDEX] = tf.RaggedTensor.from_sparse(genre_ids).to_tensor(
      default_value=0, shape=[None, int(config["max_genres"])])

  for key, vocabulary in ((features.USER_OCCUPATION, features.OCCUPATION_VOCABULARY),
                          (features.USER_GENDER, features.GENDER_VOCABULARY)):
    outputs[features.transformed_name(key)] = tft.compute_and_apply_vocabulary(
        _dense(inputs[key], features.MISSING), num_oov_buckets=oov,
        vocab_filename=vocabulary)

  # Age: fixed MovieLens buckets; 0 = unknown (age 0 is below the first boundary).
  age = _dense(inputs[features.USER_AGE], 0)
  outputs[features.AGE_BUCKET] = tft.apply_buckets(
      age, tf.constant([list(features.AGE_BUCKET_BOUNDARIES)], dtype=tf.int64))

  # Year: quantile buckets over known years, shifted by one; 0 = unknown year.
  year = _dense(inputs[features.ITEM_YEAR], 0)
  known_year = year > 0
  year_boundaries = exact_quantile_boundaries(
      tf.boolean_mask(year, known_year), int(config["num_year_buckets"]), name="year_quantiles")
  year_buckets = tft.apply_buckets(year, year_boundaries) + 1
  outputs[features.YEAR_BUCKET] = tf.where(known_year, year_buckets,
                                           tf.zeros_like(year_buckets))

  # Earlier events: quantile buckets and a [0, 1]-scaled log count.
  count = _dense(inputs[features.USER_PRIOR_COUNT], 0)
  outputs[features.PRIOR_COUNT_BUCKET] = tft.apply_buckets(
      count, exact_quantile_boundaries(count, int(config["num_count_buckets"]),
                                       name="prior_count_quantiles"))
  # In float64, then rounded to float32: float32 log1p gives values 1 ulp apart in batches
  # of other sizes (other SIMD paths), and Beam batches rows differently from run to run.
  outputs[features.PRIOR_COUNT_LOG] = tf.cast(
      tft.scale_to_0_1(tf.math.log1p(tf.cast(count, tf.float64))), tf.float32)
  outputs[features.PRIOR_LIKE_RATE] = _dense(inputs[features.USER_PRIOR_LIKE_RATE], 0.0)

  outputs[features.TRANSFORMED_LABEL] = _dense(inputs[features.LABEL], 0)
  return outputs
