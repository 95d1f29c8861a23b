"""Executor of DistillationTrainer: orchestrates models.student, distillation and export."""

import json
import logging
import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.artifact_io import write_json
from components.teacher_trainer.executor import METRICS_FILE as TEACHER_METRICS_FILE
from pipeline import configs

REPORT_FILE = "compression_report.json"


class Executor(base_executor.BaseExecutor):
  """Trains the student from the teacher's soft labels, compresses and exports it."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    # pylint: disable=g-import-not-at-top
    import tensorflow as tf
    import tensorflow_transform as tft
    import tf_keras as keras
    from models import distillation, export, inputs, student, training
    # pylint: enable=g-import-not-at-top
    self._log_startup(input_dict, output_dict, exec_properties)
    student_config = configs.section_from_json(configs.StudentConfig,
                                               exec_properties["student_config"])
    kd_config = configs.section_from_json(configs.DistillationConfig,
                                          exec_properties["distillation_config"])
    transform_config = configs.section_from_json(configs.TransformConfig,
                                                 exec_properties["transform_config"])
    single = lambda key: artifact_utils.get_single_instance(input_dict[key])  # pylint: disable=unnecessary-lambda-assignment
    examples, raw_examples = single("examples"), single("raw_examples")
    transform_graph, teacher_artifact = single("transform_graph"), single("teacher_model")
    model_artifact = artifact_utils.get_single_instance(output_dict["model"])
    mobile_artifact = artifact_utils.get_single_instance(output_dict["mobile_model"])
    model_run = artifact_utils.get_single_instance(output_dict["model_run"])

    tft_output = tft.TFTransformOutput(transform_graph.uri)
    sizes = inputs.InputSizes.from_transform_output(tft_output, transform_config,
                                                    int(exec_properties["history_length"]))
    spec = tft_output.transformed_feature_spec()
    training_config = student_config.training
    seed = training_config.seed
    # Seeded before anything random is built: the shuffle's order depends on the global
    # seed too, so datasets built first would depend on what ran before in this process.
    keras.utils.set_random_seed(seed)
    train_files = inputs.split_files(examples.uri, "train")
    eval_files = inputs.split_files(examples.uri, "eval")
    train_plain = inputs.make_dataset(train_files, spec, training_config.batch_size, True, seed,
                                      training_config.shuffle_buffer)
    eval_plain = inputs.make_dataset(eval_files, spec, 4 * training_config.batch_size, False, seed)
    steps_per_epoch = sum(1 for _ in train_plain)

    # The teacher is frozen: only its exported transformed_logits signature is called.
    teacher_dir = path_utils.serving_model_dir(teacher_artifact.uri)
    teacher = tf.saved_model.load(teacher_dir)  # keep a reference: it owns the variables
    teacher_signature = teacher.signatures[export.TRANSFORMED_SIGNATURE]
    teacher_fn = lambda batch: teacher_signature(**batch)["logit"]  # pylint: disable=unnecessary-lambda-assignment
    train = distillation.with_teacher_logits(train_plain, teacher_fn, student.cast_ids)
    # The eval split is read in the same order every epoch: its teacher logits are kept.
    evaluation = distillation.with_teacher_logits(eval_plain, teacher_fn,
                                                  student.cast_ids).cache()

    model = student.build_student(student_config, sizes, seed=seed)
    student_parameters = training.count_parameters(model)
    logging.info("DistillationTrainer: student with %d parameters, alpha=%s T=%s",
                 student_parameters, kd_config.alpha, kd_config.temperature)
    model, stages = distillation.distill(model, train, evaluation, kd_config, training_config,
                                         model_run.uri, steps_per_epoch)
    student_eval = training.evaluate(lambda b: model(student.cast_ids(b), training=False),
                                     eval_plain, sizes.user_oov_id)

    serving_dir = path_utils.serving_model_dir(model_artifact.uri)
    raw_eval = inputs.split_files(raw_examples.uri, "eval")
    warmup = [r.numpy() for r in tf.data.TFRecordDataset(raw_eval, compression_type="GZIP")
              .take(kd_config.warmup_examples)]
    export.export_serving_model(model, tft_output, sizes, serving_dir,
                                cast_inputs=student.cast_ids,
                                transformed_signature=student.student_input_signature(sizes),
                                warmup_examples=warmup)

    def representative():
      for batch, _ in inputs.make_dataset(train_files, spec, 1, False, seed,
                                          take=kd_config.representative_examples):
        yield student.cast_ids(batch)

    tflite_model = export.convert_to_tflite(model, student.student_input_signature(sizes),
                                            representative)
    fidelity = export.int8_fidelity(model, tflite_model, eval_plain, student.cast_ids,
                                    kd_config.fidelity_rows)
    logging.info("DistillationTrainer: int8 vs float on %d eval rows: %s", fidelity["rows"],
                 fidelity)
    manifest = export.write_mobile_bundle(
        mobile_artifact.uri, tflite_model, tft_output, sizes,
        metrics={"eval_auc_float_student": student_eval["auc"],
                 "eval_auc_int8": fidelity["auc_int8"], "int8_vs_float": fidelity})

    teacher_variables = os.path.join(teacher_dir, "variables")
    with tf.io.gfile.GFile(os.path.join(teacher_artifact.uri, TEACHER_METRICS_FILE)) as f:
      teacher_summary = json.load(f)
    report = {
        "teacher": {
            "parameters": teacher_summary["parameters"],
            "saved_model_variables": export.file_sizes(export.tree_files(teacher_variables)),
            # TeacherTrainer evaluated the same eval split; its figures are not recomputed.
            "eval": teacher_summary["eval"],
        },
        "student": {
            "parameters": student_parameters,
            "saved_model": export.file_sizes(export.tree_files(serving_dir)),
            "eval": student_eval,
            "stages": stages,
            "sparsity": distillation.sparsity_report(
                distillation.saved_model_weights(serving_dir)),
        },
        "tflite": {
            "bytes": manifest["tflite_bytes"],
            "gzipped_bytes": manifest["tflite_gzipped_bytes"],
            "dtype_census": export.tflite_dtype_census(tflite_model),
            "int8_vs_float": fidelity,
        },
        "config": {"student": json.loads(exec_properties["student_config"]),
                   "distillation": json.loads(exec_properties["distillation_config"])},
    }
    report["parameter_ratio"] = student_parameters / report["teacher"]["parameters"]
    for uri in (model_run.uri, model_artifact.uri):
      write_json(os.path.join(uri, REPORT_FILE), report)
    model_artifact.set_float_custom_property("eval_auc", student_eval["auc"])
    model_artifact.set_float_custom_property("sparsity", report["student"]["sparsity"]["overall"])
    mobile_artifact.set_float_custom_property("eval_auc", fidelity["auc_int8"])
    mobile_artifact.set_string_custom_property("format", "tflite")



def train_outside_pipeline(outputs: Dict[str, Dict[str, types.Artifact]],
                           teacher: types.Artifact, student_config, distillation_config,
                           transform_config, history_length: int, folder: str):
  """Runs the executor on an existing run's outputs and teacher, writing under `folder`.

  outputs: {component id: {output key: artifact}} of a run through Transform. For
  tests and benchmarks (e.g. the student without distillation, alpha = 1, trained
  from the very split and teacher the pipeline's student used). Returns the
  artifacts {"model", "mobile_model", "model_run"} and the compression report.
  """
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  artifacts = {"model": standard_artifacts.Model(), "mobile_model": standard_artifacts.Model(),
               "model_run": standard_artifacts.ModelRun()}
  for key, artifact in artifacts.items():
    artifact.uri = os.path.join(folder, key)
  Executor().Do(
      {"examples": [outputs["Transform"]["transformed_examples"]],
       "raw_examples": [outputs["InteractionsExampleGen"]["examples"]],
       "transform_graph": [outputs["Transform"]["transform_graph"]],
       "schema": [outputs["ImportSchemaGen"]["schema"]],
       "teacher_model": [teacher]},
      {key: [artifact] for key, artifact in artifacts.items()},
      {"student_config": configs.section_to_json(student_config),
       "distillation_config": configs.section_to_json(distillation_config),
       "transform_config": configs.section_to_json(transform_config),
       "history_length": history_length})
  with open(os.path.join(artifacts["model_run"].uri, REPORT_FILE)) as f:
    return artifacts, json.load(f)
