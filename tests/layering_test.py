"""Imports go one way: interactions and models never import components or pipeline, and no
component imports another component (issue: the two packages depended on each other)."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imported_modules(path):
  """Every module a file imports, at any depth (lazy imports inside functions count too)."""
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield alias.name
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      yield node.module
      for alias in node.names:
        yield f"{node.module}.{alias.name}"


def _sources(package):
  for folder, _, names in os.walk(os.path.join(ROOT, package)):
    for name in sorted(names):
      if name.endswith(".py"):
        yield os.path.relpath(os.path.join(folder, name), ROOT)


@pytest.mark.parametrize("package", ["interactions", "models", "components"])
def test_no_import_of_pipeline_from_below(package):
  bad = [(path, module) for path in _sources(package) for module in _imported_modules(path)
         if module == "pipeline" or module.startswith("pipeline.")]
  assert not bad, bad


@pytest.mark.parametrize("package", ["interactions", "models"])
def test_models_and_interactions_do_not_import_components(package):
  bad = [(path, module) for path in _sources(package) for module in _imported_modules(path)
         if module == "components" or module.startswith("components.")]
  assert not bad, bad


def test_no_component_imports_another():
  bad = []
  for path in _sources("components"):
    parts = path.split(os.sep)
    if len(parts) < 3:
      continue  # components/__init__.py
    own = parts[1]
    for module in _imported_modules(path):
      names = module.split(".")
      if names[0] == "components" and len(names) > 1 and names[1] != own:
        bad.append((path, module))
  assert not bad, bad


def test_the_checker_sees_lazy_imports(tmp_path):
  path = tmp_path / "m.py"
  path.write_text("def f():\n  from pipeline import configs\n")
  assert "pipeline.configs" in set(_imported_modules(str(path)))
