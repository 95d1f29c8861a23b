"""Pushing blessed models where servers and apps pick them up, and checking what was pushed.

* Serving: `<serving_dir>/<model_name>/<version>/` is TF Serving's layout; a version
  folder appears whole (copied under a hidden temporary name, then renamed), so TF
  Serving, which loads any new numeric folder, never sees half a model.
  (On object stores such as gs:// a rename copies object by object; TF Serving
  then still sees a version only once its saved_model.pb, copied last, exists.)
* Mobile: `<mobile_dir>/<version>/` holds the bundle (model.tflite, vocabularies/,
  manifest.json with the sha256 and size of every other file); `<mobile_dir>/latest`
  names the newest version and is replaced atomically. Earlier versions stay.
"""

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from typing import Dict, List, Optional

from models import fileio
from models.dataclass_json import Section, knob

LATEST_FILE = "latest"
MANIFEST_FILE = "manifest.json"
WARMUP_PATH = os.path.join("assets.extra", "tf_serving_warmup_requests")
_VERSION = re.compile(r"^\d+$")


@dataclasses.dataclass
class PushConfig(Section):
  """Where blessed models go. Empty folders mean `<run>/serving` and `<run>/mobile`."""
  # TF Serving's model base path is <serving_dir>/<model_name>.
  serving_dir: str = ""
  mobile_dir: str = ""
  model_name: str = "distillrec"

  def validate(self, where: str) -> None:
    if not re.match(r"^[A-Za-z0-9_.-]+$", self.model_name):
      raise ValueError(f"{knob(where, 'model_name')} must be a folder name (letters, digits, "
                       f"_ . -), got {self.model_name!r}")


def _gfile():
  """tf.io.gfile: one file API for local folders and buckets (gs://, s3://, ...)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


def _tf_errors():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.errors.OpError


def _read(path: str, mode: str = "rb"):
  with _gfile().GFile(path, mode) as f:
    return f.read()


def _copy_tree(source: str, target: str) -> None:
  """Copies every file below `source` to the same place below `target`, saved_model.pb
  last (TF Serving and TFX take its presence to mean the model is complete)."""
  gfile = _gfile()
  files = relative_files(source)
  for name in sorted(files, key=lambda n: n == "saved_model.pb"):
    gfile.makedirs(os.path.dirname(os.path.join(target, name)))
    gfile.copy(os.path.join(source, name), os.path.join(target, name), overwrite=True)


def new_version(base_dir: str) -> str:
  """A Unix-seconds version newer than every version already under base_dir."""
  existing = [int(v) for v in versions(base_dir)]
  return str(max([int(time.time())] + [v + 1 for v in existing]))


def versions(base_dir: str) -> List[str]:
  """Version folders under base_dir, oldest first (numeric names only)."""
  gfile = _gfile()
  if not gfile.isdir(base_dir):
    return []
  return sorted((name.rstrip("/") for name in gfile.listdir(base_dir)
                 if _VERSION.match(name.rstrip("/"))
                 and gfile.isdir(os.path.join(base_dir, name.rstrip("/")))), key=int)


def sha256_of_file(path: str) -> str:
  digest = hashlib.sha256()
  with _gfile().GFile(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def relative_files(folder: str) -> List[str]:
  """Every file below folder, as paths relative to it ('/'-separated), sorted."""
  folder = folder.rstrip("/")
  return sorted(os.path.relpath(os.path.join(root, name), folder)
                for root, _, names in _gfile().walk(folder) for name in names)


def push_mobile_bundle(bundle_dir: str, mobile_dir: str,
                       metadata: Optional[Dict] = None) -> str:
  """Copies the bundle to `<mobile_dir>/<version>/`, then points `latest` at it.

  The pushed manifest.json is the bundle's, plus "version", "files" (sha256 and
  bytes of every other file, computed from the source) and `metadata`. Returns the
  version.
  """
  gfile = _gfile()
  manifest = json.loads(_read(os.path.join(bundle_dir, MANIFEST_FILE), "r"))
  names = [name for name in relative_files(bundle_dir) if name != MANIFEST_FILE]
  manifest["files"] = {name: {"sha256": sha256_of_file(os.path.join(bundle_dir, name)),
                              "bytes": gfile.stat(os.path.join(bundle_dir, name)).length}
                       for name in names}
  version = new_version(mobile_dir)
  manifest["version"] = version
  manifest.update(metadata or {})

  def save(folder):
    for name in names:
      gfile.makedirs(os.path.dirname(os.path.join(folder, name)))
      gfile.copy(os.path.join(bundle_dir, name), os.path.join(folder, name), overwrite=True)
    with gfile.GFile(os.path.join(folder, MANIFEST_FILE), "w") as f:
      f.write(json.dumps(manifest, indent=2, sort_keys=True))

  target = os.path.join(mobile_dir, version)
  if gfile.exists(target):
    raise FileExistsError(f"{target} exists already; versions are never overwritten")
  fileio.write_directory(save, target)
  fileio.write_text(os.path.join(mobile_dir, LATEST_FILE), version + "\n")
  return version


def push_saved_model(model_dir: str, base_dir: str) -> str:
  """Copies a SavedModel folder to `<base_dir>/<version>/` whole; returns the version."""
  version = new_version(base_dir)
  target = os.path.join(base_dir, version)
  fileio.write_directory(lambda folder: _copy_tree(model_dir, folder), target)
  return version


# --- Verifying what was pushed ---------------------------------------------------------


def verify_mobile(mobile_dir: str) -> List[str]:
  """Problems of every pushed mobile version (empty when all is well)."""
  problems = []
  found = versions(mobile_dir)
  if not found:
    return [f"{mobile_dir}: no pushed mobile version"]
  for version in found:
    folder = os.path.join(mobile_dir, version)
    try:
      manifest = json.loads(_read(os.path.join(folder, MANIFEST_FILE), "r"))
    except (OSError, ValueError, _tf_errors()) as e:
      problems.append(f"{os.path.join(folder, MANIFEST_FILE)}: unreadable manifest ({e})")
      continue
    for name, entry in sorted(manifest.get("files", {}).items()):
      path = os.path.join(folder, name)
      if not _gfile().exists(path):
        problems.append(f"{path}: missing (listed in the manifest)")
      elif sha256_of_file(path) != entry["sha256"]:
        problems.append(f"{path}: sha256 differs from the manifest's")
    unlisted = set(relative_files(folder)) - set(manifest.get("files", {})) - {MANIFEST_FILE}
    problems += [f"{os.path.join(folder, name)}: not in the manifest" for name in sorted(unlisted)]
  latest_path = os.path.join(mobile_dir, LATEST_FILE)
  if not _gfile().exists(latest_path):
    problems.append(f"{latest_path}: missing")
  else:
    latest = _read(latest_path, "r").strip()
    if latest != found[-1]:
      problems.append(f"{latest_path}: names {latest!r}, the newest version is {found[-1]!r}")
  return problems


_SCORE_WARMUP = textwrap.dedent("""
    import sys
    import tensorflow as tf
    banned = ('models', 'pipeline', 'components', 'interactions', 'tfx', 'tensorflow_transform')
    loaded_project = [m for m in sys.modules if m.split('.')[0] in banned]
    assert not loaded_project, f'not a clean process: {loaded_project}'
    from tensorflow_serving.apis import prediction_log_pb2
    folder, warmup = sys.argv[1], sys.argv[2]
    model = tf.saved_model.load(folder)
    requests = 0
    for record in tf.data.TFRecordDataset(warmup):
      request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
      signature = model.signatures[request.model_spec.signature_name or 'serving_default']
      inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
      scores = signature(**{k: tf.constant(v) for k, v in inputs.items()})['score'].numpy()
      rows = len(next(iter(inputs.values())))
      assert scores.shape == (rows,), scores.shape
      assert ((scores >= 0) & (scores <= 1)).all(), scores
      requests += 1
    assert requests > 0, 'no warmup request'
    print(requests)
""")


def verify_saved_model(version_dir: str, timeout: int = 300) -> Optional[str]:
  """Loads the SavedModel in a fresh process that imports only TensorFlow and scores its
  own warmup requests; returns the problem, or None."""
  warmup = os.path.join(version_dir, WARMUP_PATH)
  if not _gfile().exists(os.path.join(version_dir, "saved_model.pb")):
    return f"{os.path.join(version_dir, 'saved_model.pb')}: missing"
  if not _gfile().exists(warmup):
    return f"{warmup}: missing"
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  result = subprocess.run([sys.executable, "-c", _SCORE_WARMUP, version_dir, warmup],
                          capture_output=True, text=True, env=env, timeout=timeout)
  if result.returncode != 0:
    last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
    return f"{version_dir}: does not load or score its warmup requests: {last}"
  return None


def verify_serving(model_base_dir: str) -> List[str]:
  """Problems of every pushed SavedModel version under `<serving_dir>/<model_name>`."""
  found = versions(model_base_dir)
  if not found:
    return [f"{model_base_dir}: no pushed serving version"]
  return [problem for problem in (verify_saved_model(os.path.join(model_base_dir, v))
                                  for v in found) if problem]
