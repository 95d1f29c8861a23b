"""Int8Evaluator: judges the int8 student on the test split through the mobile bundle."""

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.int8_evaluator import executor


class Int8EvaluatorSpec(ComponentSpec):
  PARAMETERS = {
      # JSON of models.gate.GateConfig.
      "gate_config": ExecutionParameter(type=str),
      "split": ExecutionParameter(type=str),
  }
  INPUTS = {
      # Raw examples: the bundle is fed the way an app feeds it, from raw ids and values.
      "examples": ChannelParameter(type=standard_artifacts.Examples),
      "mobile_model": ChannelParameter(type=standard_artifacts.Model),
      # The float student (fidelity) and the teacher (change thresholds), same rows.
      "model": ChannelParameter(type=standard_artifacts.Model),
      "baseline_model": ChannelParameter(type=standard_artifacts.Model),
  }
  OUTPUTS = {
      "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
      "blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
  }


class Int8Evaluator(base_component.BaseComponent):
  """Scores the split with the int8 bundle, the float student and the teacher; blesses or not.

  `evaluation`: int8_evaluation.json (models.int8_evaluation.Int8Evaluation: metrics
  per model and slice, fidelity, size, latency, every threshold as judged).
  `blessing`: a ModelBlessing as TFX's Evaluator writes it (`blessed` property and a
  BLESSED or NOT_BLESSED file), so a pusher treats both gates alike.
  """
  SPEC_CLASS = Int8EvaluatorSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel, mobile_model: types.BaseChannel,
               model: types.BaseChannel, baseline_model: types.BaseChannel, gate_config: str,
               split: str = "test"):
    super().__init__(spec=Int8EvaluatorSpec(
        examples=examples, mobile_model=mobile_model, model=model,
        baseline_model=baseline_model, gate_config=gate_config, split=split,
        evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
        blessing=types.Channel(type=standard_artifacts.ModelBlessing)))
