"""Run by Python at start-up in the processes a distillrec run starts (Beam's workers).

`distillrec run` puts this folder first on their PYTHONPATH (pipeline.cli._quiet). Beam
workers that exit holding TensorFlow functions (Transform's, the Evaluator's) otherwise
print TensorFlow's exit-time "Exception ignored in: AtomicFunction.__del__" reports:
models.tf_teardown drops exactly those.
"""

try:
  from models import tf_teardown
except ImportError:  # not a distillrec environment: nothing to hide
  pass
else:
  tf_teardown.install()
