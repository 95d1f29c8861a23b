"""Keras layers shared by the teacher and the student. Each round-trips through get_config.

Both are written with ops that a full-integer TFLite model supports: the masked
mean multiplies by a looked-up reciprocal instead of dividing (TFLite has no
int8 DIV, so a division would silently stay float).
"""

import tensorflow as tf
import tf_keras as keras


@keras.utils.register_keras_serializable(package="distillrec")
class IdDropout(keras.layers.Layer):
  """In training, replaces each id by `oov_id` with probability `rate`.

  An id never seen in training maps to an OOV embedding that ordinary training
  never updates, so cold users are scored like noise; dropping ids teaches the
  model to score from history and attributes when the id is unknown.
  """

  def __init__(self, rate: float, oov_id: int, seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    if not 0 <= rate < 1:
      raise ValueError(f"IdDropout rate must be in [0, 1), got {rate}")
    self.rate = float(rate)
    self.oov_id = int(oov_id)
    self.seed = int(seed)

  def call(self, ids, training=None):
    if not training or self.rate == 0:
      return ids
    drop = tf.random.uniform(tf.shape(ids), seed=self.seed) < self.rate
    return tf.where(drop, tf.cast(self.oov_id, ids.dtype), ids)

  def get_config(self):
    return {**super().get_config(), "rate": self.rate, "oov_id": self.oov_id,
            "seed": self.seed}


@keras.utils.register_keras_serializable(package="distillrec")
class MaskedMeanPooling(keras.layers.Layer):
  """Mean of the embeddings whose id is not padding (0); zeros when all are padding.

  Inputs: (embeddings [batch, length, dim], ids [batch, length]). The count of
  real ids (0..length) indexes a constant table of reciprocals 1/n (1/0 := 0).
  """

  def __init__(self, max_length: int, **kwargs):
    super().__init__(**kwargs)
    self.max_length = int(max_length)
    reciprocals = [0.0] + [1.0 / n for n in range(1, self.max_length + 1)]
    self._reciprocals = tf.constant(reciprocals, dtype=tf.float32)

  def call(self, inputs):
    embeddings, ids = inputs
    # Integer-only: min(id, 1) is 1 for a real id, 0 for padding (ids are >= 0); the
    # float mask is a lookup in [0, 1], the count indexes the reciprocal table. No
    # CAST, no DIV, so a full-integer TFLite model stays integer.
    # The mask and the reciprocal come out of their lookups already [..., 1] wide: indexing
    # a new axis instead added a RESHAPE and a STRIDED_SLICE each to the TFLite model.
    real = tf.minimum(ids, tf.constant(1, dtype=ids.dtype))
    mask = tf.gather(tf.constant([[0.0], [1.0]], dtype=embeddings.dtype), real)
    total = tf.reduce_sum(embeddings * mask, axis=1)
    count = tf.reduce_sum(real, axis=1)
    return total * tf.gather(tf.cast(self._reciprocals[:, None], embeddings.dtype), count)

  def get_config(self):
    return {**super().get_config(), "max_length": self.max_length}


@keras.utils.register_keras_serializable(package="distillrec")
class RowDot(keras.layers.Layer):
  """Row-wise dot product of two [batch, dim] tensors -> [batch, 1]: `Dot(axes=1)`'s value.

  Written as a multiply and a sum: Keras' Dot is a batched matrix product of 1 x dim by
  dim x 1 matrices, which costs more than the rest of the student in a served request
  (TF's BatchMatMul over 100 candidates: 70-80 us each, against ~5 us for MUL + SUM; in
  TFLite a BATCH_MATMUL). Either input may have a batch of 1 and is then broadcast (one
  user's vector against many items).
  """

  def call(self, inputs):
    left, right = inputs
    return tf.reduce_sum(left * right, axis=-1, keepdims=True)
