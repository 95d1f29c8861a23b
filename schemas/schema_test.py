"""The curated schema matches models/features.py, and runs get it with their history length."""

import os

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

import schemas
from interactions.config import ExampleGenConfig
from models import features
from pipeline import configs, runners


def _load(path):
  return io_utils.parse_pbtxt_file(path, schema_pb2.Schema())


def test_schema_names_every_raw_feature_once():
  schema = _load(schemas.SCHEMA_FILE)
  names = [f.name for f in schema.feature]
  assert sorted(names) == sorted(features.RAW_FEATURES)
  assert len(names) == len(set(names))
  by_name = {f.name: f for f in schema.feature}
  # The history's length is a knob: not in the checked-in file, set per run.
  assert not by_name[features.HISTORY_ITEM_IDS].HasField("shape")
  assert by_name[features.LABEL].int_domain.max == 1
  gender = next(d for d in schema.string_domain if d.name == features.USER_GENDER)
  assert features.MISSING in gender.value


def test_prepared_schema_carries_the_configured_history_length(tmp_path):
  config = configs.load_config(overrides=[f"output_dir={tmp_path}",
                                          "example_gen.history_length=7"])
  path = runners.prepare_schema(config)
  schema = _load(path)
  history = next(f for f in schema.feature if f.name == features.HISTORY_ITEM_IDS)
  assert [d.size for d in history.shape.dim] == [7]
  # Everything else is the checked-in schema, and the name depends on the content.
  source = _load(schemas.SCHEMA_FILE)
  history.ClearField("shape")
  assert schema == source
  default = configs.load_config(overrides=[f"output_dir={tmp_path}"])
  other = runners.prepare_schema(default)
  assert other != path and os.path.basename(other).startswith("schema-")
  other_history = next(f for f in _load(other).feature if f.name == features.HISTORY_ITEM_IDS)
  assert [d.size for d in other_history.shape.dim] == [ExampleGenConfig().history_length]


def test_activity_domain_lists_every_bucket():
  schema = _load(schemas.SCHEMA_FILE)
  domain = next(d for d in schema.string_domain if d.name == "user_activity")
  assert list(domain.value) == features.activity_buckets()
  seen = next(d for d in schema.string_domain if d.name == "seen_in_train")
  assert sorted(seen.value) == sorted([features.KNOWN, features.NEW])
