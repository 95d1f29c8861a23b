"""create_pipeline(config, ...) -> tfx Pipeline. Pure: wires components, no I/O, no running."""

import dataclasses
from typing import List, Optional

from tfx import v1 as tfx

from components.distillation_trainer.component import DistillationTrainer
from components.interactions_example_gen.component import InteractionsExampleGen
from components.teacher_trainer.component import TeacherTrainer
from components.validation_gate.component import ValidationGate
from pipeline import configs

PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"


@dataclasses.dataclass(frozen=True)
class RunInputs:
  """What the runner resolved before building the pipeline (see pipeline.runners)."""
  data_dir: str
  schema_path: str
  input_fingerprint: str
  beam_pipeline_args: List[str]


def transform_custom_config(transform: configs.TransformConfig) -> dict:
  """The TransformConfig knobs preprocessing_fn reads (it gets them as custom_config)."""
  values = dataclasses.asdict(transform)
  values.pop("compute_statistics")
  return values


def create_pipeline(config: configs.PipelineConfig, inputs: RunInputs,
                    metadata_connection_config: Optional[object] = None) -> tfx.dsl.Pipeline:
  """ExampleGen -> statistics, schema, validation gate -> Transform -> teacher -> student.

  With config.until set, the pipeline ends after that component.
  """
  example_gen = InteractionsExampleGen(
      input_base=inputs.data_dir,
      input_fingerprint=inputs.input_fingerprint,
      data_config=configs.section_to_json(config.data),
      example_gen_config=configs.section_to_json(config.example_gen))

  schema_gen = tfx.components.ImportSchemaGen(schema_file=inputs.schema_path)
  statistics_gen = tfx.components.StatisticsGen(
      examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"])
  example_validator = tfx.components.ExampleValidator(
      statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
  validation_gate = ValidationGate(
      anomalies=example_validator.outputs["anomalies"], schema=schema_gen.outputs["schema"])

  transform = tfx.components.Transform(
      examples=example_gen.outputs["examples"],
      schema=validation_gate.outputs["validated_schema"],
      preprocessing_fn=PREPROCESSING_FN,
      splits_config=tfx.proto.SplitsConfig(analyze=["train"],
                                           transform=["train", "eval", "test"]),
      custom_config=transform_custom_config(config.transform),
      disable_statistics=not config.transform.compute_statistics)

  teacher_trainer = TeacherTrainer(
      examples=transform.outputs["transformed_examples"],
      transform_graph=transform.outputs["transform_graph"],
      schema=validation_gate.outputs["validated_schema"],
      teacher_config=configs.section_to_json(config.teacher),
      transform_config=configs.section_to_json(config.transform),
      history_length=config.example_gen.history_length)

  distillation_trainer = DistillationTrainer(
      examples=transform.outputs["transformed_examples"],
      raw_examples=example_gen.outputs["examples"],
      transform_graph=transform.outputs["transform_graph"],
      schema=validation_gate.outputs["validated_schema"],
      teacher_model=teacher_trainer.outputs["model"],
      student_config=configs.section_to_json(config.student),
      distillation_config=configs.section_to_json(config.distillation),
      transform_config=configs.section_to_json(config.transform),
      history_length=config.example_gen.history_length)

  components = [example_gen, schema_gen, statistics_gen, example_validator, validation_gate,
                transform, teacher_trainer, distillation_trainer]
  if config.until:
    ids = [c.id for c in components]
    if config.until not in ids:
      raise ValueError(f"until must name a component ({', '.join(ids)}), got {config.until!r}")
    components = components[:ids.index(config.until) + 1]
  return tfx.dsl.Pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=config.pipeline_root,
      components=components,
      enable_cache=config.enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=inputs.beam_pipeline_args)
