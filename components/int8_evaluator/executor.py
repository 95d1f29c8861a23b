"""Executor of Int8Evaluator: resolves artifacts, calls models.int8_evaluation.run, blesses."""

import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.evaluator import constants
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from models import fileio, int8_evaluation
from models.gate import GateConfig


class Executor(base_executor.BaseExecutor):
  """Judges the int8 bundle; writes its evaluation and a ModelBlessing."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    single = artifact_utils.get_single_instance
    mobile_model = single(input_dict["mobile_model"])
    evaluation, blessing = single(output_dict["evaluation"]), single(output_dict["blessing"])

    result = int8_evaluation.run(
        single(input_dict["examples"]).uri, mobile_model.uri,
        student_serving_dir=path_utils.serving_model_dir(single(input_dict["model"]).uri),
        teacher_serving_dir=path_utils.serving_model_dir(
            single(input_dict["baseline_model"]).uri),
        gate=GateConfig.from_json(exec_properties["gate_config"]),
        split=exec_properties["split"])

    result.write(evaluation.uri)
    marker = constants.BLESSED_FILE_NAME if result.blessed else constants.NOT_BLESSED_FILE_NAME
    fileio.write_text(os.path.join(blessing.uri, marker), "")
    blessing.set_int_custom_property(
        constants.ARTIFACT_PROPERTY_BLESSED_KEY,
        constants.BLESSED_VALUE if result.blessed else constants.NOT_BLESSED_VALUE)
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY,
                                        mobile_model.uri)
