"""Compare student settings on the eval split, the split choices are made on.

`python benchmarks/choose.py --run RUN_DIR --output DIR [--seeds 42 43 44]
    --variant NAME KEY=VALUE [KEY=VALUE ...] [--variant ...]`

Trains one student per variant and seed alone on a finished run's teacher, Transform graph
and split (the DistillationTrainer's own code, `benchmarks.run._train_student`), with the
run's own config (its config.yaml) and the variant's overrides on top, and prints
for each the figures the pruning budget judges (models.distillation.EvalRows, the chosen
step's, before QAT) minus the teacher's: eval AUC, GAUC, and GAUC of the known and of the
new users; then each variant's mean and standard deviation over the seeds and its mean
against the first variant's. A default is changed only when a variant is better by more
than the seeds' spread (issue 10's rule for an option).

Test-split figures are deliberately not computed: a choice made on them would make
`make bench`'s test figures (the gate's split) optimistic. Several of the defaults in
models/hparams.py were once chosen on test figures; their comments say which were checked
again here.
"""

import argparse
import json
import os
import statistics
import sys
import time
from typing import Dict, List, Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def _figures():
  """The pruning budget's figures (models.distillation.BUDGET_FIGURES), imported late:
  models.distillation imports TensorFlow."""
  from models.distillation import BUDGET_FIGURES  # pylint: disable=g-import-not-at-top
  return BUDGET_FIGURES


def eval_gaps(prune_stage: Dict) -> Dict[str, float]:
  """The chosen step's eval figures minus the teacher's, from a CompressionReport's
  student.stages["prune"]. A figure the teacher's reference lacks (the eval split has no
  new user with both labels, say) is NaN, as the budget does not check it either."""
  step = prune_stage["curve"][prune_stage["chosen_step"]]
  teacher = prune_stage["teacher"]
  nan = float("nan")
  return {name: step.get(name, nan) - teacher.get(name, nan) for name in _figures()}


def _mean(values: Sequence[float]) -> float:
  """statistics.mean, but NaN where a value is NaN (statistics' exact sums reject NaN)."""
  return float("nan") if any(v != v for v in values) else statistics.mean(values)


def _stdev(values: Sequence[float]) -> float:
  """The sample standard deviation; NaN for one value or where a value is NaN."""
  if len(values) < 2 or any(v != v for v in values):
    return float("nan")
  return statistics.stdev(values)


def summarize(results: Dict[str, List[Dict[str, float]]]) -> List[str]:
  """Markdown lines: per variant, the mean +- std over seeds of each figure's gap to the
  teacher, and the mean difference to the first variant's."""
  names = list(results)
  figures = _figures()
  lines = ["| variant | seeds | " + " | ".join(f"{f} - teacher" for f in figures)
           + " | " + " | ".join(f"{f} vs {names[0]}" for f in figures) + " |",
           "| --- | ---: |" + " ---: |" * (2 * len(figures))]
  values = {name: {f: [r[f] for r in runs] for f in figures} for name, runs in results.items()}
  means = {name: {f: _mean(v) for f, v in by_figure.items()}
           for name, by_figure in values.items()}
  for name in names:
    cells = [f"{means[name][f]:+.4f} +- {_stdev(values[name][f]):.4f}" for f in figures]
    diffs = [f"{means[name][f] - means[names[0]][f]:+.4f}" for f in figures]
    lines.append(f"| {name} | {len(results[name])} | " + " | ".join(cells) + " | "
                 + " | ".join(diffs) + " |")
  return lines


def _parser():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--run", required=True, help="a finished distillrec run folder")
  parser.add_argument("--output", required=True, help="where the students are written")
  parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
  parser.add_argument("--variant", nargs="+", action="append", required=True,
                      metavar=("NAME", "KEY=VALUE"),
                      help="a name, then the config overrides of that variant")
  return parser


def main(argv: Sequence[str] = None) -> int:
  args = _parser().parse_args(argv)
  # pylint: disable=g-import-not-at-top
  import run as bench  # benchmarks/run.py
  from models.teacher_trainer import TeacherSummary
  from pipeline import configs, mlmd
  # pylint: enable=g-import-not-at-top
  outputs = mlmd.latest_outputs(os.path.join(args.run, "metadata.sqlite"))
  paths = bench._artifact_paths(outputs)  # pylint: disable=protected-access
  teacher = TeacherSummary.read(paths["teacher_dir"])
  results: Dict[str, List[Dict[str, float]]] = {}
  for name, *overrides in args.variant:
    for seed in args.seeds:
      config = configs.load_config(os.path.join(args.run, "config.yaml"),
                                   overrides=[*overrides, f"student.training.seed={seed}"])
      started = time.time()
      report, _ = bench._train_student(  # pylint: disable=protected-access
          config, paths, teacher, config.distillation, config.student,
          os.path.join(args.output, name, str(seed)))
      gaps = eval_gaps(report.student.stages["prune"])
      results.setdefault(name, []).append(gaps)
      print(json.dumps({"variant": name, "seed": seed, "seconds": round(time.time() - started, 1),
                        **{k: round(v, 4) for k, v in gaps.items()}}), flush=True)
  print("\n".join(summarize(results)))
  return 0


if __name__ == "__main__":
  sys.exit(main())
