"""Runs one step of an executor in a fresh child process and returns its result.

TFX's local runners run every component in one process. A trainer leaves TensorFlow
runtime state in it that no garbage collection gives back (measured on the 1e6 run's
data: the DistillationTrainer alone left 4.0 GB resident, 3.2 GB after malloc_trim), and
every later component (the Evaluator's Beam workers included) then runs on top of it. A
trainer run here instead hands all of that back to the operating system when it ends.

The child is spawned, not forked: the parent already runs TensorFlow's and Beam's threads,
which a fork does not copy. It imports what `fn` needs afresh (about 6 s for TensorFlow,
TF-MOT, TFRS and tf.Transform) and inherits the environment (TF_USE_LEGACY_KERAS,
PYTHONPATH, the CLI's quiet settings) and the parent's logging level.
"""

import concurrent.futures
import logging
import multiprocessing
import pickle
import traceback
from typing import Any, Callable, Tuple

from models import process_memory


class ChildDied(RuntimeError):
  """The child process died without returning (killed, out of memory, crashed)."""


class ChildError(RuntimeError):
  """An exception raised in the child that could not be sent back as itself; its text
  holds the child's traceback."""


def _start_child(level: int, absl_verbosity: int) -> None:
  """Initializer of the child: the parent's logging level, stderr like the parent's."""
  logging.basicConfig(level=level, format="%(levelname)s %(asctime)s %(message)s")
  logging.getLogger().setLevel(level)
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_verbosity)


def _call(fn: Callable[..., Any], args: Tuple, kwargs: dict) -> Any:
  """Runs fn in the child; an exception that does not pickle comes back as ChildError."""
  try:
    return fn(*args, **kwargs)
  except Exception as error:  # pylint: disable=broad-except
    try:
      pickle.loads(pickle.dumps(error))
    except Exception:  # pylint: disable=broad-except
      raise ChildError(f"{type(error).__name__}: {error}\n\nIn the child process:\n"
                       f"{traceback.format_exc()}") from None
    raise


def call(step: str, fn: Callable[..., Any], *args, **kwargs) -> Any:
  """fn(*args, **kwargs) in a spawned child process; its return value or its exception.

  fn, its arguments and its result must pickle (fn: a module-level function). `step`
  names the caller in logs and in the error raised when the child dies.
  """
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  context = multiprocessing.get_context("spawn")
  logging.info("%s: running %s.%s in a child process", step, fn.__module__, fn.__name__)
  with concurrent.futures.ProcessPoolExecutor(
      max_workers=1, mp_context=context, initializer=_start_child,
      initargs=(logging.getLogger().getEffectiveLevel(), absl_logging.get_verbosity())) as pool:
    future = pool.submit(_call, fn, args, kwargs)
    try:
      return future.result()
    except concurrent.futures.process.BrokenProcessPool as error:
      raise ChildDied(
          f"{step}: its child process died before returning (killed, e.g. out of memory, "
          f"or crashed); rerun with --verbose for its logs") from error


def run_step(step: str, fn: Callable[..., Any], separate: bool, **kwargs) -> Any:
  """fn(**kwargs) in a child process (`call`) when `separate`, else in this process.

  In this process, freed heap is handed back to the OS afterwards
  (`process_memory.release_freed_memory`): on a local runner the components after this
  step run in the same process.
  """
  if separate:
    return call(step, fn, **kwargs)
  result = fn(**kwargs)
  process_memory.release_freed_memory(step)
  return result
