"""The CLI: a bad flag, path or value gives one line and a non-zero exit."""

import os
import subprocess
import sys

import pytest

from pipeline import cli


def _run(*args):
  result = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True,
                          text=True, timeout=300)
  return result.returncode, result.stdout, result.stderr


def test_unknown_flag_is_one_line():
  code, _, err = _run("run", "--colour", "blue")
  assert code == 2
  assert err.strip().splitlines() == [
      "distillrec: unrecognized arguments: --colour blue (see 'distillrec --help')"]


def test_bad_choice_names_the_subcommand():
  code, _, err = _run("run", "--runner", "airflow")
  assert code == 2
  assert "argument --runner: invalid choice: 'airflow'" in err
  assert err.strip().endswith("(see 'distillrec run --help')")


def test_missing_data_folder_is_one_line(tmp_path):
  code, _, err = _run("run", "--data", str(tmp_path / "missing"), "--output", str(tmp_path / "r"))
  assert code == 2
  assert err.strip().splitlines() == [f"distillrec: data folder {tmp_path / 'missing'} does not exist"]


def test_folder_without_interactions(tmp_path):
  code, _, err = _run("run", "--data", str(tmp_path), "--output", str(tmp_path / "r"))
  assert code == 2
  assert "no interactions found in" in err and len(err.strip().splitlines()) == 1


def test_verbose_run_shows_info_logs(tmp_path):
  # Python's root logger stays at WARNING unless told otherwise, which hid every step's
  # INFO log (TFX's launches, the trainers' epochs) even with --verbose.
  code, _, err = _run("run", "--verbose", "--data", str(tmp_path), "--output", str(tmp_path / "r"))
  assert code == 2
  assert "no interactions found in" in err
  info = [line for line in err.splitlines() if line.startswith("INFO ")]
  assert info, err


def test_bad_config_value():
  code, _, err = _run("run", "--set", "example_gen.history_length=-1")
  assert code == 2
  assert err.strip() == "distillrec: example_gen.history_length must be >= 1, got -1"


@pytest.mark.parametrize("text,expected", [
    ("Traceback ...\ninteractions.sources.DataError: x.csv, line 3: bad\n\nDuring handling",
     "x.csv, line 3: bad"),
    ("RuntimeError: ... ValidationGateError: Validation gate: stop\n  [eval] feature 'a': b\n"
     "Traceback (most recent call last):", "Validation gate: stop\n  [eval] feature 'a': b"),
])
def test_failure_message_unwraps_component_errors(text, expected):
  assert cli.failure_message(RuntimeError(text)) == expected


def _subcommands():
  import argparse  # pylint: disable=g-import-not-at-top
  parser = cli._parser()  # pylint: disable=protected-access
  (choices,) = [a.choices for a in parser._actions  # pylint: disable=protected-access
                if isinstance(a, argparse._SubParsersAction)]  # pylint: disable=protected-access
  return choices


def test_every_subcommand_and_flag_has_help_and_is_in_the_readme():
  import os  # pylint: disable=g-import-not-at-top
  with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")) as f:
    readme = f.read()
  missing = []
  for name, sub in _subcommands().items():
    assert sub.description, f"{name} has no description for --help"
    if f"distillrec {name}" not in readme:
      missing.append(f"distillrec {name}")
    for action in sub._actions:  # pylint: disable=protected-access
      if "-h" in action.option_strings:
        continue
      assert action.help, f"{name} {action.option_strings or action.dest} has no help"
      flags = [s for s in action.option_strings if s.startswith("--")] or action.option_strings
      if flags and not any(f"`{flag}" in readme for flag in flags):
        missing.append(f"{name} {flags[0]}")
  assert missing == []


def test_worker_site_runs_the_sitecustomize_it_shadows(tmp_path):
  # Python runs only the first sitecustomize on sys.path; worker_site's comes first in a
  # run's workers, and the environment's own (here one further down PYTHONPATH) must
  # still run after it, once.
  other = tmp_path / "other_site"
  other.mkdir()
  (other / "sitecustomize.py").write_text(
      "import os\nos.environ['SHADOWED_RUNS'] = os.environ.get('SHADOWED_RUNS', '') + 'x'\n")
  script = ("import os, sys\n"
            "print(os.environ.get('SHADOWED_RUNS'), "
            "getattr(sys.unraisablehook, '_distillrec_tf_teardown', False))\n")
  for pythonpath, expected in (
      (cli.worker_pythonpath(str(other)), "x True"),
      (str(other), "x False"),
      (cli.worker_pythonpath(""), "None True")):
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=pythonpath), check=True,
                            cwd=os.path.dirname(cli.WORKER_SITE), timeout=120)
    assert result.stdout.strip() == expected, (pythonpath, result.stdout, result.stderr)


def test_worker_processes_start_with_the_tensorflow_teardown_filter():
  # A process started with the PYTHONPATH a run gives Beam's workers runs
  # worker_site/sitecustomize.py; an object named as TensorFlow's AtomicFunction whose
  # __del__ fails at exit then prints nothing, another one still does.
  path = cli.worker_pythonpath(os.pathsep.join(["/elsewhere", cli.WORKER_SITE]))
  assert path.split(os.pathsep) == [cli.WORKER_SITE, "/elsewhere"]
  assert cli.worker_pythonpath(path) == path
  script = ("import sys\n"
            "print(getattr(sys.unraisablehook, '_distillrec_tf_teardown', False))\n"
            "class AtomicFunction:\n"
            "  def __del__(self):\n"
            "    raise TypeError('teardown')\n"
            "class Other:\n"
            "  def __del__(self):\n"
            "    raise TypeError('other')\n"
            "keep = [AtomicFunction(), Other()]\n")
  for pythonpath, installed in ((path, True), ("/elsewhere", False)):
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=pythonpath), check=True,
                            cwd=os.path.dirname(cli.WORKER_SITE), timeout=120)
    assert result.stdout.strip() == str(installed)
    assert ("AtomicFunction.__del__" in result.stderr) is not installed, result.stderr
    assert "Other.__del__" in result.stderr
