"""Ranking metrics computed in numpy from labels and scores (an independent path from Keras')."""

import dataclasses

import numpy as np

from models.dataclass_json import Summary


def auc(labels, scores) -> float:
  """Area under the ROC curve: P(score of a positive > score of a negative), ties count half.

  NaN when only one class is present.
  """
  labels = np.asarray(labels, dtype=np.float64).ravel()
  scores = np.asarray(scores, dtype=np.float64).ravel()
  positives = labels.sum()
  negatives = len(labels) - positives
  if positives == 0 or negatives == 0:
    return float("nan")
  order = np.argsort(scores, kind="mergesort")
  sorted_scores = scores[order]
  ranks = np.empty(len(scores), dtype=np.float64)
  # Average rank (1-based) within groups of tied scores.
  boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
  starts = np.concatenate([[0], boundaries])
  ends = np.concatenate([boundaries, [len(scores)]])
  for start, end in zip(starts, ends):
    ranks[order[start:end]] = (start + end + 1) / 2.0
  return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def log_loss(labels, probabilities, eps: float = 1e-7) -> float:
  labels = np.asarray(labels, dtype=np.float64).ravel()
  p = np.clip(np.asarray(probabilities, dtype=np.float64).ravel(), eps, 1 - eps)
  return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def _per_group(labels, scores, groups):
  """(labels, scores) of each group (user), rows in their given order within a group."""
  labels = np.asarray(labels, dtype=np.float64).ravel()
  scores = np.asarray(scores, dtype=np.float64).ravel()
  groups = np.asarray(groups).ravel()
  order = np.argsort(groups, kind="mergesort")
  sorted_groups = groups[order]
  starts = np.concatenate([[0], np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1])
  ends = np.concatenate([starts[1:], [len(groups)]])
  for start, end in zip(starts, ends):
    index = order[start:end]
    yield labels[index], scores[index]


def gauc(labels, scores, groups) -> float:
  """AUC within each group (user), averaged with the group's row count as its weight.

  Groups with one class only have no AUC and are left out; NaN when none is left.
  """
  weighted, rows = 0.0, 0
  for group_labels, group_scores in _per_group(labels, scores, groups):
    value = auc(group_labels, group_scores)
    if value == value:
      weighted += value * len(group_labels)
      rows += len(group_labels)
  return weighted / rows if rows else float("nan")


def ndcg_at_k(labels, scores, groups, k: int) -> float:
  """Mean over groups (users) with a positive label of NDCG@k, the labels as gains.

  Within a group rows are ranked by score. Rows with tied scores share their positions:
  each gets the mean discount of the positions the tie spans (the expected NDCG over
  every order of the tie, McSherry and Najork 2008), so the figure does not depend on the
  order rows arrive in. Quantized scores tie often: an int8 model has 256 output levels.
  """
  total, count = 0.0, 0
  for gains, group_scores in _per_group(labels, scores, groups):
    if gains.max() <= 0:
      continue
    order = np.argsort(-group_scores, kind="mergesort")
    ranked_gains, ranked_scores = gains[order], group_scores[order]
    positions = np.arange(len(ranked_gains))
    discounts = np.where(positions < k, 1.0 / np.log2(positions + 2.0), 0.0)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ranked_scores)) + 1])
    ends = np.concatenate([starts[1:], [len(ranked_scores)]])
    cumulative = np.concatenate([[0.0], np.cumsum(discounts)])
    shared = np.repeat((cumulative[ends] - cumulative[starts]) / (ends - starts), ends - starts)
    ideal = np.sort(gains)[::-1]
    total += float(np.sum(ranked_gains * shared) / np.sum(ideal * discounts))
    count += 1
  return total / count if count else float("nan")


def calibration(labels, probabilities) -> float:
  """Mean prediction over mean label (1 = calibrated on average); NaN without positives."""
  labels = np.asarray(labels, dtype=np.float64).ravel()
  probabilities = np.asarray(probabilities, dtype=np.float64).ravel()
  return float(probabilities.sum() / labels.sum()) if labels.sum() else float("nan")


@dataclasses.dataclass
class EvalMetrics(Summary):
  """A model's figures on one split, overall and by whether the user was seen in training."""
  auc: float
  log_loss: float
  rows: int
  known_user_rows: int
  auc_known_users: float  # NaN when a group has one class only
  auc_unknown_users: float
  # GAUC over the users known to training (unknown users share one OOV index, so they
  # cannot be told apart in transformed examples); NaN in summaries written before it.
  gauc_known_users: float = float("nan")


def evaluate_logits(labels, logits, users, known_user) -> EvalMetrics:
  """EvalMetrics of logits against 0/1 labels; users: a user key per row; known_user
  marks rows whose user is in train."""
  labels = np.asarray(labels).reshape(-1)
  logits = np.asarray(logits).reshape(-1)
  users = np.asarray(users).reshape(-1)
  known = np.asarray(known_user, dtype=bool).reshape(-1)
  probabilities = 1.0 / (1.0 + np.exp(-logits))
  return EvalMetrics(auc=auc(labels, logits), log_loss=log_loss(labels, probabilities),
                     rows=int(len(labels)), known_user_rows=int(known.sum()),
                     auc_known_users=auc(labels[known], logits[known]),
                     auc_unknown_users=auc(labels[~known], logits[~known]),
                     gauc_known_users=gauc(labels[known], logits[known], users[known]))
