"""ValidationGate: passes the schema on to Transform only when ExampleValidator found nothing."""

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec

from components.validation_gate import executor


class ValidationGateSpec(ComponentSpec):
  PARAMETERS = {}
  INPUTS = {
      "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
      "schema": ChannelParameter(type=standard_artifacts.Schema),
  }
  OUTPUTS = {
      "validated_schema": ChannelParameter(type=standard_artifacts.Schema),
  }


class ValidationGate(base_component.BaseComponent):
  """Raises ValidationGateError listing each anomaly; else copies the schema through.

  Transform takes `validated_schema`, so it runs only after a clean validation,
  on every orchestrator, and MLMD records which validation let the data through.
  """
  SPEC_CLASS = ValidationGateSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, anomalies: types.BaseChannel, schema: types.BaseChannel):
    super().__init__(spec=ValidationGateSpec(
        anomalies=anomalies, schema=schema,
        validated_schema=types.Channel(type=standard_artifacts.Schema)))
