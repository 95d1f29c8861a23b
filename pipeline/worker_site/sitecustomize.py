"""Run by Python at start-up in the processes a distillrec run starts (Beam's workers).

`distillrec run` puts this folder first on their PYTHONPATH (pipeline.cli._quiet). Beam
workers that exit holding TensorFlow functions (Transform's, the Evaluator's) otherwise
print TensorFlow's exit-time "Exception ignored in: AtomicFunction.__del__" reports:
models.tf_teardown drops exactly those.

Python runs one `sitecustomize` module, the first on sys.path: this one would hide the
environment's own (a distribution's, a virtualenv's, a user's PYTHONPATH entry), so the
next one on sys.path runs after it, as it would have without this folder.
"""

import importlib.machinery
import importlib.util
import os
import sys


def _run_the_shadowed_sitecustomize() -> None:
  here = os.path.dirname(os.path.abspath(__file__))
  for entry in sys.path:
    if os.path.abspath(entry or os.curdir) == here:
      continue
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", [entry or os.curdir])
    if spec is None or spec.loader is None:
      continue
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return


try:
  from models import tf_teardown
except ImportError:  # not a distillrec environment: nothing to hide
  pass
else:
  tf_teardown.install()
_run_the_shadowed_sitecustomize()
