"""The student: a small Keras Functional model with the teacher's inputs.

Functional (not a tfrs.Model subclass) because TF-MOT wraps only Functional and
Sequential models. Id inputs are int32, so the full-integer TFLite model has
only int8/int32 tensors (the serving signature casts Transform's int64 ids).
"""

import tensorflow as tf
import tf_keras as keras

from models import features
from models import inputs as model_inputs
from models.layers import RowDot
from models.teacher import embed_features, wide_inputs

ID_DTYPE = tf.int32
# The attribute embeddings whose products attribute_dots adds (parts of embed_features).
USER_ATTRIBUTES = (features.GENDER_INDEX, features.OCCUPATION_INDEX, features.AGE_BUCKET)
ITEM_ATTRIBUTES = ("genres", features.YEAR_BUCKET)


def student_input_signature(sizes: model_inputs.InputSizes):
  """The model-input TensorSpecs with int32 ids."""
  return {name: tf.TensorSpec(spec.shape, ID_DTYPE if spec.dtype == tf.int64 else spec.dtype,
                              name=name)
          for name, spec in model_inputs.input_signature(sizes).items()}


def cast_ids(batch):
  """int64 transformed ids -> the student's int32."""
  return {name: tf.cast(value, ID_DTYPE) if value.dtype == tf.int64 else value
          for name, value in batch.items()}


def build_student(config, sizes: model_inputs.InputSizes, seed: int = 0) -> keras.Model:
  """config: models.hparams.StudentConfig. Returns logits [batch, 1]. `seed` seeds the
  id dropouts; the initial weights come from the global seed (keras.utils.set_random_seed),
  which the trainers set before building.

  No concatenation anywhere: the first layer is a sum of one Dense per input part
  (the same function as a Dense over their concatenation), and every other branch is
  its own Dense joined by an Add. A full-integer model gives a concatenation, and every
  tensor feeding it, one scale: concatenated into one x0, every embedding table was
  quantized in steps of 0.032 against values of ~0.1, so the int8 dot products came out
  0 where the float ones were -0.02.
  """
  inputs = {name: keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype, name=name)
            for name, spec in student_input_signature(sizes).items()}
  parts, vectors, ids = embed_features(inputs, sizes, config.embedding_dim,
                                       config.attribute_embedding_dim, config.embedding_l2,
                                       config.user_id_dropout, config.item_id_dropout, seed,
                                       concatenate=False)
  dots = {}
  if config.interaction_dots:
    # The teacher's inductive bias: explicit user.item and history.item dot products
    # (MUL and SUM in int8) instead of leaving a small MLP to rediscover matrix
    # factorization.
    for name in ("user", "history"):
      vector = _bilinear(vectors[name], name) if config.bilinear_dots else vectors[name]
      dots[name] = RowDot(name=f"{name}_dot_item")([vector, vectors["item"]])
  if config.attribute_dots:
    # What a new user is ranked by besides a short history: the user's attributes against
    # the item's (age x genre, gender x year, ...), the products the teacher's cross layers
    # form and a small ReLU tower approximates poorly.
    flat = {key: keras.layers.Reshape((parts[key].shape[-1],), name=f"{key}_flat")(parts[key])
            for key in USER_ATTRIBUTES + ITEM_ATTRIBUTES}
    for user_key in USER_ATTRIBUTES:
      for item_key in ITEM_ATTRIBUTES:
        name = f"{user_key}_{item_key}"
        dots[name] = RowDot(name=f"{name}_dot")([flat[user_key], flat[item_key]])
  if config.attribute_vector_dot:
    # A new user's own vector: the user's attributes mapped into the item space (one Dense
    # per attribute, summed) and dotted with the item's vector, the attribute x item-id
    # products the teacher's cross layers form (the OOV user's id vector is one for all).
    attributes = _sum_of_dense({key: parts[key] for key in USER_ATTRIBUTES},
                               vectors["item"].shape[-1], "attribute_vector")
    dots["attribute_vector"] = RowDot(name="attribute_vector_dot_item")(
        [attributes, vectors["item"]])
  first = dict(parts)
  if config.dots_into_tower:
    # The dots reach the tower too, through their own weights.
    first.update({f"{name}_dot": dot for name, dot in dots.items()})
  # The user's parts first, the candidate's after: with the context once (a ranking
  # request's user as one row), the sum of the user's parts stays one row and meets the
  # candidates' rows in one ADD, not in one per part (a default student on the 1e5 run's
  # vocabularies, int8 invoke for 100 candidates, one thread: 40.6 us against 45.7 with the
  # parts in embed_features' order).
  first = {**{key: part for key, part in first.items() if not _candidate_side(key)},
           **{key: part for key, part in first.items() if _candidate_side(key)}}
  hidden = list(config.hidden_layers)
  x = _sum_of_dense(first, hidden[0] if hidden else 1, "hidden_0" if hidden else "logit")
  if hidden:
    x = keras.layers.ReLU(name="hidden_0_relu")(x)
    for index, units in enumerate(hidden[1:], start=1):
      x = keras.layers.Dense(units, activation="relu", name=f"hidden_{index}")(x)
    x = keras.layers.Dense(1, name="logit")(x)
  terms = [x]
  # The dots weighed straight into the logit too, as the teacher's last layer does.
  terms += [keras.layers.Dense(1, name=f"{name}_dot_logit")(dot) for name, dot in dots.items()]
  if config.wide_inputs:
    wide = wide_inputs(inputs, ids, sizes, concatenate=False)
    terms.append(_sum_of_dense(wide, 1, "wide_logit"))
  logit = keras.layers.Add(name="logit_sum")(terms) if len(terms) > 1 else terms[0]
  return keras.Model(inputs, logit, name="student")


def _candidate_side(key: str) -> bool:
  """Whether a part of the first layer depends on the candidate item (its embeddings, or a
  dot product with them), not on the user alone."""
  return key in ("item", *ITEM_ATTRIBUTES) or key.endswith("_dot")


def _bilinear(vector, name: str):
  """W vector, W square and starting at the identity: its dot with the item is
  vector^T W item, the bilinear interaction a full-rank cross layer gives the teacher,
  which starts as the plain dot product."""
  width = vector.shape[-1]
  vector = keras.layers.Reshape((width,), name=f"{name}_bilinear_input")(vector)
  return keras.layers.Dense(width, use_bias=False, kernel_initializer="identity",
                            name=f"{name}_bilinear")(vector)


def _sum_of_dense(parts, units: int, name: str):
  """sum_i W_i part_i + b: a Dense over the parts' concatenation, without concatenating
  (each part keeps its own int8 scale). One bias, on the first part's Dense.

  Each part enters through a Reshape (a no-op): TF-MOT's QAT fails on an Embedding or
  custom layer (the history's pooling) feeding an annotated Dense directly.
  """
  outputs = []
  for index, (key, part) in enumerate(parts.items()):
    part = keras.layers.Reshape((part.shape[-1],), name=f"{name}_{key}_input")(part)
    outputs.append(keras.layers.Dense(units, use_bias=index == 0,
                                      name=name if index == 0 else f"{name}_{key}")(part))
  return keras.layers.Add(name=f"{name}_sum")(outputs) if len(outputs) > 1 else outputs[0]
