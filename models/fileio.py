"""Writing files and folders so that nothing is ever half-written: a temporary name, then a rename.

A reader (TF Serving, an app, the next component, a rerun after a crash) sees
either the old content or the new, never a part. Local paths use `os`; paths
with a scheme (gs://, s3://, ...) go through `tf.io.gfile`, imported only then,
so the CLI can write its config without loading TensorFlow.
"""

import contextlib
import json
import os
import shutil
import uuid
from typing import IO, Any, Callable, Iterator


def _is_local(path: str) -> bool:
  return "://" not in path


def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


def _temporary_name(path: str) -> str:
  """A sibling of `path` no other writer uses (hidden, so a folder watcher skips it)."""
  folder, name = os.path.split(path.rstrip("/"))
  return os.path.join(folder, f".{name}.tmp-{uuid.uuid4().hex[:12]}")


@contextlib.contextmanager
def open_atomic(path: str, mode: str = "w", **kwargs) -> Iterator[IO]:
  """Opens a temporary sibling of `path` for writing; renames it into place on success.

  On an exception the temporary file is removed and `path` keeps its old content.
  kwargs (encoding, newline) apply to local files.
  """
  folder = os.path.dirname(path)
  tmp = _temporary_name(path)
  if _is_local(path):
    if folder:
      os.makedirs(folder, exist_ok=True)
    try:
      with open(tmp, mode, **kwargs) as f:
        yield f
      os.replace(tmp, path)
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)
    return
  gfile = _gfile()
  gfile.makedirs(folder)
  try:
    with gfile.GFile(tmp, mode) as f:
      yield f
    gfile.rename(tmp, path, overwrite=True)
  finally:
    if gfile.exists(tmp):
      gfile.remove(tmp)


def read_text(path: str) -> str:
  if _is_local(path):
    with open(path, encoding="utf-8") as f:
      return f.read()
  with _gfile().GFile(path) as f:
    return f.read()


def write_bytes(path: str, data: bytes) -> None:
  with open_atomic(path, "wb") as f:
    f.write(data)


def write_text(path: str, text: str) -> None:
  with open_atomic(path, "w", encoding="utf-8") as f:
    f.write(text)


def write_json(path: str, value: Any) -> None:
  """Pretty, key-sorted JSON; numpy and other numbers that are not JSON types become floats."""
  write_text(path, json.dumps(value, indent=2, sort_keys=True, default=float))


def copy_file(source: str, target: str) -> None:
  """Copies a file (local or remote) to a temporary sibling of `target`, then renames it."""
  if _is_local(source) and _is_local(target):
    with open(source, "rb") as f:
      write_bytes(target, f.read())
    return
  gfile = _gfile()
  with gfile.GFile(source, "rb") as f:
    write_bytes(target, f.read())


def write_directory(save: Callable[[str], None], target_dir: str) -> None:
  """Calls save(tmp_dir) on a temporary sibling folder, then renames it to `target_dir`.

  An existing `target_dir` is replaced (removed just before the rename). If `save`
  fails, the temporary folder is removed and `target_dir` is left as it was.
  """
  target_dir = target_dir.rstrip("/")
  tmp_dir = _temporary_name(target_dir)
  parent = os.path.dirname(target_dir)
  if _is_local(target_dir):
    if parent:
      os.makedirs(parent, exist_ok=True)
    try:
      save(tmp_dir)
      if os.path.exists(target_dir):
        shutil.rmtree(target_dir)
      os.rename(tmp_dir, target_dir)
    finally:
      if os.path.exists(tmp_dir):
        shutil.rmtree(tmp_dir)
    return
  gfile = _gfile()
  if parent:
    gfile.makedirs(parent)
  try:
    save(tmp_dir)
    if gfile.exists(target_dir):
      gfile.rmtree(target_dir)
    gfile.rename(tmp_dir, target_dir)
  finally:
    if gfile.exists(tmp_dir):
      gfile.rmtree(tmp_dir)
