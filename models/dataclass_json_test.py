"""Config sections and summaries round-trip through JSON; bad JSON names the key."""

import dataclasses
import math
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest

from models import dataclass_json
from models.dataclass_json import Section, Summary


@dataclasses.dataclass
class Inner(Summary):
  value: float
  names: Tuple[str, ...]


@dataclasses.dataclass
class Outer(Summary):
  count: int
  inner: Inner
  by_name: Dict[str, Inner]
  history: List[float]
  note: Optional[str]

  FILE_NAME = "outer.json"


def _outer():
  return Outer(count=3, inner=Inner(0.5, ("a", "b")), by_name={"x": Inner(1.0, ())},
               history=[0.1, float("nan")], note=None)


def test_summary_round_trip_builds_nested_types(tmp_path):
  outer = _outer()
  outer.write(str(tmp_path))
  back = Outer.read(str(tmp_path))
  assert isinstance(back.inner, Inner) and isinstance(back.by_name["x"], Inner)
  assert back.inner.names == ("a", "b")  # a tuple again, not a list
  assert back.count == 3 and back.note is None and math.isnan(back.history[1])


def test_summary_names_missing_and_unknown_keys(tmp_path):
  with pytest.raises(ValueError, match=r"^inner: Inner unknown keys extra; missing keys "
                                       r"names"):
    Outer.from_json('{"count": 1, "inner": {"value": 1, "extra": 2}, "by_name": {}, '
                    '"history": [], "note": null}')
  (tmp_path / "outer.json").write_text('{"count": 1}')
  with pytest.raises(ValueError, match="outer.json: Outer missing keys by_name, history, "
                                       "inner, note"):
    Outer.read(str(tmp_path))


def test_an_integer_where_a_float_is_declared_becomes_a_float():
  inner = Inner.from_json('{"value": 2, "names": []}')
  assert isinstance(inner.value, float) and inner.value == 2.0


def test_numpy_scalars_are_written_as_plain_numbers():
  plain = dataclass_json.to_plain(Inner(np.float32(0.25), ()))
  assert plain == {"value": 0.25, "names": []} and type(plain["value"]) is float


@dataclasses.dataclass
class Knobs(Section):
  rate: float = 0.5
  layers: Tuple[int, ...] = (4, 2)
  name: Optional[str] = None

  def validate(self, where):
    if not 0 <= self.rate <= 1:
      raise ValueError(f"{dataclass_json.knob(where, 'rate')} must be in [0, 1], got {self.rate}")


@dataclasses.dataclass
class Tree(Section):
  knobs: Knobs = dataclasses.field(default_factory=Knobs)
  steps: int = 1


def test_section_merge_coerces_to_the_default_type_and_names_the_knob():
  tree = dataclass_json.merge(Tree(), {"knobs": {"rate": 1, "layers": [8]}, "steps": 2.0}, "")
  assert tree.knobs.rate == 1.0 and isinstance(tree.knobs.rate, float)
  assert tree.knobs.layers == (8,) and tree.steps == 2 and isinstance(tree.steps, int)
  with pytest.raises(ValueError, match="knobs.layers: expected a list"):
    dataclass_json.merge(Tree(), {"knobs": {"layers": 3}}, "")
  with pytest.raises(ValueError, match="unknown config key 'knobs.rat'"):
    dataclass_json.merge(Tree(), {"knobs": {"rat": 3}}, "")


def test_check_validates_nested_sections_with_their_path():
  with pytest.raises(ValueError, match=r"^knobs.rate must be in \[0, 1\], got 2.0$"):
    dataclass_json.check(Tree(knobs=Knobs(rate=2.0)), "")
  assert Tree.from_json(Tree(steps=5).to_json()) == Tree(steps=5)


@dataclasses.dataclass
class Grown(Summary):
  old: int
  added_later: float = -1.0


def test_a_field_with_a_default_may_be_missing_from_an_older_file():
  assert Grown.from_json('{"old": 1}') == Grown(1, -1.0)
  assert Grown.from_json('{"old": 1, "added_later": 2}') == Grown(1, 2.0)
  with pytest.raises(ValueError, match="Grown missing keys old"):
    Grown.from_json("{}")
