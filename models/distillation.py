"""Knowledge distillation, magnitude pruning and prune-preserving QAT for the student.

The student trains on targets packed as [label, teacher logit] (the teacher's
logits are computed in the input pipeline, batch by batch, teacher frozen):

  loss = alpha * BCE(label, sigmoid(z_s))
         + (1 - alpha) * T^2 * BCE(sigmoid(z_t / T), sigmoid(z_s / T))

T^2 keeps the soft term's gradients on the scale of the hard term's as T grows.
With pair_weight > 0 and transfer rows, a batch is train rows followed by their transfer
partners (the same user, another item; `transfer_pairs` finds them for
`inputs.shuffled_pair_batches`) and each pair adds

  pair_weight * T^2 * BCE(sigmoid((z_t - z_t') / T), sigmoid((z_s - z_s') / T))

(`pair_loss`): how much more the teacher likes the user's item than the other, what a
per-user ranking (GAUC) measures, rather than each score alone.
With hints (feature-level distillation, `HintDistiller`), the teacher's user, item and
history vectors (`TeacherVectors`, from its embedding tables, for each batch's ids) are
targets too: the dense student's training adds hint_weight * hint_loss.
"""

import logging
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras
# The wrapper prune_low_magnitude returns (not exported by tfmot.sparsity.keras).
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import \
    PruneLowMagnitude

from models import inputs
from models.features import HISTORY_INDEX, ITEM_INDEX, USER_INDEX
from models.layers import IdDropout, MaskedMeanPooling, RowDot


def distillation_loss(labels, teacher_logits, student_logits, alpha: float,
                      temperature: float, pair_weight: float = 0.0) -> tf.Tensor:
  """Per-example KD loss (see module docstring); all arguments [batch] or [batch, 1]."""
  labels = tf.reshape(tf.cast(labels, tf.float32), [-1])
  teacher_logits = tf.reshape(tf.cast(teacher_logits, tf.float32), [-1])
  student_logits = tf.reshape(tf.cast(student_logits, tf.float32), [-1])
  hard = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=student_logits)
  soft_targets = tf.sigmoid(teacher_logits / temperature)
  soft = tf.nn.sigmoid_cross_entropy_with_logits(labels=soft_targets,
                                                 logits=student_logits / temperature)
  loss = alpha * hard + (1.0 - alpha) * temperature ** 2 * soft
  if pair_weight:
    loss += pair_weight * pair_loss(labels, teacher_logits, student_logits, temperature)
  return loss


def is_hard_label(labels: tf.Tensor) -> tf.Tensor:
  """True where a label is 0 or 1: an observed row's, not a transfer row's (the teacher's
  probability)."""
  return tf.logical_or(tf.equal(labels, 0.0), tf.equal(labels, 1.0))


def pair_loss(labels, teacher_logits, student_logits, temperature: float) -> tf.Tensor:
  """Per-example pairwise KD term of a batch laid out as `inputs.shuffled_pair_batches` lays
  it out: rows [0, n) observed, rows [n, 2n) their transfer partners (row i + n has row
  i's user and another item). Pair i's loss, T^2 * BCE(sigmoid(dz_t / T), sigmoid(dz_s / T)) with
  dz the logit of row i minus that of row i + n, goes to row i; other rows get 0. A pair
  counts only if row i is labelled 0 or 1 and row i + n is a transfer row, so a batch laid
  out otherwise (the eval split's: no transfer rows) adds nothing. Arguments [batch]."""
  half = tf.shape(labels)[0] // 2
  valid = tf.logical_and(is_hard_label(labels[:half]),
                         tf.logical_not(is_hard_label(labels[half:2 * half])))
  teacher_gap = (teacher_logits[:half] - teacher_logits[half:2 * half]) / temperature
  student_gap = (student_logits[:half] - student_logits[half:2 * half]) / temperature
  pairs = temperature ** 2 * tf.nn.sigmoid_cross_entropy_with_logits(
      labels=tf.sigmoid(teacher_gap), logits=student_gap)
  pairs = tf.where(valid, pairs, tf.zeros_like(pairs))
  return tf.concat([pairs, tf.zeros([tf.shape(labels)[0] - half])], axis=0)


@keras.utils.register_keras_serializable(package="distillrec")
class DistillationLoss(keras.losses.Loss):
  """Keras loss on y_true = [label, teacher logit] and y_pred = student logits."""

  def __init__(self, alpha: float, temperature: float, pair_weight: float = 0.0,
               name: str = "distillation", **kwargs):
    super().__init__(name=name, **kwargs)
    self.alpha = float(alpha)
    self.temperature = float(temperature)
    self.pair_weight = float(pair_weight)

  def call(self, y_true, y_pred):
    return distillation_loss(y_true[:, 0], y_true[:, 1], y_pred, self.alpha, self.temperature,
                             self.pair_weight)

  def get_config(self):
    return {**super().get_config(), "alpha": self.alpha, "temperature": self.temperature,
            "pair_weight": self.pair_weight}


class LabelAUC(keras.metrics.AUC):
  """AUC of the student's logits against the hard label (column 0 of packed targets).

  Only rows labelled 0 or 1 count: a transfer row's label is the teacher's probability
  (`with_transfer_rows`), which AUC would take for a positive.
  """

  def update_state(self, y_true, y_pred, sample_weight=None):
    labels = y_true[:, :1]
    hard = tf.cast(is_hard_label(labels), tf.float32)
    if sample_weight is not None:
      hard *= tf.reshape(tf.cast(sample_weight, tf.float32), tf.shape(hard))
    return super().update_state(labels, y_pred, hard)


def hint_loss(student_vectors: Dict[str, tf.Tensor],
              teacher_vectors: Dict[str, tf.Tensor]) -> tf.Tensor:
  """Mean over the named vectors of the relative squared error between the student's
  (already projected to the teacher's width) and the teacher's, sum ||s - t||^2 / sum ||t||^2
  over the batch: 0 exactly when they match, 1 for a projection that outputs zeros,
  whatever the scale of the teacher's vectors (L2-regularized embeddings are small, so a
  plain mean squared error would be ~1e-3 and the hint weight meaningless).

  Only the names both sides have count (a matrix-factorization teacher has no history).
  """
  names = sorted(set(student_vectors) & set(teacher_vectors))
  if not names:
    raise ValueError(f"no vector in common: student {sorted(student_vectors)}, teacher "
                     f"{sorted(teacher_vectors)}")
  terms = []
  for name in names:
    teacher = tf.cast(teacher_vectors[name], tf.float32)
    error = tf.reduce_sum(tf.square(tf.cast(student_vectors[name], tf.float32) - teacher))
    terms.append(error / (tf.reduce_sum(tf.square(teacher)) + 1e-12))
  return tf.add_n(terms) / float(len(names))


class TeacherVectors:
  """The frozen teacher's user, item and history vectors as functions of the ids, from its
  two embedding tables: a user's row, an item's row, and the masked mean of the history's
  item rows (the teacher embeds the history with its item table: models.teacher.
  embed_features). `HintDistiller` computes them in each training step from the batch's
  ids, so a train row keeps only [label, logit] in memory, not the 194 floats of the DCN
  teacher's three 64-wide vectors: at 1e6 interactions those per-row copies (in the
  arrays and in tf.data's copy of them) took the DistillationTrainer's peak from 3.6 to
  5.3-5.5 GB. Inside the step they cost no measurable time (a student step on 2048 rows:
  18.4 ms with them from the tables, 18.4 ms read from target columns); a tf.data map
  computing them before the step added 7-17 ms a batch.

  `from_teacher` reads the tables off the teacher's `transformed_logits` signature (every
  user's and every item's vector) and checks the formulas against the signature's own
  vectors on a batch, so a teacher whose vectors are not these functions of its tables
  fails there rather than teaching wrong hints.
  """

  # Each vector: (the table it looks up, the id input it reads, pooled over a list or not).
  SOURCES = {"user": ("user", USER_INDEX, False), "item": ("item", ITEM_INDEX, False),
             "history": ("item", HISTORY_INDEX, True)}

  def __init__(self, tables: Dict[str, np.ndarray], names: Sequence[str], history_length: int):
    unknown = sorted(set(names) - set(self.SOURCES))
    if unknown:
      raise ValueError(f"no table gives the teacher's {unknown} vectors (known: "
                       f"{sorted(self.SOURCES)})")
    self.names = list(names)
    self.tables = {name: tf.constant(table, tf.float32) for name, table in tables.items()}
    self.pooling = MaskedMeanPooling(history_length)

  @property
  def widths(self) -> Dict[str, int]:
    """Each vector's width, in `names` order."""
    return {name: int(self.tables[self.SOURCES[name][0]].shape[-1]) for name in self.names}

  @classmethod
  def from_teacher(cls, teacher_fn, sizes: inputs.InputSizes, names: Sequence[str],
                   check_batch: Optional[Dict[str, tf.Tensor]] = None,
                   tolerance: float = 1e-5, chunk_rows: int = 1 << 16) -> "TeacherVectors":
    """teacher_fn: the transformed (int64) batch -> the teacher's outputs ({"logit",
    "<name>_vector"}); check_batch: transformed features on which the tables' vectors must
    equal teacher_fn's within `tolerance` (relative to the largest). The teacher runs on
    max(users, items) rows, every id once, in batches of at most `chunk_rows` (a million
    users' probe in one batch would hold all their features and the teacher's activations
    at once)."""
    rows = max(sizes.users, sizes.items)
    signature = inputs.input_signature(sizes)
    parts: Dict[str, List[np.ndarray]] = {}
    for start in range(0, rows, chunk_rows):
      index = tf.range(start, min(start + chunk_rows, rows), dtype=tf.int64)
      probe = {name: tf.zeros([len(index)] + list(spec.shape[1:]), spec.dtype)
               for name, spec in signature.items()}
      probe[USER_INDEX] = tf.minimum(index, sizes.users - 1)
      probe[ITEM_INDEX] = tf.minimum(index, sizes.items - 1)
      outputs = teacher_fn(probe)
      for table in ("user", "item"):
        if f"{table}_vector" in outputs:
          parts.setdefault(table, []).append(np.asarray(outputs[f"{table}_vector"]))
    counts = {"user": sizes.users, "item": sizes.items}
    tables = {table: np.concatenate(chunks)[:counts[table]] for table, chunks in parts.items()}
    missing = sorted({cls.SOURCES[name][0] for name in names if name in cls.SOURCES}
                     - set(tables))
    if missing:
      raise ValueError(f"the teacher's {names} vectors need its {missing} table(s), but its "
                       f"outputs have no {[f'{t}_vector' for t in missing]}")
    vectors = cls(tables, names, sizes.history_length)
    if check_batch is not None:
      vectors.check(teacher_fn, check_batch, tolerance)
    return vectors

  def __call__(self, batch: Dict[str, tf.Tensor],
               names: Optional[Sequence[str]] = None) -> Dict[str, tf.Tensor]:
    """{name: [rows, width]} for a batch of (transformed or student) features: the vectors
    in `names` (default: all of this object's)."""
    vectors = {}
    for name in self.names if names is None else names:
      table, key, pooled = self.SOURCES[name]
      ids = batch[key]
      looked_up = tf.gather(self.tables[table], ids)
      vectors[name] = (self.pooling([looked_up, ids]) if pooled
                       else tf.reshape(looked_up, [-1, looked_up.shape[-1]]))
    return vectors

  def check(self, teacher_fn, batch: Dict[str, tf.Tensor], tolerance: float = 1e-5) -> None:
    """Raises unless these vectors equal teacher_fn's on `batch` (transformed features)."""
    outputs = teacher_fn(batch)
    for name, vector in self(batch).items():
      expected = np.asarray(outputs[f"{name}_vector"]).reshape(np.shape(vector))
      error = float(np.max(np.abs(np.asarray(vector) - expected), initial=0.0))
      scale = float(np.max(np.abs(expected), initial=0.0))
      if error > tolerance * max(scale, 1e-12):
        raise ValueError(f"the teacher's {name} vectors are not what its tables give: they "
                         f"differ by up to {error:.3g} (largest {scale:.3g}) on a check batch "
                         f"of {len(expected)} rows")


class HintDistiller(keras.Model):
  """Trains `student` on its compiled (KD) loss + weight * hint_loss of its vectors.

  The student's user, item and history vectors (models.teacher.vector_outputs) each go
  through a learned Dense projection to the teacher's width; the teacher's vectors for the
  same batch come from its tables (`TeacherVectors`). The projections exist only for
  training: the student itself (`self.student`, whose weights this trains) is unchanged,
  and calling this model calls it. Evaluation reports the hint loss too (val_hint_loss);
  early stopping reads val_auc as for the plain student.
  """

  def __init__(self, student: keras.Model, teacher_vectors: TeacherVectors, weight: float,
               **kwargs):
    super().__init__(name="hint_distiller", **kwargs)
    from models.teacher import vector_outputs  # pylint: disable=g-import-not-at-top
    vectors = vector_outputs(student)
    self.student = student
    self.teacher_vectors = teacher_vectors
    self.weight = float(weight)
    widths = teacher_vectors.widths
    self.names = [name for name in widths if name in vectors]
    if not self.names:
      raise ValueError(f"hints need a vector both models have: student {sorted(vectors)}, "
                       f"teacher {sorted(widths)}")
    self.with_vectors = keras.Model(student.inputs,
                                    [student.output] + [vectors[name] for name in self.names])
    self.projections = [keras.layers.Dense(widths[name], name=f"hint_projection_{name}")
                        for name in self.names]
    self.hint_tracker = keras.metrics.Mean(name="hint_loss")

  @property
  def metrics(self):
    return super().metrics + [self.hint_tracker]

  def call(self, inputs, training=None):
    return self.student(inputs, training=training)

  def _forward(self, inputs, targets, training: bool):
    logits, *vectors = self.with_vectors(inputs, training=training)
    loss = self.compiled_loss(targets, logits, regularization_losses=self.losses)
    projected = {name: projection(vector) for name, projection, vector
                 in zip(self.names, self.projections, vectors)}
    # The batch's ids as given (the student's IdDropout acts inside it): the teacher's
    # vectors of the real user, or of the OOV user where drop_user_ids dropped it.
    return logits, loss, hint_loss(projected, self.teacher_vectors(inputs, self.names))

  def train_step(self, data):
    inputs, targets = data
    with tf.GradientTape() as tape:
      logits, loss, hint = self._forward(inputs, targets, training=True)
      total = loss + self.weight * hint
    variables = self.trainable_variables
    self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
    return self._update_metrics(targets, logits, hint)

  def test_step(self, data):
    inputs, targets = data
    logits, _, hint = self._forward(inputs, targets, training=False)
    return self._update_metrics(targets, logits, hint)

  def _update_metrics(self, targets, logits, hint):
    self.compiled_metrics.update_state(targets, logits)
    self.hint_tracker.update_state(hint)
    return {metric.name: metric.result() for metric in self.metrics}


def with_teacher_logits(dataset: tf.data.Dataset, teacher_fn, cast_fn,
                        cold_start: Optional[Tuple[str, int]] = None,
                        label_from_teacher: bool = False) -> tf.data.Dataset:
  """(features, label) -> (student features, [label, teacher logit]) per batch.

  teacher_fn maps the transformed (int64) batch to the teacher's outputs ({"logit", ...});
  cast_fn turns the batch into the student's inputs. label_from_teacher: the label column
  holds the teacher's probability, sigmoid(logit), for rows that have no label of their
  own (`with_transfer_rows`). The teacher's vectors (hints) are not kept per row:
  `HintDistiller` computes them from the teacher's tables (`TeacherVectors`).

  cold_start: (the user id feature, its OOV id). The targets then end with the teacher's
  logit for the same rows with the user id replaced by the OOV id: what the teacher says
  of a row whose user it has never seen (a new user's, at serving). `drop_user_ids` swaps
  it in for the rows it drops.
  """

  def add(batch, label):
    logit = tf.reshape(teacher_fn(batch)["logit"], [-1, 1])
    label = tf.sigmoid(logit) if label_from_teacher else tf.cast(label, tf.float32)
    columns = [tf.reshape(label, [-1, 1]), logit]
    if cold_start is not None:
      key, oov_id = cold_start
      users = batch[key]
      cold = teacher_fn(dict(batch, **{key: tf.fill(tf.shape(users),
                                                    tf.cast(oov_id, users.dtype))}))
      columns.append(tf.reshape(cold["logit"], [-1, 1]))
    return cast_fn(batch), tf.concat(columns, axis=1)

  return dataset.map(add, num_parallel_calls=1).prefetch(tf.data.AUTOTUNE)


def swap_candidates(features: Dict[str, tf.Tensor], keys: Sequence[str],
                    seed: int) -> Dict[str, tf.Tensor]:
  """`features` with the candidate item's columns (`keys`) of every row taken from another
  row by one seeded permutation of the rows: each row keeps its user and context and gets
  an item of the same rows, so items come at their frequency there."""
  order = tf.constant(np.random.default_rng(seed).permutation(len(features[keys[0]])))
  return {name: tf.gather(values, order) if name in keys else values
          for name, values in features.items()}


def with_transfer_rows(arrays, candidate_keys: Sequence[str], copies: int, batch_size: int,
                       seed: int, add_targets) -> tf.data.Dataset:
  """The batches of in-memory (features, labels) `arrays` in order, each followed by
  `copies` batches of the same rows with their candidate items swapped
  (`swap_candidates`, seeds seed + 1, seed + 2, ...): a transfer set, on which the student
  learns what the teacher says of items these users did not interact with.

  add_targets(batches, label_from_teacher) adds the targets (`with_teacher_logits`); a
  transfer row has no label of its own, so its label column is the teacher's probability
  and both terms of the distillation loss follow the teacher there. Interleaved batch by
  batch, the layout `transfer_pairs` reads each row's partner from.
  """
  datasets = [add_targets(inputs.ordered_batches(arrays, batch_size), False)]
  features, labels = arrays
  for copy in range(copies):
    swapped = swap_candidates(features, candidate_keys, seed + 1 + copy)
    datasets.append(add_targets(inputs.ordered_batches((swapped, labels), batch_size), True))
  if not copies:
    return datasets[0]
  batches = -(-len(labels) // batch_size)
  order = tf.data.Dataset.range(len(datasets)).repeat(batches)
  return tf.data.Dataset.choose_from_datasets(datasets, order)


def transfer_pairs(rows: int, batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
  """Where `with_transfer_rows` (one copy, batches of batch_size) put each of `rows` train
  rows and its transfer partner: (positions of the train rows, positions of their
  partners), in train row order. Its layout: each batch of train rows, then the same
  rows with their items swapped."""
  row = np.arange(rows, dtype=np.int64)
  batch, offset = row // batch_size, row % batch_size
  size = np.minimum(batch_size, rows - batch * batch_size)
  first = 2 * batch * batch_size + offset
  return first, first + size


def drop_user_ids(dataset: tf.data.Dataset, rate: float, key: str, oov_id: int,
                  seed: int) -> tf.data.Dataset:
  """The student's user-id dropout, done on its training batches (from
  `with_teacher_logits(..., cold_start=(key, oov_id))`) rather than in the model: each row's
  user id becomes the OOV id with probability `rate`, and that row's teacher logit becomes
  the teacher's for the OOV user, so a dropped row teaches the student what the teacher
  does with a user it has never seen, not what it does knowing the user. Returns batches
  of (features, [label, logit]). (Hints, computed from these batches' ids, read the
  dropped ids too: the OOV user's vector.)
  """

  def drop(features, targets):
    users = features[key]
    dropped = tf.random.uniform(tf.shape(users)[:1], seed=seed) < rate
    features = dict(features)
    features[key] = tf.where(tf.reshape(dropped, [-1] + [1] * (len(users.shape) - 1)),
                             tf.cast(oov_id, users.dtype), users)
    logit = tf.where(dropped[:, None], targets[:, 2:3], targets[:, 1:2])
    return features, tf.concat([targets[:, :1], logit], axis=1)

  return dataset.map(drop, num_parallel_calls=1)


def compile_student(model: keras.Model, learning_rate: float, alpha: float,
                    temperature: float, pair_weight: float = 0.0,
                    steps_per_execution: int = 1) -> None:
  model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                loss=DistillationLoss(alpha, temperature, pair_weight),
                metrics=[LabelAUC(from_logits=True, name="auc")],
                steps_per_execution=steps_per_execution)


# --- Pruning -----------------------------------------------------------------------


# What pruning wraps (DistillationConfig.pruned_layers): every embedding table and Dense
# kernel, or the embedding tables only (over 90% of the student's weights). Measured on the
# default data at 50%: 0.8319 eval AUC pruning all, 0.8309 the tables only.
PRUNED_LAYERS = {"all": (keras.layers.Embedding, keras.layers.Dense),
                 "embeddings": (keras.layers.Embedding,)}


class SteppedPolynomialDecay(tfmot.sparsity.keras.PolynomialDecay):
  """PolynomialDecay from step 0 whose initial and final sparsity are variables, so one wrapped
  model, its training step traced once, serves every step of the budget search
  (`retarget` sets the next step's between fits). The same float32 arithmetic as
  PolynomialDecay given those sparsities as numbers."""

  def __init__(self, initial_sparsity: float, final_sparsity: float, end_step: int,
               frequency: int):
    super().__init__(initial_sparsity, final_sparsity, begin_step=0, end_step=end_step,
                     frequency=frequency)
    # PolynomialDecay multiplies by (initial - final), a Python float made float32.
    self._span = tf.Variable(initial_sparsity - final_sparsity, dtype=tf.float32,
                             trainable=False, name="pruning_sparsity_span")
    self._final = tf.Variable(final_sparsity, dtype=tf.float32, trainable=False,
                              name="pruning_final_sparsity")

  def set_sparsity(self, initial_sparsity: float, final_sparsity: float) -> None:
    self._validate_sparsity(initial_sparsity, "initial_sparsity")
    self._validate_sparsity(final_sparsity, "final_sparsity")
    self.initial_sparsity, self.final_sparsity = initial_sparsity, final_sparsity
    self._span.assign(initial_sparsity - final_sparsity)
    self._final.assign(final_sparsity)

  def __call__(self, step):
    with tf.name_scope("polynomial_decay_pruning_schedule"):
      done = tf.math.minimum(1.0, tf.math.maximum(0.0, tf.math.divide(
          tf.dtypes.cast(step - self.begin_step, tf.float32), self.end_step - self.begin_step)))
      sparsity = tf.math.add(tf.math.multiply(self._span, tf.math.pow(1 - done, self.power)),
                             self._final, name="sparsity")
    return (self._should_prune_in_step(step, self.begin_step, self.end_step, self.frequency),
            sparsity)


def prune(model: keras.Model, target_sparsity: float, end_step: int,
          frequency: int, initial_sparsity: float = 0.0, layers: str = "all") -> keras.Model:
  """Wraps the Embedding and Dense layers (PRUNED_LAYERS[layers]) with prune_low_magnitude
  (polynomial decay initial_sparsity -> target over end_step steps, SteppedPolynomialDecay:
  `retarget` readies it for another step)."""
  kinds = PRUNED_LAYERS[layers]
  end_step, frequency = ramp_steps(end_step, frequency)
  schedule = SteppedPolynomialDecay(initial_sparsity, target_sparsity, end_step, frequency)

  def wrap(layer):
    if isinstance(layer, kinds):
      return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
    return layer  # reused as is: trained weights carry over

  return keras.models.clone_model(model, clone_function=wrap)


def retarget(pruned: keras.Model, initial_sparsity: float, target_sparsity: float) -> None:
  """Readies a model `prune` wrapped and `compile_student` compiled, after a fit, for the next
  step of a ramp as `prune(strip_pruning(pruned), target_sparsity, ..., initial_sparsity)`
  and a new compile would, without tracing its training again (~15 s a step on 2 cores):
  the schedule's sparsities; each wrapper's masks (all ones), thresholds (zero) and step
  (-1, before the first) as `prune` builds them; the optimizer's iterations and slots at
  zero, as a new one starts. The weights, masked by the last fit, carry over."""
  wrappers = [layer for layer in pruned.layers if isinstance(layer, PruneLowMagnitude)]
  if not wrappers:
    raise ValueError(f"retarget: {pruned.name} has no layer wrapped by prune()")
  for schedule in {id(w.pruning_schedule): w.pruning_schedule for w in wrappers}.values():
    if not isinstance(schedule, SteppedPolynomialDecay):
      raise ValueError(f"retarget: a {type(schedule).__name__} schedule; prune() builds "
                       f"SteppedPolynomialDecay")
    schedule.set_sparsity(initial_sparsity, target_sparsity)
  for wrapper in wrappers:
    for _, mask, threshold in wrapper.pruning_vars:
      mask.assign(tf.ones_like(mask))
      threshold.assign(tf.zeros_like(threshold))
    wrapper.pruning_step.assign(-1)
  for variable in pruned.optimizer.variables:
    variable.assign(tf.zeros_like(variable))


def ramp_steps(end_step: int, frequency: int) -> Tuple[int, int]:
  """(end_step, frequency) of a pruning ramp whose last mask update lands on its target.

  PolynomialDecay updates the masks only at multiples of `frequency` up to end_step: with
  end_step = 117 and frequency 50 (3 epochs of 39 steps) the last update is at step 100,
  below the target sparsity, and none follows. The ramp ends instead at the last multiple
  of frequency (never later than asked); a ramp shorter than frequency updates every step.
  """
  end_step, frequency = max(end_step, 1), max(frequency, 1)
  if end_step < frequency:
    return end_step, 1
  return end_step // frequency * frequency, frequency


def strip_pruning(model: keras.Model) -> keras.Model:
  return tfmot.sparsity.keras.strip_pruning(model)


def pruning_callbacks() -> List[keras.callbacks.Callback]:
  return [tfmot.sparsity.keras.UpdatePruningStep()]


# --- Prune-preserving QAT --------------------------------------------------------


class OutputQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
  """Fake-quantizes a weightless layer's output only: QAT learns the int8 range of the
  student's dot products, which the converter otherwise takes from calibration rows.

  Also needed, not only useful: TF-MOT's prune-preserving registry claims to support a
  RowDot (or Dot) layer feeding an annotated Dense, then fails to quantize its output.
  """

  def get_weights_and_quantizers(self, layer):
    return []

  def get_activations_and_quantizers(self, layer):
    return []

  def set_quantize_weights(self, layer, quantize_weights):
    # get_weights_and_quantizers returns none, so TF-MOT hands back none to set.
    if quantize_weights:
      raise ValueError(f"{layer.name}: an output-only quantize config has no weights to set")

  def set_quantize_activations(self, layer, quantize_activations):
    if quantize_activations:
      raise ValueError(f"{layer.name}: an output-only quantize config has no activations "
                       "to set")

  def get_output_quantizers(self, layer):
    return [tfmot.quantization.keras.quantizers.MovingAverageQuantizer(
        num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

  def get_config(self):
    return {}


# Weightless layers whose outputs feed Dense layers directly in the student: their outputs
# are fake-quantized (OutputQuantizeConfig). Embeddings are not annotated (the 8-bit
# scheme has no Embedding support, and annotating a layer fed by integer ids puts a
# fake-quantizer on the ids): the converter quantizes the tables.
OUTPUT_QUANTIZED = (RowDot,)


def quantize_aware(model: keras.Model, calibration: Optional[tf.data.Dataset] = None
                   ) -> keras.Model:
  """Annotates Dense layers (weights and outputs) and OUTPUT_QUANTIZED layers (outputs)
  and applies the prune-preserving 8-bit scheme.

  calibration: batches of (features, targets); the output ranges of the wrapped layers
  start at what the float model produces on them (`calibrate_output_ranges`).

  (Annotating the student's Add and ReLU layers too was measured: no change in int8 vs
  float fidelity.)
  """

  def annotate(layer):
    if isinstance(layer, keras.layers.Dense):
      return tfmot.quantization.keras.quantize_annotate_layer(layer)
    if isinstance(layer, OUTPUT_QUANTIZED):
      return tfmot.quantization.keras.quantize_annotate_layer(layer, OutputQuantizeConfig())
    return layer

  annotated = keras.models.clone_model(model, clone_function=annotate)
  with tfmot.quantization.keras.quantize_scope({"IdDropout": IdDropout,
                                                "MaskedMeanPooling": MaskedMeanPooling,
                                                "RowDot": RowDot,
                                                "OutputQuantizeConfig": OutputQuantizeConfig}):
    quantized = tfmot.quantization.keras.quantize_apply(
        annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
  # The scheme keeps zeros only in the Dense layers; frozen embeddings keep their pruned
  # zeros through the QAT fine-tune (wrapped for their output, or not).
  for layer in quantized.layers:
    if isinstance(getattr(layer, "layer", layer), keras.layers.Embedding):
      layer.trainable = False
  if calibration is not None:
    calibrate_output_ranges(model, quantized, calibration)
  return quantized


# Names (after the wrapper's scope) of the QAT range variables of a layer's output.
_RANGE_VARIABLES = {"post_activation_min": 0, "output_min": 0,
                    "post_activation_max": 1, "output_max": 1}


def calibrate_output_ranges(float_model: keras.Model, quantized: keras.Model,
                            calibration: tf.data.Dataset) -> Dict[str, List[float]]:
  """Sets each wrapped layer's output range to the [min, max] (widened to hold 0) of the
  float model's outputs of the same layer on `calibration`; returns them by layer name.

  TF-MOT's moving-average quantizers start at [-6, 6] and move with decay 0.999: after a
  QAT fine-tune of a few hundred steps a layer whose outputs lie within +-0.4 still had a
  range of about +-3.8, i.e. steps of 0.03; the student's many small terms, each rounded
  that coarsely, cost eval AUC and put the int8 model 0.018 away from the float one.
  """
  wrapped = {layer.layer.name: layer for layer in quantized.layers
             if hasattr(layer, "layer") and any(
                 _range_index(v) is not None for v in layer.weights)}
  # A fresh copy: layers a pruning round reused are called in several models, so their
  # `output` may belong to another graph than float_model's.
  reference = keras.models.clone_model(float_model)
  reference.set_weights(float_model.get_weights())
  names = [layer.name for layer in reference.layers if layer.name in wrapped]
  probe = keras.Model(reference.inputs, [reference.get_layer(n).output for n in names])
  ranges = {name: [0.0, 0.0] for name in names}
  for features, _ in calibration:
    for name, value in zip(names, probe(features, training=False)):
      value = np.asarray(value)
      ranges[name] = [min(ranges[name][0], float(value.min())),
                      max(ranges[name][1], float(value.max()))]
  for name, (low, high) in ranges.items():
    for variable in wrapped[name].weights:
      index = _range_index(variable)
      if index is not None:
        variable.assign(low if index == 0 else high)
  return ranges


def _range_index(variable) -> Optional[int]:
  return _RANGE_VARIABLES.get(variable.name.split("/")[-1].split(":")[0])


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


class EvalRows:
  """The eval split as the gate judges the test split, for the pruning budget: the model
  inputs, transformed from the raw examples by the Transform graph, beside each row's label
  and its user's raw id.

  Transformed examples give every user new to training the one OOV index, so a GAUC on them
  can group only known users; the gate's GAUC groups every user. At 1e6 interactions pruning
  to 50% cost the student 0.0038 eval GAUC on known users (inside the 0.005 budget) and 0.0061
  on all (the test split's new users lost most: their GAUC fell from 0.6357 to 0.6215), and
  the int8 student missed the gate's GAUC by 0.0002.
  """

  def __init__(self, model_inputs: Dict[str, np.ndarray], labels, users,
               batch_size: int = 8192, new_users=None):
    self.inputs = model_inputs
    self.labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    self.users = np.asarray(users).reshape(-1)
    # Whether each row's user has no event in train (None: not known, no slice figures).
    self.new_users = None if new_users is None else np.asarray(new_users, bool).reshape(-1)
    self.batch_size = batch_size
    columns = dict(model_inputs, users=self.users)
    if self.new_users is not None:
      columns["new_users"] = self.new_users
    for name, values in columns.items():
      if len(values) != len(self.labels):
        raise ValueError(f"EvalRows: {name} has {len(values)} rows, the labels "
                         f"{len(self.labels)}")

  @classmethod
  def from_dataset(cls, dataset: tf.data.Dataset, records: Sequence[bytes], tft_output,
                   batch_size: int = 8192) -> "EvalRows":
    """The model inputs and labels of `dataset` ((inputs, label) batches of the split through
    the Transform graph, in file order: inputs.transformed_dataset) beside each row's raw
    user id, parsed alone from `records` (the same split's serialized raw examples, in the
    same order). The trainer's cached eval dataset serves here too: the split is parsed
    and transformed once."""
    from models import features  # pylint: disable=g-import-not-at-top
    model_inputs, labels = inputs.in_memory(dataset)
    raw_spec = tft_output.raw_feature_spec()
    spec = {name: raw_spec[name] for name in (features.USER_ID, features.USER_IN_TRAIN)}
    parsed = [tf.io.parse_example(tf.constant(list(records[start:start + batch_size])), spec)
              for start in range(0, len(records), batch_size)]
    if not parsed:
      raise ValueError("EvalRows: no eval examples")
    users = np.concatenate([_column(batch[features.USER_ID]) for batch in parsed])
    in_train = np.concatenate([_column(batch[features.USER_IN_TRAIN]) for batch in parsed])
    return cls({name: values.numpy() for name, values in model_inputs.items()},
               labels.numpy(), users, batch_size,
               new_users=in_train == features.NEW.encode())

  def logits(self, model_fn) -> np.ndarray:
    """model_fn(transformed batch) -> logits, over every row in order."""
    rows = len(self.labels)
    return np.concatenate([
        np.asarray(model_fn({name: tf.constant(values[start:start + self.batch_size])
                             for name, values in self.inputs.items()})).reshape(-1)
        for start in range(0, rows, self.batch_size)])

  def figures(self, logits) -> Dict[str, float]:
    """The budget's figures of these logits: AUC and GAUC over every row, and, when each
    row's user is known to be new or not, GAUC over the known and over the new users."""
    from models import metrics  # pylint: disable=g-import-not-at-top
    logits = np.asarray(logits).reshape(-1)
    figures = {"eval_auc": metrics.auc(self.labels, logits),
               "eval_gauc": metrics.gauc(self.labels, logits, self.users)}
    if self.new_users is not None:
      for key, rows in (("eval_gauc_known", ~self.new_users), ("eval_gauc_new", self.new_users)):
        figures[key] = (metrics.gauc(self.labels[rows], logits[rows], self.users[rows])
                        if rows.any() else float("nan"))
    return figures

  def student_figures(self, model: keras.Model, cast_fn) -> Dict[str, float]:
    return self.figures(self.logits(lambda batch: model(cast_fn(batch), training=False)))


def _column(value) -> np.ndarray:
  if isinstance(value, tf.sparse.SparseTensor):
    value = tf.sparse.to_dense(value)
  return np.asarray(value).reshape(-1)


# What the budget holds to max_auc_drop of the teacher's, on the eval split: the gate's
# figures (EvalRows.figures), AUC and GAUC over every user, and GAUC over the known and over
# the new users apart. GAUC is a row-weighted mean over users, so a step within the drop on
# both slices is within it on any mix of them: the test split, later in time, holds three
# times the eval split's share of new users' rows (38.8% against 12.4% at 1e6), and a
# budget on the whole eval split let through a student that lost most on new users.
BUDGET_FIGURES = ("eval_auc", "eval_gauc", "eval_gauc_known", "eval_gauc_new")
_BUDGET_NAMES = {"eval_auc": "AUC", "eval_gauc": "GAUC", "eval_gauc_known": "known users' GAUC",
                 "eval_gauc_new": "new users' GAUC"}


def within_budget(step: Dict, reference: Dict[str, float], max_drop: float) -> bool:
  """Whether each of a curve step's budget figures is within max_drop of the teacher's
  (`reference`, as EvalRows.figures). A figure that is NaN on either side (no user with both
  labels) is not checked."""
  for key, teacher in reference.items():
    value = step.get(key, float("nan"))
    if teacher == teacher and value == value and teacher - value > max_drop:
      return False
  return True


def _describe(reference: Dict[str, float]) -> str:
  checked = [f"{_BUDGET_NAMES[key]} {value:.4f}" for key, value in reference.items()
             if value == value]
  if not checked:
    return "the teacher's eval figures (none measurable: no user with both labels)"
  return "the teacher's eval " + (", ".join(checked[:-1]) + " and " + checked[-1]
                                  if len(checked) > 1 else checked[0])


def choose_step(curve: List[Dict], reference: Dict[str, float], max_drop: float):
  """(index, decision): the sparsest step within budget (`within_budget`); when none is,
  the densest step (the dense student, when the curve starts with it), and the decision
  says so."""
  if not curve:
    raise ValueError("no pruning step to choose from")
  candidates = [i for i, step in enumerate(curve) if within_budget(step, reference, max_drop)]
  teacher = _describe(reference)
  if candidates:
    best = max(candidates, key=lambda i: curve[i]["sparsity"])
    return best, (f"sparsity {curve[best]['sparsity']:.2f}: the sparsest step within "
                  f"{max_drop} of {teacher}")
  densest = min(range(len(curve)), key=lambda i: curve[i]["sparsity"])
  return densest, (f"no step within {max_drop} of {teacher} (best step AUC "
                   f"{max(s['eval_auc'] for s in curve):.4f}): kept the densest, sparsity "
                   f"{curve[densest]['sparsity']:.2f}")


def prune_to_budget(model: keras.Model, train: tf.data.Dataset, evaluation: tf.data.Dataset,
                    config, log_dir: str, steps_per_epoch: int, reference: Dict[str, float],
                    figures: Callable[[keras.Model], Dict[str, float]],
                    measure: Optional[Callable[[keras.Model], Dict]] = None):
  """Prunes in rising steps (config.sparsity_steps), a short fine-tune after each, and keeps
  the sparsest step whose budget figures (`BUDGET_FIGURES`: eval AUC, GAUC and GAUC on known
  and on new users, as `figures(model)` measures them, e.g. EvalRows.student_figures; those
  the reference has) are within
  config.max_auc_drop of the teacher's (`reference`). `evaluation` (packed eval batches)
  is what fine-tuning stops early on. The curve starts at the dense student (target 0),
  measured as the steps are: it is kept when no step is within budget. `train` repeats
  without end: an epoch is `steps_per_epoch` of its batches.

  Each step starts from the previous one's weights (one wrapped model, `retarget`ed between
  steps): sparsity ramps from the previous target to the next over pruning_ramp_epochs,
  then fine-tuning at the target goes on
  until eval AUC stops improving (pruning_early_stopping_patience, at most
  pruning_epochs), keeping the best epoch at the target. Unless config.full_curve, the
  first step outside the budget ends the search (sparser steps lose more in practice), the
  dense student included: then nothing is pruned.
  `measure(model)` adds sizes (e.g. int8 bytes) to a step's curve entry. Returns
  (stripped model, stage report with the curve of the steps tried and the decision).
  """
  from models import training  # pylint: disable=g-import-not-at-top

  def point(candidate, target: float, epochs: int = 0, best_epoch: int = 0) -> Dict:
    step = {"target": float(target), "epochs": epochs, "best_epoch": best_epoch,
            **figures(candidate),
            "sparsity": sparsity_report(kernel_weights(candidate))["overall"]}
    if measure:
      step.update(measure(candidate))
    logging.info("student %s: %s", f"pruned to {target:.2f}" if target else "dense", step)
    return step

  # The curve starts at the dense student: when pruning to the first step already costs
  # more than the budget, the student is kept dense.
  curve, snapshots = [point(model, 0.0)], [model.get_weights()]
  previous = 0.0
  current = model
  steps = list(config.sparsity_steps)
  if not config.full_curve and not within_budget(curve[0], reference, config.max_auc_drop):
    steps = []
  pruned = None
  for target in steps:
    if pruned is None:
      pruned = prune(current, target, steps_per_epoch * config.pruning_ramp_epochs,
                     config.pruning_frequency_steps, initial_sparsity=previous,
                     layers=config.pruned_layers)
      compile_student(pruned, config.pruning_learning_rate, config.alpha, config.temperature,
                      config.pair_weight)
    else:  # as a new prune() of the stripped model and a new compile, on the traced step
      retarget(pruned, previous, target)
    # Epochs are compared, and the best one kept, only from the ramp's last epoch on,
    # when the sparsity has reached its target: earlier ones are denser, hence better.
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_auc", mode="max", patience=config.pruning_early_stopping_patience,
        restore_best_weights=True, start_from_epoch=config.pruning_ramp_epochs - 1)
    history = pruned.fit(train, validation_data=evaluation, epochs=config.pruning_epochs,
                         steps_per_epoch=steps_per_epoch, callbacks=pruning_callbacks() + [
                             stopper, training.EpochLog(f"student pruning to {target:.2f}"),
                             keras.callbacks.TensorBoard(
                                 os.path.join(log_dir, f"prune_{target:.2f}"))],
                         verbose=0)
    current = strip_pruning(pruned)
    step = point(current, target, len(history.history["loss"]), stopper.best_epoch + 1)
    curve.append(step)
    snapshots.append(current.get_weights())
    previous = target
    if not config.full_curve and not within_budget(step, reference, config.max_auc_drop):
      break
  chosen, decision = choose_step(curve, reference, config.max_auc_drop)
  untried = list(config.sparsity_steps)[len(curve) - 1:]
  if untried:
    before = "the dense student" if len(curve) == 1 else "the step before"
    decision += (f"; steps {', '.join(f'{s:g}' for s in untried)} not tried ({before} "
                 f"was outside the budget; distillation.full_curve tries every step)")
  current.set_weights(snapshots[chosen])
  logging.info("student pruning: %s", decision)
  return current, {**curve[chosen], "chosen_step": chosen, "decision": decision,
                   "curve": curve, "teacher": dict(reference)}


# distill's stages, in order: the argument its `train` builds a stage's batches for.
KD_STAGE, PRUNING_STAGE, QAT_STAGE = 0, 1, 2


def distill(model: keras.Model, train: Callable[[int], tf.data.Dataset],
            evaluation: tf.data.Dataset,
            config, training_config, log_dir: str, steps_per_pass: int,
            reference: Dict[str, float], figures: Callable[[keras.Model], Dict[str, float]],
            measure: Optional[Callable[[keras.Model], Dict]] = None,
            teacher_vectors: Optional[TeacherVectors] = None):
  """KD training to early stop, then budget-driven pruning, then prune-preserving QAT.

  config: models.hparams.DistillationConfig; reference and figures: the pruning budget's
  (`prune_to_budget`), the teacher's figures and a function giving a student's (also what
  the KD stage stops early on when config.early_stopping_metric is "gauc");
  train(stage): a new dataset of one pass of train batches for the stage (KD_STAGE,
  PRUNING_STAGE, QAT_STAGE), e.g. seeded by it. Each stage starts from a dataset of its
  own, so its batches do not depend on how far earlier stages iterated theirs: with one
  dataset for all, QAT started from wherever the pruning search had left its shuffles,
  and `full_curve` (more pruning steps tried) shipped another student than a default run
  keeping the same step (make bench's 1e5 int8 student -0.0016 / -0.0054 against the
  default run's -0.0009 / -0.0055 on the same data and teacher, 2026-12-05);
  steps_per_pass: batches in one pass of `train(stage)`;
  teacher_vectors: the hints' targets (needed when config.hint_weight > 0; pruning and QAT
  train on the logits alone). Returns (final model, stages) where stages records each
  stage's epochs, eval AUC and measured sparsity (and pruning's whole curve).
  """
  from models import training  # pylint: disable=g-import-not-at-top
  if not callable(train):
    raise TypeError(f"distill: train must be a function of the stage (KD_STAGE, "
                    f"PRUNING_STAGE, QAT_STAGE) returning a new dataset of one pass of train "
                    f"batches, got {type(train).__name__}")
  stages = {}
  if training_config.steps_per_execution > 1:
    # Sized for the KD stage's several steps a call (counted by one pass).
    evaluation = training.with_known_size(evaluation)
  trainer = model
  if config.hint_weight > 0:
    if teacher_vectors is None:
      raise ValueError(f"distillation.hint_weight = {config.hint_weight:g} needs the "
                       f"teacher's vectors (teacher_vectors)")
    trainer = HintDistiller(model, teacher_vectors, config.hint_weight)
  compile_student(trainer, training_config.learning_rate, config.alpha, config.temperature,
                  config.pair_weight, training_config.steps_per_execution)
  monitor, epoch_figures = "val_auc", None
  if config.early_stopping_metric == "gauc":
    if figures is None:
      raise ValueError("distillation.early_stopping_metric = gauc needs the eval split's "
                       "figures (figures)")
    monitor = "val_gauc"

    def epoch_figures():
      return {"val_gauc": figures(model)["eval_gauc"]}

  history, best_epoch = training.fit(trainer, train(KD_STAGE), evaluation, training_config,
                                     os.path.join(log_dir, "distill"), "student",
                                     steps_per_pass=steps_per_pass,
                                     epoch_figures=epoch_figures, monitor=monitor)
  stages["distill"] = {"epochs": len(history.history["loss"]), "best_epoch": best_epoch,
                       "early_stopping_metric": config.early_stopping_metric,
                       "best_eval_auc": float(history.history["val_auc"][best_epoch - 1])}
  if epoch_figures is not None:
    stages["distill"]["best_eval_gauc"] = float(history.history["val_gauc"][best_epoch - 1])
  if config.hint_weight > 0:
    stages["distill"]["final_hint_loss"] = float(history.history["hint_loss"][-1])

  # Pruning and QAT epochs are as long as the KD stage's: a pass over the train split,
  # cut into epochs of at most training_config.max_steps_per_epoch steps. So the pruning
  # ramp, its patience and QAT's epochs mean about as many steps on large data as on small.
  epoch_steps = training_config.steps_per_epoch(steps_per_pass) or steps_per_pass
  if config.prune:
    model, stages["prune"] = prune_to_budget(model, train(PRUNING_STAGE).repeat(), evaluation,
                                             config, log_dir, epoch_steps, reference, figures,
                                             measure)

  if config.qat:
    qat_train = train(QAT_STAGE).repeat()
    model = quantize_aware(model, calibration=qat_train.take(config.qat_calibration_batches))
    # One step a call, as the pruning stage: the QAT model's loop of steps costs more to
    # trace than its epochs would save (TrainingConfig.steps_per_execution).
    compile_student(model, config.qat_learning_rate, config.alpha, config.temperature,
                    config.pair_weight)
    history = model.fit(qat_train, validation_data=evaluation, epochs=config.qat_epochs,
                        steps_per_epoch=epoch_steps,
                        callbacks=[training.EpochLog("student QAT"),
                                   keras.callbacks.TensorBoard(os.path.join(log_dir, "qat"))],
                        verbose=0)
    stages["qat"] = {"epochs": config.qat_epochs,
                     "eval_auc": float(history.history["val_auc"][-1]),
                     "sparsity": sparsity_report(kernel_weights(model))["overall"]}
    logging.info("student after prune-preserving QAT: %s", stages["qat"])
  return model, stages


def saved_model_weights(saved_model_dir: str) -> Dict[str, np.ndarray]:
  """Embedding tables and Dense kernels as stored in an exported Keras SavedModel (by variable
  name): the variables its layers hold (not the optimizer's slots, when it saved one), read
  from the SavedModel's checkpoint. No saved function is rebuilt: 0.06 s for the 1e5 student
  where `tf.saved_model.load` took 5 s."""
  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import saved_model_pb2, trackable_object_graph_pb2
  # pylint: enable=g-import-not-at-top
  saved_model = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
    saved_model.ParseFromString(f.read())
  nodes = saved_model.meta_graphs[0].object_graph_def.nodes
  reader = tf.train.load_checkpoint(os.path.join(saved_model_dir, "variables", "variables"))
  # The checkpoint's object graph numbers the same objects as the SavedModel's.
  checkpointed = trackable_object_graph_pb2.TrackableObjectGraph()
  checkpointed.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
  # Every object reachable from the root but through the optimizer (its slots are named
  # after the weights they track): the layers and their variables, each once (a model
  # saved with Keras' traces lists them under `variables` too).
  weights, seen, pending = {}, set(), [0]
  while pending:
    node_id = pending.pop()
    if node_id in seen:
      continue
    seen.add(node_id)
    node = nodes[node_id]
    pending.extend(child.node_id for child in node.children if child.local_name != "optimizer")
    if node.WhichOneof("kind") != "variable":
      continue
    variable = node.variable
    if not (variable.name.endswith("/embeddings") or variable.name.endswith("/kernel")):
      continue
    (key,) = [attribute.checkpoint_key for attribute in checkpointed.nodes[node_id].attributes
              if attribute.name == "VARIABLE_VALUE"]
    value = reader.get_tensor(key)
    if list(value.shape) != [dim.size for dim in variable.shape.dim]:
      raise ValueError(f"{saved_model_dir}: checkpoint value {key} has shape {value.shape}, "
                       f"variable {variable.name} {[dim.size for dim in variable.shape.dim]}")
    if weights.setdefault(variable.name, value) is not value:
      raise ValueError(f"{saved_model_dir}: two variables named {variable.name}")
  if not weights:
    raise ValueError(f"{saved_model_dir}: no embedding table or Dense kernel in this "
                     f"SavedModel's objects")
  return weights
