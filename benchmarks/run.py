"""`make bench`: quality and size figures, as ratios measured in one run.

1. Runs the pipeline (synthetic data, default config unless --set says otherwise)
   through DistillationTrainer into benchmarks/results/run.
2. Trains the matrix-factorization baseline with the same TeacherTrainer code on
   the same transformed split, so "the teacher beats MF" is measured, not assumed.
3. Trains more students on the same split from the same teacher, by the
   DistillationTrainer code and config only: without distillation (alpha = 1), at the
   other temperatures of 2-4, and the pipeline's setting with another seed (how much of a
   difference is seed noise). `--no-sweep` skips this.
4. Writes benchmarks/results.md (and results.json beside it): teacher vs MF,
   student vs teacher, int8 vs float student, the distillation sweep.

Timings are deliberately not reported as absolute numbers (the machines are
shared); sizes and AUCs are deterministic given the seed.
"""

import argparse
import dataclasses
import os
import shutil
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF C++ warnings, e.g. end of each dataset

HERE = os.path.dirname(os.path.abspath(__file__))


def _artifact_paths(outputs):
  """The URIs the trainers read, from the pipeline run's {node: {key: artifact}}."""
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top
  transform = outputs["Transform"]
  teacher = outputs["TeacherTrainer"]["model"]
  return {"examples": transform["transformed_examples"].uri,
          "transform_graph": transform["transform_graph"].uri,
          "raw_examples": outputs["InteractionsExampleGen"]["examples"].uri,
          "teacher_dir": teacher.uri,
          "teacher_serving_dir": path_utils.serving_model_dir(teacher.uri)}


def _train_mf(config, paths, folder):
  """The matrix-factorization baseline, by the teacher's own code, on the same split."""
  from models import teacher_trainer  # pylint: disable=g-import-not-at-top
  return teacher_trainer.run(
      paths["examples"], paths["transform_graph"],
      dataclasses.replace(config.teacher, architecture="mf"), config.transform,
      serving_dir=os.path.join(folder, "model"), log_dir=os.path.join(folder, "model_run"))


def _sweep_settings(config):
  """(name, DistillationConfig, StudentConfig) of the students trained besides the pipeline's."""
  kd, student = config.distillation, config.student
  settings = [("no distillation (alpha=1)", dataclasses.replace(kd, alpha=1.0), student)]
  for temperature in (2.0, 3.0, 4.0):
    if temperature != kd.temperature:
      settings.append((f"alpha={kd.alpha:g} T={temperature:g}",
                       dataclasses.replace(kd, temperature=temperature), student))
  seed = student.training.seed + 1
  settings.append((f"alpha={kd.alpha:g} T={kd.temperature:g}, seed {seed}", kd,
                   dataclasses.replace(student, training=dataclasses.replace(
                       student.training, seed=seed))))
  return settings


def _sweep_row(name, compression):
  student, stages = compression.student, compression.student.stages
  return {"student": name,
          "distill_epochs": stages["distill"]["epochs"],
          "auc_before_pruning": stages["distill"]["best_eval_auc"],
          "auc_after_pruning": stages.get("prune", {}).get("eval_auc"),
          "auc_final_float": student.eval.auc,
          "auc_int8": compression.tflite.int8_vs_float.auc_int8}


def _distillation_sweep(config, paths, folder):
  """Students by the DistillationTrainer code on the pipeline's split and teacher."""
  # pylint: disable=g-import-not-at-top
  from models import distillation_trainer
  from models.teacher_trainer import TeacherSummary
  # pylint: enable=g-import-not-at-top
  teacher = TeacherSummary.read(paths["teacher_dir"])
  rows = []
  for index, (name, kd, student) in enumerate(_sweep_settings(config)):
    print(f"make bench: training student {index + 1}: {name}", flush=True)
    student_dir = os.path.join(folder, f"student_{index + 1}")
    compression = distillation_trainer.run(
        paths["examples"], paths["raw_examples"], paths["transform_graph"],
        paths["teacher_serving_dir"], teacher, student, kd, config.transform,
        serving_dir=os.path.join(student_dir, "model"),
        mobile_dir=os.path.join(student_dir, "mobile_model"),
        log_dir=os.path.join(student_dir, "model_run"))
    rows.append(_sweep_row(name, compression))
  return rows


def _format(value):
  return "-" if value is None else f"{value:.4f}"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--num-interactions", type=int, default=100_000)
  parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
  parser.add_argument("--output", default=os.path.join(HERE, "results"))
  parser.add_argument("--no-sweep", dest="sweep", action="store_false",
                      help="skip the students trained besides the pipeline's")
  args = parser.parse_args(argv)
  # pylint: disable=g-import-not-at-top
  from models import fileio
  from models.dataclass_json import to_plain
  from models.distillation_trainer import CompressionReport
  from pipeline import configs, mlmd, runners
  # pylint: enable=g-import-not-at-top
  run_dir = os.path.join(args.output, "run")
  # A benchmark measures this code: nothing is reused from an earlier run's cache.
  for folder in ("run", "mf_baseline", "students"):
    shutil.rmtree(os.path.join(args.output, folder), ignore_errors=True)
  config = configs.load_config(overrides=[f"output_dir={run_dir}", "runner=local",
                                          f"synthetic.num_interactions={args.num_interactions}",
                                          *args.set])
  started = time.time()
  config = runners.run_pipeline(config)
  outputs = mlmd.latest_outputs(config.metadata_path)
  paths = _artifact_paths(outputs)
  compression = CompressionReport.read(outputs["DistillationTrainer"]["model_run"].uri)
  mf = _train_mf(config, paths, os.path.join(args.output, "mf_baseline"))
  kd = config.distillation
  sweep = [_sweep_row(f"alpha={kd.alpha:g} T={kd.temperature:g} (the pipeline's)", compression)]
  if args.sweep:
    sweep += _distillation_sweep(config, paths, os.path.join(args.output, "students"))

  teacher, student, tflite = compression.teacher, compression.student, compression.tflite
  fidelity = tflite.int8_vs_float
  results = {
      "num_interactions": args.num_interactions,
      "overrides": args.set,
      "teacher_vs_mf": {
          "teacher_auc": teacher.eval.auc, "mf_auc": mf.eval.auc,
          "auc_gain": teacher.eval.auc - mf.eval.auc,
          "teacher_auc_new_users": teacher.eval.auc_unknown_users,
          "mf_auc_new_users": mf.eval.auc_unknown_users,
      },
      "student_vs_teacher": {
          "parameter_ratio": compression.parameter_ratio,
          "saved_model_gzipped_ratio": (student.saved_model.gzipped_bytes
                                        / teacher.saved_model_variables.gzipped_bytes),
          "auc_teacher": teacher.eval.auc, "auc_student": student.eval.auc,
          "auc_diff": student.eval.auc - teacher.eval.auc,
          "sparsity": student.sparsity.overall,
      },
      "int8_vs_float": {
          "tflite_bytes": tflite.bytes, "tflite_gzipped_bytes": tflite.gzipped_bytes,
          **to_plain(fidelity), "dtype_census": tflite.dtype_census,
      },
      "distillation_sweep": sweep,
      "wall_seconds": time.time() - started,
  }
  fileio.write_json(os.path.join(args.output, "results.json"), results)
  lines = [
      "# distillrec benchmark results", "",
      f"Synthetic data, {args.num_interactions:,} interactions, overrides: "
      f"{' '.join(args.set) or 'none'}. AUC on the eval split (later in time than train).", "",
      "| comparison | figure |", "| --- | --- |",
      f"| teacher (DCN-v2) AUC vs matrix factorization | {teacher.eval.auc:.4f} vs "
      f"{mf.eval.auc:.4f} ({results['teacher_vs_mf']['auc_gain']:+.4f}) |",
      f"| same, rows of users new in eval | {teacher.eval.auc_unknown_users:.4f} vs "
      f"{mf.eval.auc_unknown_users:.4f} |",
      f"| student / teacher parameters | {compression.parameter_ratio:.3f} |",
      f"| student SavedModel / teacher variables, gzipped bytes | "
      f"{results['student_vs_teacher']['saved_model_gzipped_ratio']:.3f} |",
      f"| student AUC - teacher AUC | {results['student_vs_teacher']['auc_diff']:+.4f} |",
      f"| student sparsity (exported weights) | {student.sparsity.overall:.3f} |",
      f"| int8 TFLite bytes (gzipped) | {tflite.bytes:,} ({tflite.gzipped_bytes:,}) |",
      f"| int8 AUC - float student AUC | {fidelity.auc_int8 - fidelity.auc_float:+.4f} |",
      f"| int8 vs float mean abs score diff | {fidelity.mean_abs_score_diff:.4f} |",
      f"| int8 tensor dtypes | {tflite.dtype_census} |",
      "", "Students of the same size from the same teacher and split (eval AUC; the teacher: "
      f"{teacher.eval.auc:.4f}). Before pruning: best epoch of distillation; final: "
      "after pruning and QAT, float; int8: the TFLite model.", "",
      "| student | KD epochs | before pruning | after pruning | final | int8 |",
      "| --- | --- | --- | --- | --- | --- |",
  ]
  for row in sweep:
    lines.append(f"| {row['student']} | {row['distill_epochs']} | "
                 f"{_format(row['auc_before_pruning'])} | {_format(row['auc_after_pruning'])} | "
                 f"{_format(row['auc_final_float'])} | {_format(row['auc_int8'])} |")
  fileio.write_text(os.path.join(HERE, "results.md"), "\n".join(lines) + "\n")
  print("\n".join(lines))
  return 0


if __name__ == "__main__":
  sys.exit(main())
