"""Where a benchmark writes its markdown report."""

import os
from typing import List

HERE = os.path.dirname(os.path.abspath(__file__))


def report_path(output: str, default_output: str, name: str) -> str:
  """benchmarks/<name>, the committed report, when the benchmark wrote its results to its
  default output folder; otherwise <output>/<name>, beside them, so a trial run elsewhere
  (a small data set, other sizes) never overwrites the committed figures."""
  if os.path.abspath(output) == os.path.abspath(default_output):
    return os.path.join(HERE, name)
  return os.path.join(output, name)


def write_report(lines: List[str], output: str, default_output: str, name: str) -> str:
  """Writes the report's markdown lines where `report_path` says (atomically); its path."""
  from models import fileio  # pylint: disable=g-import-not-at-top
  path = report_path(output, default_output, name)
  fileio.write_text(path, "\n".join(lines) + "\n")
  return path
