"""SavedModel exports with the Transform graph inside.

Signatures:
* `serving_default`: serialized raw `tf.Example`s (what TF Serving's Predict and
  Classify send) -> {"score": P(like), "logit"}. Parsing and the Transform graph
  run inside, so clients send raw ids and values.
* `transformed_logits`: the transformed tensors -> {"logit"}; the distillation
  step computes teacher logits with it, batch by batch.

Models are saved under a temporary name and renamed into place.
"""

import os

import tensorflow as tf

from models import features, inputs as model_inputs

SERVING_SIGNATURE = "serving_default"
TRANSFORMED_SIGNATURE = "transformed_logits"
EXAMPLES_INPUT = "examples"


def raw_serving_feature_spec(tft_output):
  """Raw features a request carries: all but the label and the timestamp (not model inputs)."""
  spec = dict(tft_output.raw_feature_spec())
  spec.pop(features.LABEL, None)
  spec.pop(features.TIMESTAMP, None)
  return spec


def serving_signatures(model, tft_output, sizes: model_inputs.InputSizes):
  """The tf.functions to save with `model` (which gets a `tft_layer` attribute to track)."""
  model.tft_layer = tft_output.transform_features_layer()
  raw_spec = raw_serving_feature_spec(tft_output)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
  def serve_examples(serialized):
    parsed = tf.io.parse_example(serialized, raw_spec)
    transformed = model.tft_layer(parsed)
    logit = model({k: transformed[k] for k in model_inputs.MODEL_INPUTS}, training=False)
    logit = tf.reshape(logit, [-1])
    return {"score": tf.sigmoid(logit), "logit": logit}

  @tf.function(input_signature=[model_inputs.input_signature(sizes)])
  def transformed_logits(transformed):
    return {"logit": tf.reshape(model(transformed, training=False), [-1])}

  return {SERVING_SIGNATURE: serve_examples, TRANSFORMED_SIGNATURE: transformed_logits}


def save_atomically(save_fn, target_dir: str) -> None:
  """Calls save_fn(tmp_dir), then renames tmp_dir to target_dir (replacing it)."""
  tmp_dir = target_dir.rstrip("/") + ".tmp"
  if tf.io.gfile.exists(tmp_dir):
    tf.io.gfile.rmtree(tmp_dir)
  save_fn(tmp_dir)
  if tf.io.gfile.exists(target_dir):
    tf.io.gfile.rmtree(target_dir)
  parent = os.path.dirname(target_dir.rstrip("/"))
  if parent:
    tf.io.gfile.makedirs(parent)
  tf.io.gfile.rename(tmp_dir, target_dir)


def export_serving_model(model, tft_output, sizes: model_inputs.InputSizes,
                         target_dir: str) -> None:
  signatures = serving_signatures(model, tft_output, sizes)
  save_atomically(lambda path: model.save(path, save_format="tf", signatures=signatures),
                  target_dir)


def directory_bytes(path: str) -> int:
  total = 0
  for root, _, files in os.walk(path):
    total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
  return total

