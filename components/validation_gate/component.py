"""ValidationGate: passes the schema on to Transform only when ExampleValidator found nothing."""

import os

import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from components.validation_gate import executor

SCHEMA_FILE = "schema.pbtxt"


@component
def ValidationGate(  # pylint: disable=invalid-name
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    schema: InputArtifact[standard_artifacts.Schema],
    validated_schema: OutputArtifact[standard_artifacts.Schema]) -> None:
  """Raises ValidationGateError listing each anomaly; else copies the schema through.

  Transform takes `validated_schema`, so it runs only after a clean validation,
  on every orchestrator, and MLMD records which validation let the data through.
  """
  executor.check(anomalies.uri, artifact_utils.decode_split_names(anomalies.split_names))
  source = os.path.join(schema.uri, SCHEMA_FILE)
  target = os.path.join(validated_schema.uri, SCHEMA_FILE)
  tf.io.gfile.makedirs(validated_schema.uri)
  tf.io.gfile.copy(source, target + ".tmp", overwrite=True)
  tf.io.gfile.rename(target + ".tmp", target, overwrite=True)
