"""Deterministic synthetic interaction data with the structure of real logs.

What is in it, and why (each property is measured in synthetic_test.py):
* Users and items have latent taste vectors; the preference has a bilinear
  user x item term plus non-linear terms (an age-dependent preferred release year
  with a |year - preferred| penalty, and a genre match that scales the bilinear
  term), so a model with crosses / depth beats a linear one.
* Categorical attributes matter: age bucket x genre and gender x genre affinities.
* Item popularity is a power law (Zipf), users' activity is heavy-tailed.
* Drift: new items are released and new users arrive (and churn) during the
  time range, item popularity trends up or down and decays after release, and user tastes move linearly in time.
* Sessions: a user's events come in bursts, many in the same second (as in
  MovieLens, where most events share their second with another of the user's).

Everything comes from one `numpy.random.Generator(seed)` and is computed in
vectorized chunks, so the same seed gives byte-identical files and 1e6
interactions take seconds.
"""

import dataclasses
import os
from typing import Optional

import numpy as np

from models import features, fileio

GENRES = ("Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical",
          "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
# Users' ages are the MovieLens 1M age-bucket lower bounds, as the Transform buckets them.
AGE_BUCKETS = features.AGE_BUCKET_BOUNDARIES
AGE_BUCKET_PROBS = (0.04, 0.18, 0.35, 0.2, 0.09, 0.08, 0.06)
OCCUPATIONS = tuple(f"occupation_{i:02d}" for i in range(21))
LATENT_DIM = 8
START_TIMESTAMP = 1_500_000_000  # 2017-07-14
DURATION_SECONDS = 2 * 365 * 24 * 3600
TIME_WINDOWS = 100  # chunks of sessions; each samples users/items at its mid time

INTERACTIONS_FILE = "interactions.csv"
USERS_FILE = "users.csv"
ITEMS_FILE = "items.csv"


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
  num_interactions: int
  num_users: int
  num_items: int
  seed: int


def make_spec(num_interactions: int, num_users: Optional[int] = None,
              num_items: Optional[int] = None, seed: int = 42) -> SyntheticSpec:
  """Fills in user and item counts that grow sub-linearly with the interactions."""
  if num_interactions < 100:
    raise ValueError(f"num_interactions must be >= 100, got {num_interactions}")
  users = num_users or max(30, int(round(20 * num_interactions ** 0.4)))
  items = num_items or max(20, int(round(8 * num_interactions ** 0.4)))
  return SyntheticSpec(num_interactions, users, items, seed)


@dataclasses.dataclass
class World:
  """Latent and observed attributes of users and items."""
  user_age_bucket: np.ndarray  # index into AGE_BUCKETS
  user_gender: np.ndarray  # 0 = F, 1 = M
  user_occupation: np.ndarray
  user_factors: np.ndarray
  user_drift: np.ndarray
  user_activity: np.ndarray
  user_arrival: np.ndarray  # fraction of the time range
  user_lifetime: np.ndarray  # fraction of the time range
  user_bias: np.ndarray
  item_genres: np.ndarray  # [items, genres] 0/1
  item_year: np.ndarray
  item_factors: np.ndarray
  item_bias: np.ndarray
  item_popularity: np.ndarray
  item_trend: np.ndarray
  item_release: np.ndarray  # fraction of the time range
  age_genre_affinity: np.ndarray
  gender_genre_affinity: np.ndarray
  preferred_year_by_age: np.ndarray


def make_world(spec: SyntheticSpec, rng: np.random.Generator) -> World:
  n_u, n_i, n_g = spec.num_users, spec.num_items, len(GENRES)
  user_age = rng.choice(len(AGE_BUCKETS), size=n_u, p=AGE_BUCKET_PROBS)
  user_gender = (rng.random(n_u) < 0.7).astype(np.int64)
  occupation_probs = rng.dirichlet(np.full(len(OCCUPATIONS), 0.8))
  user_occupation = rng.choice(len(OCCUPATIONS), size=n_u, p=occupation_probs)
  scale = 1.0 / np.sqrt(LATENT_DIM)
  user_factors = rng.normal(0, 1.2 * scale, size=(n_u, LATENT_DIM))
  user_drift = rng.normal(0, 0.8 * scale, size=(n_u, LATENT_DIM))
  user_activity = rng.pareto(1.5, size=n_u) + 0.2
  # 35% of users are there from the start, the rest arrive uniformly; each stays
  # active for an exponential lifetime (churn), so later data has many new users.
  user_arrival = np.where(rng.random(n_u) < 0.35, 0.0, rng.random(n_u))
  user_lifetime = rng.exponential(0.4, size=n_u)
  user_bias = rng.normal(0, 0.3, size=n_u)

  genre_probs = np.linspace(2.0, 0.3, n_g)
  genre_probs /= genre_probs.sum()
  num_genres = rng.choice([1, 2, 3], size=n_i, p=[0.5, 0.35, 0.15])
  item_genres = np.zeros((n_i, n_g), dtype=np.int64)
  for k in range(3):
    chosen = rng.choice(n_g, size=n_i, p=genre_probs)
    item_genres[np.arange(n_i)[num_genres > k], chosen[num_genres > k]] = 1
  item_year = np.clip(np.round(2020 - rng.exponential(15, size=n_i)), 1920, 2020).astype(np.int64)
  item_factors = rng.normal(0, 1.2 * scale, size=(n_i, LATENT_DIM))
  item_bias = rng.normal(0, 0.4, size=n_i)
  ranks = rng.permutation(n_i) + 1
  item_popularity = 1.0 / ranks ** 1.05
  # Log-popularity trends linearly over the range: some items fade, others rise.
  item_trend = rng.normal(0, 1.5, size=n_i)
  # 85% of items exist at the start, the rest are released during the range.
  item_release = np.where(rng.random(n_i) < 0.85, 0.0, rng.random(n_i))

  age_genre_affinity = rng.normal(0, 0.7, size=(len(AGE_BUCKETS), n_g))
  gender_genre_affinity = rng.normal(0, 0.4, size=(2, n_g))
  preferred_year_by_age = np.array([2018, 2015, 2010, 2000, 1990, 1985, 1975], dtype=np.float64)
  return World(user_age, user_gender, user_occupation, user_factors, user_drift,
               user_activity, user_arrival, user_lifetime, user_bias, item_genres, item_year,
               item_factors, item_bias, item_popularity, item_trend, item_release,
               age_genre_affinity, gender_genre_affinity, preferred_year_by_age)


def preference(world: World, users: np.ndarray, items: np.ndarray,
               time_fraction: np.ndarray) -> np.ndarray:
  """Noise-free affinity of each (user, item) event at its time; > 0 leans to like."""
  factors = world.user_factors[users] + time_fraction[:, None] * world.user_drift[users]
  bilinear = np.sum(factors * world.item_factors[items], axis=1)
  genres = world.item_genres[items]
  genre_count = np.maximum(genres.sum(axis=1), 1)
  age_affinity = (genres * world.age_genre_affinity[world.user_age_bucket[users]]).sum(1)
  gender_affinity = (genres * world.gender_genre_affinity[world.user_gender[users]]).sum(1)
  attribute = (age_affinity + gender_affinity) / genre_count
  # Non-linear: the taste match counts more for items in genres the user's group likes.
  bilinear_scale = 1.0 + 0.8 * np.tanh(attribute)
  year_gap = np.abs(world.item_year[items] - world.preferred_year_by_age[world.user_age_bucket[users]])
  year_penalty = 0.6 * np.tanh(year_gap / 15.0)
  return (3.0 * bilinear * bilinear_scale + attribute + world.user_bias[users]
          + world.item_bias[items] - year_penalty + 0.9)


def _session_sizes(rng: np.random.Generator, count: int) -> np.ndarray:
  return rng.geometric(1.0 / 3.0, size=count)


def generate(spec: SyntheticSpec):
  """Yields (users, items, ratings, timestamps) chunks in time order, then the world."""
  rng = np.random.default_rng(spec.seed)
  world = make_world(spec, rng)
  produced = 0
  # Sessions start at sorted uniform times; each chunk covers a time window, so
  # the active users and released items of a chunk follow its mid time.
  expected_sessions = int(spec.num_interactions / 3.0 * 1.1) + 10
  session_starts = np.sort(rng.random(expected_sessions))
  chunk_sessions = max(200, expected_sessions // TIME_WINDOWS + 1)
  start = 0
  chunks = []
  while produced < spec.num_interactions:
    if start >= expected_sessions:
      # Rare: sessions ran short; draw more at the end of the range.
      extra = np.sort(rng.uniform(session_starts[-1], 1.0, size=chunk_sessions))
      session_starts = np.concatenate([session_starts, extra])
      expected_sessions = len(session_starts)
    stop = min(start + chunk_sessions, expected_sessions)
    starts = session_starts[start:stop]
    start = stop
    mid = float(np.median(starts))
    active = (world.user_arrival <= mid) & (mid <= world.user_arrival + world.user_lifetime)
    user_weights = world.user_activity * active
    if user_weights.sum() == 0:
      user_weights = world.user_activity.copy()
    session_users = rng.choice(len(user_weights), size=len(starts), p=user_weights / user_weights.sum())
    sizes = _session_sizes(rng, len(starts))
    total = int(sizes.sum())
    users = np.repeat(session_users, sizes)
    base_time = np.repeat(starts, sizes)
    # Within a session: 45% of events share the previous event's second.
    gaps = np.where(rng.random(total) < 0.45, 0.0, rng.exponential(90.0, size=total))
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)
    cumulative = np.cumsum(gaps)
    offsets = cumulative - cumulative[first]
    seconds = np.floor(START_TIMESTAMP + base_time * DURATION_SECONDS + offsets).astype(np.int64)
    age_since_release = np.clip(mid - world.item_release, 0.0, None)
    item_weights = (world.item_popularity * np.exp(world.item_trend * mid)
                    * (world.item_release <= mid)
                    * (0.5 + np.exp(-age_since_release / 0.15)))
    items = rng.choice(len(item_weights), size=total, p=item_weights / item_weights.sum())
    time_fraction = np.clip((seconds - START_TIMESTAMP) / DURATION_SECONDS, 0.0, 1.0)
    noise = rng.normal(0, 0.8, size=total)
    score = preference(world, users, items, time_fraction) + noise
    ratings = np.clip(np.round(3.0 + 1.1 * score), 1, 5).astype(np.int64)
    take = min(total, spec.num_interactions - produced)
    chunks.append((users[:take], items[:take], ratings[:take], seconds[:take]))
    produced += take
  return world, chunks


def _unique_events(chunks):
  """Concatenates chunks and drops exact (user, item, second) repeats, keeping the first."""
  users = np.concatenate([c[0] for c in chunks])
  items = np.concatenate([c[1] for c in chunks])
  ratings = np.concatenate([c[2] for c in chunks])
  seconds = np.concatenate([c[3] for c in chunks])
  order = np.lexsort((items, users, seconds))
  users, items, ratings, seconds = users[order], items[order], ratings[order], seconds[order]
  keep = np.ones(len(users), dtype=bool)
  keep[1:] = ~((users[1:] == users[:-1]) & (items[1:] == items[:-1]) & (seconds[1:] == seconds[:-1]))
  return users[keep], items[keep], ratings[keep], seconds[keep]


def user_key(index: np.ndarray) -> np.ndarray:
  return np.char.add("u", np.char.zfill(index.astype(str), 6))


def item_key(index: np.ndarray) -> np.ndarray:
  return np.char.add("i", np.char.zfill(index.astype(str), 6))


def write_dataset(spec: SyntheticSpec, output_dir: str) -> dict:
  """Writes interactions.csv, users.csv, items.csv into `output_dir`.

  Files are written under temporary names and renamed, so a crash never
  leaves a half-written data set. Returns counts for logging.
  """
  os.makedirs(output_dir, exist_ok=True)
  world, chunks = generate(spec)
  users, items, ratings, seconds = _unique_events(chunks)

  def write(name: str, header: str, columns) -> None:
    with fileio.open_atomic(os.path.join(output_dir, name), "w", encoding="utf-8",
                            newline="\n") as f:
      f.write(header + "\n")
      step = 200_000
      total = len(columns[0])
      for lo in range(0, total, step):
        parts = [np.asarray(c[lo:lo + step]).astype(str) for c in columns]
        rows = parts[0]
        for part in parts[1:]:
          rows = np.char.add(np.char.add(rows, ","), part)
        f.write("\n".join(rows.tolist()))
        f.write("\n")

  write(INTERACTIONS_FILE, "user_id,item_id,rating,timestamp",
        [user_key(users), item_key(items), ratings, seconds])
  user_index = np.arange(spec.num_users)
  write(USERS_FILE, "user_id,age,gender,occupation",
        [user_key(user_index), np.asarray(AGE_BUCKETS)[world.user_age_bucket],
         np.where(world.user_gender == 1, "M", "F"),
         np.asarray(OCCUPATIONS)[world.user_occupation]])
  genre_names = np.asarray(GENRES)
  item_genre_strings = np.array(
      ["|".join(genre_names[row.astype(bool)]) for row in world.item_genres])
  item_index = np.arange(spec.num_items)
  write(ITEMS_FILE, "item_id,genres,year",
        [item_key(item_index), item_genre_strings, world.item_year])
  return {"interactions": int(len(users)), "users": spec.num_users, "items": spec.num_items,
          "like_rate": float(np.mean(ratings >= 4))}
