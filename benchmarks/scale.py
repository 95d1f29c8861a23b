"""`make bench-scale`: wall time and peak memory of every component as the data grows.

For each size (default 1e5, 1e6 and 3e6 synthetic interactions) runs `distillrec run` in a
fresh process with the default config (nothing cached: a new output folder) while a
sampler reads the resident memory of that process and all its children (Beam's worker
processes included) every SAMPLE_SECONDS. Afterwards ML Metadata gives every component's
start and end; a component's peak memory is the largest sample taken while it ran (the
components run in turn in one process, so it includes what earlier ones still hold; the
trainers run in child processes of it, which end with them).

Writes benchmarks/scale.md and benchmarks/results/scale/scale.json (with another --output,
both there): per component and size, seconds and peak RSS, and how each grows from one
size to the next relative to the data (time ratio / size ratio: 1.0 is linear, below 1 a
fixed cost still dominates).
Run it alone on the machine: every figure is a time.
"""

import argparse
import os
import subprocess
import sys
import threading
import time
from typing import Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import reports  # benchmarks/reports.py  # pylint: disable=wrong-import-position

DEFAULT_OUTPUT = os.path.join(HERE, "results", "scale")

SIZES = (100_000, 1_000_000, 3_000_000)
SAMPLE_SECONDS = 0.5


class TreeMemorySampler(threading.Thread):
  """Samples (time, RSS bytes of a process and all its descendants) until stopped."""

  def __init__(self, pid: int, interval: float = SAMPLE_SECONDS):
    super().__init__(daemon=True)
    self._pid, self._interval = pid, interval
    self._stop_event = threading.Event()
    self.samples: List[Tuple[float, int]] = []

  def run(self):
    import psutil  # pylint: disable=g-import-not-at-top
    try:
      root = psutil.Process(self._pid)
    except psutil.NoSuchProcess:
      return
    while not self._stop_event.is_set():
      total = 0
      try:
        for process in [root] + root.children(recursive=True):
          try:
            total += process.memory_info().rss
          except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # a worker that exited between the listing and the read holds nothing
      except psutil.NoSuchProcess:
        return
      self.samples.append((time.time(), total))
      self._stop_event.wait(self._interval)

  def stop(self):
    self._stop_event.set()
    self.join()


def component_windows(metadata_path: str) -> List[Dict]:
  """Every execution of the run: node, start and end (Unix seconds), state."""
  from pipeline import mlmd  # pylint: disable=g-import-not-at-top
  store = mlmd.open_store(metadata_path)
  rows = []
  for execution in store.get_executions():
    rows.append({"node": mlmd.node_id(store, execution),
                 "start": execution.create_time_since_epoch / 1000.0,
                 "end": execution.last_update_time_since_epoch / 1000.0})
  return sorted(rows, key=lambda r: r["start"])


def peak_within(samples: List[Tuple[float, int]], start: float, end: float) -> float:
  """Largest sample in [start, end] in MB (the nearest sample when none falls inside)."""
  inside = [rss for t, rss in samples if start <= t <= end]
  if not inside and samples:
    inside = [min(samples, key=lambda s: abs(s[0] - (start + end) / 2))[1]]
  return max(inside) / 2**20 if inside else float("nan")


def run_size(size: int, output: str) -> Dict:
  """One `distillrec run` at `size` into output/<size>: wall seconds, per-component figures."""
  run_dir = os.path.join(output, str(size))
  subprocess.run(["rm", "-rf", run_dir], check=True)
  command = [os.path.join(os.path.dirname(sys.executable), "distillrec"), "run",
             "--num-interactions", str(size), "--output", run_dir]
  env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
  started = time.time()
  with open(os.path.join(output, f"{size}.log"), "w") as log:
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    sampler = TreeMemorySampler(process.pid)
    sampler.start()
    code = process.wait()
    sampler.stop()
  wall = time.time() - started
  if code not in (0, 3):  # 3: ran to the end, a model was not blessed
    raise RuntimeError(f"distillrec run at {size:,} interactions exited {code}: see "
                       f"{os.path.join(output, f'{size}.log')}")
  components = {}
  for window in component_windows(os.path.join(run_dir, "metadata.sqlite")):
    components[window["node"]] = {
        "seconds": window["end"] - window["start"],
        "peak_rss_mb": peak_within(sampler.samples, window["start"], window["end"])}
  return {"interactions": size, "exit_code": code, "wall_seconds": wall,
          "peak_rss_mb": max((rss for _, rss in sampler.samples), default=0) / 2**20,
          "components": components}


def growth(runs: List[Dict], node: str, key: str) -> List[float]:
  """figure(size_i) / figure(size_i-1) divided by size_i / size_i-1, for each step."""
  ratios = []
  for before, after in zip(runs, runs[1:]):
    first = before["components"].get(node, {}).get(key)
    second = after["components"].get(node, {}).get(key)
    size_ratio = after["interactions"] / before["interactions"]
    ratios.append(second / first / size_ratio if first and second else float("nan"))
  return ratios


def markdown(runs: List[Dict]) -> List[str]:
  sizes = [f"{r['interactions']:,}" for r in runs]
  steps = [f"{a} -> {b}" for a, b in zip(sizes, sizes[1:])]
  lines = ["# distillrec scaling (`make bench-scale`)", "",
           "`distillrec run` with the default config on the synthetic data, one fresh process "
           "per size, alone on the machine. Seconds from ML Metadata; peak RSS of the run's "
           "process tree (Beam workers included) sampled every "
           f"{SAMPLE_SECONDS} s while the component ran (one process runs the components "
           "in turn, so a figure includes what earlier ones still hold; the trainers run in "
           "child processes of it, which end with them). Growth: time ratio / "
           "size ratio (1.0 = linear; below 1, fixed costs still dominate).", "",
           "| component | " + " | ".join(f"s at {s}" for s in sizes) + " | "
           + " | ".join(f"MB at {s}" for s in sizes) + " | "
           + " | ".join(f"time growth {s}" for s in steps) + " |",
           "| --- |" + " --- |" * (2 * len(sizes) + len(steps))]
  nodes = list(runs[-1]["components"]) if runs else []
  for node in nodes:
    seconds = [r["components"].get(node, {}).get("seconds") for r in runs]
    memory = [r["components"].get(node, {}).get("peak_rss_mb") for r in runs]
    lines.append(f"| {node} | " + " | ".join("-" if v is None else f"{v:.1f}" for v in seconds)
                 + " | " + " | ".join("-" if v is None else f"{v:,.0f}" for v in memory)
                 + " | " + " | ".join(f"{g:.2f}" for g in growth(runs, node, "seconds"))
                 + " |")
  wall_growth = [(b["wall_seconds"] / a["wall_seconds"]) / (b["interactions"] / a["interactions"])
                 for a, b in zip(runs, runs[1:])]
  lines.append("| **whole run (wall)** | " + " | ".join(f"{r['wall_seconds']:.0f}" for r in runs)
               + " | " + " | ".join(f"{r['peak_rss_mb']:,.0f}" for r in runs) + " | "
               + " | ".join(f"{g:.2f}" for g in wall_growth) + " |")
  return lines


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
  parser.add_argument("--output", default=DEFAULT_OUTPUT,
                      help="its runs and scale.json; scale.md goes to benchmarks/ from the "
                           "default folder, else into this one")
  args = parser.parse_args(argv)
  from models import fileio  # pylint: disable=g-import-not-at-top
  os.makedirs(args.output, exist_ok=True)
  runs = []
  for size in sorted(args.sizes):
    print(f"make bench-scale: distillrec run at {size:,} interactions", flush=True)
    runs.append(run_size(size, args.output))
    fileio.write_json(os.path.join(args.output, "scale.json"), {"runs": runs})
  lines = markdown(runs)
  reports.write_report(lines, args.output, DEFAULT_OUTPUT, "scale.md")
  print("\n".join(lines))
  return 0


if __name__ == "__main__":
  sys.exit(main())
