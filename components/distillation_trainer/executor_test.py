"""DistillationTrainer executor on a small transformed run and a quickly trained teacher."""

import glob
import hashlib
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx.utils import path_utils

from models import (distillation, distillation_trainer, export, features, inputs,
                    int8_evaluation, metrics)
from models.hparams import DistillationConfig, StudentConfig, TrainingConfig
from models.teacher_trainer import TeacherSummary
from tests import saved_model_check

pytestmark = pytest.mark.slow


@pytest.fixture(name="distilled")
def fixture_distilled(trained_student):
  """The executor on the tiny fixture: ({output key: artifact}, CompressionReport)."""
  return trained_student, distillation_trainer.CompressionReport.read(
      trained_student["model_run"].uri)


def _raw_eval_records(transformed_data, count):
  files = glob.glob(os.path.join(transformed_data.raw_examples.uri, "Split-eval", "*.gz"))
  return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(count)]


def test_executor_records_the_report_and_properties(distilled, trained_teacher,
                                                    transformed_data):
  artifacts, report = distilled
  # The same report in the ModelRun and beside the SavedModel, read through one schema.
  assert distillation_trainer.CompressionReport.read(artifacts["model"].uri) == report
  assert artifacts["model"].get_float_custom_property("eval_auc") == report.student.eval.auc
  assert artifacts["model"].get_float_custom_property("sparsity") == \
      report.student.sparsity.overall
  assert artifacts["mobile_model"].get_float_custom_property("eval_auc") == \
      report.tflite.int8_vs_float.auc_int8
  assert artifacts["mobile_model"].get_string_custom_property("format") == "tflite"
  # The teacher's figures are the teacher's own summary, not recomputed.
  teacher = TeacherSummary.read(trained_teacher[0].uri)
  assert report.teacher.eval == teacher.eval
  assert report.parameter_ratio == report.student.parameters / teacher.parameters
  assert report.config["distillation"]["pruning_ramp_epochs"] == 2
  # Feature-level distillation ran: the relative hint error is recorded, below 1 (what a
  # projection outputting zeros scores).
  assert 0 < report.student.stages["distill"]["final_hint_loss"] < 1
  # One transfer copy of the train split (conftest's trained_student) beside its rows.
  distill = report.student.stages["distill"]
  assert distill["train_rows"] == len(inputs.read_records(
      inputs.split_files(transformed_data.raw_examples.uri, "train")))
  assert report.config["distillation"]["transfer_copies"] == 1
  assert distill["transfer_rows"] == distill["train_rows"]
  # Hints and the pairwise loss as configured there, both applied beside transfer rows
  # (the hint loss above shows hints trained; of the pairwise loss this run shows only that
  # its batches train and export end to end: models/distillation_test.py checks pair_loss
  # and inputs_test.py the pair batches).
  assert (distill["hint_weight"], distill["pair_weight"]) == (0.5, 0.5)


def test_pruned_to_target_on_exported_weights_and_qat_kept_it(distilled):
  _, report = distilled
  sparsity = report.student.sparsity
  assert abs(sparsity.overall - 0.8) < 0.01, sparsity
  assert {"user_embedding/embeddings", "item_embedding/embeddings",
          "hidden_0/kernel"} <= set(sparsity.per_layer)
  stages = report.student.stages
  # The dense student and both pruning steps are on the curve with their sizes; the budget
  # kept the sparsest.
  curve = stages["prune"]["curve"]
  assert [step["target"] for step in curve] == [0.0, 0.5, 0.8]
  assert curve[0]["sparsity"] == 0.0 and abs(curve[1]["sparsity"] - 0.5) < 0.01
  assert stages["prune"]["chosen_step"] == 2
  assert (curve[2]["int8_gzipped_bytes"] < curve[1]["int8_gzipped_bytes"]
          < curve[0]["int8_gzipped_bytes"] < curve[0]["int8_bytes"])
  assert curve[0]["int8_bytes"] == curve[1]["int8_bytes"]  # zeros are stored as any value
  assert all(0 < step["eval_auc"] < 1 and 0 < step["eval_gauc"] < 1 for step in curve)
  # The budget judges known and new users apart as well (NaN where a slice has no user
  # with both labels).
  for figures in curve + [stages["prune"]["teacher"]]:
    assert {"eval_gauc_known", "eval_gauc_new"} <= set(figures), figures
  # The budget's teacher figures come from the raw eval examples through the Transform
  # graph; the TeacherTrainer's, from the transformed ones: the same rows, the same AUC.
  assert stages["prune"]["teacher"]["eval_auc"] == pytest.approx(report.teacher.eval.auc,
                                                                  abs=1e-6)
  assert stages["qat"]["sparsity"] == pytest.approx(stages["prune"]["sparsity"], abs=1e-6)


def test_student_is_small_and_sizes_are_reported(distilled):
  artifacts, report = distilled
  assert 0.02 <= report.parameter_ratio <= 0.10, report.parameter_ratio
  tflite = report.tflite
  assert 0 < tflite.gzipped_bytes < tflite.bytes
  for entry in (report.teacher.saved_model_variables, report.student.saved_model):
    assert 0 < entry.gzipped_bytes < entry.bytes
  # The served student holds its weights, not Adam's slots (the teacher's test counts them).
  keys = list(saved_model_check.checkpoint_shapes(
      path_utils.serving_model_dir(artifacts["model"].uri)))
  assert any(key.endswith("embeddings/.ATTRIBUTES/VARIABLE_VALUE") for key in keys)
  assert not [key for key in keys if key.startswith("optimizer")]


def test_tflite_is_full_integer_and_agrees_with_the_float_student(distilled, transformed_data):
  artifacts, report = distilled
  census = report.tflite.dtype_census
  assert set(census) <= {"int8", "int32"}, census
  with open(os.path.join(artifacts["mobile_model"].uri, export.TFLITE_FILE), "rb") as f:
    tflite_model = f.read()
  assert export.tflite_dtype_census(tflite_model) == census
  fidelity = report.tflite.int8_vs_float
  assert fidelity.rows > 100
  assert fidelity.mean_abs_score_diff < 0.01, fidelity
  # The fixture's eval split is ~600 rows of a weak model, where a few swapped pairs move
  # AUC by 0.005: agreement in AUC is checked on the ~4,800 train rows instead.
  files = glob.glob(os.path.join(transformed_data.raw_examples.uri, "Split-train", "*.gz"))
  records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
  labels = [tf.train.Example.FromString(r).features.feature[features.LABEL].int64_list.value[0]
            for r in records]
  served = tf.saved_model.load(path_utils.serving_model_dir(artifacts["model"].uri))
  float_scores = served.signatures["serving_default"](
      examples=tf.constant(records))["score"].numpy()
  int8_scores = export.MobileBundle(artifacts["mobile_model"].uri).predict(
      export.parse_raw_rows(records))
  assert len(records) > 4000
  assert np.mean(np.abs(int8_scores - float_scores)) < 0.01
  assert abs(metrics.auc(labels, int8_scores) - metrics.auc(labels, float_scores)) < 0.005


def test_mobile_bundle_manifest_matches_its_files(distilled):
  artifacts, _ = distilled
  bundle = artifacts["mobile_model"].uri
  with open(os.path.join(bundle, export.MANIFEST_FILE)) as f:
    manifest = json.load(f)
  with open(os.path.join(bundle, manifest["model_file"]), "rb") as f:
    data = f.read()
  assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
  assert manifest["tflite_bytes"] == len(data)
  for entry in manifest["vocabularies"].values():
    with open(os.path.join(bundle, entry["file"])) as f:
      assert sum(1 for _ in f) == entry["size"]
  names = {i["name"] for i in manifest["inputs"]}
  assert names == set(export.model_inputs.MODEL_INPUTS)
  for entry in manifest["inputs"]:
    assert entry["dtype"] in ("int8", "int32")
    if entry["dtype"] == "int8":
      assert entry["quantization"]["scale"] > 0
  assert manifest["outputs"][0]["dtype"] == "int8"


def test_app_path_through_the_bundle_matches_the_served_student(distilled, transformed_data,
                                                                tmp_path):
  """Raw rows -> bundle vocabularies and manifest -> int8 model, vs the SavedModel on Examples."""
  artifacts, _ = distilled
  records = _raw_eval_records(transformed_data, 200)
  serving_dir = path_utils.serving_model_dir(artifacts["model"].uri)
  served = saved_model_check.score_in_tensorflow_only_process(serving_dir, records,
                                                              str(tmp_path))
  on_device = export.MobileBundle(artifacts["mobile_model"].uri).predict(export.parse_raw_rows(records))
  assert np.mean(np.abs(on_device - served)) < 0.02


def test_rest_instances_signature_matches_serving_default(distilled, transformed_data):
  artifacts, _ = distilled
  records = _raw_eval_records(transformed_data, 50)
  rows = export.parse_raw_rows(records)
  loaded = tf.saved_model.load(path_utils.serving_model_dir(artifacts["model"].uri))
  by_examples = loaded.signatures["serving_default"](examples=tf.constant(records))["score"]
  signature = loaded.signatures[export.INSTANCES_SIGNATURE]
  max_genres = signature.structured_input_signature[1][features.ITEM_GENRES].shape[1]
  instances = {}
  for name, spec in signature.structured_input_signature[1].items():
    if name == features.ITEM_GENRES:
      values = [(r[name] + [""] * max_genres)[:max_genres] for r in rows]
    else:
      values = [r[name] for r in rows]
    instances[name] = tf.constant(values, dtype=spec.dtype)
  by_instances = signature(**instances)["score"]
  np.testing.assert_allclose(by_instances.numpy(), by_examples.numpy(), rtol=1e-5, atol=1e-6)


def _ranking_requests(rows, history_length):
  """(name, context, candidates): a known user with a full history, an unknown user with a
  short history of partly unknown items (and an age and a count above every probed value),
  and a known user without a history (the feature left out), each with the same
  candidates: among them an unknown item, and a year below 0 with too many genres."""
  known = next(r for r in rows if r[features.HISTORY_ITEM_IDS][0] != features.HISTORY_PAD)
  known = {name: known[name] for name in features.CONTEXT_FEATURES}
  unknown = dict(known, **{features.USER_ID: "no-such-user",
                           features.HISTORY_ITEM_IDS: [known[features.HISTORY_ITEM_IDS][0],
                                                       "no-such-item", "nor-this-one"],
                           features.USER_OCCUPATION: "no-such-occupation",
                           features.USER_AGE: 500, features.USER_PRIOR_COUNT: 10**7})
  empty = {name: value for name, value in known.items()
           if name != features.HISTORY_ITEM_IDS}
  candidates = [{name: r[name] for name in features.CANDIDATE_FEATURES} for r in rows[:30]]
  # An unknown item; a year below every probed one and more genres than the model takes.
  candidates.append({features.ITEM_ID: "no-such-item", features.ITEM_GENRES: ["no-such-genre"],
                     features.ITEM_YEAR: 0})
  candidates.append(dict(candidates[0], **{features.ITEM_YEAR: -5, features.ITEM_GENRES: (
      list(candidates[0][features.ITEM_GENRES]) + ["no-such-genre"] * 8)}))
  assert len(known[features.HISTORY_ITEM_IDS]) == history_length
  return [("known user", known, candidates), ("unknown user", unknown, candidates),
          ("empty history", empty, candidates)]


def _per_candidate_rows(context, candidates, history_length):
  """The rows serving_default takes for the same request: the context on every row, the
  history padded to its fixed length."""
  history = list(context.get(features.HISTORY_ITEM_IDS, []))
  history += [features.HISTORY_PAD] * (history_length - len(history))
  return [dict(context, **{features.HISTORY_ITEM_IDS: history}, **candidate)
          for candidate in candidates]


def test_rank_signature_and_bundle_rank_equal_their_per_candidate_scores(distilled,
                                                                        transformed_data):
  """The context-once `rank` signature vs serving_default on the per-candidate examples;
  MobileBundle.rank vs MobileBundle.predict on the same rows."""
  artifacts, _ = distilled
  rows = export.parse_raw_rows(_raw_eval_records(transformed_data, 60))
  loaded = tf.saved_model.load(path_utils.serving_model_dir(artifacts["model"].uri))
  bundle = export.MobileBundle(artifacts["mobile_model"].uri)
  history_length = bundle.manifest["history_length"]
  served, predicted = {}, {}
  requests = _ranking_requests(rows, history_length)
  for name, context, candidates in requests:
    per_candidate = _per_candidate_rows(context, candidates, history_length)
    by_examples = loaded.signatures["serving_default"](
        examples=tf.constant([export.raw_example(r) for r in per_candidate]))["score"].numpy()
    request = export.rank_request(context, candidates)
    by_rank = loaded.signatures[export.RANK_SIGNATURE](
        **{name: tf.constant(value) for name, value in request.items()})["score"].numpy()
    np.testing.assert_allclose(by_rank, by_examples, atol=1e-5, err_msg=name)
    np.testing.assert_array_equal(bundle.rank(context, candidates),
                                  bundle.predict(per_candidate), err_msg=name)
    # The candidates encoded once, as an app keeps its catalogue, then a subset of them.
    encoded = bundle.encode_candidates(candidates)
    np.testing.assert_array_equal(bundle.rank(context, encoded),
                                  bundle.predict(per_candidate), err_msg=name)
    positions = [len(candidates) - 1, 0, 2]
    np.testing.assert_array_equal(bundle.rank(context, encoded.take(positions)),
                                  bundle.predict([per_candidate[p] for p in positions]),
                                  err_msg=name)
    # Indices made with another bundle's vocabularies are refused, not scored.
    foreign = export.EncodedCandidates(encoded.inputs, "another model")
    with pytest.raises(ValueError, match="encode them again"):
      bundle.rank(context, foreign)
    served[name] = by_examples
    predicted[name] = bundle.predict(per_candidate)
  # One catalogue for the three users' requests in a row, as an app keeps it: the
  # interpreter keeps the candidates' inputs set and takes only each user's.
  catalogue = bundle.encode_candidates(requests[0][2])
  for name, context, candidates in requests:
    assert candidates == requests[0][2]
    np.testing.assert_array_equal(bundle.rank(context, catalogue), predicted[name],
                                  err_msg=name)
  # The three contexts are three different requests: the scores say so.
  assert not np.allclose(served["known user"], served["unknown user"], atol=1e-3)
  assert not np.allclose(served["known user"], served["empty history"], atol=1e-3)


def test_warmup_requests_are_prediction_logs_the_model_answers(distilled):
  artifacts, _ = distilled
  serving_dir = path_utils.serving_model_dir(artifacts["model"].uri)
  path = os.path.join(serving_dir, "assets.extra", export.WARMUP_FILE)
  loaded = tf.saved_model.load(serving_dir)
  requests = 0
  for record in tf.data.TFRecordDataset(path):
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    request = log.predict_log.request
    assert request.model_spec.signature_name == "serving_default"
    examples = tf.make_ndarray(request.inputs["examples"])
    scores = loaded.signatures["serving_default"](examples=tf.constant(examples))["score"]
    assert scores.shape[0] == len(examples) > 0
    requests += 1
  assert requests == 4  # 32 eval examples in batches of 8


def test_manifest_numeric_steps_reproduce_the_transform_graph(distilled, transformed_data):
  artifacts, _ = distilled
  bundle = export.MobileBundle(artifacts["mobile_model"].uri)
  rows = export.parse_raw_rows(_raw_eval_records(transformed_data, 300))
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  tft_output = tft.TFTransformOutput(transformed_data.transform_graph.uri)
  records = _raw_eval_records(transformed_data, 300)
  parsed = tf.io.parse_example(tf.constant(records), export.raw_serving_feature_spec(tft_output))
  transformed = tft_output.transform_features_layer()(parsed)
  encoded = bundle.encode(rows)
  for name in export.model_inputs.MODEL_INPUTS:
    expected = transformed[name].numpy()
    np.testing.assert_allclose(encoded[name], expected, rtol=1e-5, atol=1e-5, err_msg=name)


def test_same_seed_gives_the_same_student_whatever_ran_before(transformed_data, trained_teacher,
                                                              tmp_path):
  """Seeded training is bit-reproducible in one process, even after others changed the seed.

  Before the trainer seeded ahead of building its datasets, the shuffle order came from
  whatever global seed an earlier step had left: weights differed by up to 0.58.
  """
  teacher_dir = trained_teacher[0].uri
  student_config = StudentConfig(training=TrainingConfig(
      max_epochs=3, early_stopping_patience=3, batch_size=256))
  # Cold-start targets on: the user-id dropout drawn on the batches is seeded too. Early
  # stopping on the eval GAUC of every user, which needs the raw eval rows without pruning.
  kd_config = DistillationConfig(prune=False, qat=False, representative_examples=100,
                                 fidelity_rows=500, warmup_examples=4, cold_start_targets=True,
                                 early_stopping_metric="gauc")
  weights, reports = [], []
  for attempt in range(2):
    tf.random.set_seed(1000 + attempt)  # what ran before must not matter
    folder = tmp_path / str(attempt)
    reports.append(distillation_trainer.run(
        transformed_data.raw_examples.uri, transformed_data.transform_graph.uri,
        path_utils.serving_model_dir(teacher_dir),
        TeacherSummary.read(teacher_dir), student_config, kd_config,
        transformed_data.transform_config, serving_dir=str(folder / "model"),
        mobile_dir=str(folder / "mobile"), log_dir=str(folder / "logs")))
    weights.append(distillation.saved_model_weights(str(folder / "model")))
  assert weights[0].keys() == weights[1].keys()
  for name, value in weights[0].items():
    np.testing.assert_array_equal(value, weights[1][name], err_msg=name)
  # The GAUC the stage stopped on is the exported student's (the best epoch's weights,
  # restored) on the raw eval rows, scored by another path: its serving_default signature
  # and the gate's GAUC over raw user ids.
  distill = reports[0].student.stages["distill"]
  assert distill["early_stopping_metric"] == "gauc"
  records = _raw_eval_records(transformed_data, 100_000)
  rows = export.parse_raw_rows(records)
  scores = int8_evaluation.score_saved_model(str(tmp_path / "0" / "model"), records)
  expected = metrics.gauc(np.array([row[features.LABEL] for row in rows], dtype=np.float64),
                          np.asarray(scores, dtype=np.float64),
                          np.array([row[features.USER_ID] for row in rows]))
  assert distill["best_eval_gauc"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("separate_process", [True, False])
def test_student_training_separate_process_reaches_run_step(distilled, run_student_executor,
                                                            tmp_path, monkeypatch,
                                                            separate_process):
  """The executor hands `student.training.separate_process` to child_process.run_step
  (which child_process_test runs both ways) and records what the run returned."""
  from models import child_process  # pylint: disable=g-import-not-at-top
  _, report = distilled
  steps = []

  def recording_run_step(step, fn, separate, **kwargs):
    steps.append((step, fn, separate, kwargs["hparams"].training.separate_process))
    return report  # what a run returns; this test trains nothing

  monkeypatch.setattr(child_process, "run_step", recording_run_step)
  student_config = StudentConfig(training=TrainingConfig(separate_process=separate_process))
  artifacts = run_student_executor(student_config, DistillationConfig(), tmp_path)
  assert steps == [("DistillationTrainer", distillation_trainer.run, separate_process,
                    separate_process)]
  assert distillation_trainer.CompressionReport.read(artifacts["model_run"].uri) == report
  assert artifacts["model"].get_float_custom_property("sparsity") == \
      report.student.sparsity.overall
