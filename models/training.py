"""The training loop shared by teacher and student: early stopping on eval AUC (or another
eval figure), TensorBoard."""

import logging
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras

from models import autograph_rules, features, metrics


# Keras 2's and TF-MOT's own code is traced as written (models/autograph_rules.py): the
# trainers get the rules by importing this module before they build anything.
autograph_rules.install()


class EpochLog(keras.callbacks.Callback):
  """One log line per epoch, so long trainings show progress without Keras' bars."""

  def __init__(self, name: str):
    super().__init__()
    self._name = name

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    logging.info("%s epoch %d: %s", self._name, epoch + 1,
                 ", ".join(f"{k}={v:.4f}" for k, v in sorted(logs.items())))


class EpochFigures(keras.callbacks.Callback):
  """Adds figures(), {name: value}, to each epoch's logs. Keras hands one logs dict to
  every callback in turn and to the History last, so the callbacks after this one, and the
  history, see them."""

  def __init__(self, figures: Callable[[], Dict[str, float]]):
    super().__init__()
    self._figures = figures

  def on_epoch_end(self, epoch, logs=None):
    logs.update(self._figures())  # Keras passes a dict, {} when an epoch has no logs


def compile_model(model: keras.Model, learning_rate: float,
                  loss: Optional[keras.losses.Loss] = None, steps_per_execution: int = 1) -> None:
  model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                loss=loss or keras.losses.BinaryCrossentropy(from_logits=True),
                metrics=[keras.metrics.AUC(from_logits=True, name="auc")],
                steps_per_execution=steps_per_execution)


def with_known_size(dataset: tf.data.Dataset, batches: Optional[int] = None) -> tf.data.Dataset:
  """`dataset` with its number of batches known to tf.data where tf.data cannot tell:
  `batches`, checked as it is read, or else counted by one pass (of a cached dataset, the
  pass fills the cache). Keras needs it to run several steps a call (steps_per_execution)
  over a whole dataset."""
  if dataset.cardinality() != tf.data.UNKNOWN_CARDINALITY:
    return dataset
  if batches is None:
    batches = sum(1 for _ in dataset)
  return dataset.apply(tf.data.experimental.assert_cardinality(batches))


def fit(model: keras.Model, train: tf.data.Dataset, evaluation: tf.data.Dataset,
        training_config, log_dir: str, name: str, max_epochs: Optional[int] = None,
        steps_per_pass: Optional[int] = None,
        epoch_figures: Optional[Callable[[], Dict[str, float]]] = None,
        monitor: str = "val_auc") -> Tuple[keras.callbacks.History, int]:
  """Fits until the eval figure `monitor` (Keras' val_auc by default) stops improving for
  `early_stopping_patience` epochs.

  The weights of the best epoch are restored: the last one whose figure beat the best
  before it by more than `early_stopping_min_delta` (not always the highest). With
  `lr_decay_factor` the learning rate drops on a plateau of the same figure. TensorBoard
  logs go to `log_dir`. Returns the Keras history and the restored epoch (1-based).

  steps_per_pass: batches in one pass over `train`; with `max_steps_per_epoch` a longer
  pass is cut into several epochs, with `min_steps_per_epoch` a shorter one is repeated
  into epochs of whole passes (`train` is repeated, reshuffled every pass).
  epoch_figures: called after each epoch's evaluation; its {name: value} join the epoch's
  logs (and the history) before early stopping reads them, so `monitor` may name one.
  """
  steps_per_epoch = (training_config.steps_per_epoch(steps_per_pass)
                     if steps_per_pass else None)
  if steps_per_epoch:
    logging.info("%s: %d steps a pass over the train split, an epoch (an evaluation) "
                 "every %d", name, steps_per_pass, steps_per_epoch)
    train = train.repeat()
  stopper = keras.callbacks.EarlyStopping(monitor=monitor, mode="max",
                                          patience=training_config.early_stopping_patience,
                                          min_delta=training_config.early_stopping_min_delta,
                                          restore_best_weights=True)
  callbacks = [stopper, keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch"),
               EpochLog(name)]
  if training_config.lr_decay_factor:
    callbacks.insert(0, keras.callbacks.ReduceLROnPlateau(
        monitor=monitor, mode="max", factor=training_config.lr_decay_factor,
        patience=training_config.lr_decay_patience,
        min_delta=training_config.lr_decay_min_delta, verbose=0))
  if epoch_figures is not None:
    callbacks.insert(0, EpochFigures(epoch_figures))  # first: the others read its figures
  if training_config.steps_per_execution > 1:
    evaluation = with_known_size(evaluation)
    if not steps_per_epoch:  # an epoch is the whole of `train`
      train = with_known_size(train, steps_per_pass)
  history = model.fit(train, validation_data=evaluation, steps_per_epoch=steps_per_epoch,
                      epochs=max_epochs or training_config.max_epochs,
                      callbacks=callbacks, verbose=0)
  return history, stopper.best_epoch + 1


def predict_logits(model_fn, dataset: tf.data.Dataset):
  """(labels, logits, user indices) over a dataset; model_fn maps features -> logits."""
  labels, logits, users = [], [], []
  for batch, label in dataset:
    logits.append(np.asarray(model_fn(batch)).reshape(-1))
    labels.append(label.numpy().reshape(-1))
    users.append(batch[features.USER_INDEX].numpy().reshape(-1))
  return np.concatenate(labels), np.concatenate(logits), np.concatenate(users)


def evaluate(model_fn, dataset: tf.data.Dataset, user_oov_id: int) -> metrics.EvalMetrics:
  """AUC and log loss overall and for rows whose user is known / unknown to training."""
  labels, logits, users = predict_logits(model_fn, dataset)
  return metrics.evaluate_logits(labels, logits, users, users < user_oov_id)


def count_parameters(model: keras.Model) -> int:
  return int(sum(np.prod(w.shape) for w in model.weights if w.trainable))
