"""Where a benchmark writes its markdown report."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))


def report_path(output: str, default_output: str, name: str) -> str:
  """benchmarks/<name>, the committed report, when the benchmark wrote its results to its
  default output folder; otherwise <output>/<name>, beside them, so a trial run elsewhere
  (a small data set, other sizes) never overwrites the committed figures."""
  if os.path.abspath(output) == os.path.abspath(default_output):
    return os.path.join(HERE, name)
  return os.path.join(output, name)
