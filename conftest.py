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


@pytest.fixture(scope="session")
def trained_teacher(transformed_run, tmp_path_factory):
  """The TeacherTrainer executor run on `transformed_run` (a few epochs): (model, model_run)."""
  # pylint: disable=g-import-not-at-top
  from components.teacher_trainer import executor
  from pipeline import configs
  # pylint: enable=g-import-not-at-top
  outputs = transformed_run["outputs"]
  config = transformed_run["config"]
  teacher_config = configs.TeacherConfig(training=configs.TrainingConfig(
      max_epochs=4, early_stopping_patience=2, batch_size=256))
  return executor.train_outside_pipeline(
      outputs["Transform"], outputs["ImportSchemaGen"]["schema"], teacher_config,
      config.transform, config.example_gen.history_length,
      str(tmp_path_factory.mktemp("teacher")))
