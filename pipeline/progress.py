"""Prints one line per component as it finishes, read from ML Metadata.

TFX runners have no per-component callback, but every finished component is
an MLMD execution with a state and times. A background thread polls the run's
SQLite store (read-only) and prints new COMPLETE / CACHED / FAILED executions;
this works the same for the Beam and the local runner.
"""

import threading
from typing import Dict, List, Optional, Set

from pipeline import mlmd


class ProgressPrinter:
  """Context manager: polls MLMD every `interval` seconds and prints finished components."""

  def __init__(self, metadata_path: str, since: float, interval: float = 1.0, out=None):
    self._path = metadata_path
    self._since = since
    self._interval = interval
    self._out = out
    self._printed: Set[int] = set()
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None
    self.rows: List[Dict] = []

  def _poll(self) -> None:
    try:
      rows = mlmd.finished_executions(self._path, self._since)
    except Exception:  # pylint: disable=broad-except
      return  # the store may not exist yet or be locked by a writer; try again later
    for row in rows:
      if row["id"] not in self._printed:
        self._printed.add(row["id"])
        self.rows.append(row)
        print(f"  {row['node']:<28} {row['state']:<7} {row['seconds']:8.1f} s",
              file=self._out, flush=True)

  def _loop(self) -> None:
    while not self._stop.wait(self._interval):
      self._poll()

  def __enter__(self) -> "ProgressPrinter":
    self._thread = threading.Thread(target=self._loop, daemon=True)
    self._thread.start()
    return self

  def __exit__(self, *exc) -> None:
    self._stop.set()
    if self._thread:
      self._thread.join()
    self._poll()
