"""tf_teardown hides TensorFlow's exit-time AtomicFunction.__del__ report and nothing else."""

import os
import subprocess
import sys
import types

from models import tf_teardown

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Objects that die while Python exits (module globals are cleared then), one named as
# TensorFlow's AtomicFunction, whose __del__ fails the way TensorFlow's does.
SCRIPT = """
import sys
from models import tf_teardown
if sys.argv[1] == "install":
  tf_teardown.install()
  tf_teardown.install()  # a second call changes nothing

class AtomicFunction:
  def __del__(self):
    raise TypeError("'NoneType' object is not subscriptable")

class Other:
  def __del__(self):
    raise TypeError("other teardown error")

keep = [AtomicFunction(), Other()]
"""


def _exit_messages(mode):
  result = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=60)
  return result.stderr


def test_exit_time_atomic_function_report_is_dropped_and_others_kept():
  plain = _exit_messages("plain")
  assert "AtomicFunction.__del__" in plain and "other teardown error" in plain
  quiet = _exit_messages("install")
  assert "AtomicFunction.__del__" not in quiet, quiet
  assert "Other.__del__" in quiet and "other teardown error" in quiet


def test_the_same_report_outside_exit_is_passed_on():
  seen = []
  atomic_del = types.SimpleNamespace(__qualname__="AtomicFunction.__del__")
  report = types.SimpleNamespace(exc_type=TypeError, object=atomic_del)
  tf_teardown._hook(report, seen.append, is_finalizing=lambda: False)
  assert seen == [report]
  tf_teardown._hook(report, seen.append, is_finalizing=lambda: True)
  assert seen == [report]
  other = types.SimpleNamespace(exc_type=ValueError, object=atomic_del)
  tf_teardown._hook(other, seen.append, is_finalizing=lambda: True)
  assert seen == [report, other]
