"""compile-kubeflow: a KFP v2 spec of the same pipeline, every path on the cluster, one image."""

import json
import os
import re
import subprocess
import sys
import tempfile

import pytest
import yaml

from pipeline import cli, configs, kubeflow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "us-docker.pkg.dev/test-project/repo/distillrec:0.1.0"
ROOT = "gs://test-bucket/distillrec"
DATA = "gs://test-bucket/data/ml-1m"
DATAFLOW_ARGS = ["--runner=DataflowRunner", "--project=test-project", "--region=us-central1",
                 "--temp_location=gs://test-bucket/tmp", f"--sdk_container_image={IMAGE}"]


def _cluster_config(*overrides):
  config = configs.load_config(overrides=[f"data.data_dir='{DATA}'", *overrides])
  return kubeflow.cluster_config(config, ROOT)


def _parse(text):
  # pylint: disable=g-import-not-at-top
  from google.protobuf import json_format
  from kfp.pipeline_spec import pipeline_spec_pb2
  # pylint: enable=g-import-not-at-top
  return json_format.Parse(text, pipeline_spec_pb2.PipelineSpec())


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
  """(config, the TFX pipeline built independently, the spec file parsed as a PipelineSpec)."""
  # pylint: disable=g-import-not-at-top
  from pipeline.pipeline import RunInputs, create_pipeline
  # pylint: enable=g-import-not-at-top
  config = _cluster_config()
  path = str(tmp_path_factory.mktemp("spec") / "pipeline.json")
  kubeflow.write_spec(kubeflow.compile_spec(config, IMAGE), path)
  with open(path) as f:
    spec = _parse(f.read())
  pipeline = create_pipeline(config, RunInputs(
      data_dir=DATA, schema_path="unused", input_fingerprint="", beam_pipeline_args=[]))
  return config, pipeline, spec


def _strings(value):
  if isinstance(value, dict):
    for item in value.values():
      yield from _strings(item)
  elif isinstance(value, list):
    for item in value:
      yield from _strings(item)
  elif isinstance(value, str):
    yield value


def test_spec_has_every_component_with_its_upstream(compiled):
  _, pipeline, spec = compiled
  tasks = spec.root.dag.tasks
  assert sorted(tasks) == sorted(c.id for c in pipeline.components)
  for component in pipeline.components:
    assert (sorted(tasks[component.id].dependent_tasks) ==
            sorted(node.id for node in component.upstream_nodes)), component.id
  # What the gate is for, spelled out: no training before the validation gate, no push
  # without its evaluator.
  assert "ValidationGate" in tasks["Transform"].dependent_tasks
  assert "Evaluator" in tasks["ServingPusher"].dependent_tasks
  assert "Int8Evaluator" in tasks["MobilePusher"].dependent_tasks


def test_every_executor_runs_in_the_image(compiled):
  _, pipeline, spec = compiled
  executors = spec.deployment_spec.fields["executors"].struct_value.fields
  assert len(executors) == len(pipeline.components)
  for name, executor in executors.items():
    container = executor.struct_value.fields["container"].struct_value.fields
    assert container["image"].string_value == IMAGE, name
    assert [c.string_value for c in container["command"].list_value.values][:3] == [
        "python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]


def test_no_path_of_this_machine(compiled):
  # pylint: disable=g-import-not-at-top
  from google.protobuf import json_format
  # pylint: enable=g-import-not-at-top
  _, _, spec = compiled
  text = json.dumps(json_format.MessageToDict(spec))
  machine = {REPO, os.getcwd(), tempfile.gettempdir(), os.path.expanduser("~"), sys.prefix,
             os.path.realpath(tempfile.gettempdir())}
  for path in machine:
    assert path not in text, path
  # Nor any other path, absolute or relative: everything with a slash in it, JSON
  # execution properties included, is the image or a URI on the bucket.
  for value in _strings(json_format.MessageToDict(spec)):
    for token in re.findall(r"[\w.:+-]*/[^\s\"\\,]*", value):
      assert token == IMAGE or token.startswith("gs://test-bucket/"), (token, value)


def test_paths_come_from_the_pipeline_root_and_the_data(compiled):
  config, _, spec = compiled
  assert spec.default_pipeline_root == f"{ROOT}/pipeline_root" == config.pipeline_root
  tasks = spec.root.dag.tasks

  def value(task, key):
    return tasks[task].inputs.parameters[key].runtime_value.constant_value.string_value

  assert value("InteractionsExampleGen", "input_base") == DATA
  schema_uri, _ = kubeflow.schema_location(config)
  assert value("ImportSchemaGen", "schema_file") == schema_uri
  assert re.fullmatch(rf"{ROOT}/schema/schema-[0-9a-f]{{12}}\.pbtxt", schema_uri)
  assert value("MobilePusher", "mobile_dir") == f"{ROOT}/mobile"
  assert json.loads(value("ServingPusher", "push_destination")) == {
      "filesystem": {"base_directory": f"{ROOT}/serving/distillrec"}}


def test_schema_is_named_by_its_content():
  short = kubeflow.schema_location(_cluster_config("example_gen.history_length=5"))
  default = kubeflow.schema_location(_cluster_config())
  assert short[0] != default[0] and short[1] != default[1]
  assert kubeflow.schema_location(_cluster_config()) == default


def test_dataflow_args_pass_through_to_every_beam_component():
  spec = kubeflow.compile_spec(
      _cluster_config(f"beam.extra_args={json.dumps(DATAFLOW_ARGS)}"), IMAGE)
  executors = spec["deploymentSpec"]["executors"]
  beam_components = ("InteractionsExampleGen", "StatisticsGen", "Transform", "Evaluator")
  for name in beam_components:
    args = executors[f"{name}_executor"]["container"]["args"]
    assert args[-len(DATAFLOW_ARGS):] == DATAFLOW_ARGS, name
    assert not any(arg.startswith("--direct_") for arg in args), name


@pytest.mark.parametrize("beam,expected", [
    ({}, ["--direct_running_mode=in_memory", f"--sdk_container_image={IMAGE}"]),
    ({"direct_running_mode": "multi_processing", "direct_num_workers": 4},
     ["--direct_running_mode=multi_processing", "--direct_num_workers=4",
      f"--sdk_container_image={IMAGE}"]),
    ({"extra_args": ["--runner=DirectRunner", "--direct_runner_bundle_repeat=1"]},
     ["--direct_running_mode=in_memory", f"--sdk_container_image={IMAGE}",
      "--runner=DirectRunner", "--direct_runner_bundle_repeat=1"]),
    # The user's own dependency flag wins: no second one.
    ({"extra_args": ["--setup_file=/src/setup.py"]},
     ["--direct_running_mode=in_memory", "--setup_file=/src/setup.py"]),
    ({"extra_args": ["--runner", "FlinkRunner", "--flink_master=host:8081"]},
     ["--runner", "FlinkRunner", "--flink_master=host:8081"]),
])
def test_beam_args(beam, expected):
  assert kubeflow.beam_pipeline_args(configs.BeamConfig(**beam), IMAGE) == expected


def test_direct_runner_args_stop_tfx_building_an_sdist_per_component(sdist_builds):
  """TFX's own check (run by every Beam executor) finds the dependencies named and adds none."""
  from tfx.utils import dependency_utils  # pylint: disable=g-import-not-at-top
  args = kubeflow.beam_pipeline_args(configs.BeamConfig(), IMAGE)
  assert dependency_utils.make_beam_dependency_flags(args) == args
  assert not sdist_builds
  # The same check without the flag builds one: the spy sees what the args prevent.
  bare = [arg for arg in args if not arg.startswith("--sdk_container_image")]
  assert dependency_utils.make_beam_dependency_flags(bare)[-1].startswith("--extra_package=")
  assert sdist_builds == [1]


def test_dataflow_without_the_image_gets_a_note():
  assert kubeflow.beam_notes(DATAFLOW_ARGS) == []
  assert "--sdk_container_image" in kubeflow.beam_notes(DATAFLOW_ARGS[:-1])[0]


@pytest.mark.parametrize("extra_args", [["runner=DataflowRunner"], ["--project=p", "p2"], [3]])
def test_extra_args_must_be_beam_flags(extra_args):
  with pytest.raises(ValueError, match=r"beam.extra_args must be Beam flags"):
    configs.load_config(overrides=[f"beam.extra_args={json.dumps(extra_args)}"])


@pytest.mark.parametrize("root", ["/tmp/root", "runs/default", "file:///tmp/root", "", "gs:/b"])
def test_pipeline_root_must_be_a_uri(root):
  with pytest.raises(ValueError, match=r"--pipeline-root must be a URI the cluster can reach"):
    kubeflow.cluster_config(configs.load_config(overrides=[f"data.data_dir='{DATA}'"]), root)


def test_data_is_required_and_remote():
  with pytest.raises(ValueError, match=r"compile-kubeflow needs --data URI"):
    kubeflow.cluster_config(configs.load_config(), ROOT)
  with pytest.raises(ValueError, match=r"--data \(data.data_dir\) must be a URI"):
    kubeflow.cluster_config(configs.load_config(overrides=["data.data_dir=data/ml-1m"]), ROOT)
  with pytest.raises(ValueError, match=r"push.mobile_dir must be a URI"):
    _cluster_config("push.mobile_dir=/srv/mobile")


def test_yaml_spec_is_the_same_pipeline_spec(tmp_path):
  spec = kubeflow.compile_spec(_cluster_config(), IMAGE)
  kubeflow.write_spec(spec, str(tmp_path / "pipeline.yaml"))
  text = (tmp_path / "pipeline.yaml").read_text()
  # YAML proper, not JSON (which YAML would read too): kfp.Client's own format.
  assert text.startswith("components:\n")
  loaded = yaml.safe_load(text)
  assert loaded == spec
  assert _parse(json.dumps(loaded)).root.dag.tasks


# --- The image --------------------------------------------------------------------


def _read(name):
  with open(os.path.join(REPO, name)) as f:
    return f.read()


def test_dockerfile_base_is_the_pinned_tfx():
  pinned = re.search(r"^tfx==(\S+)$", _read("constraints.txt"), re.M).group(1)
  dockerfile = _read("Dockerfile")
  bases = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
  assert bases == [f"tensorflow/tfx:{pinned}"]
  assert re.search(r"pip install .*-c constraints\.txt", dockerfile)
  ignored = _read(".dockerignore").split()
  assert {".venv", "runs", ".git", "data"} <= set(ignored)


# --- The command line -------------------------------------------------------------


def _run(*args, cwd=None):
  result = subprocess.run([sys.executable, "-m", "pipeline.cli", "compile-kubeflow", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": REPO})
  return result.returncode, result.stdout, result.stderr


def test_cli_writes_the_spec(tmp_path):
  # ram:// is TensorFlow's in-memory file system: the schema is written the way it is to
  # gs://, through tf.io.gfile, without a bucket.
  output = tmp_path / "pipeline.json"
  code, out, err = _run("--image", IMAGE, "--pipeline-root", "ram://bucket/run",
                        "--data", "ram://bucket/data", "--output", str(output), cwd=tmp_path)
  assert code == 0, err
  spec = _parse(output.read_text())
  assert spec.default_pipeline_root == "ram://bucket/run/pipeline_root"
  assert f"Compiled distillrec for Kubeflow Pipelines -> {output}" in out
  assert re.search(r"schema: +ram://bucket/run/schema/schema-[0-9a-f]{12}\.pbtxt", out)
  assert f"{len(spec.root.dag.tasks)} components:" in out


@pytest.mark.parametrize("args,message", [
    (["--pipeline-root", ROOT, "--data", DATA],
     "distillrec: the following arguments are required: --image "
     "(see 'distillrec compile-kubeflow --help')"),
    (["--image", IMAGE, "--pipeline-root", "/tmp/root", "--data", DATA],
     "distillrec: --pipeline-root must be a URI the cluster can reach, such as "
     "gs://BUCKET/PATH, got '/tmp/root' (a path of this machine)"),
    (["--image", IMAGE, "--pipeline-root", ROOT],
     "distillrec: compile-kubeflow needs --data URI"),
    (["--image", IMAGE, "--pipeline-root", ROOT, "--data", DATA, "--output", "spec.txt"],
     "distillrec: --output must end with .json, .yaml, .yml"),
])
def test_cli_bad_arguments_are_one_line(args, message, tmp_path):
  code, out, err = _run(*args, cwd=tmp_path)
  assert code == 2
  assert len(err.strip().splitlines()) == 1 and err.startswith(message), err
  assert not out and not os.listdir(tmp_path)


def test_readme_names_every_flag():
  # pylint: disable=protected-access
  parser = cli._parser()
  sub = next(a for a in parser._actions if a.dest == "command").choices["compile-kubeflow"]
  # pylint: enable=protected-access
  readme = _read("README.md")
  flags = [s for a in sub._actions for s in a.option_strings  # pylint: disable=protected-access
           if s.startswith("--") and s != "--help"]
  assert "distillrec compile-kubeflow" in readme
  assert [flag for flag in flags if f"`{flag}" not in readme] == []
