"""The walkthrough notebook runs top to bottom on tiny data and shows what it promises.

nbclient executes it in a kernel of this venv's Python on end_to_end_test's tiny data
and fast settings (short training, every gate threshold open, so both models are pushed),
with the run in a tmp folder; then the tests read the cells' outputs, found by their tags,
against the run folder itself.
"""

import os
import re
import shlex
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from tests import end_to_end_test

NOTEBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "walkthrough.ipynb")
# Seconds one cell may take: the pipeline's cell is the long one (a few minutes at the
# test's size on 2 busy cores); a hung kernel fails the test instead of stalling it.
CELL_TIMEOUT = 900
MODELS_SCORED = ("int8 bundle", "teacher")


def fast_settings():
  """end_to_end_test's short training and open gate, as `key=value` overrides."""
  flags = end_to_end_test.SHORT_TRAINING + end_to_end_test.OPEN_GATE
  assert flags[::2] == ["--set"] * (len(flags) // 2), flags
  return flags[1::2]


def cell(notebook, tag):
  (found,) = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
  return found


def text(code_cell):
  """Everything a cell printed or showed as plain text."""
  parts = []
  for output in code_cell.outputs:
    if output.output_type == "stream":
      parts.append(output.text)
    elif "data" in output:
      parts.append(output.data.get("text/plain", ""))
  return "\n".join(parts)


def pushed_versions(folder):
  """Version folders below a push folder (the `latest` pointer file is not one)."""
  return sorted(name for name in os.listdir(folder)
                if os.path.isdir(os.path.join(folder, name)))


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
  """(the executed notebook, its run folder); the notebook is also saved beside the run."""
  folder = tmp_path_factory.mktemp("notebook")
  run_dir = str(folder / "run")
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  # The kernel starts in the tmp folder: nothing it writes lands in the repository.
  client = NotebookClient(notebook, kernel_name="python3", timeout=CELL_TIMEOUT,
                          resources={"metadata": {"path": str(folder)}})
  env = dict(os.environ, TF_USE_LEGACY_KERAS="1",
             DISTILLREC_NOTEBOOK_INTERACTIONS=str(end_to_end_test.NUM_INTERACTIONS),
             DISTILLREC_NOTEBOOK_OUTPUT=run_dir,
             DISTILLREC_NOTEBOOK_SET=shlex.join(fast_settings()))
  try:
    client.execute(env=env)  # a cell that raises fails here, naming the cell and error
  finally:
    # To read what each cell showed when a check below fails.
    nbformat.write(notebook, str(folder / "walkthrough.executed.ipynb"))
  return notebook, run_dir


def test_committed_without_outputs():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(notebook)
  code_cells = [c for c in notebook.cells if c.cell_type == "code"]
  assert code_cells
  assert all(not c.outputs and c.execution_count is None for c in code_cells)


@pytest.mark.slow
def test_every_cell_ran_in_this_venv_without_errors(executed):
  notebook, _ = executed
  code_cells = [c for c in notebook.cells if c.cell_type == "code"]
  assert [c.execution_count for c in code_cells] == list(range(1, len(code_cells) + 1))
  assert not [o for c in code_cells for o in c.outputs if o.output_type == "error"]
  assert f"kernel: {sys.executable}\n" in text(cell(notebook, "parameters"))


@pytest.mark.slow
def test_report_and_metrics_name_the_pushed_versions(executed):
  notebook, run_dir = executed
  serving = pushed_versions(os.path.join(run_dir, "serving", "distillrec"))
  mobile = pushed_versions(os.path.join(run_dir, "mobile"))
  assert len(serving) == len(mobile) == 1, (serving, mobile)
  report_text = text(cell(notebook, "report"))
  assert f"serving  version {serving[0]}: " in report_text
  assert f"mobile   version {mobile[0]}: " in report_text
  metrics_text = text(cell(notebook, "metrics"))
  for version in serving + mobile:
    assert version in metrics_text
  for model in ("teacher", "student", "int8"):
    assert re.search(rf"^{model}\s+0\.\d{{4}}", metrics_text, re.M), (model, metrics_text)


@pytest.mark.slow
def test_lineage_traces_the_pushed_bundle_back_to_the_data(executed):
  notebook, _ = executed
  executions = text(cell(notebook, "executions"))
  for node in end_to_end_test.NODES:
    assert node in executions
  lines = text(cell(notebook, "lineage")).splitlines()
  assert lines[0].startswith("pushed_model: PushedModel #")
  assert "made by MobilePusher" in lines[1]
  assert any("made by InteractionsExampleGen" in line for line in lines)
  assert any(line.strip().startswith("mobile_model: Model #") for line in lines)


@pytest.mark.slow
def test_charts_cell_shows_every_png_report_md_links(executed):
  notebook, run_dir = executed
  with open(os.path.join(run_dir, "report.md")) as f:
    links = re.findall(r"\]\((report/[^)]+\.png)\)", f.read())
  outputs = cell(notebook, "charts").outputs
  images = [o for o in outputs if "image/png" in o.get("data", {})]
  assert links and len(images) == len(links)
  titles = "\n".join(o.data["text/markdown"] for o in outputs
                     if "text/markdown" in o.get("data", {}))
  for link in links:
    assert f"`{link}`" in titles


@pytest.mark.slow
def test_scores_table_ranks_each_user_with_the_int8_bundle_and_the_teacher(executed):
  notebook, _ = executed
  users_text = text(cell(notebook, "users"))
  (users_line,) = [line for line in users_text.splitlines() if line.startswith("users: ")]
  users = users_line[len("users: "):].split(", ")
  assert "never-seen-user" in users and len(users) >= 2
  rows = text(cell(notebook, "scores")).splitlines()[1:]  # below the header
  for user in users:
    for model in MODELS_SCORED:
      mine = [row for row in rows if f" {user} " in row and f" {model} " in row]
      assert mine, (user, model, rows)
      # int8 score and teacher score, both probabilities, on every row.
      for row in mine:
        scores = [float(v) for v in re.findall(r"(?<=\s)(0\.\d+|1\.0+)(?=\s|$)", row)[:2]]
        assert len(scores) == 2 and all(0 < s <= 1 for s in scores), row
  agreement = text(cell(notebook, "agreement"))
  for user in users:
    assert re.search(rf"^{re.escape(user)}\s", agreement, re.M), agreement
