"""End to end: the CLI runs the pipeline with BeamDagRunner on small synthetic data.

Checks what a user would: the printed component lines, MLMD executions, split
sizes, transformed output, the report, the cache on a rerun; and that bad data
and schema drift stop the run before anything downstream.
"""

import csv
import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from interactions import synthetic
from models import distillation_trainer, export, features, push
from pipeline import mlmd, recommend
from tests import movielens_fixtures, saved_model_check, serving_rest

pytestmark = pytest.mark.slow

NODES = ["ImportSchemaGen", "InteractionsExampleGen", "StatisticsGen", "ExampleValidator",
         "ValidationGate", "Transform", "TeacherTrainer", "DistillationTrainer", "Evaluator",
         "Int8Evaluator", "ServingPusher", "MobilePusher"]
DATA_NODES = NODES[:NODES.index("Transform") + 1]
NUM_INTERACTIONS = 5000
# Few epochs: this checks the wiring, not model quality (that is `make bench`).
# (An epoch of one pass: at this size a pass is ~8 steps, and the teacher's default epoch
# of at least 450 steps would be dozens of passes.)
SHORT_TRAINING = ["--set", "teacher.training.max_epochs=3",
                  "--set", "teacher.training.min_steps_per_epoch=0", "--set",
                  "student.training.max_epochs=3", "--set", "distillation.pruning_epochs=2",
                  "--set", "distillation.pruning_ramp_epochs=1",
                  "--set", "distillation.sparsity_steps=[0.8]",
                  # A budget every step meets: a student of 3 epochs is pruned all the same.
                  "--set", "distillation.max_auc_drop=1",
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
  assert int8["bytes"] < student["bytes"]
  bundle = saved["artifacts"]["student int8 bundle"]
  assert {"model.tflite", "manifest.json", "vocabularies"} <= set(os.listdir(bundle))
  serving = os.path.join(saved["artifacts"]["student SavedModel"], "Format-Serving")
  assert os.path.exists(os.path.join(serving, "assets.extra", "tf_serving_warmup_requests"))
  # The teacher's figure is its variables; the student's is its whole SavedModel, whose
  # graph (four signatures, the Transform graph in each) is ~2.6 MB at any data size. On
  # this small run the teacher's tables are as small as that graph, so the student's
  # variables are what compare.
  assert export.directory_bytes(os.path.join(serving, "variables")) < teacher["bytes"]
  assert abs(student["sparsity"] - 0.8) < 0.01


def test_the_default_student_distills_logits_alone_beside_transfer_rows(default_run):
  # The small run's train split gets transfer rows, and feature-level distillation is off
  # by default: no hint loss was trained.
  run_dir, _ = default_run
  outputs = mlmd.latest_outputs(os.path.join(run_dir, "metadata.sqlite"))
  model_run = outputs["DistillationTrainer"]["model_run"].uri
  report = distillation_trainer.CompressionReport.read(model_run)
  distill = report.student.stages["distill"]
  assert report.config["distillation"]["hint_weight"] == 0.0
  assert distill["transfer_rows"] == distill["train_rows"] > 0
  assert distill["hint_weight"] == 0.0 and "final_hint_loss" not in distill


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


def test_transform_only_analyzes(default_run):
  # The trainers read ExampleGen's examples through the graph (models/inputs_test.py).
  run_dir, _ = default_run
  outputs = mlmd.latest_outputs(os.path.join(run_dir, "metadata.sqlite"))
  assert "transform_graph" in outputs["Transform"]
  assert "transformed_examples" not in outputs["Transform"]
  assert not glob.glob(os.path.join(run_dir, "pipeline_root", "Transform", "transformed*"))


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
  # The Evaluator's AUC is exact (models.tfma_metrics.ExactAUC), not TFMA's bucketed one:
  # it differs from sklearn's only where float noise between TFMA's batches and this
  # one-batch call breaks the fake-quantized student's many tied scores differently
  # (4.2e-5 on a fresh clone's default run).
  assert abs(tfma_auc - roc_auc_score(labels, scores)) < 2e-4
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


# --- the README's TF Serving requests, through the pushed SavedModel --------------------

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _example_as_instance(record, instance_inputs):
  """A serialized raw tf.Example as the predict_instances instance of the same row: what
  the README's two requests must agree on (genres padded with "" to the signature's
  width; every other input has the example's own length)."""
  example = tf.train.Example.FromString(record)
  instance = {}
  for name, spec in instance_inputs.items():
    feature = example.features.feature[name]
    values = list(getattr(feature, feature.WhichOneof("kind")).value)
    if spec.shape[1:]:
      values += [b""] * (spec.shape[1] - len(values))
    instance[name] = values if spec.shape[1:] else values[0]
  return instance


def _check_readme_rest_requests(readme_text, serving_dir, raw_feature_spec, work_dir):
  """Scores the README's TF Serving requests the way the server would and checks them;
  returns {signature: outputs}. A helper so the same checks can be run on any pushed
  model (and on a deliberately broken README)."""
  section = serving_rest.readme_section(readme_text)
  calls = {}
  for call in serving_rest.readme_calls(section):
    body = serving_rest.parse_body(call.body)
    calls[serving_rest.signature_name(body)] = (call, body)
  assert sorted(calls) == sorted([export.SERVING_SIGNATURE, export.INSTANCES_SIGNATURE])
  # The deployment around the calls: the URLs ask for the model models.config serves from
  # the folder docker mounts, which is where ServingPusher writes.
  model_name = push.PushConfig().model_name
  assert {call.model for call, _ in calls.values()} == {model_name}
  assert f'name: "{model_name}"' in section and f'base_path: "/models/{model_name}"' in section
  assert '-v "$PWD/runs/default/serving:/models:ro"' in section
  assert "--model_config_file=/config/models.config" in section

  specs = serving_rest.signature_specs(serving_dir)
  outputs = {}
  tensors = {}
  for signature, (call, body) in calls.items():
    inputs, output_names = specs[signature]
    tensors[signature] = serving_rest.instances_to_tensors(body, inputs)
    outputs[signature] = serving_rest.predict_in_tensorflow_only_process(
        serving_dir, signature, tensors[signature], work_dir)
    assert sorted(outputs[signature]) == output_names == ["logit", "score"]
    scores, logits = outputs[signature]["score"], outputs[signature]["logit"]
    assert scores.shape == (len(body["instances"]),)
    assert np.all(np.isfinite(scores) & (scores > 0) & (scores < 1)), scores
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-logits.astype(np.float64))), atol=1e-6)
    # The answer shown under the curl call has the form TF Serving writes for these outputs.
    shown = json.loads(call.response)["predictions"]
    expected = serving_rest.predictions(outputs[signature])
    assert [sorted(p) for p in shown] == [sorted(p) for p in expected], call.response
    assert all(0 < p["score"] < 1 for p in shown)

  # The b64 example is a complete raw row: every raw feature, each parsing by the schema.
  records = [bytes(r) for r in tensors[export.SERVING_SIGNATURE][export.EXAMPLES_INPUT]]
  for record in records:
    assert set(tf.train.Example.FromString(record).features.feature) >= set(raw_feature_spec)
  tf.io.parse_example(tf.constant(records), raw_feature_spec)
  # The first predict_instances instance is that same row, so both signatures score it alike.
  instance_inputs = specs[export.INSTANCES_SIGNATURE][0]
  first = {name: np.asarray(value[0]).tolist()
           for name, value in tensors[export.INSTANCES_SIGNATURE].items()}
  assert first == _example_as_instance(records[0], instance_inputs)
  assert abs(outputs[export.SERVING_SIGNATURE]["score"][0]
             - outputs[export.INSTANCES_SIGNATURE]["score"][0]) <= 1e-6
  return outputs


def test_readme_rest_requests_score_through_the_pushed_saved_model(default_run, tmp_path):
  """README, "Serving the student with TF Serving": what it tells a user to send works.
  Its bodies come from another run, so unknown ids go to OOV; rules and plumbing count."""
  run_dir, _ = default_run
  with open(os.path.join(run_dir, "report.json")) as f:
    pushed = json.load(f)["test"]["pushed"]["serving"]["path"]
  outputs = mlmd.latest_outputs(os.path.join(run_dir, "metadata.sqlite"))
  raw_feature_spec = tft.TFTransformOutput(
      outputs["Transform"]["transform_graph"].uri).raw_feature_spec()
  with open(README) as f:
    readme_text = f.read()
  _check_readme_rest_requests(readme_text, pushed, raw_feature_spec, str(tmp_path))


# --- distillrec recommend on the finished run ------------------------------------------


def _run_tables(run_dir):
  """The run's synthetic data read with csv alone: ([(line, row)], users, items)."""
  folder = os.path.join(run_dir, "data", "synthetic")
  with open(os.path.join(folder, "interactions.csv"), newline="") as f:
    interactions = list(enumerate(csv.DictReader(f), start=2))
  tables = []
  for name, key in (("users.csv", "user_id"), ("items.csv", "item_id")):
    with open(os.path.join(folder, name), newline="") as f:
      tables.append({row[key]: row for row in csv.DictReader(f)})
  return interactions, tables[0], tables[1]


def _busiest_user(run_dir):
  interactions, _, _ = _run_tables(run_dir)
  counts = {}
  for _, row in interactions:
    counts[row["user_id"]] = counts.get(row["user_id"], 0) + 1
  return max(sorted(counts), key=counts.get)


def _independent_rows(run_dir, user, history_length=20):
  """(every item, a raw row per item, the items the user saw), from the CSV files alone:
  the history is the user's last items by (timestamp, line), most recent first."""
  interactions, users, items = _run_tables(run_dir)
  mine = sorted((int(row["timestamp"]), line, row) for line, row in interactions
                if row["user_id"] == user)
  recent = [row["item_id"] for _, _, row in reversed(mine)][:history_length]
  likes = sum(int(row["rating"]) >= 4 for _, _, row in mine)
  profile = users[user]
  catalogue = sorted({row["item_id"] for _, row in interactions})
  rows = [{features.USER_ID: user, features.ITEM_ID: item,
           features.HISTORY_ITEM_IDS: recent + [""] * (history_length - len(recent)),
           features.USER_PRIOR_COUNT: len(mine),
           features.USER_PRIOR_LIKE_RATE: float(np.float32(likes / len(mine))),
           features.USER_AGE: int(profile["age"]), features.USER_GENDER: profile["gender"],
           features.USER_OCCUPATION: profile["occupation"],
           features.ITEM_GENRES: items[item]["genres"].split("|"),
           features.ITEM_YEAR: int(items[item]["year"])} for item in catalogue]
  return catalogue, rows, {row["item_id"] for _, _, row in mine}


def test_recommend_lists_k_distinct_items_the_user_has_not_seen(default_run):
  run_dir, _ = default_run
  user = _busiest_user(run_dir)
  catalogue, _, seen = _independent_rows(run_dir, user)
  result = recommend.recommend(run_dir, user, k=10)
  items = [row.item for row in result.rows]
  assert len(items) == len(set(items)) == 10
  assert not set(items) & seen and not any(row.seen for row in result.rows)
  assert [row.rank for row in result.rows] == list(range(1, 11))
  assert [row.score for row in result.rows] == sorted((row.score for row in result.rows),
                                                      reverse=True)
  assert result.known_user and result.seen_left_out == len(seen) > 0
  assert result.candidates == len(catalogue)
  everything = recommend.recommend(run_dir, user, k=len(catalogue), include_seen=True)
  assert [row.item for row in everything.rows if row.seen] and everything.seen_left_out == 0
  assert sorted(row.item for row in everything.rows) == catalogue
  assert {row.item for row in everything.rows if row.seen} == seen


def test_recommend_ranks_an_unknown_user_from_attributes_and_says_so(default_run):
  run_dir, _ = default_run
  result = recommend.recommend(run_dir, "no-such-user", k=5)
  assert not result.known_user and len({row.item for row in result.rows}) == 5
  assert result.notes[0].startswith(
      "Unknown user no-such-user: no interaction in the run's data. Ranked by the model from "
      "attributes and history alone: an out-of-vocabulary user id, an empty history, no "
      "attributes")
  assert result.context.history == ("",) * 20 and result.context.prior_count == 0


def test_recommend_int8_scores_equal_the_bundles_predict_on_the_same_rows(default_run):
  run_dir, _ = default_run
  user = _busiest_user(run_dir)
  mobile = os.path.join(run_dir, "mobile")
  with open(os.path.join(mobile, "latest")) as f:
    bundle_dir = os.path.join(mobile, f.read().strip())
  catalogue, rows, _ = _independent_rows(run_dir, user)
  scores = dict(zip(catalogue, export.MobileBundle(bundle_dir).predict(rows)))
  result = recommend.recommend(run_dir, user, k=len(catalogue), include_seen=True)
  assert result.model_dir == bundle_dir
  np.testing.assert_array_equal([row.score for row in result.rows],
                                [scores[row.item] for row in result.rows])
  assert [row.item for row in result.rows] == sorted(catalogue, key=lambda i: (-scores[i], i))


def test_recommend_serving_scores_equal_predict_instances_on_the_same_rows(default_run):
  run_dir, _ = default_run
  user = _busiest_user(run_dir)
  base = os.path.join(run_dir, "serving", "distillrec")
  version_dir = os.path.join(base, max(os.listdir(base), key=int))
  catalogue, rows, _ = _independent_rows(run_dir, user)
  # Another signature of the same model: named dense tensors, no tf.Example on this path.
  signature = tf.saved_model.load(version_dir).signatures["predict_instances"]
  specs = signature.structured_input_signature[1]
  width = specs[features.ITEM_GENRES].shape[1]
  instances = {}
  for name, spec in specs.items():
    values = [row[name] for row in rows]
    if name == features.ITEM_GENRES:
      values = [genres + [""] * (width - len(genres)) for genres in values]
    instances[name] = tf.constant(values, dtype=spec.dtype)
  scores = dict(zip(catalogue, signature(**instances)["score"].numpy()))
  result = recommend.recommend(run_dir, user, k=len(catalogue), include_seen=True,
                               model=recommend.SERVING)
  assert result.model_dir == version_dir
  np.testing.assert_allclose([row.score for row in result.rows],
                             [scores[row.item] for row in result.rows], atol=1e-6)


def test_recommend_cli_prints_the_table(default_run):
  run_dir, _ = default_run
  user = _busiest_user(run_dir)
  _, _, seen = _independent_rows(run_dir, user)
  shown = run_cli("--run", run_dir, "--user", user, "-k", "5", command="recommend")
  assert shown.returncode == 0, shown.stderr
  lines = shown.stdout.strip().splitlines()
  header = [i for i, line in enumerate(lines)
            if line.split() == ["rank", "item", "genres", "year", "score"]]
  assert len(header) == 1, shown.stdout
  table = [line.split() for line in lines[header[0] + 1:]]
  assert [fields[0] for fields in table] == ["1", "2", "3", "4", "5"]
  expected = recommend.recommend(run_dir, user, k=5).rows
  assert [fields[1] for fields in table] == [row.item for row in expected]
  assert [fields[-1] for fields in table] == [f"{row.score:.4f}" for row in expected]
  assert not {fields[1] for fields in table} & seen
  assert f"Known user {user}: " in shown.stdout and "int8 bundle (TFLite)" in lines[0]
  unknown = run_cli("--run", run_dir, "--user", "no-such-user", command="recommend")
  assert unknown.returncode == 0 and "Unknown user no-such-user: " in unknown.stdout
  serving = run_cli("--run", run_dir, "--user", user, "--model", "serving", command="recommend")
  assert serving.returncode == 0 and "SavedModel (serving_default)" in serving.stdout
  for args, message in (
      (("--run", run_dir, "--user", user, "-k", "0"),
       "distillrec: -k must be a whole number of items, at least 1, got 0"),
      (("--run", run_dir + "-missing", "--user", user),
       f"distillrec: run folder {run_dir}-missing does not exist")):
    bad = run_cli(*args, command="recommend")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [message]


# --- report.md with charts -----------------------------------------------------------


def _report_md(run_dir):
  """(report.md's text, the PNGs it links, relative to the run folder)."""
  with open(os.path.join(run_dir, "report.md")) as f:
    text = f.read()
  return text, re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)


def _png_bytes(path):
  """The file's bytes, after checking it is a PNG that PIL reads, of a chart's size."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with open(path, "rb") as f:
    data = f.read()
  assert data[:8] == b"\x89PNG\r\n\x1a\n", path
  with Image.open(path) as image:
    image.verify()
  with Image.open(path) as image:
    assert image.format == "PNG" and image.size[0] >= 400 and image.size[1] >= 200, path
  return data


def test_report_md_links_valid_charts_and_the_report_command_writes_it_again(default_run):
  run_dir, result = default_run
  assert f"Report with charts: {run_dir}/report.md" in result.stdout
  assert "note: report.md" not in result.stderr, result.stderr[-3000:]
  text, links = _report_md(run_dir)
  assert sorted(links) == sorted(f"report/{name}" for name in (
      "data_timeline.png", "cold_start.png", "component_times.png", "test_by_user.png",
      "auc_vs_bytes.png", "scores.png")), text
  assert "Chart not drawn" not in text and "## Not in this report" not in text
  charts = {link: _png_bytes(os.path.join(run_dir, link)) for link in links}
  assert sorted(os.listdir(os.path.join(run_dir, "report"))) == sorted(
      os.path.basename(link) for link in links)
  # The score chart's rows went through the gate's code: on the whole test split the int8
  # student's AUC is the Int8Evaluator's.
  with open(os.path.join(run_dir, "report.json")) as f:
    test = json.load(f)["test"]
  rows = test["slices"]["overall"]["int8"]["rows"]
  assert f"P(like) of all {rows:,} test rows" in text
  scores_section = text.split("## Teacher vs int8 student scores (test split)")[1]
  int8_row = [line.split("|") for line in scores_section.split("\n## ")[0].splitlines()
              if line.startswith("| int8 | ")]
  assert len(int8_row) == 1, scores_section
  assert int8_row[0][2].strip() == f"{test['slices']['overall']['int8']['auc']:.4f}"

  again = run_cli(run_dir, command="report")
  assert again.returncode == 0, again.stderr[-3000:]
  assert f"Report with charts: {run_dir}/report.md" in again.stdout
  assert f"Report: {run_dir}/report.json" in again.stdout
  regenerated, links_again = _report_md(run_dir)
  assert regenerated == text
  for link in links_again:
    data = _png_bytes(os.path.join(run_dir, link))
    # Scores come from TensorFlow in another process; every other chart is the same bytes.
    if link != "report/scores.png":
      assert data == charts[link], link


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


def test_a_multi_processing_run_prints_no_traceback(tmp_path):
  """Beam workers (what runs at 1e6 rows by default, `beam.direct_running_mode=auto`) that
  exit holding TensorFlow functions print TensorFlow's "Exception ignored in:
  AtomicFunction.__del__" tracebacks unless pipeline/worker_site reaches them; Transform's
  workers hold such functions. The console of a normal run must be clean."""
  run_dir = str(tmp_path / "run")
  result = run_cli("--output", run_dir, "--num-interactions", "2000", "--until", "Transform",
                   "--set", "beam.direct_running_mode=multi_processing",
                   "--set", "beam.direct_num_workers=2")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "--direct_running_mode=multi_processing" in result.stdout
  assert executions(run_dir) == {(node, "done") for node in DATA_NODES}
  for marker in ("Traceback", "Exception ignored"):
    assert marker not in result.stdout + result.stderr, result.stderr[-3000:]


def test_choose_trains_students_on_the_runs_teacher_and_shows_eval_figures_only(
    default_run, tmp_path):
  """benchmarks/choose.py: one student per variant and seed on a finished run's teacher;
  its figures are the eval split's (the budget's), none of the test split's."""
  run_dir, _ = default_run
  script = os.path.join(os.path.dirname(README), "benchmarks", "choose.py")
  quick = ["student.training.max_epochs=2", "distillation.sparsity_steps=[0.8]",
           "distillation.pruning_epochs=1", "distillation.pruning_ramp_epochs=1",
           "distillation.qat_epochs=1", "distillation.representative_examples=100"]
  done = subprocess.run([sys.executable, script, "--run", run_dir, "--output",
                         str(tmp_path / "students"), "--seeds", "42",
                         "--variant", "default", *quick,
                         "--variant", "no_cold_start", *quick,
                         "distillation.cold_start_targets=false"],
                        capture_output=True, text=True, timeout=900, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  lines = done.stdout.splitlines()
  rows = [json.loads(line) for line in lines if line.startswith("{")]
  assert [(r["variant"], r["seed"]) for r in rows] == [("default", 42), ("no_cold_start", 42)]
  for row in rows:
    assert set(row) == {"variant", "seed", "seconds", "eval_auc", "eval_gauc",
                        "eval_gauc_known", "eval_gauc_new"}
    assert -1 < row["eval_auc"] < 1
  # The variant's override reached its student: same seed, other targets, other figures.
  figures = [{k: v for k, v in row.items() if k.startswith("eval_")} for row in rows]
  assert figures[0] != figures[1], figures
  assert not any("test" in line.lower() for line in lines)
  table = [line for line in lines if line.startswith("| default") or
           line.startswith("| no_cold_start")]
  assert len(table) == 2 and table[0].split(" | ")[6] == "+0.0000"
  assert os.path.isdir(tmp_path / "students" / "no_cold_start" / "42" / "mobile_model")


def test_latency_benchmark_measures_every_scorer_on_the_run(default_run, tmp_path):
  """benchmarks/latency.py on a finished run: every scorer answered, figures consistent."""
  run_dir, _ = default_run
  script = os.path.join(os.path.dirname(README), "benchmarks", "latency.py")
  output = str(tmp_path / "latency.json")
  done = subprocess.run([sys.executable, script, "--run", run_dir, "--rounds", "20",
                         "--output", output], capture_output=True, text=True, timeout=900,
                        check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  with open(output) as f:
    result = json.load(f)
  scorers = result["scorers"]
  assert set(scorers) == {
      "teacher SavedModel, serving_default", "student SavedModel, serving_default",
      "student SavedModel, rank (context once)", "student int8 TFLite, MobileBundle.predict",
      "student int8 TFLite, MobileBundle.rank (context once)",
      "student int8 TFLite, MobileBundle.rank (catalogue encoded once)",
      "student int8 TFLite, interpreter only",
      "student int8 TFLite, interpreter only (context once)",
      "floor: a Session fed the rank request, no model"}
  for name, figures in scorers.items():
    assert figures["calls"] == 20 and 0 < figures["p50_ms"] <= figures["p99_ms"], name
    assert figures["teacher_p50_over_this"] == pytest.approx(
        scorers["teacher SavedModel, serving_default"]["p50_ms"] / figures["p50_ms"])
  # Loading a SavedModel costs memory; the interpreter alone is the int8 model's few KB.
  assert scorers["teacher SavedModel, serving_default"]["peak_rss_mb_above_baseline"] > 1
  assert "| student SavedModel, rank (context once) |" in done.stdout
  # Each serving target is stated, met or not, with the measured ratio.
  targets = [line for line in done.stdout.splitlines()
             if line.startswith(("| 5x |", "| 20x |"))]
  assert len(targets) == 4 and all(line.endswith(("| yes |", "| NO |")) for line in targets)
