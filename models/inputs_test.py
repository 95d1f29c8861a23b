"""In-memory training batches."""

import multiprocessing

import numpy as np
import pytest
import tensorflow as tf

from models import inputs, process_memory


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


def _epoch(dataset):
  return [(batch, targets) for batch, targets in dataset.as_numpy_iterator()]


def test_shuffled_batches_hold_every_row_once_an_epoch_with_its_targets():
  rows = 10
  arrays = ({"id": np.arange(rows, dtype=np.int32),
             "history": np.arange(rows * 3, dtype=np.int32).reshape(rows, 3)},
            np.arange(rows, dtype=np.float32).reshape(rows, 1) * 10)
  dataset = inputs.shuffled_batches(arrays, batch_size=4, seed=1, shuffle_buffer=100)
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
  again = inputs.shuffled_batches(arrays, batch_size=4, seed=1, shuffle_buffer=100)
  assert order(_epoch(again)) == order(first)


def test_shuffled_pair_batches_keep_each_pair_in_one_batch_firsts_then_seconds():
  # Rows 0-5 pair with rows 11..6; row 12 is in no pair and never comes.
  rows = 13
  arrays = ({"id": np.arange(rows, dtype=np.int32)},
            np.arange(rows, dtype=np.float32).reshape(rows, 1) * 10)
  first, second = np.arange(6), 11 - np.arange(6)
  dataset = inputs.shuffled_pair_batches(arrays, first, second, batch_size=4, seed=1,
                                         shuffle_buffer=100)
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
    inputs.shuffled_pair_batches(arrays, first, second[:5], 4, 1, 100)


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


def _resident_growth_of_in_memory_batches(rows: int, width: int) -> int:
  """Resident bytes that in_memory and batches over its result add, in this process."""
  dataset = _batches(rows, batch_size=10_000, width=width)
  process_memory.release_freed_memory("test")  # resident: what is held, not freed pages
  before = process_memory.resident_bytes()
  arrays = inputs.in_memory(dataset)
  train = inputs.shuffled_batches(arrays, batch_size=1000, seed=1, shuffle_buffer=1000)
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
