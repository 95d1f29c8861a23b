"""Hands heap memory that a finished step freed back to the operating system.

TFX's local runners run every component in one process, so each component starts on top
of what the ones before it still hold. glibc keeps freed heap pages in the process
(fragmented between live allocations, they stay resident); `malloc_trim(0)` returns
every whole free page. Measured with the DistillationTrainer alone in a process, on the
1e6 run's data: resident 4.0 GB when it returned, unchanged by gc.collect() and Keras'
clear_session(), 3.2 GB after malloc_trim; on 1e5: 1.8 GB -> 1.1 GB. What stays is held
by live TensorFlow runtime state, not by Python objects (no numpy array is left).
"""

import ctypes
import ctypes.util
import gc
import logging
import os


def resident_bytes(pid: "int | str" = "self") -> int:
  """The resident set size of this process (or of process `pid`) from Linux /proc; 0 where
  that is not available."""
  try:
    with open(f"/proc/{pid}/statm") as statm:
      return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
  except (OSError, ValueError, IndexError):
    return 0


def release_freed_memory(step: str) -> int:
  """Collects garbage and returns free heap pages to the OS (glibc); the bytes released.

  Elsewhere than glibc (no malloc_trim) only the garbage collection runs.
  """
  before = resident_bytes()
  gc.collect()
  name = ctypes.util.find_library("c")
  try:
    trim = ctypes.CDLL(name).malloc_trim if name else None
  except (OSError, AttributeError):
    trim = None
  if trim is not None:
    trim(0)
  after = resident_bytes()
  released = max(0, before - after)
  logging.info("%s: released %.0f MB of freed memory to the OS (resident now %.0f MB)", step,
               released / 2**20, after / 2**20)
  return released
