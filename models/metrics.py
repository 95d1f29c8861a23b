"""Ranking metrics computed in numpy from labels and scores (an independent path from Keras')."""

import numpy as np


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
