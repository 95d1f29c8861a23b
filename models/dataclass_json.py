"""Dataclasses to and from JSON: config sections and the summaries a run writes.

Two kinds of dataclass cross a process boundary as JSON:
* config sections (`Section`): every field has a default; a mapping overrides some
  of them (YAML, `--set`, a component's execution property), each value checked
  against the type of its default, unknown keys an error naming the key;
* summaries (`Summary`): what a training step measured, written next to the models
  and read back by the report and the benchmark through the same class, so the
  layout of a summary file is known in one place.

No TensorFlow here: the CLI imports config sections before anything heavy.
"""

import dataclasses
import json
import os
import typing
from typing import Any, ClassVar, Dict, Type, TypeVar

from models import fileio

T = TypeVar("T")


def to_plain(value: Any) -> Any:
  """Dataclasses, tuples and nested containers as JSON-ready dicts and lists."""
  if dataclasses.is_dataclass(value) and not isinstance(value, type):
    return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
  if isinstance(value, dict):
    return {k: to_plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [to_plain(v) for v in value]
  if type(value).__module__ == "numpy" and hasattr(value, "item"):
    return value.item()  # numpy scalars, e.g. a float32 metric
  return value


# --- Config sections -------------------------------------------------------------


class Section:
  """Base of the config sections: dataclasses with a default for every field.

  Subclasses override `validate(where)` to check their own fields; `where` is the
  section's dotted path in PipelineConfig (e.g. "teacher.training"), so a message
  names the knob as the user writes it.
  """

  def validate(self, where: str) -> None:
    """Raises ValueError naming the bad knob; nested sections are checked by `check`."""

  def to_json(self) -> str:
    return json.dumps(to_plain(self), sort_keys=True)

  @classmethod
  def from_json(cls: Type[T], text: str) -> T:
    """Inverse of to_json (e.g. a component's execution property); validated."""
    section = merge(cls(), json.loads(text), "")
    check(section, "")
    return section


def check(section: Any, where: str) -> None:
  """Validates a section and, depth first, every section inside it."""
  for field in dataclasses.fields(section):
    value = getattr(section, field.name)
    if isinstance(value, Section):
      check(value, f"{where}.{field.name}" if where else field.name)
  if isinstance(section, Section):
    section.validate(where)


def knob(where: str, name: str) -> str:
  """The dotted name of a knob for error messages: knob("teacher", "dropout")."""
  return f"{where}.{name}" if where else name


def merge(obj: T, overrides: Dict[str, Any], where: str) -> T:
  """A copy of dataclass `obj` with `overrides` applied, checking keys and types."""
  if not isinstance(overrides, dict):
    raise ValueError(f"{where or 'config'}: expected a mapping, got {overrides!r}")
  fields = {f.name: f for f in dataclasses.fields(obj)}
  changes = {}
  for key, value in overrides.items():
    path = knob(where, key)
    if key not in fields:
      raise ValueError(f"unknown config key {path!r}; known keys here: "
                       f"{', '.join(sorted(fields))}")
    current = getattr(obj, key)
    if dataclasses.is_dataclass(current):
      changes[key] = merge(current, value, path)
    else:
      changes[key] = _coerce(current, value, path)
  return dataclasses.replace(obj, **changes)


def _coerce(current: Any, value: Any, path: str) -> Any:
  """Converts `value` to the type of the default `current` (None allows anything)."""
  if value is None or current is None:
    return value
  if isinstance(current, bool):
    if isinstance(value, bool):
      return value
    raise ValueError(f"{path}: expected true or false, got {value!r}")
  if isinstance(current, int):
    if isinstance(value, float) and value.is_integer():
      return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
      return value
    raise ValueError(f"{path}: expected an integer, got {value!r}")
  if isinstance(current, float):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      return float(value)
    raise ValueError(f"{path}: expected a number, got {value!r}")
  if isinstance(current, str):
    if isinstance(value, str):
      return value
    raise ValueError(f"{path}: expected a string, got {value!r}")
  if isinstance(current, (tuple, list)):
    if not isinstance(value, (list, tuple)):
      raise ValueError(f"{path}: expected a list, got {value!r}")
    return type(current)(value)
  return value


# --- Summaries ---------------------------------------------------------------------


class Summary:
  """Base of the summaries a run writes: nested by type hints; every field required but
  those with a default (added later, so that older files still read).

  A summary that is a file of its own names it in FILE_NAME and is written into
  (and read from) a folder, usually an artifact's URI.
  """
  FILE_NAME: ClassVar[str] = ""

  def to_json(self) -> str:
    return json.dumps(to_plain(self), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls: Type[T], text: str) -> T:
    return from_plain(cls, json.loads(text), "")

  def write(self, folder: str) -> None:
    fileio.write_text(os.path.join(folder, self.FILE_NAME), self.to_json())

  @classmethod
  def read(cls: Type[T], folder: str) -> T:
    path = os.path.join(folder, cls.FILE_NAME)
    try:
      return cls.from_json(fileio.read_text(path))
    except ValueError as e:
      raise ValueError(f"{path}: {e}") from e


def from_plain(hint: Any, value: Any, where: str) -> Any:
  """Builds the type `hint` (a dataclass, container of them, or plain type) from JSON data."""
  if dataclasses.is_dataclass(hint):
    if not isinstance(value, dict):
      raise ValueError(f"{where or 'summary'}: expected a mapping for {hint.__name__}, got "
                       f"{value!r}")
    hints = typing.get_type_hints(hint)
    fields = {f.name for f in dataclasses.fields(hint)}
    # A field with a default may be absent: a summary written before it existed.
    optional = {f.name for f in dataclasses.fields(hint)
                if f.default is not dataclasses.MISSING
                or f.default_factory is not dataclasses.MISSING}
    unknown = sorted(set(value) - fields)
    missing = sorted(fields - set(value) - optional)
    if unknown or missing:
      raise ValueError((f"{where}: " if where else "") + f"{hint.__name__} " + "; ".join(
          part for part in (f"unknown keys {', '.join(unknown)}" if unknown else "",
                            f"missing keys {', '.join(missing)}" if missing else "") if part))
    return hint(**{name: from_plain(hints[name], value[name], knob(where, name))
                   for name in fields if name in value})
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin is typing.Union:  # Optional[X]
    if value is None:
      return None
    inner = [a for a in args if a is not type(None)]
    return from_plain(inner[0], value, where)
  if origin in (list, tuple):
    if not isinstance(value, list):
      raise ValueError(f"{where}: expected a list, got {value!r}")
    item = args[0] if args else Any
    items = [from_plain(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items
  if origin is dict:
    if not isinstance(value, dict):
      raise ValueError(f"{where}: expected a mapping, got {value!r}")
    item = args[1] if args else Any
    return {k: from_plain(item, v, knob(where, k)) for k, v in value.items()}
  if hint is float and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  return value
