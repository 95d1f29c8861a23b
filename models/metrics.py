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
  ranks = _tied_ranks(scores, np.zeros(len(scores), dtype=np.int64))
  return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _tied_ranks(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
  """Each row's 1-based rank by score within its group (integer group codes), tied scores
  sharing the mean of the ranks they span. One sort, no loop over rows or groups."""
  order = np.lexsort((scores, groups))
  sorted_scores, sorted_groups = scores[order], groups[order]
  n = len(scores)
  group_change = np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1
  run_change = np.flatnonzero((sorted_groups[1:] != sorted_groups[:-1])
                              | (sorted_scores[1:] != sorted_scores[:-1])) + 1
  # Position of each sorted row's group start, and of its run (tie) start and end.
  group_start = np.repeat(np.concatenate([[0], group_change]),
                          np.diff(np.concatenate([[0], group_change, [n]])))
  run_starts = np.concatenate([[0], run_change])
  run_ends = np.concatenate([run_change, [n]])
  run_mean = (run_starts + run_ends + 1) / 2.0  # mean 1-based position over the tie
  ranks = np.empty(n, dtype=np.float64)
  ranks[order] = np.repeat(run_mean, run_ends - run_starts) - group_start
  return ranks


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
  Computed for every group at once (`_tied_ranks`): ~100k groups cost one sort.
  """
  _, codes = np.unique(np.asarray(groups).ravel(), return_inverse=True)
  values, rows, _ = _group_aucs(labels, scores, codes.reshape(-1))
  if not len(values):
    return float("nan")
  return float(np.sum(values * rows) / np.sum(rows))


def _group_aucs(labels, scores, codes: np.ndarray):
  """(AUC, row count) of each group (integer codes 0..n-1) that has both classes, and the
  mask of those groups among all."""
  labels = np.asarray(labels, dtype=np.float64).ravel()
  scores = np.asarray(scores, dtype=np.float64).ravel()
  ranks = _tied_ranks(scores, codes)
  rows = np.bincount(codes).astype(np.float64)
  positives = np.bincount(codes, weights=labels, minlength=len(rows))
  negatives = rows - positives
  positive_ranks = np.bincount(codes, weights=ranks * (labels == 1), minlength=len(rows))
  both = (positives > 0) & (negatives > 0)
  p, q = positives[both], negatives[both]
  return (positive_ranks[both] - p * (p + 1) / 2) / (p * q), rows[both], both


def paired_user_bootstrap(labels, scores_a, scores_b, groups, draws: int = 1000,
                          seed: int = 0, level: float = 0.95) -> dict:
  """How far the test split's own sample moves AUC(b) - AUC(a) and GAUC(b) - GAUC(a):
  groups (users) drawn with replacement, as many as there are, `draws` times, both models
  scored on the same draw; returns {"auc": (low, high), "gauc": (low, high)}, the
  central `level` of the differences (percentiles). A user drawn k times counts k times.

  GAUC's draws reweigh the users' own AUCs (a user's rows repeated k times keep its AUC
  and weigh k times as much); AUC's recompute the AUC on the rows repeated.
  """
  labels = np.asarray(labels, dtype=np.float64).ravel()
  a = np.asarray(scores_a, dtype=np.float64).ravel()
  b = np.asarray(scores_b, dtype=np.float64).ravel()
  names, codes = np.unique(np.asarray(groups).ravel(), return_inverse=True)
  users = len(names)
  rng = np.random.default_rng(seed)
  counts = rng.multinomial(users, np.full(users, 1.0 / users), size=draws)
  # GAUC: the groups with both classes, each with its draw count.
  aucs_a, rows, both = _group_aucs(labels, a, codes)
  aucs_b, _, _ = _group_aucs(labels, b, codes)
  weights = counts[:, both] * rows
  total = weights.sum(axis=1)
  gauc_diffs = (weights @ aucs_b - weights @ aucs_a) / np.where(total > 0, total, np.nan)
  auc_diffs = np.empty(draws)
  for index in range(draws):
    repeat = counts[index][codes]
    drawn = np.repeat(labels, repeat)
    auc_diffs[index] = auc(drawn, np.repeat(b, repeat)) - auc(drawn, np.repeat(a, repeat))
  tail = (1 - level) / 2 * 100
  return {name: tuple(float(x) for x in np.nanpercentile(diffs, [tail, 100 - tail]))
          for name, diffs in (("auc", auc_diffs), ("gauc", gauc_diffs))}


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
