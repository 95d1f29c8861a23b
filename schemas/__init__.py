"""The curated schema of the raw examples (schema.pbtxt) and the one knob it depends on."""

import os

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.pbtxt")


def curated_schema(history_length: int) -> str:
  """schema.pbtxt as text, with the history's fixed length set (example_gen.history_length).

  The checked-in file leaves that length out: it is a knob, set here on the parsed
  proto rather than by editing text.
  """
  # pylint: disable=g-import-not-at-top
  from google.protobuf import text_format
  from tensorflow_metadata.proto.v0 import schema_pb2
  from models import features
  # pylint: enable=g-import-not-at-top
  with open(SCHEMA_FILE) as f:
    schema = text_format.Parse(f.read(), schema_pb2.Schema())
  history = next(f for f in schema.feature if f.name == features.HISTORY_ITEM_IDS)
  history.shape.Clear()
  history.shape.dim.add().size = history_length
  return text_format.MessageToString(schema)
