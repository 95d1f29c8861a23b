"""Executor of TeacherTrainer: resolves artifacts, calls models.teacher_trainer.run, records the result."""

import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from models import child_process, teacher_trainer
from models.hparams import TeacherConfig, TransformConfig


class Executor(base_executor.BaseExecutor):
  """Builds, trains, evaluates and exports the teacher."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    examples = artifact_utils.get_single_instance(input_dict["examples"])
    transform_graph = artifact_utils.get_single_instance(input_dict["transform_graph"])
    model = artifact_utils.get_single_instance(output_dict["model"])
    model_run = artifact_utils.get_single_instance(output_dict["model_run"])

    hparams = TeacherConfig.from_json(exec_properties["teacher_config"])
    arguments = dict(
        examples_uri=examples.uri, transform_graph_uri=transform_graph.uri, hparams=hparams,
        transform=TransformConfig.from_json(exec_properties["transform_config"]),
        serving_dir=path_utils.serving_model_dir(model.uri),
        log_dir=os.path.join(model_run.uri, "teacher"))
    # In a child process unless training.separate_process is off.
    summary = child_process.run_step("TeacherTrainer", teacher_trainer.run,
                                     hparams.training.separate_process, **arguments)

    for uri in (model.uri, model_run.uri):
      summary.write(uri)
    model.set_float_custom_property("eval_auc", summary.eval.auc)
    model.set_int_custom_property("parameters", summary.parameters)
