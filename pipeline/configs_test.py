"""PipelineConfig: defaults, YAML and flag overrides, and errors that name the knob."""

import pytest

from interactions.config import ExampleGenConfig
from models.hparams import TeacherConfig, TrainingConfig
from pipeline import configs


def test_defaults_are_valid():
  config = configs.load_config()
  assert config.example_gen.split_fractions == (0.8, 0.1, 0.1)
  assert config.data.max_bad_row_fraction == 0.01
  assert config.output_dir == "runs/default"


def test_yaml_then_flags_override(tmp_path):
  path = tmp_path / "c.yaml"
  path.write_text("example_gen:\n  history_length: 7\n  split_fractions: [0.6, 0.2, 0.2]\n"
                  "synthetic:\n  num_interactions: 5000\n")
  config = configs.load_config(str(path), ["synthetic.num_interactions=2000",
                                           "data.columns.user_id=uid"])
  assert config.example_gen.history_length == 7
  assert config.example_gen.split_fractions == (0.6, 0.2, 0.2)
  assert config.synthetic.num_interactions == 2000
  assert config.data.columns.user_id == "uid"


@pytest.mark.parametrize("override,message", [
    ("example_gen.history_lenght=3", "unknown config key 'example_gen.history_lenght'"),
    ("example_gen.history_length=abc", "example_gen.history_length: expected an integer"),
    ("example_gen.split_fractions=[0.5, 0.5, 0.5]", "must be three positive shares summing to 1"),
    ("data.format=excel", "data.format must be one of auto, ml-100k"),
    ("data.max_bad_row_fraction=2", "data.max_bad_row_fraction must be in [0, 1), got 2.0"),
    ("runner=airflow", "runner must be 'beam' or 'local'"),
    ("teacher.training.batch_size=0", "teacher.training.batch_size must be >= 1, got 0"),
    ("data.format=ml-1m", "data.format='ml-1m' needs data.data_dir"),
    ("distillation.pruning_ramp_epochs=40", "pruning_ramp_epochs must be in [1, pruning_epochs"),
    ("distillation.pruning_early_stopping_patience=0",
     "distillation.pruning_early_stopping_patience must be >= 1, got 0"),
    ("nonsense", "must look like section.key=value"),
])
def test_bad_values_name_the_knob(override, message):
  with pytest.raises(ValueError) as error:
    configs.load_config(overrides=[override])
  assert message in str(error.value)


def test_missing_yaml(tmp_path):
  with pytest.raises(ValueError, match="config file .*nope.yaml does not exist"):
    configs.load_config(str(tmp_path / "nope.yaml"))


def test_section_json_round_trip():
  section = ExampleGenConfig(split_fractions=(0.7, 0.2, 0.1), history_length=3)
  assert ExampleGenConfig.from_json(section.to_json()) == section
  teacher = TeacherConfig(deep_layers=(8, 4), training=TrainingConfig(max_epochs=2))
  assert TeacherConfig.from_json(teacher.to_json()) == teacher


def test_section_from_json_checks_keys_and_values():
  with pytest.raises(ValueError, match="unknown config key 'dropot'"):
    TeacherConfig.from_json('{"dropot": 0.1}')
  with pytest.raises(ValueError, match="dropout must be in"):
    TeacherConfig.from_json('{"dropout": 1.5}')
  with pytest.raises(ValueError, match="training.max_epochs must be >= 1"):
    TeacherConfig.from_json('{"training": {"max_epochs": 0}}')


def test_sections_live_beside_their_code_and_compose():
  config = configs.PipelineConfig()
  assert isinstance(config.example_gen, ExampleGenConfig)
  assert isinstance(config.teacher, TeacherConfig)
  assert isinstance(config.teacher.training, TrainingConfig)


def test_run_pipeline_leaves_the_callers_config_alone(tmp_path, monkeypatch):
  """run_pipeline returns the config as run (absolute output_dir) and does not mutate its input."""
  from pipeline import runners  # pylint: disable=g-import-not-at-top
  seen = {}

  def fake_create_pipeline(config, inputs, metadata):
    seen["output_dir"] = config.output_dir
    raise RuntimeError("stop here")

  monkeypatch.setattr(runners, "create_pipeline", fake_create_pipeline)
  monkeypatch.chdir(tmp_path)
  config = configs.load_config(overrides=["output_dir=relative/run"])
  inputs = runners.RunInputs(data_dir=str(tmp_path), schema_path="s", input_fingerprint="",
                             beam_pipeline_args=[])
  with pytest.raises(RuntimeError, match="stop here"):
    runners.run_pipeline(config, inputs)
  assert seen["output_dir"] == str(tmp_path / "relative" / "run")
  assert config.output_dir == "relative/run"


def test_dump_and_reload(tmp_path):
  config = configs.load_config(overrides=["transform.max_genres=4"])
  configs.dump_config(config, str(tmp_path / "out.yaml"))
  assert configs.load_config(str(tmp_path / "out.yaml")) == config


def test_run_locations_reads_only_the_folders_of_a_run(tmp_path):
  path = tmp_path / "config.yaml"
  path.write_text("output_dir: /runs/x\npush: {mobile_dir: /apps/bundles}\n"
                  "distillation: {knob_of_an_older_version: 0.8}\n")
  config = configs.run_locations(str(path))
  assert config.serving_model_dir == "/runs/x/serving/distillrec"
  assert config.mobile_push_dir == "/apps/bundles"
  path.write_text("teacher: {}\n")
  with pytest.raises(ValueError, match="no output_dir"):
    configs.run_locations(str(path))
