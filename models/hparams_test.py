"""TrainingConfig.batch_for: the batch grows with the data, by hand-computed cases; checks
of the sections by name."""

import math

import pytest

from models.hparams import DistillationConfig, StudentConfig, TeacherConfig, TrainingConfig

SCALING = TrainingConfig(batch_size=512, learning_rate=1e-3, max_batch_size=2048,
                         min_steps_per_pass=300)


@pytest.mark.parametrize("train_rows, batch_size", [
    (78_577, 512),  # the default 1e5 run: 153 steps of 512, under 300 steps of 1024
    (307_199, 512),  # 307,199 // 1024 = 299 steps
    (307_200, 1024),  # exactly 300 steps of 1024
    (614_400, 2048),
    (790_259, 2048),  # 1e6 interactions: 385 steps of 2048
    (10**9, 2048),  # never above max_batch_size
    (10, 512),  # tiny data still trains at batch_size
])
def test_batch_doubles_while_a_pass_keeps_its_minimum_steps(train_rows, batch_size):
  chosen, learning_rate = SCALING.batch_for(train_rows)
  assert chosen == batch_size
  assert learning_rate == pytest.approx(1e-3 * math.sqrt(batch_size / 512))


def test_defaults_scale_the_student_but_not_the_teacher():
  assert TeacherConfig().training.batch_for(790_259) == (512, 1e-3)
  batch, learning_rate = StudentConfig().training.batch_for(790_259)
  assert (batch, learning_rate) == (2048, pytest.approx(2e-3))
  assert StudentConfig().training.batch_for(78_577) == (512, 1e-3)


def test_max_batch_size_below_batch_size_is_rejected_by_name():
  with pytest.raises(ValueError, match=r"student.training.max_batch_size must be >= "
                                       r"student.training.batch_size = 1024, got 512"):
    TrainingConfig(batch_size=1024, max_batch_size=512).validate("student.training")


@pytest.mark.parametrize("max_steps, steps_per_pass, expected", [
    (0, 10**6, None),  # 0: an epoch is one pass, however long
    (800, 153, None),  # the default 1e5 run: one pass is shorter
    (800, 800, None),
    (800, 801, 401),  # two epochs a pass, ceil(801 / 2)
    (800, 1544, 772),  # 1e6 interactions at 512 rows a step
    (800, 1601, 534),  # three: ceil(1601 / 3)
])
def test_a_long_pass_is_cut_into_equal_epochs(max_steps, steps_per_pass, expected):
  assert TrainingConfig(max_steps_per_epoch=max_steps).steps_per_epoch(steps_per_pass) == expected


@pytest.mark.parametrize("min_steps, steps_per_pass, expected", [
    (0, 153, None),  # 0: an epoch is one pass, however short
    (300, 300, None),
    (300, 299, 598),  # two whole passes reach 300
    (300, 153, 306),
    (450, 153, 459),  # three: the default 1e5 run's teacher
    (300, 1544, None),  # long passes are left to max_steps_per_epoch
])
def test_a_short_pass_is_repeated_into_epochs_of_whole_passes(min_steps, steps_per_pass,
                                                              expected):
  config = TrainingConfig(min_steps_per_epoch=min_steps)
  assert config.steps_per_epoch(steps_per_pass) == expected


def test_the_teachers_epochs_are_three_passes_at_1e5_and_half_a_pass_at_1e6():
  config = TeacherConfig().training
  assert config.steps_per_epoch(153) == 459
  assert config.steps_per_epoch(1544) == 772
  assert config.steps_per_epoch(600) is None


@pytest.mark.parametrize("name", ["max_steps_per_epoch", "min_steps_per_epoch"])
def test_epoch_step_bounds_must_not_be_negative(name):
  with pytest.raises(ValueError, match=f"teacher.training.{name} must be >= 0"):
    TrainingConfig(**{name: -1}).validate("teacher.training")


def test_min_steps_per_epoch_above_the_maximum_is_rejected_by_name():
  with pytest.raises(ValueError, match=r"teacher.training.min_steps_per_epoch must be <= "
                                       r"teacher.training.max_steps_per_epoch = 200, got 300"):
    TrainingConfig(min_steps_per_epoch=300, max_steps_per_epoch=200).validate(
        "teacher.training")
  TrainingConfig(min_steps_per_epoch=300).validate("teacher.training")  # 0: no maximum


def test_transfer_rows_are_refused_by_name_without_distillation():
  DistillationConfig(alpha=1.0, transfer_copies=0).validate("distillation")
  with pytest.raises(ValueError, match=r"distillation.alpha = 1 trains on labels only, .* set "
                                       r"distillation.transfer_copies=0 too \(it is 1\)"):
    DistillationConfig(alpha=1.0, transfer_copies=1).validate("distillation")
  with pytest.raises(ValueError, match="distillation.transfer_copies must be >= 0, got -1"):
    DistillationConfig(transfer_copies=-1).validate("distillation")


def test_early_stopping_metric_is_auc_or_gauc():
  for metric in ("auc", "gauc"):
    DistillationConfig(early_stopping_metric=metric).validate("distillation")
  with pytest.raises(ValueError, match="distillation.early_stopping_metric must be one of "
                                       "auc, gauc, got 'ndcg'"):
    DistillationConfig(early_stopping_metric="ndcg").validate("distillation")


def test_pair_weight_needs_exactly_one_transfer_copy():
  DistillationConfig(pair_weight=1.0, transfer_copies=1).validate("distillation")
  for copies in (0, 2):
    with pytest.raises(ValueError, match=rf"distillation.pair_weight = 1 pairs .* "
                                         rf"distillation.transfer_copies=1 \(it is {copies}\)"):
      DistillationConfig(pair_weight=1.0, transfer_copies=copies).validate("distillation")
  with pytest.raises(ValueError, match="distillation.pair_weight must be >= 0, got -1"):
    DistillationConfig(pair_weight=-1.0).validate("distillation")


@pytest.mark.parametrize("train_rows, copies", [
    (78_577, 1),  # the default 1e5 run
    (500_000, 1),
    (500_001, 0),
    (790_259, 0),  # 1e6 interactions
])
def test_transfer_rows_only_up_to_their_train_split_size(train_rows, copies):
  assert DistillationConfig().transfer_copies_for(train_rows) == copies
  assert DistillationConfig(transfer_copies=2, transfer_max_train_rows=10**9) \
      .transfer_copies_for(train_rows) == 2


@pytest.mark.parametrize("train_rows, copies, hints", [
    (78_577, 1, 0.0),  # the default 1e5 run: transfer rows, logits only
    (790_259, 0, 0.5),  # 1e6 interactions: no transfer rows, the hints asked for
])
def test_hints_are_applied_only_without_transfer_rows(train_rows, copies, hints):
  assert DistillationConfig().applied(train_rows).hint_weight == 0.0  # off by default
  applied = DistillationConfig(hint_weight=0.5).applied(train_rows)
  assert (applied.transfer_copies, applied.hint_weight) == (copies, hints)
  both = DistillationConfig(hints_with_transfer_rows=True, hint_weight=0.5).applied(train_rows)
  assert (both.transfer_copies, both.hint_weight) == (copies, 0.5)
  assert DistillationConfig(hint_weight=0.0).applied(train_rows).hint_weight == 0.0


def test_the_pairwise_loss_is_off_without_transfer_rows():
  config = DistillationConfig(pair_weight=1.0)
  assert config.applied(78_577).pair_weight == 1.0
  assert config.applied(790_259).pair_weight == 0.0
