"""Executor of InteractionsExampleGen: orchestrates interactions.sources and beam_transforms."""

import json
import logging
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from interactions import beam_transforms, sources
from components.artifact_io import write_json
from pipeline import configs

# Custom properties set on the Examples artifact.
INGESTION_PROPERTY = "ingestion_summary"


class Executor(base_beam_executor.BaseBeamExecutor):
  """Reads, validates, time-splits and featurizes interactions into an Examples artifact."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    data_config = configs.section_from_json(configs.DataConfig, exec_properties["data_config"])
    gen_config = configs.section_from_json(configs.ExampleGenConfig,
                                           exec_properties["example_gen_config"])
    input_base = exec_properties["input_base"]

    source = sources.detect_source(input_base, data_config)
    logging.info("InteractionsExampleGen: reading %s (%s format), %d users and %d items "
                 "in side tables", ", ".join(source.files), source.format,
                 len(source.users), len(source.items))

    examples = artifact_utils.get_single_instance(output_dict["examples"])
    examples.split_names = artifact_utils.encode_split_names(list(beam_transforms.SPLITS))
    split_uris = {name: artifact_utils.get_split_uri([examples], name)
                  for name in beam_transforms.SPLITS}

    with self._make_beam_pipeline() as pipeline:
      beam_transforms.build(pipeline, source, split_uris, examples.uri,
                            gen_config.split_fractions, gen_config.history_length,
                            gen_config.same_timestamp_visible)

    summary = beam_transforms.read_summary(examples.uri)
    check_summary(summary, data_config.max_bad_row_fraction, source.files)
    summary["cold_start"] = beam_transforms.cold_start_shares(summary)
    summary["history_length"] = gen_config.history_length
    summary["split_fractions"] = list(gen_config.split_fractions)
    write_json(os.path.join(examples.uri, beam_transforms.SUMMARY_FILE), summary)

    examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
    examples_utils.set_file_format(
        examples, write_split.to_file_format_str(example_gen_pb2.FORMAT_TFRECORDS_GZIP))
    examples.set_string_custom_property(INGESTION_PROPERTY, json.dumps(summary, sort_keys=True))
    for name, entry in summary["cold_start"].items():
      logging.info("InteractionsExampleGen: %s: %d rows, %d users, unknown user %.1f%%, "
                   "unknown item %.1f%%", name, entry["rows"], entry["users"],
                   100 * entry["unknown_user_share"], 100 * entry["unknown_item_share"])


def check_summary(summary: dict, max_bad_row_fraction: float, files: List[str]) -> None:
  """Fails the run when the bad-row share is too high, nothing is valid or a split is empty."""
  total, bad = summary["total_rows"], summary["bad_rows"]
  names = ", ".join(files)
  if summary["valid_rows"] - _duplicates(summary) <= 0 or total == 0:
    raise sources.DataError(
        f"{names}: no valid interaction rows remain ({bad} of {total} rows unusable); "
        f"first bad row: {summary['first_bad_row']}")
  share = bad / total
  if share > max_bad_row_fraction:
    raise sources.DataError(
        f"{names}: {bad} of {total} rows ({100 * share:.2f}%) are unusable, more than "
        f"data.max_bad_row_fraction = {100 * max_bad_row_fraction:.2f}%; first bad row: "
        f"{summary['first_bad_row']} (all bad rows are listed in quarantine/)")
  empty = [name for name in beam_transforms.SPLITS
           if summary["stats"].get(f"{name}/rows", 0) == 0]
  if empty:
    raise sources.DataError(
        f"{names}: the time split left {', '.join(empty)} empty (boundaries "
        f"{summary['boundaries']}); the data needs more distinct timestamps or other "
        f"example_gen.split_fractions")


def _duplicates(summary: dict) -> int:
  return summary["bad_rows"] - (summary["total_rows"] - summary["valid_rows"])

