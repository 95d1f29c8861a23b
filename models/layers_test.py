"""Shared layers: numbers by hand, and a round trip through get_config and SavedModel."""

import numpy as np
import tensorflow as tf
import tf_keras as keras

from models.layers import IdDropout, MaskedMeanPooling, RowDot


def test_masked_mean_by_hand():
  embeddings = tf.constant([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]],
                            [[5.0, 5.0], [7.0, 7.0], [7.0, 7.0]]])
  ids = tf.constant([[4, 2, 0], [0, 0, 0]], dtype=tf.int32)
  pooled = MaskedMeanPooling(3)([embeddings, ids]).numpy()
  # Row 0: mean of the first two ([1,2] and [3,4]); the padded [9,9] is ignored.
  # Row 1: all padding -> zeros.
  np.testing.assert_allclose(pooled, [[2.0, 3.0], [0.0, 0.0]])


def test_row_dot_by_hand_and_with_one_row_broadcast():
  left = tf.constant([[1.0, 2.0], [3.0, -1.0]])
  right = tf.constant([[4.0, 5.0], [0.5, 2.0]])
  # 1*4 + 2*5 = 14; 3*0.5 - 1*2 = -0.5
  np.testing.assert_allclose(RowDot()([left, right]).numpy(), [[14.0], [-0.5]])
  np.testing.assert_allclose(RowDot()([left, right]).numpy(),
                             keras.layers.Dot(axes=1)([left, right]).numpy())
  # One user's vector against two items: [1, 2] . [4, 5] = 14, [1, 2] . [0.5, 2] = 4.5.
  np.testing.assert_allclose(RowDot()([left[:1], right]).numpy(), [[14.0], [4.5]])


def test_id_dropout_only_in_training():
  layer = IdDropout(0.5, oov_id=99, seed=1)
  ids = tf.range(1, 2001, dtype=tf.int64)
  assert np.array_equal(layer(ids, training=False).numpy(), ids.numpy())
  dropped = layer(ids, training=True).numpy()
  share = np.mean(dropped == 99)
  assert 0.45 < share < 0.55
  kept = dropped != 99
  assert np.array_equal(dropped[kept], ids.numpy()[kept])


def test_round_trip_through_config_and_saved_model(tmp_path):
  ids = keras.Input(shape=(3,), dtype=tf.int64, name="ids")
  dropped = IdDropout(0.2, oov_id=7, seed=3)(ids)
  table = keras.layers.Embedding(8, 2)
  pooled = MaskedMeanPooling(3)([table(dropped), dropped])
  model = keras.Model(ids, pooled)
  clone = keras.Model.from_config(model.get_config())
  assert clone.layers[1].get_config()["oov_id"] == 7
  assert clone.layers[-1].get_config()["max_length"] == 3
  model.save(str(tmp_path / "m"), save_format="tf")
  loaded = keras.models.load_model(str(tmp_path / "m"))
  batch = tf.constant([[1, 2, 0], [3, 0, 0]], dtype=tf.int64)
  np.testing.assert_allclose(loaded(batch).numpy(), model(batch).numpy())
  assert isinstance(loaded.layers[-1], MaskedMeanPooling)
