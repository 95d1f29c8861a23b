"""recommend's pure parts on hand-made events and rows, and its one-line errors."""

import os

import numpy as np
import pytest

from interactions import history
from interactions.config import DataConfig
from interactions.sources import Interaction, ItemAttributes, UserAttributes
from models import features
from pipeline import recommend

GENERIC_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "interactions", "testdata", "generic")
# (user, item, timestamp, label, file index, line)
EVENTS = [Interaction(*event) for event in [
    ("u", "c", 300, 1, 0, 7),
    ("u", "a", 100, 1, 0, 2),
    ("u", "b", 100, 0, 0, 3),  # same second as "a", a later line
    ("u", "d", 400, 0, 0, 9),
]]
ITEMS = {"a": ItemAttributes(("Drama",), 1999), "b": ItemAttributes(("Comedy", "Drama"), 2005)}


def test_the_request_sees_every_event_most_recent_first():
  context = recommend.request_context(EVENTS, "u", now=401, history_length=5)
  # d, c, then the t=100 pair in reverse line order (b after a in the file).
  assert context.history == ("d", "c", "b", "a", "")
  assert context.prior_count == 4 and context.prior_like_rate == 0.5
  assert context.user == "u" and context.timestamp == 401


def test_the_history_keeps_the_last_n_events():
  context = recommend.request_context(EVENTS, "u", now=500, history_length=2)
  assert context.history == ("d", "c") and context.prior_count == 4


def test_a_user_without_events_has_an_empty_history():
  context = recommend.request_context([], "new", now=10, history_length=3)
  assert context.history == (features.HISTORY_PAD,) * 3
  assert (context.prior_count, context.prior_like_rate) == (0, 0.0)


def test_the_request_must_come_after_every_event():
  with pytest.raises(ValueError, match="must be later"):
    recommend.request_context(EVENTS, "u", now=400, history_length=3)


def _context(rate=1 / 3):
  return history.UserRow(user="u", item="x", timestamp=9, label=0, history=("a", ""),
                         prior_count=3, prior_like_rate=rate)


def test_raw_rows_carry_the_user_part_once_per_item_and_item_defaults():
  rows = recommend.raw_rows(_context(), UserAttributes(25, "F", "writer"), ["a", "zz"], ITEMS)
  assert [r[features.ITEM_ID] for r in rows] == ["a", "zz"]
  assert rows[0] == {
      features.USER_ID: "u", features.ITEM_ID: "a", features.HISTORY_ITEM_IDS: ["a", ""],
      features.USER_PRIOR_COUNT: 3, features.USER_PRIOR_LIKE_RATE: float(np.float32(1 / 3)),
      features.USER_AGE: 25, features.USER_GENDER: "F", features.USER_OCCUPATION: "writer",
      features.ITEM_GENRES: ["Drama"], features.ITEM_YEAR: 1999}
  # An item the item table does not know gets ExampleGen's defaults.
  assert rows[1][features.ITEM_GENRES] == [features.MISSING] and rows[1][features.ITEM_YEAR] == 0


def test_raw_example_carries_every_raw_value_with_examplegens_types():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from models import export  # pylint: disable=g-import-not-at-top
  row = recommend.raw_rows(_context(), UserAttributes(25, "F", "writer"), ["b"], ITEMS)[0]
  record = export.raw_example(row)
  assert export.parse_raw_rows([record]) == [row]
  kinds = {name: value.WhichOneof("kind") for name, value in
           tf.train.Example.FromString(record).features.feature.items()}
  assert kinds[features.USER_PRIOR_LIKE_RATE] == "float_list"
  assert kinds[features.USER_AGE] == kinds[features.ITEM_YEAR] == "int64_list"
  assert kinds[features.ITEM_GENRES] == kinds[features.USER_ID] == "bytes_list"


def test_rank_leaves_seen_items_out_and_breaks_ties_by_item_id():
  items, scores = ["e", "d", "c", "b", "a"], [0.5, 0.9, 0.9, 0.1, 0.99]
  rows, left_out = recommend.rank(items, scores, {"a"}, 3, False, ITEMS)
  assert [(r.rank, r.item, r.score) for r in rows] == [(1, "c", 0.9), (2, "d", 0.9),
                                                        (3, "e", 0.5)]
  assert left_out == 1 and not any(r.seen for r in rows)
  assert rows[0].genres == (features.MISSING,) and rows[0].year == 0


def test_rank_with_seen_items_marks_them():
  rows, left_out = recommend.rank(["b", "a"], [0.2, 0.99], {"a"}, 5, True, ITEMS)
  assert [(r.item, r.seen) for r in rows] == [("a", True), ("b", False)]
  assert left_out == 0 and rows[0].genres == ("Drama",) and rows[0].year == 1999


@pytest.mark.parametrize("k", [0, -3, 2.5, True, "10"])
def test_a_bad_k_is_refused(k):
  with pytest.raises(recommend.RecommendError, match="-k must be a whole number"):
    recommend.check_k(k)


def _result(rows, notes=(), left_out=0):
  return recommend.Recommendations(
      user="u", model=recommend.INT8, model_dir="/runs/r/mobile/17/", known_user=True,
      context=_context(), user_attributes=UserAttributes(), candidates=1234,
      seen_left_out=left_out, rows=rows, notes=list(notes))


def test_table_lines_show_rank_item_genres_year_and_score():
  rows, _ = recommend.rank(["a", "zz"], [0.25, 0.875], set(), 2, False, ITEMS)
  lines = recommend.table_lines(_result(rows, ["Known user u: ..."], left_out=3))
  assert lines == [
      "Ranked 1,234 items of the run's data with the pushed int8 bundle (TFLite), version 17: "
      "/runs/r/mobile/17/",
      "Known user u: ...",
      "Left out 3 items the user already interacted with (--include-seen keeps them).",
      "rank  item  genres  year   score",
      "   1  zz    -          -  0.8750",
      "   2  a     Drama   1999  0.2500",
  ]


def test_table_lines_mark_seen_items_when_they_are_included():
  rows, _ = recommend.rank(["a", "b"], [0.5, 0.25], {"a"}, 2, True, ITEMS)
  lines = recommend.table_lines(_result(rows), include_seen=True)
  assert lines[-3].endswith("score  seen")
  assert lines[-2].endswith("0.5000  yes") and lines[-1].endswith("0.2500")


def test_an_unknown_user_is_named_with_what_the_ranking_rests_on():
  empty = recommend.request_context([], "x", 10, 2)
  with_table = recommend.describe_user("x", [], empty, UserAttributes(25, "M", "artist"), True)
  assert with_table[0].startswith("Unknown user x: no interaction in the run's data.")
  assert "the user table's attributes (age 25, gender M, artist)" in with_table[0]
  without = recommend.describe_user("x", [], empty, UserAttributes(), False)
  assert "no attributes (not in the user table either)" in without[0]
  known = recommend.describe_user("u", EVENTS, recommend.request_context(EVENTS, "u", 401, 5),
                                  UserAttributes(), False)
  assert known[0].startswith("Known user u: 4 interactions in the run's data (liked 50%), "
                             "the last on 1970-01-01 00:06 UTC; the history holds the last 4")


def test_read_user_data_finds_the_users_events_and_every_item():
  data = recommend.read_user_data(GENERIC_DATA, DataConfig(), "1")
  assert sorted((e.item, e.timestamp, e.label) for e in data.events) == [
      ("10", 100, 1), ("20", 100, 0), ("30", 200, 1), ("40", 700, 0)]
  assert data.catalogue == ("10", "20", "30", "40", "50") and data.now == 901
  assert data.users["1"] == UserAttributes(24, "M", "technician")
  assert data.items["30"].genres == ("Thriller",)
  assert recommend.read_user_data(GENERIC_DATA, DataConfig(), "nobody").events == ()


def _run_folder(tmp_path, mobile_versions=()):
  run_dir = tmp_path / "run"
  run_dir.mkdir()
  (run_dir / "config.yaml").write_text(f"output_dir: {run_dir}\n")
  (run_dir / "metadata.sqlite").write_text("")
  for version in mobile_versions:
    (run_dir / "mobile" / version).mkdir(parents=True)
  return str(run_dir)


def test_a_missing_run_folder_is_named(tmp_path):
  with pytest.raises(recommend.RecommendError,
                     match=f"^run folder {tmp_path / 'nope'} does not exist$"):
    recommend.recommend(str(tmp_path / "nope"), "u")


def test_a_folder_that_is_not_a_run_is_named(tmp_path):
  with pytest.raises(recommend.RecommendError, match="config.yaml does not exist"):
    recommend.recommend(str(tmp_path), "u")


@pytest.mark.parametrize("model,what", [("int8", "no mobile version in"),
                                        ("serving", "no SavedModel version in")])
def test_nothing_pushed_is_named(tmp_path, model, what):
  run_dir = _run_folder(tmp_path)
  with pytest.raises(recommend.RecommendError, match=f"^nothing pushed: {what} "):
    recommend.recommend(run_dir, "u", model=model)


def test_the_bundle_is_the_one_latest_names(tmp_path):
  run_dir = _run_folder(tmp_path, ["100", "200"])
  mobile = os.path.join(run_dir, "mobile")
  assert recommend.newest_mobile_version(mobile) == os.path.join(mobile, "200")
  with open(os.path.join(mobile, "latest"), "w") as f:
    f.write("100\n")
  assert recommend.newest_mobile_version(mobile) == os.path.join(mobile, "100")


def test_a_bad_k_or_model_fails_before_anything_is_read(tmp_path):
  with pytest.raises(recommend.RecommendError, match="got 0"):
    recommend.recommend(str(tmp_path / "nope"), "u", k=0)
  with pytest.raises(recommend.RecommendError, match="model must be int8 or serving"):
    recommend.recommend(str(tmp_path / "nope"), "u", model="teacher")
