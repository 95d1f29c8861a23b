"""Knowledge distillation, magnitude pruning and prune-preserving QAT for the student.

The student trains on targets packed as [label, teacher logit] (the teacher's
logits are computed in the input pipeline, batch by batch, teacher frozen):

  loss = alpha * BCE(label, sigmoid(z_s))
         + (1 - alpha) * T^2 * BCE(sigmoid(z_t / T), sigmoid(z_s / T))

T^2 keeps the soft term's gradients on the scale of the hard term's as T grows.
"""

import logging
import os
from typing import Callable, Dict, List, Optional

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
          frequency: int, initial_sparsity: float = 0.0) -> keras.Model:
  """Wraps every Embedding and Dense layer with prune_low_magnitude (PolynomialDecay
  initial_sparsity -> target over end_step steps)."""
  schedule = tfmot.sparsity.keras.PolynomialDecay(
      initial_sparsity=initial_sparsity, final_sparsity=target_sparsity, begin_step=0,
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
  the TFLite converter instead. (Annotating the student's Add and ReLU layers too was
  measured: no change in int8 vs float fidelity.)
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


def choose_step(curve: List[Dict], reference_auc: float, reference_gauc: float,
                max_drop: float):
  """(index, decision): the sparsest step whose eval AUC and GAUC (of users known to
  training) are both within max_drop of the teacher's (reference_*); when none is, the
  densest step, and the decision says so. A NaN reference GAUC is not checked."""
  if not curve:
    raise ValueError("no pruning step to choose from")

  def within(step):
    gauc_ok = reference_gauc != reference_gauc or (
        reference_gauc - step["eval_gauc_known_users"] <= max_drop)
    return reference_auc - step["eval_auc"] <= max_drop and gauc_ok

  candidates = [i for i, step in enumerate(curve) if within(step)]
  teacher = f"the teacher's eval AUC {reference_auc:.4f} and GAUC {reference_gauc:.4f}"
  if candidates:
    best = max(candidates, key=lambda i: curve[i]["sparsity"])
    return best, (f"sparsity {curve[best]['sparsity']:.2f}: the sparsest step within "
                  f"{max_drop} of {teacher}")
  densest = min(range(len(curve)), key=lambda i: curve[i]["sparsity"])
  return densest, (f"no step within {max_drop} of {teacher} (best step AUC "
                   f"{max(s['eval_auc'] for s in curve):.4f}): kept the densest, sparsity "
                   f"{curve[densest]['sparsity']:.2f}")


def evaluate_packed(model: keras.Model, evaluation: tf.data.Dataset, user_oov_id: int):
  """models.metrics.EvalMetrics of `model` on batches of (features, [label, teacher logit])."""
  from models import features, metrics  # pylint: disable=g-import-not-at-top
  labels, logits, users = [], [], []
  for batch, targets in evaluation:
    logits.append(np.asarray(model(batch, training=False)).reshape(-1))
    labels.append(targets[:, 0].numpy())
    users.append(batch[features.USER_INDEX].numpy().reshape(-1))
  users = np.concatenate(users)
  return metrics.evaluate_logits(np.concatenate(labels), np.concatenate(logits), users,
                                 users < user_oov_id)


def prune_to_budget(model: keras.Model, train: tf.data.Dataset, evaluation: tf.data.Dataset,
                    config, log_dir: str, steps_per_epoch: int, reference,
                    user_oov_id: int, measure: Optional[Callable[[keras.Model], Dict]] = None):
  """Prunes in rising steps (config.sparsity_steps), a short fine-tune after each, and keeps
  the sparsest step whose eval AUC and GAUC are within config.max_auc_drop of the
  teacher's (`reference`, models.metrics.EvalMetrics).

  Each step starts from the previous one's weights: sparsity ramps from the previous
  target to the next over pruning_ramp_epochs, then fine-tuning at the target goes on
  until eval AUC stops improving (pruning_early_stopping_patience, at most
  pruning_epochs), keeping the best epoch at the target. `measure(model)` adds sizes
  (e.g. int8 bytes) to a step's curve entry. Returns (stripped model, stage report
  with the whole curve and the decision).
  """
  from models import training  # pylint: disable=g-import-not-at-top
  curve, snapshots = [], []
  previous = 0.0
  current = model
  for target in config.sparsity_steps:
    pruned = prune(current, target, steps_per_epoch * config.pruning_ramp_epochs,
                   config.pruning_frequency_steps, initial_sparsity=previous)
    compile_student(pruned, config.pruning_learning_rate, config.alpha, config.temperature)
    # Epochs are compared, and the best one kept, only from the ramp's last epoch on,
    # when the sparsity has reached its target: earlier ones are denser, hence better.
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_auc", mode="max", patience=config.pruning_early_stopping_patience,
        restore_best_weights=True, start_from_epoch=config.pruning_ramp_epochs - 1)
    history = pruned.fit(train, validation_data=evaluation, epochs=config.pruning_epochs,
                         callbacks=pruning_callbacks() + [
                             stopper, training.EpochLog(f"student pruning to {target:.2f}"),
                             keras.callbacks.TensorBoard(
                                 os.path.join(log_dir, f"prune_{target:.2f}"))],
                         verbose=0)
    current = strip_pruning(pruned)
    figures = evaluate_packed(current, evaluation, user_oov_id)
    step = {"target": float(target), "epochs": len(history.history["loss"]),
            "best_epoch": stopper.best_epoch + 1, "eval_auc": figures.auc,
            "eval_gauc_known_users": figures.gauc_known_users,
            "sparsity": sparsity_report(kernel_weights(current))["overall"]}
    if measure:
      step.update(measure(current))
    logging.info("student pruned: %s", step)
    curve.append(step)
    snapshots.append(current.get_weights())
    previous = target
  chosen, decision = choose_step(curve, reference.auc, reference.gauc_known_users,
                                 config.max_auc_drop)
  current.set_weights(snapshots[chosen])
  logging.info("student pruning: %s", decision)
  return current, {**curve[chosen], "chosen_step": chosen, "decision": decision,
                   "curve": curve}


def distill(model: keras.Model, train: tf.data.Dataset, evaluation: tf.data.Dataset,
            config, training_config, log_dir: str, steps_per_epoch: int, reference,
            user_oov_id: int, measure: Optional[Callable[[keras.Model], Dict]] = None):
  """KD training to early stop, then budget-driven pruning, then prune-preserving QAT.

  config: models.hparams.DistillationConfig; reference: the teacher's eval figures
  (models.metrics.EvalMetrics), the pruning budget's reference. Returns (final model, stages) where stages records
  each stage's epochs, eval AUC and measured sparsity (and pruning's whole curve).
  """
  from models import training  # pylint: disable=g-import-not-at-top
  stages = {}
  compile_student(model, training_config.learning_rate, config.alpha, config.temperature)
  history = training.fit(model, train, evaluation, training_config,
                         os.path.join(log_dir, "distill"), "student")
  stages["distill"] = {"epochs": len(history.history["loss"]),
                       "best_eval_auc": float(max(history.history["val_auc"]))}

  if config.prune:
    model, stages["prune"] = prune_to_budget(model, train, evaluation, config, log_dir,
                                             steps_per_epoch, reference, user_oov_id, measure)

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
