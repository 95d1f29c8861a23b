"""Executor of MobilePusher: checks the blessing, calls models.push.push_mobile_bundle."""

import logging
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from models import push


class Executor(base_executor.BaseExecutor):
  """Copies the bundle to a new version folder if blessed; records what it did."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    bundle = artifact_utils.get_single_instance(input_dict["mobile_model"])
    blessing = artifact_utils.get_single_instance(input_dict["model_blessing"])
    pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
    if not model_utils.is_model_blessed(blessing):
      logging.info("MobilePusher: %s is not blessed; nothing pushed", bundle.uri)
      pushed.set_int_custom_property("pushed", 0)
      return
    mobile_dir = exec_properties["mobile_dir"]
    version = push.push_mobile_bundle(bundle.uri, mobile_dir,
                                      metadata={"source_artifact": bundle.uri})
    destination = os.path.join(mobile_dir, version)
    logging.info("MobilePusher: pushed %s to %s", bundle.uri, destination)
    pushed.set_int_custom_property("pushed", 1)
    pushed.set_string_custom_property("pushed_destination", destination)
    pushed.set_string_custom_property("pushed_version", version)
