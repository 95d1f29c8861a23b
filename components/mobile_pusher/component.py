"""MobilePusher: copies a blessed mobile bundle to `<mobile_dir>/<version>/` and moves `latest`."""

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.mobile_pusher import executor


class MobilePusherSpec(ComponentSpec):
  PARAMETERS = {
      # The folder apps (or a sync job) read versions from; see models.push.
      "mobile_dir": ExecutionParameter(type=str),
  }
  INPUTS = {
      "mobile_model": ChannelParameter(type=standard_artifacts.Model),
      "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
  }
  OUTPUTS = {
      "pushed_model": ChannelParameter(type=standard_artifacts.PushedModel),
  }


class MobilePusher(base_component.BaseComponent):
  """Pushes only when `model_blessing` says blessed, as TFX's Pusher checks its blessing.

  `pushed_model` carries `pushed` (1/0), `pushed_destination` and `pushed_version`,
  the custom properties TFX's Pusher sets.
  """
  SPEC_CLASS = MobilePusherSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, mobile_model: types.BaseChannel, model_blessing: types.BaseChannel,
               mobile_dir: str):
    super().__init__(spec=MobilePusherSpec(
        mobile_model=mobile_model, model_blessing=model_blessing, mobile_dir=mobile_dir,
        pushed_model=types.Channel(type=standard_artifacts.PushedModel)))
