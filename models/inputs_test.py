"""In-memory training batches."""

import multiprocessing

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models import features, inputs, process_memory


def test_read_records_gives_every_record_in_file_order(tmp_path):
  files, expected = [], []
  for index, count in enumerate((5, 0, 9)):
    path = str(tmp_path / f"part-{index}.gz")
    records = [f"file {index} record {i}".encode() for i in range(count)]
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
      for record in records:
        writer.write(record)
    files.append(path)
    expected += records
  # Batches of 4 cross the files' ends.
  assert inputs.read_records(files, batch_size=4) == expected
  assert inputs.read_records(files[1:2]) == []


def test_training_datasets_run_without_tf_data_autotuning(tmp_path, monkeypatch):
  # Deleting an iterator waited for tf.data's autotuning thread (up to 19.5 s after 22 s
  # of batches: inputs.without_autotune); every dataset the trainers iterate is made by
  # these functions, and the option reaches what is built on them.
  rows = 6
  arrays = ({"id": np.arange(rows, dtype=np.int32)}, np.zeros([rows, 1], np.float32))
  path = str(tmp_path / "part-0.gz")
  with tf.io.TFRecordWriter(path, options="GZIP") as writer:
    for row in range(rows):
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          features.USER_INDEX: tf.train.Feature(int64_list=tf.train.Int64List(value=[row])),
          features.TRANSFORMED_LABEL: tf.train.Feature(
              int64_list=tf.train.Int64List(value=[row % 2]))})).SerializeToString())
  spec = {name: tf.io.FixedLenFeature([], tf.int64)
          for name in (features.USER_INDEX, features.TRANSFORMED_LABEL)}
  made = {"make_dataset": inputs.make_dataset([path], spec, batch_size=4),
          "shuffled_batches": inputs.shuffled_batches(arrays, 4, seed=1),
          "shuffled_pair_batches": inputs.shuffled_pair_batches(arrays, [0, 1], [2, 3], 4, 1),
          "ordered_batches": inputs.ordered_batches(arrays, 4)}
  for name, dataset in made.items():
    derived = dataset.map(lambda batch, targets: (batch, targets)).repeat().cache()
    assert dataset.options().autotune.enabled is False, name
    assert derived.options().autotune.enabled is False, name
  assert tf.data.Dataset.range(3).options().autotune.enabled is not False
  # The batches are still every row (parsed, for make_dataset).
  labels = np.concatenate([label for _, label in made["make_dataset"].as_numpy_iterator()])
  np.testing.assert_array_equal(labels.ravel(), [0, 1, 0, 1, 0, 1])
  # read_records' dataset too (it iterates it itself).
  iterated, original = [], tf.data.Dataset.as_numpy_iterator
  monkeypatch.setattr(tf.data.Dataset, "as_numpy_iterator",
                      lambda self: iterated.append(self.options().autotune.enabled)
                      or original(self))
  assert len(inputs.read_records([path])) == rows and iterated == [False]


def _epoch(dataset):
  return [(batch, targets) for batch, targets in dataset.as_numpy_iterator()]


def test_shuffled_batches_hold_every_row_once_an_epoch_with_its_targets():
  rows = 10
  arrays = ({"id": np.arange(rows, dtype=np.int32),
             "history": np.arange(rows * 3, dtype=np.int32).reshape(rows, 3)},
            np.arange(rows, dtype=np.float32).reshape(rows, 1) * 10)
  dataset = inputs.shuffled_batches(arrays, batch_size=4, seed=1)
  first, second = _epoch(dataset), _epoch(dataset)
  for epoch in (first, second):
    assert [len(targets) for _, targets in epoch] == [4, 4, 2]
    ids = np.concatenate([batch["id"] for batch, _ in epoch])
    assert sorted(ids) == list(range(rows))
    for batch, targets in epoch:  # each row keeps its own features and targets
      np.testing.assert_array_equal(targets[:, 0], batch["id"] * 10)
      np.testing.assert_array_equal(batch["history"], arrays[0]["history"][batch["id"]])
  order = lambda epoch: np.concatenate([batch["id"] for batch, _ in epoch]).tolist()
  assert order(first) != order(second) and order(first) != list(range(rows))
  again = inputs.shuffled_batches(arrays, batch_size=4, seed=1)
  assert order(_epoch(again)) == order(first)


def test_shuffled_batches_repeated_give_a_new_whole_permutation_every_pass():
  # As training.fit repeats them when a pass holds several epochs.
  rows = 50
  arrays = ({"id": np.arange(rows, dtype=np.int32)}, np.zeros([rows, 1], np.float32))
  dataset = inputs.shuffled_batches(arrays, batch_size=8, seed=3)
  assert int(dataset.cardinality()) == 7
  ids = np.concatenate([batch["id"] for batch, _ in dataset.repeat(3).as_numpy_iterator()])
  passes = ids.reshape(3, rows)
  for order in passes:
    assert sorted(order) == list(range(rows))
  assert len({tuple(order) for order in passes}) == 3


def test_shuffled_pair_batches_keep_each_pair_in_one_batch_firsts_then_seconds():
  # Rows 0-5 pair with rows 11..6; row 12 is in no pair and never comes.
  rows = 13
  arrays = ({"id": np.arange(rows, dtype=np.int32)},
            np.arange(rows, dtype=np.float32).reshape(rows, 1) * 10)
  first, second = np.arange(6), 11 - np.arange(6)
  dataset = inputs.shuffled_pair_batches(arrays, first, second, batch_size=4, seed=1)
  epochs = [_epoch(dataset), _epoch(dataset)]
  for epoch in epochs:
    assert [len(targets) for _, targets in epoch] == [4, 4, 4]
    for batch, targets in epoch:
      np.testing.assert_array_equal(targets[:, 0], batch["id"] * 10)
      np.testing.assert_array_equal(batch["id"][2:], 11 - batch["id"][:2])
    assert sorted(np.concatenate([batch["id"][:2] for batch, _ in epoch])) == list(range(6))
  order = lambda epoch: np.concatenate([batch["id"] for batch, _ in epoch]).tolist()
  assert order(epochs[0]) != order(epochs[1])
  with pytest.raises(ValueError, match="5 second rows"):
    inputs.shuffled_pair_batches(arrays, first, second[:5], 4, 1)


def _batches(rows, batch_size, width):
  """A dataset of (features, targets) batches whose values count the rows from 0."""
  ids = np.arange(rows, dtype=np.int32)
  targets = np.repeat(ids[:, None].astype(np.float32), width, axis=1)
  return tf.data.Dataset.from_tensor_slices(({"id": ids}, targets)).batch(batch_size)


def test_in_memory_keeps_every_row_in_order_as_tensors():
  features, targets = inputs.in_memory(_batches(rows=10, batch_size=4, width=2))
  assert tf.is_tensor(features["id"]) and tf.is_tensor(targets)
  np.testing.assert_array_equal(features["id"], np.arange(10))
  np.testing.assert_array_equal(targets, np.repeat(np.arange(10.0)[:, None], 2, axis=1))
  with pytest.raises(ValueError, match="empty"):
    inputs.in_memory(_batches(rows=10, batch_size=4, width=2).take(0))


def _mixed_rows(order):
  """Rows of int, float, list and string features whose targets name the row, in `order`,
  as batches of 3; rows 6 and 7 repeat rows 0 and 1."""
  ids = np.array([0, 1, 2, 3, 4, 5, 0, 1])[order]
  features = {"id": ids.astype(np.int64),
              "rate": (ids / 7).astype(np.float32),
              "history": np.stack([ids, ids * 2, ids % 3], axis=1).astype(np.int64),
              "name": np.array([f"row{i}".encode() for i in ids])}
  targets = np.stack([ids * 10.0, ids * 0.5], axis=1).astype(np.float32)
  return tf.data.Dataset.from_tensor_slices((features, targets)).batch(3)


def test_in_memory_canonical_order_does_not_depend_on_the_order_rows_come_in():
  """What makes a run deterministic whatever order Beam's workers wrote the shards in."""
  orders = [np.arange(8), np.array([7, 3, 5, 0, 2, 6, 1, 4]), np.arange(8)[::-1]]
  kept = [inputs.in_memory(_mixed_rows(order), canonical_order=True) for order in orders]
  for features, targets in kept[1:]:
    for key in ("id", "rate", "history", "name"):
      np.testing.assert_array_equal(features[key], kept[0][0][key])
    np.testing.assert_array_equal(targets, kept[0][1])
  features, targets = kept[0]
  # Every row once, each feature still beside its own targets.
  assert sorted(features["id"].numpy().tolist()) == [0, 0, 1, 1, 2, 3, 4, 5]
  np.testing.assert_array_equal(targets[:, 0], features["id"].numpy() * 10.0)
  np.testing.assert_array_equal(features["history"][:, 1], features["id"].numpy() * 2)
  assert [name.decode() for name in features["name"].numpy()] == [
      f"row{i}" for i in features["id"].numpy()]
  # The dataset's own order is kept without it, and differs between the orders.
  plain = [inputs.in_memory(_mixed_rows(order))[0]["id"].numpy().tolist() for order in orders]
  assert plain[0] == [0, 1, 2, 3, 4, 5, 0, 1] and plain[1] != plain[0]


def test_row_fingerprints_see_every_value_bit_and_not_the_batch_or_key_order():
  features = {"a": tf.constant([[1, 2], [1, 2], [1, 3]], tf.int64),
              "b": tf.constant([0.5, 0.5, 0.5], tf.float32)}
  targets = tf.constant([[1.0], [1.0], [1.0]])
  keys = inputs.row_fingerprints(features, targets)
  assert keys.dtype == np.int64 and keys.shape == (3,)
  assert keys[0] == keys[1] != keys[2]
  # One row alone, and the features given in the other order: the same fingerprints.
  alone = inputs.row_fingerprints({"b": features["b"][2:], "a": features["a"][2:]},
                                  targets[2:])
  assert alone[0] == keys[2]
  # The smallest change of a float, and a change of the targets.
  nudged = np.nextafter(np.float32(0.5), np.float32(1.0))
  assert inputs.row_fingerprints({**features, "b": tf.constant([nudged] * 3)},
                                 targets)[0] != keys[0]
  assert inputs.row_fingerprints(features, targets * 2)[0] != keys[0]
  with pytest.raises(TypeError, match="'ids' is a SparseTensor"):
    inputs.row_fingerprints({"ids": tf.sparse.from_dense([[1, 0]])}, tf.constant([[1.0]]))


def _resident_growth_of_in_memory_batches(rows: int, width: int) -> int:
  """Resident bytes that in_memory and batches over its result add, in this process."""
  dataset = _batches(rows, batch_size=10_000, width=width)
  process_memory.release_freed_memory("test")  # resident: what is held, not freed pages
  before = process_memory.resident_bytes()
  arrays = inputs.in_memory(dataset)
  train = inputs.shuffled_batches(arrays, batch_size=1000, seed=1)
  next(iter(train))
  process_memory.release_freed_memory("test")
  return process_memory.resident_bytes() - before


def test_in_memory_data_is_held_once_by_the_training_batches():
  """The arrays and the batches over them hold the data once, not once more as a copy.

  Converting numpy arrays to tensors (as the batches need) copied them: 0.46 GB of
  targets grew the process by 0.95 GB. Measured in a fresh process: what earlier tests freed
  and the allocator kept would blur it.
  """
  rows, width = 300_000, 400  # 458 MB of float32 targets
  with multiprocessing.get_context("spawn").Pool(1) as pool:
    grown = pool.apply(_resident_growth_of_in_memory_batches, (rows, width))
  size = rows * width * 4
  assert grown < 1.35 * size, f"{grown / 2**20:.0f} MB resident for {size / 2**20:.0f} MB of data"


def test_transformed_dataset_gives_the_trainers_vocabulary_ids(transformed_data):
  """What both trainers train on: ExampleGen's rows in file order, through the graph."""
  tft_output = tft.TFTransformOutput(transformed_data.transform_graph.uri)
  vocabulary = tft_output.vocabulary_by_name(features.ITEM_VOCABULARY)
  # Independent path: look raw ids up in the vocabulary file with plain Python.
  index = {item.decode(): i + 1 for i, item in enumerate(vocabulary)}
  oov = len(vocabulary) + 1
  files = inputs.split_files(transformed_data.raw_examples.uri, "eval")
  raw = inputs.read_records(files)
  rows = [tf.train.Example.FromString(record).features.feature for record in raw]
  batches = list(inputs.transformed_dataset(files, tft_output, 64).as_numpy_iterator())
  labels = np.concatenate([label for _, label in batches]).ravel()
  batch = {name: np.concatenate([b[name] for b, _ in batches]) for name in batches[0][0]}
  assert set(batch) == set(inputs.MODEL_INPUTS) and len(labels) == len(rows) > 64
  np.testing.assert_array_equal(labels, [row[features.LABEL].int64_list.value[0] for row in rows])
  np.testing.assert_array_equal(
      batch[features.ITEM_INDEX],
      [index.get(row[features.ITEM_ID].bytes_list.value[0].decode(), oov) for row in rows])
  np.testing.assert_array_equal(
      batch[features.HISTORY_INDEX],
      [[0 if h == b"" else index.get(h.decode(), oov)
        for h in row[features.HISTORY_ITEM_IDS].bytes_list.value] for row in rows])
  assert batch[features.GENRE_INDEX].shape == (len(rows), 6)
