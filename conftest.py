"""Test-wide setup: Keras 2 for TF-MOT/TFRS, quiet TensorFlow logs, shared small fixtures.

Tests come in two tiers: `slow` ones (marked; they run a pipeline or train a model)
and the rest, the quick tier (`make test-fast`). `make test` runs both.
"""
import dataclasses
import inspect
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

ROOT = os.path.dirname(os.path.abspath(__file__))


def _shared_fixture_group(item):
  """The xdist group of a test that uses a session- or module-scoped fixture of this
  project (a trained model, a pipeline run), else None.

  `make test` runs the suite on two workers with `--dist loadgroup`: tests in one group run
  on one worker, so such a fixture is built once, as without xdist. Every test that uses a
  session fixture of this file shares one group (they build on each other: the data, the
  teacher, the student); a module fixture groups its module's tests; the other tests are
  spread one by one.
  """
  scopes = set()
  for name in item.fixturenames:
    for fixturedef in item._fixtureinfo.name2fixturedefs.get(name, ()):  # pylint: disable=protected-access
      source = inspect.getsourcefile(fixturedef.func) or ""
      if source.startswith(ROOT + os.sep) and f"{os.sep}.venv{os.sep}" not in source:
        scopes.add(fixturedef.scope)
  if "session" in scopes:
    return "session-fixtures"
  if "module" in scopes:
    return item.nodeid.split("::")[0]
  return None


# tryfirst: xdist's worker reads the marks in its own pytest_collection_modifyitems (it
# appends "@group" to each node id), which would otherwise run before this one.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
  for item in items:
    group = _shared_fixture_group(item)
    if group:
      item.add_marker(pytest.mark.xdist_group(group))


# A tiny synthetic data set: enough rows for every split and vocabulary, seconds to build.
TINY_INTERACTIONS = 6000
TINY_SEED = 3


def pytest_configure(config):  # pylint: disable=unused-argument
  """Keras' and TF-MOT's code traced without AutoGraph, as the trainers run it
  (models/autograph_rules.py): the tests' models train as the pipeline's do. A hook, not
  an autouse session fixture, which would put every test in one xdist group."""
  from models import autograph_rules  # pylint: disable=g-import-not-at-top
  autograph_rules.install()


@dataclasses.dataclass(frozen=True)
class TransformedData:
  """A tiny synthetic data set through InteractionsExampleGen, and Transform's graph of it
  (as artifacts; Transform writes no transformed examples, as in the pipeline)."""
  raw_examples: object  # standard_artifacts.Examples
  transform_graph: object  # standard_artifacts.TransformGraph
  transform_config: object  # models.hparams.TransformConfig


@pytest.fixture
def sdist_builds(monkeypatch):
  """TFX's tfx_ephemeral sdist builder (which every Beam executor calls through
  dependency_utils.make_beam_dependency_flags when its args name no dependency), spied:
  the list gets one entry per sdist TFX would have built."""
  from tfx.utils import dependency_utils  # pylint: disable=g-import-not-at-top
  built = []
  monkeypatch.setattr(dependency_utils, "build_ephemeral_package",
                      lambda: built.append(1) or "/tmp/tfx_ephemeral.tar.gz")
  return built


def _beam_context(executor_class, folder):
  # The local runner's own args for small data: in_memory, and the dependency flag with
  # which TFX builds no sdist of itself (left in the temp folder) per executor.
  from pipeline import configs, runners  # pylint: disable=g-import-not-at-top
  args = runners.beam_pipeline_args(configs.load_config(overrides=[]), num_rows=0)
  return executor_class.Context(beam_pipeline_args=args,
                                tmp_dir=os.path.join(folder, ".tmp"), unique_id="test")


@pytest.fixture(scope="session")
def transformed_data(tmp_path_factory) -> TransformedData:
  """ExampleGen's and Transform's executors on TINY_INTERACTIONS synthetic rows.

  Built once per session by calling the executors directly (no orchestrator, no
  ML Metadata): the trainers' tests need their outputs, not a pipeline run.
  """
  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx
  from tfx.components.transform import executor as transform_executor
  from tfx.types import channel, standard_artifacts
  from components.interactions_example_gen import executor as example_gen_executor
  from interactions import synthetic
  from interactions.config import DataConfig, ExampleGenConfig
  import schemas
  from models import fileio
  from pipeline import configs, pipeline
  # pylint: enable=g-import-not-at-top
  root = str(tmp_path_factory.mktemp("transformed_data"))
  data_dir = os.path.join(root, "data")
  synthetic.write_dataset(synthetic.make_spec(TINY_INTERACTIONS, seed=TINY_SEED), data_dir)

  def artifact(cls, name):
    result = cls()
    result.uri = os.path.join(root, name)
    os.makedirs(result.uri, exist_ok=True)
    return result

  raw = artifact(standard_artifacts.Examples, "raw_examples")
  example_gen_executor.Executor(_beam_context(example_gen_executor.Executor, root)).Do(
      {}, {"examples": [raw]},
      {"input_base": data_dir, "data_config": DataConfig().to_json(),
       "example_gen_config": ExampleGenConfig().to_json()})

  schema = artifact(standard_artifacts.Schema, "schema")
  fileio.write_text(os.path.join(schema.uri, "schema.pbtxt"),
                    schemas.curated_schema(ExampleGenConfig().history_length))

  # The pipeline's own Transform settings, as TFX's component serializes them for its
  # executor (None: not set, which the launcher does not pass either).
  config = configs.load_config(overrides=[])
  component = tfx.components.Transform(
      examples=channel.Channel(type=standard_artifacts.Examples),
      schema=channel.Channel(type=standard_artifacts.Schema),
      **pipeline.transform_settings(config))
  transform_graph = artifact(standard_artifacts.TransformGraph, "transform_graph")
  transform_executor.Executor(_beam_context(transform_executor.Executor, root)).Do(
      {"examples": [raw], "schema": [schema]},
      {"transform_graph": [transform_graph]},
      {name: value for name, value in component.exec_properties.items() if value is not None})
  return TransformedData(raw, transform_graph, config.transform)


@pytest.fixture(scope="session")
def run_teacher_executor(transformed_data):
  """A function (teacher_config, folder) -> (model, model_run): TeacherTrainer's executor on
  `transformed_data`, its artifacts under folder."""
  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts
  from components.teacher_trainer import executor
  # pylint: enable=g-import-not-at-top

  def run(teacher_config, folder, examples=None):
    """examples: an Examples artifact instead of transformed_data's raw_examples."""
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri, model_run.uri = (os.path.join(str(folder), "model"),
                                os.path.join(str(folder), "model_run"))
    executor.Executor().Do(
        {"examples": [examples or transformed_data.raw_examples],
         "transform_graph": [transformed_data.transform_graph]},
        {"model": [model], "model_run": [model_run]},
        {"teacher_config": teacher_config.to_json(),
         "transform_config": transformed_data.transform_config.to_json()})
    return model, model_run

  return run


@pytest.fixture(scope="session")
def tiny_teacher_config():
  """The teacher's config for the tiny fixture: a few epochs."""
  from models.hparams import TeacherConfig, TrainingConfig  # pylint: disable=g-import-not-at-top
  return TeacherConfig(training=TrainingConfig(
      max_epochs=4, early_stopping_patience=2, batch_size=256, early_stopping_min_delta=0.001,
      lr_decay_factor=0.5, lr_decay_patience=1, lr_decay_min_delta=0.001))


@pytest.fixture(scope="session")
def trained_teacher(run_teacher_executor, tiny_teacher_config, tmp_path_factory):
  """TeacherTrainer's executor on `transformed_data` (`tiny_teacher_config`): (model, model_run)."""
  return run_teacher_executor(tiny_teacher_config, tmp_path_factory.mktemp("teacher"))


@pytest.fixture(scope="session")
def run_student_executor(transformed_data, trained_teacher):
  """A function (student_config, distillation_config, folder) -> {"model", "mobile_model",
  "model_run"}: DistillationTrainer's executor on `transformed_data` and `trained_teacher`,
  its artifacts under folder."""
  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts
  from components.distillation_trainer import executor
  # pylint: enable=g-import-not-at-top

  def run(student_config, distillation_config, folder):
    artifacts = {"model": standard_artifacts.Model(),
                 "mobile_model": standard_artifacts.Model(),
                 "model_run": standard_artifacts.ModelRun()}
    for key, artifact in artifacts.items():
      artifact.uri = os.path.join(str(folder), key)
    executor.Executor().Do(
        {"examples": [transformed_data.raw_examples],
         "transform_graph": [transformed_data.transform_graph],
         "teacher_model": [trained_teacher[0]]},
        {key: [artifact] for key, artifact in artifacts.items()},
        {"student_config": student_config.to_json(),
         "distillation_config": distillation_config.to_json(),
         "transform_config": transformed_data.transform_config.to_json()})
    return artifacts

  return run


@pytest.fixture(scope="session")
def trained_student(run_student_executor, tmp_path_factory):
  """DistillationTrainer's executor on the fixture and teacher (short stages, to the end:
  pruning, QAT, SavedModel, int8 bundle): {"model", "mobile_model", "model_run"}."""
  # pylint: disable=g-import-not-at-top
  from models.hparams import DistillationConfig, StudentConfig, TrainingConfig
  # pylint: enable=g-import-not-at-top
  student_config = StudentConfig(training=TrainingConfig(
      max_epochs=6, early_stopping_patience=2, batch_size=256))
  # Two pruning steps and a budget every step meets: the sparsest (0.8) is kept. Hints on
  # beside the one copy of transfer rows, so the teacher's vectors travel through its
  # SavedModel into the student's training; each train row and its transfer row share a
  # batch for the pairwise loss.
  kd_config = DistillationConfig(sparsity_steps=(0.5, 0.8), max_auc_drop=1.0, hint_weight=0.5,
                                 hints_with_transfer_rows=True, pair_weight=0.5,
                                 pruning_ramp_epochs=2, pruning_epochs=3, qat_epochs=1,
                                 representative_examples=300, transfer_copies=1)
  return run_student_executor(student_config, kd_config, tmp_path_factory.mktemp("student"))
