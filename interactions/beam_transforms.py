"""The Beam graph of InteractionsExampleGen: parse, split by time, point-in-time features.

Rows stream from the source files, read in parallel parts (byte ranges of
delimited text, row groups of Parquet); the time-split boundaries are timestamp
quantiles of the valid rows, exact up to a configured row count and from a
bounded-memory sketch above it; a group-by-user computes each event's history
from strictly earlier events; examples are written per split as gzipped
TFRecords. Bad rows go to a quarantine file; counts, boundaries and cold-start
shares go to a summary JSON that the executor checks afterwards.

Every step scales out on a distributed runner: no step gathers the rows, or all
the timestamps above the exact-quantile limit, in one worker. What one worker
holds: one user's events (GroupByUser), each item's first timestamp and the side
tables (side inputs), and per-range line counts.
"""

import collections
import itertools
import json
import math
import os
from typing import Dict, List, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow as tf
from apache_beam.transforms.stats import ApproximateQuantilesCombineFn
from tfx_bsl.coders import example_coder

from interactions import history, sources
from interactions.config import ExampleGenConfig
from interactions.sources import (BadRow, Interaction, InteractionSource, ItemAttributes,
                                  UserAttributes)
from models import features

SPLITS = ("train", "eval", "test")
SUMMARY_FILE = "ingestion_summary.json"
QUARANTINE_DIR = "quarantine"
QUARANTINE_PREFIX = "bad_rows"
TFRECORD_PREFIX = "data_tfrecord"


def split_boundaries(timestamps: np.ndarray, fractions: Sequence[float]) -> List[int]:
  """Timestamps b1 <= b2 so that train = ts < b1, eval = b1 <= ts < b2, test = ts >= b2.

  b_k is the timestamp at sorted position floor(cumulative share * n): rows that
  share the boundary second all go to the later split, so every eval/test
  timestamp is strictly later than every train timestamp.
  """
  ordered = np.sort(timestamps)
  n = len(ordered)
  cumulative = np.cumsum(fractions)[:-1]
  return [int(ordered[min(int(np.floor(c * n)), n - 1)]) for c in cumulative]


def split_of(timestamp: int, boundaries: Sequence[int]) -> int:
  for index, boundary in enumerate(boundaries):
    if timestamp < boundary:
      return index
  return len(boundaries)


# The approximate boundaries' error bound holds up to this many rows (Beam sizes its
# sketch for it; memory grows with its logarithm).
APPROXIMATE_MAX_ROWS = 10**11


class _Timestamps:
  """Accumulator of _TimestampQuantiles: the timestamps themselves, or a sketch of them."""

  def __init__(self, sketch=None):
    self.count = 0
    self.arrays: List[np.ndarray] = []  # while exact
    self.sketch = sketch  # once approximate: the state of ApproximateQuantilesCombineFn


class _TimestampQuantiles(beam.CombineFn):
  """Split boundaries of the timestamps, exact or from a distributed quantile sketch.

  method "exact": every timestamp is kept (numpy int64, 8 bytes a row) and the output
  is split_boundaries of all of them. Correct at any size, but the final merge holds
  every timestamp in one worker, so it is only for sizes where that is cheap.

  method "approximate": Beam's ApproximateQuantilesCombineFn (Manku, Rajagopalan and
  Lindsay's one-pass algorithm), whose memory does not grow with the rows. It returns
  the values at a grid of Q + 1 evenly spaced sorted positions, Q = ceil(1 / epsilon)
  (Beam 2.59 puts grid point i at floor((i * n - 1) / Q), 0 and Q at the minimum and
  maximum), each within rank epsilon / 2 * n of its position. For a boundary we take
  the grid point whose position is nearest the exact one, floor(c * n) for cumulative
  share c as in split_boundaries: neighbouring grid points are at most ceil(n / Q)
  apart, so the nearest is < n / (2 * Q) + 1 / 2 <= epsilon / 2 * n + 1 / 2 away. Rank
  error in all: < epsilon * n + 1 / 2, so, ranks being whole numbers, at most
  ceil(epsilon * n) rows, for n below APPROXIMATE_MAX_ROWS (Beam's bound holds up to the
  size the sketch is made for). "Rank error r": the boundary is the timestamp at some
  sorted position within r of the exact one. With n <= Q rows, which the sketch holds
  uncompressed, the result is exact. The sketch's result depends on how the runner
  bundles rows; the bound does not.

  method "auto": exact while at most exact_max_rows timestamps have been seen, then
  approximate. An accumulator switches as soon as it passes the limit, so the choice
  depends only on the total count: exact if n <= exact_max_rows, else approximate.

  Output: {"boundaries": [...] or None (no rows), "method": "exact" | "approximate",
  "rank_error": the bound above (0 when exact; None from APPROXIMATE_MAX_ROWS rows on),
  "rows": n}.
  """

  def __init__(self, fractions: Sequence[float], method: str = "exact",
               exact_max_rows: int = 0, epsilon: float = 0.001,
               max_rows: int = APPROXIMATE_MAX_ROWS):
    self._fractions = list(fractions)
    self._method = method
    self._exact_max_rows = exact_max_rows
    self._epsilon = epsilon
    self._max_rows = max_rows
    self._grid = math.ceil(1 / epsilon)
    self._sketch = ApproximateQuantilesCombineFn.create(
        num_quantiles=self._grid + 1, epsilon=epsilon / 2, max_num_elements=max_rows,
        input_batched=True)

  def create_accumulator(self):
    if self._method == "approximate":
      return _Timestamps(self._sketch.create_accumulator())
    return _Timestamps()

  def add_input(self, accumulator, batch):
    array = np.asarray(batch, dtype=np.int64)
    accumulator.count += len(array)
    if accumulator.sketch is not None:
      self._add_to_sketch(accumulator.sketch, array)
    else:
      accumulator.arrays.append(array)
      self._switch_if_too_many(accumulator)
    return accumulator

  def merge_accumulators(self, accumulators):
    # One at a time, switching to the sketch once past the limit, so that a merge never
    # holds more than twice exact_max_rows timestamps.
    merged = self.create_accumulator()
    for accumulator in accumulators:
      merged.count += accumulator.count
      if accumulator.sketch is not None:
        self._to_sketch(merged)
        merged.sketch = self._sketch.merge_accumulators([merged.sketch, accumulator.sketch])
      elif merged.sketch is not None:
        for array in accumulator.arrays:
          self._add_to_sketch(merged.sketch, array)
      else:
        merged.arrays.extend(accumulator.arrays)
        self._switch_if_too_many(merged)
    return merged

  def extract_output(self, accumulator):
    n = accumulator.count
    if accumulator.sketch is None:
      arrays = [a for a in accumulator.arrays if len(a)]
      boundaries = (split_boundaries(np.concatenate(arrays), self._fractions) if arrays
                    else None)
      return {"boundaries": boundaries, "method": "exact", "rank_error": 0, "rows": n}
    boundaries = None
    if n:
      quantiles = self._sketch.extract_output(accumulator.sketch)
      cumulative = np.cumsum(self._fractions)[:-1]
      boundaries = [int(quantiles[self._grid_point(min(int(np.floor(c * n)), n - 1), n)])
                    for c in cumulative]
    rank_error = math.ceil(self._epsilon * n) if n < self._max_rows else None
    return {"boundaries": boundaries, "method": "approximate", "rank_error": rank_error,
            "rows": n}

  def _grid_point(self, target: int, n: int) -> int:
    """The grid point whose sorted position (0-based, of n) is nearest `target`."""
    grid = self._grid

    def position(point):
      return 0 if point == 0 else min((point * n - 1) // grid, n - 1)

    upper = -(-(target * grid + 1) // n)  # the first grid point at or after target
    lower = upper - 1
    return upper if position(upper) - target <= target - position(lower) else lower

  def _switch_if_too_many(self, accumulator) -> None:
    if self._method == "auto" and accumulator.count > self._exact_max_rows:
      self._to_sketch(accumulator)

  def _to_sketch(self, accumulator) -> None:
    if accumulator.sketch is None:
      accumulator.sketch = self._sketch.create_accumulator()
      for array in accumulator.arrays:
        self._add_to_sketch(accumulator.sketch, array)
      accumulator.arrays = []

  def _add_to_sketch(self, sketch, array: np.ndarray) -> None:
    # Slices, so that the sketch's unbuffered list never holds a whole array of ints.
    for start in range(0, len(array), 1 << 16):
      self._sketch.add_input(sketch, array[start:start + (1 << 16)].tolist())


class _BadSummary(beam.CombineFn):
  """Counts bad rows and keeps the first one (by file, line)."""

  def create_accumulator(self):
    return (0, None)

  def add_input(self, accumulator, row: BadRow):
    count, first = accumulator
    if first is None or (row.file, row.line) < (first.file, first.line):
      first = row
    return (count + 1, first)

  def merge_accumulators(self, accumulators):
    count, first = 0, None
    for c, f in accumulators:
      count += c
      if f is not None and (first is None or (f.file, f.line) < (first.file, first.line)):
        first = f
    return (count, first)

  def extract_output(self, accumulator):
    count, first = accumulator
    return {"count": count, "first": None if first is None else first.describe()}


def _lists(values: Sequence, value_type: pa.DataType, offsets=None) -> pa.LargeListArray:
  """A list column from its values laid end to end: one value a row, or the rows'
  lists cut at `offsets` (row i's values are values[offsets[i]:offsets[i + 1]])."""
  if offsets is None:
    offsets = np.arange(len(values) + 1, dtype=np.int64)
  return pa.LargeListArray.from_arrays(pa.array(offsets, type=pa.int64()),
                                       pa.array(values, type=value_type))


def encode_examples(rows: Sequence[history.UserRow], users: Dict[str, UserAttributes],
                    items: Dict[str, ItemAttributes], user_in_train: bool,
                    items_in_train: Sequence[bool]) -> List[bytes]:
  """Serialized tf.Examples with the raw features of models.features, one per row.

  rows are one user's; user_in_train and items_in_train (per row) fill the
  evaluation-only features (features.EVALUATION_FEATURES).

  Rows are encoded column-wise through an Arrow RecordBatch by tfx_bsl's C++
  coder: building tf.train.Example protos field by field in Python costs about
  ten times more. Each column is one flat array of values (Arrow encodes str as
  UTF-8) cut into rows by offsets, not a Python list per row: a median 12.4 us a row
  against 16.2 on synthetic users' rows with 20 history ids.
  """
  missing_user, missing_item = UserAttributes(), ItemAttributes()
  user_attributes = [users.get(r.user, missing_user) for r in rows]
  item_attributes = [items.get(r.item, missing_item) for r in rows]
  genres = [i.genres for i in item_attributes]
  binary, integer = pa.large_binary(), pa.int64()
  history_length = len(rows[0].history) if rows else 0
  genre_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
  np.cumsum([len(g) for g in genres], out=genre_offsets[1:])
  user_in_train = features.KNOWN if user_in_train else features.NEW
  columns = {
      features.USER_ID: _lists([r.user for r in rows], binary),
      features.ITEM_ID: _lists([r.item for r in rows], binary),
      features.TIMESTAMP: _lists([r.timestamp for r in rows], integer),
      features.LABEL: _lists([r.label for r in rows], integer),
      features.HISTORY_ITEM_IDS: _lists(
          list(itertools.chain.from_iterable(r.history for r in rows)), binary,
          np.arange(len(rows) + 1, dtype=np.int64) * history_length),
      features.USER_PRIOR_COUNT: _lists([r.prior_count for r in rows], integer),
      features.USER_PRIOR_LIKE_RATE: _lists([r.prior_like_rate for r in rows], pa.float32()),
      features.USER_AGE: _lists([u.age for u in user_attributes], integer),
      features.USER_GENDER: _lists([u.gender for u in user_attributes], binary),
      features.USER_OCCUPATION: _lists([u.occupation for u in user_attributes], binary),
      features.ITEM_GENRES: _lists(list(itertools.chain.from_iterable(genres)), binary,
                                   genre_offsets),
      features.ITEM_YEAR: _lists([i.year for i in item_attributes], integer),
      features.USER_IN_TRAIN: _lists([user_in_train] * len(rows), binary),
      features.ITEM_IN_TRAIN: _lists(
          [features.KNOWN if known else features.NEW for known in items_in_train], binary),
      features.USER_ACTIVITY: _lists([features.activity_bucket(r.prior_count) for r in rows],
                                     binary),
  }
  batch = pa.RecordBatch.from_arrays(list(columns.values()), list(columns.keys()))
  return example_coder.RecordBatchToExamples(batch)


class _UserExamplesFn(beam.DoFn):
  """One user's events -> (split index, example) per event, duplicates and counts."""

  def __init__(self, source: InteractionSource, history_length: int,
               same_timestamp_visible: bool):
    self._users = source.users
    self._items = source.items
    self._files = [os.path.basename(f) for f in source.files]
    self._history_length = history_length
    self._same_timestamp_visible = same_timestamp_visible

  def process(self, keyed, boundaries, item_first_seen):
    user, events = keyed
    # Events travel through the GroupByKey as plain tuples (_by_user).
    rows, duplicates = history.user_rows([Interaction(user, *event) for event in events],
                                         self._history_length, self._same_timestamp_visible)
    for duplicate, first in duplicates:
      yield beam.pvalue.TaggedOutput("bad", BadRow(
          self._files[duplicate.file_index], duplicate.line, features.TIMESTAMP,
          f"duplicate of line {first.line}: same user, item and timestamp",
          f"{duplicate.user},{duplicate.item},{duplicate.timestamp}"))
    splits = [split_of(row.timestamp, boundaries) for row in rows]
    user_known = 0 in splits
    # An item is known if any user's event with it is in train: its first one is.
    items_known = [split_of(item_first_seen[row.item], boundaries) == 0 for row in rows]
    encoded = encode_examples(rows, self._users, self._items, user_known, items_known)
    yield from zip(splits, encoded)
    unknown_items = collections.Counter(
        split for split, known in zip(splits, items_known) if not known)
    for split, count in collections.Counter(splits).items():
      unknown_item = unknown_items[split]
      counts = {"rows": count, "users": 1, "unknown_item_rows": unknown_item,
                "unknown_user_rows": 0 if user_known else count,
                "unknown_user_or_item_rows": unknown_item if user_known else count}
      for key, value in counts.items():
        if value:
          yield beam.pvalue.TaggedOutput("stats", (f"{SPLITS[split]}/{key}", value))


def _by_user(row):
  """An Interaction -> (user, the rest of it as a plain tuple). Beam encodes a tuple of
  str and int natively but pickles a NamedTuple: 86 bytes and ~5 us a round trip for a
  row of the synthetic data, against 23 bytes and ~1.2 us."""
  return row.user, tuple(row[1:])


def _split_parsed(row):
  if isinstance(row, BadRow):
    yield beam.pvalue.TaggedOutput("bad", row)
  else:
    yield row


def _summary(_, quantiles, stats, parse_bad, all_bad, parsed_rows, files, source_format):
  """parsed_rows: rows that parsed, duplicates included; all_bad: parse failures + duplicates."""
  duplicates = all_bad["count"] - parse_bad["count"]
  return json.dumps({
      "format": source_format,
      "files": files,
      "total_rows": parsed_rows + parse_bad["count"],
      # Rows that became examples: parsed, and not a repeat of an earlier row.
      "valid_rows": parsed_rows - duplicates,
      "duplicate_rows": duplicates,
      "bad_rows": all_bad["count"],
      "first_bad_row": all_bad["first"],
      "boundaries": quantiles["boundaries"],
      # exact | approximate; and how far (in sorted rows) each boundary may be from exact.
      "boundary_method": quantiles["method"],
      "boundary_rank_error": quantiles["rank_error"],
      "stats": dict(sorted(stats.items())),
  }, sort_keys=True)


def read_interactions(pipeline: beam.Pipeline, source: InteractionSource,
                      chunk_bytes: int) -> beam.PCollection:
  """Every row of `source` (Interaction or BadRow), read in parts by many workers.

  Files are cut into parts, sources.ReadRange (byte ranges of `chunk_bytes` for
  delimited text, row groups for Parquet), and a Reshuffle spreads them over the
  workers, so one big file is not read by one worker. Quarantine and duplicate
  messages name the physical line, so a first pass counts the lines of every byte
  range (counting bytes costs far less than parsing) and the running totals reach the
  readers as a side input: one count per range, not per row.
  """
  ranges = (pipeline
            | "FileIndices" >> beam.Create(list(range(len(source.files))))
            | "PlanRanges" >> beam.FlatMap(source.plan_ranges, chunk_bytes)
            | "SpreadRanges" >> beam.Reshuffle())
  offsets = (ranges
             | "CountLines" >> beam.FlatMap(source.scan_range)
             | "GatherLineCounts" >> beam.combiners.ToList()
             | "LineOffsets" >> beam.Map(sources.line_offsets))
  return ranges | "ReadRanges" >> beam.FlatMap(source.read_range,
                                               offsets=beam.pvalue.AsSingleton(offsets))


def build(pipeline: beam.Pipeline, source: InteractionSource, split_uris: Dict[str, str],
          artifact_uri: str, config: ExampleGenConfig) -> None:
  """Adds the ExampleGen graph to `pipeline`; outputs land under the given URIs."""
  rows = read_interactions(pipeline, source, config.read_chunk_bytes)
  parsed = rows | "SplitBad" >> beam.FlatMap(_split_parsed).with_outputs("bad", main="ok")
  valid = parsed.ok

  quantiles = (valid
               | "Timestamps" >> beam.Map(lambda r: r.timestamp)
               | "BatchTimestamps" >> beam.BatchElements(min_batch_size=1024,
                                                         max_batch_size=1 << 17)
               | "Quantiles" >> beam.CombineGlobally(_TimestampQuantiles(
                   config.split_fractions, config.split_quantiles,
                   config.exact_quantiles_max_rows, config.quantile_epsilon)))
  boundaries = quantiles | "Boundaries" >> beam.Map(lambda q: q["boundaries"])
  boundaries_side = beam.pvalue.AsSingleton(boundaries)
  # Each item's first timestamp (combined where the rows are read), not the train rows'
  # items: a filter on the boundaries would hold every valid row until they are known.
  item_first_seen = (valid
                     | "ItemTimestamps" >> beam.Map(lambda r: (r.item, r.timestamp))
                     | "ItemFirstSeen" >> beam.CombinePerKey(min))
  per_user = (valid
              | "KeyByUser" >> beam.Map(_by_user)
              | "GroupByUser" >> beam.GroupByKey()
              | "PointInTimeFeatures" >> beam.ParDo(
                  _UserExamplesFn(source, config.history_length, config.same_timestamp_visible),
                  boundaries=boundaries_side,
                  item_first_seen=beam.pvalue.AsDict(item_first_seen)).with_outputs(
                      "bad", "stats", main="examples"))

  by_split = per_user.examples | "PartitionSplits" >> beam.Partition(
      lambda keyed, n: keyed[0], len(SPLITS))
  for index, name in enumerate(SPLITS):
    _ = (by_split[index]
         | f"Values[{name}]" >> beam.Map(lambda keyed: keyed[1])
         # Gzipped at zlib's default level, 6. A sink at level 1 or 3 (the 1e6 run's data,
         # ExampleGen alone, alternating runs) took 42.3 and 42.8 s against 44.8 s, for 30%
         # and 18% more bytes (67.6 and 61.4 MB against 52.0): 5%, near this machine's
         # noise, so Beam's own sink stays.
         | f"Write[{name}]" >> beam.io.WriteToTFRecord(
             os.path.join(split_uris[name], TFRECORD_PREFIX), file_name_suffix=".gz"))

  all_bad = (parsed.bad, per_user.bad) | "AllBad" >> beam.Flatten()
  _ = (all_bad
       | "BadToJson" >> beam.Map(lambda b: json.dumps(
           {"file": b.file, "line": b.line, "column": b.column, "reason": b.reason,
            "text": b.text[:500]}, sort_keys=True))
       | "WriteQuarantine" >> beam.io.WriteToText(
           os.path.join(artifact_uri, QUARANTINE_DIR, QUARANTINE_PREFIX),
           file_name_suffix=".jsonl"))
  parse_bad = parsed.bad | "ParseBadSummary" >> beam.CombineGlobally(_BadSummary())
  bad_summary = all_bad | "BadSummary" >> beam.CombineGlobally(_BadSummary())
  parsed_count = valid | "CountParsed" >> beam.combiners.Count.Globally()
  stats = per_user.stats | "SumStats" >> beam.CombinePerKey(sum)
  _ = (pipeline
       | "SummarySeed" >> beam.Create([None])
       | "Summary" >> beam.Map(
           _summary, quantiles=beam.pvalue.AsSingleton(quantiles),
           stats=beam.pvalue.AsDict(stats),
           parse_bad=beam.pvalue.AsSingleton(parse_bad),
           all_bad=beam.pvalue.AsSingleton(bad_summary),
           parsed_rows=beam.pvalue.AsSingleton(parsed_count),
           files=[os.path.basename(f) for f in source.files], source_format=source.format)
       | "WriteSummary" >> beam.io.WriteToText(
           os.path.join(artifact_uri, SUMMARY_FILE), shard_name_template="",
           num_shards=1))


def read_summary(artifact_uri: str) -> dict:
  with tf.io.gfile.GFile(os.path.join(artifact_uri, SUMMARY_FILE)) as f:
    return json.loads(f.read())


def cold_start_shares(summary: dict) -> Dict[str, Dict[str, float]]:
  """Per split: rows, users and the share of rows whose user/item never appears in train."""
  stats = summary.get("stats", {})
  shares = {}
  for name in SPLITS:
    rows = stats.get(f"{name}/rows", 0)
    entry = {"rows": rows, "users": stats.get(f"{name}/users", 0)}
    for key in ("unknown_user", "unknown_item", "unknown_user_or_item"):
      entry[f"{key}_share"] = (stats.get(f"{name}/{key}_rows", 0) / rows) if rows else 0.0
    shares[name] = entry
  return shares

