"""TFLite conversion without QAT (the post-training-int8 baseline) is full-integer too; native
stderr of the converter goes to the log."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from models import export, student
from models.dataclass_json import check
from models.distillation_test import SIZES, _random_batches
from models.hparams import StudentConfig


def test_post_training_int8_of_a_float_student_is_full_integer():
  keras.utils.set_random_seed(0)
  # Every branch on: dots beside and into the tower, wide inputs with their bias tables.
  model = student.build_student(StudentConfig(embedding_dim=8, hidden_layers=(16,),
                                              dots_into_tower=True, wide_inputs=True),
                                SIZES, seed=0)
  batches = [student.cast_ids({k: tf.constant(v) for k, v in b.items()})
             for b, _ in _random_batches(20, 1, seed=1)]
  tflite_model = export.convert_to_tflite(model, student.student_input_signature(SIZES),
                                          lambda: iter(batches))
  census = export.tflite_dtype_census(tflite_model)
  assert set(census) <= {"int8", "int32"}, census
  inputs, outputs = export.tflite_io(tflite_model)
  assert {i["name"] for i in inputs} == set(export.model_inputs.MODEL_INPUTS)
  assert outputs[0]["dtype"] == "int8"

  # Scores follow the float model (random weights, so only loosely).
  features, _ = next(_random_batches(1, 64, seed=2))
  features = {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in features.items()}
  float_scores = tf.sigmoid(tf.reshape(model(features), [-1])).numpy()
  int8_scores = export.tflite_predict(tflite_model, features)
  assert np.mean(np.abs(float_scores - int8_scores)) < 0.05


def test_student_branches_add_exactly_their_weights():
  def build(**overrides):
    return student.build_student(StudentConfig(embedding_dim=8, hidden_layers=(16,),
                                               **overrides), SIZES)
  full = build(dots_into_tower=True, wide_inputs=True)
  names = {layer.name for layer in full.layers}
  assert {"user_dot_item", "history_dot_item", "user_dot_logit", "history_dot_logit",
          "hidden_0_user_dot", "hidden_0_history_dot", "wide_logit", "user_bias", "item_bias",
          "logit_sum"} <= names
  plain = build(interaction_dots=False, dots_into_tower=False, wide_inputs=False)
  assert not any("dot" in layer.name or "wide" in layer.name for layer in plain.layers)
  beside = build(dots_into_tower=False, wide_inputs=False)
  into = build(dots_into_tower=True, wide_inputs=False)
  # Two dot products: two 1 -> 1 Denses with biases beside the tower; into the tower, two
  # 1 x 16 kernels more; the wide inputs: a bias per user and per item and a 4 -> 1 Dense.
  assert beside.count_params() - plain.count_params() == 4
  assert into.count_params() - beside.count_params() == 2 * 16
  assert full.count_params() - into.count_params() == SIZES.users + SIZES.items + 5


def test_dots_into_tower_needs_the_dots():
  with pytest.raises(ValueError, match="student.dots_into_tower needs"):
    check(StudentConfig(interaction_dots=False, dots_into_tower=True), "student")


def test_file_sizes_gzip(tmp_path):
  path = tmp_path / "zeros.bin"
  path.write_bytes(bytes(10_000))
  sizes = export.file_sizes([str(path)])
  assert sizes["bytes"] == 10_000 and sizes["gzipped_bytes"] < 200


def test_native_stderr_goes_to_the_log_and_fd_2_comes_back(caplog, capfd):
  caplog.set_level(logging.DEBUG)
  with export._native_stderr_to_log("native step"):  # pylint: disable=protected-access
    os.write(2, b"fully_quantize: 0\n")
  os.write(2, b"after\n")
  assert capfd.readouterr().err == "after\n"
  assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
      (logging.DEBUG, "native step wrote:\nfully_quantize: 0")]

  caplog.clear()
  with pytest.raises(ValueError):
    with export._native_stderr_to_log("native step"):  # pylint: disable=protected-access
      os.write(2, b"error: op not supported\n")
      raise ValueError("conversion failed")
  assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
      (logging.ERROR, "native step wrote:\nerror: op not supported")]
