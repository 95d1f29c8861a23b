"""TeacherTrainer's run logic: train the teacher on examples through the Transform graph,
evaluate, export.

A plain function over paths and hyper-parameters: the TFX executor calls it with
artifact URIs, tests and `make bench` (e.g. the matrix-factorization baseline on
the pipeline's own split) call it with the same paths. TensorFlow is imported
inside `run`, so reading a `TeacherSummary` stays cheap.
"""

import dataclasses
import logging
from typing import Dict, List

from models.dataclass_json import Summary
from models.hparams import TeacherConfig, TransformConfig
from models.metrics import EvalMetrics


@dataclasses.dataclass
class TeacherSummary(Summary):
  """What training the teacher measured; `metrics.json` in the Model and ModelRun artifacts."""
  architecture: str
  parameters: int  # trainable
  epochs_trained: int
  best_epoch: int  # 1-based; its weights were restored
  eval: EvalMetrics  # eval split
  saved_model_bytes: int
  history: Dict[str, List[float]]  # Keras history: loss, auc, val_loss, val_auc (lr) per epoch
  # As TrainingConfig.batch_for chose them for the train split (0: a run from before).
  batch_size: int = 0
  learning_rate: float = 0.0  # the starting rate

  FILE_NAME = "metrics.json"  # in the Model and the ModelRun artifacts


def run(examples_uri: str, transform_graph_uri: str, hparams: TeacherConfig,
        transform: TransformConfig, serving_dir: str, log_dir: str) -> TeacherSummary:
  """Trains on `Split-train` with early stopping on `Split-eval` AUC; exports to serving_dir.

  examples_uri: ExampleGen's raw examples (Split-*/ of gzipped TFRecords), read through
  the Transform graph at transform_graph_uri. The SavedModel
  has `serving_default` on serialized raw tf.Examples, `predict_instances` and
  `transformed_logits`; TensorBoard logs go to log_dir.
  """
  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft
  import tf_keras as keras
  # models.training installs the AutoGraph rules (models/autograph_rules.py).
  from models import export, inputs, teacher, training
  # pylint: enable=g-import-not-at-top
  tft_output = tft.TFTransformOutput(transform_graph_uri)
  sizes = inputs.InputSizes.from_transform_output(tft_output, transform)
  training_config = hparams.training
  # Seeded before anything random is built: the shuffle's order depends on the global
  # seed too, so datasets built first would depend on what ran before in this process.
  keras.utils.set_random_seed(training_config.seed)
  # Parsed once and kept in memory (~0.3 KB a row): every epoch reshuffles the arrays
  # instead of reading and parsing the gzipped split again. In canonical order: the
  # seeded shuffles then give the same batches whatever order Beam wrote the rows in.
  train_arrays = inputs.in_memory(inputs.transformed_dataset(
      inputs.split_files(examples_uri, "train"), tft_output, 4 * training_config.batch_size),
      canonical_order=True)
  batch_size, learning_rate = training_config.batch_for(len(train_arrays[1]))
  train = inputs.shuffled_batches(train_arrays, batch_size, training_config.seed)
  # Read and parsed once, then kept (~0.3 KB a row, as the train split): reading the
  # gzipped eval split of a 1e6 run (98,782 rows) took 0.7-1.3 s, before every epoch's
  # evaluation.
  evaluation = inputs.transformed_dataset(inputs.split_files(examples_uri, "eval"), tft_output,
                                          4 * training_config.batch_size).cache()

  model = teacher.build_teacher(hparams, sizes, seed=training_config.seed)
  parameters = training.count_parameters(model)
  logging.info("TeacherTrainer: %s with %d parameters, %s; %d train rows, batches of %d, "
               "learning rate %g", model.name, parameters, sizes, len(train_arrays[1]),
               batch_size, learning_rate)
  training.compile_model(model, learning_rate,
                         steps_per_execution=training_config.steps_per_execution)
  history, best_epoch = training.fit(model, train, evaluation, training_config,
                                     log_dir=log_dir, name="teacher",
                                     steps_per_pass=-(-len(train_arrays[1]) // batch_size))
  eval_metrics = training.evaluate(lambda batch: model(batch, training=False), evaluation,
                                   sizes.user_oov_id)
  logging.info("TeacherTrainer: eval %s", eval_metrics)

  # With its vectors in transformed_logits: the hints of feature-level distillation.
  export.export_serving_model(model, tft_output, sizes, serving_dir, with_vectors=True)
  return TeacherSummary(
      architecture=hparams.architecture,
      parameters=parameters,
      epochs_trained=len(history.history["loss"]),
      batch_size=batch_size,
      learning_rate=learning_rate,
      best_epoch=best_epoch,
      eval=eval_metrics,
      saved_model_bytes=export.directory_bytes(serving_dir),
      history={k: [float(x) for x in v] for k, v in history.history.items()})
