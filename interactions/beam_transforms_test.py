"""ExampleGen's Beam graph at scale: reading in parts, split boundaries from a quantile
combiner (exact, approximate within its stated rank error, or auto), and the column-wise
encoding of the examples."""

import glob
import json
import math
import os

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from interactions import beam_transforms, example_gen, history, sources
from interactions.beam_transforms import _TimestampQuantiles, split_boundaries
from interactions.config import DataConfig, ExampleGenConfig
from interactions.sources import Interaction, ItemAttributes, UserAttributes
from models import features

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")
FRACTIONS = (0.8, 0.1, 0.1)


def _pipeline():
  return beam.Pipeline(options=PipelineOptions(["--direct_running_mode=in_memory"]))


def _whole_file_rows(source):
  return [row for index in range(len(source.files)) for row in source.read_rows(index)]


# --- Reading in parts -----------------------------------------------------------------


def _awkward_csv(folder):
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "interactions.csv"), "wb") as f:
    f.write(b"user_id,item_id,rating,timestamp\r\n"
            + b"".join(b"u%d,i%d,%d,%d\r\n" % (k % 7, k % 11, 1 + k % 5, 1000 + k)
                       for k in range(40))
            + b"\n\"u1\",i3,4,yesterday\n\n"   # lines 42-44: blank, bad timestamp, blank
            + b"u2,i4,9,2000\r"                # line 45: rating out of range, lone CR
            + b"u3,i5,2,2001")                 # line 46, no newline
  return sources.detect_source(str(folder), DataConfig())


def _parquet_in_groups(folder):
  os.makedirs(folder, exist_ok=True)
  pq.write_table(pa.table({"user_id": [f"u{k % 5}" for k in range(23)] + [None],
                           "item_id": [f"i{k}" for k in range(24)],
                           "timestamp": list(range(100, 124)),
                           "rating": [1 + k % 5 for k in range(24)]}),
                 os.path.join(folder, "interactions.parquet"), row_group_size=5)
  return sources.detect_source(str(folder), DataConfig())


@pytest.mark.parametrize("make_source,chunk_bytes", [
    (lambda folder: sources.detect_source(os.path.join(TESTDATA, "ml-100k"), DataConfig()), 9),
    (_awkward_csv, 16), (_awkward_csv, 1), (_parquet_in_groups, 1)])
def test_read_interactions_gives_the_rows_of_the_whole_file_reader(tmp_path, make_source,
                                                                   chunk_bytes):
  source = make_source(tmp_path / "data")
  expected = _whole_file_rows(source)
  assert len(source.plan_ranges(0, chunk_bytes)) > 3  # really read in parts
  with _pipeline() as pipeline:
    rows = beam_transforms.read_interactions(pipeline, source, chunk_bytes)
    assert_that(rows, equal_to(expected))


def test_awkward_csv_rows_keep_their_physical_lines(tmp_path):
  rows = _whole_file_rows(_awkward_csv(tmp_path / "data"))
  bad = [(r.line, r.column) for r in rows if isinstance(r, sources.BadRow)]
  assert bad == [(43, "timestamp"), (45, "rating")]
  assert [r.line for r in rows if not isinstance(r, sources.BadRow)][-2:] == [41, 46]


# --- Split boundaries -----------------------------------------------------------------


def _combine(combine_fn, values, shards, batch_size=1000):
  """Runs a CombineFn as a runner would: partial accumulators per shard, merged in pairs."""
  accumulators = []
  for part in np.array_split(values, shards):
    accumulator = combine_fn.create_accumulator()
    for start in range(0, len(part), batch_size):
      accumulator = combine_fn.add_input(accumulator, part[start:start + batch_size])
    accumulators.append(accumulator)
  while len(accumulators) > 1:
    accumulators = [combine_fn.merge_accumulators(accumulators[i:i + 2])
                    for i in range(0, len(accumulators), 2)]
  return combine_fn.extract_output(accumulators[0])


def _rank_errors(values, fractions, boundaries):
  """For each boundary, how far (in sorted positions) it is from split_boundaries' choice:
  0 if the boundary's value occupies the exact position, else the distance to it."""
  ordered = np.sort(values)
  errors = []
  for share, boundary in zip(np.cumsum(fractions)[:-1], boundaries):
    target = min(int(np.floor(share * len(ordered))), len(ordered) - 1)
    first = np.searchsorted(ordered, boundary, "left")
    last = np.searchsorted(ordered, boundary, "right") - 1
    errors.append(0 if first <= target <= last else min(abs(first - target), abs(last - target)))
  return errors


def _timestamps(kind, n, seed=0):
  rng = np.random.default_rng(seed)
  if kind == "distinct":  # 0..n-1 shuffled: a value's rank is the value
    return rng.permutation(n)
  if kind == "ties":  # a few seconds shared by many rows
    return rng.integers(0, 40, n)
  if kind == "skewed":
    return rng.exponential(1e5, n).astype(np.int64)
  if kind == "sorted":  # in time order, as log files are
    return np.sort(rng.integers(0, 10 * n, n))
  raise ValueError(kind)


@pytest.mark.parametrize("kind", ["distinct", "ties", "skewed", "sorted"])
@pytest.mark.parametrize("shards", [1, 7])
def test_exact_boundaries_are_split_boundaries(kind, shards):
  values = _timestamps(kind, 5000)
  for fractions in (FRACTIONS, (0.5, 0.25, 0.25), (0.333, 0.333, 0.334)):
    result = _combine(_TimestampQuantiles(fractions, "exact"), values, shards)
    assert result == {"boundaries": split_boundaries(values, fractions), "method": "exact",
                      "rank_error": 0, "rows": len(values)}


@pytest.mark.parametrize("kind", ["distinct", "ties", "skewed", "sorted"])
@pytest.mark.parametrize("epsilon", [0.01, 0.002])
def test_approximate_boundaries_are_within_the_stated_rank_error(kind, epsilon):
  n = 40_000
  values = _timestamps(kind, n, seed=3)
  # A sketch sized for 2n rows holds far fewer than n values, so it really summarizes.
  combine_fn = _TimestampQuantiles(FRACTIONS, "approximate", epsilon=epsilon, max_rows=2 * n)
  result = _combine(combine_fn, values, shards=5, batch_size=777)
  assert result["method"] == "approximate" and result["rows"] == n
  assert result["rank_error"] == math.ceil(epsilon * n)
  errors = _rank_errors(values, FRACTIONS, result["boundaries"])
  assert max(errors) <= result["rank_error"], errors


def test_approximate_boundaries_on_few_rows_are_exact():
  # Up to 1 / epsilon rows the sketch keeps every value and the grid is finer than a row.
  values = _timestamps("distinct", 900)
  result = _combine(_TimestampQuantiles(FRACTIONS, "approximate", epsilon=0.001), values, 3)
  assert result["boundaries"] == split_boundaries(values, FRACTIONS)
  assert result["rank_error"] == 1


def test_auto_is_exact_up_to_the_limit_and_approximate_above():
  values = _timestamps("distinct", 3000)
  for shards in (1, 4):
    at_limit = _combine(_TimestampQuantiles(FRACTIONS, "auto", exact_max_rows=3000), values,
                        shards)
    assert at_limit["method"] == "exact"
    assert at_limit["boundaries"] == split_boundaries(values, FRACTIONS)
    above = _combine(_TimestampQuantiles(FRACTIONS, "auto", exact_max_rows=2999,
                                         epsilon=0.01), values, shards)
    assert above["method"] == "approximate" and above["rank_error"] == 30
    assert max(_rank_errors(values, FRACTIONS, above["boundaries"])) <= 30


def test_no_rows_no_boundaries():
  for method in ("exact", "approximate"):
    assert _combine(_TimestampQuantiles(FRACTIONS, method), np.array([], np.int64), 2) == {
        "boundaries": None, "method": method, "rank_error": 0, "rows": 0}


# --- The whole graph --------------------------------------------------------------------


def _generate(data_dir, out_dir, **gen_overrides):
  split_uris = {name: os.path.join(out_dir, f"Split-{name}") for name in beam_transforms.SPLITS}
  summary = example_gen.generate_examples(
      str(data_dir), DataConfig(max_bad_row_fraction=0.1),
      ExampleGenConfig(split_fractions=(0.5, 0.25, 0.25), **gen_overrides), split_uris,
      str(out_dir), _pipeline)
  quarantine = sorted((json.loads(line) for path in
                       glob.glob(os.path.join(out_dir, "quarantine", "*.jsonl"))
                       for line in open(path)), key=lambda bad: (bad["line"], bad["column"]))
  return summary, quarantine


def test_summary_states_the_boundary_method_and_its_error(tmp_path):
  generic = os.path.join(TESTDATA, "generic")
  exact, _ = _generate(generic, tmp_path / "exact")
  assert exact["boundaries"] == [400, 700]
  assert (exact["boundary_method"], exact["boundary_rank_error"]) == ("exact", 0)
  approximate, _ = _generate(generic, tmp_path / "approximate",
                             split_quantiles="approximate", quantile_epsilon=0.1)
  assert (approximate["boundary_method"], approximate["boundary_rank_error"]) == (
      "approximate", 2)  # ceil(0.1 * 12)
  assert max(_rank_errors([100, 100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 900],
                          (0.5, 0.25, 0.25), approximate["boundaries"])) <= 2


def test_small_read_chunks_change_nothing_downstream(tmp_path):
  # Quarantine lines (parse errors and duplicates) and counts must not depend on how the
  # file was cut.
  source = _awkward_csv(tmp_path / "data")
  with open(source.files[0], "ab") as f:
    f.write(b"\nu0,i0,1,1000\n")  # line 47: a duplicate of line 2
  whole, whole_bad = _generate(tmp_path / "data", tmp_path / "whole")
  chunked, chunked_bad = _generate(tmp_path / "data", tmp_path / "chunked", read_chunk_bytes=10)
  assert chunked == whole
  assert [(b["line"], b["column"]) for b in chunked_bad] == [
      (43, "timestamp"), (45, "rating"), (47, "timestamp")]
  assert chunked_bad == whole_bad
  assert "duplicate of line 2" in chunked_bad[2]["reason"]


# --- Encoding -------------------------------------------------------------------------


def _example_by_hand(row, user, item, user_known, item_known):
  """The tf.Example of one row, field by field with the protobuf API."""
  text = lambda *values: tf.train.Feature(  # pylint: disable=unnecessary-lambda-assignment
      bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))
  number = lambda value: tf.train.Feature(  # pylint: disable=unnecessary-lambda-assignment
      int64_list=tf.train.Int64List(value=[value]))
  known = lambda flag: text(  # pylint: disable=unnecessary-lambda-assignment
      features.KNOWN if flag else features.NEW)
  return tf.train.Example(features=tf.train.Features(feature={
      features.USER_ID: text(row.user), features.ITEM_ID: text(row.item),
      features.TIMESTAMP: number(row.timestamp), features.LABEL: number(row.label),
      features.HISTORY_ITEM_IDS: text(*row.history),
      features.USER_PRIOR_COUNT: number(row.prior_count),
      features.USER_PRIOR_LIKE_RATE: tf.train.Feature(
          float_list=tf.train.FloatList(value=[row.prior_like_rate])),
      features.USER_AGE: number(user.age), features.USER_GENDER: text(user.gender),
      features.USER_OCCUPATION: text(user.occupation),
      features.ITEM_GENRES: text(*item.genres), features.ITEM_YEAR: number(item.year),
      features.USER_IN_TRAIN: known(user_known), features.ITEM_IN_TRAIN: known(item_known),
      features.USER_ACTIVITY: text(features.activity_bucket(row.prior_count))}))


def test_encode_examples_equals_examples_built_field_by_field():
  # Items with one, three and no genres listed, one item and the user missing from the
  # side tables (their defaults fill in), non-ASCII ids, a history shorter than its length.
  items = {"i1": ItemAttributes(genres=("Drama",), year=1990),
           "i2": ItemAttributes(genres=("Action", "Comedy", "Sci-Fi"), year=2001),
           "é3": ItemAttributes()}
  users = {"u1": UserAttributes(age=31, gender="F", occupation="writer")}
  events = [Interaction(user, item, 100 + 10 * k, k % 2, 0, k + 2)
            for k, (user, item) in enumerate([("u1", "i1"), ("u1", "i2"), ("u1", "é3"),
                                              ("u1", "i9"), ("u1", "i2")])]
  rows, _ = history.user_rows(events, history_length=3)
  items_known = [True, False, True, False, True]
  for user_known in (True, False):
    users_given = users if user_known else {}
    encoded = beam_transforms.encode_examples(rows, users_given, items, user_known,
                                              items_known)
    assert len(encoded) == len(rows)
    for record, row, item_known in zip(encoded, rows, items_known):
      expected = _example_by_hand(row, users_given.get(row.user, UserAttributes()),
                                  items.get(row.item, ItemAttributes()), user_known, item_known)
      assert tf.train.Example.FromString(record) == expected
  assert beam_transforms.encode_examples([], users, items, True, []) == []
