"""Pushing and verifying on small folders: versions, sha256 manifests, atomic copies."""

import hashlib
import json
import os

import pytest

from models import push


def _bundle(folder, model=b"tflite bytes"):
  os.makedirs(folder / "vocabularies")
  (folder / "model.tflite").write_bytes(model)
  (folder / "vocabularies" / "item_id.txt").write_text("a\nb\n")
  (folder / "manifest.json").write_text(json.dumps({"model_file": "model.tflite"}))
  return str(folder)


def test_mobile_push_writes_a_version_with_hashes_and_moves_latest(tmp_path):
  bundle = _bundle(tmp_path / "bundle")
  mobile = tmp_path / "mobile"
  first = push.push_mobile_bundle(bundle, str(mobile), metadata={"source": "x"})
  second = push.push_mobile_bundle(bundle, str(mobile))
  assert push.versions(str(mobile)) == [first, second] and int(second) > int(first)
  assert (mobile / "latest").read_text() == second + "\n"
  manifest = json.loads((mobile / first / "manifest.json").read_text())
  assert manifest["model_file"] == "model.tflite" and manifest["source"] == "x"
  assert manifest["files"] == {
      "model.tflite": {"sha256": hashlib.sha256(b"tflite bytes").hexdigest(), "bytes": 12},
      "vocabularies/item_id.txt": {"sha256": hashlib.sha256(b"a\nb\n").hexdigest(),
                                   "bytes": 4}}
  assert push.verify_mobile(str(mobile)) == []
  assert sorted(os.listdir(mobile)) == sorted([first, second, "latest"])


def test_verify_mobile_names_what_is_wrong(tmp_path):
  mobile = tmp_path / "mobile"
  version = push.push_mobile_bundle(_bundle(tmp_path / "bundle"), str(mobile))
  (mobile / version / "vocabularies" / "item_id.txt").write_text("a\nc\n")
  (mobile / version / "extra.bin").write_bytes(b"?")
  (mobile / "latest").write_text("123\n")
  assert push.verify_mobile(str(mobile)) == [
      f"{mobile / version / 'vocabularies' / 'item_id.txt'}: sha256 differs from the manifest's",
      f"{mobile / version / 'extra.bin'}: not in the manifest",
      f"{mobile / 'latest'}: names '123', the newest version is '{version}'"]
  assert push.verify_mobile(str(tmp_path / "none")) == [
      f"{tmp_path / 'none'}: no pushed mobile version"]


def test_versions_only_grow_even_when_the_clock_is_behind(tmp_path):
  future = str(int(4e9))
  os.makedirs(tmp_path / future)
  assert push.new_version(str(tmp_path)) == str(int(4e9) + 1)


def test_a_saved_model_copy_that_fails_leaves_no_version(tmp_path, monkeypatch):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  source = tmp_path / "model"
  os.makedirs(source / "variables")
  (source / "saved_model.pb").write_bytes(b"pb")
  (source / "variables" / "v.data").write_bytes(b"weights")
  real_copy = tf.io.gfile.copy
  copied = []

  def copy_then_crash(src, dst, overwrite=False):
    if src.endswith("saved_model.pb"):
      raise OSError("disk full")
    copied.append(os.path.basename(src))
    return real_copy(src, dst, overwrite=overwrite)

  monkeypatch.setattr(tf.io.gfile, "copy", copy_then_crash)
  with pytest.raises(OSError, match="disk full"):
    push.push_saved_model(str(source), str(tmp_path / "serving"))
  assert copied == ["v.data"]  # the variables were copied, saved_model.pb (last) was not
  assert os.listdir(tmp_path / "serving") == []
  monkeypatch.setattr(tf.io.gfile, "copy", real_copy)
  version = push.push_saved_model(str(source), str(tmp_path / "serving"))
  assert os.listdir(tmp_path / "serving") == [version]
  assert (tmp_path / "serving" / version / "variables" / "v.data").read_bytes() == b"weights"


def test_model_name_must_be_a_folder_name():
  with pytest.raises(ValueError, match="push.model_name must be a folder name"):
    push.PushConfig(model_name="a/b").validate("push")
