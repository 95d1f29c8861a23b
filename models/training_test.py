"""The shared training helpers."""

from typing import List

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from models import training
from models.hparams import TrainingConfig


def _flat_auc_model(learning_rate):
  """(model, train, evaluation): a model whose eval AUC cannot move (the eval features are
  all equal)."""
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
  training.compile_model(model, learning_rate)
  rng = np.random.default_rng(0)
  train = tf.data.Dataset.from_tensor_slices(
      (rng.normal(size=(64, 1)).astype("float32"), rng.integers(0, 2, (64, 1)).astype("float32"))
  ).batch(16)
  evaluation = tf.data.Dataset.from_tensor_slices(
      (np.ones((32, 1), "float32"), np.tile([[0.0], [1.0]], (16, 1)).astype("float32"))).batch(16)
  return model, train, evaluation


def _flat_auc_fit(tmp_path, training_config, epochs=6):
  """Fits _flat_auc_model's model."""
  model, train, evaluation = _flat_auc_model(training_config.learning_rate)
  history, best_epoch = training.fit(model, train, evaluation, training_config,
                                     str(tmp_path), "test", max_epochs=epochs)
  assert best_epoch == 1  # nothing ever beat the first epoch
  return history.history


def test_learning_rate_drops_on_a_plateau_of_eval_auc(tmp_path):
  config = TrainingConfig(learning_rate=1e-2, early_stopping_patience=10, lr_decay_factor=0.5,
                          lr_decay_patience=2)
  history = _flat_auc_fit(tmp_path, config)
  assert history["val_auc"] == [0.5] * 6
  # No gain in epochs 2 and 3 -> halved after epoch 3; again after 4 and 5 (Keras logs the
  # rate each epoch ran at).
  assert history["lr"] == pytest.approx([1e-2, 1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3])
  # Without lr_decay_factor the rate stays (and Keras logs no lr).
  constant = _flat_auc_fit(tmp_path, TrainingConfig(learning_rate=1e-2,
                                                    early_stopping_patience=10))
  assert "lr" not in constant and len(constant["loss"]) == 6


def _steps_at_epoch_ends(tmp_path, config: TrainingConfig, max_epochs: int) -> List[int]:
  """Fits on 64 rows in batches of 16 (4 steps a pass); the optimizer's step count at the
  end of each epoch."""
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
  training.compile_model(model, 1e-2)
  seen = []

  class Count(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
      seen.append(int(self.model.optimizer.iterations.numpy()))

  rng = np.random.default_rng(0)
  train = tf.data.Dataset.from_tensor_slices(
      (rng.normal(size=(64, 1)).astype("float32"), rng.integers(0, 2, (64, 1)).astype("float32"))
  ).batch(16)
  evaluation = train.take(2)
  original_fit = model.fit
  model.fit = lambda *args, **kwargs: original_fit(
      *args, callbacks=kwargs.pop("callbacks") + [Count()], **kwargs)
  history, _ = training.fit(model, train, evaluation, config, str(tmp_path), "test",
                            max_epochs=max_epochs, steps_per_pass=4)
  assert len(history.history["loss"]) == len(seen)
  return seen


def test_a_pass_longer_than_max_steps_per_epoch_is_cut_into_epochs(tmp_path):
  """At most 2 steps an epoch -> 2 epochs a pass, each seeing half the rows, and the train
  split repeated beyond its end."""
  config = TrainingConfig(max_steps_per_epoch=2, early_stopping_patience=10)
  assert _steps_at_epoch_ends(tmp_path, config, 5) == [2, 4, 6, 8, 10]  # 2.5 passes


def test_a_pass_shorter_than_min_steps_per_epoch_is_repeated_into_whole_passes(tmp_path):
  """At least 6 steps an epoch -> 2 passes (8 steps) an epoch."""
  config = TrainingConfig(min_steps_per_epoch=6, early_stopping_patience=10)
  assert _steps_at_epoch_ends(tmp_path, config, 3) == [8, 16, 24]


def test_early_stopping_reads_the_epoch_figures_and_restores_that_epochs_weights(tmp_path):
  """A scripted val_gauc (the model's own val_auc cannot move: its eval features are all
  equal): the best is epoch 3, after which two epochs without a gain stop the fit
  (patience 2), and the weights restored are those the figures saw at the end of epoch 3."""
  model, train, evaluation = _flat_auc_model(1e-2)
  scripted = iter([0.60, 0.70, 0.72, 0.71, 0.72, 0.90])
  seen = []

  def figures():
    seen.append([w.copy() for w in model.get_weights()])
    return {"val_gauc": next(scripted)}

  config = TrainingConfig(learning_rate=1e-2, early_stopping_patience=2)
  history, best_epoch = training.fit(model, train, evaluation, config, str(tmp_path), "test",
                                     max_epochs=6, epoch_figures=figures, monitor="val_gauc")
  assert history.history["val_gauc"] == [0.60, 0.70, 0.72, 0.71, 0.72]
  assert history.history["val_auc"] == [0.5] * 5  # on val_auc it would have kept epoch 1
  assert best_epoch == 3
  for restored, at_best, at_last in zip(model.get_weights(), seen[2], seen[4]):
    np.testing.assert_array_equal(restored, at_best)
    assert not np.array_equal(at_best, at_last)


def test_several_steps_per_execution_train_the_same_weights_as_one(tmp_path):
  """steps_per_execution only changes how many steps one call of Keras' train function
  runs: the same batches in the same order give the same weights and figures, with a pass
  (5 steps) that is not a multiple of it (3)."""
  rng = np.random.default_rng(1)
  x = rng.normal(size=(80, 4)).astype("float32")
  y = (x[:, :1] + rng.normal(size=(80, 1)) > 0).astype("float32")
  results = []
  for steps in (1, 3):
    keras.utils.set_random_seed(0)
    # Built anew: a shuffle's orders go on from one fit to the next on the same dataset.
    # The eval split of a size tf.data cannot tell, as the trainers' cached ones.
    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(80, seed=3).batch(16)
    evaluation = tf.data.Dataset.from_tensor_slices((x[:32], y[:32])).batch(16).filter(
        lambda *_: True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    training.compile_model(model, 1e-2, steps_per_execution=steps)
    assert int(model._steps_per_execution.numpy()) == steps  # pylint: disable=protected-access
    initial = model.get_weights()
    config = TrainingConfig(early_stopping_patience=10, steps_per_execution=steps)
    history, _ = training.fit(model, train, evaluation, config, str(tmp_path / str(steps)),
                              "test", max_epochs=3, steps_per_pass=5)
    assert not np.array_equal(initial[0], model.get_weights()[0])  # it did train
    results.append((model.get_weights(), history.history,
                    int(model.optimizer.iterations.numpy())))
  (one, history_one, steps_one), (three, history_three, steps_three) = results
  assert steps_one == steps_three == 15
  for a, b in zip(one, three):
    np.testing.assert_array_equal(a, b)
  for key in ("loss", "auc", "val_loss", "val_auc"):
    np.testing.assert_allclose(history_one[key], history_three[key], rtol=1e-6)


def test_with_known_size_counts_or_checks_the_batches():
  unknown = tf.data.Dataset.range(10).batch(4).filter(lambda _: True)  # 3 batches
  assert unknown.cardinality() == tf.data.UNKNOWN_CARDINALITY
  assert training.with_known_size(unknown).cardinality() == 3
  assert training.with_known_size(unknown, 3).cardinality() == 3
  with pytest.raises(tf.errors.FailedPreconditionError, match="expected to contain 4 elements"):
    list(training.with_known_size(unknown, 4))  # told 4, read 3
  known = tf.data.Dataset.range(10).batch(4)
  assert training.with_known_size(known, 7) is known
