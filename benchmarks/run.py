"""`make bench`: quality and size figures, as ratios measured in one run.

1. Runs the pipeline (synthetic data, default config unless --set says otherwise) into
   benchmarks/results/run, gate included: the teacher, the shipped student and its int8
   model are scored on the test split by the Int8Evaluator (same rows, one metric code).
   Its pruning tries every sparsity step (distillation.full_curve), so the whole
   size-quality curve is reported. Where it keeps the step a default run keeps (all but
   a sparser step back within the budget after one outside it), the shipped student is
   a default run's byte for byte: QAT trains on batches of its own, whatever the pruning
   search drew before it (models.distillation.distill).
2. Baselines on the same test rows: the item's like-rate in the train split (popularity),
   the user's earlier like-rate (a feature of every row), and matrix factorization
   trained by the TeacherTrainer code on the same train split.
3. Students from the same teacher and split, by the DistillationTrainer code and config
   only: without distillation (alpha = 1), with the pipeline's distillation and with the
   other kind (feature-level hints vs logits only), each with three seeds (the spread
   says how large seed noise is); one seed at the other temperatures of 2-4 and the
   other widths (embedding_dim in WIDTHS). `--no-sweep` skips this.
4. Serving latency of one 100-candidate request through the teacher, the student
   (per-candidate and context-once) and the int8 model, interleaved in one process on
   one thread, and each scorer's peak memory (benchmarks/latency.py, in a subprocess:
   TensorFlow's thread count is fixed before it runs anything). `--no-latency` skips it.
5. Writes benchmarks/results.md (and results/results.json; with another --output, both
   there): the test-split table, sizes and ratios, the distillation comparison, the
   pruning curve the budget chose from, the latency table, and issue 10's targets, met or
   not, with the figure. Beside the int8 student's AUC and GAUC gaps to the teacher, where
   the gap falls over BOOTSTRAP_DRAWS resamples of the test split's users (both models
   scored again row by row, the same users drawn for both): how much of a gap is which
   users the split happens to hold.

Quality is measured on the test split, which no choice was made on. Latency is reported
as ratios measured in one run, interleaved; run it with nothing else on the machine.
"""

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import latency  # benchmarks/latency.py, beside this file
import reports  # benchmarks/reports.py

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF C++ warnings, e.g. end of each dataset

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, "results")
SEEDS = 3
# User resamples of the test split behind the int8 student's gap to the teacher (targets).
BOOTSTRAP_DRAWS = 1000
# Pseudo-count of the popularity baseline's smoothing towards the overall like-rate.
POPULARITY_PRIOR_ROWS = 10


def _artifact_paths(outputs):
  """The URIs the trainers and the evaluation read, from {node: {key: artifact}}."""
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top
  transform = outputs["Transform"]
  teacher = outputs["TeacherTrainer"]["model"]
  return {"examples": outputs["InteractionsExampleGen"]["examples"].uri,
          "transform_graph": transform["transform_graph"].uri,
          "teacher_dir": teacher.uri,
          "teacher_serving_dir": path_utils.serving_model_dir(teacher.uri)}


class TestSplit:
  """The raw test rows once, and the gate's metrics of any scores on them."""

  def __init__(self, raw_examples_uri, ndcg_k):
    # pylint: disable=g-import-not-at-top
    import numpy as np
    from models import export, features, inputs
    # pylint: enable=g-import-not-at-top
    def read(split):
      files = inputs.split_files(raw_examples_uri, split)
      return inputs.read_records(files)
    self.records = read("test")
    self.rows = export.parse_raw_rows(self.records)
    self.train_rows = export.parse_raw_rows(read("train"))
    self.labels = np.asarray([r[features.LABEL] for r in self.rows], dtype=np.float64)
    self.users = np.asarray([r[features.USER_ID] for r in self.rows])
    self.new_user = np.asarray([r[features.USER_IN_TRAIN] == features.NEW for r in self.rows])
    self.ndcg_k = ndcg_k

  def metrics(self, scores):
    import numpy as np  # pylint: disable=g-import-not-at-top
    from models import int8_evaluation  # pylint: disable=g-import-not-at-top
    scores = np.asarray(scores, dtype=np.float64)
    overall = int8_evaluation.model_metrics(self.labels, scores, self.users, self.ndcg_k)
    new = self.new_user
    return {"auc": overall.auc, "gauc": overall.gauc, "ndcg": overall.ndcg,
            "log_loss": overall.log_loss,
            "auc_new_users": int8_evaluation.model_metrics(
                self.labels[new], scores[new], self.users[new], self.ndcg_k).auc}

  def popularity_scores(self):
    """Each test row's item like-rate in train, smoothed towards the overall rate."""
    from models import features  # pylint: disable=g-import-not-at-top
    counts, likes = {}, {}
    for row in self.train_rows:
      item = row[features.ITEM_ID]
      counts[item] = counts.get(item, 0) + 1
      likes[item] = likes.get(item, 0) + row[features.LABEL]
    overall = sum(likes.values()) / max(sum(counts.values()), 1)
    prior = POPULARITY_PRIOR_ROWS
    return [(likes.get(r[features.ITEM_ID], 0) + prior * overall)
            / (counts.get(r[features.ITEM_ID], 0) + prior) for r in self.rows]

  def gap_intervals(self, scores_a, scores_b):
    """Where AUC and GAUC of b minus a's fall over BOOTSTRAP_DRAWS resamples of the test
    split's users (metrics.paired_user_bootstrap, central 95%, seeded)."""
    from models import metrics  # pylint: disable=g-import-not-at-top
    return metrics.paired_user_bootstrap(self.labels, scores_a, scores_b, self.users,
                                         draws=BOOTSTRAP_DRAWS, seed=0)

  def user_like_rate_scores(self):
    from models import features  # pylint: disable=g-import-not-at-top
    return [r[features.USER_PRIOR_LIKE_RATE] for r in self.rows]

  def saved_model_metrics(self, serving_dir):
    from models import int8_evaluation  # pylint: disable=g-import-not-at-top
    return self.metrics(int8_evaluation.score_saved_model(serving_dir, self.records))

  def bundle_metrics(self, bundle_dir):
    from models import export  # pylint: disable=g-import-not-at-top
    return self.metrics(export.MobileBundle(bundle_dir).predict(self.rows))


def _train_mf(config, paths, folder):
  """The matrix-factorization baseline, by the teacher's own code, on the same split."""
  from models import teacher_trainer  # pylint: disable=g-import-not-at-top
  serving_dir = os.path.join(folder, "model")
  summary = teacher_trainer.run(
      paths["examples"], paths["transform_graph"],
      dataclasses.replace(config.teacher, architecture="mf"), config.transform,
      serving_dir=serving_dir, log_dir=os.path.join(folder, "model_run"))
  return summary, serving_dir


def _with_seed(student, seed):
  return dataclasses.replace(student, training=dataclasses.replace(student.training, seed=seed))


# Student widths (embedding_dim) the benchmark tries beside the pipeline's, one seed each.
WIDTHS = (12, 24, 32)
# The hint weight of the feature-level distillation rows when the pipeline runs without.
HINT_WEIGHT = 1.0


def _sweep_settings(config, train_rows):
  """(group, name, DistillationConfig, StudentConfig) of the students beside the pipeline's.

  Three seeds each without distillation, with the pipeline's distillation, with the
  other kind (feature-level hints if the pipeline distills logits only, else logits only)
  and with the other choice of transfer rows (none if the pipeline has them, else one
  copy); then one seed at the other temperatures and widths. What "the pipeline's" is
  depends on the train split's size (`train_rows`): DistillationConfig.applied.
  """
  # The pipeline's run tries every pruning step (its curve is the one reported); the
  # students beside it stop at the first step outside the budget, as a default run does.
  kd = dataclasses.replace(config.distillation, full_curve=False)
  applied = kd.applied(train_rows)
  student = config.student
  first = student.training.seed
  seeds = [first + k for k in range(SEEDS)]
  if applied.hint_weight > 0:
    other_kd, other = dataclasses.replace(kd, hint_weight=0.0), "logit distillation only"
  else:
    other_kd = dataclasses.replace(kd, hint_weight=HINT_WEIGHT, hints_with_transfer_rows=True)
    other = f"feature-level distillation (hint_weight={HINT_WEIGHT:g})"
  if applied.transfer_copies > 0:
    transfer_kd, transfer = dataclasses.replace(kd, transfer_copies=0), "no transfer rows"
  else:
    transfer_kd = dataclasses.replace(kd, transfer_copies=1,
                                      transfer_max_train_rows=max(train_rows,
                                                                  kd.transfer_max_train_rows))
    transfer = "transfer rows"
  # Without distillation nothing comes from the teacher: neither the transfer rows
  # (labelled by it) nor hints (its vectors).
  settings = [("no distillation", f"alpha=1, seed {seed}",
               dataclasses.replace(kd, alpha=1.0, transfer_copies=0, hint_weight=0.0),
               _with_seed(student, seed)) for seed in seeds]
  settings += [("distillation", f"{_kd_name(kd, train_rows)}, seed {seed}", kd,
                _with_seed(student, seed)) for seed in seeds[1:]]
  settings += [(other, f"{_kd_name(other_kd, train_rows)}, seed {seed}", other_kd,
                _with_seed(student, seed)) for seed in seeds]
  settings += [(transfer, f"{_kd_name(transfer_kd, train_rows)}, seed {seed}", transfer_kd,
                _with_seed(student, seed)) for seed in seeds]
  settings += [("temperature", _kd_name(dataclasses.replace(kd, temperature=t), train_rows),
                dataclasses.replace(kd, temperature=t), student)
               for t in (2.0, 3.0, 4.0) if t != kd.temperature]
  settings += [("width", f"embedding_dim={width}, {_kd_name(kd, train_rows)}", kd,
                dataclasses.replace(student, embedding_dim=width))
               for width in WIDTHS if width != student.embedding_dim]
  return settings


def _kd_name(kd, train_rows):
  """The distillation a train split of `train_rows` rows gets from `kd`."""
  kd = kd.applied(train_rows)
  name = f"alpha={kd.alpha:g} T={kd.temperature:g}"
  name += f" hints={kd.hint_weight:g}" if kd.hint_weight > 0 else ""
  name += f" pairs={kd.pair_weight:g}" if kd.pair_weight > 0 else ""
  return name + (f" transfer={kd.transfer_copies}" if kd.transfer_copies else "")


def _train_student(config, paths, teacher, kd, student, folder):
  from models import distillation_trainer  # pylint: disable=g-import-not-at-top
  dirs = {key: os.path.join(folder, key) for key in ("model", "mobile_model", "model_run")}
  report = distillation_trainer.run(
      paths["examples"], paths["transform_graph"],
      paths["teacher_serving_dir"], teacher, student, kd, config.transform,
      serving_dir=dirs["model"], mobile_dir=dirs["mobile_model"], log_dir=dirs["model_run"])
  return report, dirs


def _student_row(group, name, report, float_test, int8_test):
  stages = report.student.stages
  return {"group": group, "student": name,
          "eval_auc_before_pruning": stages["distill"]["best_eval_auc"],
          "eval_auc_final": report.student.eval.auc,
          "sparsity": report.student.sparsity.overall,
          "parameters": report.student.parameters, "tflite_bytes": report.tflite.bytes,
          "tflite_gzipped_bytes": report.tflite.gzipped_bytes,
          "test_auc": float_test["auc"], "test_gauc": float_test["gauc"],
          "test_auc_int8": int8_test["auc"], "test_gauc_int8": int8_test["gauc"]}


# Issue 10's targets: the int8 student's largest AUC / GAUC drop vs the teacher, sizes.
MAX_INT8_DROP = 0.005
MIN_RAW_RATIO, MIN_GZIPPED_RATIO, MAX_NONZERO_SHARE = 30.0, 100.0, 0.10
BASELINES = ("item like-rate in train (popularity)", "user's earlier like-rate",
             "matrix factorization")


def targets(quality, sizes, distillation, intervals=None):
  """[(target, figure, met)] on the test split; met is None where it was not measured.
  intervals: `TestSplit.gap_intervals` of teacher -> int8 student, shown beside the gaps
  (the verdict is the gap's, as measured)."""
  teacher, int8 = quality["teacher (DCN-v2)"], quality["student int8 (TFLite)"]
  result = []
  for metric in ("auc", "gauc"):
    drop = int8[metric] - teacher[metric]
    figure = f"{drop:+.4f}"
    if intervals:
      low, high = intervals[metric]
      figure += f" (resampled test users, 95%: {low:+.4f} to {high:+.4f})"
    result.append((f"int8 student {metric.upper()} within {MAX_INT8_DROP} of the teacher",
                   figure, drop >= -MAX_INT8_DROP))
  for name in BASELINES:
    for model, figures in (("teacher", teacher), ("int8 student", int8)):
      margins = {m: figures[m] - quality[name][m] for m in ("auc", "gauc")}
      result.append((f"{model} above {name} on AUC and GAUC",
                     f"{margins['auc']:+.4f} / {margins['gauc']:+.4f}",
                     min(margins.values()) > 0))
  kd, plain = distillation.get("distillation"), distillation.get("no distillation")
  if kd and plain:
    (kd_mean, kd_std), (plain_mean, plain_std) = kd["test_auc"], plain["test_auc"]
    spread = 2 * max(kd_std, plain_std)
    result.append((f"distilled beats no-distillation student by > 2 seed std (test AUC, {SEEDS} "
                   f"seeds)", f"{kd_mean - plain_mean:+.4f} vs {spread:.4f}",
                   kd_mean - plain_mean > spread))
  else:
    result.append(("distilled beats no-distillation student by > 2 seed std", "not run", None))
  result += [
      (f"int8 TFLite >= {MIN_RAW_RATIO:g}x smaller than the teacher's variables, raw",
       f"{sizes['teacher_over_tflite_bytes']:.1f}x",
       sizes["teacher_over_tflite_bytes"] >= MIN_RAW_RATIO),
      (f"... and >= {MIN_GZIPPED_RATIO:g}x gzipped", f"{sizes['teacher_over_tflite_gzipped']:.1f}x",
       sizes["teacher_over_tflite_gzipped"] >= MIN_GZIPPED_RATIO),
      (f"student non-zero parameters <= {MAX_NONZERO_SHARE:.0%} of the teacher's",
       f"{sizes['student_nonzero_parameters_over_teacher']:.3f}",
       sizes["student_nonzero_parameters_over_teacher"] <= MAX_NONZERO_SHARE)]
  return result


def _mean_std(values):
  values = [v for v in values if v == v]
  if not values:
    return float("nan"), float("nan")
  return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _f(value, pattern="{:.4f}"):
  return "-" if value is None or value != value else pattern.format(value)


def _parser():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--num-interactions", type=int, default=100_000)
  parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
  parser.add_argument("--output", default=DEFAULT_OUTPUT,
                      help="its runs and results.json; results.md goes to benchmarks/ "
                           "from the default folder, else into this one")
  parser.add_argument("--no-sweep", dest="sweep", action="store_false",
                      help="skip the students trained besides the pipeline's")
  parser.add_argument("--no-latency", dest="latency", action="store_false",
                      help="skip the serving latency and memory measurement")
  return parser


def measure(args) -> dict:
  """Sections 1-4 of the module docstring: runs the pipeline, the baselines, the students
  beside it and the latency measurement into args.output; returns their figures, which
  `main` writes to results.json with `targets`' verdicts and `report_lines` as markdown."""
  # pylint: disable=g-import-not-at-top
  from models import export, int8_evaluation
  from models.distillation_trainer import CompressionReport
  from models.teacher_trainer import TeacherSummary
  from pipeline import configs, mlmd, runners
  # pylint: enable=g-import-not-at-top
  run_dir = os.path.join(args.output, "run")
  # A benchmark measures this code: nothing is reused from an earlier run's cache.
  for folder in ("run", "mf_baseline", "students"):
    shutil.rmtree(os.path.join(args.output, folder), ignore_errors=True)
  config = configs.load_config(overrides=[f"output_dir={run_dir}", "runner=local",
                                          f"synthetic.num_interactions={args.num_interactions}",
                                          "distillation.full_curve=true", *args.set])
  started = time.time()
  config = runners.run_pipeline(config)
  outputs = mlmd.latest_outputs(config.metadata_path)
  paths = _artifact_paths(outputs)
  compression = CompressionReport.read(outputs["DistillationTrainer"]["model_run"].uri)
  gate = int8_evaluation.Int8Evaluation.read(outputs["Int8Evaluator"]["evaluation"].uri)
  test = TestSplit(paths["examples"], config.gate.ndcg_k)

  def from_gate(model):
    figures = gate.overall(model)
    new = next((s.models[model] for s in gate.slices if s.name == "user_in_train:new"), None)
    return {"auc": figures.auc, "gauc": figures.gauc, "ndcg": figures.ndcg,
            "log_loss": figures.log_loss, "auc_new_users": new.auc if new else None}

  print("make bench: baselines on the test split", flush=True)
  _, mf_dir = _train_mf(config, paths, os.path.join(args.output, "mf_baseline"))
  quality = {
      "item like-rate in train (popularity)": test.metrics(test.popularity_scores()),
      "user's earlier like-rate": test.metrics(test.user_like_rate_scores()),
      "matrix factorization": test.saved_model_metrics(mf_dir),
      "teacher (DCN-v2)": from_gate(int8_evaluation.TEACHER),
      "student (SavedModel)": from_gate(int8_evaluation.STUDENT),
      "student int8 (TFLite)": from_gate(int8_evaluation.INT8),
  }
  # How much the int8 student's gap to the teacher owes to which users the test split
  # happens to hold: both models scored row by row again (the teacher's SavedModel, the
  # shipped bundle), then the same users drawn with replacement for both.
  print("make bench: the int8 student's gap to the teacher over resampled test users",
        flush=True)
  intervals = test.gap_intervals(
      int8_evaluation.score_saved_model(paths["teacher_serving_dir"], test.records),
      export.MobileBundle(outputs["DistillationTrainer"]["mobile_model"].uri).predict(
          test.rows))

  train_rows = compression.student.stages["distill"]["train_rows"]
  rows = [_student_row("distillation", f"{_kd_name(config.distillation, train_rows)}, seed "
                       f"{config.student.training.seed} (the pipeline's)", compression,
                       quality["student (SavedModel)"], quality["student int8 (TFLite)"])]
  if args.sweep:
    teacher = TeacherSummary.read(paths["teacher_dir"])
    for index, (group, name, kd, student) in enumerate(_sweep_settings(config, train_rows)):
      print(f"make bench: training student {index + 1}: {name}", flush=True)
      report, dirs = _train_student(config, paths, teacher, kd, student,
                                    os.path.join(args.output, "students", str(index + 1)))
      rows.append(_student_row(group, name, report, test.saved_model_metrics(dirs["model"]),
                               test.bundle_metrics(dirs["mobile_model"])))

  teacher_figures, student_figures, tflite = (compression.teacher, compression.student,
                                              compression.tflite)
  sizes = {
      "teacher_parameters": teacher_figures.parameters,
      "student_parameters": student_figures.parameters,
      "teacher_variables_bytes": teacher_figures.saved_model_variables.bytes,
      "teacher_variables_gzipped_bytes": teacher_figures.saved_model_variables.gzipped_bytes,
      "tflite_bytes": tflite.bytes, "tflite_gzipped_bytes": tflite.gzipped_bytes,
      "sparsity": student_figures.sparsity.overall, "dtype_census": tflite.dtype_census,
      "int8_vs_float_eval": dataclasses.asdict(tflite.int8_vs_float),
  }
  prune = compression.student.stages.get("prune", {})
  serving = None
  if args.latency:
    print("make bench: serving latency (benchmarks/latency.py)", flush=True)
    latency_file = os.path.join(args.output, "latency.json")
    subprocess.run([sys.executable, latency.__file__, "--run", run_dir,
                    "--output", latency_file], check=True)
    with open(latency_file) as f:
      serving = json.load(f)
  return {"num_interactions": args.num_interactions, "overrides": args.set,
          "test_rows": len(test.rows), "quality": quality, "int8_gap_intervals": intervals,
          "sizes": with_ratios(sizes),
          "students": rows, "distillation": seed_groups(rows),
          "pruning_curve": prune.get("curve", []), "pruning_decision": prune.get("decision"),
          "pruning_chosen_step": prune.get("chosen_step"),
          "eval_teacher_auc": teacher_figures.eval.auc, "latency": serving,
          "wall_seconds": time.time() - started}


def with_ratios(sizes: dict) -> dict:
  """`sizes` (parameters, the teacher's variables and the int8 model's bytes, the student's
  sparsity) with the ratios issue 10's targets read."""
  nonzero = sizes["student_parameters"] * (1 - sizes["sparsity"])
  return {**sizes,
          "student_nonzero_parameters_over_teacher": nonzero / sizes["teacher_parameters"],
          "teacher_over_tflite_bytes": sizes["teacher_variables_bytes"] / sizes["tflite_bytes"],
          "teacher_over_tflite_gzipped": (sizes["teacher_variables_gzipped_bytes"]
                                          / sizes["tflite_gzipped_bytes"])}


def seed_groups(rows) -> dict:
  """{group: {figure: (mean, std)}} of the students' test figures over each group's seeds;
  the one-seed groups (temperature, width) are left out."""
  groups = {}
  for row in rows:
    groups.setdefault(row["group"], []).append(row)
  return {group: {key: _mean_std([r[key] for r in members])
                  for key in ("test_auc", "test_gauc", "test_auc_int8", "test_gauc_int8")}
          for group, members in groups.items() if group not in ("temperature", "width")}


def report_lines(results: dict) -> list:
  """results.md, from `measure`'s figures with `targets`' verdicts: the test-split
  table, sizes and ratios, the pruning curve, the students, their seed spread, the latency
  table and issue 10's targets, met or not."""
  from pipeline import report_markdown  # pylint: disable=g-import-not-at-top
  quality, sizes, rows = results["quality"], results["sizes"], results["students"]
  distillation = results["distillation"]
  lines = ["# distillrec benchmark results", "",
           f"Synthetic data, {results['num_interactions']:,} interactions, overrides: "
           f"{' '.join(results['overrides']) or 'none'}. Quality on the **test split** "
           f"({results['test_rows']:,} rows, the last time range; no choice was made on it).",
           "", "| model | AUC | GAUC | NDCG@10 | log loss | AUC new users |",
           "| --- | --- | --- | --- | --- | --- |"]
  for name, figures in quality.items():
    lines.append(f"| {name} | {_f(figures['auc'])} | {_f(figures['gauc'])} | "
                 f"{_f(figures['ndcg'])} | {_f(figures['log_loss'])} | "
                 f"{_f(figures['auc_new_users'])} |")
  lines += ["", "| size | figure |", "| --- | --- |",
            f"| teacher / student parameters | {sizes['teacher_parameters']:,} / "
            f"{sizes['student_parameters']:,} |",
            f"| student non-zero parameters / teacher parameters | "
            f"{sizes['student_nonzero_parameters_over_teacher']:.3f} |",
            f"| teacher variables / int8 TFLite, raw bytes | "
            f"{sizes['teacher_over_tflite_bytes']:.1f}x ({sizes['tflite_bytes']:,} B) |",
            f"| teacher variables / int8 TFLite, gzipped | "
            f"{sizes['teacher_over_tflite_gzipped']:.1f}x "
            f"({sizes['tflite_gzipped_bytes']:,} B) |",
            f"| student sparsity (exported weights) | {sizes['sparsity']:.3f} |",
            f"| int8 tensor dtypes | {sizes['dtype_census']} |"]
  curve = results["pruning_curve"]
  if curve:
    lines += ["", f"Pruning curve (eval split; teacher eval AUC "
              f"{results['eval_teacher_auc']:.4f}). Decision: {results['pruning_decision']}.",
              ""]
    lines += report_markdown.pruning_curve_table(
        [dict(step, chosen=index == results["pruning_chosen_step"])
         for index, step in enumerate(curve)])
  lines += ["", "Students of the same size from the same teacher and split (test split; float "
            "SavedModel and int8).", "",
            "| student | eval AUC before pruning | sparsity | int8 bytes (gzipped) | test AUC | "
            "test GAUC | int8 AUC | int8 GAUC |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  for row in rows:
    lines.append(f"| {row['student']} | {_f(row['eval_auc_before_pruning'])} | "
                 f"{row['sparsity']:.2f} | "
                 f"{row['tflite_bytes']:,} ({row['tflite_gzipped_bytes']:,}) | "
                 f"{_f(row['test_auc'])} | {_f(row['test_gauc'])} | "
                 f"{_f(row['test_auc_int8'])} | {_f(row['test_gauc_int8'])} |")
  if len(distillation) > 1:
    lines += ["", f"Mean and standard deviation over {SEEDS} seeds (test split):", "",
              "| group | AUC | GAUC | int8 AUC | int8 GAUC |", "| --- | --- | --- | --- | --- |"]
    for group, figures in distillation.items():
      lines.append(f"| {group} | " + " | ".join(
          f"{_f(figures[key][0])} ± {_f(figures[key][1])}"
          for key in ("test_auc", "test_gauc", "test_auc_int8", "test_gauc_int8")) + " |")
  if results["latency"]:
    lines += [""] + latency.markdown(results["latency"])
  lines += ["", "Targets (test split):", "", "| target | figure | met |", "| --- | --- | --- |"]
  lines += [f"| {t['target']} | {t['figure']} | "
            f"{'-' if t['met'] is None else ('yes' if t['met'] else 'NO')} |"
            for t in results["targets"]]
  return lines


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  from models import fileio  # pylint: disable=g-import-not-at-top
  results = measure(args)
  results["targets"] = [{"target": t, "figure": f, "met": m}
                        for t, f, m in targets(results["quality"], results["sizes"],
                                               results["distillation"],
                                               results.get("int8_gap_intervals"))]
  fileio.write_json(os.path.join(args.output, "results.json"), results)
  lines = report_lines(results)
  reports.write_report(lines, args.output, DEFAULT_OUTPUT, "results.md")
  print("\n".join(lines))
  return 0


if __name__ == "__main__":
  sys.exit(main())
