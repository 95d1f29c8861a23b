"""Metrics against values worked out by hand."""

import itertools
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


def test_gauc_by_hand():
  # User a: pos 0.9 vs neg 0.1 -> 1.0 (2 rows); user b: pos 0.2 vs negs 0.5, 0.1 -> 0.5
  # (3 rows); user c: one class only, left out. (2 * 1.0 + 3 * 0.5) / 5 = 0.7.
  labels = [1, 0, 1, 0, 0, 1]
  scores = [0.9, 0.1, 0.2, 0.5, 0.1, 0.3]
  users = ["a", "a", "b", "b", "b", "c"]
  assert metrics.gauc(labels, scores, users) == pytest.approx(0.7)
  assert math.isnan(metrics.gauc([1, 1], [0.1, 0.2], ["a", "a"]))


def _pairwise_auc(labels, scores):
  """AUC by counting every (positive, negative) pair: 1 when the positive scores higher,
  1/2 on a tie."""
  positives = [s for l, s in zip(labels, scores) if l == 1]
  negatives = [s for l, s in zip(labels, scores) if l == 0]
  if not positives or not negatives:
    return float("nan")
  wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
  return wins / (len(positives) * len(negatives))


def test_auc_and_gauc_match_pair_counting_on_tied_scores_and_many_users():
  rng = np.random.default_rng(3)
  rows = 600
  labels = rng.integers(0, 2, rows)
  scores = rng.integers(0, 12, rows) / 11.0  # few levels: many ties, as int8 scores have
  users = rng.choice([f"u{i}" for i in range(90)], rows)
  users[:5] = "one"  # a user with one class only: left out of GAUC
  labels[:5] = 1
  assert metrics.auc(labels, scores) == pytest.approx(_pairwise_auc(labels, scores), abs=1e-12)
  weighted, counted = 0.0, 0
  for user in sorted(set(users)):
    mask = users == user
    value = _pairwise_auc(labels[mask], scores[mask])
    if value == value:
      weighted += value * mask.sum()
      counted += mask.sum()
  assert metrics.gauc(labels, scores, users) == pytest.approx(weighted / counted, abs=1e-12)
  # Integer user keys, and rows in any order, give the same figure.
  codes = np.unique(users, return_inverse=True)[1]
  shuffled = rng.permutation(rows)
  assert metrics.gauc(labels[shuffled], scores[shuffled], codes[shuffled]) == pytest.approx(
      weighted / counted, abs=1e-12)


def test_ndcg_at_k_by_hand():
  # User a ranks [neg 0.9, pos 0.5, pos 0.1]: DCG@2 = 0 + 1/log2(3); ideal = 1 + 1/log2(3).
  # User b has no positive: left out.
  labels = [0, 1, 1, 0]
  scores = [0.9, 0.5, 0.1, 0.3]
  users = ["a", "a", "a", "b"]
  expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
  assert metrics.ndcg_at_k(labels, scores, users, k=2) == pytest.approx(expected)
  # k = 1: the top row is negative.
  assert metrics.ndcg_at_k(labels, scores, users, k=1) == 0.0
  # A tie shares its positions: at equal scores the positive is first in half the orders.
  assert metrics.ndcg_at_k([1, 0], [0.5, 0.5], ["a", "a"], k=1) == 0.5
  assert metrics.ndcg_at_k([0, 1], [0.5, 0.5], ["a", "a"], k=1) == 0.5


def test_ndcg_at_k_with_ties_is_the_mean_over_every_order_of_the_ties():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 7)
  labels[0] = 1
  scores = np.array([0.9, 0.5, 0.5, 0.5, 0.2, 0.2, 0.1])
  users = ["a"] * 7
  # Brute force: rank every permutation of the rows with a stable sort (ties in that
  # permutation's order) and average the plain NDCG@3 over the permutations.
  values = []
  for permutation in itertools.permutations(range(7)):
    ranked = sorted(permutation, key=lambda i: -scores[i])
    dcg = sum(labels[i] / math.log2(position + 2) for position, i in enumerate(ranked[:3]))
    ideal = sum(g / math.log2(position + 2)
                for position, g in enumerate(sorted(labels, reverse=True)[:3]))
    values.append(dcg / ideal)
  assert metrics.ndcg_at_k(labels, scores, users, k=3) == pytest.approx(np.mean(values), abs=1e-12)
  # Any order of the same rows gives the same figure.
  shuffled = rng.permutation(7)
  assert metrics.ndcg_at_k(labels[shuffled], scores[shuffled], users, k=3) == pytest.approx(
      metrics.ndcg_at_k(labels, scores, users, k=3), abs=1e-15)


def test_calibration_by_hand():
  assert metrics.calibration([1, 0, 0, 1], [0.5, 0.25, 0.25, 0.5]) == pytest.approx(0.75)


def test_paired_user_bootstrap_is_zero_for_the_same_scores():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 300)
  users = rng.integers(0, 30, 300)
  scores = rng.random(300)
  intervals = metrics.paired_user_bootstrap(labels, scores, scores, users, draws=50)
  assert intervals == {"auc": (0.0, 0.0), "gauc": (0.0, 0.0)}


def test_paired_user_bootstrap_equals_the_metrics_on_each_draw_s_repeated_rows():
  """Each draw, recomputed the slow way: every user's rows repeated as often as the draw
  picked the user, then metrics.auc and metrics.gauc on them."""
  rng = np.random.default_rng(1)
  labels = rng.integers(0, 2, 200)
  users = np.array([f"u{u}" for u in rng.integers(0, 12, 200)])
  labels[users == "u3"] = 1  # a user with one class has no AUC of its own
  a = rng.random(200)
  b = np.where(rng.random(200) < 0.5, a, rng.random(200))
  draws, seed = 40, 7
  got = metrics.paired_user_bootstrap(labels, a, b, users, draws=draws, seed=seed, level=0.9)
  names, codes = np.unique(users, return_inverse=True)
  counts = np.random.default_rng(seed).multinomial(len(names), np.full(len(names),
                                                                        1 / len(names)),
                                                   size=draws)
  diffs = {"auc": [], "gauc": []}
  for draw in counts:
    repeat = draw[codes]
    rows = (np.repeat(labels, repeat), np.repeat(a, repeat), np.repeat(b, repeat),
            np.repeat(users, repeat))
    diffs["auc"].append(metrics.auc(rows[0], rows[2]) - metrics.auc(rows[0], rows[1]))
    diffs["gauc"].append(metrics.gauc(rows[0], rows[2], rows[3])
                         - metrics.gauc(rows[0], rows[1], rows[3]))
  for name in ("auc", "gauc"):
    np.testing.assert_allclose(got[name], np.percentile(diffs[name], [5, 95]), atol=1e-12)
    assert got[name][0] < got[name][1]
