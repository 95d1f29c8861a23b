"""PipelineConfig: every path, size and threshold of a distillrec run.

One dataclass tree holds every knob. Defaults live here and nowhere else; a
YAML file (`--config`) and CLI flags (`--set section.key=value`) override them.
Components receive the values they need as execution properties.
"""

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import yaml


@dataclasses.dataclass
class ColumnsConfig:
  """Column names of a generic interactions CSV/Parquet and its side tables."""
  user_id: str = "user_id"
  item_id: str = "item_id"
  timestamp: str = "timestamp"
  # Exactly one of rating / label must exist in the file; rating is tried first.
  rating: str = "rating"
  label: str = "label"
  user_age: str = "age"
  user_gender: str = "gender"
  user_occupation: str = "occupation"
  item_genres: str = "genres"
  item_year: str = "year"


@dataclasses.dataclass
class DataConfig:
  """Where the interactions come from and how they are read."""
  # Folder with the data; None means the embedded synthetic generator.
  data_dir: Optional[str] = None
  # auto | ml-100k | ml-1m | ml-latest | csv | parquet
  format: str = "auto"
  # Generic format only: file names inside data_dir (users/items optional).
  interactions_file: str = "interactions.csv"
  users_file: Optional[str] = "users.csv"
  items_file: Optional[str] = "items.csv"
  columns: ColumnsConfig = dataclasses.field(default_factory=ColumnsConfig)
  genre_separator: str = "|"
  rating_min: float = 1.0
  rating_max: float = 5.0
  # like = rating >= like_threshold (explicit data).
  like_threshold: float = 4.0
  # The run fails when more than this share of interaction rows is unusable.
  max_bad_row_fraction: float = 0.01


@dataclasses.dataclass
class SyntheticConfig:
  """The embedded, seeded synthetic data set (used when data.data_dir is None)."""
  num_interactions: int = 100_000
  # None: derived from num_interactions (see interactions.synthetic).
  num_users: Optional[int] = None
  num_items: Optional[int] = None
  seed: int = 42


@dataclasses.dataclass
class ExampleGenConfig:
  """InteractionsExampleGen: time split and point-in-time features."""
  # Consecutive time ranges by timestamp quantile: train, eval, test.
  split_fractions: Tuple[float, float, float] = (0.8, 0.1, 0.1)
  history_length: int = 20
  # False: events of a user in the same second do not see each other.
  same_timestamp_visible: bool = False


@dataclasses.dataclass
class TransformConfig:
  """Vocabularies and buckets of models/preprocessing.py."""
  vocabulary_frequency_threshold: int = 2
  num_oov_buckets: int = 1
  max_genres: int = 6
  num_year_buckets: int = 10
  num_count_buckets: int = 10
  # Transform's own pre/post statistics (~8 s at 1e6 rows); StatisticsGen runs regardless.
  compute_statistics: bool = False


@dataclasses.dataclass
class TrainingConfig:
  """The training loop shared by the teacher and the student."""
  batch_size: int = 512
  learning_rate: float = 1e-3
  # Early stopping on eval AUC restores the best epoch's weights.
  max_epochs: int = 30
  early_stopping_patience: int = 3
  shuffle_buffer: int = 100_000
  seed: int = 42


def _teacher_training() -> "TrainingConfig":
  return TrainingConfig(max_epochs=40)


@dataclasses.dataclass
class TeacherConfig:
  """The large ranking model (models/teacher.py)."""
  # dcn: DCN-v2 cross network beside a deep tower; mf: plain matrix factorization
  # (user . item + biases), the baseline the teacher must beat, trained by the same code.
  architecture: str = "dcn"
  embedding_dim: int = 64
  attribute_embedding_dim: int = 16
  num_cross_layers: int = 2
  # 0 = full-rank cross layers; > 0 = low-rank (projection) cross layers.
  cross_projection_dim: int = 0
  deep_layers: Tuple[int, ...] = (128, 64)
  # Measured on the default synthetic data (eval AUC, same split): dropout 0.3 with L2 1e-4
  # on embeddings 0.8415; dropout 0.2 / L2 1e-5 with a 256-128 tower and 3 crosses 0.8302
  # (below matrix factorization's 0.8376); dropout 0 overfits (0.8250).
  dropout: float = 0.3
  embedding_l2: float = 1e-4
  # Share of training rows whose user (item) id is replaced by the OOV id, so the
  # model learns to score ids it has never seen from history and attributes.
  user_id_dropout: float = 0.1
  item_id_dropout: float = 0.05
  training: TrainingConfig = dataclasses.field(default_factory=_teacher_training)


def _student_training() -> "TrainingConfig":
  # Distilled students converge slower than hard-label ones: more epochs, more patience.
  return TrainingConfig(max_epochs=60, early_stopping_patience=6)


@dataclasses.dataclass
class StudentConfig:
  """The small Functional student (models/student.py); 2-10% of the teacher's parameters."""
  embedding_dim: int = 12
  attribute_embedding_dim: int = 4
  hidden_layers: Tuple[int, ...] = (32, 16)
  embedding_l2: float = 1e-6
  user_id_dropout: float = 0.1
  item_id_dropout: float = 0.05
  training: TrainingConfig = dataclasses.field(default_factory=_student_training)


@dataclasses.dataclass
class DistillationConfig:
  """Knowledge distillation, pruning and prune-preserving QAT (models/distillation.py)."""
  # loss = alpha * BCE(label, p_s) + (1 - alpha) * T^2 * BCE(sigmoid(z_t/T), sigmoid(z_s/T));
  # alpha = 1 trains the student on labels only (the no-distillation baseline).
  alpha: float = 0.3
  temperature: float = 3.0
  # Magnitude pruning of embeddings and Dense kernels to target_sparsity: sparsity ramps
  # up (PolynomialDecay) over pruning_ramp_epochs, then fine-tuning goes on at the target
  # until eval AUC stops improving for pruning_early_stopping_patience epochs (at most
  # pruning_epochs in all; the best epoch at the target is kept); prune = false skips it.
  # Measured on the default synthetic data (1e5): a ramp of 8 epochs and a learning rate of
  # 3e-3 lose 0.024 less AUC than 4 epochs at 1e-3; 3e-4 loses far more.
  prune: bool = True
  target_sparsity: float = 0.8
  pruning_ramp_epochs: int = 8
  pruning_epochs: int = 30
  pruning_early_stopping_patience: int = 3
  pruning_frequency_steps: int = 50
  pruning_learning_rate: float = 3e-3
  # Prune-preserving quantization-aware training; qat = false leaves the int8 model to
  # post-training quantization only (the no-QAT baseline).
  qat: bool = True
  qat_epochs: int = 3
  qat_learning_rate: float = 1e-3
  # Train-split examples the TFLite converter calibrates int8 ranges on.
  representative_examples: int = 2000
  # Eval rows on which the int8 model is compared with the float student.
  fidelity_rows: int = 100_000
  # Raw eval examples replayed by TF Serving at load (assets.extra), 8 per request.
  warmup_examples: int = 32


@dataclasses.dataclass
class BeamConfig:
  """How Beam runs inside components (the DirectRunner unless args say otherwise)."""
  # auto: in_memory below multi_processing_min_rows, else multi_processing.
  direct_running_mode: str = "auto"
  multi_processing_min_rows: int = 500_000
  # 0 = one worker per core.
  direct_num_workers: int = 0
  # Passed through unchanged, e.g. ["--runner=DataflowRunner", "--project=..."].
  extra_args: List[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class PipelineConfig:
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

  def validate(self) -> None:
    """Raises ValueError naming the knob and the bad value."""
    fractions = self.example_gen.split_fractions
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
      raise ValueError(
          f"example_gen.split_fractions must be three positive shares summing to 1 "
          f"(train, eval, test), got {list(fractions)}")
    if self.example_gen.history_length < 1:
      raise ValueError(f"example_gen.history_length must be >= 1, got "
                       f"{self.example_gen.history_length}")
    if not 0 <= self.data.max_bad_row_fraction < 1:
      raise ValueError(f"data.max_bad_row_fraction must be in [0, 1), got "
                       f"{self.data.max_bad_row_fraction}")
    if self.data.format not in DATA_FORMATS:
      raise ValueError(f"data.format must be one of {', '.join(DATA_FORMATS)}, got "
                       f"{self.data.format!r}")
    if self.runner not in ("beam", "local"):
      raise ValueError(f"runner must be 'beam' or 'local', got {self.runner!r}")
    if self.beam.direct_running_mode not in ("auto", "in_memory", "multi_processing",
                                             "multi_threading"):
      raise ValueError(f"beam.direct_running_mode must be auto, in_memory, "
                       f"multi_processing or multi_threading, got "
                       f"{self.beam.direct_running_mode!r}")
    if self.synthetic.num_interactions < 100:
      raise ValueError(f"synthetic.num_interactions must be >= 100, got "
                       f"{self.synthetic.num_interactions}")
    if self.teacher.architecture not in ("dcn", "mf"):
      raise ValueError(f"teacher.architecture must be 'dcn' or 'mf', got "
                       f"{self.teacher.architecture!r}")
    for name in ("user_id_dropout", "item_id_dropout", "dropout"):
      if not 0 <= getattr(self.teacher, name) < 1:
        raise ValueError(f"teacher.{name} must be in [0, 1), got {getattr(self.teacher, name)}")
    if not 0 <= self.distillation.alpha <= 1:
      raise ValueError(f"distillation.alpha must be in [0, 1], got {self.distillation.alpha}")
    if self.distillation.temperature <= 0:
      raise ValueError(f"distillation.temperature must be > 0, got "
                       f"{self.distillation.temperature}")
    if not 1 <= self.distillation.pruning_ramp_epochs <= self.distillation.pruning_epochs:
      raise ValueError(f"distillation.pruning_ramp_epochs must be in [1, pruning_epochs = "
                       f"{self.distillation.pruning_epochs}], got "
                       f"{self.distillation.pruning_ramp_epochs}")
    if self.distillation.pruning_early_stopping_patience < 1:
      raise ValueError(f"distillation.pruning_early_stopping_patience must be >= 1, got "
                       f"{self.distillation.pruning_early_stopping_patience}")
    if not 0 <= self.distillation.target_sparsity < 1:
      raise ValueError(f"distillation.target_sparsity must be in [0, 1), got "
                       f"{self.distillation.target_sparsity}")
    if self.data.rating_min >= self.data.rating_max:
      raise ValueError(f"data.rating_min ({self.data.rating_min}) must be below "
                       f"data.rating_max ({self.data.rating_max})")
    for name in ("vocabulary_frequency_threshold", "num_oov_buckets", "max_genres",
                 "num_year_buckets", "num_count_buckets"):
      if getattr(self.transform, name) < 1:
        raise ValueError(f"transform.{name} must be >= 1, got "
                         f"{getattr(self.transform, name)}")

  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


DATA_FORMATS = ("auto", "ml-100k", "ml-1m", "ml-latest", "csv", "parquet")


def _merge(obj: Any, overrides: Dict[str, Any], where: str) -> Any:
  """Returns a copy of dataclass `obj` with `overrides` applied, checking keys and types."""
  if not isinstance(overrides, dict):
    raise ValueError(f"{where or 'config'}: expected a mapping, got {overrides!r}")
  fields = {f.name: f for f in dataclasses.fields(obj)}
  changes = {}
  for key, value in overrides.items():
    path = f"{where}.{key}" if where else key
    if key not in fields:
      raise ValueError(f"unknown config key {path!r}; known keys here: "
                       f"{', '.join(sorted(fields))}")
    current = getattr(obj, key)
    if dataclasses.is_dataclass(current):
      changes[key] = _merge(current, value, path)
    else:
      changes[key] = _coerce(current, value, path)
  return dataclasses.replace(obj, **changes)


def _coerce(current: Any, value: Any, path: str) -> Any:
  """Converts `value` to the type of the default `current` (None allows anything)."""
  if value is None or current is None:
    return value
  if isinstance(current, bool):
    if isinstance(value, bool):
      return value
    raise ValueError(f"{path}: expected true or false, got {value!r}")
  if isinstance(current, int):
    if isinstance(value, float) and value.is_integer():
      return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
      return value
    raise ValueError(f"{path}: expected an integer, got {value!r}")
  if isinstance(current, float):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      return float(value)
    raise ValueError(f"{path}: expected a number, got {value!r}")
  if isinstance(current, str):
    if isinstance(value, str):
      return value
    raise ValueError(f"{path}: expected a string, got {value!r}")
  if isinstance(current, (tuple, list)):
    if not isinstance(value, (list, tuple)):
      raise ValueError(f"{path}: expected a list, got {value!r}")
    return type(current)(value)
  return value


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
    config = _merge(config, loaded, "")
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
    config = _merge(config, nested, "")
  config.validate()
  return config


def dump_config(config: PipelineConfig, path: str) -> None:
  """Writes the effective config as YAML (temp name, then rename)."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    yaml.safe_dump(_plain(config.to_dict()), f, sort_keys=False)
  os.replace(tmp, path)


def _plain(value: Any) -> Any:
  if isinstance(value, dict):
    return {k: _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  return value


def section_to_json(section: Any) -> str:
  """A config section as JSON, for a component's execution property."""
  return json.dumps(_plain(dataclasses.asdict(section)), sort_keys=True)


def section_from_json(cls: type, text: str) -> Any:
  """Inverse of section_to_json; unknown keys are an error."""
  return _merge(cls(), json.loads(text), cls.__name__)
