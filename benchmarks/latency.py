"""Serving latency of one ranking request (one user, 100 candidates) on one thread.

`python benchmarks/latency.py --run RUN_DIR` (also `make bench-latency RUN=RUN_DIR`, and
`make bench` on its own run). The request is built from the run's test split: the
context of a test row whose user has a full history, and 100 distinct test items as
candidates. Scorers, all in one process, called interleaved (every round calls each
once, in an order that rotates), then the median and 99th percentile of each:

* teacher SavedModel, `serving_default`: 100 serialized tf.Examples, each repeating the
  user's features (what a per-candidate client sends);
* student SavedModel, `serving_default`: the same 100 examples;
* student SavedModel, `rank`: the context example once and the 100 candidates' item
  features as lists;
* student int8 TFLite, `MobileBundle.predict`: the 100 per-candidate rows -> vocabulary
  lookups and the manifest's mappings in Python -> interpreter, what an app does;
* student int8 TFLite, `MobileBundle.rank`: the same with the user's features encoded
  once;
* student int8 TFLite, `MobileBundle.rank` on a catalogue encoded once: the candidates'
  item features encoded beforehand (`MobileBundle.encode_candidates`, as an app keeps its
  catalogue), so a request encodes only the user's features;
* student int8 TFLite, interpreter only: the 100 per-candidate rows already encoded and
  quantized (the model's own cost: `TfliteScorer.invoke`);
* student int8 TFLite, interpreter only (context once): the same with the context's
  inputs as one row, as `MobileBundle.rank` feeds them.
* floor: a Session (configured as the SavedModels' are) running a graph that only
  takes the `rank` request's tensors and returns a zero per candidate: what feeding a
  request to a Session and fetching its scores costs, whatever the model. A SavedModel's
  figure cannot go below it, so no ratio to the teacher can exceed the teacher's p50 over
  it (2026-12-04, 1e5 run: 0.24 ms of the student `rank`'s 0.55 ms each called alone, ~0.1
  ms of it handing the run to the Session's inter-op thread and back; interleaved, 0.36 of
  0.89 ms, the teacher's 1.83 ms 5.1x the floor).

Requests are serialized beforehand (a client's cost, not the server's). A SavedModel is
run the way TF Serving runs a Predict request: its SignatureDef loaded into a
`Session` (one intra- and one inter-op thread) and run on the request's tensors, without
the RPC. (Calling the signature as a TF2 function from Python adds ~0.3 ms of Python
argument handling per call that a server does not pay.)

Peak memory: each scorer in a fresh process that builds the request (reading the test
split only until it has one), then loads the scorer and answers the request 100 times;
the figure is that process's peak RSS minus the peak RSS of the same process loading
nothing (Python, TensorFlow, the request).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Callable, Dict, List, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

CANDIDATES = 100
ROUNDS = 2000
WARMUP_ROUNDS = 50
MEMORY_REQUESTS = 100
TEACHER_EXAMPLES = "teacher SavedModel, serving_default"
STUDENT_EXAMPLES = "student SavedModel, serving_default"
STUDENT_RANK = "student SavedModel, rank (context once)"
INT8_PREDICT = "student int8 TFLite, MobileBundle.predict"
INT8_RANK = "student int8 TFLite, MobileBundle.rank (context once)"
INT8_RANK_ENCODED = "student int8 TFLite, MobileBundle.rank (catalogue encoded once)"
INT8_INVOKE = "student int8 TFLite, interpreter only"
INT8_INVOKE_RANK = "student int8 TFLite, interpreter only (context once)"
SESSION_FLOOR = "floor: a Session fed the rank request, no model"
SCORERS = (TEACHER_EXAMPLES, STUDENT_EXAMPLES, STUDENT_RANK, INT8_PREDICT, INT8_RANK,
           INT8_RANK_ENCODED, INT8_INVOKE, INT8_INVOKE_RANK, SESSION_FLOOR)
NOTHING = "nothing"
# The serving targets: how many times faster than the teacher's serving_default at p50.
TARGETS = ((STUDENT_RANK, 5.0), (INT8_RANK, 20.0), (INT8_RANK_ENCODED, 20.0),
           (INT8_INVOKE_RANK, 20.0))


def _one_thread():
  """TensorFlow on one thread: must run before TensorFlow executes anything."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(1)
  tf.config.threading.set_inter_op_parallelism_threads(1)


def locate(run_dir: str) -> Dict[str, str]:
  """The run's raw examples, teacher and student SavedModels and mobile bundle (newest)."""
  # pylint: disable=g-import-not-at-top
  from tfx.utils import path_utils
  from pipeline import configs, mlmd
  # pylint: enable=g-import-not-at-top
  config = configs.run_locations(os.path.join(run_dir, "config.yaml"))
  outputs = mlmd.latest_outputs(config.metadata_path)
  return {"raw_examples": outputs["InteractionsExampleGen"]["examples"].uri,
          "teacher": path_utils.serving_model_dir(outputs["TeacherTrainer"]["model"].uri),
          "student": path_utils.serving_model_dir(outputs["DistillationTrainer"]["model"].uri),
          "bundle": outputs["DistillationTrainer"]["mobile_model"].uri}


def ranking_request(raw_examples_uri: str, candidates: int = CANDIDATES
                    ) -> Tuple[Dict, List[Dict]]:
  """(context, candidate rows) from the test split, read in file order until found: the
  first test row whose history is full gives the user's features; the first `candidates`
  distinct test items, theirs."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from models import export, features, inputs
  # pylint: enable=g-import-not-at-top
  files = inputs.split_files(raw_examples_uri, "test")
  context, items = None, {}
  for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
    (row,) = export.parse_raw_rows([record.numpy()])
    if context is None and features.HISTORY_PAD not in row[features.HISTORY_ITEM_IDS]:
      context = {name: row[name] for name in features.CONTEXT_FEATURES}
    if len(items) < candidates:
      items.setdefault(row[features.ITEM_ID],
                       {name: row[name] for name in features.CANDIDATE_FEATURES})
    if context is not None and len(items) == candidates:
      return context, list(items.values())
  raise ValueError(f"the test split in {raw_examples_uri} has {len(items)} distinct items "
                   f"({candidates} needed) or no row with a full history")


def session_floor(request: Dict[str, "np.ndarray"], threads: int = 1) -> Callable[[], object]:
  """A zero-argument call: a Session configured as `SessionSignature`'s (`new_session`), fed
  `request`'s arrays, fetching one float per candidate (item id) computed from nothing else."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from models import features
  from models.int8_evaluation import new_session
  # pylint: enable=g-import-not-at-top
  graph = tf.Graph()
  with graph.as_default():
    placeholders = {name: tf.compat.v1.placeholder(
        tf.string if value.dtype == object else tf.as_dtype(value.dtype), value.shape, name=name)
                    for name, value in request.items()}
    scores = tf.zeros(tf.shape(placeholders[features.ITEM_ID])[:1], tf.float32)
  session = new_session(graph, threads)
  # As SessionSignature.__call__: the feed dict is built per call.
  return lambda: session.run(scores, {placeholders[k]: v for k, v in request.items()})


def scorers(paths: Dict[str, str], context: Dict, candidates: List[Dict],
            names=SCORERS) -> Dict[str, Callable[[], object]]:
  """Zero-argument callables, each answering the same request one way (loads only `names`)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from models import export  # pylint: disable=g-import-not-at-top
  from models.int8_evaluation import SessionSignature  # pylint: disable=g-import-not-at-top
  rows = [dict(context, **candidate) for candidate in candidates]
  examples = np.array([export.raw_example(row) for row in rows], dtype=object)
  rank_request = export.rank_request(context, candidates)
  made = {}
  if TEACHER_EXAMPLES in names:
    teacher = SessionSignature(paths["teacher"], export.SERVING_SIGNATURE, threads=1)
    made[TEACHER_EXAMPLES] = lambda: teacher(examples=examples)
  if STUDENT_EXAMPLES in names:
    by_examples = SessionSignature(paths["student"], export.SERVING_SIGNATURE, threads=1)
    made[STUDENT_EXAMPLES] = lambda: by_examples(examples=examples)
  if STUDENT_RANK in names:
    by_rank = SessionSignature(paths["student"], export.RANK_SIGNATURE, threads=1)
    made[STUDENT_RANK] = lambda: by_rank(**rank_request)
  if SESSION_FLOOR in names:
    made[SESSION_FLOOR] = session_floor(rank_request)
  if {INT8_PREDICT, INT8_RANK, INT8_RANK_ENCODED, INT8_INVOKE, INT8_INVOKE_RANK} & set(names):
    bundle = export.MobileBundle(paths["bundle"], num_threads=1)
    if INT8_PREDICT in names:
      made[INT8_PREDICT] = lambda: bundle.predict(rows)
    if INT8_RANK in names:
      made[INT8_RANK] = lambda: bundle.rank(context, candidates)
    if INT8_RANK_ENCODED in names:
      catalogue = bundle.encode_candidates(candidates)
      made[INT8_RANK_ENCODED] = lambda: bundle.rank(context, catalogue)
    if INT8_INVOKE in names:
      scorer = export.TfliteScorer(bundle.tflite_model, len(candidates), num_threads=1)
      tensors = scorer.quantize(bundle.encode(rows))
      made[INT8_INVOKE] = lambda: scorer.invoke(tensors)
    if INT8_INVOKE_RANK in names:
      once = export.TfliteScorer(bundle.tflite_model, len(candidates), num_threads=1,
                                 single_row=export.CONTEXT_INPUTS)
      once_tensors = once.quantize(bundle.encode_ranking(context, candidates))
      made[INT8_INVOKE_RANK] = lambda: once.invoke(once_tensors)
  return made


def interleaved(calls: Dict[str, Callable[[], object]], rounds: int = ROUNDS,
                warmup: int = WARMUP_ROUNDS) -> Dict[str, Dict[str, float]]:
  """p50 and p99 in milliseconds of each call, measured round-robin in a rotating order."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  names = list(calls)
  for _ in range(warmup):
    for name in names:
      calls[name]()
  times = {name: [] for name in names}
  for index in range(rounds):
    shift = index % len(names)
    for name in names[shift:] + names[:shift]:
      started = time.perf_counter()
      calls[name]()
      times[name].append(time.perf_counter() - started)
  return {name: {"p50_ms": float(np.percentile(values, 50) * 1e3),
                 "p99_ms": float(np.percentile(values, 99) * 1e3), "calls": len(values)}
          for name, values in times.items()}


def peak_rss_mb() -> float:
  """This process's peak RSS (VmHWM). Not getrusage's ru_maxrss: a process started by a
  large one inherits its parent's figure across fork and exec."""
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024  # kB
  raise RuntimeError("no VmHWM in /proc/self/status (peak memory needs Linux)")


def _memory_of(run_dir: str, name: str) -> float:
  """This process: load one scorer (or nothing), answer the request, return peak RSS (MB)."""
  _one_thread()
  paths = locate(run_dir)
  context, candidates = ranking_request(paths["raw_examples"])
  calls = scorers(paths, context, candidates, names=() if name == NOTHING else (name,))
  for _ in range(MEMORY_REQUESTS):
    for call in calls.values():
      call()
  return peak_rss_mb()


def peak_memory(run_dir: str) -> Dict[str, float]:
  """Peak RSS of each scorer in a fresh process, in MB above a process that loads nothing."""
  def measure(name):
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--run", run_dir, "--memory-of", name],
        check=True, capture_output=True, text=True)
    return float(result.stdout.strip().splitlines()[-1])
  baseline = measure(NOTHING)
  return {name: measure(name) - baseline for name in SCORERS}


def measure(run_dir: str, rounds: int = ROUNDS) -> Dict:
  """The latency table (this process, one thread) and each scorer's peak memory."""
  _one_thread()
  paths = locate(run_dir)
  context, candidates = ranking_request(paths["raw_examples"])
  latency = interleaved(scorers(paths, context, candidates), rounds)
  teacher = latency[TEACHER_EXAMPLES]
  for figures in latency.values():
    figures["teacher_p50_over_this"] = teacher["p50_ms"] / figures["p50_ms"]
    figures["teacher_p99_over_this"] = teacher["p99_ms"] / figures["p99_ms"]
  memory = peak_memory(run_dir)
  for name, megabytes in memory.items():
    latency[name]["peak_rss_mb_above_baseline"] = megabytes
  return {"candidates": len(candidates), "rounds": rounds, "threads": 1, "scorers": latency}


def markdown(result: Dict) -> List[str]:
  lines = [f"Serving latency: one request of {result['candidates']} candidates for one user, "
           f"one thread, {result['rounds']:,} interleaved rounds (`benchmarks/latency.py`).", "",
           "| scorer | p50 ms | p99 ms | teacher p50 / this | teacher p99 / this | "
           "peak RSS MB (above baseline) |", "| --- | --- | --- | --- | --- | --- |"]
  for name in sorted(result["scorers"], key=lambda n: SCORERS.index(n) if n in SCORERS
                     else len(SCORERS)):  # the JSON comes back with sorted keys
    figures = result["scorers"][name]
    lines.append(f"| {name} | {figures['p50_ms']:.3f} | {figures['p99_ms']:.3f} | "
                 f"{figures['teacher_p50_over_this']:.1f}x | "
                 f"{figures['teacher_p99_over_this']:.1f}x | "
                 f"{figures.get('peak_rss_mb_above_baseline', float('nan')):.0f} |")
  lines += ["", "| target: teacher p50 / this at least | scorer | ratio | met |",
            "| --- | --- | --- | --- |"]
  for name, target in TARGETS:
    if name in result["scorers"]:
      ratio = result["scorers"][name]["teacher_p50_over_this"]
      lines.append(f"| {target:.0f}x | {name} | {ratio:.1f}x | "
                   f"{'yes' if ratio >= target else 'NO'} |")
  return lines


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--run", required=True, help="a finished run folder (its config.yaml)")
  parser.add_argument("--rounds", type=int, default=ROUNDS)
  parser.add_argument("--output", help="write the figures here as JSON")
  parser.add_argument("--memory-of", choices=SCORERS + (NOTHING,), help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.memory_of:
    print(_memory_of(args.run, args.memory_of))
    return 0
  result = measure(args.run, args.rounds)
  if args.output:
    from models import fileio  # pylint: disable=g-import-not-at-top
    fileio.write_json(args.output, result)
  print("\n".join(markdown(result)))
  return 0


if __name__ == "__main__":
  sys.exit(main())
