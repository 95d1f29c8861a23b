"""TeacherTrainer executor on the tiny transformed fixture: trains, evaluates, exports, records."""

import dataclasses
import glob
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from models import distillation, export, features, inputs, teacher_trainer
from tests import saved_model_check

pytestmark = pytest.mark.slow


def test_trains_exports_and_reports(trained_teacher):
  model, model_run = trained_teacher
  summary = teacher_trainer.TeacherSummary.read(model.uri)
  assert teacher_trainer.TeacherSummary.read(model_run.uri) == summary
  assert summary.architecture == "dcn"
  assert summary.parameters > 100_000
  assert 1 <= summary.best_epoch <= summary.epochs_trained <= 4
  assert len(summary.history["val_auc"]) == summary.epochs_trained
  # Restored: the last epoch that beat every earlier one by more than min_delta (0.001).
  val_auc, best = summary.history["val_auc"], 0
  for epoch in range(1, len(val_auc)):
    if val_auc[epoch] - 0.001 > val_auc[best]:
      best = epoch
  assert summary.best_epoch == best + 1
  # The fixture's train split is far under 300 steps of 512: batch_size stays.
  assert (summary.batch_size, summary.learning_rate) == (256, pytest.approx(1e-3))
  assert len(summary.history["lr"]) == summary.epochs_trained  # the decay is wired in
  # Learns something on the synthetic data, and reports known/unknown users apart.
  assert summary.eval.auc > 0.6
  assert 0 < summary.eval.known_user_rows < summary.eval.rows
  assert model.get_float_custom_property("eval_auc") == pytest.approx(summary.eval.auc)
  assert model.get_int_custom_property("parameters") == summary.parameters
  # TensorBoard event files in the ModelRun.
  events = [f for _, _, files in os.walk(model_run.uri) for f in files if "tfevents" in f]
  assert events
  assert os.path.exists(os.path.join(path_utils.serving_model_dir(model.uri), "saved_model.pb"))


def test_saved_model_holds_the_weights_and_no_optimizer_state(trained_teacher):
  """What TF Serving loads and every size ratio divides by: the model's weights, not
  Adam's two slots per weight (which tripled the directory), nor the compiled metrics' state
  (Keras' traces kept AUC's 4 x 200 thresholds)."""
  model, _ = trained_teacher
  summary = teacher_trainer.TeacherSummary.read(model.uri)
  shapes = saved_model_check.checkpoint_shapes(path_utils.serving_model_dir(model.uri))
  assert not [key for key in shapes if key.startswith(("optimizer", "keras_api"))]
  assert sum(int(np.prod(shape)) for shape in shapes.values()) == summary.parameters


def test_saved_model_serves_raw_examples_in_a_tensorflow_only_process(transformed_data,
                                                                      trained_teacher, tmp_path):
  """Load with nothing but TensorFlow (as TF Serving would) and score raw tf.Examples."""
  model, _ = trained_teacher
  serving_dir = path_utils.serving_model_dir(model.uri)
  files = glob.glob(os.path.join(transformed_data.raw_examples.uri, "Split-eval", "*.gz"))
  records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(64)]
  scores = saved_model_check.score_in_tensorflow_only_process(serving_dir, records,
                                                             str(tmp_path))

  # Same scores as the Keras model on features transformed in this process.
  keras_model = keras.models.load_model(serving_dir)
  tft_output = tft.TFTransformOutput(transformed_data.transform_graph.uri)
  parsed = tf.io.parse_example(tf.constant(records), export.raw_serving_feature_spec(tft_output))
  transformed = tft_output.transform_features_layer()(parsed)
  logits = keras_model({k: transformed[k] for k in inputs.MODEL_INPUTS}, training=False)
  expected = tf.sigmoid(tf.reshape(logits, [-1])).numpy()
  np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
  assert scores.shape == (64,) and np.all((scores > 0) & (scores < 1))


def test_transformed_signature_returns_the_teachers_vectors(transformed_data, trained_teacher):
  """The hints of feature-level distillation: user and item vectors are rows of the
  exported embedding tables (no dropout at inference), the history their masked mean."""
  model, _ = trained_teacher
  loaded = tf.saved_model.load(path_utils.serving_model_dir(model.uri))
  signature = loaded.signatures[export.TRANSFORMED_SIGNATURE]
  tft_output = tft.TFTransformOutput(transformed_data.transform_graph.uri)
  batch, _ = next(iter(inputs.transformed_dataset(
      inputs.split_files(transformed_data.raw_examples.uri, "eval"), tft_output, 32)))
  outputs = signature(**batch)
  assert set(outputs) == {"logit", "user_vector", "item_vector", "history_vector"}
  tables = {name.split("/")[0]: value for name, value in distillation.saved_model_weights(
      path_utils.serving_model_dir(model.uri)).items() if name.endswith("/embeddings")}
  users, items = tables["user_embedding"], tables["item_embedding"]
  assert users.shape[1] == 64  # TeacherConfig.embedding_dim
  np.testing.assert_allclose(outputs["user_vector"], users[batch["user_id_xf"].numpy()],
                             rtol=1e-6)
  np.testing.assert_allclose(outputs["item_vector"], items[batch["item_id_xf"].numpy()],
                             rtol=1e-6)
  history = batch["history_item_ids_xf"].numpy()
  real = history > 0
  expected = (items[history] * real[..., None]).sum(1) / np.maximum(real.sum(1), 1)[:, None]
  np.testing.assert_allclose(outputs["history_vector"], expected, rtol=1e-4, atol=1e-7)


def test_rank_signature_equals_serving_default_on_the_merged_rows(transformed_data,
                                                                  trained_teacher):
  """The teacher's `rank` (the context repeated on every candidate's row: the teacher
  concatenates, so it cannot broadcast) against serving_default, for a known user and an
  unknown one with an unknown history item, over candidates with an unknown item."""
  model, _ = trained_teacher
  loaded = tf.saved_model.load(path_utils.serving_model_dir(model.uri))
  files = glob.glob(os.path.join(transformed_data.raw_examples.uri, "Split-eval", "*.gz"))
  rows = export.parse_raw_rows(
      [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(40)])
  known = {name: rows[0][name] for name in features.CONTEXT_FEATURES}
  unknown = dict(known, **{features.USER_ID: "no-such-user",
                           features.HISTORY_ITEM_IDS: ["no-such-item"]})
  candidates = [{name: r[name] for name in features.CANDIDATE_FEATURES} for r in rows]
  candidates.append({features.ITEM_ID: "no-such-item", features.ITEM_GENRES: [],
                     features.ITEM_YEAR: 1990})
  history_length = len(rows[0][features.HISTORY_ITEM_IDS])
  scores = []
  for context in (known, unknown):
    history = list(context[features.HISTORY_ITEM_IDS])
    history += [features.HISTORY_PAD] * (history_length - len(history))
    examples = [export.raw_example(dict(context, **{features.HISTORY_ITEM_IDS: history}, **c))
                for c in candidates]
    expected = loaded.signatures["serving_default"](examples=tf.constant(examples))["score"]
    request = export.rank_request(context, candidates)
    ranked = loaded.signatures[export.RANK_SIGNATURE](
        **{name: tf.constant(value) for name, value in request.items()})["score"]
    np.testing.assert_allclose(ranked.numpy(), expected.numpy(), atol=1e-5)
    scores.append(ranked.numpy())
  assert not np.allclose(scores[0], scores[1], atol=1e-3)


@pytest.mark.parametrize("separate_process", [True, False])
def test_separate_process_chooses_where_the_teacher_trains(run_teacher_executor, tmp_path,
                                                            monkeypatch, separate_process):
  """On: the teacher trains through child_process.call (tested in child_process_test to run
  in another process); off: in this process, nothing spawned."""
  # pylint: disable=g-import-not-at-top
  from models import child_process
  from models.hparams import TeacherConfig, TrainingConfig
  # pylint: enable=g-import-not-at-top
  spawned, real_call = [], child_process.call

  def recording_call(step, fn, *args, **kwargs):
    spawned.append((step, fn))
    return real_call(step, fn, *args, **kwargs)

  monkeypatch.setattr(child_process, "call", recording_call)
  config = TeacherConfig(training=TrainingConfig(max_epochs=1, batch_size=256,
                                                 separate_process=separate_process))
  model, _ = run_teacher_executor(config, tmp_path)
  assert spawned == ([("TeacherTrainer", teacher_trainer.run)] if separate_process else [])
  summary = teacher_trainer.TeacherSummary.read(model.uri)
  assert summary.epochs_trained == 1
  assert model.get_float_custom_property("eval_auc") == pytest.approx(summary.eval.auc)


def test_training_does_not_depend_on_the_order_the_train_rows_were_written_in(
    trained_teacher, run_teacher_executor, tiny_teacher_config, transformed_data, tmp_path):
  """Beam's workers write a split's shards, and the rows in them, in an order that changes
  from run to run; the same rows written in another order (reversed, three shards) must train
  the same teacher, weight for weight."""
  source = transformed_data.raw_examples.uri
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / "reordered")
  examples.split_names = transformed_data.raw_examples.split_names
  for split in ("train", "eval"):
    records = inputs.read_records(inputs.split_files(source, split))
    if split == "train":
      records = records[::-1]
    folder = os.path.join(examples.uri, f"Split-{split}")
    os.makedirs(folder)
    for shard in range(3):
      path = os.path.join(folder, f"reordered-{shard:05d}-of-00003.gz")
      with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for record in records[shard::3]:
          writer.write(record)
  model, _ = run_teacher_executor(tiny_teacher_config, tmp_path / "teacher", examples)

  def weights(artifact):
    return saved_model_check.checkpoint_values(path_utils.serving_model_dir(artifact.uri))

  expected, got = weights(trained_teacher[0]), weights(model)
  assert sorted(got) == sorted(expected)
  for key, value in expected.items():
    np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_the_teacher_compiles_with_the_configured_steps_a_call(transformed_data,
                                                               tiny_teacher_config, tmp_path,
                                                               monkeypatch):
  """teacher.training.steps_per_execution reaches the teacher's compile: nothing else
  shows it but the training's time. Stopped at fit, so nothing trains."""

  class Fitted(Exception):
    """Raised by the stubbed fit once it has read the compiled steps a call."""

  seen = []

  def fit(model, *args, **kwargs):
    del args, kwargs
    seen.append(int(model._steps_per_execution.numpy()))  # pylint: disable=protected-access
    raise Fitted

  monkeypatch.setattr(keras.Model, "fit", fit)
  for steps in (1, 5):
    config = dataclasses.replace(tiny_teacher_config, training=dataclasses.replace(
        tiny_teacher_config.training, steps_per_execution=steps))
    with pytest.raises(Fitted):
      teacher_trainer.run(transformed_data.raw_examples.uri,
                          transformed_data.transform_graph.uri, config,
                          transformed_data.transform_config,
                          serving_dir=str(tmp_path / f"model_{steps}"),
                          log_dir=str(tmp_path / f"model_run_{steps}"))
  assert seen == [1, 5]
