"""Atomic writes: a reader sees the old content or the new, never a part; no temp files left."""

import os

import pytest

from models import fileio


def test_write_text_replaces_and_leaves_no_temporary_file(tmp_path):
  path = str(tmp_path / "sub" / "a.json")
  fileio.write_json(path, {"b": 1, "a": [1.5]})
  assert fileio.read_text(path) == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}'
  fileio.write_text(path, "new")
  assert fileio.read_text(path) == "new"
  assert os.listdir(tmp_path / "sub") == ["a.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
  path = tmp_path / "a.txt"
  path.write_text("old")
  with pytest.raises(RuntimeError):
    with fileio.open_atomic(str(path), "w") as f:
      f.write("half of the new")
      raise RuntimeError("crash while writing")
  assert path.read_text() == "old"
  assert os.listdir(tmp_path) == ["a.txt"]


def test_write_directory_replaces_the_folder_whole(tmp_path):
  target = tmp_path / "bundle"

  def save(version):
    def write(folder):
      os.makedirs(folder)
      with open(os.path.join(folder, "model.bin"), "w") as f:
        f.write(version)
    return write

  fileio.write_directory(save("v1"), str(target))
  fileio.write_directory(save("v2"), str(target))
  assert (target / "model.bin").read_text() == "v2"
  assert sorted(os.listdir(tmp_path)) == ["bundle"]


def test_a_failed_directory_write_keeps_the_old_folder_and_cleans_up(tmp_path):
  target = tmp_path / "bundle"
  target.mkdir()
  (target / "model.bin").write_text("v1")

  def broken(folder):
    os.makedirs(folder)
    (tmp_path / folder / "part").write_text("half")
    raise RuntimeError("crash while saving")

  with pytest.raises(RuntimeError):
    fileio.write_directory(broken, str(target))
  assert (target / "model.bin").read_text() == "v1"
  assert sorted(os.listdir(tmp_path)) == ["bundle"]


def test_copy_file(tmp_path):
  (tmp_path / "a").write_bytes(b"\x00\x01")
  fileio.copy_file(str(tmp_path / "a"), str(tmp_path / "out" / "b"))
  assert (tmp_path / "out" / "b").read_bytes() == b"\x00\x01"
