"""report.md: every linked chart is a valid PNG, tables hold the given numbers, failures show."""

import calendar
import os
import re
import time

import numpy as np
import pytest
from PIL import Image

from models import metrics
from pipeline import charts, cli, report_markdown

RUN = "/runs/x"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _stamp(text: str) -> int:
  """Seconds since the epoch of 'YYYY-MM-DD HH:MM' (UTC)."""
  return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M"))


def _figures(auc, gauc, rows=100.0):
  return {"rows": rows, "auc": auc, "gauc": gauc, "ndcg": auc + 0.05, "log_loss": 0.5,
          "calibration": 1.0}


def _summary():
  """A run summary as report_markdown.gather builds it, by hand: every part present."""
  random = np.random.default_rng(0)
  labels = (random.random(300) < 0.5).astype(float)
  teacher = np.clip(0.3 + 0.4 * labels + 0.2 * random.standard_normal(300), 0.01, 0.99)
  int8 = np.clip(teacher + 0.03 * random.standard_normal(300), 0, 1)
  return {
      "run_dir": RUN,
      "artifacts": {"teacher model": f"{RUN}/pipeline_root/TeacherTrainer/model/7",
                    "elsewhere": "gs://bucket/x"},
      "data": {
          "valid_rows": 1000, "total_rows": 1010, "bad_rows": 10, "duplicate_rows": 2,
          "format": "csv", "split_fractions": [0.8, 0.1, 0.1],
          "boundaries": [_stamp("2019-04-01 00:00"), _stamp("2019-05-01 00:00")],
          "cold_start": {
              "train": {"rows": 800, "users": 50, "unknown_user_share": 0.0,
                        "unknown_item_share": 0.0, "unknown_user_or_item_share": 0.0},
              "eval": {"rows": 100, "users": 20, "unknown_user_share": 0.125,
                       "unknown_item_share": 0.01, "unknown_user_or_item_share": 0.13},
              "test": {"rows": 100, "users": 21, "unknown_user_share": 0.25,
                       "unknown_item_share": 0.02, "unknown_user_or_item_share": 0.26}}},
      "models": [
          {"model": "teacher (SavedModel variables)", "parameters": 355904, "bytes": 4313615,
           "gzipped_bytes": 3961510, "sparsity": None, "eval_auc": 0.84169,
           "eval_auc_new_users": 0.67},
          {"model": "student (SavedModel)", "parameters": 55797, "bytes": 2947070,
           "gzipped_bytes": 404646, "sparsity": 0.5, "eval_auc": 0.83607,
           "eval_auc_new_users": 0.66},
          {"model": "student int8 (TFLite)", "parameters": 55797, "bytes": 80512,
           "gzipped_bytes": 44208, "sparsity": 0.5, "eval_auc": 0.83596,
           "eval_auc_new_users": None, "eval_rows": 100}],
      "test": {
          "split": "test", "ndcg_k": 10,
          "slices": {
              "overall": {"teacher": _figures(0.8276, 0.8123), "student": _figures(0.8250, 0.8090),
                          "int8": _figures(0.8253, 0.8084)},
              "user_in_train:known": {"teacher": _figures(0.8411, 0.8200),
                                      "student": _figures(0.8391, 0.8171),
                                      "int8": _figures(0.8390, 0.8170)},
              "user_in_train:new": {"teacher": _figures(0.6876, 0.7001),
                                    "student": _figures(0.6801, 0.6912),
                                    "int8": _figures(0.6799, 0.6900)}},
          "checks": [
              {"model": "student", "metric": "auc", "value": 0.8250, "limit": 0.6,
               "passed": True, "kind": "at least"},
              {"model": "int8", "metric": "|auc - float student auc|", "value": 0.00036,
               "limit": 0.002, "passed": True, "kind": "at most"},
              {"model": "int8", "metric": "p50 ms, 100 candidates, 1 thread", "value": 2.5,
               "limit": 2.0, "passed": False, "kind": "at most"}],
          "blessed": {"student": True, "int8": False},
          "pushed": {"serving": {"path": f"{RUN}/serving/distillrec/1796023379",
                                 "version": "1796023379"}, "mobile": None},
          "int8": {"latency": {"candidates": 100, "requests": 300, "threads": 1,
                               "p50_ms": 2.5, "p99_ms": 3.0},
                   "mean_abs_score_diff_vs_float": 0.016, "tflite_bytes": 80512,
                   "teacher_variables_bytes": 4313615}},
      "components": [{"node": "InteractionsExampleGen", "state": "done", "seconds": 18.94},
                     {"node": "Transform", "state": "cached", "seconds": 30.0},
                     {"node": "TeacherTrainer", "state": "done", "seconds": 120.25}],
      "timeline": report_markdown.bin_timeline({
          "train": np.array([_stamp("2019-01-07 10:00"), _stamp("2019-03-30 10:00")]),
          "eval": np.array([_stamp("2019-04-02 10:00")]),
          "test": np.array([_stamp("2019-06-01 12:00")])}),
      "compression": {"curve": [
          {"target": 0.5, "sparsity": 0.49998, "eval_auc": 0.8363, "eval_gauc": 0.8414,
           "eval_gauc_known": 0.8522, "eval_gauc_new": 0.6617,
           "int8_bytes": 79776, "int8_gzipped_bytes": 44980, "epochs": 10, "chosen": True},
          {"target": 0.6, "sparsity": 0.6001, "eval_auc": 0.8301,
           "int8_bytes": 79100, "int8_gzipped_bytes": 40100, "epochs": 8, "chosen": False}],
                      "decision": "kept the densest, sparsity 0.50"},
      "scores": {"split_rows": 300, "rows": 300, "every": 1, "labels": labels,
                 "teacher": teacher, "int8": int8},
      "teacher_architecture": "dcn",
      "notes": [],
  }


def _links(text):
  return re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)


def _table_rows(text, first_header):
  """The rows (lists of cells) of the markdown table whose first header cell is given."""
  lines = text.splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
  rows = []
  for line in lines[start + 2:]:
    if not line.startswith("|"):
      break
    rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
  return rows


def _section_table(text, heading, first_header):
  """The first table of a section whose first header cell is given."""
  lines = text.splitlines()
  return _table_rows("\n".join(lines[lines.index(heading):]), first_header)


def _check_png(path):
  with open(path, "rb") as f:
    assert f.read(8) == PNG_SIGNATURE, path
  with Image.open(path) as image:
    image.verify()
  with Image.open(path) as image:
    assert image.format == "PNG" and image.size[0] >= 400 and image.size[1] >= 200, image.size
    # No text chunk carries where or when it was made (deterministic bytes).
    assert not {"Software", "Creation Time"} & set(image.info), image.info


def test_report_links_every_chart_and_each_is_a_valid_png(tmp_path):
  text, problems = report_markdown.render(_summary(), str(tmp_path))
  assert problems == []
  links = _links(text)
  assert sorted(links) == sorted(f"report/{name}" for name in (
      "data_timeline.png", "cold_start.png", "component_times.png", "test_by_user.png",
      "auc_vs_bytes.png", "scores.png"))
  for link in links:
    _check_png(tmp_path / link)
  assert sorted(os.listdir(tmp_path / "report")) == sorted(os.path.basename(l) for l in links)


def test_tables_hold_the_given_numbers(tmp_path):
  text, _ = report_markdown.render(_summary(), str(tmp_path))
  assert _table_rows(text, "split") == [
      ["train", "800", "80.0%", "2019-01-07", "2019-03-30", "50", "0.0%", "0.0%"],
      ["eval", "100", "10.0%", "2019-04-02", "2019-04-02", "20", "12.5%", "1.0%"],
      ["test", "100", "10.0%", "2019-06-01", "2019-06-01", "21", "25.0%", "2.0%"]]
  assert _table_rows(text, "component") == [
      ["InteractionsExampleGen", "done", "18.9"], ["Transform", "cached", "30.0"],
      ["TeacherTrainer", "done", "120.2"]]
  models = _table_rows(text, "model")  # the first "model" table: the models
  assert models == [
      ["teacher (SavedModel variables)", "355,904", "4,313,615", "3,961,510", "-", "0.8417",
       "0.8276", "0.8123", "0.8776", "0.5000", "0.8411", "0.6876", "0.7001"],
      ["student (SavedModel)", "55,797", "2,947,070", "404,646", "0.50", "0.8361", "0.8250",
       "0.8090", "0.8750", "0.5000", "0.8391", "0.6801", "0.6912"],
      ["student int8 (TFLite)", "55,797", "80,512", "44,208", "0.50", "0.8360", "0.8253",
       "0.8084", "0.8753", "0.5000", "0.8390", "0.6799", "0.6900"]]
  assert _table_rows(text, "step") == [
      ["0", "0.50", "0.500", "0.8363", "0.8414", "0.8522", "0.6617", "79,776", "44,980", "10",
       "yes"],
      ["1", "0.60", "0.600", "0.8301", "-", "-", "-", "79,100", "40,100", "8", ""]]
  assert _section_table(text, "## Gate: thresholds and blessings", "model") == [
      ["student", "auc", "0.8250", "at least 0.6000", "pass"],
      ["int8", "\\|auc - float student auc\\|", "0.0004", "at most 0.0020", "pass"],
      ["int8", "p50 ms, 100 candidates, 1 thread", "2.5000", "at most 2.0000", "**FAIL**"]]
  assert _table_rows(text, "push") == [
      ["serving", "student", "1796023379", "`serving/distillrec/1796023379`"],
      ["mobile", "int8", "nothing", "(int8 not blessed)"]]
  assert _table_rows(text, "artifact") == [
      ["teacher model", "`pipeline_root/TeacherTrainer/model/7`"],
      ["elsewhere", "`gs://bucket/x`"]]
  assert ("* `not blessed: int8: p50 ms, 100 candidates, 1 thread 2.5000 vs limit 2.0000 "
          "(at most)`") in text
  assert "`make bench` trains one" in text and "1,000 valid of 1,010 rows (csv)" in text


def test_scores_table_is_computed_from_the_given_scores(tmp_path):
  summary = _summary()
  text, _ = report_markdown.render(summary, str(tmp_path))
  rows = _section_table(text, "## Teacher vs int8 student scores (test split)", "model")
  scores = summary["scores"]
  difference = np.abs(scores["int8"] - scores["teacher"]).mean()
  assert [row[0] for row in rows] == ["teacher", "int8"]
  assert rows[0][4] == "0.0000" and rows[0][5] == "1.0000"
  assert rows[1][1] == f"{metrics.auc(scores['labels'], scores['int8']):.4f}"
  assert rows[1][2] == f"{len(set(scores['int8'].tolist())):,}"
  assert rows[1][3] == f"{scores['int8'].mean():.4f}" and rows[1][4] == f"{difference:.4f}"
  assert "P(like) of all 300 test rows" in text


def test_a_chart_that_fails_is_reported_not_raised(tmp_path, monkeypatch):
  stale = tmp_path / "report" / "scores.png"
  stale.parent.mkdir()
  stale.write_bytes(b"an older chart")

  def broken(*args, **kwargs):
    raise ValueError("no figure today")

  monkeypatch.setattr(charts, "scores", broken)
  text, problems = report_markdown.render(_summary(), str(tmp_path))
  assert problems == ["chart report/scores.png (Teacher vs int8 student scores) could not be "
                      "drawn: ValueError: no figure today"]
  assert ("> **Chart not drawn.** Chart report/scores.png (Teacher vs int8 student scores) "
          "could not be drawn: ValueError: no figure today") in text
  assert "## Not in this report" in text and not stale.exists()
  assert "report/scores.png" not in _links(text) and len(_links(text)) == 5
  for link in _links(text):
    _check_png(tmp_path / link)


def test_a_part_that_could_not_be_read_is_named(tmp_path):
  summary = dict(_summary(), scores=None,
                 notes=["The test split scored through the exported models could not be "
                        "read: OSError: gone"])
  text, problems = report_markdown.render(summary, str(tmp_path))
  assert problems == summary["notes"]
  assert "* The test split scored through the exported models could not be read: OSError: " \
         "gone" in text
  assert "report/scores.png" not in _links(text)


def test_a_run_stopped_after_transform_has_the_data_only(tmp_path):
  summary = {key: value for key, value in _summary().items()
             if key in ("run_dir", "artifacts", "data", "components", "timeline")}
  summary["models"] = None
  text, problems = report_markdown.render(summary, str(tmp_path))
  assert problems == []
  assert "**Outcome:** the run stopped before training: no test-split figures, nothing " \
         "pushed." in text
  assert sorted(_links(text)) == ["report/cold_start.png", "report/component_times.png",
                                  "report/data_timeline.png"]
  assert "No model in this run yet." in text and "The gate has not run." in text


def test_the_same_summary_gives_the_same_files(tmp_path):
  first, _ = report_markdown.render(_summary(), str(tmp_path / "a"))
  second, _ = report_markdown.render(_summary(), str(tmp_path / "b"))
  assert first == second
  for name in os.listdir(tmp_path / "a" / "report"):
    assert (tmp_path / "a" / "report" / name).read_bytes() == \
        (tmp_path / "b" / "report" / name).read_bytes(), name


def test_bin_timeline_counts_per_week_from_monday():
  timeline = report_markdown.bin_timeline({
      "train": np.array([_stamp("2019-01-07 00:00"), _stamp("2019-01-13 23:59")]),
      "eval": np.array([_stamp("2019-01-14 00:00")]),
      "test": np.array([_stamp("2019-06-01 12:00")])})  # a Saturday: week of May 27
  assert timeline["unit"] == "week"
  assert timeline["starts"][:2] == ["2019-01-07", "2019-01-14"]
  assert timeline["starts"][-1] == "2019-05-27" and len(timeline["starts"]) == 21
  assert timeline["counts"]["train"][:2] == [2, 0] and sum(timeline["counts"]["train"]) == 2
  assert timeline["counts"]["eval"][1] == 1 and timeline["counts"]["test"][20] == 1
  assert timeline["ranges"]["train"] == {"rows": 2, "first": "2019-01-07", "last": "2019-01-13"}


@pytest.mark.parametrize("last,unit,bins", [("2019-01-10 00:00", "day", 10),
                                            ("2023-02-15 00:00", "month", 50)])
def test_bin_timeline_unit_follows_the_span(last, unit, bins):
  timeline = report_markdown.bin_timeline({"train": np.array([_stamp("2019-01-01 05:00")]),
                                           "test": np.array([_stamp(last)])})
  assert timeline["unit"] == unit and len(timeline["starts"]) == bins
  assert timeline["starts"][0] == "2019-01-01"


def test_component_times_show_what_a_cached_component_cost(monkeypatch):
  rows = [{"id": 1, "node": "Transform", "state": "done", "seconds": 30.0},
          {"id": 2, "node": "TeacherTrainer", "state": "FAILED", "seconds": 5.0},
          {"id": 3, "node": "Transform", "state": "cached", "seconds": 0.1},
          {"id": 4, "node": "TeacherTrainer", "state": "done", "seconds": 100.0}]
  monkeypatch.setattr(report_markdown.mlmd, "finished_executions", lambda path: rows)
  assert report_markdown.component_times("metadata.sqlite") == [
      {"node": "Transform", "state": "cached", "seconds": 30.0},
      {"node": "TeacherTrainer", "state": "done", "seconds": 100.0}]


def test_report_command_on_a_folder_that_is_not_a_run(tmp_path, capsys):
  assert cli.main(["report", str(tmp_path)]) == 2
  assert capsys.readouterr().err.strip().splitlines() == [
      f"distillrec: {tmp_path}/config.yaml does not exist (is {tmp_path} a run folder?)"]
