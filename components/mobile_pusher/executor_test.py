"""MobilePusher: pushes only blessed bundles, versions with sha256 manifests, atomic `latest`."""

import json
import os

import pytest
from tfx.types import standard_artifacts

from components.mobile_pusher import executor
from models import push

pytestmark = pytest.mark.slow  # needs the trained student's bundle


def _blessing(folder, blessed):
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(folder)
  blessing.set_int_custom_property("blessed", int(blessed))
  return blessing


def _push(bundle, blessing, mobile_dir, folder):
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(folder)
  executor.Executor().Do({"mobile_model": [bundle], "model_blessing": [blessing]},
                         {"pushed_model": [pushed]}, {"mobile_dir": str(mobile_dir)})
  return pushed


def test_pushes_versions_only_when_blessed_and_verify_finds_a_corrupt_byte(trained_student,
                                                                           tmp_path):
  bundle = trained_student["mobile_model"]
  mobile = tmp_path / "mobile"
  refused = _push(bundle, _blessing(tmp_path / "no", False), mobile, tmp_path / "p0")
  assert refused.get_int_custom_property("pushed") == 0
  assert not mobile.exists()

  first = _push(bundle, _blessing(tmp_path / "yes", True), mobile, tmp_path / "p1")
  second = _push(bundle, _blessing(tmp_path / "yes", True), mobile, tmp_path / "p2")
  versions = push.versions(str(mobile))
  assert versions == [first.get_string_custom_property("pushed_version"),
                      second.get_string_custom_property("pushed_version")]
  assert int(versions[1]) > int(versions[0])
  assert (mobile / "latest").read_text().strip() == versions[1]
  assert second.get_string_custom_property("pushed_destination") == str(mobile / versions[1])
  with open(mobile / versions[1] / "manifest.json") as f:
    manifest = json.load(f)
  assert manifest["version"] == versions[1]
  assert {"model.tflite"} <= set(manifest["files"])
  assert all(name.startswith("vocabularies/") for name in manifest["files"] if name != "model.tflite")
  assert push.verify_mobile(str(mobile)) == []
  # Nothing hidden or temporary is left beside the versions.
  assert sorted(os.listdir(mobile)) == sorted(versions + ["latest"])

  model = mobile / versions[0] / "model.tflite"
  data = bytearray(model.read_bytes())
  data[len(data) // 2] ^= 0x01
  model.write_bytes(bytes(data))
  problems = push.verify_mobile(str(mobile))
  assert problems == [f"{model}: sha256 differs from the manifest's"]
