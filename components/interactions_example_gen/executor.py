"""Executor of InteractionsExampleGen: resolves the Examples artifact, calls interactions.example_gen."""

import json
from typing import Any, Dict, List

from tfx import types
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from interactions import beam_transforms, example_gen
from interactions.config import DataConfig, ExampleGenConfig

# Custom property of the Examples artifact: the ingestion summary as JSON.
INGESTION_PROPERTY = "ingestion_summary"


class Executor(base_beam_executor.BaseBeamExecutor):
  """Reads, validates, time-splits and featurizes interactions into an Examples artifact."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    examples = artifact_utils.get_single_instance(output_dict["examples"])
    examples.split_names = artifact_utils.encode_split_names(list(beam_transforms.SPLITS))
    summary = example_gen.generate_examples(
        exec_properties["input_base"],
        DataConfig.from_json(exec_properties["data_config"]),
        ExampleGenConfig.from_json(exec_properties["example_gen_config"]),
        split_uris={name: artifact_utils.get_split_uri([examples], name)
                    for name in beam_transforms.SPLITS},
        artifact_uri=examples.uri, make_pipeline=self._make_beam_pipeline)
    examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
    examples_utils.set_file_format(
        examples, write_split.to_file_format_str(example_gen_pb2.FORMAT_TFRECORDS_GZIP))
    examples.set_string_custom_property(INGESTION_PROPERTY, json.dumps(summary, sort_keys=True))
