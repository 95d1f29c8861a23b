"""The teacher: a TFRS DCN-v2 ranking model (or the matrix-factorization baseline).

Inputs are the transformed features of models.inputs; the output is the logit
of "the user likes the item" ([batch, 1]); the serving signature applies the
sigmoid. Item and history share one embedding table.
"""

import tensorflow_recommenders as tfrs
import tf_keras as keras

from models import features, inputs as model_inputs
from models.layers import IdDropout, MaskedMeanPooling, RowDot

def build_inputs(sizes: model_inputs.InputSizes):
  """One keras.Input per model input, named as the transformed feature."""
  return {name: keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype, name=name)
          for name, spec in model_inputs.input_signature(sizes).items()}


def attribute_sizes(sizes: model_inputs.InputSizes):
  return {features.GENDER_INDEX: sizes.genders, features.OCCUPATION_INDEX: sizes.occupations,
          features.AGE_BUCKET: sizes.age_buckets, features.YEAR_BUCKET: sizes.year_buckets,
          features.PRIOR_COUNT_BUCKET: sizes.count_buckets}


def embed_features(inputs, sizes, embedding_dim: int, attribute_dim: int, l2: float,
                   user_id_dropout: float, item_id_dropout: float, seed: int,
                   concatenate: bool = True):
  """(x0, vectors, ids): concatenated embeddings and numeric features, the x0 of a ranking
  model (or, with concatenate=False, those parts by name); the user, item and
  pooled-history vectors (same width) by name; and the user and item ids after IdDropout
  (for other per-id weights, dropped alike)."""
  regularizer = keras.regularizers.l2(l2) if l2 else None
  user = IdDropout(user_id_dropout, sizes.user_oov_id, seed=seed,
                   name="user_id_dropout")(inputs[features.USER_INDEX])
  item = IdDropout(item_id_dropout, sizes.item_oov_id, seed=seed + 1,
                   name="item_id_dropout")(inputs[features.ITEM_INDEX])
  user_table = keras.layers.Embedding(sizes.users, embedding_dim,
                                      embeddings_regularizer=regularizer, name="user_embedding")
  item_table = keras.layers.Embedding(sizes.items, embedding_dim,
                                      embeddings_regularizer=regularizer, name="item_embedding")
  genre_table = keras.layers.Embedding(sizes.genres, attribute_dim, name="genre_embedding")
  history = inputs[features.HISTORY_INDEX]
  genres = inputs[features.GENRE_INDEX]
  vectors = {
      "user": user_table(user),
      "item": item_table(item),
      "history": MaskedMeanPooling(sizes.history_length, name="history_pooling")(
          [item_table(history), history]),
  }
  parts = dict(vectors)
  parts["genres"] = MaskedMeanPooling(sizes.max_genres, name="genre_pooling")(
      [genre_table(genres), genres])
  for key, size in attribute_sizes(sizes).items():
    parts[key] = keras.layers.Embedding(size, attribute_dim, name=f"{key}_embedding")(inputs[key])
  for key in model_inputs.FLOAT_SCALAR_INPUTS:
    parts[key] = keras.layers.Reshape((1,), name=f"{key}_column")(inputs[key])
  ids = {"user": user, "item": item}
  if not concatenate:
    return parts, vectors, ids
  return keras.layers.Concatenate(name="x0")(list(parts.values())), vectors, ids


# The layers whose outputs are the user, item and pooled-history vectors, and which call of
# each (the item table embeds the item first, then the history): what feature-level
# distillation pulls the student's vectors towards (`vector_outputs`).
VECTOR_LAYERS = {"user": ("user_embedding", 0), "item": ("item_embedding", 0),
                 "history": ("history_pooling", 0)}


def vector_outputs(model: keras.Model):
  """{name: KerasTensor} of the user, item and history vectors `model` has (the matrix
  factorization teacher has no history vector); build a keras.Model on them to read them."""
  layers = {layer.name: layer for layer in model.layers}
  return {name: layers[layer].get_output_at(node)
          for name, (layer, node) in VECTOR_LAYERS.items() if layer in layers}


def wide_inputs(inputs, ids, sizes: model_inputs.InputSizes, concatenate: bool = True):
  """[batch, 4]: the user's earlier like-rate and log count, a user and an item bias
  (by name with concatenate=False).

  The cheap signals one-feature baselines rank by; they go to the output layer past the
  dropout on x0, which would otherwise drown four columns among ~200. The biases read
  the ids after IdDropout (`ids` from embed_features), so a row whose id the embeddings
  see as OOV gets the OOV bias too, as an unseen id does at serving.
  """
  parts = {key: keras.layers.Reshape((1,), name=f"wide_{key}")(inputs[key])
           for key in model_inputs.FLOAT_SCALAR_INPUTS}
  parts["user_bias"] = keras.layers.Embedding(sizes.users, 1, embeddings_initializer="zeros",
                                              name="user_bias")(ids["user"])
  parts["item_bias"] = keras.layers.Embedding(sizes.items, 1, embeddings_initializer="zeros",
                                              name="item_bias")(ids["item"])
  if not concatenate:
    return parts
  return keras.layers.Concatenate(name="wide")(list(parts.values()))


def build_teacher(config, sizes: model_inputs.InputSizes, seed: int = 0) -> keras.Model:
  """config: models.hparams.TeacherConfig. `seed` seeds the dropouts; the initial weights
  come from the global seed (keras.utils.set_random_seed), which the trainers set first."""
  inputs = build_inputs(sizes)
  if config.architecture == "mf":
    return build_matrix_factorization(inputs, config, sizes, seed)
  x0, vectors, ids = embed_features(inputs, sizes, config.embedding_dim,
                               config.attribute_embedding_dim, config.embedding_l2,
                               config.user_id_dropout, config.item_id_dropout, seed)
  # Explicit dot products (user . item, history . item) next to the crosses: the
  # teacher contains matrix factorization instead of having to learn it through
  # dropout-noised crosses (without them it lost to plain MF on the synthetic data).
  dots = [RowDot(name=f"{name}_dot_item")([vectors[name], vectors["item"]])
          for name in ("user", "history")]
  x0 = keras.layers.Dropout(config.dropout, seed=seed, name="x0_dropout")(x0)
  cross = x0
  for index in range(config.num_cross_layers):
    cross = tfrs.layers.dcn.Cross(projection_dim=config.cross_projection_dim or None,
                                  kernel_initializer="glorot_uniform",
                                  name=f"cross_{index}")(x0, cross)
  deep = x0
  for index, units in enumerate(config.deep_layers):
    deep = keras.layers.Dense(units, activation="relu", name=f"deep_{index}")(deep)
    deep = keras.layers.Dropout(config.dropout, seed=seed + index + 2,
                                name=f"deep_{index}_dropout")(deep)
  wide = [wide_inputs(inputs, ids, sizes)] if config.wide_inputs else []
  combined = keras.layers.Concatenate(name="cross_deep_dots")([cross, deep] + dots + wide)
  logit = keras.layers.Dense(1, name="logit")(combined)
  return keras.Model(inputs, logit, name="teacher_dcn")


def build_matrix_factorization(inputs, config, sizes, seed: int) -> keras.Model:
  """logit = user . item + user bias + item bias + global bias: the baseline to beat."""
  regularizer = keras.regularizers.l2(config.embedding_l2) if config.embedding_l2 else None
  user = IdDropout(config.user_id_dropout, sizes.user_oov_id, seed=seed,
                   name="user_id_dropout")(inputs[features.USER_INDEX])
  item = IdDropout(config.item_id_dropout, sizes.item_oov_id, seed=seed + 1,
                   name="item_id_dropout")(inputs[features.ITEM_INDEX])
  user_vector = keras.layers.Embedding(sizes.users, config.embedding_dim,
                                       embeddings_regularizer=regularizer,
                                       name="user_embedding")(user)
  item_vector = keras.layers.Embedding(sizes.items, config.embedding_dim,
                                       embeddings_regularizer=regularizer,
                                       name="item_embedding")(item)
  dot = RowDot(name="user_dot_item")([user_vector, item_vector])
  user_bias = keras.layers.Embedding(sizes.users, 1, name="user_bias")(user)
  item_bias = keras.layers.Embedding(sizes.items, 1, name="item_bias")(item)
  logit = keras.layers.Add(name="sum")([dot, user_bias, item_bias])
  logit = keras.layers.Dense(1, name="logit")(logit)  # global bias (and a scale)
  return keras.Model(inputs, logit, name="teacher_mf")
