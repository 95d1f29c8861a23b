"""Executor of DistillationTrainer: resolves artifacts, calls models.distillation_trainer.run."""

from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from models import child_process, distillation_trainer
from models.hparams import DistillationConfig, StudentConfig, TransformConfig
from models.teacher_trainer import TeacherSummary


class Executor(base_executor.BaseExecutor):
  """Trains the student from the teacher's soft labels, compresses and exports it."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    single = artifact_utils.get_single_instance
    examples = single(input_dict["examples"])
    transform_graph = single(input_dict["transform_graph"])
    teacher = single(input_dict["teacher_model"])
    model, mobile_model = single(output_dict["model"]), single(output_dict["mobile_model"])
    model_run = single(output_dict["model_run"])

    hparams = StudentConfig.from_json(exec_properties["student_config"])
    arguments = dict(
        examples_uri=examples.uri, transform_graph_uri=transform_graph.uri,
        teacher_serving_dir=path_utils.serving_model_dir(teacher.uri),
        teacher=TeacherSummary.read(teacher.uri), hparams=hparams,
        distillation_config=DistillationConfig.from_json(exec_properties["distillation_config"]),
        transform=TransformConfig.from_json(exec_properties["transform_config"]),
        serving_dir=path_utils.serving_model_dir(model.uri), mobile_dir=mobile_model.uri,
        log_dir=model_run.uri)
    # In a child process unless training.separate_process is off.
    report = child_process.run_step("DistillationTrainer", distillation_trainer.run,
                                    hparams.training.separate_process, **arguments)

    for uri in (model_run.uri, model.uri):
      report.write(uri)
    model.set_float_custom_property("eval_auc", report.student.eval.auc)
    model.set_float_custom_property("sparsity", report.student.sparsity.overall)
    mobile_model.set_float_custom_property("eval_auc", report.tflite.int8_vs_float.auc_int8)
    mobile_model.set_string_custom_property("format", "tflite")
