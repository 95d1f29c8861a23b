"""In-memory training batches."""

import numpy as np

from models import inputs


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
