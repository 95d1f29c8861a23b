"""Hyper-parameters of Transform, the teacher, the student and its compression.

Config sections read by the code in this package; `pipeline.configs.PipelineConfig`
composes them under `transform`, `teacher`, `student` and `distillation`, and
components receive them as JSON execution properties (`Section.to_json`).
"""

import dataclasses
from typing import Any, Dict, Tuple

from models.dataclass_json import Section, knob

TEACHER_ARCHITECTURES = ("dcn", "mf")


@dataclasses.dataclass
class TransformConfig(Section):
  """Vocabularies and buckets of models/preprocessing.py."""
  vocabulary_frequency_threshold: int = 2
  num_oov_buckets: int = 1
  max_genres: int = 6
  num_year_buckets: int = 10
  num_count_buckets: int = 10
  # Transform's own pre/post statistics (~8 s at 1e6 rows); StatisticsGen runs regardless.
  compute_statistics: bool = False

  # What preprocessing_fn reads from Transform's custom_config.
  PREPROCESSING_KEYS = ("vocabulary_frequency_threshold", "num_oov_buckets", "max_genres",
                        "num_year_buckets", "num_count_buckets")

  def custom_config(self) -> Dict[str, Any]:
    """The knobs preprocessing_fn reads, as Transform's custom_config."""
    return {key: getattr(self, key) for key in self.PREPROCESSING_KEYS}

  def validate(self, where: str) -> None:
    for name in self.PREPROCESSING_KEYS:
      if getattr(self, name) < 1:
        raise ValueError(f"{knob(where, name)} must be >= 1, got {getattr(self, name)}")


@dataclasses.dataclass
class TrainingConfig(Section):
  """The training loop shared by the teacher and the student."""
  batch_size: int = 512
  learning_rate: float = 1e-3
  # Early stopping on eval AUC restores the best epoch's weights.
  max_epochs: int = 30
  early_stopping_patience: int = 3
  shuffle_buffer: int = 100_000
  seed: int = 42

  def validate(self, where: str) -> None:
    for name in ("batch_size", "max_epochs", "early_stopping_patience", "shuffle_buffer"):
      if getattr(self, name) < 1:
        raise ValueError(f"{knob(where, name)} must be >= 1, got {getattr(self, name)}")
    if self.learning_rate <= 0:
      raise ValueError(f"{knob(where, 'learning_rate')} must be > 0, got {self.learning_rate}")


def _teacher_training() -> TrainingConfig:
  return TrainingConfig(max_epochs=40)


def _check_id_dropout(section, where: str) -> None:
  for name in ("user_id_dropout", "item_id_dropout"):
    if not 0 <= getattr(section, name) < 1:
      raise ValueError(f"{knob(where, name)} must be in [0, 1), got {getattr(section, name)}")


@dataclasses.dataclass
class TeacherConfig(Section):
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

  def validate(self, where: str) -> None:
    if self.architecture not in TEACHER_ARCHITECTURES:
      raise ValueError(f"{knob(where, 'architecture')} must be "
                       f"{' or '.join(repr(a) for a in TEACHER_ARCHITECTURES)}, got "
                       f"{self.architecture!r}")
    if not 0 <= self.dropout < 1:
      raise ValueError(f"{knob(where, 'dropout')} must be in [0, 1), got {self.dropout}")
    _check_id_dropout(self, where)


def _student_training() -> TrainingConfig:
  # Distilled students converge slower than hard-label ones: more epochs, more patience.
  return TrainingConfig(max_epochs=60, early_stopping_patience=6)


@dataclasses.dataclass
class StudentConfig(Section):
  """The small Functional student (models/student.py); 2-10% of the teacher's parameters."""
  embedding_dim: int = 12
  attribute_embedding_dim: int = 4
  hidden_layers: Tuple[int, ...] = (32, 16)
  # user.item and history.item dot products beside the tower, as in the teacher.
  interaction_dots: bool = True
  embedding_l2: float = 1e-6
  user_id_dropout: float = 0.1
  item_id_dropout: float = 0.05
  training: TrainingConfig = dataclasses.field(default_factory=_student_training)

  def validate(self, where: str) -> None:
    _check_id_dropout(self, where)


@dataclasses.dataclass
class DistillationConfig(Section):
  """Knowledge distillation, pruning and prune-preserving QAT (models/distillation.py)."""
  # loss = alpha * BCE(label, p_s) + (1 - alpha) * T^2 * BCE(sigmoid(z_t/T), sigmoid(z_s/T));
  # alpha = 1 trains the student on labels only (the no-distillation baseline).
  alpha: float = 0.3
  temperature: float = 3.0
  # Budget-driven magnitude pruning of embeddings and Dense kernels: sparsity rises
  # through sparsity_steps, each step ramping up (PolynomialDecay) from the previous one
  # over pruning_ramp_epochs, then fine-tuning at the step's target until eval AUC stops
  # improving for pruning_early_stopping_patience epochs (at most pruning_epochs per
  # step; the best epoch at the target is kept). The run keeps the sparsest step whose
  # eval AUC and GAUC (known users) are within max_auc_drop of the teacher's, else the
  # densest step; the whole curve goes into the compression report. prune = false
  # skips it.
  prune: bool = True
  sparsity_steps: Tuple[float, ...] = (0.5, 0.7, 0.8, 0.9)
  max_auc_drop: float = 0.005
  pruning_ramp_epochs: int = 3
  pruning_epochs: int = 10
  pruning_early_stopping_patience: int = 2
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

  def validate(self, where: str) -> None:
    if not 0 <= self.alpha <= 1:
      raise ValueError(f"{knob(where, 'alpha')} must be in [0, 1], got {self.alpha}")
    if self.temperature <= 0:
      raise ValueError(f"{knob(where, 'temperature')} must be > 0, got {self.temperature}")
    if not 1 <= self.pruning_ramp_epochs <= self.pruning_epochs:
      raise ValueError(f"{knob(where, 'pruning_ramp_epochs')} must be in [1, pruning_epochs = "
                       f"{self.pruning_epochs}], got {self.pruning_ramp_epochs}")
    if self.pruning_early_stopping_patience < 1:
      raise ValueError(f"{knob(where, 'pruning_early_stopping_patience')} must be >= 1, got "
                       f"{self.pruning_early_stopping_patience}")
    steps = list(self.sparsity_steps)
    if not steps or steps != sorted(set(steps)) or not all(0 < s < 1 for s in steps):
      raise ValueError(f"{knob(where, 'sparsity_steps')} must rise strictly within (0, 1), "
                       f"got {steps}")
    if self.max_auc_drop < 0:
      raise ValueError(f"{knob(where, 'max_auc_drop')} must be >= 0, got {self.max_auc_drop}")
    for name in ("qat_epochs", "representative_examples", "fidelity_rows"):
      if getattr(self, name) < 1:
        raise ValueError(f"{knob(where, name)} must be >= 1, got {getattr(self, name)}")
