"""PipelineConfig: every path, size and threshold of a distillrec run.

One dataclass tree holds every knob. Each section lives beside the code that
reads it (`interactions.config` for the data stages, `models.hparams` for
Transform and the models) and validates its own fields; this module composes
them, adds the run's own settings (paths, runner, Beam), loads YAML (`--config`)
and `section.key=value` overrides (`--set`), and checks what spans sections.
Components receive the sections they need as JSON execution properties.
"""

import dataclasses
import os
from typing import Any, Dict, List, Optional

import yaml

from interactions.config import DataConfig, ExampleGenConfig, SyntheticConfig
from models import fileio
from models.dataclass_json import Section, check, merge, to_plain
from models.gate import GateConfig
from models.hparams import DistillationConfig, StudentConfig, TeacherConfig, TransformConfig
from models.push import PushConfig

RUNNERS = ("beam", "local")
DIRECT_RUNNING_MODES = ("auto", "in_memory", "multi_processing", "multi_threading")


@dataclasses.dataclass
class BeamConfig(Section):
  """How Beam runs inside components (the DirectRunner unless args say otherwise)."""
  # auto: in_memory below multi_processing_min_rows, else multi_processing. Kubeflow: the
  # compiling machine cannot count the cluster's rows, so auto means in_memory there.
  direct_running_mode: str = "auto"
  multi_processing_min_rows: int = 500_000
  # 0 = one worker per core (in a Kubeflow pod: every core of the node, not the pod's limit).
  direct_num_workers: int = 0
  # Beam flags passed through unchanged by every runner, Kubeflow included, e.g.
  # ["--runner=DataflowRunner", "--project=P", "--region=R", "--temp_location=gs://B/tmp",
  #  "--sdk_container_image=IMAGE"]. With a --runner other than the DirectRunner the
  # direct_* knobs above do not apply.
  extra_args: List[str] = dataclasses.field(default_factory=list)

  def validate(self, where: str) -> None:
    if self.direct_running_mode not in DIRECT_RUNNING_MODES:
      raise ValueError(f"{where}.direct_running_mode must be one of "
                       f"{', '.join(DIRECT_RUNNING_MODES)}, got {self.direct_running_mode!r}")
    # Beam discards what is not a flag (a log line, hidden by default), so a missing "--"
    # would quietly run on the DirectRunner. A bare value may follow a flag without "=".
    previous = ""
    for arg in self.extra_args:
      follows_flag = previous.startswith("--") and "=" not in previous
      if not isinstance(arg, str) or not (arg.startswith("--") or follows_flag):
        raise ValueError(f"{where}.extra_args must be Beam flags such as "
                         f"'--runner=DataflowRunner', got {arg!r}")
      previous = arg


@dataclasses.dataclass
class PipelineConfig(Section):
  """Everything a distillrec run needs."""
  pipeline_name: str = "distillrec"
  output_dir: str = "runs/default"
  # beam | local
  runner: str = "beam"
  enable_cache: bool = True
  # Stop after this component (its id, e.g. "Transform"); "" runs everything.
  until: str = ""
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  synthetic: SyntheticConfig = dataclasses.field(default_factory=SyntheticConfig)
  example_gen: ExampleGenConfig = dataclasses.field(default_factory=ExampleGenConfig)
  transform: TransformConfig = dataclasses.field(default_factory=TransformConfig)
  teacher: TeacherConfig = dataclasses.field(default_factory=TeacherConfig)
  student: StudentConfig = dataclasses.field(default_factory=StudentConfig)
  distillation: DistillationConfig = dataclasses.field(default_factory=DistillationConfig)
  gate: GateConfig = dataclasses.field(default_factory=GateConfig)
  push: PushConfig = dataclasses.field(default_factory=PushConfig)
  beam: BeamConfig = dataclasses.field(default_factory=BeamConfig)

  # --- Paths derived from output_dir -------------------------------------
  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.output_dir, "pipeline_root")

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.output_dir, "metadata.sqlite")

  @property
  def synthetic_data_dir(self) -> str:
    return os.path.join(self.output_dir, "data", "synthetic")

  @property
  def serving_model_dir(self) -> str:
    """TF Serving's model base path: versions of the student SavedModel go below it."""
    return os.path.join(self.push.serving_dir or os.path.join(self.output_dir, "serving"),
                        self.push.model_name)

  @property
  def mobile_push_dir(self) -> str:
    """Versions of the mobile bundle and the `latest` pointer go here."""
    return self.push.mobile_dir or os.path.join(self.output_dir, "mobile")

  def validate(self, where: str = "") -> None:
    """The run's own knobs and what spans sections; each section checks its own fields."""
    if self.runner not in RUNNERS:
      raise ValueError(f"runner must be {' or '.join(repr(r) for r in RUNNERS)}, got "
                       f"{self.runner!r}")
    if self.data.data_dir is None and self.data.format not in ("auto", "csv"):
      raise ValueError(f"data.format={self.data.format!r} needs data.data_dir (--data); the "
                       f"synthetic data set is CSV")

  def to_dict(self) -> Dict[str, Any]:
    return to_plain(self)


def load_config(yaml_path: Optional[str] = None,
                overrides: Optional[List[str]] = None,
                base: Optional[PipelineConfig] = None) -> PipelineConfig:
  """Defaults, then the YAML file, then `section.key=value` overrides; validated."""
  config = base or PipelineConfig()
  if yaml_path:
    if not os.path.isfile(yaml_path):
      raise ValueError(f"config file {yaml_path} does not exist")
    with open(yaml_path) as f:
      try:
        loaded = yaml.safe_load(f) or {}
      except yaml.YAMLError as e:
        raise ValueError(f"config file {yaml_path} is not valid YAML: {e}") from e
    config = merge(config, loaded, "")
  for item in overrides or []:
    key, sep, raw = item.partition("=")
    if not sep or not key:
      raise ValueError(f"override {item!r} must look like section.key=value")
    value = yaml.safe_load(raw) if raw != "" else ""
    nested: Dict[str, Any] = {}
    cursor = nested
    parts = key.split(".")
    for part in parts[:-1]:
      cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    config = merge(config, nested, "")
  check(config, "")
  return config


def run_locations(yaml_path: str) -> PipelineConfig:
  """The folders of a finished run from its config.yaml: output_dir and the push section.

  Other sections are not read, so a run written by an older version whose knobs have
  since changed can still be checked.
  """
  with open(yaml_path) as f:
    loaded = yaml.safe_load(f) or {}
  if "output_dir" not in loaded:
    raise ValueError("no output_dir: not the config.yaml of a run")
  return load_config(overrides=[], base=merge(PipelineConfig(), {
      "output_dir": loaded["output_dir"], "push": loaded.get("push") or {}}, ""))


def dump_config(config: PipelineConfig, path: str) -> None:
  """Writes the effective config as YAML (temp name, then rename)."""
  fileio.write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
