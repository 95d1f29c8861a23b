"""Hyper-parameters of Transform, the teacher, the student and its compression.

Config sections read by the code in this package; `pipeline.configs.PipelineConfig`
composes them under `transform`, `teacher`, `student` and `distillation`, and
components receive them as JSON execution properties (`Section.to_json`).
"""

import dataclasses
from typing import Any, Dict, Optional, Tuple

from models.dataclass_json import Section, knob

TEACHER_ARCHITECTURES = ("dcn", "mf")
PRUNED_LAYER_CHOICES = ("all", "embeddings")  # models.distillation.PRUNED_LAYERS
EARLY_STOPPING_METRICS = ("auc", "gauc")


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
  """The training loop shared by the teacher and the student.

  No XLA, mixed precision or tf.distribute knob: each made training slower on CPU. Train
  rows a second on the 1e6 run's data, 2 cores (teacher at 512 rows a batch, student at
  2048; medians of 200-step epochs): teacher 30.1k as shipped, 23.6k with jit_compile,
  23.0k with mixed_bfloat16 (the CPUs have AVX512_BF16 and AMX), 15.6k under a
  MirroredStrategy over two logical CPU devices; student 141.6k as shipped, 42.8k with
  jit_compile, 132.2k with mixed_bfloat16.
  Nor an optimizer other than Keras' Adam (2026-12-05, the teacher on the 1e6 bench-scale
  run's data, 16 steps a call, four alternations of 3 epochs of 400 steps, best epoch's ms
  a step): the legacy Adam's fused kernels 8.36, 9.01, 8.80, 8.57 against 8.49, 8.51, 9.18,
  8.99 (the same losses); Keras already runs the optimizer without XLA on a CPU. The id
  tables' dense Adam updates (every row, every step) are at most what freezing the user and
  item tables and biases saves, 7.42-7.67 against 8.56-8.68 ms: a lazy update of the rows a
  batch touches would save less, since a batch's histories touch nearly every item.
  Nor a thread knob: TensorFlow's defaults on 2 cores (two intra- and two inter-op
  threads) ran the teacher's step in 8.55-8.58 ms (same measure, 2026-12-05), one
  inter-op thread in 12.7-13.0 ms, one inter- and two intra-op threads 12.5 ms. The
  teacher's embedding L2 is not a cost either: without it 8.80-9.21 against 8.62-8.77 ms.
  """
  batch_size: int = 512
  learning_rate: float = 1e-3
  # Larger batches on larger data (batch_for): the batch doubles from batch_size up to
  # max_batch_size while a pass over the train split keeps at least min_steps_per_pass
  # steps, and the learning rate grows with the square root of the batch. max_batch_size =
  # batch_size (the default) keeps batch_size whatever the data.
  max_batch_size: int = 512
  min_steps_per_pass: int = 300
  # Early stopping on eval AUC restores the best epoch's weights; an epoch counts as better
  # only by more than early_stopping_min_delta.
  max_epochs: int = 30
  # An epoch ends with an evaluation. 0, 0: an epoch is one pass over the train split.
  # Else a pass longer than max_steps_per_epoch steps is cut into equal epochs of at most
  # that many, and a pass shorter than min_steps_per_epoch is repeated: an epoch is then
  # the fewest whole passes that reach it. So the patiences below, counted in epochs, mean
  # about as many steps on large data as on small.
  max_steps_per_epoch: int = 0
  min_steps_per_epoch: int = 0
  early_stopping_patience: int = 3
  early_stopping_min_delta: float = 0.0
  # 0 = a constant learning rate; else the rate is multiplied by lr_decay_factor whenever
  # eval AUC has not improved by lr_decay_min_delta for lr_decay_patience epochs.
  lr_decay_factor: float = 0.0
  lr_decay_patience: int = 1
  lr_decay_min_delta: float = 0.0
  seed: int = 42
  # Train in a fresh child process (models/child_process.py), which hands everything
  # TensorFlow kept back to the OS when it ends; otherwise the later components of a local
  # run start on top of it (3.2 GB after the DistillationTrainer on 1e6 interactions).
  # Costs ~6 s of imports; false where each component already has its own process
  # (Kubeflow) or to debug the trainer in this one.
  separate_process: bool = True
  # Training steps a call of Keras' train function runs (compile's steps_per_execution):
  # the same batches and updates, with Keras' per-step work in Python (~2 ms a step on 2
  # cores) paid once per 16 steps. Not in the pruning stage (one step a call there): TF-MOT
  # 0.8.1 counts pruning steps in the graph, so the masks ramp the same (the student alone
  # on the 1e5 bench-scale run's teacher with distillation.full_curve gave the same curve
  # and model.tflite byte for byte), and its epochs ran faster (3.4-4.9 s a step against
  # 4.2-7.0), but tracing the pruned model's loop of steps took 15.1 s against 9.0 s: a
  # loss unless the search tries three or more steps (the default runs of 2026-12-05 tried
  # one). Nor in QAT: autograph traces a loop's body twice, and QAT's epochs (three then,
  # one now) do not win the tracing back (the student alone on the bench-scale runs'
  # teachers, QAT's fit at 1 step a call against 16: 4.9 s against 7.9 s at 1e5, 8.6 s
  # against 9.2 s at 1e6, the same model.tflite byte for byte). On the 1e6 bench-scale
  # run's data: the student alone 140.6 s instead of 163.7 (its 60 dense epochs 93.9 s
  # instead of 118.1), the same model byte for byte; the teacher's first 4 epochs 45.4 s
  # instead of 51.9. The teacher's dropout draws other random numbers inside the loop of
  # steps (TensorFlow seeds each random op by its place in the graph), so it trains
  # another, equally seeded, model.
  steps_per_execution: int = 16

  def batch_for(self, train_rows: int) -> Tuple[int, float]:
    """(batch size, learning rate) for a train split of `train_rows` rows."""
    batch = self.batch_size
    while batch * 2 <= self.max_batch_size and train_rows // (batch * 2) >= \
        self.min_steps_per_pass:
      batch *= 2
    return batch, self.learning_rate * (batch / self.batch_size) ** 0.5

  def steps_per_epoch(self, steps_per_pass: int) -> Optional[int]:
    """Steps of one epoch for a train split of `steps_per_pass` batches; None: one pass."""
    if self.max_steps_per_epoch and steps_per_pass > self.max_steps_per_epoch:
      parts = -(-steps_per_pass // self.max_steps_per_epoch)
      return -(-steps_per_pass // parts)
    if steps_per_pass < self.min_steps_per_epoch:
      return steps_per_pass * -(-self.min_steps_per_epoch // steps_per_pass)
    return None

  def validate(self, where: str) -> None:
    for name in ("max_steps_per_epoch", "min_steps_per_epoch"):
      if getattr(self, name) < 0:
        raise ValueError(f"{knob(where, name)} must be >= 0 (0: one pass), got "
                         f"{getattr(self, name)}")
    if 0 < self.max_steps_per_epoch < self.min_steps_per_epoch:
      raise ValueError(f"{knob(where, 'min_steps_per_epoch')} must be <= "
                       f"{knob(where, 'max_steps_per_epoch')} = {self.max_steps_per_epoch}, got "
                       f"{self.min_steps_per_epoch}")
    for name in ("batch_size", "max_epochs", "early_stopping_patience", "min_steps_per_pass",
                 "steps_per_execution"):
      if getattr(self, name) < 1:
        raise ValueError(f"{knob(where, name)} must be >= 1, got {getattr(self, name)}")
    if self.max_batch_size < self.batch_size:
      raise ValueError(f"{knob(where, 'max_batch_size')} must be >= {knob(where, 'batch_size')} "
                       f"= {self.batch_size}, got {self.max_batch_size}")
    if self.learning_rate <= 0:
      raise ValueError(f"{knob(where, 'learning_rate')} must be > 0, got {self.learning_rate}")
    if not 0 <= self.lr_decay_factor < 1:
      raise ValueError(f"{knob(where, 'lr_decay_factor')} must be in [0, 1), got "
                       f"{self.lr_decay_factor}")
    if self.lr_decay_patience < 1:
      raise ValueError(f"{knob(where, 'lr_decay_patience')} must be >= 1, got "
                       f"{self.lr_decay_patience}")
    for name in ("early_stopping_min_delta", "lr_decay_min_delta"):
      if getattr(self, name) < 0:
        raise ValueError(f"{knob(where, name)} must be >= 0, got {getattr(self, name)}")


def _teacher_training() -> TrainingConfig:
  # Kept at 512 rows a batch whatever the data: on 1e6 interactions a step's cost grows with
  # its rows (43k rows/s at 512, 49k at 2048 on 2 cores), and 4096 rows at learning rate
  # 4e-3 lost 0.007 eval AUC (0.8661 vs 0.8733). 1024 rows at 1.41e-3 (max_batch_size=1024)
  # steps 28% faster but needed 22 passes (best 19) where 512 needs 16: no time saved
  # (teacher alone, 1e6 run's data, seed 42: eval AUC 0.8829 vs 0.8830).
  # The learning rate drops (x0.3) once eval AUC has gained under 0.0005 for two epochs,
  # and early stopping ignores gains under 0.0005. On 1e6 interactions eval AUC sat at
  # 0.871-0.873 for ten epochs at a constant 1e-3 (best 0.8732, epoch 16 of 19); with the
  # drops, 0.8840 (epoch 18 of 21; GAUC of known users 0.8931 vs 0.8829). On 1e5 it
  # gains ~0.001 an epoch until epoch 25, so the first drop comes after epoch 27: 0.8434
  # (epoch 29 of 32) vs 0.8418. A drop after one flat epoch instead (epoch 13 at 1e5)
  # froze it at 0.8318.
  # An epoch is at most 800 steps: on 1e5 (153 steps a pass) nothing changes; on 1e6 (1,544
  # steps a pass) a pass is two epochs, so the plateau tests wait about as many steps as
  # on 1e5 instead of five times more. Teacher alone on the 1e6 run's data, seeds 42 and 43:
  # 353 and 346 s, 16 and 15 passes (eval AUC 0.8831, 0.8833; test AUC 0.8251, 0.8242,
  # GAUC 0.7934, 0.7907) against 445-487 s and 22-23 passes with one-pass epochs (eval
  # 0.8832-0.8837, test 0.8220-0.8249 / GAUC 0.7896-0.7933 over seeds 42-44). Patiences of
  # one and two passes instead saved as much on 1e6 but lost 0.0045 eval AUC on 1e5 (two
  # seeds). At most 520 steps instead (1e6: three epochs of 515 a pass, as long as 1e5's
  # 459) trains 23% fewer steps but makes a worse teacher to distil. Teacher, then student,
  # alone on the 2026-12-04 bench-scale 1e6 run's data, same seed for both, seeds 42-44:
  # teacher steps 17.0k, 18.5k, 16.5k against 22.4k, 20.8k, 24.7k; teacher eval AUC 0.8822,
  # 0.8815, 0.8812 against 0.8833, 0.8825, 0.8828; teacher test AUC / GAUC 0.8247 / 0.7917,
  # 0.8241 / 0.7923, 0.8216 / 0.7889 against 0.8247 / 0.7922, 0.8248 / 0.7929, 0.8211 /
  # 0.7876 (means equal); but the students' test int8 AUC / GAUC 0.8193 / 0.7820, 0.8198 /
  # 0.7831, 0.8213 / 0.7844 against 0.8205 / 0.7851, 0.8213 / 0.7861, 0.8223 / 0.7891
  # (means -0.0013 / -0.0036). Kept at 800.
  # A higher learning rate helps on 1e5 and hurts on 1e6 (teacher alone on each scale run's
  # data; eval AUC, test AUC / GAUC, epochs). 1e5, seeds 42 and 43: 1e-3 0.8433, 0.8289 /
  # 0.8142, 32 and 0.8346, 0.8244 / 0.8108, 24; 2e-3 0.8451, 0.8309 / 0.8159, 22 and 0.8471,
  # 0.8340 / 0.8209, 24; 3e-3 0.8457, 0.8294 / 0.8170, 15 and 0.8443, 0.8306 / 0.8163, 20;
  # 5e-3 0.8508, 0.8309 / 0.8202, 15 and 0.8434, 0.8297 / 0.8168, 17. 1e6, seed 42: 1e-3
  # 0.8829, 0.8253 / 0.7940, 32; 2e-3 0.8815, 0.8196 / 0.7840, 24; 3e-3 0.8792, 0.8185 /
  # 0.7852, 34. Kept at 1e-3.
  # An epoch is at least 450 steps: on 1e5 three passes (459 steps), on 1e6 nothing
  # changes. With one-pass epochs the 1e5 teacher stopped bimodally: near the top a
  # 153-step epoch gains less than eval AUC's noise, so on some seeds the rate was cut and
  # training stopped ~0.008 below the others. Teacher alone on the 1e5 run's data, seeds
  # 42-45, eval AUC / known users' GAUC, wall s: one pass 0.8343 / 0.8394, 0.8353 / 0.8408,
  # 0.8393 / 0.8430, 0.8356 / 0.8386 (mean 0.8361), 69-98 s; two passes (306 steps)
  # 0.8422 / 0.8457, 0.8413 / 0.8466, 0.8395 / 0.8465, 0.8434 / 0.8503 (mean 0.8416),
  # 101-160 s; three passes 0.8426 / 0.8478, 0.8430 / 0.8493, 0.8420 / 0.8496, 0.8428 /
  # 0.8495 (mean 0.8426), 130-166 s.
  return TrainingConfig(max_epochs=60, min_steps_per_epoch=450, max_steps_per_epoch=800,
                        lr_decay_factor=0.3, lr_decay_patience=2, lr_decay_min_delta=0.0005,
                        early_stopping_min_delta=0.0005)


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
  # 0 = full-rank cross layers; > 0 = low-rank (projection) cross layers. The two full-rank
  # crosses (x0 is 290 wide) are ~32% of a teacher step (1e6 data, batch 512: 36.7k rows/s,
  # 53.7k without crosses); projection 32 steps at 50.9k, 64 at 43.3k, but lose quality
  # (teacher alone, eval AUC, test AUC / GAUC): at 1e5 seeds 42 and 43, full 0.8426, 0.8288
  # / 0.8149 and 0.8430, 0.8281 / 0.8144; 32 0.8363, 0.8220 / 0.8106 and 0.8345, 0.8226 /
  # 0.8069; 64 0.8283, 0.8176 / 0.8025 and 0.8306, 0.8189 / 0.8070; at 1e6 seed 42, full
  # 0.8834, 0.8248 / 0.7921, 32 0.8820, 0.8234 / 0.7900 (31 epochs against 29).
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
  # The user's earlier like-rate and log count and a user and an item bias, straight
  # into the output layer past the dropout (models.teacher.wide_inputs).
  wide_inputs: bool = True
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
  # The small student's step is mostly fixed cost: 85k rows/s at 512 rows a batch, 161k at
  # 2048 (2 cores). On 1e6 interactions 2048 rows at 2e-3 halved the epochs' time with
  # eval AUC 0.8726 (int8 0.8723, 60% sparse) against 0.8732 (50% sparse) at 512; on 1e5
  # (39 steps a pass) it lost 0.005 (0.8310 vs 0.8360), hence min_steps_per_pass.
  # The teacher's learning-rate decay (x0.3 after two epochs under +0.0005) stays off here:
  # it lifted the distillation stage's best eval AUC at 1e6 (0.8750 vs 0.8733) but cost
  # 0.0035 at 1e5 (0.8342 vs 0.8377), where the student still gains slowly for 50 epochs.
  # Tried again at 1e6 with the 200-step epochs below (the student alone on the 2026-12-03
  # 1e6 run's teacher, test int8 AUC / GAUC, kept dense by the budget): seed 43, whose
  # dense stage stops at epoch 19, 0.8200 / 0.7838 against 0.8189 / 0.7824; seed 42
  # 0.8183 / 0.7813 against 0.8219 / 0.7891. Still off.
  # An epoch is at most 200 steps of the dense stage, ~410k rows at 2048 as the teacher's
  # 800 at 512: on 1e6 interactions (386 steps a pass) the patience of six epochs is three
  # passes, not six, while on 1e5 (155 steps a pass) nothing changes. On the 1e6 run's data
  # (r6's teacher; one-pass epochs first, then these), seed 42: 20.5 passes instead of 40,
  # final eval AUC 0.8798 vs 0.8798, test int8 AUC / GAUC 0.8194 / 0.7849 vs 0.8193 /
  # 0.7831; seed 43: 19.5 passes instead of 45, eval 0.8793 vs 0.8806, test 0.8213 /
  # 0.7866 vs 0.8182 / 0.7825; seed 44: 30 passes (max_epochs, still gaining) instead of 38,
  # eval 0.8795 vs 0.8794, test 0.8193 / 0.7838 vs 0.8218 / 0.7867. Means over the three:
  # 23.3 passes vs 41, eval -0.0004, test +0.0002 / +0.0010 (the seeds' spread in test AUC
  # is 0.0018).
  # Pruning and QAT epochs are as long as these (models.distillation.distill), not one
  # pass each: on 1e6 (the student alone on the 2026-12-04 1e6 run's teacher) pruning and
  # QAT took 102 s instead of 137 (seed 42: 50% kept, 50% step's eval AUC / GAUC 0.8806 /
  # 0.8591 vs 0.8808 / 0.8592, test int8 AUC / GAUC 0.8206 / 0.7858 vs 0.8204 / 0.7847) and
  # 60 s instead of 79 (seed 43: kept dense both ways, the 50% step 0.8797 / 0.8571 vs
  # 0.8800 / 0.8570, test 0.8214 / 0.7878 vs 0.8222 / 0.7885). On 1e5 (155 steps a pass)
  # the epochs are as long as before; only the batches' order differs (the default run's
  # test int8 AUC / GAUC 0.8312 / 0.8148 against 0.8314 / 0.8165, kept dense both times).
  # An exponential moving average of the weights in the dense stage (Adam's use_ema,
  # momentum 0.99, written into the model every epoch, so evaluation and early stopping see
  # it; the student alone on the 2026-12-04 bench-scale 1e6 run's teacher, seeds 42-44, test
  # int8 AUC / GAUC): 0.8188 / 0.7820, 0.8202 / 0.7850, 0.8242 / 0.7895 against 0.8205 /
  # 0.7851, 0.8206 / 0.7862, 0.8223 / 0.7868 (means 0.8210 / 0.7855 against 0.8211 /
  # 0.7860). Not kept.
  return TrainingConfig(max_epochs=60, early_stopping_patience=6, max_batch_size=2048,
                        max_steps_per_epoch=200)


@dataclasses.dataclass
class StudentConfig(Section):
  """The small Functional student (models/student.py): its id tables 12 wide against the
  teacher's 64, so about 8% of the teacher's parameters dense at 1e5 interactions (the id
  tables grow with the data; 24 wide, the default until 2026-12-05, was ~16% at 1e5 and 24%
  at 1e6). The pruning budget (distillation.sparsity_steps, max_auc_drop) prunes it
  further only where every eval figure stays within budget."""
  # Chosen on the eval split (default data, 50% sparsity, after QAT; teacher 0.8415):
  # 12 -> 0.820-0.826, 24 -> 0.826-0.837 eval AUC over four variants each; int8 model
  # 54 KB vs 81 KB; against the 1e5 teacher's weights (1.43 MB) 26.7x and 17.9x
  # smaller. DESIGN's 30x needs ~8 wide: 43 KB, but (one seed, the 1e5 scale run's
  # teacher, test AUC / GAUC) 0.8192 / 0.8009 against 0.8235 / 0.8079 for 24; 16 wide
  # 61 KB, 0.8218 / 0.8061; 12 0.8220 / 0.8045. Without a user id table (the user as a
  # learned map of the pooled history, 46 KB) the eval AUC fell to 0.736.
  # `make bench` sweeps the widths (benchmarks/run.py WIDTHS); on its test split, one
  # seed each with hints, 12 and 24 tied (0.8247 / 0.8241 AUC) and 32 lost (0.8217).
  # Three seeds of the shipped recipe on the eval split: 12 -> 0.8321 +- 0.0016 after
  # pruning and QAT (it loses ~0.004 to 50% sparsity, 24 loses none), 24 -> 0.8361 +-
  # 0.0009; 12 would be 26.5 KB gzipped (50x smaller than the teacher's) against 44 KB.
  # Starting the user and item tables from the teacher's (the best rank-24 factoring of its
  # user x item products, by QR and an SVD of the core; a prototype) did not help at 1e6:
  # seed 42 0.8198 / 0.7862 (pruned to 60%), seed 43 0.8194 / 0.7839 (50%) against 0.8205 /
  # 0.7851 and 0.8206 / 0.7862 (both dense) from random tables (the student alone on the
  # 2026-12-04 bench-scale 1e6 run's teacher, test 0.8247 / 0.7922; test int8 AUC / GAUC).
  # 12 against 24 on the eval split (benchmarks/choose.py, 2026-12-05, seeds 42-44, hints
  # off; eval AUC / GAUC / known users' / new users' GAUC minus the teacher's, mean +- std):
  # at 1e5 (make bench's run) 24 -0.0012 +- 0.0007 / -0.0006 +- 0.0004 / +0.0001 +- 0.0003 /
  # -0.0067 +- 0.0026, 12 -0.0018 +- 0.0022 / +0.0016 +- 0.0036 / +0.0007 +- 0.0028 /
  # +0.0096 +- 0.0107 (two of its seeds within the budget on new users, which no 24-wide
  # seed is); at 1e6 (results_1e6.md's run) 24 -0.0013 +- 0.0005 / -0.0039 +- 0.0009 /
  # -0.0017 +- 0.0002 / -0.0197 +- 0.0058, 12 -0.0010 +- 0.0009 / -0.0036 +- 0.0010 /
  # -0.0004 +- 0.0009 / -0.0260 +- 0.0013. A tie within the seeds' spread at half the
  # table bytes: 12 since 2026-12-05 (session 40).
  embedding_dim: int = 12
  # 8 instead of 4 (a new user's items are ranked by their attributes against the item's;
  # the 1e6 int8 student is 0.013 below the teacher's new-user GAUC), students alone on a
  # run's teacher, test int8 AUC / GAUC, 8 against 4: at 1e6 (the 2026-12-04 bench-scale run,
  # teacher 0.8247 / 0.7922; all dense) seed 42 0.8232 / 0.7905 against 0.8205 / 0.7851, 43
  # 0.8241 / 0.7909 against 0.8206 / 0.7862, 44 0.8196 / 0.7843 against 0.8223 / 0.7868:
  # mean +0.0012 / +0.0026, under 8's spread (GAUC std 0.0037); at 1e5 (the 2026-12-04 make
  # bench run, teacher 0.8283 / 0.8145) 42 0.8266 / 0.8111 (pruned to 60%) against 0.8298 /
  # 0.8140 (dense), 43 0.8278 / 0.8107 (50%) against 0.8277 / 0.8112 (dense), 44 0.8307 /
  # 0.8154 against 0.8305 / 0.8140 (dense): mean -0.0010 / -0.0007. 16 wide at 1e6: 0.8193
  # / 0.7835, 0.8196 / 0.7831 (dense), 0.8218 / 0.7879 (50%), mean -0.0009 / -0.0012, so
  # the width does not explain 8's two good seeds. Kept at 4.
  # Those were test figures. On the eval split at 1e6 with the 12-wide student
  # (benchmarks/choose.py on results_1e6.md's run of 2026-12-05 19:12, seeds 42-44; eval
  # AUC / GAUC / known / new users' GAUC minus the teacher's, mean +- std): 8 -0.0004 +-
  # 0.0008 / -0.0025 +- 0.0012 / +0.0002 +- 0.0009 / -0.0216 +- 0.0078 against 4's -0.0010
  # +- 0.0009 / -0.0036 +- 0.0010 / -0.0004 +- 0.0009 / -0.0260 +- 0.0013: within the
  # spread on every figure, 4 stays.
  attribute_embedding_dim: int = 4
  # A wider tower, (64, 32), on the same 1e6 teacher (test int8 AUC / GAUC): seed 42
  # 0.8214 / 0.7863 (pruned to 50%), seed 43 0.8176 / 0.7796 (50%).
  hidden_layers: Tuple[int, ...] = (32, 16)
  # user.item and history.item dot products beside the tower, as in the teacher, and
  # (dots_into_tower) into its first layer as well. Measured on the eval split (hints on,
  # 50% sparsity, after QAT): into the tower 0.8371 float / 0.8360 int8 (mean |int8 -
  # float score| 0.013), beside it only 0.8319 / 0.8321 (0.017).
  interaction_dots: bool = True
  dots_into_tower: bool = True
  # user^T W item and history^T W item (W square, starting at the identity) instead of
  # the plain dots: the bilinear interactions the teacher's full-rank cross layers have.
  # Measured (seed 42, test split, AUC / GAUC, before cold-start targets): at 1e5 0.8288 /
  # 0.8137 against 0.8238 / 0.8072 plain; at 1e6 0.8176 / 0.7801 against 0.8184 / 0.7826
  # (its better eval AUC let the budget prune to 60% instead of 50%). Off until it wins
  # at both sizes. Again at 1e6 on the 2026-12-04 teacher above (both kept dense, as
  # without): seed 42 0.8205 / 0.7850, seed 43 0.8196 / 0.7822.
  bilinear_dots: bool = False
  # Dot products of the user's attribute embeddings (gender, occupation, age) with the
  # item's (genres, year), beside and into the tower like the dots above: the synthetic
  # users' age x genre, gender x genre and age x year tastes, what ranks a new user's items.
  # Measured (test split, AUC / GAUC): at 1e5, seed 42, 0.8288 / 0.8114 against 0.8238 /
  # 0.8072 (teacher 0.8290 / 0.8141; new users' GAUC 0.6932 against 0.6873); at 1e6
  # (teacher 0.8254 / 0.7943) seed 42 0.8218 / 0.7869 against 0.8184 / 0.7826, seed 43
  # 0.8176 / 0.7829 against 0.8201 / 0.7856 (the budget pruned it to 60%), seed 44
  # 0.8221 / 0.7858 against 0.8209 / 0.7845. Mean gain +0.0007 / +0.0010 over three
  # seeds, within their spread, so off (24 wide, test figures).
  # On the eval split with the 12-wide student (benchmarks/choose.py, 2026-12-05, seeds
  # 42-44; eval AUC / GAUC / known users' / new users' GAUC minus the teacher's, mean +-
  # std), on against off: at 1e5 (make bench's run) +0.0010 +- 0.0020 / +0.0045 +- 0.0029 /
  # +0.0021 +- 0.0027 / +0.0258 +- 0.0114 against -0.0018 +- 0.0022 / +0.0016 +- 0.0036 /
  # +0.0007 +- 0.0028 / +0.0096 +- 0.0107 (AUC and new users' GAUC up on every seed, by
  # +0.0028 and +0.0163 on average); at 1e6 (results_1e6.md's run of 2026-12-05 19:12)
  # -0.0001 +- 0.0009 / -0.0021 +- 0.0005 / +0.0007 +- 0.0006 / -0.0225 +- 0.0003 against
  # -0.0010 +- 0.0009 / -0.0036 +- 0.0010 / -0.0004 +- 0.0009 / -0.0260 +- 0.0013 (GAUC
  # and new users' GAUC up on every seed, by +0.0014 and +0.0035): better than the seeds'
  # spread on AUC and new users' GAUC at both sizes. But it costs the int8 model: make
  # bench with it on (2026-12-05 21:13, 1e5) had 177 tensors instead of 123, 52,824 bytes
  # instead of 45,504 (27.2x smaller than the teacher's variables instead of 31.5x, under
  # issue 10's 30x) and the interpreter's context-once request 0.113 ms against 0.069 ms
  # at 20:27 (12.5x the teacher's p50 instead of 20.2x, under issue 11's 20x); the student
  # SavedModel's `rank` 0.737 ms against 0.630. Its test figures did not move (int8 AUC /
  # GAUC over three seeds 0.8321 +- 0.0022 / 0.8177 +- 0.0027 against 0.8325 +- 0.0011 /
  # 0.8172 +- 0.0012), and the 0.005 budget holds at 1e5 without it. Off: the eval gain
  # does not pay for 64% more time a request. The students took 63-71 s against 47-54 s
  # at 1e5 and 70-86 s against 63-72 s at 1e6.
  attribute_dots: bool = False
  # The user's attributes mapped into the item space (a Dense per attribute, summed) and
  # dotted with the item's id vector, beside and into the tower like the dots above: the
  # attribute x item-id products of the teacher's cross layers, a new user's own vector.
  # Measured at 1e6 (the student alone on the 2026-12-02 bench-scale run's teacher, test
  # split, int8 AUC / GAUC / new users' GAUC): seed 42 0.8179 / 0.7825 / 0.6215 against
  # 0.8199 / 0.7829 / 0.6215 without, seed 43 0.8190 / 0.7831 / 0.6238 against 0.8195 /
  # 0.7828 / 0.6227. Off.
  attribute_vector_dot: bool = False
  # The teacher's wide inputs (like-rate, count, user and item biases) into the logit.
  # Measured (eval split, embedding_dim 12, 50% sparsity): 0.8241 with, 0.8256 without.
  # At 1e6 (the student alone on one 1e6 run's teacher, test split, int8 AUC / GAUC):
  # seed 42 0.8203 / 0.7857 against 0.8194 / 0.7849 without, seed 43 0.8172 / 0.7793
  # against 0.8213 / 0.7866. Off.
  wide_inputs: bool = False
  embedding_l2: float = 1e-6
  # 0.3 at 1e6 (seed 42, same measure): 0.8103 / 0.7803.
  # 0.2 with distillation.cold_start_targets (twice the rows taught the teacher's outputs
  # for a new user), students alone on the 2026-12-05 bench-scale runs' teachers, seeds
  # 42-44, test int8 AUC / GAUC minus the teacher's: at 1e6 -0.0003 / -0.0038, -0.0022 /
  # -0.0050, -0.0037 / -0.0070 against -0.0023 / -0.0051, -0.0041 / -0.0068, +0.0001 /
  # -0.0029 (means -0.0021 / -0.0053 against -0.0021 / -0.0049; new users' GAUC -0.0095
  # against -0.0103); at 1e5 -0.0017 / -0.0057 (pruned to 50%), -0.0022 / -0.0071, +0.0008 /
  # -0.0027 against -0.0013 / -0.0032, -0.0012 / -0.0072, -0.0008 / -0.0051 (means -0.0010
  # / -0.0052 against -0.0011 / -0.0052). No gain: 0.1 stays.
  # Those were test figures (24 wide). On the eval split with the 12-wide student
  # (benchmarks/choose.py, 2026-12-05, seeds 42-44; eval AUC / GAUC / known / new users'
  # GAUC minus the teacher's, mean +- std), 0.2 against 0.1: at 1e6 (bench-scale's 1e6 run
  # of 21:15) -0.0007 +- 0.0003 / -0.0026 +- 0.0005 / -0.0007 +- 0.0001 / -0.0157 +- 0.0048
  # against -0.0010 +- 0.0009 / -0.0036 +- 0.0010 / -0.0004 +- 0.0009 / -0.0260 +- 0.0013
  # (new users' GAUC +0.0103 on average, up on every seed, beyond the spread; GAUC +0.0010,
  # at it); at 1e5 (make bench's run of 20:27) -0.0021 +- 0.0007 / +0.0014 +- 0.0014 /
  # +0.0006 +- 0.0015 / +0.0089 +- 0.0068 against -0.0018 +- 0.0022 / +0.0016 +- 0.0036 /
  # +0.0007 +- 0.0028 / +0.0096 +- 0.0107 (a tie). It costs nothing at serving; not
  # switched yet only because the benchmarks (make bench, bench-scale, results_1e6.md)
  # must be rerun with it: the next candidate.
  user_id_dropout: float = 0.1
  item_id_dropout: float = 0.05
  training: TrainingConfig = dataclasses.field(default_factory=_student_training)

  def validate(self, where: str) -> None:
    _check_id_dropout(self, where)
    if self.dots_into_tower and not self.interaction_dots:
      raise ValueError(f"{knob(where, 'dots_into_tower')} needs "
                       f"{knob(where, 'interaction_dots')}")
    if self.bilinear_dots and not self.interaction_dots:
      raise ValueError(f"{knob(where, 'bilinear_dots')} needs "
                       f"{knob(where, 'interaction_dots')}")


@dataclasses.dataclass
class DistillationConfig(Section):
  """Knowledge distillation, pruning and prune-preserving QAT (models/distillation.py)."""
  # loss = alpha * BCE(label, p_s) + (1 - alpha) * T^2 * BCE(sigmoid(z_t/T), sigmoid(z_s/T));
  # alpha = 1 trains the student on labels only (the no-distillation baseline).
  # alpha = 0.1 (students alone on the 2026-12-02 bench run's teacher, eval AUC after QAT,
  # seeds 42-44): 0.8372, 0.8386, 0.8369 against 0.8377, 0.8368, 0.8360 at 0.3; the mean
  # gain, 0.0008, is under the seeds' spread, so 0.3 stays. At 1e6 (students alone on the
  # 2026-12-04 bench-scale run's teacher, test int8 AUC / GAUC, seeds 42-44, all dense):
  # 0.1 0.8172 / 0.7817, 0.8198 / 0.7841, 0.8221 / 0.7885; 0.5 0.8208 / 0.7859, 0.8229 /
  # 0.7887, 0.8206 / 0.7838; 0.3 0.8205 / 0.7851, 0.8206 / 0.7862, 0.8223 / 0.7868 (means
  # 0.8197 / 0.7848, 0.8214 / 0.7861, 0.8211 / 0.7860).
  alpha: float = 0.3
  temperature: float = 3.0
  # What the dense KD stage stops early on (student.training's patience and min_delta):
  # "auc", Keras' eval AUC on the transformed eval split; "gauc", the eval split's GAUC over
  # every user grouped by raw id, as the gate and the pruning budget judge it
  # (models.distillation.EvalRows, scored after each epoch). An epoch's AUC can stall while
  # its GAUC still rises: at 1e6 interactions seed 43's stage stopped on AUC at epoch 19
  # (best 13), 0.0059 below the teacher's eval GAUC, and its int8 GAUC missed the gate by
  # 0.0007. Students alone on the 2026-12-03 runs' teachers, test int8 AUC / GAUC, "gauc"
  # against "auc": at 1e6 (teacher 0.8246 / 0.7931) seed 43 0.8213 / 0.7865 (36 epochs)
  # against 0.8189 / 0.7824 (19), seed 42 0.8217 / 0.7875 (38; then pruned to 50%) against
  # 0.8219 / 0.7891 (48; dense), seed 44 the same model (0.8210 / 0.7861); at 1e5 (teacher
  # 0.8285 / 0.8124) seed 42 0.8257 / 0.8084 against 0.8269 / 0.8112, seed 43 0.8270 /
  # 0.8108 against 0.8281 / 0.8118, seed 44 the same model (0.8266 / 0.8097). Means:
  # at 1e6 +0.0007 / +0.0008 (and every seed within the gate's 0.01, the worst GAUC -0.0070
  # instead of -0.0107), at 1e5 -0.0008 / -0.0013 (on 10k eval rows a GAUC over 2,000
  # users is the noisier figure to stop on). No gain beyond the seeds' spread, so "auc".
  # Those were test figures; on the eval split at 1e6 (benchmarks/choose.py on
  # results_1e6.md's run, seeds 42-44, hints off; eval AUC / GAUC / known / new users' GAUC
  # minus the teacher's, mean +- std): "gauc" -0.0016 +- 0.0003 / -0.0037 +- 0.0009 /
  # -0.0017 +- 0.0002 / -0.0180 +- 0.0063 against "auc" -0.0013 +- 0.0005 / -0.0039 +-
  # 0.0009 / -0.0017 +- 0.0002 / -0.0197 +- 0.0058: within the spread, "auc" stays.
  early_stopping_metric: str = "auc"
  # Feature-level distillation (hints) while the dense student trains: adds
  # hint_weight * the squared distance, relative to the teacher vectors' squared norm,
  # between the student's user, item and history vectors, each through a learned Dense
  # projection to the teacher's width, and the teacher's (models.distillation.hint_loss).
  # 0 = logit distillation only. Pruning and QAT fine-tune on the logit loss alone.
  # make bench (test split, 3 seeds): 1.0 -> AUC 0.8250 +- 0.0011, 0 -> 0.8183 +- 0.0064;
  # again after the calibration change: 0.8245 +- 0.0013 vs 0.8199 +- 0.0083 (the mean gap,
  # 0.0046, is under logit-only's spread there: hints mostly remove its bad seeds). With
  # transfer rows (make bench of 2026-12-02, seeds 42-44): 1.0 -> AUC 0.8288 +- 0.0010,
  # GAUC 0.8113 +- 0.0006; 0 -> 0.8276 +- 0.0019, 0.8107 +- 0.0016. Hints stay on only if
  # they beat logits alone by more than the seeds' spread (issue 10); +0.0012 does not.
  # Without transfer rows they do: at 1e5, three seeds, int8 AUC / GAUC +0.0031 / +0.0034;
  # at 1e6 (over transfer_max_train_rows; one seed, the same teacher) 0.8206 / 0.7850
  # against 0.8165 / 0.7776. Hence hints exactly when the run had no transfer rows
  # (applied; until the eval-split check below turned them off by default);
  # hints_with_transfer_rows = true adds them beside those too. Checked again
  # when the make bench of 2026-12-05 09:14 (1e5, test split, seeds 42-44) had hints beside
  # transfer rows ahead: int8 AUC / GAUC 0.8310 +- 0.0010 / 0.8157 +- 0.0026 against
  # 0.8281 +- 0.0003 / 0.8117 +- 0.0017. On another data set of the same size (synthetic
  # seed 7, its own pipeline teacher: test 0.8235 / 0.8084), students alone, seeds 42-44,
  # int8 0.8203 / 0.8029, 0.8205 / 0.8020, 0.8185 / 0.7984 with them against 0.8219 /
  # 0.8060, 0.8191 / 0.8058, 0.8230 / 0.8050 without (mean gap to the teacher -0.0037 /
  # -0.0073 against -0.0022 / -0.0028): the gain is the data set's, not the method's, so
  # the default stays. At 1e6 hints cost the DistillationTrainer about 30% more time
  # (the projections, a longer dense stage). When the teacher's vectors were kept per
  # train row (0.9 KB a row instead of 0.2), hints took the DistillationTrainer's peak
  # at 1e6 from 3.6 to 5.3-5.5 GB (9.9 GB at 3e6: make bench-scale of 2026-12-02);
  # looked up per batch from the teacher's tables (models.distillation.TeacherVectors)
  # the student alone on the 1e6 run's teacher trained to the same model with a peak of
  # 2.6 GB instead of 4.0, in 289 s against 251 and 285 s (two runs); in make
  # bench-scale's whole runs since, its peak is 3.6 GB at 1e6 and 5.0 GB at 3e6.
  # Every figure above for "hints without transfer rows" was the test split's, the split
  # no choice may be made on. On the eval split at 1e6 (2026-12-05, students alone on the
  # results_1e6.md run's teacher, seeds 42-44, all dense, cold-start targets on; eval AUC /
  # GAUC / new users' GAUC minus the teacher's, chosen step before QAT, as
  # benchmarks/choose.py reports them): 1 -> -0.0015 / -0.0044 / -0.0235, -0.0004 /
  # -0.0018 / -0.0074, -0.0010 / -0.0030 / -0.0133; 0 ->
  # -0.0012 / -0.0041 / -0.0216, -0.0018 / -0.0047 / -0.0244, -0.0009 / -0.0030 / -0.0132.
  # Means: AUC +0.0003 with hints (spread ~0.0006), GAUC +0.0009 (~0.0011), new users'
  # GAUC +0.0050 (~0.007): within the seeds' spread on every figure, so by issue 10's rule
  # (on only if it beats logits alone by more than the spread) off; the students without
  # took 59-91 s against 115-150 s. (The test split, not used for this: int8 AUC / GAUC
  # 0.8236 / 0.7883, 0.8228 / 0.7871, 0.8221 / 0.7845 without, 0.8219 / 0.7851, 0.8230 /
  # 0.7867, 0.8227 / 0.7861 with.) A 1e5 train split without transfer rows (not a default
  # run: below transfer_max_train_rows they are on) is another matter: make bench's students
  # without transfer rows, eval AUC before pruning, 0.8415, 0.8410, 0.8394 with hints (run
  # of 15:32) against 0.8351, 0.8360, 0.8336 without (18:47), same teacher and seeds.
  hint_weight: float = 0.0
  hints_with_transfer_rows: bool = False
  # The student's user-id dropout (student.user_id_dropout) on its training batches, a
  # dropped row's targets being the teacher's outputs for the OOV user, as for a new user
  # at serving (models.distillation.drop_user_ids); false: in the model, the targets being
  # the teacher's for the real user. It costs a second teacher pass over the train split.
  # Measured at 1e6 interactions (test split, 39% of its rows from new users; AUC / GAUC;
  # teacher 0.8254 / 0.7943): seed 42 0.8164 / 0.7821 (a prototype drawing other rows:
  # 0.8196 / 0.7866) against 0.8184 / 0.7826 without; seed 43 0.8203 / 0.7858 against
  # 0.8201 / 0.7856. New users' GAUC 0.6233 / 0.6265 against 0.6220 / 0.6290. No gain
  # beyond the seeds' spread on the synthetic data, then off.
  # Again once the year and prior-count buckets were cut at exact quantiles (2026-12-05;
  # the teachers of that day's bench-scale runs, which gained most on new users: 1e6 test
  # AUC / GAUC 0.8251 / 0.7935, new users' GAUC 0.6463): students alone, seeds 42-44, test
  # int8 AUC / GAUC minus the teacher's, on against off. At 1e6 (all dense) -0.0013 /
  # -0.0046, -0.0059 / -0.0092, -0.0024 / -0.0067 against -0.0053 / -0.0091, -0.0074 /
  # -0.0106, -0.0051 / -0.0089: every seed up, by +0.0027 / +0.0027 on average (new users'
  # GAUC -0.0112, -0.0213, -0.0164 against -0.0197, -0.0216, -0.0181). At 1e5 (teacher
  # 0.8317 / 0.8172) -0.0035 / -0.0044 (60% sparse), +0.0038 / +0.0040, +0.0008 / +0.0003
  # against -0.0027 / -0.0063 (50%), +0.0016 / +0.0001, -0.0001 / -0.0011: GAUC up on every
  # seed (+0.0024 on average), AUC +0.0008. Hence on. At 1e5 the students took as long
  # (112, 59, 67 s against 116, 56, 69 s).
  # Those were test-split figures, the split no choice may be made on; checked again on the
  # eval split, the one choices are made on (2026-12-05, students alone on the
  # results_1e6.md run's teacher, seeds 42-44, all dense; eval AUC / GAUC / new users' GAUC
  # minus the teacher's, chosen step before QAT, as benchmarks/choose.py reports them): on
  # -0.0015 / -0.0044 / -0.0235, -0.0004 / -0.0018 / -0.0074, -0.0010 / -0.0030 / -0.0133
  # against off -0.0023 / -0.0047 / -0.0181,
  # -0.0021 / -0.0035 / -0.0116, -0.0013 / -0.0024 / -0.0029: AUC up on every seed (+0.0009
  # on average, over its spread of ~0.0006), GAUC +0.0005 (within its ~0.0013), new users'
  # GAUC -0.0039 (within its ~0.008, on 12% of the eval rows). Stays on, for AUC.
  cold_start_targets: bool = True
  # Transfer rows (models.distillation.with_transfer_rows): the student also trains on
  # this many copies of the train split whose rows each get another row's item, with the
  # teacher's outputs as their only targets, so it learns how the teacher ranks items a
  # user did not interact with, not only the observed pairs. 0 = the train split alone.
  # Students alone on the 2026-12-02 bench run's teacher (1e5; eval AUC 0.8444, test AUC
  # / GAUC 0.8305 / 0.8170), seeds 42-44, after pruning and QAT: eval AUC 0.8380, 0.8413,
  # 0.8394 with one copy against 0.8373, 0.8368, 0.8362 without (+0.0028 on average, every
  # seed up); test int8 AUC / GAUC 0.8260 / 0.8084, 0.8308 / 0.8139, 0.8282 / 0.8106
  # against 0.8228 / 0.8064, 0.8293 / 0.8134, 0.8243 / 0.8088 (+0.0028 / +0.0015). A
  # prototype with two copies (seed 42) did worse than with one (0.8387 against 0.8398).
  # Checked again when two make bench runs of 2026-12-05 (09:14 and 13:06, the same data
  # and teacher) had the students without transfer rows ahead: int8 test AUC / GAUC
  # 0.8297 +- 0.0018 / 0.8149 +- 0.0031 against 0.8282 +- 0.0006 / 0.8116 +- 0.0019 (13:06).
  # On another data set (synthetic seed 7, 1e5, its pipeline's teacher: test 0.8235 /
  # 0.8084), students alone, seeds 42-44, int8 minus the teacher: test -0.0015 / -0.0034,
  # -0.0029 / -0.0027, +0.0002 / -0.0020 with one copy against -0.0037 / -0.0048, -0.0046 /
  # -0.0059, -0.0052 / -0.0057 without; eval split -0.0008 / -0.0017 against -0.0040 /
  # -0.0043 on average (every seed up on both). The default data's gain without them is
  # that data set's: one copy stays.
  transfer_copies: int = 1
  # ... only for a train split of at most this many rows. At 1e6 interactions (790k train
  # rows; the student alone on r6's teacher, seed 42, 2 cores) one copy gained nothing:
  # eval AUC 0.8794 against 0.8798 without, test int8 AUC / GAUC 0.8147 / 0.7786 against
  # 0.8193 / 0.7831, in 1,050 s against 647 s, and the process peaked at 6.67 GB against
  # 4.12 GB (the whole run's target is 6 GB). Again once the trainers sorted their rows
  # (the student alone on the 2026-12-03 1e6 run's teacher, seed 42): eval AUC 0.8791 against
  # 0.8805, test int8 AUC / GAUC 0.8183 / 0.7801 against 0.8199 / 0.7829, peak 6.2 GB.
  transfer_max_train_rows: int = 500_000
  # Pairwise distillation on the transfer rows (models.distillation.pair_loss): each train
  # row and its transfer partner (same user, another item) share a batch, and the pair
  # adds pair_weight * T^2 * BCE of the teacher's and the student's logit gaps at
  # temperature T: the student learns how much more the teacher likes one item than the
  # other for that user, what GAUC measures. Needs transfer_copies = 1; with no transfer
  # rows (a train split over transfer_max_train_rows) it adds nothing. 0 = off.
  # Measured at 1.0 with hints (students alone on the 2026-12-02 bench run's teacher, seeds
  # 42-44, eval AUC before pruning): 0.8389, 0.8395, 0.8379 against 0.8394, 0.8419, 0.8390
  # without; test int8 GAUC 0.8090, 0.8077, 0.8091 against 0.8109, 0.8132, 0.8094. Off.
  pair_weight: float = 0.0
  # Budget-driven magnitude pruning of embeddings and Dense kernels: sparsity rises
  # through sparsity_steps, each step ramping up (PolynomialDecay) from the previous one
  # over pruning_ramp_epochs, then fine-tuning at the step's target until eval AUC stops
  # improving for pruning_early_stopping_patience epochs (at most pruning_epochs per
  # step; the best epoch at the target is kept). The run keeps the sparsest step whose
  # eval AUC and GAUC, as the gate computes them (every user grouped by raw id:
  # models.distillation.EvalRows), are within max_auc_drop of the teacher's; the curve
  # starts at the dense student, which is kept when no step is within budget. The curve
  # goes into the compression report. The first step outside the budget (the dense student
  # included) ends the search unless full_curve (make bench sets it, to show the whole
  # size-quality curve; QAT's batches do not depend on how many steps ran, so when it
  # keeps the step a default run keeps it ships the same student byte for byte, checked
  # on the 1e5 bench-scale run's teacher, 2026-12-05; it keeps another only where a
  # sparser step comes back within the budget after one outside it). prune = false
  # skips it.
  # With the GAUC of known users instead (transformed examples give new users one OOV id),
  # 50% sparsity passed at 1e6 interactions and took the int8 student's test GAUC from
  # 0.7889 (dense) to 0.7829, 0.0102 below the teacher's. Judged on every user (students
  # alone on the 2026-12-03 1e6 and 1e5 runs' teachers, eval GAUC below the teacher's, test
  # int8 AUC / GAUC): at 1e6 seed 42 dense -0.0031, 50% -0.0059, kept dense: 0.8219 / 0.7891
  # (teacher 0.8246 / 0.7931) against 0.8199 / 0.7829; seed 43 stopped its dense stage at 19
  # epochs and was -0.0059 already: dense, 0.8189 / 0.7824 (0.8195 / 0.7828 pruned). At 1e5
  # seeds 42 and 44 keep 50% as before; seed 43 stays dense: 0.8281 / 0.8118 against
  # 0.8261 / 0.8085.
  # Since 2026-12-05 each step must also be within max_auc_drop on the known and on the
  # new users' eval GAUC apart (models.distillation.BUDGET_FIGURES): a step within on both
  # slices is within on any mix of them, and the test split holds three times the eval
  # split's share of new users' rows. Measured on the 2026-12-05 bench-scale runs' teachers
  # (exact quantile buckets), test int8 AUC / GAUC below the teacher's: at 3e6 the 50% step
  # was within on every figure but new users' GAUC (-0.0052), so the student stayed dense
  # (cold-start targets off): -0.0028 / -0.0028. At 1e6 (students alone, seeds 42-44,
  # cold-start targets off) the dense student itself is 0.007-0.019 below the teacher on
  # new users' eval GAUC, so every seed stays dense:
  # -0.0053 / -0.0091, -0.0074 / -0.0106, -0.0051 / -0.0089, against -0.0075 / -0.0116
  # (50%), -0.0052 / -0.0079 (50%), -0.0049 / -0.0087 (dense) with the whole-split budget:
  # the same mean GAUC (-0.0095 against -0.0094); the budget's decision now says the
  # student is outside on new users instead of passing it.
  prune: bool = True
  full_curve: bool = False
  # "all": embedding tables and Dense kernels; "embeddings": the tables only. Leaving the
  # layers of under 1,024 weights dense (the attribute tables and the tower's kernels, 3% of
  # the weights; a prototype knob) did not help at equal sparsity: at 1e6 (seed 42, 50%)
  # test int8 AUC / GAUC / new users' GAUC 0.8188 / 0.7832 / 0.6225 against 0.8199 / 0.7829
  # / 0.6215; at 1e5 seeds 43 and 44 0.8263 / 0.8104 and 0.8259 / 0.8117 against 0.8261 /
  # 0.8085 and 0.8266 / 0.8097. What pruning costs new users is in the id tables.
  pruned_layers: str = "all"
  sparsity_steps: Tuple[float, ...] = (0.5, 0.6, 0.7, 0.8)
  max_auc_drop: float = 0.005
  pruning_ramp_epochs: int = 3
  pruning_epochs: int = 10
  pruning_early_stopping_patience: int = 2
  pruning_frequency_steps: int = 50
  # Eval AUC lost from the dense student to 50% sparsity (embedding_dim 24): 0.0013-0.0028
  # at 3e-3, 0.0008 at 5e-4 (single runs: seed noise is of the same order).
  pruning_learning_rate: float = 5e-4
  # Prune-preserving quantization-aware training; qat = false leaves the int8 model to
  # post-training quantization only (the no-QAT baseline).
  qat: bool = True
  # One epoch (at most 200 steps, as the KD stage's): three bought nothing. Students alone
  # on the 2026-12-05 bench-scale runs' teachers, seeds 42-44, test int8 AUC / GAUC minus the
  # teacher's, one epoch against three: at 1e5 -0.0009 / -0.0055, -0.0009 / -0.0057,
  # -0.0006 / -0.0037 against -0.0013 / -0.0032, -0.0012 / -0.0072, -0.0008 / -0.0051
  # (means -0.0008 / -0.0050 against -0.0011 / -0.0052; six epochs -0.0012 / -0.0047); at
  # 1e6 -0.0027 / -0.0049, -0.0041 / -0.0073, -0.0003 / -0.0031 against -0.0023 / -0.0051,
  # -0.0041 / -0.0068, +0.0001 / -0.0029 (means -0.0024 / -0.0051 against -0.0021 /
  # -0.0049), the seeds' spread in GAUC being ~0.002. Two epochs less are ~3.5 s at 1e6.
  # (Measured while QAT still went on with the pruning search's batches; since each stage
  # has its own (models.distillation.distill) the one-epoch means are -0.0010 / -0.0056
  # at 1e5 and -0.0023 / -0.0052 at 1e6, same teachers and seeds.)
  qat_epochs: int = 1
  qat_learning_rate: float = 2.5e-4
  # Train batches whose float outputs set each quantized layer's starting int8 range.
  qat_calibration_batches: int = 20
  # Train-split examples (drawn at random, seeded) the TFLite converter calibrates int8
  # ranges on; rows that look up every embedding-table row are added to them.
  representative_examples: int = 2000
  # Keep the converter's names of the int8 model's intermediate tensors (for TFLite's
  # Analyzer or a debugger). They are 10% of a default student's model.tflite (1e5: 50,584
  # bytes with them, 45,504 without; 3.6% of its gzipped bytes) and nothing reads them; the
  # inputs' and outputs' names stay either way (export.strip_tensor_names).
  tflite_tensor_names: bool = False
  # Eval rows on which the int8 model is compared with the float student: all of them, or
  # this many drawn at random (seeded) from a larger split (export.fidelity_rows).
  fidelity_rows: int = 100_000
  # Raw eval examples replayed by TF Serving at load (assets.extra), 8 per request.
  warmup_examples: int = 32

  def transfer_copies_for(self, train_rows: int) -> int:
    """Copies of transfer rows for a train split of `train_rows` rows."""
    return self.transfer_copies if train_rows <= self.transfer_max_train_rows else 0

  def applied(self, train_rows: int) -> "DistillationConfig":
    """This section as a train split of `train_rows` rows applies it: its transfer
    copies, hints only without transfer rows (unless hints_with_transfer_rows) and no
    pairwise loss without them."""
    copies = self.transfer_copies_for(train_rows)
    hints = self.hint_weight if self.hints_with_transfer_rows or not copies else 0.0
    return dataclasses.replace(self, transfer_copies=copies, hint_weight=hints,
                               pair_weight=self.pair_weight if copies else 0.0)

  def validate(self, where: str) -> None:
    if not 0 <= self.alpha <= 1:
      raise ValueError(f"{knob(where, 'alpha')} must be in [0, 1], got {self.alpha}")
    if self.temperature <= 0:
      raise ValueError(f"{knob(where, 'temperature')} must be > 0, got {self.temperature}")
    if self.hint_weight < 0:
      raise ValueError(f"{knob(where, 'hint_weight')} must be >= 0, got {self.hint_weight}")
    if not 1 <= self.pruning_ramp_epochs <= self.pruning_epochs:
      raise ValueError(f"{knob(where, 'pruning_ramp_epochs')} must be in [1, pruning_epochs = "
                       f"{self.pruning_epochs}], got {self.pruning_ramp_epochs}")
    if self.pruning_early_stopping_patience < 1:
      raise ValueError(f"{knob(where, 'pruning_early_stopping_patience')} must be >= 1, got "
                       f"{self.pruning_early_stopping_patience}")
    if self.early_stopping_metric not in EARLY_STOPPING_METRICS:
      raise ValueError(f"{knob(where, 'early_stopping_metric')} must be one of "
                       f"{', '.join(EARLY_STOPPING_METRICS)}, got {self.early_stopping_metric!r}")
    if self.pruned_layers not in PRUNED_LAYER_CHOICES:
      raise ValueError(f"{knob(where, 'pruned_layers')} must be one of "
                       f"{', '.join(PRUNED_LAYER_CHOICES)}, got {self.pruned_layers!r}")
    steps = list(self.sparsity_steps)
    if not steps or steps != sorted(set(steps)) or not all(0 < s < 1 for s in steps):
      raise ValueError(f"{knob(where, 'sparsity_steps')} must rise strictly within (0, 1), "
                       f"got {steps}")
    if self.transfer_copies < 0:
      raise ValueError(f"{knob(where, 'transfer_copies')} must be >= 0, got "
                       f"{self.transfer_copies}")
    if self.transfer_max_train_rows < 0:
      raise ValueError(f"{knob(where, 'transfer_max_train_rows')} must be >= 0, got "
                       f"{self.transfer_max_train_rows}")
    if self.alpha == 1 and self.transfer_copies:
      raise ValueError(f"{knob(where, 'alpha')} = 1 trains on labels only, but the transfer "
                       f"rows' labels are the teacher's: set {knob(where, 'transfer_copies')}=0 "
                       f"too (it is {self.transfer_copies})")
    if self.pair_weight < 0:
      raise ValueError(f"{knob(where, 'pair_weight')} must be >= 0, got {self.pair_weight}")
    if self.pair_weight and self.transfer_copies != 1:
      raise ValueError(f"{knob(where, 'pair_weight')} = {self.pair_weight:g} pairs each train "
                       f"row with its one transfer row: it needs "
                       f"{knob(where, 'transfer_copies')}=1 (it is {self.transfer_copies})")
    if self.max_auc_drop < 0:
      raise ValueError(f"{knob(where, 'max_auc_drop')} must be >= 0, got {self.max_auc_drop}")
    for name in ("qat_epochs", "qat_calibration_batches", "representative_examples",
                 "fidelity_rows"):
      if getattr(self, name) < 1:
        raise ValueError(f"{knob(where, name)} must be >= 1, got {getattr(self, name)}")
