"""create_pipeline(config, ...) -> tfx Pipeline. Pure: wires components, no I/O, no running."""

import dataclasses
from typing import Any, Dict, List, Optional

from tfx import v1 as tfx

from components.distillation_trainer.component import DistillationTrainer
from components.int8_evaluator.component import Int8Evaluator
from components.interactions_example_gen.component import InteractionsExampleGen
from components.mobile_pusher.component import MobilePusher
from components.serving_pusher.component import ServingPusher
from components.teacher_trainer.component import TeacherTrainer
from components.validation_gate.component import ValidationGate
from models import gate
from pipeline import configs

PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
# The last time range: never used for training, early stopping or compression choices.
TEST_SPLIT = "test"


@dataclasses.dataclass(frozen=True)
class RunInputs:
  """What the runner resolved before building the pipeline (see pipeline.runners)."""
  data_dir: str
  schema_path: str
  input_fingerprint: str
  beam_pipeline_args: List[str]


def transform_settings(config: configs.PipelineConfig) -> Dict[str, Any]:
  """Transform's arguments besides its inputs (the tests' Transform fixture runs the
  executor with these too).

  Transform analyzes the train split and writes no transformed examples: the trainers
  read ExampleGen's through its graph (models.inputs.transformed_dataset), as the
  SavedModels' signatures do. Writing all three splits took Transform's executor 87-90 s
  on 1e6 interactions against 37-51 s for the analysis alone. A trainer's first use of
  the graph costs ~5 s of tracing wherever it comes: it moved from the export to the data
  reading (1e5 run's data: reading both splits and tracing an export, 6.2-6.9 s against
  5.5-7.6 s before).
  """
  return dict(preprocessing_fn=PREPROCESSING_FN,
              splits_config=tfx.proto.SplitsConfig(analyze=["train"]),
              materialize=False,
              custom_config=config.transform.custom_config(),
              disable_statistics=not config.transform.compute_statistics)


def create_pipeline(config: configs.PipelineConfig, inputs: RunInputs,
                    metadata_connection_config: Optional[object] = None) -> tfx.dsl.Pipeline:
  """ExampleGen -> statistics, schema, validation gate -> Transform -> teacher -> student
  -> gate (TFMA Evaluator, Int8Evaluator) -> pushers.

  With config.until set, the pipeline ends after that component.
  """
  example_gen = InteractionsExampleGen(
      input_base=inputs.data_dir,
      input_fingerprint=inputs.input_fingerprint,
      data_config=config.data.to_json(),
      example_gen_config=config.example_gen.to_json())

  schema_gen = tfx.components.ImportSchemaGen(schema_file=inputs.schema_path)
  # TFDV's default options. At 1e6 interactions (2 cores, multi_processing x2) statistics
  # of the three splits took 30 s, and reading them alone (Beam's TFRecord source and
  # TFXIO's decoding, counted, no statistics) 20-21 s; sketch-based top-k 29 s, 100 rank
  # histogram buckets 32 s, all features but the 20-id history 27 s. The executor alone on
  # the 1e6 bench-scale run's examples: 33.9 s multi_processing x2, 37.5 s multi_threading,
  # 40.2 s in_memory; in_memory under cProfile, Beam's Python TFRecord reader (two CRCs a
  # record) ~19 s and TFXIO's tf.Example decoding 12.0 s, TFDV's generators a few seconds.
  # Decoding costs by feature more than by value (tfx_bsl's decoder, 20,000 eval examples):
  # 11.1 us an example as written, 10.2 without the history, 10.0 with the history as int64
  # ids, 9.5 without the three slice features (user_in_train, item_in_train, user_activity).
  # The CRCs are not the reader's cost: Beam's reader alone over the 1e6 train split
  # (790,259 records, one process) took 6.0 s with its crcmod CRC, 4.65 s with
  # google-crc32c's (already installed) put in its place.
  statistics_gen = tfx.components.StatisticsGen(
      examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"])
  example_validator = tfx.components.ExampleValidator(
      statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
  validation_gate = ValidationGate(
      anomalies=example_validator.outputs["anomalies"], schema=schema_gen.outputs["schema"])

  transform = tfx.components.Transform(
      examples=example_gen.outputs["examples"],
      schema=validation_gate.outputs["validated_schema"], **transform_settings(config))

  teacher_trainer = TeacherTrainer(
      examples=example_gen.outputs["examples"],
      transform_graph=transform.outputs["transform_graph"],
      teacher_config=config.teacher.to_json(),
      transform_config=config.transform.to_json())

  distillation_trainer = DistillationTrainer(
      examples=example_gen.outputs["examples"],
      transform_graph=transform.outputs["transform_graph"],
      teacher_model=teacher_trainer.outputs["model"],
      student_config=config.student.to_json(),
      distillation_config=config.distillation.to_json(),
      transform_config=config.transform.to_json())

  # The gate, on the test split: TFMA judges the student SavedModel against the teacher;
  # Int8Evaluator judges the int8 bundle the same way plus fidelity, size and latency.
  evaluator = tfx.components.Evaluator(
      examples=example_gen.outputs["examples"],
      model=distillation_trainer.outputs["model"],
      baseline_model=teacher_trainer.outputs["model"],
      eval_config=gate.tfma_eval_config(config.gate),
      example_splits=[TEST_SPLIT])
  int8_evaluator = Int8Evaluator(
      examples=example_gen.outputs["examples"],
      mobile_model=distillation_trainer.outputs["mobile_model"],
      model=distillation_trainer.outputs["model"],
      baseline_model=teacher_trainer.outputs["model"],
      gate_config=config.gate.to_json(), split=TEST_SPLIT)

  # Each pusher copies only a model its gate blessed.
  serving_pusher = ServingPusher(
      model=distillation_trainer.outputs["model"],
      model_blessing=evaluator.outputs["blessing"],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(
              base_directory=config.serving_model_dir)))
  mobile_pusher = MobilePusher(
      mobile_model=distillation_trainer.outputs["mobile_model"],
      model_blessing=int8_evaluator.outputs["blessing"],
      mobile_dir=config.mobile_push_dir)

  components = [example_gen, schema_gen, statistics_gen, example_validator, validation_gate,
                transform, teacher_trainer, distillation_trainer, evaluator, int8_evaluator,
                serving_pusher, mobile_pusher]
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
