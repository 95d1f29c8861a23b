"""ServingPusher: TFX's standard Pusher, with a push that TF Serving never sees half-done."""

from tfx.components.pusher import component as pusher_component
from tfx.dsl.components.base import executor_spec

from components.serving_pusher import executor


class ServingPusher(pusher_component.Pusher):
  """The standard Pusher (same spec: model, model_blessing, push_destination) whose
  filesystem push copies to a hidden temporary folder and renames it into place.

  TFX's own executor copies straight into `<base_directory>/<version>/` (saved_model.pb
  last); TF Serving polls that folder and may try a version whose variables are still
  being copied. See executor.py.
  """
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
