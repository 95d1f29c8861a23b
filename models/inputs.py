"""Model inputs: sizes of every categorical input and tf.data pipelines over examples through
the Transform graph."""

import dataclasses
import glob
import os
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from models import features

# Transformed features the models take (everything Transform writes except the label).
INT_SCALAR_INPUTS = (features.USER_INDEX, features.ITEM_INDEX, features.GENDER_INDEX,
                     features.OCCUPATION_INDEX, features.AGE_BUCKET, features.YEAR_BUCKET,
                     features.PRIOR_COUNT_BUCKET)
FLOAT_SCALAR_INPUTS = (features.PRIOR_COUNT_LOG, features.PRIOR_LIKE_RATE)
LIST_INPUTS = (features.HISTORY_INDEX, features.GENRE_INDEX)
MODEL_INPUTS = INT_SCALAR_INPUTS + FLOAT_SCALAR_INPUTS + LIST_INPUTS


@dataclasses.dataclass(frozen=True)
class InputSizes:
  """Number of distinct values of every categorical input (embedding table rows)."""
  users: int
  items: int  # includes padding (0) and OOV buckets
  genres: int  # includes padding (0) and OOV buckets
  genders: int
  occupations: int
  age_buckets: int
  year_buckets: int
  count_buckets: int
  history_length: int
  max_genres: int
  num_oov_buckets: int

  @property
  def user_oov_id(self) -> int:
    """First OOV bucket of the user vocabulary (users come unshifted)."""
    return self.users - self.num_oov_buckets

  @property
  def item_oov_id(self) -> int:
    """First OOV bucket of the shifted item vocabulary."""
    return self.items - self.num_oov_buckets

  def table_rows(self) -> Dict[str, int]:
    """Embedding-table rows behind every id input (the lists index the item and genre tables)."""
    return {features.USER_INDEX: self.users, features.ITEM_INDEX: self.items,
            features.HISTORY_INDEX: self.items, features.GENRE_INDEX: self.genres,
            features.GENDER_INDEX: self.genders, features.OCCUPATION_INDEX: self.occupations,
            features.AGE_BUCKET: self.age_buckets, features.YEAR_BUCKET: self.year_buckets,
            features.PRIOR_COUNT_BUCKET: self.count_buckets}

  @classmethod
  def from_transform_output(cls, tft_output, transform_config) -> "InputSizes":
    """Sizes from the Transform graph's vocabularies and feature spec.

    The history length is the width of the transformed history feature: it was set by
    example_gen.history_length upstream and is read here, not passed again.
    """
    vocabulary_size = tft_output.vocabulary_size_by_name
    oov = transform_config.num_oov_buckets
    spec = tft_output.transformed_feature_spec()
    return cls(
        users=vocabulary_size(features.USER_VOCABULARY) + oov,
        items=vocabulary_size(features.ITEM_VOCABULARY) + oov + 1,
        genres=vocabulary_size(features.GENRE_VOCABULARY) + oov + 1,
        genders=vocabulary_size(features.GENDER_VOCABULARY) + oov,
        occupations=vocabulary_size(features.OCCUPATION_VOCABULARY) + oov,
        age_buckets=len(features.AGE_BUCKET_BOUNDARIES) + 1,
        year_buckets=transform_config.num_year_buckets + 1,
        count_buckets=transform_config.num_count_buckets,
        history_length=_width(spec, features.HISTORY_INDEX),
        max_genres=_width(spec, features.GENRE_INDEX),
        num_oov_buckets=oov)


def _width(transformed_feature_spec, name: str) -> int:
  """Length of a fixed-length list feature of the transformed examples."""
  feature = transformed_feature_spec[name]
  if not isinstance(feature, tf.io.FixedLenFeature) or len(feature.shape) != 1:
    raise ValueError(f"transformed feature {name} must be a fixed-length list, got {feature}")
  return int(feature.shape[0])


def input_signature(sizes: InputSizes) -> Dict[str, tf.TensorSpec]:
  """TensorSpecs of the model inputs (batch dimension first)."""
  specs = {name: tf.TensorSpec([None], tf.int64, name=name) for name in INT_SCALAR_INPUTS}
  specs.update({name: tf.TensorSpec([None], tf.float32, name=name)
                for name in FLOAT_SCALAR_INPUTS})
  specs[features.HISTORY_INDEX] = tf.TensorSpec([None, sizes.history_length], tf.int64,
                                                name=features.HISTORY_INDEX)
  specs[features.GENRE_INDEX] = tf.TensorSpec([None, sizes.max_genres], tf.int64,
                                              name=features.GENRE_INDEX)
  return specs


def split_files(examples_uri: str, split: str) -> List[str]:
  files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz")))
  if not files:
    raise ValueError(f"no TFRecord files for split {split!r} under {examples_uri}")
  return files


def read_records(files: List[str], batch_size: int = 4096) -> List[bytes]:
  """Every serialized record of gzipped TFRecord files, in file order. Read in batches:
  record by record, each tensor-to-bytes round trip costs ~0.07 ms (0.69 s against 0.18 s
  for the 9,823 test rows of a 1e5 run). Without autotuning: reading the 790k train rows of
  a 1e6 run (~4 s), deleting the iterator took up to 0.95 s with it, under 0.01 s without."""
  dataset = without_autotune(
      tf.data.TFRecordDataset(files, compression_type="GZIP").batch(batch_size))
  return [record for batch in dataset.as_numpy_iterator() for record in batch]


def training_feature_spec(tft_output) -> Dict:
  """The raw features the Transform graph turns into model inputs and the label: all of
  the raw schema's but the timestamp and the evaluation-only features."""
  spec = dict(tft_output.raw_feature_spec())
  for name in (features.TIMESTAMP,) + features.EVALUATION_FEATURES:
    spec.pop(name, None)
  return spec


def make_dataset(files: List[str], feature_spec: Dict, batch_size: int,
                 take: Optional[int] = None,
                 transform: Optional[Callable] = None) -> tf.data.Dataset:
  """(features, label) batches of gzipped tf.Examples parsed with feature_spec, then
  mapped by `transform` if given; one pass over the data, in file order (the trainers
  keep the train split in memory: `in_memory`)."""
  dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
  if take:
    dataset = dataset.take(take)
  dataset = dataset.batch(batch_size)
  transform = transform or (lambda parsed: parsed)

  def parse(serialized) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
    parsed = transform(tf.io.parse_example(serialized, feature_spec))
    label = tf.cast(parsed[features.TRANSFORMED_LABEL], tf.float32)
    return {k: parsed[k] for k in MODEL_INPUTS if k in parsed}, tf.reshape(label, [-1, 1])

  return without_autotune(dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
                          .prefetch(tf.data.AUTOTUNE))


def transformed_dataset(files: List[str], tft_output, batch_size: int,
                        take: Optional[int] = None) -> tf.data.Dataset:
  """(model inputs, label) batches of ExampleGen's raw examples through the Transform
  graph (`tft_output`), as the trainers read them.

  Transform only analyzes (pipeline.pipeline: it writes no transformed examples): on
  1e6 interactions its executor took 37-51 s instead of 87-90 s writing all three splits,
  while parsing the raw train split and running the graph here takes 5-9 s instead of
  3-4 s for the written one, and gives the same values (all 790,259 rows, every input).
  """
  return make_dataset(files, training_feature_spec(tft_output), batch_size, take,
                      transform=tft_output.transform_features_layer())


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
  """`dataset` with tf.data's autotuning model off, for it and every dataset made from it
  (options pass down to map, cache, repeat...). AUTOTUNE values still mean something: a
  parallel map makes as many calls as there are cores (at most 16), a prefetch buffer
  grows while its consumer waits (tf.data's older per-buffer tuner).

  Why: with it on, deleting an iterator that had run for a while stalled the process, at
  whatever moment garbage collection freed it: the main thread waited in the iterator's
  destructor (tf.data's RootDataset) for one of its threads, apparently the autotuning
  one, whose sleep between optimizations grows as the iterator ages. Batches of 2048
  gathered from 790k in-memory rows on 2 cores, 22 s of them, then the iterator deleted:
  up to 19.5 s with autotuning, 0.2 s without, the batches as fast. In the
  DistillationTrainer it took 13-39 s in some runs, at 1e5 and 1e6 interactions.
  """
  options = tf.data.Options()
  options.autotune.enabled = False
  return dataset.with_options(options)


def in_memory(dataset: tf.data.Dataset,
              canonical_order: bool = False) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
  """(features, labels or targets) of every batch of `dataset`, concatenated into tensors.

  Tensors, not numpy arrays: the training batches gather from tensors, and a numpy array
  turned into one is copied (0.46 GB of targets grew the process by 0.95 GB that way). Each
  feature's batches are freed as soon as they are joined.

  canonical_order: the rows sorted by `row_fingerprints` instead of kept in the dataset's
  order. Beam writes a split's shards, and the rows within them, in an order that depends on
  how its workers ran: two runs of the same 1e6 pipeline (multi_processing) wrote the same
  rows in different orders, and seeded shuffles of rows that start in different orders give
  different batches, so the models differed. Sorted, training sees the same batches
  whatever order the rows were written in; rows with the same values are interchangeable.
  """
  feature_parts: Dict[str, List[tf.Tensor]] = {}
  target_parts: List[tf.Tensor] = []
  key_parts: List[np.ndarray] = []
  for batch, targets in dataset:
    for key, values in batch.items():
      feature_parts.setdefault(key, []).append(values)
    target_parts.append(targets)
    if canonical_order:
      key_parts.append(row_fingerprints(batch, targets))
  if not target_parts:
    raise ValueError("the dataset to keep in memory is empty")
  order = None
  if canonical_order:
    order = tf.constant(np.argsort(np.concatenate(key_parts), kind="stable"))

  def joined(parts: List[tf.Tensor]) -> tf.Tensor:
    values = tf.concat(parts, axis=0)
    return values if order is None else tf.gather(values, order)

  features = {key: joined(feature_parts.pop(key)) for key in list(feature_parts)}
  targets = joined(target_parts)
  return features, targets


def row_fingerprints(features: Dict[str, tf.Tensor], targets: tf.Tensor) -> np.ndarray:
  """A 64-bit fingerprint (farmhash) of each row of a batch: of every feature's values, in
  name order, then the targets', as bits (floats bitcast, not rounded; strings hashed).
  Equal for rows with equal values, whatever else is in the batch; dense tensors only."""
  columns = [_int64_columns(features[key], key) for key in sorted(features)]
  columns.append(_int64_columns(targets, "targets"))
  return tf.bitcast(tf.fingerprint(tf.concat(columns, axis=1)), tf.int64).numpy()


def _int64_columns(values, name: str) -> tf.Tensor:
  """`values` ([rows, ...], dense) as [rows, k] int64: the bits of each value."""
  if isinstance(values, (tf.SparseTensor, tf.RaggedTensor)):
    raise TypeError(f"row_fingerprints: {name!r} is a {type(values).__name__}; only dense "
                    f"tensors have a fingerprint here")
  values = tf.convert_to_tensor(values)
  values = tf.reshape(values, [tf.shape(values)[0], -1])
  if values.dtype == tf.string:
    return tf.strings.to_hash_bucket_fast(values, np.iinfo(np.int64).max)
  if values.dtype.is_floating:
    bits = {2: tf.int16, 4: tf.int32, 8: tf.int64}[values.dtype.size]
    return tf.cast(tf.bitcast(values, bits), tf.int64)
  if values.dtype.is_integer or values.dtype == tf.bool:
    return tf.cast(values, tf.int64)
  raise TypeError(f"row_fingerprints: {name!r} has dtype {values.dtype.name}; expected "
                  f"integers, floats, bools or strings")


def shuffled_batches(arrays, batch_size: int, seed: int) -> tf.data.Dataset:
  """Batches of in-memory (features, targets) (tensors, or numpy arrays: copied), one pass
  over every row in a new seeded order each time the dataset is iterated or repeated.

  Each batch is gathered from the arrays by a slice of the pass's permutation: a dataset
  made of the arrays' slices holds them as constants of its graph, which Keras' fit copied
  before its first step (14 s for 78k distillation rows, in every stage of the trainer).
  The order is one permutation of all rows a pass, not a shuffle buffer: tf.data's
  buffer moved every row index through its own element, 4.2 ms of CPU a batch of 2048
  rows (0.7 ms with the permutation, the gathers included), taken from a training step
  that wants both cores. At 1e6 interactions (790k rows in memory, 2 cores) the student's
  KD step on random data took 21.7 ms with a 100,000-row buffer, 14.0 ms with the
  permutation; in the DistillationTrainer (hints on) an epoch of 200 steps 5.1-5.3 s, now
  4.5 s.
  """
  rows = len(arrays[1])
  return _gathered(arrays, _permuted_slices(rows, batch_size, seed)).prefetch(tf.data.AUTOTUNE)


def shuffled_pair_batches(arrays, first, second, batch_size: int,
                          seed: int) -> tf.data.Dataset:
  """Batches of in-memory (features, targets) made of pairs of rows (first[i], second[i]),
  the pairs in a new seeded order every pass (as shuffled_batches): batch_size // 2 pairs
  a batch, their first rows, then their second rows in the same order. Rows in neither
  list are left out."""
  first = tf.constant(np.asarray(first, dtype=np.int64))
  second = tf.constant(np.asarray(second, dtype=np.int64))
  pairs = int(first.shape[0])
  if int(second.shape[0]) != pairs or batch_size < 2:
    raise ValueError(f"shuffled_pair_batches: {pairs} first rows, {int(second.shape[0])} "
                     f"second rows, batches of {batch_size} (needs as many, and >= 2)")
  indices = _permuted_slices(pairs, batch_size // 2, seed).map(
      lambda pair: tf.concat([tf.gather(first, pair), tf.gather(second, pair)], 0))
  return _gathered(arrays, indices).prefetch(tf.data.AUTOTUNE)


def _permuted_slices(rows: int, size: int, seed: int) -> tf.data.Dataset:
  """range(rows) in slices of `size` (the last may be shorter), in the order of a seeded
  permutation drawn anew each time the dataset is iterated or repeated. The draws come
  from Dataset.random, so they depend on the global seed too, as tf.data's shuffle did."""
  slices = -(-rows // size)

  def one_pass(draw):
    order = tf.random.experimental.stateless_shuffle(
        tf.range(rows, dtype=tf.int64), seed=tf.stack([draw, tf.constant(0, tf.int64)]))
    return tf.data.Dataset.range(slices).map(lambda i: order[i * size:(i + 1) * size])

  draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
  return draws.flat_map(one_pass).apply(tf.data.experimental.assert_cardinality(slices))


def ordered_batches(arrays, batch_size: int) -> tf.data.Dataset:
  """Batches of in-memory (features, targets) in row order, gathered as shuffled_batches'."""
  return _gathered(arrays, tf.data.Dataset.range(len(arrays[1])).batch(batch_size))


def _gathered(arrays, indices: tf.data.Dataset) -> tf.data.Dataset:
  tensors = tf.nest.map_structure(tf.convert_to_tensor, arrays)
  return without_autotune(indices).map(
      lambda index: tf.nest.map_structure(lambda t: tf.gather(t, index), tensors))
