"""The local runner's Beam args."""

import os

import pytest

from pipeline import configs, runners


def _config(*overrides):
  return configs.load_config(overrides=list(overrides))


@pytest.mark.parametrize("overrides,rows,expected", [
    ((), 1000, ["--direct_running_mode=in_memory"]),
    (("beam.direct_num_workers=3",), 10**6,
     ["--direct_running_mode=multi_processing", "--direct_num_workers=3"]),
    (("beam.direct_running_mode=multi_threading", "beam.direct_num_workers=2"), 1000,
     ["--direct_running_mode=multi_threading", "--direct_num_workers=2"]),
])
def test_direct_runner_args_name_this_checkout_as_the_dependencies(overrides, rows, expected):
  assert os.path.isfile(runners.SETUP_FILE)
  with open(runners.SETUP_FILE, encoding="utf-8") as f:
    assert 'name="distillrec"' in f.read()
  args = runners.beam_pipeline_args(_config(*overrides), rows)
  assert args == expected + [f"--setup_file={runners.SETUP_FILE}"]


def test_tfx_builds_no_sdist_for_the_local_args(sdist_builds):
  from tfx.utils import dependency_utils  # pylint: disable=g-import-not-at-top
  args = runners.beam_pipeline_args(_config(), 1000)
  assert dependency_utils.make_beam_dependency_flags(args) == args
  assert not sdist_builds


@pytest.mark.parametrize("extra", [
    ['--extra_package=/wheels/mine.whl'],
    ['--runner=DataflowRunner', '--sdk_container_image=IMAGE'],
    ['--runner', 'FlinkRunner'],
])
def test_other_runners_or_named_dependencies_get_no_setup_file(extra):
  args = runners.beam_pipeline_args(_config(f"beam.extra_args={extra!r}".replace("'", '"')), 1000)
  assert not any(arg.startswith("--setup_file") for arg in args)
  assert args[-len(extra):] == extra


def test_without_a_checkout_the_args_name_nothing(monkeypatch, tmp_path):
  monkeypatch.setattr(runners, "SETUP_FILE", str(tmp_path / "setup.py"))
  assert runners.beam_pipeline_args(_config(), 1000) == ["--direct_running_mode=in_memory"]
