"""Runners: resolve a run's inputs, build the pipeline, run it on Beam or locally.

The only orchestrator-specific code is `run_pipeline`; both runners execute the
same `create_pipeline(config, inputs)`. ML Metadata lives in SQLite under the
run directory and caching is on, so a rerun after a crash resumes from the
last finished component.
"""

import dataclasses
import hashlib
import json
import logging
import os
import time
from typing import List, Optional

from models import fileio
from pipeline import configs, kubeflow
from pipeline.pipeline import RunInputs, create_pipeline

SYNTHETIC_SPEC_FILE = "spec.json"


def prepare_schema(config: configs.PipelineConfig) -> str:
  """The curated schema with the configured history length, in a file named by its content.

  ImportSchemaGen caches on the file path, so a copy whose content changes must get
  a new name.
  """
  import schemas  # pylint: disable=g-import-not-at-top
  text = schemas.curated_schema(config.example_gen.history_length)
  digest = hashlib.sha256(text.encode()).hexdigest()[:12]
  path = os.path.abspath(os.path.join(config.output_dir, "schema", f"schema-{digest}.pbtxt"))
  if not os.path.exists(path):
    fileio.write_text(path, text)
  return path


def ensure_synthetic_data(config: configs.PipelineConfig) -> str:
  """Generates the synthetic data set under the run unless the same spec is already there."""
  from interactions import synthetic  # pylint: disable=g-import-not-at-top
  spec = synthetic.make_spec(config.synthetic.num_interactions, config.synthetic.num_users,
                             config.synthetic.num_items, config.synthetic.seed)
  folder = os.path.abspath(config.synthetic_data_dir)
  spec_path = os.path.join(folder, SYNTHETIC_SPEC_FILE)
  wanted = json.dumps(spec.__dict__, sort_keys=True)
  if os.path.exists(spec_path):
    with open(spec_path) as f:
      if f.read() == wanted:
        logging.info("Reusing synthetic data in %s", folder)
        return folder
  print(f"Generating synthetic data: {spec.num_interactions:,} interactions, "
        f"{spec.num_users:,} users, {spec.num_items:,} items (seed {spec.seed}) -> {folder}",
        flush=True)
  if os.path.exists(spec_path):
    os.remove(spec_path)
  synthetic.write_dataset(spec, folder)
  fileio.write_text(spec_path, wanted)
  return folder


def input_fingerprint(data_dir: str) -> str:
  """Names, sizes and modification times of the data files (as TFX's ExampleGen does)."""
  parts = []
  for name in sorted(os.listdir(data_dir)):
    path = os.path.join(data_dir, name)
    if os.path.isfile(path):
      stat = os.stat(path)
      parts.append(f"{name}:{stat.st_size}:{int(stat.st_mtime)}")
  return ",".join(parts)


# This checkout's setup.py (absent where the package was installed from a wheel).
SETUP_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "setup.py")


def beam_pipeline_args(config: configs.PipelineConfig, num_rows: int) -> List[str]:
  """DirectRunner args: in_memory for small data, multi_processing (a worker a core) above.

  For the DirectRunner the args also name this package's setup.py as the workers'
  dependencies (true, and ignored by that runner, which stages nothing): without a
  dependency flag every TFX Beam component builds and leaves a ~49 MB sdist of TFX in
  the temp folder (kubeflow.DEPENDENCY_FLAGS).
  """
  extra = list(config.beam.extra_args)
  mode = config.beam.direct_running_mode
  if mode == "auto":
    mode = ("multi_processing" if num_rows >= config.beam.multi_processing_min_rows
            else "in_memory")
  workers = config.beam.direct_num_workers or (os.cpu_count() or 1)
  args = [f"--direct_running_mode={mode}"]
  if mode != "in_memory":
    args.append(f"--direct_num_workers={workers}")
  if (kubeflow.is_direct_runner(extra) and not kubeflow.names_dependencies(extra)
      and os.path.isfile(SETUP_FILE)):
    args.append(f"--setup_file={SETUP_FILE}")
  return args + extra


def resolve_inputs(config: configs.PipelineConfig) -> RunInputs:
  """Makes the run folder, data, schema copy and Beam args the pipeline needs."""
  from interactions import sources  # pylint: disable=g-import-not-at-top
  os.makedirs(config.output_dir, exist_ok=True)
  if config.data.data_dir:
    data_dir = os.path.abspath(config.data.data_dir)
  else:
    data_dir = ensure_synthetic_data(config)
  source = sources.detect_source(data_dir, config.data)
  num_rows = source.count_rows()
  return RunInputs(data_dir=data_dir, schema_path=prepare_schema(config),
                   input_fingerprint=input_fingerprint(data_dir),
                   beam_pipeline_args=beam_pipeline_args(config, num_rows))


def run_pipeline(config: configs.PipelineConfig,
                 inputs: Optional[RunInputs] = None) -> configs.PipelineConfig:
  """Builds and runs the pipeline with config.runner; prints each component as it finishes.

  Returns the config as run (output_dir made absolute); the caller's is not changed.
  """
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner  # pylint: disable=g-import-not-at-top
  from pipeline import progress  # pylint: disable=g-import-not-at-top

  config = dataclasses.replace(config, output_dir=os.path.abspath(config.output_dir))
  inputs = inputs or resolve_inputs(config)
  configs.dump_config(config, os.path.join(config.output_dir, "config.yaml"))
  metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
  pipeline = create_pipeline(config, inputs, metadata)
  runner = BeamDagRunner() if config.runner == "beam" else tfx.orchestration.LocalDagRunner()
  print(f"Running {config.pipeline_name} with the {config.runner} runner "
        f"({' '.join(inputs.beam_pipeline_args)}) into {config.output_dir}", flush=True)
  with progress.ProgressPrinter(config.metadata_path, since=time.time()):
    runner.run(pipeline)
  return config
