"""End to end: the CLI runs the pipeline with BeamDagRunner on small synthetic data.

Checks what a user would: the printed component lines, MLMD executions, split
sizes, transformed output, the report, the cache on a rerun; and that bad data
and schema drift stop the run before anything downstream.
"""

import csv
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from interactions import synthetic
from models import features, push
from pipeline import mlmd
from tests import movielens_fixtures, saved_model_check

pytestmark = pytest.mark.slow

NODES = ["ImportSchemaGen", "InteractionsExampleGen", "StatisticsGen", "ExampleValidator",
         "ValidationGate", "Transform", "TeacherTrainer", "DistillationTrainer", "Evaluator",
         "Int8Evaluator", "ServingPusher", "MobilePusher"]
DATA_NODES = NODES[:NODES.index("Transform") + 1]
NUM_INTERACTIONS = 5000
# Few epochs: this checks the wiring, not model quality (that is `make bench`).
SHORT_TRAINING = ["--set", "teacher.training.max_epochs=3", "--set",
                  "student.training.max_epochs=3", "--set", "distillation.pruning_epochs=2",
                  "--set", "distillation.pruning_ramp_epochs=1",
                  "--set", "distillation.sparsity_steps=[0.8]",
                  "--set", "distillation.qat_epochs=1",
                  "--set", "distillation.representative_examples=200"]
# Models trained for 3 epochs are not good enough for the real thresholds; the wiring of
# the gate and the pushers is what these runs check, so every threshold is wide open.
OPEN_GATE = ["--set", "gate.auc_floor=0", "--set", "gate.max_auc_drop=1",
             "--set", "gate.max_gauc_drop=1", "--set", "gate.max_int8_auc_diff=1",
             "--set", "gate.max_tflite_size_ratio=1", "--set", "gate.max_int8_latency_ms=1000",
             "--set", "gate.latency_requests=20"]


def run_cli(*args, timeout=900, command="run"):
  return subprocess.run([sys.executable, "-m", "pipeline.cli", command, *args],
                        capture_output=True, text=True, timeout=timeout)


def tree_bytes(folder):
  """{relative path: bytes} of every file below folder (empty if it does not exist)."""
  result = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        result[os.path.relpath(path, folder)] = f.read()
  return result


def executions(run_dir):
  return {(r["node"], r["state"]) for r in
          mlmd.finished_executions(os.path.join(run_dir, "metadata.sqlite"))}


def count_records(split_uri):
  files = glob.glob(os.path.join(split_uri, "*.gz"))
  return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def parse_raw(split_uri):
  files = glob.glob(os.path.join(split_uri, "*.gz"))
  return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
  run_dir = str(tmp_path_factory.mktemp("run"))
  result = run_cli("--output", run_dir, "--num-interactions", str(NUM_INTERACTIONS),
                   *SHORT_TRAINING, *OPEN_GATE)
  assert result.returncode == 0, result.stderr[-3000:]
  return run_dir, result


def test_prints_one_line_per_component_and_where_artifacts_are(default_run):
  run_dir, result = default_run
  lines = result.stdout.splitlines()
  for node in NODES:
    matching = [l for l in lines if l.split() and l.split()[0] == node]
    assert len(matching) == 1, (node, result.stdout)
    assert matching[0].split()[1] == "done" and matching[0].rstrip().endswith(" s")
  assert f"Report: {run_dir}/report.json" in result.stdout
  assert "transform graph" in result.stdout
  for model in ("teacher (SavedModel variables)", "student (SavedModel)",
                "student int8 (TFLite)"):
    assert model in result.stdout


def test_report_has_the_three_models_with_their_files(default_run):
  run_dir, _ = default_run
  with open(os.path.join(run_dir, "report.json")) as f:
    saved = json.load(f)
  teacher, student, int8 = saved["models"]
  assert student["parameters"] < 0.1 * teacher["parameters"]
  assert int8["bytes"] < student["bytes"] < teacher["bytes"]
  assert abs(student["sparsity"] - 0.8) < 0.01
  bundle = saved["artifacts"]["student int8 bundle"]
  assert {"model.tflite", "manifest.json", "vocabularies"} <= set(os.listdir(bundle))
  serving = os.path.join(saved["artifacts"]["student SavedModel"], "Format-Serving")
  assert os.path.exists(os.path.join(serving, "assets.extra", "tf_serving_warmup_requests"))


def test_mlmd_has_a_complete_execution_per_component(default_run):
  run_dir, _ = default_run
  assert executions(run_dir) == {(node, "done") for node in NODES}


def test_split_sizes_and_cold_start_report(default_run):
  run_dir, _ = default_run
  outputs = mlmd.latest_outputs(os.path.join(run_dir, "metadata.sqlite"))
  examples_uri = outputs["InteractionsExampleGen"]["examples"].uri
  with open(os.path.join(run_dir, "data", "synthetic", "interactions.csv")) as f:
    total = sum(1 for _ in f) - 1
  sizes = {s: count_records(os.path.join(examples_uri, f"Split-{s}"))
           for s in ("train", "eval", "test")}
  assert sum(sizes.values()) == total
  assert abs(sizes["train"] / total - 0.8) < 0.02
  assert abs(sizes["eval"] / total - 0.1) < 0.02
  with open(os.path.join(run_dir, "report.json")) as f:
    saved = json.load(f)
  assert saved["data"]["cold_start"]["test"]["rows"] == sizes["test"]
  assert saved["data"]["cold_start"]["train"]["unknown_user_share"] == 0
  assert saved["data"]["cold_start"]["test"]["unknown_user_share"] > 0


def test_transformed_examples_match_the_vocabulary(default_run):
  run_dir, _ = default_run
  outputs = mlmd.latest_outputs(os.path.join(run_dir, "metadata.sqlite"))
  examples_uri = outputs["InteractionsExampleGen"]["examples"].uri
  transformed_uri = outputs["Transform"]["transformed_examples"].uri
  for split in ("train", "eval", "test"):
    assert count_records(os.path.join(transformed_uri, f"Split-{split}")) == count_records(
        os.path.join(examples_uri, f"Split-{split}"))

  tft_output = tft.TFTransformOutput(outputs["Transform"]["transform_graph"].uri)
  vocabulary = tft_output.vocabulary_by_name(features.ITEM_VOCABULARY)
  # Independent path: look raw ids up in the vocabulary file with plain Python.
  index = {item.decode(): i + 1 for i, item in enumerate(vocabulary)}
  oov = len(vocabulary) + 1
  raw = parse_raw(os.path.join(examples_uri, "Split-test"))[:200]
  spec = tft_output.raw_feature_spec()
  parsed = tf.io.parse_example(tf.constant(raw), spec)
  transformed = tft_output.transform_features_layer()(parsed)
  items = [x.decode() for x in parsed[features.ITEM_ID].numpy().ravel()]
  np.testing.assert_array_equal(transformed[features.ITEM_INDEX].numpy(),
                                [index.get(i, oov) for i in items])
  histories = parsed[features.HISTORY_ITEM_IDS].numpy()
  expected = [[0 if h == b"" else index.get(h.decode(), oov) for h in row] for row in histories]
  np.testing.assert_array_equal(transformed[features.HISTORY_INDEX].numpy(), expected)
  assert transformed[features.GENRE_INDEX].shape[1] == 6


def test_gate_table_thresholds_and_pushes_are_printed(default_run):
  run_dir, result = default_run
  out = result.stdout
  assert "Test split (" in out and "Gate (thresholds on the test split):" in out
  for model in ("teacher", "student", "int8"):
    assert any(line.split()[:1] == [model] for line in out.splitlines()), (model, out)
  assert "pass  student: auc " in out and "pass  int8: |auc - float student auc| " in out
  with open(os.path.join(run_dir, "report.json")) as f:
    test = json.load(f)["test"]
  assert test["blessed"] == {"student": True, "int8": True}
  serving, mobile = test["pushed"]["serving"], test["pushed"]["mobile"]
  assert serving["path"] == os.path.join(run_dir, "serving", "distillrec", serving["version"])
  assert mobile["path"] == os.path.join(run_dir, "mobile", mobile["version"])
  assert f"serving  version {serving['version']}: {serving['path']}" in out
  # Slices of the test split, for the three models.
  assert set(test["slices"]["user_in_train:new"]) == {"teacher", "student", "int8"}


def test_tfma_student_auc_equals_a_recomputation_through_serving_default(default_run):
  run_dir, _ = default_run
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  with open(os.path.join(run_dir, "report.json")) as f:
    saved = json.load(f)
  outputs = mlmd.latest_outputs(os.path.join(run_dir, "metadata.sqlite"))
  records = parse_raw(os.path.join(outputs["InteractionsExampleGen"]["examples"].uri,
                                   "Split-test"))
  serving = os.path.join(saved["artifacts"]["student SavedModel"], "Format-Serving")
  scores = tf.saved_model.load(serving).signatures["serving_default"](
      examples=tf.constant(records))["score"].numpy()
  labels = [tf.train.Example.FromString(r).features.feature[features.LABEL].int64_list.value[0]
            for r in records]
  tfma_auc = saved["test"]["slices"]["overall"]["student"]["auc"]
  assert abs(tfma_auc - roc_auc_score(labels, scores)) < 1e-3
  assert saved["test"]["slices"]["overall"]["student"]["rows"] == len(records)


def test_pushed_saved_model_scores_in_a_tensorflow_only_process(default_run, tmp_path):
  run_dir, _ = default_run
  with open(os.path.join(run_dir, "report.json")) as f:
    pushed = json.load(f)["test"]["pushed"]["serving"]["path"]
  outputs = mlmd.latest_outputs(os.path.join(run_dir, "metadata.sqlite"))
  records = parse_raw(os.path.join(outputs["InteractionsExampleGen"]["examples"].uri,
                                   "Split-test"))[:50]
  scores = saved_model_check.score_in_tensorflow_only_process(pushed, records, str(tmp_path))
  assert scores.shape == (50,) and np.all((scores > 0) & (scores < 1))


def test_rerun_uses_the_cache(default_run):
  run_dir, _ = default_run
  result = run_cli("--output", run_dir, "--num-interactions", str(NUM_INTERACTIONS),
                   *SHORT_TRAINING, *OPEN_GATE)
  assert result.returncode == 0, result.stderr[-3000:]
  cached = [l.split()[0] for l in result.stdout.splitlines() if " cached " in l]
  assert sorted(cached) == sorted(n for n in NODES if n != "ValidationGate") or \
      sorted(cached) == sorted(NODES)


def test_more_pushes_add_versions_and_a_failed_gate_pushes_nothing(default_run):
  """Runs after the others on the same folder: a second blessed run (another student seed)
  adds a version of each model; an impossible threshold changes nothing and exits 3;
  `verify` passes, then names a corrupted file."""
  run_dir, first = default_run
  serving_base, mobile_dir = (os.path.join(run_dir, "serving", "distillrec"),
                              os.path.join(run_dir, "mobile"))
  second = run_cli("--output", run_dir, "--num-interactions", str(NUM_INTERACTIONS),
                   *SHORT_TRAINING, *OPEN_GATE, "--set", "student.training.seed=43")
  assert second.returncode == 0, second.stderr[-3000:]
  assert len(push.versions(serving_base)) == 2 and len(push.versions(mobile_dir)) == 2
  with open(os.path.join(mobile_dir, "latest")) as f:
    assert f.read().strip() == push.versions(mobile_dir)[-1]

  before = (tree_bytes(serving_base), tree_bytes(mobile_dir))
  failed = run_cli("--output", run_dir, "--num-interactions", str(NUM_INTERACTIONS),
                   *SHORT_TRAINING, *OPEN_GATE, "--set", "student.training.seed=43",
                   "--set", "gate.auc_floor=0.99")
  assert failed.returncode == 3, (failed.stdout[-2000:], failed.stderr[-2000:])
  assert (tree_bytes(serving_base), tree_bytes(mobile_dir)) == before
  lines = failed.stderr.strip().splitlines()
  assert any(line.startswith("not blessed: student: auc ") and "vs limit 0.9900" in line
             for line in lines), failed.stderr
  assert any(line.startswith("not blessed: int8: auc ") for line in lines), failed.stderr
  assert "serving  nothing (student not blessed)" in failed.stdout

  verified = run_cli(run_dir, command="verify")
  assert verified.returncode == 0, verified.stderr
  assert "ok: serving: 2 version(s)" in verified.stdout
  model = os.path.join(mobile_dir, push.versions(mobile_dir)[0], "model.tflite")
  with open(model, "r+b") as f:
    f.seek(100)
    byte = f.read(1)
    f.seek(100)
    f.write(bytes([byte[0] ^ 0xFF]))
  broken = run_cli(run_dir, command="verify")
  assert broken.returncode == 1
  assert f"broken: {model}: sha256 differs from the manifest's" in broken.stderr


def _synthetic_copy(folder, n=3000, seed=5):
  synthetic.write_dataset(synthetic.make_spec(n, seed=seed), folder)
  return folder


def test_too_many_bad_rows_stop_before_anything_downstream(tmp_path):
  data = _synthetic_copy(str(tmp_path / "data"))
  path = os.path.join(data, "interactions.csv")
  with open(path) as f:
    lines = f.read().splitlines()
  for k in range(10, 10 + 60):  # 2% of rows get a non-numeric timestamp
    fields = lines[k].split(",")
    fields[3] = "soon"
    lines[k] = ",".join(fields)
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
  run_dir = str(tmp_path / "run")
  result = run_cli("--data", data, "--output", run_dir)
  assert result.returncode == 1
  assert "60 of" in result.stderr and "more than data.max_bad_row_fraction = 1.00%" in result.stderr
  assert "first bad row: interactions.csv, line 11, column 'timestamp': timestamp 'soon'" \
      in result.stderr
  states = executions(run_dir)
  assert ("InteractionsExampleGen", "FAILED") in states
  assert not any(node in ("StatisticsGen", "Transform") for node, _ in states)


def test_schema_drift_stops_at_the_validation_gate(tmp_path):
  data = _synthetic_copy(str(tmp_path / "data"))
  path = os.path.join(data, "users.csv")
  with open(path, newline="") as f:
    users = list(csv.DictReader(f))
  for k, user in enumerate(users):  # a flood of a gender value the schema does not know
    if k % 2 == 0:
      user["gender"] = "X"
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(users[0]))
    writer.writeheader()
    writer.writerows(users)
  run_dir = str(tmp_path / "run")
  result = run_cli("--data", data, "--output", run_dir)
  assert result.returncode == 1, result.stdout
  assert "Validation gate: the examples do not match schemas/schema.pbtxt" in result.stderr
  assert "feature 'user_gender': Unexpected string values" in result.stderr
  states = executions(run_dir)
  assert ("ExampleValidator", "done") in states and ("ValidationGate", "FAILED") in states
  assert not any(node == "Transform" for node, _ in states)


@pytest.mark.parametrize("fmt", ["ml-100k", "ml-1m", "ml-latest"])
def test_movielens_formats_run_through_transform(tmp_path, fmt):
  source = _synthetic_copy(str(tmp_path / "synthetic"), n=2000, seed=9)
  target = str(tmp_path / fmt)
  if fmt == "ml-100k":
    movielens_fixtures.write_ml100k(source, target, synthetic.GENRES)
  elif fmt == "ml-1m":
    movielens_fixtures.write_ml1m(source, target)
  else:
    movielens_fixtures.write_ml_latest(source, target)
  run_dir = str(tmp_path / "run")
  result = run_cli("--data", target, "--output", run_dir, "--until", "Transform")
  assert result.returncode == 0, result.stderr[-3000:]
  assert executions(run_dir) == {(node, "done") for node in DATA_NODES}
  with open(os.path.join(run_dir, "report.json")) as f:
    data = json.load(f)["data"]
  assert data["format"] == fmt and data["bad_rows"] == 0
  with open(os.path.join(source, "interactions.csv")) as f:
    assert data["valid_rows"] == sum(1 for _ in f) - 1
