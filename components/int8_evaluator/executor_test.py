"""Int8Evaluator on the tiny fixture: metrics equal an independent recomputation; blessing."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from sklearn import metrics as sk_metrics
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.int8_evaluator import executor
from models import export, features, int8_evaluation
from models.gate import GateConfig

pytestmark = pytest.mark.slow


def _run(transformed_data, trained_teacher, trained_student, folder, gate):
  evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
  evaluation.uri, blessing.uri = os.path.join(folder, "evaluation"), os.path.join(folder, "blessing")
  executor.Executor().Do(
      {"examples": [transformed_data.raw_examples],
       "mobile_model": [trained_student["mobile_model"]],
       "model": [trained_student["model"]], "baseline_model": [trained_teacher[0]]},
      {"evaluation": [evaluation], "blessing": [blessing]},
      {"gate_config": gate.to_json(), "split": "test"})
  return evaluation, blessing, int8_evaluation.Int8Evaluation.read(evaluation.uri)


@pytest.fixture(scope="module", name="judged")
def fixture_judged(transformed_data, trained_teacher, trained_student, tmp_path_factory):
  return _run(transformed_data, trained_teacher, trained_student,
              str(tmp_path_factory.mktemp("int8")), GateConfig(latency_requests=50))


def _test_records(transformed_data):
  files = sorted(glob.glob(os.path.join(transformed_data.raw_examples.uri, "Split-test", "*.gz")))
  return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _test_rows(transformed_data):
  return export.parse_raw_rows(_test_records(transformed_data))


def test_saved_models_score_as_their_tf2_serving_signature(transformed_data, trained_teacher,
                                                          trained_student):
  # score_saved_model runs the SignatureDef in a Session; the TF2 path loads the SavedModel
  # and calls its serving_default: the same scores, batches split anywhere.
  records = _test_records(transformed_data)
  for model in (trained_teacher[0], trained_student["model"]):
    serving_dir = path_utils.serving_model_dir(model.uri)
    signature = tf.saved_model.load(serving_dir).signatures["serving_default"]
    expected = signature(examples=tf.constant(records))["score"].numpy().reshape(-1)
    scores = int8_evaluation.score_saved_model(serving_dir, records, batch_size=7)
    assert scores.shape == (len(records),)
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def _ndcg_by_hand(labels, scores, k):
  """Rows of one user; gains = labels. A row tied with others sits at each of the positions
  the tie spans equally often: its discount is their mean (int8 scores tie often)."""
  dcg = 0.0
  for label, score in zip(labels, scores):
    above = sum(s > score for s in scores)
    tied = sum(s == score for s in scores)
    dcg += label * np.mean([1 / np.log2(p + 2) if p < k else 0.0
                            for p in range(above, above + tied)])
  ideal = sorted(labels, reverse=True)[:k]
  return dcg / sum(g / np.log2(i + 2) for i, g in enumerate(ideal))


def test_int8_metrics_equal_an_independent_recomputation(judged, transformed_data,
                                                         trained_student):
  _, _, result = judged
  rows = _test_rows(transformed_data)
  scores = export.MobileBundle(trained_student["mobile_model"].uri).predict(rows)
  labels = np.array([r[features.LABEL] for r in rows])
  users = np.array([r[features.USER_ID] for r in rows])
  int8 = result.overall(int8_evaluation.INT8)
  assert int8.rows == len(rows) == result.rows
  assert int8.auc == pytest.approx(sk_metrics.roc_auc_score(labels, scores), abs=1e-9)
  per_user, weights, ndcgs = [], [], []
  for user in sorted(set(users)):
    mask = users == user
    if 0 < labels[mask].sum() < mask.sum():
      per_user.append(sk_metrics.roc_auc_score(labels[mask], scores[mask]))
      weights.append(mask.sum())
    if labels[mask].sum() > 0:
      ndcgs.append(_ndcg_by_hand(list(labels[mask]), list(scores[mask]), 10))
  assert int8.gauc == pytest.approx(np.average(per_user, weights=weights), abs=1e-9)
  assert int8.ndcg == pytest.approx(np.mean(ndcgs), abs=1e-9)
  assert int8.calibration == pytest.approx(scores.mean() / labels.mean(), rel=1e-6)
  # Slices partition the rows: known and new users add up to all of them.
  by_name = {s.name: s for s in result.slices}
  known = by_name.get(f"{features.USER_IN_TRAIN}:known")
  new = by_name.get(f"{features.USER_IN_TRAIN}:new")
  assert known.models["int8"].rows + (new.models["int8"].rows if new else 0) == len(rows)


def test_the_three_models_are_scored_on_the_same_rows(judged):
  _, _, result = judged
  overall = result.slices[0]
  assert overall.name == "overall"
  assert {m.rows for m in overall.models.values()} == {result.rows}
  # The float student and its int8 conversion agree closely; the teacher is another model.
  assert result.mean_abs_score_diff < 0.02
  assert abs(overall.models["int8"].auc - overall.models["student"].auc) < 0.01
  assert result.latency.candidates == 100 and result.latency.p50_ms > 0


def test_blessing_follows_the_checks(judged):
  _, blessing, result = judged
  names = [c.metric for c in result.checks]
  assert names[0] == "auc" and "|auc - float student auc|" in names
  assert result.blessed == all(c.passed for c in result.checks)
  assert blessing.get_int_custom_property("blessed") == int(result.blessed)
  marker = "BLESSED" if result.blessed else "NOT_BLESSED"
  assert os.listdir(blessing.uri) == [marker]


def test_an_impossible_floor_is_not_blessed_and_names_the_threshold(
    transformed_data, trained_teacher, trained_student, tmp_path):
  _, blessing, result = _run(transformed_data, trained_teacher, trained_student, str(tmp_path),
                             GateConfig(auc_floor=0.999, latency_requests=20))
  assert not result.blessed and blessing.get_int_custom_property("blessed") == 0
  failed = [c for c in result.checks if not c.passed]
  assert failed[0].metric == "auc" and failed[0].limit == 0.999
  assert failed[0].line().startswith("int8: auc ")
  assert os.listdir(blessing.uri) == ["NOT_BLESSED"]
