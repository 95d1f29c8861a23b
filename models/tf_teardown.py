"""Hides one harmless message: TensorFlow functions deleted while Python exits.

A process that still holds a loaded SavedModel when it exits deletes the model's
tf.functions while Python tears its modules down. Beam's worker processes do: TFMA keeps
each model for the worker's life, and the 1e6 run's Evaluator workers printed about
twenty of these on the console:

  Exception ignored in: <function AtomicFunction.__del__ at 0x...>
  Traceback (most recent call last):
    File ".../atomic_function.py", line 291, in __del__
  TypeError: 'NoneType' object is not subscriptable

(`RUNTIME_FUNCTION_REFS`, a module global, is already None.) Nothing is lost: the process
is ending. `install()` drops exactly that report, a TypeError from AtomicFunction.__del__
while the interpreter finalizes, and hands every other one to the hook it replaces.
"""

import sys

_NAME = "AtomicFunction.__del__"


def _hook(unraisable, previous, is_finalizing=sys.is_finalizing, name=_NAME,
          type_error=TypeError, get=getattr):
  # Everything it needs is bound as an argument: module globals may be gone by now.
  if (is_finalizing() and unraisable.exc_type is type_error
      and get(unraisable.object, "__qualname__", None) == name):
    return
  previous(unraisable)


def install() -> None:
  """Installs the filter in this process (once; later calls do nothing)."""
  if getattr(sys.unraisablehook, "_distillrec_tf_teardown", False):
    return
  previous = sys.unraisablehook

  def hook(unraisable, _previous=previous, _filter=_hook):
    _filter(unraisable, _previous)

  hook._distillrec_tf_teardown = True
  sys.unraisablehook = hook
