"""Metrics against values worked out by hand."""

import math

import numpy as np
import pytest

from models import metrics


def test_auc_by_hand():
  # Positives 0.8, 0.4; negatives 0.5, 0.1: pairs (0.8>0.5), (0.8>0.1), (0.4<0.5), (0.4>0.1) -> 3/4.
  assert metrics.auc([1, 0, 1, 0], [0.8, 0.5, 0.4, 0.1]) == 0.75


def test_auc_ties_count_half():
  assert metrics.auc([1, 0], [0.3, 0.3]) == 0.5
  assert metrics.auc([1, 1, 0], [0.3, 0.9, 0.3]) == 0.75


def test_auc_extremes_and_one_class():
  assert metrics.auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
  assert metrics.auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
  assert math.isnan(metrics.auc([1, 1], [0.2, 0.3]))


def test_log_loss_by_hand():
  expected = -(math.log(0.9) + math.log(0.8)) / 2
  assert metrics.log_loss([1, 0], [0.9, 0.2]) == pytest.approx(expected)
  assert np.isfinite(metrics.log_loss([1], [0.0]))
