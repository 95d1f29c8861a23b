"""The shared training helpers."""

import tf_keras as keras
from tensorflow.python.autograph.impl import conversion

from models import training


def _ours(x):
  return x


def test_autograph_leaves_tf_keras_alone_and_converts_our_code():
  # Keras' training code is traced as written, as TensorFlow does for `keras`.
  assert conversion.is_allowlisted(keras.losses.BinaryCrossentropy.call)
  assert conversion.is_allowlisted(keras.Model.train_step)
  assert not conversion.is_allowlisted(_ours)
  training.skip_autograph_in_tf_keras()  # idempotent: the rule is there once
  from tensorflow.python.autograph.core import config  # pylint: disable=g-import-not-at-top
  assert sum(getattr(rule, "_prefix", None) == "tf_keras"
             for rule in config.CONVERSION_RULES) == 1
