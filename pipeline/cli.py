"""The `distillrec` command line.

  distillrec run [--data DIR] [--output RUN_DIR] [--config YAML] [--runner beam|local]
                 [--set section.key=value ...]
  distillrec verify RUN_DIR
  distillrec report RUN_DIR [--output DIR]
  distillrec recommend --run RUN_DIR --user USER_ID [-k 10] [--include-seen]
                       [--model int8|serving]
  distillrec compile-kubeflow --image IMAGE --pipeline-root URI [--data URI]
                              [--config YAML] [--set section.key=value ...] [--output FILE]

Defaults come from the config sections that pipeline/configs.py composes; a YAML
file overrides them and flags override the YAML. A bad flag, path or value prints
one line and exits 2. `run` exits 0 when both models were blessed and pushed, 3 with
a `not blessed: ...` line per failed threshold when a model was not, 1 on errors.
"""

import argparse
import dataclasses
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
# A folder whose sitecustomize.py Beam's worker processes run at start-up (see _quiet).
WORKER_SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker_site")


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
  _add_report_parser(sub)
  _add_recommend_parser(sub)
  _add_compile_kubeflow_parser(sub)
  return parser


def _add_report_parser(sub) -> None:
  rep = sub.add_parser(
      "report", help="write a run's report.md with charts (and report.json) again",
      description="Reads a finished run's ML Metadata and artifacts (it changes neither) "
                  "and writes report.json and report.md with its PNG charts in report/ "
                  "beside it, as the end of run does, and prints the same summary. "
                  "Charts: interactions over time by split, cold-start shares, wall time "
                  "per component, test AUC and GAUC by user group, AUC vs bytes with the "
                  "pruning curve, teacher vs int8 student scores on the test split (scored "
                  "now through the exported models, at most 10,000 rows). A chart that "
                  "cannot be drawn is named in report.md and on stderr and the command "
                  "still exits 0. Exits 2 with one line when RUN_DIR is not a run folder, "
                  "1 when the report cannot be written.")
  rep.add_argument("run_dir", metavar="RUN_DIR", help="the run folder (--output of run)")
  rep.add_argument("--output", metavar="DIR",
                   help="write report.json, report.md and report/ into DIR instead of RUN_DIR "
                        "(e.g. to keep a run folder untouched)")
  rep.add_argument("--verbose", action="store_true", help="show TensorFlow logs")


def _add_compile_kubeflow_parser(sub) -> None:
  kfp = sub.add_parser(
      "compile-kubeflow", help="compile the pipeline into a Kubeflow Pipelines (KFP v2) spec",
      description="Compiles the same pipeline with TFX's KubeflowV2DagRunner into a KFP v2 "
                  "pipeline spec (JSON, or YAML for .yaml/.yml) to upload to Kubeflow "
                  "Pipelines or Vertex AI Pipelines. Every component runs in IMAGE (built "
                  "from the Dockerfile). Every path is on the cluster, below --pipeline-root "
                  "as below --output of run: TFX's pipeline root is pipeline_root/, pushes "
                  "go to serving/<model>/ and mobile/, and the curated schema is written now "
                  "to schema/ (this machine needs write access there). ML Metadata is "
                  "Kubeflow's. beam.extra_args (--config or --set) pass through to every "
                  "Beam component, e.g. --runner=DataflowRunner. Exits 2 with one line on a "
                  "bad flag or a path of this machine, 1 when compiling or writing fails.")
  kfp.add_argument("--image", required=True,
                   help="container image every component runs in, pushed where the cluster "
                        "pulls from, e.g. us-docker.pkg.dev/PROJECT/REPO/distillrec:0.1.0")
  kfp.add_argument("--pipeline-root", required=True, metavar="URI",
                   help="the run's folder on the cluster's storage, e.g. gs://BUCKET/distillrec "
                        "(as --output of run: pipeline_root/, schema/, serving/, mobile/ below it)")
  kfp.add_argument("--data", metavar="URI",
                   help="the data folder as the cluster reads it, e.g. gs://BUCKET/data/ml-1m; "
                        "required (or data.data_dir in --config): the synthetic data set is "
                        "generated on the machine that runs the pipeline, so upload it first")
  kfp.add_argument("--config", metavar="YAML", help="YAML file with config overrides")
  kfp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config value, e.g. "
                        "--set 'beam.extra_args=[--runner=DataflowRunner, --project=P]'")
  kfp.add_argument("--output", default="pipeline.json", metavar="FILE",
                   help="where to write the spec: .json or .yaml/.yml (default pipeline.json)")
  kfp.add_argument("--verbose", action="store_true", help="show TFX logs")


def _add_recommend_parser(sub) -> None:
  from pipeline.recommend import INT8, MODELS  # pylint: disable=g-import-not-at-top
  rec = sub.add_parser(
      "recommend", help="rank every item for one user with a pushed model",
      description="Ranks every item of the run's data for one user with the run's newest "
                  "pushed model and prints the best k: rank, item id, genres and year where "
                  "the item table has them, score (P(like)). The user's context is their "
                  "latest: history, count and like-rate over all of their interactions in the "
                  "run's data. An unknown user (no interaction in the run's data) is said to "
                  "be one and ranked by the model from attributes (the user table's, if any) "
                  "and an empty history, with an out-of-vocabulary user id. Exits 2 with one "
                  "line on a missing run folder, nothing pushed or a bad -k.")
  rec.add_argument("--run", required=True, metavar="RUN_DIR",
                   help="the run folder (--output of run)")
  rec.add_argument("--user", required=True, metavar="USER_ID",
                   help="the user id as in the data, e.g. u000042")
  rec.add_argument("-k", type=int, default=10, help="how many items to list (default 10)")
  rec.add_argument("--include-seen", action="store_true",
                   help="keep items the user already interacted with (left out by default)")
  rec.add_argument("--model", choices=MODELS, default=INT8,
                   help="int8 (default): the newest pushed mobile bundle through its "
                        "vocabularies and manifest into the TFLite interpreter, as an app "
                        "runs it; serving: the newest pushed SavedModel's serving_default on "
                        "serialized tf.Examples, as TF Serving runs it")
  rec.add_argument("--verbose", action="store_true", help="show TensorFlow logs")


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


def worker_pythonpath(pythonpath: str) -> str:
  """`pythonpath` with WORKER_SITE first (once)."""
  rest = [p for p in pythonpath.split(os.pathsep) if p and p != WORKER_SITE]
  return os.pathsep.join([WORKER_SITE] + rest)


def _quiet() -> None:
  """Hides library warnings and INFO logs (TF, Beam, TFX); set before they are imported."""
  warnings.filterwarnings("ignore")
  os.environ.setdefault("PYTHONWARNINGS", "ignore")  # Beam's worker processes too
  # Beam's worker processes import pipeline/worker_site/sitecustomize.py at start-up, which
  # hides TensorFlow's exit-time AtomicFunction.__del__ reports (models.tf_teardown).
  os.environ["PYTHONPATH"] = worker_pythonpath(os.environ.get("PYTHONPATH", ""))
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
  logging.getLogger().setLevel(logging.ERROR)
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.ERROR)


def _verbose() -> None:
  """Shows INFO logs (each step's progress: TFX's launches, the trainers' epochs) with times.

  Without it the root logger stays at Python's default, WARNING, and every logging.info of
  the components is dropped, --verbose or not."""
  logging.basicConfig(level=logging.INFO, format="%(levelname)s %(asctime)s %(message)s")
  logging.getLogger().setLevel(logging.INFO)
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.INFO)


def _logging(verbose: bool) -> None:
  """--verbose: every log at INFO and above; else only this command's own output."""
  if verbose:
    _verbose()
  else:
    _quiet()


def run(args) -> int:
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  try:
    config = configs.load_config(args.config, _overrides(args))
    if config.data.data_dir and not os.path.isdir(config.data.data_dir):
      raise ValueError(f"data folder {config.data.data_dir} does not exist")
  except ValueError as e:
    print(f"distillrec: {e}", file=sys.stderr)
    return 2
  _logging(args.verbose)
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
  _write_markdown(config, summary)
  problems = report.outcome(summary)
  for line in problems:
    print(line, file=sys.stderr)
  return EXIT_NOT_BLESSED if problems else 0


def _write_markdown(config, summary, output_dir: Optional[str] = None) -> bool:
  """report.md and its charts; a failure is printed, never raised, so no exit code changes."""
  try:
    from pipeline import report_markdown  # pylint: disable=g-import-not-at-top
    path, problems = report_markdown.write(config, summary, output_dir)
  except Exception as e:  # pylint: disable=broad-except
    print(f"distillrec: could not write report.md: {failure_message(e)}", file=sys.stderr)
    return False
  print(f"Report with charts: {path}")
  for problem in problems:
    print(f"note: report.md: {problem}", file=sys.stderr)
  return True


def _run_file(run_dir: str, name: str, *also: str) -> str:
  """RUN_DIR/name if it and RUN_DIR/also... exist; else prints the missing one and returns ""."""
  for path in [os.path.join(run_dir, n) for n in (name, *also)]:
    if not os.path.isfile(path):
      print(f"distillrec: {path} does not exist (is {run_dir} a run folder?)", file=sys.stderr)
      return ""
  return os.path.join(run_dir, name)


def report(args) -> int:
  """Writes a finished run's report.json and report.md again, from its ML Metadata."""
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  config_path = _run_file(args.run_dir, "config.yaml", "metadata.sqlite")
  if not config_path:
    return 2
  try:
    # The whole config: the gate section's thresholds label the checks.
    config = configs.load_config(config_path)
  except ValueError as e:
    print(f"distillrec: {e}", file=sys.stderr)
    return 2
  # The run may have moved since: its store is the one in RUN_DIR.
  config = dataclasses.replace(config, output_dir=os.path.abspath(args.run_dir))
  _logging(args.verbose)
  from pipeline import report as run_report  # pylint: disable=g-import-not-at-top
  try:
    summary = run_report.build_report(config)
    lines = run_report.write_report(config, summary, args.output)
  except Exception as e:  # pylint: disable=broad-except
    print(f"distillrec: could not write the report: {failure_message(e)}", file=sys.stderr)
    return 1
  for line in lines:
    print(line)
  return 0 if _write_markdown(config, summary, args.output) else 1


def verify(args) -> int:
  """Re-checks every pushed version of a run: SavedModels load and score, bundles match."""
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  config_path = _run_file(args.run_dir, "config.yaml")
  if not config_path:
    return 2
  try:
    config = configs.run_locations(config_path)
  except ValueError as e:
    print(f"distillrec: {config_path}: {e}", file=sys.stderr)
    return 2
  _logging(args.verbose)
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


def recommend(args) -> int:
  """Prints what a pushed model recommends to one user; one line and exit 2 on bad input."""
  _logging(args.verbose)
  from pipeline import recommend as ranking  # pylint: disable=g-import-not-at-top
  try:
    result = ranking.recommend(args.run, args.user, args.k, args.include_seen, args.model)
  except ranking.RecommendError as e:
    print(f"distillrec: {e}", file=sys.stderr)
    return 2
  except Exception as e:  # pylint: disable=broad-except
    print(f"distillrec: recommend failed: {failure_message(e)} (rerun with --verbose for "
          f"the logs)", file=sys.stderr)
    return 1
  for line in ranking.table_lines(result, args.include_seen):
    print(line)
  return 0


def compile_kubeflow(args) -> int:
  """Writes the curated schema under the pipeline root, then the KFP v2 spec."""
  from pipeline import configs, kubeflow  # pylint: disable=g-import-not-at-top
  try:
    kubeflow.check_image(args.image)
    kubeflow.check_output(args.output)
    overrides = [f"data.data_dir={_quote(args.data)}"] if args.data is not None else []
    config = configs.load_config(args.config, overrides + list(args.set))
    config = kubeflow.cluster_config(config, args.pipeline_root)
  except ValueError as e:
    print(f"distillrec: {e}", file=sys.stderr)
    return 2
  _logging(args.verbose)
  try:
    spec = kubeflow.compile_spec(config, args.image)
  except Exception as e:  # pylint: disable=broad-except
    print(f"distillrec: could not compile the pipeline: {failure_message(e)}", file=sys.stderr)
    return 1
  schema_uri = kubeflow.schema_location(config)[0]
  # The schema first: a spec whose schema is missing would fail only on the cluster.
  try:
    kubeflow.write_schema(config)
  except Exception as e:  # pylint: disable=broad-except
    print(f"distillrec: could not write the schema to {schema_uri}: {type(e).__name__}: "
          f"{' '.join(str(e).split())} (this machine needs write access under "
          f"--pipeline-root)", file=sys.stderr)
    return 1
  try:
    kubeflow.write_spec(spec, args.output)
  except OSError as e:
    print(f"distillrec: could not write {args.output}: {e}", file=sys.stderr)
    return 1
  tasks = spec["root"]["dag"]["tasks"]
  beam_args = kubeflow.beam_pipeline_args(config.beam, args.image)
  print(f"Compiled {config.pipeline_name} for Kubeflow Pipelines -> {args.output}")
  for label, value in (("image", args.image), ("pipeline root", config.pipeline_root),
                       ("data", config.data.data_dir), ("schema", schema_uri),
                       ("serving push", config.serving_model_dir),
                       ("mobile push", config.mobile_push_dir),
                       ("beam args", " ".join(beam_args)),
                       (f"{len(tasks)} components", ", ".join(sorted(tasks)))):
    print(f"  {label + ':':16s}{value}")
  for note in kubeflow.beam_notes(beam_args):
    print(f"note: {note}", file=sys.stderr)
  return 0


def main(argv: Optional[List[str]] = None) -> int:
  args = _parser().parse_args(argv)
  return {"run": run, "verify": verify, "report": report, "recommend": recommend,
          "compile-kubeflow": compile_kubeflow}[args.command](args)


if __name__ == "__main__":
  sys.exit(main())
