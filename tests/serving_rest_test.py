"""The REST converter follows TF Serving's rules, so the end-to-end check of the README's
requests means what it says: each rule on a tiny body, and each body TF Serving refuses."""

import base64
import json
import re

import numpy as np
import pytest

from tests import serving_rest

InputSpec = serving_rest.InputSpec
INSTANCE_INPUTS = {"user_id": InputSpec("string", (None,)),
                   "history": InputSpec("string", (None, 3)),
                   "count": InputSpec("int64", (None,)),
                   "rate": InputSpec("float32", (None,))}


def _row(user="u1", history=("a", "b", ""), count=3, rate=0.5):
  return {"user_id": user, "history": list(history), "count": count, "rate": rate}


def test_row_format_batches_each_input_in_instance_order():
  body = {"instances": [_row(), _row("u2", ("c", "", ""), 0, 0.6666667)]}
  tensors = serving_rest.instances_to_tensors(body, INSTANCE_INPUTS)
  assert tensors["user_id"].tolist() == [b"u1", b"u2"]
  assert tensors["history"].shape == (2, 3) and tensors["history"][1].tolist() == [b"c", b"", b""]
  assert tensors["count"].dtype == np.int64 and tensors["count"].tolist() == [3, 0]
  # A JSON double becomes the nearest float32, as TF Serving's GetFloat() does.
  assert tensors["rate"].dtype == np.float32 and tensors["rate"][1] == np.float32(0.6666667)


def test_b64_objects_decode_to_bytes_for_one_input_named_or_bare():
  payload = b"\x0a\x00\xff serialized"
  encoded = {"b64": base64.b64encode(payload).decode()}
  inputs = {"examples": InputSpec("string", (None,))}
  named = serving_rest.instances_to_tensors({"instances": [{"examples": encoded}]}, inputs)
  bare = serving_rest.instances_to_tensors({"instances": [encoded, encoded]}, inputs)
  assert named["examples"].tolist() == [payload] and bare["examples"].tolist() == [payload] * 2


def test_default_signature_and_row_format_response():
  assert serving_rest.signature_name({"instances": [1]}) == "serving_default"
  assert serving_rest.signature_name({"signature_name": "predict_instances"}) == \
      "predict_instances"
  answer = serving_rest.predictions({"score": np.array([0.25, 0.5], np.float32),
                                     "logit": np.array([-1.0, 0.0], np.float32)})
  assert answer == [{"score": 0.25, "logit": -1.0}, {"score": 0.5, "logit": 0.0}]
  assert serving_rest.predictions({"score": np.array([0.25], np.float32)}) == [0.25]


@pytest.mark.parametrize("body, message", [
    ({"instances": []}, "no values in 'instances'"),
    ({"instances": [_row()], "inputs": {}}, "only one of 'inputs' or 'instances'"),
    ({"signature_name": "x"}, "missing 'inputs' or 'instances'"),
    ({"instances": ["u1"]}, "plain list, but the signature has several inputs"),
    ({"instances": [{k: v for k, v in _row().items() if k != "rate"}]}, "keys"),
    ({"instances": [dict(_row(), extra=1)]}, "keys"),
    ({"instances": [_row(count=3.0)]}, "not of expected type: int64"),
    ({"instances": [_row(count=True)]}, "not of expected type: int64"),
    ({"instances": [_row(rate="0.5")]}, "not of expected type: float32"),
    ({"instances": [_row(rate=2 ** 24)]}, "without loss of precision"),
    ({"instances": [_row(rate=1e39)]}, "without loss of precision"),
    ({"instances": [_row(user={"b64": "!!"})]}, "unable to base64 decode"),
    ({"instances": [_row(user={"b64": "dTE=", "x": 1})]}, "not of expected type: string"),
    ({"instances": [_row(count={"b64": "MQ=="})]}, "only a string input takes"),
    ({"instances": [_row(history=["a", "b"])]}, "does not fit the signature's [-1, 3]"),
    ({"instances": [_row(), _row(history=["a"] * 4)]}, "different shapes"),
    ({"instances": [_row(history=[["a"], "b", "c"])]}, "at depth 1, expected depth 2"),
])
def test_bodies_tf_serving_refuses_are_refused(body, message):
  with pytest.raises(serving_rest.RestRequestError, match=re.escape(message)):
    serving_rest.instances_to_tensors(body, INSTANCE_INPUTS)


def test_the_columnar_format_gives_the_same_tensors_as_the_row_format():
  rows = [_row(), _row(user="u2", count=7)]
  expected = serving_rest.instances_to_tensors({"instances": rows}, INSTANCE_INPUTS)
  columns = {name: [row[name] for row in rows] for name in INSTANCE_INPUTS}
  got = serving_rest.instances_to_tensors({"inputs": columns}, INSTANCE_INPUTS)
  assert sorted(got) == sorted(expected)
  for name, value in expected.items():
    np.testing.assert_array_equal(got[name], value)
  with pytest.raises(serving_rest.RestRequestError, match="must be equal to"):
    serving_rest.instances_to_tensors({"inputs": {"user_id": ["u1"]}}, INSTANCE_INPUTS)
  with pytest.raises(serving_rest.RestRequestError, match="does not fit"):
    serving_rest.instances_to_tensors(
        {"inputs": dict(columns, history=["a", "b", "c"])}, INSTANCE_INPUTS)


def test_readme_calls_pair_each_curl_with_the_body_it_posts():
  body = json.dumps({"instances": [1]})
  section = (f"{serving_rest.SECTION_HEADING}\n\n`request_a.json`:\n\n```json\n{body}\n```\n\n"
             "```console\n$ curl -s -d @request_a.json "
             "http://localhost:8501/v1/models/distillrec:predict\n"
             '{\n    "predictions": [2.0]\n}\n```\n\n## Next\n')
  (call,) = serving_rest.readme_calls(serving_rest.readme_section(section))
  assert (call.file, call.body, call.model) == ("request_a.json", body, "distillrec")
  assert json.loads(call.response) == {"predictions": [2.0]}
  with pytest.raises(ValueError, match="request_b.json"):
    serving_rest.readme_calls(section.replace("@request_a", "@request_b"))
