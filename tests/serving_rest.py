"""TF Serving's REST `predict` request, as the README shows it, turned into tensors.

No TF Serving binary or container engine exists on the machines this project is built
on, so the README's curl requests cannot be sent. This module stands in for the part of
the server that matters to a client: it reads the README's request bodies and converts
them to tensors by the rules TF Serving documents for the REST API
(tensorflow_serving/g3doc/api_rest.md) and implements in
tensorflow_serving/util/json_tensor.cc (`FillPredictRequestFromJson`, row format):

1. The body is a JSON object. `signature_name` is optional (a string; absent means
   `serving_default`). Exactly one of `instances` (row format) and `inputs` (columnar
   format) is present. In the columnar format `inputs` maps each input name to its
   whole tensor, batch dimension included (one bare tensor for a one-input signature),
   converted by rules 4-5 per input.
2. `instances` is a non-empty list with one entry per row of the batch.
3. With more than one signature input, every entry is an object whose keys are exactly
   the signature's input names. With one input, entries are either all bare values for
   it (a `{"b64": ...}` object counts as a bare value) or all objects keyed by its name.
4. An entry's value for one input is a dense nested list (a scalar for a rank-0 value):
   the shape is read from the first element at each level, every list must have that
   size and every leaf sit at the same depth. Every entry gives the same shape, and the
   batch is their stack: shape [number of entries] + that shape.
5. Leaves are converted by the input's dtype in the SignatureDef (TF Serving reads the
   same TensorInfo): DT_STRING takes a JSON string (its UTF-8 bytes) or an object with
   the single key `b64`, whose base64 text is decoded to the bytes (how serialized
   `tf.Example`s travel); integer types take JSON integers in range (not `1.0`, not
   `true`); DT_FLOAT and DT_DOUBLE take any JSON number that converts without loss
   (integers up to 2^24 - 1 for float; doubles within the type's range), rounded to the
   nearest float; DT_BOOL takes `true`/`false`.
6. The response to a row-format request is `{"predictions": [...]}`, one entry per
   instance; with more than one output, each entry is an object keyed by output name.

Not implemented because the README does not use them: the columnar format's `outputs`
response, `classify`/`regress` bodies, and the `_bytes` suffix, which in
TF Serving only decides how DT_STRING *outputs* are written back (as `{"b64": ...}`);
inputs are decoded by the `b64` object alone, whatever their name. One check is added:
a value's shape must fit the SignatureDef's known dimensions (the SavedModel's function
refuses anything else when it is called).

The scoring itself runs in a process that imports only TensorFlow, as in
tests/saved_model_check.py.
"""

import base64
import collections
import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

DEFAULT_SIGNATURE = "serving_default"
SECTION_HEADING = "## Serving the student with TF Serving"
# The README labels each request body with the file curl posts ("`request_x.json`:")
# right above its ```json block, and shows each curl call with its answer in a
# ```console block, the way TF Serving's own REST page does.
_BODY = re.compile(r"^`(?P<file>[\w.-]+\.json)`:\n\n```json\n(?P<body>.*?)\n```$",
                   re.MULTILINE | re.DOTALL)
_CONSOLE = re.compile(r"^```console\n(?P<text>.*?)\n```$", re.MULTILINE | re.DOTALL)
_CURL = re.compile(r"^\$ curl .*?-d @(?P<file>[\w.-]+\.json) .*?"
                   r"(?P<url>http://\S+/v1/models/(?P<model>[\w.-]+)(?:/versions/\d+)?:predict)$")

_FLOAT_RANGES = {"float32": (np.finfo(np.float32), 2 ** 24 - 1),
                 "float64": (np.finfo(np.float64), 2 ** 53 - 1)}
_INT_RANGES = {name: np.iinfo(name) for name in ("int8", "uint8", "int16", "int32", "int64")}


class InputSpec(NamedTuple):
  """One input of a SignatureDef: a numpy-style dtype name and dims (None: unknown)."""
  dtype: str
  shape: Optional[Tuple[Optional[int], ...]]  # None: unknown rank


class RestRequestError(ValueError):
  """A body TF Serving would answer with {"error": ...}; the message says why."""


class ReadmeCall(NamedTuple):
  """One curl call of the README: the body it posts, the URL, and the answer shown."""
  file: str
  body: str
  url: str
  model: str
  response: str


def readme_section(readme_text: str, heading: str = SECTION_HEADING) -> str:
  """The text from `heading` to the next second-level heading."""
  start = readme_text.find(heading + "\n")
  if start < 0:
    raise ValueError(f"README has no section {heading!r}")
  end = readme_text.find("\n## ", start + len(heading))
  return readme_text[start:] if end < 0 else readme_text[start:end]


def readme_calls(section: str) -> List[ReadmeCall]:
  """Every curl call in the section, with the exact body shown for the file it posts."""
  bodies = {m.group("file"): m.group("body") for m in _BODY.finditer(section)}
  calls = []
  for block in _CONSOLE.finditer(section):
    lines = block.group("text").splitlines()
    curl = _CURL.match(lines[0])
    if not curl:
      continue
    if curl.group("file") not in bodies:
      raise ValueError(f"curl posts {curl.group('file')}, which the README does not show")
    calls.append(ReadmeCall(curl.group("file"), bodies[curl.group("file")], curl.group("url"),
                            curl.group("model"), "\n".join(lines[1:])))
  return calls


def signature_name(body: Dict) -> str:
  name = body.get("signature_name", DEFAULT_SIGNATURE)
  if not isinstance(name, str):
    raise RestRequestError(f"'signature_name' key must be a string value, got {name!r}")
  return name


def parse_body(text: str) -> Dict:
  body = json.loads(text)
  if not isinstance(body, dict):
    raise RestRequestError(f"the request body is not a JSON object: {text[:80]!r}")
  return body


def instances_to_tensors(body: Dict, inputs: Dict[str, InputSpec]) -> Dict[str, np.ndarray]:
  """Rules 1-5 of the module docstring: a row-format body -> {input name: batch array}."""
  if "instances" in body and "inputs" in body:
    raise RestRequestError("expecting only one of 'inputs' or 'instances' keys")
  if "inputs" in body:
    return _columns_to_tensors(body["inputs"], inputs)
  if "instances" not in body:
    raise RestRequestError("missing 'inputs' or 'instances' key")
  instances = body["instances"]
  if not isinstance(instances, list):
    raise RestRequestError("expecting 'instances' to be a list")
  if not instances:
    raise RestRequestError("no values in 'instances' list")
  if not inputs:
    raise RestRequestError("the signature has no inputs")

  def is_named(entry):
    return isinstance(entry, dict) and not _is_b64(entry)

  named = is_named(instances[0])
  if not named and len(inputs) > 1:
    raise RestRequestError("instances is a plain list, but the signature has several inputs: "
                           + ",".join(sorted(inputs)))
  values = collections.defaultdict(list)
  for index, entry in enumerate(instances):
    if named != is_named(entry):
      raise RestRequestError(f"instance {index} mixes objects and plain values")
    items = entry.items() if named else [(next(iter(inputs)), entry)]
    if named and set(entry) != set(inputs):
      raise RestRequestError(f"instance {index}: keys {sorted(entry)} must be equal to: "
                             + ",".join(sorted(inputs)))
    for name, value in items:
      try:
        values[name].append(_to_array(value, inputs[name].dtype))
      except RestRequestError as error:
        raise RestRequestError(f"instance {index}, input {name!r}: {error}") from None
  tensors = {}
  for name, rows in values.items():
    shapes = {row.shape for row in rows}
    if len(shapes) > 1:
      raise RestRequestError(f"input {name!r}: instances have different shapes {sorted(shapes)}")
    batch = np.stack(rows)
    _check_shape(name, batch.shape, inputs[name].shape)
    tensors[name] = batch
  return tensors


def _columns_to_tensors(columns, inputs: Dict[str, InputSpec]) -> Dict[str, np.ndarray]:
  """The columnar format: `inputs` is an object of whole tensors by input name (batch
  dimension included), or, for a signature with one input, that one tensor bare."""
  if not inputs:
    raise RestRequestError("the signature has no inputs")
  if not (isinstance(columns, dict) and not _is_b64(columns)):
    if len(inputs) > 1:
      raise RestRequestError("inputs is a plain value, but the signature has several inputs: "
                             + ",".join(sorted(inputs)))
    columns = {next(iter(inputs)): columns}
  if set(columns) != set(inputs):
    raise RestRequestError(f"inputs: keys {sorted(columns)} must be equal to: "
                           + ",".join(sorted(inputs)))
  tensors = {}
  for name, value in columns.items():
    try:
      tensors[name] = _to_array(value, inputs[name].dtype)
    except RestRequestError as error:
      raise RestRequestError(f"input {name!r}: {error}") from None
    _check_shape(name, tensors[name].shape, inputs[name].shape)
  return tensors


def predictions(outputs: Dict[str, np.ndarray]) -> List:
  """Rule 6: the `predictions` list TF Serving answers a row-format request with."""
  sizes = {len(value) for value in outputs.values()}
  if len(sizes) != 1:
    raise RestRequestError(f"outputs have different batch sizes: {sizes}")
  rows = range(sizes.pop())
  if len(outputs) == 1:
    (value,) = outputs.values()
    return [value[i].tolist() for i in rows]
  return [{name: value[i].tolist() for name, value in outputs.items()} for i in rows]


def _is_b64(value) -> bool:
  return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _shape(value) -> Tuple[int, ...]:
  shape = []
  while isinstance(value, list):
    shape.append(len(value))
    if not value:
      break
    value = value[0]
  return tuple(shape)


def _to_array(value, dtype: str) -> np.ndarray:
  shape = _shape(value)
  leaves = []

  def walk(node, level):
    if isinstance(node, list):
      if level >= len(shape):
        raise RestRequestError(f"list at unexpected level {level}, expected < {len(shape)}")
      if len(node) != shape[level]:
        raise RestRequestError(f"list of size {len(node)} at level {level}, "
                               f"expected size {shape[level]}")
      for child in node:
        walk(child, level + 1)
    else:
      if level != len(shape):
        raise RestRequestError(f"value {node!r} at depth {level}, expected depth {len(shape)}")
      leaves.append(_leaf(node, dtype))

  walk(value, 0)
  array = np.empty(len(leaves), dtype=object if dtype == "string" else dtype)
  array[:] = leaves
  return array.reshape(shape)


def _leaf(value, dtype: str):
  if dtype == "string":
    if isinstance(value, str):
      return value.encode("utf-8")
    if _is_b64(value):
      try:
        return base64.b64decode(value["b64"], validate=True)
      except ValueError as error:
        raise RestRequestError(f"unable to base64 decode: {error}") from None
    raise RestRequestError(f"{value!r} is not of expected type: string (or a b64 object)")
  if isinstance(value, dict):
    raise RestRequestError(f"{value!r} is an object; only a string input takes {{'b64': ...}}")
  if dtype == "bool":
    if not isinstance(value, bool):
      raise RestRequestError(f"{value!r} is not of expected type: bool")
    return value
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise RestRequestError(f"{value!r} is not of expected type: {dtype}")
  if dtype in _INT_RANGES:
    limits = _INT_RANGES[dtype]
    if not isinstance(value, int) or not limits.min <= value <= limits.max:
      raise RestRequestError(f"{value!r} is not of expected type: {dtype}")
    return value
  if dtype in _FLOAT_RANGES:
    info, max_int = _FLOAT_RANGES[dtype]
    if isinstance(value, int):
      lossless = abs(value) <= max_int
    else:
      lossless = not np.isfinite(value) or float(info.min) <= value <= float(info.max)
    if not lossless:
      raise RestRequestError(f"cannot convert {value!r} to {dtype} without loss of precision")
    return np.dtype(dtype).type(value)
  raise RestRequestError(f"conversion of JSON values to {dtype} is not implemented")


def _check_shape(name: str, shape: Tuple[int, ...], spec: Optional[Tuple]) -> None:
  if spec is None:
    return
  if len(shape) != len(spec) or any(d is not None and d != s for d, s in zip(spec, shape)):
    raise RestRequestError(f"input {name!r}: shape {list(shape)} does not fit the signature's "
                           f"{[-1 if d is None else d for d in spec]}")


# --- the SavedModel side ------------------------------------------------------------


def signature_specs(saved_model_dir: str) -> Dict[str, Tuple[Dict[str, InputSpec], List[str]]]:
  """{signature: (its inputs, its output names)} from saved_model.pb's SignatureDefs,
  the TensorInfo maps TF Serving converts requests with."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
    saved_model = saved_model_pb2.SavedModel.FromString(f.read())
  (meta_graph,) = saved_model.meta_graphs
  specs = {}
  for name, signature in meta_graph.signature_def.items():
    inputs = {}
    for key, info in signature.inputs.items():
      shape = None if info.tensor_shape.unknown_rank else tuple(
          None if d.size < 0 else d.size for d in info.tensor_shape.dim)
      dtype = tf.dtypes.as_dtype(info.dtype)
      inputs[key] = InputSpec("string" if dtype == tf.string else dtype.name, shape)
    specs[name] = (inputs, sorted(signature.outputs))
  return specs


def predict_in_tensorflow_only_process(saved_model_dir: str, signature: str,
                                       tensors: Dict[str, np.ndarray],
                                       work_dir: str) -> Dict[str, np.ndarray]:
  """Runs one signature on named arrays in a fresh process that imports only TensorFlow
  (no project code, TFX or tf.Transform), and returns its named outputs."""
  inputs_path = os.path.join(work_dir, f"{signature}_inputs.pkl")
  outputs_path = os.path.join(work_dir, f"{signature}_outputs.pkl")
  with open(inputs_path, "wb") as f:
    pickle.dump(tensors, f)
  script = textwrap.dedent(f"""
      import pickle, sys
      import tensorflow as tf
      banned = ('models', 'pipeline', 'components', 'interactions', 'tests', 'tfx',
                'tensorflow_transform')
      assert not [m for m in sys.modules if m.split('.')[0] in banned], 'project code imported'
      with open({inputs_path!r}, 'rb') as f:
        tensors = pickle.load(f)
      function = tf.saved_model.load({saved_model_dir!r}).signatures[{signature!r}]
      outputs = function(**{{name: tf.constant(value) for name, value in tensors.items()}})
      with open({outputs_path!r}, 'wb') as f:
        pickle.dump({{name: value.numpy() for name, value in outputs.items()}}, f)
  """)
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=work_dir, timeout=300)
  if result.returncode != 0:
    raise AssertionError(result.stderr[-3000:])
  with open(outputs_path, "rb") as f:
    return pickle.load(f)
