"""Executor of TeacherTrainer: orchestrates models.teacher, models.training and models.export."""

import logging
import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.artifact_io import write_json
from pipeline import configs

METRICS_FILE = "metrics.json"


class Executor(base_executor.BaseExecutor):
  """Builds, trains, evaluates and exports the teacher."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    # pylint: disable=g-import-not-at-top
    import tensorflow_transform as tft
    import tf_keras as keras
    from models import export, inputs, teacher, training
    # pylint: enable=g-import-not-at-top
    self._log_startup(input_dict, output_dict, exec_properties)
    teacher_config = configs.section_from_json(configs.TeacherConfig,
                                               exec_properties["teacher_config"])
    transform_config = configs.section_from_json(configs.TransformConfig,
                                                 exec_properties["transform_config"])
    examples = artifact_utils.get_single_instance(input_dict["examples"])
    transform_graph = artifact_utils.get_single_instance(input_dict["transform_graph"])
    model_artifact = artifact_utils.get_single_instance(output_dict["model"])
    model_run = artifact_utils.get_single_instance(output_dict["model_run"])

    tft_output = tft.TFTransformOutput(transform_graph.uri)
    sizes = inputs.InputSizes.from_transform_output(tft_output, transform_config,
                                                    int(exec_properties["history_length"]))
    spec = tft_output.transformed_feature_spec()
    training_config = teacher_config.training
    # Seeded before anything random is built: the shuffle's order depends on the global
    # seed too, so datasets built first would depend on what ran before in this process.
    keras.utils.set_random_seed(training_config.seed)
    train = inputs.make_dataset(inputs.split_files(examples.uri, "train"), spec,
                                training_config.batch_size, shuffle=True,
                                seed=training_config.seed,
                                shuffle_buffer=training_config.shuffle_buffer)
    evaluation = inputs.make_dataset(inputs.split_files(examples.uri, "eval"), spec,
                                     4 * training_config.batch_size, shuffle=False,
                                     seed=training_config.seed)

    model = teacher.build_teacher(teacher_config, sizes, seed=training_config.seed)
    parameters = training.count_parameters(model)
    logging.info("TeacherTrainer: %s with %d parameters, %s", model.name, parameters, sizes)
    training.compile_model(model, training_config.learning_rate)
    history = training.fit(model, train, evaluation, training_config,
                           log_dir=os.path.join(model_run.uri, "teacher"), name="teacher")
    eval_metrics = training.evaluate(lambda batch: model(batch, training=False), evaluation,
                                     sizes.user_oov_id)
    logging.info("TeacherTrainer: eval %s", eval_metrics)

    serving_dir = path_utils.serving_model_dir(model_artifact.uri)
    export.export_serving_model(model, tft_output, sizes, serving_dir)
    summary = {
        "architecture": teacher_config.architecture,
        "parameters": parameters,
        "epochs_trained": len(history.history["loss"]),
        "best_epoch": int(max(range(len(history.history["val_auc"])),
                              key=lambda i: history.history["val_auc"][i])) + 1,
        "eval": eval_metrics,
        "saved_model_bytes": export.directory_bytes(serving_dir),
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
    }
    for uri in (model_artifact.uri, model_run.uri):
      write_json(os.path.join(uri, METRICS_FILE), summary)
    model_artifact.set_float_custom_property("eval_auc", eval_metrics["auc"])
    model_artifact.set_int_custom_property("parameters", parameters)



def train_outside_pipeline(transform_outputs: Dict[str, types.Artifact],
                           schema: types.Artifact, teacher_config, transform_config,
                           history_length: int, folder: str):
  """Runs the executor on existing Transform outputs, writing under `folder`.

  For tests and benchmarks (e.g. the matrix-factorization baseline on the very
  split the pipeline's teacher used). Returns (model, model_run) artifacts.
  """
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  model = standard_artifacts.Model()
  model.uri = os.path.join(folder, "model")
  model_run = standard_artifacts.ModelRun()
  model_run.uri = os.path.join(folder, "model_run")
  Executor().Do(
      {"examples": [transform_outputs["transformed_examples"]],
       "transform_graph": [transform_outputs["transform_graph"]], "schema": [schema]},
      {"model": [model], "model_run": [model_run]},
      {"teacher_config": configs.section_to_json(teacher_config),
       "transform_config": configs.section_to_json(transform_config),
       "history_length": history_length})
  return model, model_run
