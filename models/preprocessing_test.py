"""preprocessing_fn on a handful of rows, through tf.Transform's Beam implementation."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata

import schemas
from models import features, preprocessing
from models.hparams import TransformConfig

HISTORY = 20
CONFIG = TransformConfig(
    vocabulary_frequency_threshold=2, num_oov_buckets=1, max_genres=3, num_year_buckets=2,
    num_count_buckets=2).custom_config()


def _row(user, item, history, genres=("Drama",), age=25, year=1995, count=0, gender="M"):
  return {
      features.USER_ID: [user.encode()], features.ITEM_ID: [item.encode()],
      features.TIMESTAMP: [1], features.LABEL: [1],
      features.HISTORY_ITEM_IDS: [h.encode() for h in history] + [b""] * (HISTORY - len(history)),
      features.USER_PRIOR_COUNT: [count], features.USER_PRIOR_LIKE_RATE: [0.5],
      features.USER_AGE: [age], features.USER_GENDER: [gender.encode()],
      features.USER_OCCUPATION: [b"writer"], features.ITEM_GENRES: [g.encode() for g in genres],
      features.ITEM_YEAR: [year],
      # Evaluation-only features: in every example, read by no transform.
      features.USER_IN_TRAIN: [b"known"], features.ITEM_IN_TRAIN: [b"new"],
      features.USER_ACTIVITY: [features.activity_bucket(count).encode()],
  }


ROWS = [
    _row("u1", "a", [], genres=("Drama", "Comedy", "War", "Crime"), age=0, year=0),
    _row("u1", "a", ["a"], age=17, year=1990, count=1),
    _row("u2", "b", ["c"], age=18, year=2000, count=2),
    _row("u2", "a", ["b", "c"], age=25, year=2010, count=3),
    _row("u3", "b", ["a", "b", "a"], age=56, year=1980, count=4, gender="F"),
    _row("u1", "c", ["b"], age=99, year=2005, count=5),
]


def _transform(rows, temp_dir: str, batch_size=None):
  """rows through preprocessing_fn by tf.Transform's Beam implementation, in batches of
  batch_size rows (None: as tf.Transform chooses)."""
  schema = text_format.Parse(schemas.curated_schema(HISTORY), schema_pb2.Schema())
  metadata = dataset_metadata.DatasetMetadata(schema)
  with tft_beam.Context(temp_dir=temp_dir, desired_batch_size=batch_size,
                        force_tf_compat_v1=False):
    (outputs, _), _ = ((rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
        lambda inputs: preprocessing.preprocessing_fn(inputs, CONFIG)))
  return outputs


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
  return _transform(ROWS, str(tmp_path_factory.mktemp("tft")))


def test_users_vocabulary_with_threshold_and_oov(transformed):
  # u1 (3 rows) -> 0, u2 (2 rows) -> 1, u3 (1 row, under the threshold) -> OOV bucket 2.
  assert [r[features.USER_INDEX] for r in transformed] == [0, 0, 1, 1, 2, 0]


def test_item_and_history_share_one_shifted_vocabulary(transformed):
  # a (3 rows) -> 1, b (2 rows) -> 2, c (1 row) -> OOV 3, padding -> 0.
  assert [r[features.ITEM_INDEX] for r in transformed] == [1, 1, 2, 1, 2, 3]
  histories = [list(r[features.HISTORY_INDEX][:4]) for r in transformed]
  assert histories == [[0, 0, 0, 0], [1, 0, 0, 0], [3, 0, 0, 0], [2, 3, 0, 0], [1, 2, 1, 0],
                       [2, 0, 0, 0]]
  assert all(len(r[features.HISTORY_INDEX]) == HISTORY for r in transformed)
  assert [r[features.HISTORY_LENGTH] for r in transformed] == [0, 1, 1, 2, 3, 1]


def test_genres_padded_and_truncated(transformed):
  first = transformed[0][features.GENRE_INDEX]
  assert len(first) == 3 and all(g > 0 for g in first)  # four genres cut to max_genres=3
  second = transformed[1][features.GENRE_INDEX]
  assert second[0] > 0 and list(second[1:]) == [0, 0]
  # Drama (6 rows) is the most frequent genre: vocabulary index 0, shifted to 1.
  assert second[0] == 1


def test_age_buckets_on_fixed_boundaries(transformed):
  # Boundaries 1, 18, 25, 35, 45, 50, 56: age 0 -> 0 (unknown), 17 -> 1, 18 -> 2, 25 -> 3,
  # 56 -> 7, 99 -> 7.
  assert [r[features.AGE_BUCKET] for r in transformed] == [0, 1, 2, 3, 7, 7]


def test_unknown_year_is_its_own_bucket(transformed):
  years = [r[features.YEAR_BUCKET] for r in transformed]
  assert years[0] == 0
  assert all(1 <= y <= 2 for y in years[1:])
  # Quantile buckets keep the order of the years.
  known = [(ROWS[i][features.ITEM_YEAR][0], years[i]) for i in range(1, len(ROWS))]
  assert [b for _, b in sorted(known)] == sorted(b for _, b in known)


def test_counts_label_and_rates(transformed):
  logs = np.array([r[features.PRIOR_COUNT_LOG] for r in transformed])
  np.testing.assert_allclose(logs, np.log1p(np.arange(6)) / np.log1p(5), atol=1e-6)
  assert [r[features.TRANSFORMED_LABEL] for r in transformed] == [1] * 6
  assert [r[features.PRIOR_LIKE_RATE] for r in transformed] == pytest.approx([0.5] * 6)
  genders = [r[features.GENDER_INDEX] for r in transformed]
  assert genders[4] != genders[0] and len(set(genders)) == 2


def test_missing_config_is_an_error():
  with pytest.raises(ValueError, match="needs custom_config keys max_genres"):
    preprocessing.preprocessing_fn({}, {k: v for k, v in CONFIG.items() if k != "max_genres"})


def test_evaluation_only_features_are_not_model_inputs(transformed):
  outputs = set(transformed[0])
  for name in features.EVALUATION_FEATURES:
    assert name not in outputs and features.transformed_name(name) not in outputs


def test_scaled_log_count_does_not_depend_on_how_rows_are_batched(tmp_path):
  """Beam batches rows as it likes, so a value must not depend on its batch: float32
  log1p takes other SIMD paths in batches of other sizes and came out 1 ulp apart for 17
  of 78,577 rows of two runs of the same data, which then trained different models."""
  rows = [_row(f"u{count % 7}", "a", ["a"], count=count) for count in range(300)]
  one = _transform(rows, str(tmp_path / "one"), batch_size=1)
  many = _transform(rows, str(tmp_path / "many"), batch_size=300)
  logs = [np.asarray([r[features.PRIOR_COUNT_LOG] for r in out]) for out in (one, many)]
  np.testing.assert_array_equal(logs[0], logs[1])
  np.testing.assert_allclose(logs[1], np.log1p(np.arange(300)) / np.log1p(299), rtol=1e-6)


def _bucketize(train, probe, num_buckets, temp_dir, batch_size=None):
  """exact_quantile_boundaries analyzed on `train` values, applied to `probe` values."""
  metadata = dataset_metadata.DatasetMetadata.from_feature_spec(
      {"x": tf.io.FixedLenFeature([], tf.int64)})

  def fn(inputs):
    boundaries = preprocessing.exact_quantile_boundaries(inputs["x"], num_buckets, name="q")
    return {"bucket": tft.apply_buckets(inputs["x"], boundaries)}

  with tft_beam.Context(temp_dir=temp_dir, desired_batch_size=batch_size,
                        force_tf_compat_v1=False):
    transform_fn = ([{"x": v} for v in train], metadata) | tft_beam.AnalyzeDataset(fn)
    outputs, _ = (([{"x": v} for v in probe], metadata), transform_fn) | tft_beam.TransformDataset()
  return [row["bucket"] for row in outputs]


def test_exact_quantile_buckets_hold_equal_counts(tmp_path):
  # 0..99 in four buckets: q = 24, 49, 74 (the smallest values with 25, 50, 75 values at or
  # below them); each bucket holds 25 values; values outside the train range fall in the
  # first and the last bucket.
  buckets = _bucketize(range(100), [-5, *range(100), 10**6], 4, str(tmp_path))
  assert buckets == [0] + [0] * 25 + [1] * 25 + [2] * 25 + [3] * 25 + [3]


def test_a_value_filling_several_quantiles_keeps_a_bucket_of_its_own(tmp_path):
  # 60 zeros then 1..40: q1 = q2 = 0 and q3 = 15 (the 75th smallest value), so 0 -> bucket 0,
  # 1..15 -> bucket 2 (bucket 1 stays empty), 16..40 -> bucket 3.
  train = [0] * 60 + list(range(1, 41))
  buckets = _bucketize(train, range(41), 4, str(tmp_path))
  assert buckets == [0] + [2] * 15 + [3] * 25


def test_quantile_buckets_do_not_depend_on_how_rows_are_batched(tmp_path):
  rng = np.random.default_rng(0)
  train = [int(v) for v in rng.zipf(1.5, size=3000) % 5000]
  probe = list(range(0, 5000, 7))
  one = _bucketize(train, probe, 10, str(tmp_path / "one"), batch_size=1)
  many = _bucketize(train, probe, 10, str(tmp_path / "many"), batch_size=3000)
  assert one == many
  # And they are the exact quantiles numpy finds ("lower": an actual value of the data).
  quantiles = np.quantile(np.asarray(train), np.arange(1, 10) / 10, method="inverted_cdf")
  assert many == [int(np.sum(np.asarray(p) > quantiles)) for p in probe]


def test_quantile_boundaries_from_counts_by_hand():
  # 1 x5, 2 x3, 7 x2 (10 values) in 4 buckets: the 2.5th, 5th and 7.5th values are 1, 1
  # and 2, so q = 1, 1, 2 and the boundaries q + 1 = 2, 2, 3.
  np.testing.assert_array_equal(preprocessing.quantile_boundaries({7: 2, 1: 5, 2: 3}, 4),
                                [[2, 2, 3]])
  # One value: every boundary above it; nothing analyzed: every boundary 1; one bucket:
  # no boundary.
  np.testing.assert_array_equal(preprocessing.quantile_boundaries({4: 9}, 3), [[5, 5]])
  np.testing.assert_array_equal(preprocessing.quantile_boundaries({}, 3), [[1, 1]])
  assert preprocessing.quantile_boundaries({4: 9}, 1).shape == (1, 0)
  with pytest.raises(ValueError, match="num_buckets must be at least 1"):
    preprocessing.quantile_boundaries({4: 9}, 0)
