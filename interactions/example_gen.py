"""InteractionsExampleGen's run logic: read, check and summarize one data set into split examples.

The executor only resolves artifacts and calls `generate_examples`; tests and
other orchestrators can call it the same way with plain paths.
"""

import logging
import os
from typing import Callable, Dict, List

import apache_beam as beam

from interactions import beam_transforms, sources
from interactions.config import DataConfig, ExampleGenConfig
from models import fileio


def generate_examples(input_base: str, data_config: DataConfig, gen_config: ExampleGenConfig,
                      split_uris: Dict[str, str], artifact_uri: str,
                      make_pipeline: Callable[[], beam.Pipeline]) -> dict:
  """Writes the examples of every split, the quarantine and `ingestion_summary.json`.

  Raises sources.DataError when the bad-row share passes data.max_bad_row_fraction,
  nothing valid remains or a split is empty. Returns the ingestion summary.
  """
  source = sources.detect_source(input_base, data_config)
  logging.info("InteractionsExampleGen: reading %s (%s format), %d users and %d items "
               "in side tables", ", ".join(source.files), source.format,
               len(source.users), len(source.items))
  with make_pipeline() as pipeline:
    beam_transforms.build(pipeline, source, split_uris, artifact_uri, gen_config)

  summary = beam_transforms.read_summary(artifact_uri)
  check_summary(summary, data_config.max_bad_row_fraction, source.files)
  summary["cold_start"] = beam_transforms.cold_start_shares(summary)
  summary["history_length"] = gen_config.history_length
  summary["split_fractions"] = list(gen_config.split_fractions)
  fileio.write_json(os.path.join(artifact_uri, beam_transforms.SUMMARY_FILE), summary)
  for name, entry in summary["cold_start"].items():
    logging.info("InteractionsExampleGen: %s: %d rows, %d users, unknown user %.1f%%, "
                 "unknown item %.1f%%", name, entry["rows"], entry["users"],
                 100 * entry["unknown_user_share"], 100 * entry["unknown_item_share"])
  return summary


def check_summary(summary: dict, max_bad_row_fraction: float, files: List[str]) -> None:
  """Fails the run when the bad-row share is too high, nothing is valid or a split is empty."""
  total, bad = summary["total_rows"], summary["bad_rows"]
  names = ", ".join(files)
  if summary["valid_rows"] <= 0 or total == 0:
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
