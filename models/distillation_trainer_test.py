"""The DistillationTrainer's batches for distill's stages (the trainer itself runs in
components/distillation_trainer/executor_test.py)."""

import numpy as np
import tf_keras as keras

from models import distillation, inputs
from models.distillation_trainer import stage_batches

ROWS = 40


def _arrays():
  return ({"id": np.arange(ROWS, dtype=np.int32)},
          np.arange(ROWS, dtype=np.float32).reshape(ROWS, 1))


def _order(dataset):
  return np.concatenate([batch["id"] for batch, _ in dataset.as_numpy_iterator()]).tolist()


def _fresh(make):
  """What `make()` yields right after the trainer's global seeding (keras'
  set_random_seed), as each stage's dataset is built in a run."""
  keras.utils.set_random_seed(0)
  return _order(make())


def test_each_stage_draws_its_own_order_seeded_by_seed_plus_stage():
  arrays = _arrays()
  orders = {stage: _fresh(lambda s=stage: stage_batches(arrays, s, batch_size=8, seed=42))
            for stage in (distillation.KD_STAGE, distillation.PRUNING_STAGE,
                          distillation.QAT_STAGE)}
  for order in orders.values():
    assert sorted(order) == list(range(ROWS))  # a whole pass
  assert len({tuple(order) for order in orders.values()}) == 3
  # Stage s is the seeded pass of seed + s, whatever ran before it.
  for stage, order in orders.items():
    assert order == _fresh(lambda s=stage: inputs.shuffled_batches(arrays, 8, 42 + s))
  assert orders[distillation.QAT_STAGE] == _fresh(
      lambda: stage_batches(arrays, distillation.QAT_STAGE, batch_size=8, seed=42))


def test_pairs_stay_in_one_batch_in_every_stage():
  arrays = _arrays()
  first, second = np.arange(10), 39 - np.arange(10)
  for stage in (distillation.KD_STAGE, distillation.QAT_STAGE):
    keras.utils.set_random_seed(0)
    batches = stage_batches(arrays, stage, batch_size=4, seed=1, pairs=(first, second))
    for batch, _ in batches.as_numpy_iterator():
      half = len(batch["id"]) // 2
      np.testing.assert_array_equal(batch["id"][half:], 39 - batch["id"][:half])
  assert _fresh(lambda: stage_batches(arrays, 0, 4, 1, pairs=(first, second))) != _fresh(
      lambda: stage_batches(arrays, 1, 4, 1, pairs=(first, second)))
