"""Small file helpers shared by the executors: nothing half-written."""

import json
import os
from typing import Any


def write_json(path: str, value: Any) -> None:
  """Writes JSON under a temporary name, then renames it into place (local or GCS paths)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.io.gfile.makedirs(os.path.dirname(path))
  tmp = path + ".tmp"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(json.dumps(value, indent=2, sort_keys=True, default=float))
  tf.io.gfile.rename(tmp, path, overwrite=True)
