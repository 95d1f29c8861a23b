"""Executor of ServingPusher: TFX Pusher's blessing check and bookkeeping, an atomic copy."""

import logging
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from models import push


class Executor(pusher_executor.Executor):
  """Pushes a blessed SavedModel to `<base_directory>/<version>/`, whole or not at all."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    model_push = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    if not self.CheckBlessing(input_dict):
      self._MarkNotPushed(model_push)
      return
    model_path = self.GetModelPath(input_dict)
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                              destination)
    if destination.WhichOneof("destination") != "filesystem":
      raise NotImplementedError("ServingPusher pushes to a filesystem destination only, got "
                                f"{destination.WhichOneof('destination')}")
    base_directory = destination.filesystem.base_directory
    version = push.push_saved_model(model_path, base_directory)
    serving_path = os.path.join(base_directory, version)
    logging.info("ServingPusher: model written to serving path %s", serving_path)
    # As TFX's Pusher: the pushed model is archived in the PushedModel artifact too.
    io_utils.copy_dir(model_path, model_push.uri)
    self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
