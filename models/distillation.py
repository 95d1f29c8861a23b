"""Knowledge distillation, magnitude pruning and prune-preserving QAT for the student.

The student trains on targets packed as [label, teacher logit] (the teacher's
logits are computed in the input pipeline, batch by batch, teacher frozen):

  loss = alpha * BCE(label, sigmoid(z_s))
         + (1 - alpha) * T^2 * BCE(sigmoid(z_t / T), sigmoid(z_s / T))

T^2 keeps the soft term's gradients on the scale of the hard term's as T grows.
"""

import logging
import os
from typing import Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from models.layers import IdDropout, MaskedMeanPooling


def distillation_loss(labels, teacher_logits, student_logits, alpha: float,
                      temperature: float) -> tf.Tensor:
  """Per-example KD loss (see module docstring); all arguments [batch] or [batch, 1]."""
  labels = tf.reshape(tf.cast(labels, tf.float32), [-1])
  teacher_logits = tf.reshape(tf.cast(teacher_logits, tf.float32), [-1])
  student_logits = tf.reshape(tf.cast(student_logits, tf.float32), [-1])
  hard = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=student_logits)
  soft_targets = tf.sigmoid(teacher_logits / temperature)
  soft = tf.nn.sigmoid_cross_entropy_with_logits(labels=soft_targets,
                                                 logits=student_logits / temperature)
  return alpha * hard + (1.0 - alpha) * temperature ** 2 * soft


@keras.utils.register_keras_serializable(package="distillrec")
class DistillationLoss(keras.losses.Loss):
  """Keras loss on y_true = [label, teacher logit] and y_pred = student logits."""

  def __init__(self, alpha: float, temperature: float, name: str = "distillation", **kwargs):
    super().__init__(name=name, **kwargs)
    self.alpha = float(alpha)
    self.temperature = float(temperature)

  def call(self, y_true, y_pred):
    return distillation_loss(y_true[:, 0], y_true[:, 1], y_pred, self.alpha, self.temperature)

  def get_config(self):
    return {**super().get_config(), "alpha": self.alpha, "temperature": self.temperature}


class LabelAUC(keras.metrics.AUC):
  """AUC of the student's logits against the hard label (column 0 of packed targets)."""

  def update_state(self, y_true, y_pred, sample_weight=None):
    return super().update_state(y_true[:, :1], y_pred, sample_weight)


def with_teacher_logits(dataset: tf.data.Dataset, teacher_fn, cast_fn) -> tf.data.Dataset:
  """(features, label) -> (student features, [label, teacher logit]) per batch.

  teacher_fn maps the transformed (int64) batch to logits; cast_fn turns the batch
  into the student's inputs.
  """

  def add(batch, label):
    teacher_logit = tf.reshape(teacher_fn(batch), [-1, 1])
    return cast_fn(batch), tf.concat([tf.reshape(label, [-1, 1]), teacher_logit], axis=1)

  return dataset.map(add, num_parallel_calls=1).prefetch(tf.data.AUTOTUNE)


def compile_student(model: keras.Model, learning_rate: float, alpha: float,
                    temperature: float) -> None:
  model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                loss=DistillationLoss(alpha, temperature),
                metrics=[LabelAUC(from_logits=True, name="auc")])


# --- Pruning -----------------------------------------------------------------------


def _prunable(layer) -> bool:
  return isinstance(layer, (keras.layers.Embedding, keras.layers.Dense))


def prune(model: keras.Model, target_sparsity: float, end_step: int,
          frequency: int) -> keras.Model:
  """Wraps every Embedding and Dense layer with prune_low_magnitude (PolynomialDecay 0 -> target)."""
  schedule = tfmot.sparsity.keras.PolynomialDecay(
      initial_sparsity=0.0, final_sparsity=target_sparsity, begin_step=0,
      end_step=max(end_step, 1), frequency=max(1, min(frequency, end_step or 1)))

  def wrap(layer):
    if _prunable(layer):
      return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
    return layer  # reused as is: trained weights carry over

  return keras.models.clone_model(model, clone_function=wrap)


def strip_pruning(model: keras.Model) -> keras.Model:
  return tfmot.sparsity.keras.strip_pruning(model)


def pruning_callbacks() -> List[keras.callbacks.Callback]:
  return [tfmot.sparsity.keras.UpdatePruningStep()]


# --- Prune-preserving QAT --------------------------------------------------------


def quantize_aware(model: keras.Model) -> keras.Model:
  """Annotates Dense layers and applies the prune-preserving 8-bit scheme.

  The default 8-bit scheme has no Embedding support; embeddings are quantized by
  the TFLite converter instead.
  """

  def annotate(layer):
    if isinstance(layer, keras.layers.Dense):
      return tfmot.quantization.keras.quantize_annotate_layer(layer)
    return layer

  annotated = keras.models.clone_model(model, clone_function=annotate)
  with tfmot.quantization.keras.quantize_scope({"IdDropout": IdDropout,
                                                "MaskedMeanPooling": MaskedMeanPooling}):
    quantized = tfmot.quantization.keras.quantize_apply(
        annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
  # The scheme keeps zeros only in the layers it wraps (Dense); frozen embeddings keep
  # their pruned zeros through the QAT fine-tune.
  for layer in quantized.layers:
    if isinstance(layer, keras.layers.Embedding):
      layer.trainable = False
  return quantized


# --- Measuring sparsity ------------------------------------------------------------


def kernel_weights(model: keras.Model) -> Dict[str, np.ndarray]:
  """Embedding tables and Dense kernels by layer name, unwrapping pruning/QAT wrappers.

  A QAT wrapper replaces the inner layer's `kernel` attribute by a fake-quantized
  tensor, so the variables are read from the wrapper's weights by name.
  """
  result = {}
  for layer in model.layers:
    inner = getattr(layer, "layer", layer)
    if not isinstance(inner, (keras.layers.Embedding, keras.layers.Dense)):
      continue
    wanted = "embeddings" if isinstance(inner, keras.layers.Embedding) else "kernel"
    for variable in layer.weights:
      if variable.name.split("/")[-1].split(":")[0] == wanted:
        result[inner.name] = variable.numpy()
        break
  return result


def sparsity_report(weights: Dict[str, np.ndarray]) -> Dict[str, object]:
  """Share of exact zeros per layer and overall (over all listed weights)."""
  per_layer = {name: float(np.mean(w == 0)) for name, w in weights.items()}
  total = sum(w.size for w in weights.values())
  zeros = sum(int(np.sum(w == 0)) for w in weights.values())
  return {"overall": zeros / total if total else 0.0, "per_layer": per_layer,
          "weights": int(total)}


# --- The whole schedule ------------------------------------------------------------


def distill(model: keras.Model, train: tf.data.Dataset, evaluation: tf.data.Dataset,
            config, training_config, log_dir: str, steps_per_epoch: int):
  """KD training to early stop, then pruning fine-tune, then prune-preserving QAT.

  config: models.hparams.DistillationConfig. Returns (final model, stages) where
  stages records each stage's epochs, eval AUC and measured sparsity.
  """
  from models import training  # pylint: disable=g-import-not-at-top
  stages = {}
  compile_student(model, training_config.learning_rate, config.alpha, config.temperature)
  history = training.fit(model, train, evaluation, training_config,
                         os.path.join(log_dir, "distill"), "student")
  stages["distill"] = {"epochs": len(history.history["loss"]),
                       "best_eval_auc": float(max(history.history["val_auc"]))}

  if config.prune:
    end_step = steps_per_epoch * config.pruning_ramp_epochs
    pruned = prune(model, config.target_sparsity, end_step, config.pruning_frequency_steps)
    compile_student(pruned, config.pruning_learning_rate, config.alpha, config.temperature)
    # Epochs are compared, and the best one kept, only from the ramp's last epoch on,
    # when the sparsity has reached its target: earlier ones are denser, hence better.
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_auc", mode="max", patience=config.pruning_early_stopping_patience,
        restore_best_weights=True, start_from_epoch=config.pruning_ramp_epochs - 1)
    history = pruned.fit(train, validation_data=evaluation, epochs=config.pruning_epochs,
                         callbacks=pruning_callbacks() + [
                             stopper, training.EpochLog("student pruning"),
                             keras.callbacks.TensorBoard(os.path.join(log_dir, "prune"))],
                         verbose=0)
    model = strip_pruning(pruned)
    stages["prune"] = {"epochs": len(history.history["loss"]),
                       "best_epoch": stopper.best_epoch + 1,
                       "eval_auc": float(history.history["val_auc"][stopper.best_epoch]),
                       "sparsity": sparsity_report(kernel_weights(model))["overall"]}
    logging.info("student pruned: %s", stages["prune"])

  if config.qat:
    model = quantize_aware(model)
    compile_student(model, config.qat_learning_rate, config.alpha, config.temperature)
    history = model.fit(train, validation_data=evaluation, epochs=config.qat_epochs,
                        callbacks=[training.EpochLog("student QAT"),
                                   keras.callbacks.TensorBoard(os.path.join(log_dir, "qat"))],
                        verbose=0)
    stages["qat"] = {"epochs": config.qat_epochs,
                     "eval_auc": float(history.history["val_auc"][-1]),
                     "sparsity": sparsity_report(kernel_weights(model))["overall"]}
    logging.info("student after prune-preserving QAT: %s", stages["qat"])
  return model, stages


def saved_model_weights(saved_model_dir: str) -> Dict[str, np.ndarray]:
  """Embedding tables and Dense kernels as stored in an exported SavedModel (by variable name)."""
  loaded = tf.saved_model.load(saved_model_dir)
  weights = {}
  for variable in loaded.variables:
    name = variable.name.split(":")[0]
    if name.endswith("/embeddings") or name.endswith("/kernel"):
      weights[name] = variable.numpy()
  return weights
