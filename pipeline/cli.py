"""The `distillrec` command line.

  distillrec run [--data DIR] [--output RUN_DIR] [--config YAML] [--runner beam|local]
                 [--set section.key=value ...]
  distillrec verify RUN_DIR

Defaults come from the config sections that pipeline/configs.py composes; a YAML
file overrides them and flags override the YAML. A bad flag, path or value prints
one line and exits 2. `run` exits 0 when both models were blessed and pushed, 3 with
a `not blessed: ...` line per failed threshold when a model was not, 1 on errors.
"""

import argparse
import logging
import os
import re
import sys
import time
import warnings
from typing import List, Optional

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pipeline.configs import RUNNERS  # pylint: disable=wrong-import-position

# Exit code of a run that finished but whose models were not (all) blessed and pushed.
EXIT_NOT_BLESSED = 3
# Errors whose own message is the thing to show (raised inside components).
_KNOWN_ERRORS = ("ValidationGateError", "DataError")


class _OneLineParser(argparse.ArgumentParser):

  def error(self, message):
    self.exit(2, f"distillrec: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
  parser = _OneLineParser(prog="distillrec", description=__doc__.split("\n\n")[0])
  sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
  run = sub.add_parser("run", help="run the pipeline",
                       description="Run the pipeline on the synthetic data or a data folder.")
  run.add_argument("--data", help="data folder (MovieLens 100K/1M/latest or generic CSV/Parquet); "
                   "default: the embedded synthetic generator")
  run.add_argument("--output", help="run folder (default: runs/default)")
  run.add_argument("--config", help="YAML file with config overrides")
  run.add_argument("--runner", choices=RUNNERS, help="orchestrator (default: beam)")
  run.add_argument("--format", help="data format: auto, ml-100k, ml-1m, ml-latest, csv, parquet")
  run.add_argument("--num-interactions", type=int,
                   help="size of the synthetic data set (default 100000)")
  run.add_argument("--seed", type=int, help="seed of the synthetic data set")
  run.add_argument("--until", help="stop after this component, e.g. Transform")
  run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config value, e.g. --set example_gen.history_length=10")
  run.add_argument("--verbose", action="store_true", help="show TFX and Beam logs")
  check = sub.add_parser(
      "verify", help="re-check every pushed model of a run",
      description="Loads every pushed SavedModel version in a fresh TensorFlow-only process "
                  "and scores its warmup requests; checks every mobile version's files "
                  "against the sha256 in its manifest and that 'latest' names the newest. "
                  "Exits 1 naming each broken file.")
  check.add_argument("run_dir", metavar="RUN_DIR", help="the run folder (--output of run)")
  check.add_argument("--verbose", action="store_true", help="show TensorFlow logs")
  return parser


def _overrides(args) -> List[str]:
  pairs = []
  for flag, key in (("data", "data.data_dir"), ("output", "output_dir"), ("runner", "runner"),
                    ("format", "data.format"), ("until", "until"),
                    ("num_interactions", "synthetic.num_interactions"),
                    ("seed", "synthetic.seed")):
    value = getattr(args, flag)
    if value is not None:
      pairs.append(f"{key}={value}" if flag not in ("data", "output", "format", "until")
                   else f"{key}={_quote(value)}")
  return pairs + list(args.set)


def _quote(text: str) -> str:
  return "'" + str(text).replace("'", "''") + "'"


def failure_message(error: BaseException) -> str:
  """The readable part of an error that may come wrapped by Beam or TFX."""
  text = str(error)
  for name in _KNOWN_ERRORS:
    matches = list(re.finditer(rf"{name}: ", text))
    if matches:
      message = text[matches[-1].end():]
      cut = re.search(r"\n(?:Traceback|\s*\[while running|\n)", message)
      return (message[:cut.start()] if cut else message).strip()
  return f"{type(error).__name__}: {text.strip().splitlines()[-1] if text.strip() else ''}"


def _quiet() -> None:
  """Hides library warnings and INFO logs (TF, Beam, TFX); set before they are imported."""
  warnings.filterwarnings("ignore")
  os.environ.setdefault("PYTHONWARNINGS", "ignore")  # Beam's worker processes too
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
  logging.getLogger().setLevel(logging.ERROR)
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.ERROR)


def run(args) -> int:
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  try:
    config = configs.load_config(args.config, _overrides(args))
    if config.data.data_dir and not os.path.isdir(config.data.data_dir):
      raise ValueError(f"data folder {config.data.data_dir} does not exist")
  except ValueError as e:
    print(f"distillrec: {e}", file=sys.stderr)
    return 2
  if not args.verbose:
    _quiet()
  # Heavy imports (TensorFlow, TFX, Beam) only after the cheap checks.
  from pipeline import runners, report  # pylint: disable=g-import-not-at-top
  from interactions.sources import DataError  # pylint: disable=g-import-not-at-top
  started = time.time()
  try:
    inputs = runners.resolve_inputs(config)
  except (DataError, ValueError) as e:
    print(f"distillrec: {e}", file=sys.stderr)
    return 2
  try:
    config = runners.run_pipeline(config, inputs)
  except Exception as e:  # pylint: disable=broad-except
    print(f"distillrec: the run failed: {failure_message(e)}", file=sys.stderr)
    print(f"  (logs: rerun with --verbose; run folder {config.output_dir})", file=sys.stderr)
    return 1
  print(f"Finished in {time.time() - started:.0f} s.")
  summary = report.build_report(config)
  for line in report.write_report(config, summary):
    print(line)
  problems = report.outcome(summary)
  for line in problems:
    print(line, file=sys.stderr)
  return EXIT_NOT_BLESSED if problems else 0


def verify(args) -> int:
  """Re-checks every pushed version of a run: SavedModels load and score, bundles match."""
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  config_path = os.path.join(args.run_dir, "config.yaml")
  if not os.path.isfile(config_path):
    print(f"distillrec: {config_path} does not exist (is {args.run_dir} a run folder?)",
          file=sys.stderr)
    return 2
  try:
    config = configs.run_locations(config_path)
  except ValueError as e:
    print(f"distillrec: {config_path}: {e}", file=sys.stderr)
    return 2
  if not args.verbose:
    _quiet()
  from models import push  # pylint: disable=g-import-not-at-top
  problems = []
  for kind, folder, check in (("serving", config.serving_model_dir, push.verify_serving),
                              ("mobile", config.mobile_push_dir, push.verify_mobile)):
    found = check(folder)
    problems += found
    if not found:
      print(f"ok: {kind}: {len(push.versions(folder))} version(s) in {folder}")
  for problem in problems:
    print(f"broken: {problem}", file=sys.stderr)
  return 1 if problems else 0


def main(argv: Optional[List[str]] = None) -> int:
  args = _parser().parse_args(argv)
  return {"run": run, "verify": verify}[args.command](args)


if __name__ == "__main__":
  sys.exit(main())
