"""Scores serialized tf.Examples with a SavedModel in a process that imports only TensorFlow.

No TF Serving binary exists here; a clean process that has nothing but
tensorflow (no project code, no TFX, no tf.Transform) is the closest stand-in.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np


def score_in_tensorflow_only_process(serving_dir: str, records, work_dir: str,
                                     signature: str = "serving_default") -> np.ndarray:
  records_path = os.path.join(work_dir, "records.npy")
  scores_path = os.path.join(work_dir, "scores.npy")
  np.save(records_path, np.array(list(records), dtype=object), allow_pickle=True)
  script = textwrap.dedent(f"""
      import sys, numpy as np
      import tensorflow as tf
      banned = ('models', 'pipeline', 'components', 'interactions', 'tfx', 'tensorflow_transform')
      assert not [m for m in sys.modules if m.split('.')[0] in banned], 'project code imported'
      records = np.load({records_path!r}, allow_pickle=True)
      loaded = tf.saved_model.load({serving_dir!r})
      out = loaded.signatures[{signature!r}](examples=tf.constant(list(records)))
      np.save({scores_path!r}, out['score'].numpy())
  """)
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=work_dir, timeout=300)
  if result.returncode != 0:
    raise AssertionError(result.stderr[-3000:])
  return np.load(scores_path)


def checkpoint_shapes(serving_dir: str):
  """{checkpoint key: shape} of the tensors a SavedModel's variables hold."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  shapes = dict(tf.train.list_variables(os.path.join(serving_dir, "variables", "variables")))
  del shapes["_CHECKPOINTABLE_OBJECT_GRAPH"]
  return shapes


def checkpoint_values(serving_dir: str):
  """{checkpoint key: value} of the tensors a SavedModel's variables hold (the keys of
  `checkpoint_shapes`)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  reader = tf.train.load_checkpoint(os.path.join(serving_dir, "variables", "variables"))
  return {key: reader.get_tensor(key) for key in checkpoint_shapes(serving_dir)}
