"""child_process: runs a step in another process (or, by choice, in this one), returns its value
or its error, frees its memory."""

import logging
import os
import signal
import threading

import pytest

from models import child_process, process_memory

MB = 2**20


def _pid_and_sum(numbers, offset=0):
  return os.getpid(), sum(numbers) + offset


def _allocate_and_measure(megabytes, caller_pid):
  """Fills `megabytes` of memory; while holding it, returns (this process's resident bytes,
  the caller's resident bytes, the block's size)."""
  block = bytearray(os.urandom(MB)) * megabytes
  return (process_memory.resident_bytes(), process_memory.resident_bytes(caller_pid),
          len(block))


def _raise_value_error(text):
  raise ValueError(text)


class _Unpicklable(Exception):

  def __init__(self, text, handle):
    super().__init__(text)
    self.handle = handle  # a lock does not pickle


def _raise_unpicklable():
  raise _Unpicklable("bad row 7", threading.Lock())


def _die():
  os.kill(os.getpid(), signal.SIGKILL)


def _logging_levels():
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  return logging.getLogger().getEffectiveLevel(), absl_logging.get_verbosity()


def test_runs_in_another_process_with_positional_and_keyword_arguments():
  pid, total = child_process.call("test", _pid_and_sum, [1, 2, 3], offset=10)
  assert total == 16
  assert pid != os.getpid()


def test_the_childs_memory_is_not_in_this_process_during_or_after():
  before = process_memory.resident_bytes()
  child_resident, ours_meanwhile, size = child_process.call("test", _allocate_and_measure, 400,
                                                            os.getpid())
  assert size == 400 * MB
  assert child_resident > 400 * MB
  # Measured while the child held its 400 MB, and after it returned.
  assert ours_meanwhile > 0  # read from /proc
  assert ours_meanwhile - before < 100 * MB
  assert process_memory.resident_bytes() - before < 100 * MB


@pytest.mark.parametrize("separate", [True, False])
def test_run_step_runs_in_a_child_only_when_separate(monkeypatch, separate):
  released = []
  monkeypatch.setattr(process_memory, "release_freed_memory", released.append)
  pid, _ = child_process.run_step("TeacherTrainer", _pid_and_sum, separate, numbers=[])
  assert (pid != os.getpid()) == separate
  # In this process, freed heap goes back to the OS afterwards; a child's goes with it.
  assert released == ([] if separate else ["TeacherTrainer"])


def test_an_exception_comes_back_as_itself():
  with pytest.raises(ValueError, match="feature user_id: expected an int"):
    child_process.call("test", _raise_value_error, "feature user_id: expected an int")


def test_an_exception_that_does_not_pickle_comes_back_with_its_text_and_traceback():
  with pytest.raises(child_process.ChildError) as raised:
    child_process.call("test", _raise_unpicklable)
  text = str(raised.value)
  assert text.startswith("_Unpicklable: bad row 7")
  assert "_raise_unpicklable" in text  # the child's traceback


def test_a_killed_child_is_an_error_naming_the_step():
  with pytest.raises(child_process.ChildDied, match="^TeacherTrainer: its child process died"):
    child_process.call("TeacherTrainer", _die)


def test_the_child_logs_at_the_parents_level():
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  root = logging.getLogger()
  saved = root.level, absl_logging.get_verbosity()
  try:
    root.setLevel(logging.ERROR)
    absl_logging.set_verbosity(absl_logging.ERROR)
    assert child_process.call("test", _logging_levels) == (logging.ERROR, absl_logging.ERROR)
    root.setLevel(logging.INFO)
    absl_logging.set_verbosity(absl_logging.INFO)
    assert child_process.call("test", _logging_levels) == (logging.INFO, absl_logging.INFO)
  finally:
    root.setLevel(saved[0])
    absl_logging.set_verbosity(saved[1])
