"""TeacherTrainer: trains the DCN-v2 teacher on ExampleGen's examples through the Transform
graph, and exports it."""

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.teacher_trainer import executor


class TeacherTrainerSpec(ComponentSpec):
  PARAMETERS = {
      # JSON of models.hparams.TeacherConfig and TransformConfig.
      "teacher_config": ExecutionParameter(type=str),
      "transform_config": ExecutionParameter(type=str),
  }
  INPUTS = {
      "examples": ChannelParameter(type=standard_artifacts.Examples),
      "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
  }
  OUTPUTS = {
      "model": ChannelParameter(type=standard_artifacts.Model),
      "model_run": ChannelParameter(type=standard_artifacts.ModelRun),
  }


class TeacherTrainer(base_component.BaseComponent):
  """Trains on the train split with early stopping on eval AUC; exports a SavedModel.

  `model`: `Format-Serving/` SavedModel (serving_default on serialized raw
  tf.Examples, transformed_logits on transformed tensors) and `metrics.json`
  (models.teacher_trainer.TeacherSummary).
  `model_run`: TensorBoard logs and the same summary.
  """
  SPEC_CLASS = TeacherTrainerSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel, transform_graph: types.BaseChannel,
               teacher_config: str, transform_config: str):
    super().__init__(spec=TeacherTrainerSpec(
        examples=examples, transform_graph=transform_graph,
        teacher_config=teacher_config, transform_config=transform_config,
        model=types.Channel(type=standard_artifacts.Model),
        model_run=types.Channel(type=standard_artifacts.ModelRun)))
