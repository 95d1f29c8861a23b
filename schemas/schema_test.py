"""The curated schema matches models/features.py, and runs get it with their history length."""

import os

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

from models import features
from pipeline import configs, runners


def _load(path):
  return io_utils.parse_pbtxt_file(path, schema_pb2.Schema())


def test_schema_names_every_raw_feature_once():
  schema = _load(runners.schema_source_path())
  names = [f.name for f in schema.feature]
  assert sorted(names) == sorted(features.RAW_FEATURES)
  assert len(names) == len(set(names))
  by_name = {f.name: f for f in schema.feature}
  assert by_name[features.HISTORY_ITEM_IDS].shape.dim[0].size == 20
  assert by_name[features.LABEL].int_domain.max == 1
  gender = next(d for d in schema.string_domain if d.name == features.USER_GENDER)
  assert features.MISSING in gender.value


def test_prepared_schema_carries_the_configured_history_length(tmp_path):
  config = configs.load_config(overrides=[f"output_dir={tmp_path}",
                                          "example_gen.history_length=7"])
  path = runners.prepare_schema(config)
  schema = _load(path)
  history = next(f for f in schema.feature if f.name == features.HISTORY_ITEM_IDS)
  assert history.shape.dim[0].size == 7
  # Everything else is unchanged, and the name depends on the content.
  default = configs.load_config(overrides=[f"output_dir={tmp_path}"])
  other = runners.prepare_schema(default)
  assert other != path and os.path.basename(other).startswith("schema-")
  assert len(_load(other).feature) == len(schema.feature)
