"""InteractionsExampleGen: raw interactions -> time-split tf.Examples with point-in-time features."""

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.interactions_example_gen import executor

EXAMPLES_KEY = "examples"


class InteractionsExampleGenSpec(ComponentSpec):
  """Reads one interactions data set; its knobs come as JSON config sections."""
  PARAMETERS = {
      # Folder with the data (MovieLens 100K / 1M / latest, or generic CSV/Parquet).
      "input_base": ExecutionParameter(type=str),
      # Fingerprint of the input files, so TFX's cache notices changed data.
      "input_fingerprint": ExecutionParameter(type=str, optional=True),
      # JSON of interactions.config.DataConfig.
      "data_config": ExecutionParameter(type=str),
      # JSON of interactions.config.ExampleGenConfig.
      "example_gen_config": ExecutionParameter(type=str),
  }
  INPUTS = {}
  OUTPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class InteractionsExampleGen(base_beam_component.BaseBeamComponent):
  """Splits interactions by time into train/eval/test and adds point-in-time features.

  Output: a standard `Examples` artifact (gzipped tf.Example TFRecords under
  `Split-train`, `Split-eval`, `Split-test`) that StatisticsGen, Transform and
  Trainer read unchanged, plus `ingestion_summary.json` (split boundaries,
  cold-start shares, bad-row counts) and `quarantine/bad_rows-*.jsonl`.
  """
  SPEC_CLASS = InteractionsExampleGenSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self, input_base: str, data_config: str, example_gen_config: str,
               input_fingerprint: Optional[str] = None):
    super().__init__(spec=InteractionsExampleGenSpec(
        input_base=input_base, data_config=data_config,
        example_gen_config=example_gen_config, input_fingerprint=input_fingerprint,
        examples=types.Channel(type=standard_artifacts.Examples)))
