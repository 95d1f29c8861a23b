"""Test-wide setup: Keras 2 for TF-MOT/TFRS, quiet TensorFlow logs."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="session")
def transformed_run(tmp_path_factory):
  """A small synthetic run through Transform (LocalDagRunner), shared by trainer tests.

  Returns {"config": PipelineConfig, "outputs": {node: {key: artifact}}}.
  """
  from pipeline import configs, report, runners  # pylint: disable=g-import-not-at-top
  run_dir = tmp_path_factory.mktemp("transformed_run")
  config = configs.load_config(overrides=[
      f"output_dir={run_dir}", "runner=local", "until=Transform",
      "synthetic.num_interactions=6000", "synthetic.seed=3"])
  runners.run_pipeline(config)
  return {"config": config, "outputs": report.latest_outputs(config.metadata_path)}
