"""ServingPusher: TF Serving's layout, only when blessed, and a failed copy leaves nothing."""

import os

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.serving_pusher import executor
from models import push

pytestmark = pytest.mark.slow  # needs the trained student


def _push(model, blessed, base, folder):
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(folder / "blessing")
  blessing.set_int_custom_property("blessed", int(blessed))
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(folder / "pushed")
  destination = pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(base)))
  executor.Executor().Do({"model": [model], "model_blessing": [blessing]},
                         {"pushed_model": [pushed]},
                         {"push_destination": proto_utils.proto_to_json(destination)})
  return pushed


def test_blessed_model_lands_in_tf_serving_layout_and_verifies(trained_student, tmp_path):
  base = tmp_path / "serving" / "distillrec"
  not_pushed = _push(trained_student["model"], False, base, tmp_path / "a")
  assert not_pushed.get_int_custom_property("pushed") == 0 and not base.exists()
  pushed = _push(trained_student["model"], True, base, tmp_path / "b")
  version = pushed.get_string_custom_property("pushed_version")
  assert os.listdir(base) == [version] and version.isdigit()
  assert (base / version / "saved_model.pb").exists()
  assert (base / version / "assets.extra" / "tf_serving_warmup_requests").exists()
  assert push.verify_serving(str(base)) == []  # loads and scores in a TensorFlow-only process


def test_a_copy_that_fails_halfway_leaves_no_version(trained_student, tmp_path, monkeypatch):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  base = tmp_path / "serving" / "distillrec"
  real_copy = tf.io.gfile.copy

  def copy_then_crash(source, target, overwrite=False):
    if source.endswith("saved_model.pb"):  # copied last: the variables are there by now
      raise OSError("disk full")
    return real_copy(source, target, overwrite=overwrite)

  monkeypatch.setattr(tf.io.gfile, "copy", copy_then_crash)
  with pytest.raises(OSError, match="disk full"):
    _push(trained_student["model"], True, base, tmp_path / "c")
  assert not base.exists() or os.listdir(base) == []
