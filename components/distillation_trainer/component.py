"""DistillationTrainer: a small student learns from the frozen teacher, pruned and QAT'd for int8."""

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.distillation_trainer import executor


class DistillationTrainerSpec(ComponentSpec):
  PARAMETERS = {
      # JSON of models.hparams.StudentConfig, DistillationConfig, TransformConfig.
      "student_config": ExecutionParameter(type=str),
      "distillation_config": ExecutionParameter(type=str),
      "transform_config": ExecutionParameter(type=str),
  }
  INPUTS = {
      # ExampleGen's raw examples, read through the Transform graph (Transform writes no
      # transformed ones); the raw eval rows also give TF Serving's warmup requests.
      "examples": ChannelParameter(type=standard_artifacts.Examples),
      "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
      "teacher_model": ChannelParameter(type=standard_artifacts.Model),
  }
  OUTPUTS = {
      "model": ChannelParameter(type=standard_artifacts.Model),
      "mobile_model": ChannelParameter(type=standard_artifacts.Model),
      "model_run": ChannelParameter(type=standard_artifacts.ModelRun),
  }


class DistillationTrainer(base_component.BaseComponent):
  """Distills, prunes and quantization-aware-trains the student; exports both models.

  `model`: `Format-Serving/` student SavedModel (serving_default on serialized raw
  tf.Examples, predict_instances on raw named tensors, warmup requests).
  `mobile_model`: the mobile bundle (model.tflite, vocabularies/, manifest.json).
  `model_run`: TensorBoard logs and compression_report.json
  (models.distillation_trainer.CompressionReport), also written beside the SavedModel.
  """
  SPEC_CLASS = DistillationTrainerSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel,
               transform_graph: types.BaseChannel, teacher_model: types.BaseChannel,
               student_config: str, distillation_config: str, transform_config: str):
    super().__init__(spec=DistillationTrainerSpec(
        examples=examples, transform_graph=transform_graph,
        teacher_model=teacher_model, student_config=student_config,
        distillation_config=distillation_config, transform_config=transform_config,
        model=types.Channel(type=standard_artifacts.Model),
        mobile_model=types.Channel(type=standard_artifacts.Model),
        model_run=types.Channel(type=standard_artifacts.ModelRun)))
