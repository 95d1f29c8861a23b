"""The synthetic generator: determinism and the structure it claims, measured on its output."""

import hashlib
import os

import numpy as np
import pandas as pd
import pytest

from interactions import synthetic

N = 60_000


def _digest(folder):
  digests = {}
  for name in (synthetic.INTERACTIONS_FILE, synthetic.USERS_FILE, synthetic.ITEMS_FILE):
    with open(os.path.join(folder, name), "rb") as f:
      digests[name] = hashlib.sha256(f.read()).hexdigest()
  return digests


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  folder = tmp_path_factory.mktemp("synthetic")
  synthetic.write_dataset(synthetic.make_spec(N, seed=7), str(folder))
  interactions = pd.read_csv(folder / synthetic.INTERACTIONS_FILE, dtype={"user_id": str,
                                                                          "item_id": str})
  users = pd.read_csv(folder / synthetic.USERS_FILE, dtype={"user_id": str})
  items = pd.read_csv(folder / synthetic.ITEMS_FILE, dtype={"item_id": str})
  interactions["like"] = (interactions.rating >= 4).astype(int)
  return str(folder), interactions, users, items


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path, data):
  folder, _, _, _ = data
  synthetic.write_dataset(synthetic.make_spec(N, seed=7), str(tmp_path / "again"))
  synthetic.write_dataset(synthetic.make_spec(N, seed=8), str(tmp_path / "other"))
  assert _digest(folder) == _digest(str(tmp_path / "again"))
  assert _digest(folder)[synthetic.INTERACTIONS_FILE] != _digest(
      str(tmp_path / "other"))[synthetic.INTERACTIONS_FILE]


def test_shape_and_contract(data):
  _, interactions, users, items = data
  # Exact (user, item, second) repeats are dropped, so slightly fewer rows than asked.
  assert 0.95 * N <= len(interactions) <= N
  assert not interactions.duplicated(["user_id", "item_id", "timestamp"]).any()
  assert interactions.rating.between(1, 5).all()
  assert interactions.timestamp.is_monotonic_increasing
  assert set(interactions.user_id) <= set(users.user_id)
  assert set(interactions.item_id) <= set(items.item_id)
  assert 0.3 < interactions.like.mean() < 0.6


def test_item_popularity_is_power_law(data):
  _, interactions, _, _ = data
  counts = interactions.item_id.value_counts().to_numpy()
  top_decile_share = counts[:len(counts) // 10].sum() / counts.sum()
  assert top_decile_share > 0.4, top_decile_share
  # Rank-frequency slope on log-log axes over the head is clearly negative.
  ranks = np.arange(1, 51)
  slope = np.polyfit(np.log(ranks), np.log(counts[:50]), 1)[0]
  assert slope < -0.5, slope


def test_user_attributes_change_the_like_rate(data):
  _, interactions, users, items = data
  joined = interactions.merge(users, on="user_id").merge(items, on="item_id")
  joined["genre"] = joined.genres.str.split("|").str[0]
  rates = joined.groupby(["age", "genre"]).like.agg(["mean", "size"])
  rates = rates[rates["size"] >= 300]["mean"]
  # The same genre is liked very differently by different age buckets.
  spread = rates.groupby(level="genre").agg(lambda r: r.max() - r.min())
  assert spread.max() > 0.15, spread


def test_same_second_events_are_common(data):
  _, interactions, _, _ = data
  sizes = interactions.groupby(["user_id", "timestamp"]).size()
  share = sizes[sizes > 1].sum() / len(interactions)
  assert share > 0.3, share


def test_drift_new_items_and_users_appear_and_popularity_moves(data):
  _, interactions, _, _ = data
  cut = interactions.timestamp.quantile(0.8)
  train, later = interactions[interactions.timestamp < cut], interactions[interactions.timestamp >= cut]
  new_users = ~later.user_id.isin(set(train.user_id))
  new_items = ~later.item_id.isin(set(train.item_id))
  assert new_users.mean() > 0.05, new_users.mean()
  assert new_items.mean() > 0.01, new_items.mean()
  first = interactions.iloc[:len(interactions) // 5].item_id.value_counts()
  last = interactions.iloc[-len(interactions) // 5:].item_id.value_counts()
  overlap = len(set(first.index[:20]) & set(last.index[:20]))
  assert overlap < 18, overlap


def test_preference_needs_a_user_item_cross():
  """Noise-free preference depends on user x item beyond additive per-user/per-item terms."""
  rng = np.random.default_rng(0)
  spec = synthetic.make_spec(10_000, seed=3)
  world = synthetic.make_world(spec, rng)
  users = np.repeat(np.arange(60), 40)
  items = np.tile(np.arange(40), 60)
  score = synthetic.preference(world, users, items, np.zeros(len(users))).reshape(60, 40)
  # Remove the best additive fit (row + column means): what stays is interaction.
  additive = score.mean(1, keepdims=True) + score.mean(0, keepdims=True) - score.mean()
  residual_share = np.var(score - additive) / np.var(score)
  assert residual_share > 0.3, residual_share
