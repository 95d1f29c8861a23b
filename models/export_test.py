"""TFLite conversion without QAT (the post-training-int8 baseline) is full-integer too; native
stderr of the converter goes to the log."""

import json
import logging
import os
import uuid

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
  # Every branch on: bilinear dots, the user-attribute x item-attribute dots and the
  # attribute vector's dot with the item, beside and into the tower, wide inputs with their
  # bias tables.
  model = student.build_student(StudentConfig(embedding_dim=8, hidden_layers=(16,),
                                              dots_into_tower=True, wide_inputs=True,
                                              bilinear_dots=True, attribute_dots=True,
                                              attribute_vector_dot=True),
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


def test_conversion_from_the_variables_alone_gives_the_bytes_of_the_keras_model(monkeypatch):
  """convert_to_tflite hands the converter the model's variables, not the Keras model (whose
  temporary SavedModel traced every layer): the converted model must be the same bytes."""
  keras.utils.set_random_seed(0)
  model = student.build_student(StudentConfig(embedding_dim=8, hidden_layers=(16,)), SIZES)
  signature = student.student_input_signature(SIZES)
  batches = [student.cast_ids({k: tf.constant(v) for k, v in b.items()})
             for b, _ in _random_batches(4, 16, seed=1)]
  ours = export.convert_to_tflite(model, signature, lambda: iter(batches))

  from_functions = tf.lite.TFLiteConverter.from_concrete_functions
  given = []

  def with_the_keras_model(functions, trackable_obj=None):
    given.append(trackable_obj)
    return from_functions(functions, model)

  monkeypatch.setattr(tf.lite.TFLiteConverter, "from_concrete_functions", with_the_keras_model)
  keras_path = export.convert_to_tflite(model, signature, lambda: iter(batches))
  assert not isinstance(given[0], keras.Model)
  assert {id(v) for v in given[0].model_variables} == {id(v) for v in model.variables}
  assert ours == keras_path


def test_student_branches_add_exactly_their_weights():
  def build(**overrides):  # every branch off unless asked for
    return student.build_student(StudentConfig(embedding_dim=8, hidden_layers=(16,),
                                               **{"attribute_dots": False, **overrides}),
                                 SIZES)
  full = build(dots_into_tower=True, wide_inputs=True)
  names = {layer.name for layer in full.layers}
  assert {"user_dot_item", "history_dot_item", "user_dot_logit", "history_dot_logit",
          "hidden_0_user_dot", "hidden_0_history_dot", "wide_logit", "user_bias", "item_bias",
          "logit_sum"} <= names
  plain = build(interaction_dots=False, dots_into_tower=False, wide_inputs=False)
  assert not any("dot" in layer.name or "wide" in layer.name for layer in plain.layers)
  beside = build(dots_into_tower=False, wide_inputs=False)
  into = build(dots_into_tower=True, wide_inputs=False)
  bilinear = build(dots_into_tower=True, wide_inputs=False, bilinear_dots=True)
  attributes = build(dots_into_tower=True, wide_inputs=False, attribute_dots=True)
  # Two dot products: two 1 -> 1 Denses with biases beside the tower; into the tower, two
  # 1 x 16 kernels more; the wide inputs: a bias per user and per item and a 4 -> 1 Dense.
  assert beside.count_params() - plain.count_params() == 4
  assert into.count_params() - beside.count_params() == 2 * 16
  assert full.count_params() - into.count_params() == SIZES.users + SIZES.items + 5
  # Bilinear dots: an 8 x 8 kernel (no bias) on the user's and on the history's vector.
  assert bilinear.count_params() - into.count_params() == 2 * 8 * 8
  # Attribute dots: 3 user x 2 item attributes, each dot a 1 -> 1 Dense with bias beside
  # the tower and a 1 x 16 kernel into it; no weights of their own.
  assert {"user_age_xf_genres_dot", "user_gender_xf_item_year_xf_dot"} <= {
      layer.name for layer in attributes.layers}
  assert attributes.count_params() - into.count_params() == 6 * (2 + 16)
  # The attribute vector: a 4 -> 8 Dense per user attribute (one bias), and its dot with the
  # item a 1 -> 1 Dense with bias beside the tower and a 1 x 16 kernel into it.
  vector = build(dots_into_tower=True, wide_inputs=False, attribute_vector_dot=True)
  assert "attribute_vector_dot_item" in {layer.name for layer in vector.layers}
  assert vector.count_params() - into.count_params() == 3 * 4 * 8 + 8 + 2 + 16


def test_bilinear_dots_start_as_the_plain_dots():
  """W starts at the identity: with every other weight copied, the logits are the plain
  dots' model's; moving W moves them."""
  # The initial weights come from the global seed: unseeded, moving W moved the logits by
  # 0.0008-0.0009 instead of over 1e-3 in 2 of 9 runs (0.0016 with this seed).
  keras.utils.set_random_seed(0)

  def build(bilinear):
    return student.build_student(StudentConfig(embedding_dim=8, hidden_layers=(16,),
                                               bilinear_dots=bilinear), SIZES, seed=0)
  plain, bilinear = build(False), build(True)
  plain_weights = {layer.name: layer.get_weights() for layer in plain.layers}
  for layer in bilinear.layers:
    if layer.name in ("user_bilinear", "history_bilinear"):
      np.testing.assert_array_equal(layer.get_weights()[0], np.eye(8))
    elif layer.get_weights():
      layer.set_weights(plain_weights[layer.name])
  features, _ = next(_random_batches(1, 32, seed=3))
  features = {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in features.items()}
  # 1e-5: the two graphs may sum in another order (it failed once at 1e-6 on two xdist
  # workers); moving W below moves the logits by over 1e-3.
  np.testing.assert_allclose(bilinear(features).numpy(), plain(features).numpy(), atol=1e-5)
  bilinear.get_layer("history_bilinear").set_weights([2 * np.eye(8, dtype=np.float32)])
  assert np.abs(bilinear(features).numpy() - plain(features).numpy()).max() > 1e-3


def test_dots_into_tower_needs_the_dots():
  with pytest.raises(ValueError, match="student.dots_into_tower needs"):
    check(StudentConfig(interaction_dots=False, dots_into_tower=True), "student")
  with pytest.raises(ValueError, match="student.bilinear_dots needs"):
    check(StudentConfig(interaction_dots=False, dots_into_tower=False, bilinear_dots=True),
          "student")


def test_file_sizes_gzip(tmp_path):
  path = tmp_path / "zeros.bin"
  path.write_bytes(bytes(10_000))
  sizes = export.file_sizes([str(path)])
  assert sizes["bytes"] == 10_000 and sizes["gzipped_bytes"] < 200


def _copy_tree_to_ram(local_dir):
  """A copy of `local_dir` in TensorFlow's in-memory filesystem (ram://, a stand-in for gs://)."""
  target = f"ram://export_test/{uuid.uuid4().hex}"
  for folder, _, names in os.walk(local_dir):
    relative = os.path.relpath(folder, local_dir)
    remote_folder = target if relative == "." else f"{target}/{relative}"
    tf.io.gfile.makedirs(remote_folder)
    for name in names:
      tf.io.gfile.copy(os.path.join(folder, name), f"{remote_folder}/{name}")
  return target


def _write_bundle_files(folder):
  """The files of a mobile bundle as MobileBundle reads them (the model is not run here)."""
  os.makedirs(folder / export.VOCABULARY_DIR)
  (folder / export.TFLITE_FILE).write_bytes(bytes(range(256)) * 40)
  (folder / export.VOCABULARY_DIR / "user_id.txt").write_text("u1\nu2\n", encoding="utf-8")
  (folder / export.VOCABULARY_DIR / "item_id.txt").write_text("café\ni2\ni3\n",
                                                              encoding="utf-8")
  vocabularies = {name: {"file": f"{export.VOCABULARY_DIR}/{name}.txt", "offset": offset,
                         "oov_index": size + offset}
                  for name, offset, size in (("user_id", 0, 2), ("item_id", 1, 3))}
  year_steps = {"from_feature": "item_year", "steps": [{"from": 0, "bucket": 0}]}
  (folder / export.MANIFEST_FILE).write_text(json.dumps(
      {"model_file": export.TFLITE_FILE, "vocabularies": vocabularies,
       "numeric_features": {export.features.YEAR_BUCKET: year_steps}}))


def test_sizes_and_bundle_read_the_same_from_a_uri(tmp_path):
  _write_bundle_files(tmp_path)
  remote = _copy_tree_to_ram(str(tmp_path))
  local_files = export.tree_files(str(tmp_path))
  remote_files = export.tree_files(remote)
  assert [os.path.relpath(f, str(tmp_path)) for f in local_files] == [
      "manifest.json", "model.tflite", "vocabularies/item_id.txt", "vocabularies/user_id.txt"]
  assert [f[len(remote) + 1:] for f in remote_files] == [
      os.path.relpath(f, str(tmp_path)) for f in local_files]
  assert export.directory_bytes(remote) == export.directory_bytes(str(tmp_path)) == sum(
      os.path.getsize(f) for f in local_files)
  assert export.file_sizes(remote_files) == export.file_sizes(local_files)
  local_bundle, remote_bundle = export.MobileBundle(str(tmp_path)), export.MobileBundle(remote)
  assert remote_bundle.manifest == local_bundle.manifest
  assert remote_bundle.tflite_model == local_bundle.tflite_model == bytes(range(256)) * 40
  assert remote_bundle._lookup("item_id", "café") == local_bundle._lookup("item_id", "café") == 1
  assert remote_bundle._index == local_bundle._index == {
      "user_id": ({"u1": 0, "u2": 1}, 2), "item_id": ({"café": 1, "i2": 2, "i3": 3}, 4)}


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


def _features(count, seed):
  features, _ = next(_random_batches(1, count, seed=seed))
  return {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in features.items()}


def test_representative_rows_are_a_seeded_sample_then_every_table_row():
  features = _features(50, seed=3)
  features["user_prior_like_rate_xf"] = np.arange(50, dtype=np.float32)  # names each row

  def sample(seed):
    batches = list(export.representative_rows(features, 10, seed, {}, batch_size=4))
    assert [len(b["user_id_xf"]) for b in batches] == [4, 4, 4]
    return np.concatenate([b["user_prior_like_rate_xf"] for b in batches]).astype(int)

  picked = sample(7)
  # 10 distinct rows, the last repeated to fill the third batch of 4.
  assert len(set(picked[:10])) == 10 and list(picked[10:]) == [picked[9]] * 2
  batch = next(export.representative_rows(features, 10, 7, {}, batch_size=4))
  for name, values in features.items():
    np.testing.assert_array_equal(batch[name], values[picked[:4]])
  assert list(sample(7)) == list(picked) and list(sample(8)) != list(picked)

  # Then each table row: ids 0.. of a scalar input, 1.. of a list (0 pads), in batches of
  # batch_size, every other input as in the data's first row.
  coverage = list(export.representative_rows(features, 0, 7, SIZES.table_rows(), batch_size=16))
  position = 0
  for name, table_rows in SIZES.table_rows().items():
    wanted = list(range(1 if features[name].ndim == 2 else 0, table_rows))
    ids = []
    while len(ids) < len(wanted):
      batch = coverage[position]
      assert len(batch[name]) == 16
      for other, values in features.items():
        if other != name:
          np.testing.assert_array_equal(batch[other], np.repeat(values[:1], 16, 0))
      assert not batch[name].reshape(16, -1)[:, 1:].any()
      ids += batch[name].reshape(16, -1)[:, 0].tolist()
      position += 1
    assert sorted(set(ids)) == wanted and ids[:len(wanted)] == wanted, name
  assert position == len(coverage)


def test_calibration_reaches_table_rows_the_sample_never_looked_up():
  keras.utils.set_random_seed(0)
  model = student.build_student(StudentConfig(embedding_dim=8, hidden_layers=(16,)), SIZES)
  # One age bucket with values far outside the others', which no sampled row has.
  table = model.get_layer("user_age_xf_embedding")
  weights = table.get_weights()[0]
  weights[5] = 4 * np.abs(weights).max() * np.sign(weights[5] + 1e-9)
  table.set_weights([weights])
  features = _features(400, seed=4)
  features["user_age_xf"] = np.where(features["user_age_xf"] == 5, 4, features["user_age_xf"])
  rare = _features(64, seed=5)
  rare["user_age_xf"][:] = 5
  float_scores = tf.sigmoid(tf.reshape(model(rare), [-1])).numpy()
  signature = student.student_input_signature(SIZES)

  def error(representative):
    tflite_model = export.convert_to_tflite(model, signature, representative)
    return np.mean(np.abs(export.tflite_predict(tflite_model, rare) - float_scores))

  covered = error(lambda: export.representative_rows(features, 400, 0, SIZES.table_rows()))
  sample_only = error(lambda: export.representative_rows(features, 400, 0, {}))
  assert covered < 0.01
  assert sample_only > 3 * covered  # the clipped row: why the coverage rows are there


def test_rank_request_pads_genres_and_fit_cuts_or_pads_at_the_end():
  """What a client sends to `rank`, and how `rank` fits the history and genres to the
  model's widths: cut (most recent first kept) or padded at the end."""
  context = {"user_id": "u1", "history_item_ids": ["x", "y"]}
  candidates = [{"item_id": "a", "item_genres": ["Comedy"], "item_year": 1990},
                {"item_id": "b", "item_genres": ["Action", "Drama", "War"], "item_year": 2000},
                {"item_id": "c", "item_genres": [], "item_year": 0}]
  request = export.rank_request(context, candidates)
  assert request["item_id"].tolist() == ["a", "b", "c"]
  assert request["item_genres"].tolist() == [["Comedy", "", ""], ["Action", "Drama", "War"],
                                             ["", "", ""]]
  assert request["item_year"].tolist() == [1990, 2000, 0]
  assert export.parse_raw_rows([request["context"].item()]) == [
      {"user_id": "u1", "history_item_ids": ["x", "y"]}]
  assert export.rank_request(context, [])["item_genres"].shape == (0, 0)
  fit = export.RankingPreprocessor._fit  # pylint: disable=protected-access
  for values, expected in (([["x", "y"]], [["x", "y", "", ""]]),
                           ([[]], [["", "", "", ""]]),
                           ([["1", "2", "3", "4", "5"]], [["1", "2", "3", "4"]])):
    tensor = tf.constant(values, dtype=tf.string, shape=[1, len(values[0])])
    assert fit(tensor, 4, "").numpy().astype(str).tolist() == expected


def test_encoded_candidates_take_rows_in_order_and_refuse_wrong_inputs():
  item, genre, year = export.CANDIDATE_INPUTS
  inputs = {item: np.array([5, 6, 7]), genre: np.array([[1, 0], [2, 3], [0, 0]]),
            year: np.array([9, 8, 7])}
  encoded = export.EncodedCandidates(inputs, "abc")
  assert len(encoded) == 3
  assert all(value.dtype == np.int32 for value in encoded.inputs.values())
  subset = encoded.take([2, 0])
  assert subset.inputs[item].tolist() == [7, 5]
  assert subset.inputs[genre].tolist() == [[0, 0], [1, 0]]
  assert subset.inputs[year].tolist() == [7, 9]
  assert subset.bundle_sha256 == "abc"
  with pytest.raises(ValueError, match="exactly"):
    export.EncodedCandidates({item: np.array([1])}, "abc")
  with pytest.raises(ValueError, match="different lengths"):
    export.EncodedCandidates({**inputs, year: np.array([1, 2])}, "abc")
  with pytest.raises(ValueError):  # read-only: a kept catalogue cannot change under a request
    encoded.inputs[item][0] = 1


@pytest.mark.parametrize("scale,zero_point", [(0.0039, -128), (0.05, 3), (1.0, 0)])
def test_quantize_values_rounds_half_to_even_and_clips_as_round_and_clip(scale, zero_point):
  rng = np.random.default_rng(0)
  values = np.concatenate([
      rng.normal(0, 200 * scale, 1000),
      # Exactly half-way between two grid points, and far outside [-128, 127].
      (np.arange(-130, 130) + 0.5 - zero_point) * scale,
      np.array([-1e9, 1e9, 0.0])]).astype(np.float32)
  expected = np.clip(np.round(values / scale + zero_point), -128, 127)
  for shape in ([-1], [-1, 1]):
    got = export.quantize_values(values.reshape(shape), scale, zero_point)
    np.testing.assert_array_equal(got.reshape(-1), expected)
  # One row, as a ranking request's context gives it.
  one = np.float32([0.37])
  assert export.quantize_values(one, scale, zero_point) == np.clip(
      np.round(one / scale + zero_point), -128, 127)
  # The scalar path TfliteScorer.rank takes for the context's floats, given float64s (as
  # MobileBundle computes the log count) and float32s alike.
  as_float64 = values.astype(np.float64) + rng.normal(0, 1e-9, len(values))
  for given in (values, as_float64):
    got = [export.quantize_scalar(float(v), scale, zero_point) for v in given]
    np.testing.assert_array_equal(
        got, export.quantize_values(given.astype(np.float32), scale, zero_point))


def test_scorer_rank_equals_score_and_keeps_only_read_only_inputs_between_calls():
  keras.utils.set_random_seed(0)
  model = student.build_student(StudentConfig(embedding_dim=8, hidden_layers=(16,)), SIZES,
                                seed=0)
  batches = [student.cast_ids({k: tf.constant(v) for k, v in b.items()})
             for b, _ in _random_batches(10, 1, seed=1)]
  tflite_model = export.convert_to_tflite(model, student.student_input_signature(SIZES),
                                          lambda: iter(batches))
  rows, _ = next(_random_batches(1, 12, seed=3))
  rows = {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in rows.items()}
  catalogue = export.EncodedCandidates({k: rows[k] for k in export.CANDIDATE_INPUTS}, "m")
  kept = export.TfliteScorer(tflite_model, 12, single_row=export.CONTEXT_INPUTS)

  def expected(user, candidates):
    """A fresh scorer on the context as one-row arrays: nothing held from earlier calls."""
    fresh = export.TfliteScorer(tflite_model, 12, single_row=export.CONTEXT_INPUTS)
    return fresh.score({**{k: rows[k][user:user + 1] for k in export.CONTEXT_INPUTS},
                        **candidates})

  scores = []
  for user in (0, 5, 0, 7):  # other users against the catalogue the scorer keeps
    context = {k: rows[k][user] for k in export.CONTEXT_INPUTS}
    scores.append(kept.rank(context, catalogue.inputs))
    np.testing.assert_array_equal(scores[-1], expected(user, catalogue.inputs))
  assert not np.array_equal(scores[0], scores[1])
  np.testing.assert_array_equal(scores[0], scores[2])
  # The output dequantized as (q - zero_point) * scale.
  scale, zero_point = kept._output["quantization"]  # pylint: disable=protected-access
  raw = kept._interpreter.get_tensor(kept._output["index"])  # pylint: disable=protected-access
  np.testing.assert_array_equal(scores[-1], (raw.astype(np.float32) - zero_point) * scale)
  # A writable array is copied in every call: changed in place, it scores as changed.
  items = catalogue.inputs[export.features.ITEM_INDEX].copy()
  writable = {**catalogue.inputs, export.features.ITEM_INDEX: items}
  context = {k: rows[k][0] for k in export.CONTEXT_INPUTS}
  kept.rank(context, writable)
  items[:] = items[::-1]
  np.testing.assert_array_equal(kept.rank(context, writable), expected(0, writable))


def test_fidelity_rows_are_a_seeded_sample_of_the_whole_split_not_its_first_rows():
  # 10 batches of 10 rows; a row's feature is its position, its label 1 in the first half
  # and 0 in the second: a prefix is a biased slice, as a split ordered by user is.
  positions = np.arange(100)
  dataset = tf.data.Dataset.from_tensor_slices(
      ({"position": positions}, (positions < 50).astype(np.float32)[:, None])).batch(10)

  def cast(batch):
    return {"position": tf.cast(batch["position"], tf.int32)}

  features, labels = export.fidelity_rows(dataset, cast, max_rows=30, seed=7)
  chosen = features["position"]
  assert chosen.dtype == np.int32 and len(chosen) == len(labels) == 30
  assert len(set(chosen)) == 30 and list(chosen) == sorted(chosen)  # distinct, in split order
  assert chosen.max() >= 50 and chosen.min() < 50  # from both halves: both labels
  np.testing.assert_array_equal(labels, (chosen < 50).astype(np.float32))  # rows stay whole
  again, _ = export.fidelity_rows(dataset, cast, max_rows=30, seed=7)
  np.testing.assert_array_equal(again["position"], chosen)
  other, _ = export.fidelity_rows(dataset, cast, max_rows=30, seed=8)
  assert list(other["position"]) != list(chosen)
  # No more rows than asked for: every row, in order.
  every, every_labels = export.fidelity_rows(dataset, cast, max_rows=100, seed=7)
  np.testing.assert_array_equal(every["position"], positions)
  np.testing.assert_array_equal(every_labels, (positions < 50).astype(np.float32))


def test_the_first_layer_sums_the_users_parts_before_the_candidates():
  """With the context as one row (a ranking request), the user's parts are summed on that
  row and broadcast against the candidates in one ADD, not in one per user part: the
  first layer's Add takes every part of the user's before any of the candidate's."""
  def inputs_of_the_sum(**overrides):
    model = student.build_student(StudentConfig(embedding_dim=8, hidden_layers=(16,),
                                                **overrides), SIZES)
    return [layer.name for layer in model.get_layer("hidden_0_sum").inbound_nodes[0]
            .inbound_layers]

  for overrides in ({}, {"attribute_dots": True, "attribute_vector_dot": True}):
    names = inputs_of_the_sum(**overrides)
    candidate = [index for index, name in enumerate(names)
                 if name.endswith(("_item", "_genres", "_item_year_xf")) or "_dot" in name]
    assert len(candidate) >= 5, names  # item, genres, year and the two dots at least
    assert candidate == list(range(len(names) - len(candidate), len(names))), names
    assert names[0] == "hidden_0"  # the user's, with the layer's one bias


def test_the_int8_model_leaves_out_only_its_intermediate_tensors_names():
  keras.utils.set_random_seed(0)
  model = student.build_student(StudentConfig(embedding_dim=8, hidden_layers=(16,)), SIZES)
  signature = student.student_input_signature(SIZES)
  batches = [student.cast_ids({k: tf.constant(v) for k, v in b.items()})
             for b, _ in _random_batches(4, 16, seed=1)]
  named = export.convert_to_tflite(model, signature, lambda: iter(batches),
                                   keep_tensor_names=True)
  shipped = export.convert_to_tflite(model, signature, lambda: iter(batches))
  assert shipped == export.strip_tensor_names(named)
  assert len(shipped) < len(named)

  def names(tflite_model):
    interpreter = export._interpreter(tflite_model)  # pylint: disable=protected-access
    io_names = {d["name"] for d in interpreter.get_input_details()
                + interpreter.get_output_details()}
    return io_names, {d["name"] for d in interpreter.get_tensor_details()} - io_names

  named_io, named_rest = names(named)
  shipped_io, shipped_rest = names(shipped)
  assert shipped_io == named_io and "serving_default_user_id_xf:0" in shipped_io
  assert any("student/" in name for name in named_rest) and shipped_rest == {""}
  assert export.tflite_io(shipped) == export.tflite_io(named)
  assert export.tflite_dtype_census(shipped) == export.tflite_dtype_census(named)
  # The same scores to the bit, and the same signature.
  features, _ = next(_random_batches(1, 64, seed=2))
  features = {k: v.astype(np.int32) if v.dtype == np.int64 else v for k, v in features.items()}
  np.testing.assert_array_equal(export.tflite_predict(shipped, features),
                                export.tflite_predict(named, features))
  assert (export._interpreter(shipped).get_signature_list()  # pylint: disable=protected-access
          == export._interpreter(named).get_signature_list())  # pylint: disable=protected-access
