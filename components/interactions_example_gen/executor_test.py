"""InteractionsExampleGen executor on small testdata."""

import csv
import glob
import json
import os
import shutil

import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from components.interactions_example_gen import executor
from interactions import beam_transforms, synthetic
from interactions.config import DataConfig, ExampleGenConfig
from interactions.sources import DataError
from models import features

GENERIC = os.path.join(os.path.dirname(__file__), "..", "..", "interactions", "testdata",
                       "generic")
HEADER = "user_id,item_id,rating,timestamp\n"
# As pipeline/runners.py does for the DirectRunner: with the workers' dependencies named,
# TFX does not build (and leave in the temp folder) an sdist of itself per executor.
BEAM_ARGS = ["--direct_running_mode=in_memory",
             "--setup_file=" + os.path.join(os.path.dirname(__file__), "..", "..", "setup.py")]


def run_executor(data_dir, output_dir, data_overrides=None, gen_overrides=None):
  data_config = DataConfig(**(data_overrides or {}))
  gen_config = ExampleGenConfig(**(gen_overrides or {}))
  examples = standard_artifacts.Examples()
  examples.uri = str(output_dir)
  context = executor.Executor.Context(beam_pipeline_args=BEAM_ARGS,
                                      tmp_dir=os.path.join(str(output_dir), ".tmp"),
                                      unique_id="test")
  executor.Executor(context).Do({}, {"examples": [examples]}, {
      "input_base": str(data_dir),
      "data_config": data_config.to_json(),
      "example_gen_config": gen_config.to_json()})
  return examples


def read_split(examples, split):
  files = glob.glob(os.path.join(artifact_utils.get_split_uri([examples], split), "*.gz"))
  rows = []
  for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
    parsed = tf.train.Example.FromString(record.numpy()).features.feature
    row = {}
    for key, value in parsed.items():
      kind = value.WhichOneof("kind")
      values = list(getattr(value, kind).value)
      row[key] = [v.decode() if isinstance(v, bytes) else v for v in values]
    rows.append(row)
  return sorted(rows, key=lambda r: (r[features.TIMESTAMP][0], r[features.USER_ID][0],
                                     r[features.ITEM_ID][0]))


def test_time_split_and_point_in_time_features_on_fixture(tmp_path):
  examples = run_executor(GENERIC, tmp_path / "out",
                          gen_overrides={"split_fractions": (0.5, 0.25, 0.25),
                                         "history_length": 4})
  assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval", "test"]
  splits = {name: read_split(examples, name) for name in beam_transforms.SPLITS}
  # 12 timestamps; boundaries at sorted positions 6 and 9: 400 and 700.
  assert [r[features.TIMESTAMP][0] for r in splits["train"]] == [100, 100, 150, 200, 250, 300]
  assert [r[features.TIMESTAMP][0] for r in splits["eval"]] == [400, 500, 600]
  assert [r[features.TIMESTAMP][0] for r in splits["test"]] == [700, 800, 900]

  # User 1 at t=700 watched item 40; earlier: 30 (t=200), then 20 and 10 (both t=100,
  # most recent first means later line first).
  row = splits["test"][0]
  assert row[features.USER_ID] == ["1"] and row[features.ITEM_ID] == ["40"]
  assert row[features.HISTORY_ITEM_IDS] == ["30", "20", "10", ""]
  assert row[features.USER_PRIOR_COUNT] == [3]
  assert row[features.USER_PRIOR_LIKE_RATE] == [pytest.approx(2 / 3)]
  assert row[features.LABEL] == [0]
  assert row[features.USER_AGE] == [24] and row[features.USER_GENDER] == ["M"]
  assert row[features.USER_OCCUPATION] == ["technician"]
  assert row[features.ITEM_GENRES] == ["Action", "Comedy", "Drama"]
  assert row[features.ITEM_YEAR] == [1995]
  # Evaluation-only slices: user 1 and item 40 (user 2, t=300) are in train; 3 earlier events.
  assert row[features.USER_IN_TRAIN] == ["known"] and row[features.ITEM_IN_TRAIN] == ["known"]
  assert row[features.USER_ACTIVITY] == ["1-4"]
  # eval: user 4 (t=500, 600) is new, item 50 (t=400) is new, user 3 at t=400 is known.
  by_time = {r[features.TIMESTAMP][0]: r for r in splits["eval"]}
  assert by_time[500][features.USER_IN_TRAIN] == ["new"]
  assert by_time[500][features.USER_ACTIVITY] == ["0"]
  assert by_time[400][features.ITEM_IN_TRAIN] == ["new"]
  assert by_time[400][features.USER_IN_TRAIN] == ["known"]
  # Events in the same second do not see each other.
  first_two = splits["train"][:2]
  assert all(r[features.HISTORY_ITEM_IDS] == [""] * 4 for r in first_two)

  summary = json.loads(examples.get_string_custom_property(executor.INGESTION_PROPERTY))
  assert summary["boundaries"] == [400, 700]
  assert summary["bad_rows"] == 0 and summary["valid_rows"] == 12
  cold = summary["cold_start"]
  # eval: user 4 (t=500, 600) is new; item 50 (t=400) is new.
  assert cold["eval"]["unknown_user_share"] == pytest.approx(2 / 3)
  assert cold["eval"]["unknown_item_share"] == pytest.approx(1 / 3)
  # test: every user is known; item 50 (t=800) never appears in train.
  assert cold["test"]["unknown_user_share"] == 0
  assert cold["test"]["unknown_item_share"] == pytest.approx(1 / 3)
  # A row whose user or item is new: all of eval (t=400 new item, t=500 and 600 new
  # user), one of test (item 50 at t=800).
  assert cold["eval"]["unknown_user_or_item_share"] == 1
  assert cold["test"]["unknown_user_or_item_share"] == pytest.approx(1 / 3)
  assert examples.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"


def _naive_history(events, index, length):
  """Independent recomputation: scan all events for strictly earlier ones of the same user."""
  user, _, timestamp, _, line = events[index]
  earlier = [e for e in events if e[0] == user and e[2] < timestamp]
  earlier.sort(key=lambda e: (e[2], e[4]), reverse=True)
  likes = sum(e[3] for e in earlier)
  history = [e[1] for e in earlier[:length]]
  return (history + [""] * (length - len(history)), len(earlier),
          likes / len(earlier) if earlier else 0.0)


def test_no_leakage_against_an_independent_recomputation(tmp_path):
  data_dir = tmp_path / "data"
  synthetic.write_dataset(synthetic.make_spec(2500, seed=11), str(data_dir))
  examples = run_executor(data_dir, tmp_path / "out", gen_overrides={"history_length": 5})
  with open(data_dir / synthetic.INTERACTIONS_FILE) as f:
    events = [(r["user_id"], r["item_id"], int(r["timestamp"]), int(int(r["rating"]) >= 4), line)
              for line, r in enumerate(csv.DictReader(f), start=2)]
  by_key = {(e[0], e[1], e[2]): i for i, e in enumerate(events)}
  splits = {name: read_split(examples, name) for name in beam_transforms.SPLITS}
  assert sum(len(rows) for rows in splits.values()) == len(events)
  train_max = max(r[features.TIMESTAMP][0] for r in splits["train"])
  eval_times = [r[features.TIMESTAMP][0] for r in splits["eval"]]
  test_times = [r[features.TIMESTAMP][0] for r in splits["test"]]
  assert train_max < min(eval_times) and max(eval_times) < min(test_times)
  # Split sizes follow the 80/10/10 timestamp quantiles (ties move rows later).
  assert abs(len(splits["train"]) / len(events) - 0.8) < 0.01
  checked = 0
  for rows in splits.values():
    for row in rows:
      index = by_key[(row[features.USER_ID][0], row[features.ITEM_ID][0],
                      row[features.TIMESTAMP][0])]
      history, count, rate = _naive_history(events, index, 5)
      assert row[features.HISTORY_ITEM_IDS] == history
      assert row[features.USER_PRIOR_COUNT] == [count]
      assert row[features.USER_PRIOR_LIKE_RATE][0] == pytest.approx(rate, abs=1e-6)
      assert row[features.LABEL] == [events[index][3]]
      checked += 1
  assert checked == len(events)


def _write_rows(folder, good, bad_lines):
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "interactions.csv"), "w") as f:
    f.write(HEADER)
    for k in range(good):
      f.write(f"u{k % 7},i{k % 11},{1 + k % 5},{1000 + k}\n")
    for line in bad_lines:
      f.write(line + "\n")


def test_bad_rows_under_the_limit_are_quarantined(tmp_path):
  _write_rows(tmp_path / "data", 300, ["u1,i1,4,not-a-time"])
  examples = run_executor(tmp_path / "data", tmp_path / "out")
  summary = beam_transforms.read_summary(examples.uri)
  assert summary["bad_rows"] == 1 and summary["valid_rows"] == 300
  assert summary["first_bad_row"] == ("interactions.csv, line 302, column 'timestamp': timestamp "
                                      "'not-a-time' is not a number (expected Unix seconds)")
  quarantined = [json.loads(line) for path in
                 glob.glob(os.path.join(examples.uri, "quarantine", "*.jsonl"))
                 for line in open(path)]
  assert quarantined == [{"file": "interactions.csv", "line": 302, "column": "timestamp",
                          "reason": "timestamp 'not-a-time' is not a number (expected Unix "
                                    "seconds)", "text": "u1,i1,4,not-a-time"}]


def test_too_many_bad_rows_fail_with_first_location(tmp_path):
  _write_rows(tmp_path / "data", 100, ["u1,i1,7,5000", "u1,i1,3,5001", "u1,i1,3,5001"])
  with pytest.raises(DataError) as error:
    run_executor(tmp_path / "data", tmp_path / "out")
  message = str(error.value)
  # A rating out of range and a duplicate (same user, item, timestamp): 2 of 103 > 1%.
  assert "interactions.csv: 2 of 103 rows (1.94%) are unusable" in message
  assert "max_bad_row_fraction = 1.00%" in message
  assert "first bad row: interactions.csv, line 102, column 'rating': rating '7' outside [1, 5]" \
      in message


def test_duplicates_are_quarantined(tmp_path):
  _write_rows(tmp_path / "data", 300, ["u0,i0,3,1000"])  # repeats line 2
  examples = run_executor(tmp_path / "data", tmp_path / "out")
  summary = beam_transforms.read_summary(examples.uri)
  assert summary["bad_rows"] == 1 and summary["duplicate_rows"] == 1
  # The duplicate is not counted as valid: 300 valid of 301 rows, 1 quarantined.
  assert summary["valid_rows"] == 300 and summary["total_rows"] == 301
  assert summary["first_bad_row"] == ("interactions.csv, line 302, column 'timestamp': duplicate "
                                      "of line 2: same user, item and timestamp")
  assert sum(len(read_split(examples, s)) for s in beam_transforms.SPLITS) == 300


def test_nothing_valid_fails(tmp_path):
  _write_rows(tmp_path / "data", 0, ["u1,i1,x,1", "u1,i2,4,y"])
  with pytest.raises(DataError, match=r"no valid interaction rows remain \(2 of 2 rows unusable\); "
                     r"first bad row: interactions.csv, line 2, column 'rating'"):
    run_executor(tmp_path / "data", tmp_path / "out")


def test_a_split_left_empty_fails(tmp_path):
  os.makedirs(tmp_path / "data")
  shutil.copy(os.path.join(GENERIC, "items.csv"), tmp_path / "data" / "items.csv")
  with open(tmp_path / "data" / "interactions.csv", "w") as f:
    f.write(HEADER + "".join(f"u{k},10,4,500\n" for k in range(20)))
  with pytest.raises(DataError, match=r"the time split left train, eval empty \(boundaries \[500, 500\]\)"):
    run_executor(tmp_path / "data", tmp_path / "out")
