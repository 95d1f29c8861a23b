"""DistillationTrainer's run logic: distill, prune and QAT the student; export both student models.

A plain function over paths and hyper-parameters: the TFX executor calls it with
artifact URIs; tests and `make bench` (the sweep of students beside the
pipeline's) call it with the same paths. Its `CompressionReport` is the one
schema of `compression_report.json`: the report and the benchmark read it back
through `CompressionReport.read`. TensorFlow is imported inside `run`.
"""

import dataclasses
import functools
import gzip
import logging
import os
from typing import Any, Dict

from models.dataclass_json import Summary, to_plain
from models.hparams import DistillationConfig, StudentConfig, TransformConfig
from models.metrics import EvalMetrics
from models.teacher_trainer import TeacherSummary


# Train rows that calibrate the int8 conversion of each pruning step (sizes only).
CURVE_REPRESENTATIVE_EXAMPLES = 200


@dataclasses.dataclass
class FileSizes(Summary):
  """Raw and gzipped bytes of some files together (gzip shows what pruning saves)."""
  bytes: int
  gzipped_bytes: int


@dataclasses.dataclass
class Sparsity(Summary):
  """Share of exact zeros in embedding tables and Dense kernels, as exported."""
  overall: float
  per_layer: Dict[str, float]
  weights: int


@dataclasses.dataclass
class Int8Fidelity(Summary):
  """The int8 TFLite model against the float student on the same eval rows."""
  rows: int
  mean_abs_score_diff: float
  max_abs_score_diff: float
  auc_float: float
  auc_int8: float
  auc_diff: float  # absolute


@dataclasses.dataclass
class TeacherFigures(Summary):
  parameters: int
  saved_model_variables: FileSizes
  eval: EvalMetrics  # as TeacherTrainer measured it, on the same eval split


@dataclasses.dataclass
class StudentFigures(Summary):
  parameters: int
  saved_model: FileSizes
  eval: EvalMetrics
  # Per stage (distill, prune, qat): epochs, eval AUC and sparsity as training saw them.
  stages: Dict[str, Dict[str, Any]]
  sparsity: Sparsity


@dataclasses.dataclass
class TfliteFigures(Summary):
  bytes: int
  gzipped_bytes: int
  dtype_census: Dict[str, int]  # tensors per dtype; full integer = only int8 and int32
  int8_vs_float: Int8Fidelity


@dataclasses.dataclass
class CompressionReport(Summary):
  """Teacher vs student vs int8 student: sizes, sparsity and eval figures."""
  teacher: TeacherFigures
  student: StudentFigures
  tflite: TfliteFigures
  config: Dict[str, Any]  # the student and distillation sections it was trained with
  parameter_ratio: float  # student / teacher parameters

  FILE_NAME = "compression_report.json"  # in the ModelRun and the student's Model artifact


def stage_batches(train_arrays, stage: int, batch_size: int, seed: int, pairs=None,
                  cold_start=None):
  """A pass of shuffled train batches for one of `distillation.distill`'s stages
  (KD_STAGE, PRUNING_STAGE, QAT_STAGE), seeded by seed + stage: each stage's order (and
  user-id dropout) its own, whatever the earlier stages drew.

  train_arrays: (features, targets) in memory; pairs: (first, second) row indices of
  pairwise distillation, each pair in one batch; cold_start: (rate, user key, OOV id)
  of the batches' user-id dropout (`distillation.drop_user_ids`).
  """
  from models import distillation, inputs  # pylint: disable=g-import-not-at-top
  stage_seed = seed + stage
  if pairs is not None:
    batches = inputs.shuffled_pair_batches(train_arrays, *pairs, batch_size, stage_seed)
  else:
    batches = inputs.shuffled_batches(train_arrays, batch_size, stage_seed)
  if cold_start is not None:
    batches = distillation.drop_user_ids(batches, *cold_start, stage_seed)
  return batches


def run(examples_uri: str, transform_graph_uri: str,
        teacher_serving_dir: str, teacher: TeacherSummary, hparams: StudentConfig,
        distillation_config: DistillationConfig, transform: TransformConfig,
        serving_dir: str, mobile_dir: str, log_dir: str) -> CompressionReport:
  """Trains the student from the frozen teacher's logits, compresses and exports it.

  examples_uri: ExampleGen's raw examples (Split-*/), read through the Transform graph
  at transform_graph_uri;
  teacher_serving_dir: the teacher SavedModel (its `transformed_logits` signature
  gives the soft labels). Writes the student SavedModel to serving_dir, the mobile
  bundle (model.tflite, vocabularies, manifest.json) to mobile_dir and TensorBoard
  logs of each stage under log_dir.
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  import tensorflow_transform as tft
  import tf_keras as keras
  # models.training installs the AutoGraph rules (models/autograph_rules.py).
  from models import distillation, export, features, inputs, student, training
  # pylint: enable=g-import-not-at-top
  tft_output = tft.TFTransformOutput(transform_graph_uri)
  sizes = inputs.InputSizes.from_transform_output(tft_output, transform)
  training_config = hparams.training
  seed = training_config.seed
  # Seeded before anything random is built: the shuffle's order depends on the global
  # seed too, so datasets built first would depend on what ran before in this process.
  keras.utils.set_random_seed(seed)
  train_files = inputs.split_files(examples_uri, "train")
  eval_files = inputs.split_files(examples_uri, "eval")
  eval_read = inputs.transformed_dataset(eval_files, tft_output, 4 * training_config.batch_size)
  # Read and transformed once (the first whole pass fills the cache): the budget's rows
  # (EvalRows), the KD stage's evaluation, the student's eval figures and the int8 fidelity
  # all go over it (each of them read, parsed and transformed the gzipped split again, ~1 s
  # at 1e6 interactions).
  eval_plain = eval_read.cache()

  # The teacher is frozen: only its exported transformed_logits signature is called.
  teacher_model = tf.saved_model.load(teacher_serving_dir)  # keep: it owns the variables
  teacher_signature = teacher_model.signatures[export.TRANSFORMED_SIGNATURE]

  def teacher_fn(batch):
    return teacher_signature(**batch)

  # Every epoch would read, parse and run the frozen teacher on the whole train split
  # again: its examples and the teacher's logits are computed once, in canonical order
  # (the same whatever order Beam wrote the rows in, as the teacher's), and kept in memory
  # (~0.2 KB a row); each epoch reshuffles them. Hints' vectors are not
  # kept per row: HintDistiller looks them up per batch in the teacher's tables.
  # Transfer rows: each train row again with another row's item (transfer_copies times),
  # labelled by the teacher alone.
  # Cold-start targets: the student's user-id dropout moves from the model to its batches,
  # and a dropped row gets the teacher's outputs for the OOV user (its second pass here).
  cold_start = distillation_config.cold_start_targets and hparams.user_id_dropout > 0
  labelled = inputs.in_memory(inputs.transformed_dataset(train_files, tft_output,
                                                         4 * training_config.batch_size),
                              canonical_order=True)
  labelled_rows = len(labelled[1])
  # The section as this split applies it (transfer rows only up to a size, hints by
  # default only without them); the report keeps the section as configured.
  configured, distillation_config = (distillation_config,
                                     distillation_config.applied(labelled_rows))
  copies = distillation_config.transfer_copies
  if copies < configured.transfer_copies:
    logging.info("DistillationTrainer: no transfer rows: %d train rows, over "
                 "distillation.transfer_max_train_rows = %d", labelled_rows,
                 configured.transfer_max_train_rows)
  if distillation_config.hint_weight != configured.hint_weight:
    logging.info("DistillationTrainer: logit distillation only: hints (hint_weight = %g) "
                 "are off beside transfer rows unless distillation.hints_with_transfer_rows",
                 configured.hint_weight)
  # Hints: the teacher's vectors (user, item, history) from its tables (TeacherVectors),
  # checked against its signature on the first eval batch.
  teacher_vectors = None
  if distillation_config.hint_weight > 0:
    outputs = teacher_signature.structured_outputs
    names = sorted(key[:-len("_vector")] for key in outputs if key.endswith("_vector"))
    if not names:
      raise ValueError(f"distillation.hint_weight = {distillation_config.hint_weight} needs "
                       f"the teacher's vectors, but {teacher_serving_dir} exports none in "
                       f"{export.TRANSFORMED_SIGNATURE} (outputs: {sorted(outputs)})")
    teacher_vectors = distillation.TeacherVectors.from_teacher(
        teacher_fn, sizes, names, check_batch=next(iter(eval_read))[0])
    logging.info("DistillationTrainer: hints on the teacher's %s vectors (widths %s), from "
                 "its tables", ", ".join(names), teacher_vectors.widths)
  logging.info("DistillationTrainer: running the teacher once over the train split%s%s",
               f" and {copies} transfer cop{'y' if copies == 1 else 'ies'} of it" if copies
               else "", " (and again as if every user were new)" if cold_start else "")

  def add_targets(batches, label_from_teacher):
    return distillation.with_teacher_logits(
        batches, teacher_fn, student.cast_ids,
        cold_start=(features.USER_INDEX, sizes.user_oov_id) if cold_start else None,
        label_from_teacher=label_from_teacher)

  chunk = 4 * training_config.batch_size
  train_arrays = inputs.in_memory(distillation.with_transfer_rows(
      labelled, export.CANDIDATE_INPUTS, copies, chunk, seed, add_targets))
  del labelled
  train_rows = len(train_arrays[1])
  batch_size, learning_rate = training_config.batch_for(train_rows)
  if distillation_config.pair_weight:
    # Pairwise distillation: each train row and its transfer partner in one batch.
    first, second = distillation.transfer_pairs(labelled_rows, chunk)
    steps_per_pass = -(-labelled_rows // (batch_size // 2))
  else:
    steps_per_pass = -(-train_rows // batch_size)

  train = functools.partial(
      stage_batches, train_arrays, batch_size=batch_size, seed=seed,
      pairs=(first, second) if distillation_config.pair_weight else None,
      cold_start=((hparams.user_id_dropout, features.USER_INDEX, sizes.user_oov_id)
                  if cold_start else None))

  # The model's own user-id dropout stays off then: the batches have done it.
  model_config = dataclasses.replace(hparams, user_id_dropout=0.0) if cold_start else hparams
  logging.info("DistillationTrainer: %d train rows in memory (%d of them transfer rows), "
               "batches of %d (%d steps a pass), learning rate %g", train_rows,
               train_rows - labelled_rows, batch_size, steps_per_pass, learning_rate)
  # The eval split is read in the same order every epoch: its teacher outputs are kept.
  evaluation = distillation.with_teacher_logits(eval_plain, teacher_fn,
                                                student.cast_ids).cache()

  model = student.build_student(model_config, sizes, seed=seed)
  student_parameters = training.count_parameters(model)
  logging.info("DistillationTrainer: student with %d parameters, alpha=%s T=%s",
               student_parameters, distillation_config.alpha, distillation_config.temperature)
  signature = student.student_input_signature(sizes)

  def representative(count=distillation_config.representative_examples):
    return export.representative_rows(train_arrays[0], count, seed, sizes.table_rows())

  def measure(candidate):
    """Sizes of a pruning step's model as int8 TFLite (post-training calibration on fewer
    rows than the shipped model: the bytes do not depend on the ranges)."""
    converted = export.convert_to_tflite(candidate, signature,
                                         lambda: representative(CURVE_REPRESENTATIVE_EXAMPLES),
                                         distillation_config.tflite_tensor_names)
    return {"int8_bytes": len(converted),
            "int8_gzipped_bytes": len(gzip.compress(converted, compresslevel=9, mtime=0))}

  # The pruning budget, and the KD stage's early stopping on GAUC, judge the eval split as
  # the gate judges the test split: raw rows through the Transform graph, GAUC over every
  # user (new ones too); the budget's reference is the teacher's figures on the same rows.
  budget_reference, eval_figures = None, None
  if distillation_config.prune or distillation_config.early_stopping_metric == "gauc":
    eval_rows = distillation.EvalRows.from_dataset(
        eval_plain, inputs.read_records(eval_files), tft_output)
    if distillation_config.prune:  # early stopping needs no teacher figures
      budget_reference = eval_rows.figures(
          eval_rows.logits(lambda batch: teacher_fn(batch)["logit"]))
      logging.info("DistillationTrainer: the pruning budget's reference, the teacher on %d "
                   "raw eval rows: %s", len(eval_rows.labels), budget_reference)

    def eval_figures(candidate):
      return eval_rows.student_figures(candidate, student.cast_ids)

  # The training section as applied to this split: its batch size and learning rate.
  applied = dataclasses.replace(training_config, batch_size=batch_size,
                                learning_rate=learning_rate)
  model, stages = distillation.distill(model, train, evaluation, distillation_config,
                                       applied, log_dir, steps_per_pass,
                                       reference=budget_reference, figures=eval_figures,
                                       measure=measure, teacher_vectors=teacher_vectors)
  stages["distill"].update(batch_size=batch_size, learning_rate=learning_rate,
                           train_rows=labelled_rows, transfer_rows=train_rows - labelled_rows,
                           hint_weight=distillation_config.hint_weight,
                           pair_weight=distillation_config.pair_weight)
  student_eval = training.evaluate(lambda b: model(student.cast_ids(b), training=False),
                                   eval_plain, sizes.user_oov_id)

  warmup = [r.numpy() for r in tf.data.TFRecordDataset(eval_files, compression_type="GZIP")
            .take(distillation_config.warmup_examples)]
  export.export_serving_model(model, tft_output, sizes, serving_dir,
                              cast_inputs=student.cast_ids,
                              transformed_signature=student.student_input_signature(sizes),
                              warmup_examples=warmup, context_once=True)

  tflite_model = export.convert_to_tflite(model, signature, representative,
                                          distillation_config.tflite_tensor_names)
  fidelity = Int8Fidelity(**export.int8_fidelity(model, tflite_model, eval_plain,
                                                 student.cast_ids,
                                                 distillation_config.fidelity_rows, seed))
  logging.info("DistillationTrainer: int8 vs float on %d eval rows: %s", fidelity.rows, fidelity)
  manifest = export.write_mobile_bundle(
      mobile_dir, tflite_model, tft_output, sizes,
      metrics={"eval_auc_float_student": student_eval.auc, "eval_auc_int8": fidelity.auc_int8,
               "int8_vs_float": to_plain(fidelity)})

  teacher_variables = os.path.join(teacher_serving_dir, "variables")
  return CompressionReport(
      # The teacher's eval figures are TeacherTrainer's, on the same split: not recomputed.
      teacher=TeacherFigures(
          parameters=teacher.parameters,
          saved_model_variables=FileSizes(
              **export.file_sizes(export.tree_files(teacher_variables))),
          eval=teacher.eval),
      student=StudentFigures(
          parameters=student_parameters,
          saved_model=FileSizes(**export.file_sizes(export.tree_files(serving_dir))),
          eval=student_eval,
          stages=stages,
          sparsity=Sparsity(**distillation.sparsity_report(
              distillation.saved_model_weights(serving_dir)))),
      tflite=TfliteFigures(
          bytes=manifest["tflite_bytes"], gzipped_bytes=manifest["tflite_gzipped_bytes"],
          dtype_census=export.tflite_dtype_census(tflite_model), int8_vs_float=fidelity),
      config={"student": to_plain(hparams), "distillation": to_plain(configured)},
      parameter_ratio=student_parameters / teacher.parameters)
