"""AutoGraph's rules: tf_keras and TF-MOT left unconverted, the trained student unchanged."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from models import autograph_rules, distillation, layers
from models.distillation_test import _dataset, _student

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PROBE = """
import tf_keras as keras
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper
from models import autograph_rules, layers
functions = (keras.Model.train_step, pruning_wrapper.PruneLowMagnitude.call, layers.RowDot.call)
print(*[autograph_rules.converts(f) for f in functions])
from models import training  # installs the rules: every user of the training loop gets them
print(*[autograph_rules.converts(f) for f in functions])
"""


def test_without_the_rules_autograph_converts_tf_keras_and_tfmot_and_training_installs_them():
  # A fresh process: conftest has installed the rules in this one.
  result = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True,
                          text=True, check=True,
                          env=dict(os.environ, TF_USE_LEGACY_KERAS="1", PYTHONPATH=ROOT))
  before, after = result.stdout.strip().splitlines()[-2:]
  assert before == "True True True"
  # Our own layers are still converted.
  assert after == "False False True"


def test_install_adds_each_rule_once():
  from tensorflow.python.autograph.core import config  # pylint: disable=g-import-not-at-top
  autograph_rules.install()
  autograph_rules.install()
  prefixes = [autograph_rules.skipped_package(rule) for rule in config.CONVERSION_RULES]
  for name in autograph_rules.LIBRARIES:
    assert prefixes.count(name) == 1
  assert not autograph_rules.converts(keras.layers.Dense.call)
  assert not autograph_rules.converts(tfmot.quantization.keras.QuantizeWrapperV2.call)
  assert autograph_rules.converts(layers.MaskedMeanPooling.call)


def _kd_prune_qat_weights():
  """A small student through a few steps of KD, pruning and QAT, seeded: its weights."""
  def teacher_fn(batch):
    return {"logit": tf.cast(batch["item_id_xf"] % 3, tf.float32) - 1.0}

  data = _dataset(teacher_fn, count=6, batch_size=32)
  model = _student(seed=3)
  distillation.compile_student(model, 1e-2, 0.3, 2.0)
  model.fit(data, epochs=1, verbose=0)
  pruned = distillation.prune(model, 0.5, end_step=4, frequency=2)
  distillation.compile_student(pruned, 1e-2, 0.3, 2.0)
  pruned.fit(data, epochs=1, verbose=0, callbacks=distillation.pruning_callbacks())
  quantized = distillation.quantize_aware(distillation.strip_pruning(pruned),
                                          calibration=data.take(2))
  distillation.compile_student(quantized, 1e-2, 0.3, 2.0)
  quantized.fit(data, epochs=1, verbose=0)
  return quantized.get_weights()


@pytest.mark.slow
def test_the_rules_leave_the_trained_student_bit_for_bit_the_same():
  from tensorflow.python.autograph.core import config  # pylint: disable=g-import-not-at-top
  installed = config.CONVERSION_RULES
  prefixes = set(autograph_rules.LIBRARIES)
  config.CONVERSION_RULES = tuple(rule for rule in installed
                                  if autograph_rules.skipped_package(rule) not in prefixes)
  try:
    assert autograph_rules.converts(keras.Model.train_step)
    converted = _kd_prune_qat_weights()
  finally:
    config.CONVERSION_RULES = installed
  assert not autograph_rules.converts(keras.Model.train_step)
  unconverted = _kd_prune_qat_weights()
  assert len(converted) == len(unconverted)
  assert sum(int(np.count_nonzero(w == 0)) for w in unconverted) > 0  # pruned
  for before, after in zip(converted, unconverted):
    np.testing.assert_array_equal(before, after)
