"""AutoGraph leaves Keras 2 (`tf_keras`) and TF-MOT alone, as it left `keras` alone before.

AutoGraph rewrites the Python source of every function a `tf.function` calls, recursively,
except for the modules its conversion rules name: `tensorflow` and `keras` among them, but
not `tf_keras`, the package Keras 2 moved to (TF_USE_LEGACY_KERAS=1). So each trace of a
Keras train, test or predict function parses and transforms the source of Keras' own
`train_step`, losses, metrics, optimizers and layers, and TF-MOT's pruning and quantization
wrappers, all written to run unconverted (they are Keras 2.15's and TF-MOT's code, which ran
so under `keras`). Measured on the default student (2 cores, a fresh process, without any of
the rules before): the first
`predict_on_batch` 8.7 s -> 0.3 s, the first `train_on_batch` 14.4 s -> 2.3 s, the first
epochs of the pruning and QAT stages 20.6 s -> 15.3 s and 11.7 s -> 7.6 s, with the same
weights bit for bit after KD, pruning and QAT (code that did need AutoGraph, a tensor in a
Python `if` or `for`, would fail loudly when traced unconverted, not change silently).

`install()` adds a do-not-convert rule for each of LIBRARIES to AutoGraph's rule list
(`tensorflow.python.autograph.core.config`, TensorFlow's own module, as pinned in
constraints.txt); importing models.training does, so both trainers have the rules before
they build anything (it had added the `tf_keras` rule alone since 2026-11-30). Our own layers
and functions are still converted.
"""

from typing import Optional

LIBRARIES = ("tf_keras", "tensorflow_model_optimization")


def install() -> None:
  """Appends a do-not-convert rule for each of LIBRARIES (once per process)."""
  # pylint: disable=g-import-not-at-top
  from tensorflow.python.autograph.core import config
  # pylint: enable=g-import-not-at-top
  present = {skipped_package(rule) for rule in config.CONVERSION_RULES}
  missing = [name for name in LIBRARIES if name not in present]
  if missing:
    config.CONVERSION_RULES = tuple(config.CONVERSION_RULES) + tuple(
        config.DoNotConvert(name) for name in missing)


def skipped_package(rule) -> Optional[str]:
  """The package an AutoGraph do-not-convert rule names; None for any other rule."""
  # pylint: disable=g-import-not-at-top
  from tensorflow.python.autograph.core import config
  # pylint: enable=g-import-not-at-top
  return getattr(rule, "_prefix", None) if isinstance(rule, config.DoNotConvert) else None


def converts(function) -> bool:
  """Whether AutoGraph would rewrite `function` when a tf.function calls it."""
  # pylint: disable=g-import-not-at-top
  from tensorflow.python.autograph.impl import conversion
  # pylint: enable=g-import-not-at-top
  return not conversion.is_allowlisted(function)
