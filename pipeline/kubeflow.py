"""Kubeflow Pipelines: the same create_pipeline compiled by TFX's KubeflowV2DagRunner.

The cluster runs every component in one container image (the repository's
Dockerfile) and reads and writes only URIs, so what the local runners resolve on
this machine comes from the pipeline root and the parameters instead:

* the run's folders: `--pipeline-root ROOT` plays the part of the local run folder
  (`--output`): TFX's pipeline root is ROOT/pipeline_root, pushes go to ROOT/serving
  and ROOT/mobile (unless the push section names other URIs);
* the data: a URI the cluster reads (`--data`, required): the local runners generate
  the synthetic data set on their own machine, where the cluster cannot read it;
* the curated schema: written at compile time to ROOT/schema/, named by its content
  as the local runners do (ImportSchemaGen caches on the path), because it depends
  on a knob (example_gen.history_length) and the image holds only its template;
* ML Metadata: Kubeflow's own, so no connection config;
* Beam: beam.extra_args pass through to every Beam-powered component, so Dataflow,
  Flink or Spark need no code change.

The output is a KFP v2 PipelineSpec (JSON or YAML by the file's suffix) with the
pipeline root as its defaultPipelineRoot: what KFP's upload and `kfp.Client` and
Vertex AI's PipelineJob read. The flag checks import neither TensorFlow nor TFX, so a
bad flag fails at once.
"""

import dataclasses
import hashlib
import json
import os
import re
from typing import Dict, List, Optional, Tuple

import yaml

from models import fileio
from pipeline import configs

SPEC_SUFFIXES = (".json", ".yaml", ".yml")
SCHEMA_FOLDER = "schema"
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://[^/]")


def check_uri(name: str, value: Optional[str]) -> str:
  """`value` without a trailing slash if it is a URI the cluster can reach, else ValueError.

  A path of this machine (absolute, relative or file://) means nothing in a pod.
  """
  match = _URI.match(value or "")
  if not match or match.group(1).lower() == "file":
    raise ValueError(f"{name} must be a URI the cluster can reach, such as gs://BUCKET/PATH, "
                     f"got {value!r} (a path of this machine)")
  return value.rstrip("/")


def cluster_config(config: configs.PipelineConfig, pipeline_root: str) -> configs.PipelineConfig:
  """`config` with every path on the cluster: the run folder is `pipeline_root`.

  Raises ValueError when the data folder is missing or a path is one of this machine.
  """
  root = check_uri("--pipeline-root", pipeline_root)
  if not config.data.data_dir:
    raise ValueError(
        "compile-kubeflow needs --data URI (e.g. gs://BUCKET/data/ml-1m): the cluster reads "
        "the data itself, and the default synthetic data set is generated on the machine "
        "that runs the pipeline; to use it, generate it here and upload it (README, Kubeflow)")
  data_dir = check_uri("--data (data.data_dir)", config.data.data_dir)
  push = config.push
  for knob in ("serving_dir", "mobile_dir"):
    if getattr(push, knob):
      push = dataclasses.replace(push, **{knob: check_uri(f"push.{knob}", getattr(push, knob))})
  return dataclasses.replace(config, output_dir=root, push=push,
                             data=dataclasses.replace(config.data, data_dir=data_dir))


def schema_location(config: configs.PipelineConfig) -> Tuple[str, str]:
  """(URI, text) of the curated schema for this config, under the run folder.

  Named by content like runners.prepare_schema: ImportSchemaGen caches on the path,
  and a spec compiled earlier keeps reading the schema it was compiled with.
  """
  import schemas  # pylint: disable=g-import-not-at-top
  text = schemas.curated_schema(config.example_gen.history_length)
  digest = hashlib.sha256(text.encode()).hexdigest()[:12]
  return os.path.join(config.output_dir, SCHEMA_FOLDER, f"schema-{digest}.pbtxt"), text


def beam_runner(args: List[str]) -> Optional[str]:
  """The value of --runner in Beam args, or None."""
  for index, arg in enumerate(args):
    if arg.startswith("--runner="):
      return arg.split("=", 1)[1]
    if arg == "--runner" and index + 1 < len(args):
      return args[index + 1]
  return None


def is_direct_runner(args: List[str]) -> bool:
  """Whether Beam args run the DirectRunner (no --runner is the DirectRunner)."""
  runner = (beam_runner(args) or "direct").lower()
  return runner == "direct" or runner.endswith("directrunner")


# The flags that tell TFX's Beam executors where the workers' Python packages come from
# (tfx.utils.dependency_utils.make_beam_dependency_flags). Without one, every Beam
# component (InteractionsExampleGen, StatisticsGen, Transform, Evaluator) copies TFX's
# installed source into a new temp folder, builds a ~49 MB `tfx_ephemeral` sdist there
# (~2-3 s) and never deletes it, to stage it for a remote runner's workers. The
# DirectRunner stages nothing: its workers are this interpreter or its subprocesses.
DEPENDENCY_FLAGS = ("--extra_package", "--extra_packages", "--setup_file",
                    "--requirements_file", "--worker_harness_container_image",
                    "--sdk_container_image")


def names_dependencies(args: List[str]) -> bool:
  """Whether Beam args already carry one of DEPENDENCY_FLAGS."""
  return any(isinstance(arg, str) and arg.split("=", 1)[0] in DEPENDENCY_FLAGS
             for arg in args)


def beam_pipeline_args(beam: configs.BeamConfig, image: str) -> List[str]:
  """The Beam args of every Beam-powered component on the cluster.

  Another runner (Dataflow, Flink, Spark): beam.extra_args alone. The DirectRunner in
  the component's pod: `auto` is in_memory, because this machine can neither count
  the cluster's rows nor see the pod's cores; other modes as configured. Its workers
  run in `image`, which the args say with --sdk_container_image unless extra_args name
  the dependencies themselves; that stops TFX from building an sdist per component.
  """
  extra = list(beam.extra_args)
  if not is_direct_runner(extra):
    return extra
  mode = "in_memory" if beam.direct_running_mode == "auto" else beam.direct_running_mode
  args = [f"--direct_running_mode={mode}"]
  if mode != "in_memory":
    args.append(f"--direct_num_workers={beam.direct_num_workers}")
  if not names_dependencies(extra):
    args.append(f"--sdk_container_image={image}")
  return args + extra


def beam_notes(beam_args: List[str]) -> List[str]:
  """What a Dataflow run would miss: its workers need the image with this package."""
  runner = (beam_runner(beam_args) or "").lower()
  if runner in ("dataflow", "dataflowrunner") and not any(
      arg.startswith(("--sdk_container_image", "--worker_harness_container_image"))
      for arg in beam_args):
    return ["beam.extra_args run Dataflow without --sdk_container_image: its workers would "
            "lack distillrec; add --sdk_container_image=IMAGE"]
  return []


def compile_spec(config: configs.PipelineConfig, image: str) -> Dict:
  """The KFP v2 PipelineSpec of create_pipeline for a cluster_config, as a dict. No I/O.

  Every executor runs in `image`; defaultPipelineRoot is config.pipeline_root.
  """
  # pylint: disable=g-import-not-at-top
  from google.protobuf import json_format
  from kfp.pipeline_spec import pipeline_spec_pb2
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner
  from pipeline.pipeline import RunInputs, create_pipeline
  # pylint: enable=g-import-not-at-top
  check_image(image)
  inputs = RunInputs(
      data_dir=config.data.data_dir, schema_path=schema_location(config)[0],
      # The data is read on the cluster, after compiling: a fingerprint taken here would
      # describe files nobody reads then. Kubeflow's cache keys on the URI and the config.
      input_fingerprint="",
      beam_pipeline_args=beam_pipeline_args(config.beam, image))
  # No metadata connection: Kubeflow keeps ML Metadata itself.
  pipeline = create_pipeline(config, inputs)
  runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
      config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image))
  job = runner.run(pipeline, write_out=False)
  # TFX writes a PipelineJob (Vertex's request); KFP's upload and kfp.Client read only
  # its PipelineSpec, which carries the pipeline root as its default.
  spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
  spec.default_pipeline_root = job["runtimeConfig"]["gcsOutputDirectory"]
  return json_format.MessageToDict(spec)


def check_image(image: str) -> None:
  if not image or any(c.isspace() for c in image):
    raise ValueError(f"--image must name a container image such as "
                     f"us-docker.pkg.dev/PROJECT/REPO/distillrec:0.1.0, got {image!r}")


def check_output(path: str) -> None:
  if not path.endswith(SPEC_SUFFIXES):
    raise ValueError(f"--output must end with {', '.join(SPEC_SUFFIXES)} (JSON or YAML), "
                     f"got {path!r}")


def write_spec(spec: Dict, path: str) -> None:
  """The spec as JSON or, for .yaml/.yml (what kfp.Client reads), YAML."""
  check_output(path)
  if path.endswith(".json"):
    text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
  else:
    text = yaml.safe_dump(spec, sort_keys=True)
  fileio.write_text(path, text)


def write_schema(config: configs.PipelineConfig) -> str:
  """Writes the curated schema where the spec reads it (under the run folder); its URI."""
  uri, text = schema_location(config)
  fileio.write_text(uri, text)
  return uri
