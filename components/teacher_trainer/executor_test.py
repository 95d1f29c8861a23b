"""TeacherTrainer executor on a small transformed run: trains, evaluates, exports."""

import json
import os

import pytest
from tfx.utils import path_utils

from components.teacher_trainer import executor
from tests import saved_model_check


def test_trains_exports_and_reports(trained_teacher):
  model, model_run = trained_teacher
  with open(os.path.join(model.uri, executor.METRICS_FILE)) as f:
    metrics = json.load(f)
  assert metrics["architecture"] == "dcn"
  assert metrics["parameters"] > 100_000
  assert 1 <= metrics["best_epoch"] <= metrics["epochs_trained"] <= 4
  # Learns something on the synthetic data, and reports known/unknown users apart.
  assert metrics["eval"]["auc"] > 0.6
  assert 0 < metrics["eval"]["known_user_rows"] < metrics["eval"]["rows"]
  assert "auc_unknown_users" in metrics["eval"]
  assert model.get_float_custom_property("eval_auc") == pytest.approx(metrics["eval"]["auc"])
  # TensorBoard event files in the ModelRun.
  events = [f for _, _, files in os.walk(model_run.uri) for f in files if "tfevents" in f]
  assert events
  assert os.path.exists(os.path.join(path_utils.serving_model_dir(model.uri), "saved_model.pb"))


def test_saved_model_serves_raw_examples_in_a_tensorflow_only_process(transformed_run,
                                                                      trained_teacher, tmp_path):
  """Load with nothing but TensorFlow (as TF Serving would) and score raw tf.Examples."""
  import glob  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  import tf_keras as keras  # pylint: disable=g-import-not-at-top
  from models import export, inputs  # pylint: disable=g-import-not-at-top
  model, _ = trained_teacher
  serving_dir = path_utils.serving_model_dir(model.uri)
  raw_uri = transformed_run["outputs"]["InteractionsExampleGen"]["examples"].uri
  files = glob.glob(os.path.join(raw_uri, "Split-eval", "*.gz"))
  records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(64)]
  scores = saved_model_check.score_in_tensorflow_only_process(serving_dir, records,
                                                             str(tmp_path))

  # Same scores as the Keras model on features transformed in this process.
  keras_model = keras.models.load_model(serving_dir)
  tft_output = tft.TFTransformOutput(transformed_run["outputs"]["Transform"]["transform_graph"].uri)
  parsed = tf.io.parse_example(tf.constant(records), export.raw_serving_feature_spec(tft_output))
  transformed = tft_output.transform_features_layer()(parsed)
  logits = keras_model({k: transformed[k] for k in inputs.MODEL_INPUTS}, training=False)
  expected = tf.sigmoid(tf.reshape(logits, [-1])).numpy()
  np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
  assert scores.shape == (64,) and np.all((scores > 0) & (scores < 1))
