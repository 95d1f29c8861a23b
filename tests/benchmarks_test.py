"""The benchmark scripts' own arithmetic (benchmarks/ holds scripts, not a package)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))
import choose  # pylint: disable=wrong-import-position
import latency  # pylint: disable=wrong-import-position
import reports  # pylint: disable=wrong-import-position
import run  # pylint: disable=wrong-import-position
import scale  # pylint: disable=wrong-import-position

MB = 2**20


def test_a_components_peak_is_the_largest_sample_while_it_ran():
  samples = [(10.0, 100 * MB), (10.5, 300 * MB), (11.0, 200 * MB), (12.0, 900 * MB)]
  assert scale.peak_within(samples, 10.2, 11.5) == 300
  # A component shorter than the sampling interval gets the nearest sample.
  assert scale.peak_within(samples, 11.6, 11.7) == 900
  assert scale.peak_within([], 0, 1) != scale.peak_within([], 0, 1)  # NaN


def test_growth_is_one_when_time_grows_like_the_data():
  runs = [{"interactions": 100, "components": {"A": {"seconds": 2.0}, "B": {"seconds": 5.0}}},
          {"interactions": 1000, "components": {"A": {"seconds": 20.0}, "B": {"seconds": 6.0}}},
          {"interactions": 3000, "components": {"A": {"seconds": 90.0}}}]
  assert scale.growth(runs, "A", "seconds") == pytest.approx([1.0, 1.5])
  first, missing = scale.growth(runs, "B", "seconds")
  assert first == pytest.approx(0.12) and missing != missing


def test_interleaved_calls_every_scorer_in_a_rotating_order():
  order = []
  calls = {name: (lambda n=name: order.append(n)) for name in "abc"}
  figures = latency.interleaved(calls, rounds=3, warmup=0)
  assert order == list("abcbcacab")
  assert all(f["calls"] == 3 and f["p50_ms"] <= f["p99_ms"] for f in figures.values())


@pytest.mark.parametrize("hint_weight,train_rows", [(0.0, 1000), (1.0, 1000), (1.0, 10**6)])
def test_students_without_distillation_take_nothing_from_the_teacher(hint_weight, train_rows):
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  config = configs.load_config(overrides=[f"distillation.hint_weight={hint_weight}"])
  assert config.distillation.transfer_copies_for(1000) == 1
  assert config.distillation.transfer_copies_for(10**6) == 0
  settings = run._sweep_settings(config, train_rows)  # pylint: disable=protected-access
  plain = [kd.applied(train_rows) for group, _, kd, _ in settings if group == "no distillation"]
  assert len(plain) == run.SEEDS
  for kd in plain:
    assert (kd.alpha, kd.transfer_copies, kd.hint_weight) == (1.0, 0, 0.0)
  # The pipeline's distillation is what the run applied: hints only without transfer
  # rows, which it has on the small split only; the other kind flips the hints.
  applied = {group: kd.applied(train_rows) for group, _, kd, _ in settings}
  pipeline_hints = hint_weight if train_rows > 1000 else 0.0
  assert applied["distillation"].hint_weight == pipeline_hints
  other = "logit distillation only" if pipeline_hints else \
      f"feature-level distillation (hint_weight={run.HINT_WEIGHT:g})"
  assert applied[other].hint_weight == (0.0 if pipeline_hints else run.HINT_WEIGHT)
  assert applied[other].transfer_copies == applied["distillation"].transfer_copies
  transfer = "no transfer rows" if train_rows == 1000 else "transfer rows"
  assert applied[transfer].transfer_copies == (0 if train_rows == 1000 else 1)
  # The names say what the students got, not what was configured.
  names = {group: name for group, name, _, _ in settings}
  assert ("hints=" in names["distillation"]) == bool(pipeline_hints)
  assert ("hints=" in names[other]) == (not pipeline_hints)


def test_session_floor_takes_the_rank_request_and_scores_each_candidate():
  import numpy as np  # pylint: disable=g-import-not-at-top
  from models import export  # pylint: disable=g-import-not-at-top
  context = {"user_id": "u1", "user_gender": "F", "user_occupation": "writer", "user_age": 30,
             "user_prior_count": 2, "user_prior_like_rate": 0.5,
             "history_item_ids": ["i1", "i2"]}
  # Four candidates, at most two genres each: one score per candidate, not per genre.
  candidates = [{"item_id": f"i{k}", "item_genres": ["Drama"] * (k % 2 + 1),
                 "item_year": 1990 + k} for k in range(4)]
  request = export.rank_request(context, candidates)
  floor = latency.session_floor(request)
  np.testing.assert_array_equal(floor(), np.zeros(4, np.float32))


def test_session_floor_feeds_every_request_tensor_to_a_session_configured_as_the_models(
    monkeypatch):
  # The floor is what feeding the rank request costs: a floor fed only the item ids would
  # still score each candidate but measure less than a SavedModel pays.
  from models import export, int8_evaluation  # pylint: disable=g-import-not-at-top
  context = {"user_id": "u1", "history_item_ids": ["i1"]}
  request = export.rank_request(context, [{"item_id": f"i{k}", "item_genres": ["Drama"],
                                            "item_year": 1990} for k in range(2)])
  made, feeds = [], []
  real_new_session = int8_evaluation.new_session

  class Recording:
    def __init__(self, session):
      self._session = session

    def run(self, fetches, feed_dict):
      feeds.append({tensor.op.name: value for tensor, value in feed_dict.items()})
      return self._session.run(fetches, feed_dict)

  def new_session(graph, threads=None):
    made.append(threads)
    return Recording(real_new_session(graph, threads))

  monkeypatch.setattr(int8_evaluation, "new_session", new_session)
  latency.session_floor(request, threads=1)()
  assert made == [1]
  assert sorted(feeds[0]) == sorted(request)
  for name, value in request.items():
    assert feeds[0][name] is value, name


def test_only_a_run_into_the_default_folder_writes_the_committed_report(tmp_path):
  """make bench and make bench-scale rewrite benchmarks/results.md and scale.md; a trial
  with another --output (a small data set, one size) writes its report beside its runs."""
  default = os.path.join(reports.HERE, "results", "scale")
  committed = os.path.join(reports.HERE, "scale.md")
  assert reports.report_path(default, default, "scale.md") == committed
  # The same folder named another way is still the default one.
  assert reports.report_path(os.path.join(default, "..", "scale"), default,
                             "scale.md") == committed
  assert reports.report_path(str(tmp_path), default, "scale.md") == str(tmp_path / "scale.md")
  assert scale.DEFAULT_OUTPUT == default


def test_bench_scale_with_another_output_leaves_the_committed_report(tmp_path, monkeypatch):
  """scale.main's wiring: a one-size trial into tmp_path (its run stubbed) writes
  tmp_path/scale.md and leaves benchmarks/scale.md as it was."""
  committed = os.path.join(reports.HERE, "scale.md")
  with open(committed) as f:
    before = f.read()
  monkeypatch.setattr(scale, "run_size", lambda size, output: {
      "interactions": size, "exit_code": 0, "wall_seconds": 12.0, "peak_rss_mb": 900.0,
      "components": {"Transform": {"seconds": 3.0, "peak_rss_mb": 800.0}}})
  assert scale.main(["--sizes", "1000", "--output", str(tmp_path)]) == 0
  with open(tmp_path / "scale.md") as f:
    assert "| Transform | 3.0 | 800 |" in f.read()
  with open(committed) as f:
    assert f.read() == before


def _figures(auc, gauc):
  return {"auc": auc, "gauc": gauc, "ndcg": 0.5, "log_loss": 0.6, "auc_new_users": None}


def _student(group, name, auc):
  return {"group": group, "student": name, "eval_auc_before_pruning": 0.84,
          "eval_auc_final": 0.84, "sparsity": 0.0, "parameters": 200, "tflite_bytes": 100,
          "tflite_gzipped_bytes": 40, "test_auc": auc, "test_gauc": auc - 0.01,
          "test_auc_int8": auc, "test_gauc_int8": auc - 0.01}


def _bench_results():
  """Figures as make bench's measure returns them, chosen so that each target's verdict is
  known: the int8 student 0.004 below the teacher on AUC (within 0.005), 0.006 on GAUC
  (not); distillation 0.02 above no distillation against 2 x std 0.02 (not above)."""
  quality = {"item like-rate in train (popularity)": _figures(0.70, 0.71),
             "user's earlier like-rate": _figures(0.72, 0.60),
             "matrix factorization": _figures(0.80, 0.79),
             "teacher (DCN-v2)": _figures(0.830, 0.820),
             "student (SavedModel)": _figures(0.827, 0.815),
             "student int8 (TFLite)": _figures(0.826, 0.814)}
  rows = ([_student("distillation", f"kd, seed {s}", auc)
           for s, auc in ((42, 0.82), (43, 0.81), (44, 0.83))]
          + [_student("no distillation", f"alpha=1, seed {s}", auc)
             for s, auc in ((42, 0.80), (43, 0.79), (44, 0.81))]
          + [_student("width", "embedding_dim=32", 0.5)])
  sizes = run.with_ratios({
      "teacher_parameters": 1000, "student_parameters": 200, "teacher_variables_bytes": 3000,
      "teacher_variables_gzipped_bytes": 2000, "tflite_bytes": 100,
      "tflite_gzipped_bytes": 40, "sparsity": 0.5, "dtype_census": {"int8": 10, "int32": 2},
      "int8_vs_float_eval": {}})
  return {"num_interactions": 1000, "overrides": ["teacher.max_epochs=1"], "test_rows": 123,
          "quality": quality, "sizes": sizes, "students": rows,
          "distillation": run.seed_groups(rows), "pruning_curve": [],
          "pruning_decision": None, "pruning_chosen_step": None, "eval_teacher_auc": 0.84,
          "latency": None, "wall_seconds": 1.0}


def test_bench_sizes_and_seed_groups_by_hand():
  results = _bench_results()
  sizes = results["sizes"]
  # 200 parameters, half of them zero, against the teacher's 1000; bytes 3000 / 100, 2000 / 40.
  assert sizes["student_nonzero_parameters_over_teacher"] == pytest.approx(0.1)
  assert sizes["teacher_over_tflite_bytes"] == pytest.approx(30.0)
  assert sizes["teacher_over_tflite_gzipped"] == pytest.approx(50.0)
  # Mean and sample std of 0.82, 0.81, 0.83: 0.82, 0.01; the one-seed width row is no group.
  groups = results["distillation"]
  assert sorted(groups) == ["distillation", "no distillation"]
  mean, std = groups["distillation"]["test_auc"]
  assert (mean, std) == (pytest.approx(0.82), pytest.approx(0.01))
  assert groups["no distillation"]["test_gauc_int8"][0] == pytest.approx(0.79)


def test_bench_targets_say_met_or_by_how_much_not():
  results = _bench_results()
  verdicts = {target: (figure, met) for target, figure, met in run.targets(
      results["quality"], results["sizes"], results["distillation"])}
  assert verdicts["int8 student AUC within 0.005 of the teacher"] == ("-0.0040", True)
  assert verdicts["int8 student GAUC within 0.005 of the teacher"] == ("-0.0060", False)
  # The user's earlier like-rate has GAUC 0.60 but AUC 0.72: above on both, by both margins.
  assert verdicts["int8 student above user's earlier like-rate on AUC and GAUC"] == (
      "+0.1060 / +0.2140", True)
  assert verdicts["distilled beats no-distillation student by > 2 seed std (test AUC, 3 "
                  "seeds)"] == ("+0.0200 vs 0.0200", False)
  assert verdicts["int8 TFLite >= 30x smaller than the teacher's variables, raw"] == (
      "30.0x", True)
  assert verdicts["... and >= 100x gzipped"] == ("50.0x", False)
  assert verdicts["student non-zero parameters <= 10% of the teacher's"] == ("0.100", True)
  # With the gap's spread over resampled test users beside it; the verdict stays the gap's.
  with_spread = {target: (figure, met) for target, figure, met in run.targets(
      results["quality"], results["sizes"], results["distillation"],
      {"auc": (-0.009, 0.001), "gauc": (-0.0112, -0.00081)})}
  assert with_spread["int8 student GAUC within 0.005 of the teacher"] == (
      "-0.0060 (resampled test users, 95%: -0.0112 to -0.0008)", False)
  assert with_spread["int8 student AUC within 0.005 of the teacher"][1] is True
  # Without the seed rows (--no-sweep) the comparison is reported as not run.
  no_sweep = run.targets(results["quality"], results["sizes"], run.seed_groups([]))
  assert ("distilled beats no-distillation student by > 2 seed std", "not run", None) in no_sweep


def test_bench_main_writes_its_figures_and_report_beside_a_trial_run(tmp_path, monkeypatch):
  """run.main's wiring with the measuring stubbed: results.json and results.md go into
  --output, the committed benchmarks/results.md is left as it was, and the report is
  written from the figures (a row, a target verdict)."""
  import json  # pylint: disable=g-import-not-at-top
  committed = os.path.join(reports.HERE, "results.md")
  with open(committed) as f:
    before = f.read()
  seen = []

  def measure(args):
    seen.append((args.num_interactions, args.set, args.sweep, args.latency))
    return _bench_results()

  monkeypatch.setattr(run, "measure", measure)
  assert run.main(["--num-interactions", "1000", "--set", "teacher.max_epochs=1",
                   "--no-latency", "--output", str(tmp_path)]) == 0
  assert seen == [(1000, ["teacher.max_epochs=1"], True, False)]
  with open(tmp_path / "results.json") as f:
    stored = json.load(f)
  assert {"target": "int8 student GAUC within 0.005 of the teacher", "figure": "-0.0060",
          "met": False} in stored["targets"]
  with open(tmp_path / "results.md") as f:
    report = f.read()
  assert "| teacher (DCN-v2) | 0.8300 | 0.8200 | 0.5000 | 0.6000 | - |" in report
  assert "| int8 student GAUC within 0.005 of the teacher | -0.0060 | NO |" in report
  assert "| distillation | 0.8200 ± 0.0100 |" in report
  assert "| teacher variables / int8 TFLite, raw bytes | 30.0x (100 B) |" in report
  with open(committed) as f:
    assert f.read() == before


def test_choose_reports_eval_gaps_to_the_teacher_and_against_the_first_variant():
  stage = {"chosen_step": 1, "teacher": {"eval_auc": 0.80, "eval_gauc": 0.70,
                                         "eval_gauc_known": 0.75, "eval_gauc_new": 0.60},
           "curve": [{"eval_auc": 0.0, "eval_gauc": 0.0, "eval_gauc_known": 0.0,
                      "eval_gauc_new": 0.0},
                     {"eval_auc": 0.79, "eval_gauc": 0.68, "eval_gauc_known": 0.74,
                      "eval_gauc_new": 0.55}]}
  assert choose.eval_gaps(stage) == pytest.approx(
      {"eval_auc": -0.01, "eval_gauc": -0.02, "eval_gauc_known": -0.01, "eval_gauc_new": -0.05})
  def gaps(auc):
    return {"eval_auc": auc, "eval_gauc": 0.0, "eval_gauc_known": 0.0, "eval_gauc_new": 0.0}
  lines = choose.summarize({"on": [gaps(-0.001), gaps(-0.003)],
                            "off": [gaps(-0.004), gaps(-0.006), gaps(-0.005)]})
  on, off = (line.split(" | ") for line in lines[2:])
  # on: mean -0.002, std of (-0.001, -0.003) 0.0014; off: mean -0.005, std 0.001, and
  # 0.003 below on.
  assert on[:3] == ["| on", "2", "-0.0020 +- 0.0014"] and on[6] == "+0.0000"
  assert off[:3] == ["| off", "3", "-0.0050 +- 0.0010"] and off[6] == "-0.0030"


def test_choose_reports_a_figure_the_teacher_lacks_as_nan():
  # An eval split without new users: the teacher's reference has no eval_gauc_new.
  stage = {"chosen_step": 0, "teacher": {"eval_auc": 0.80, "eval_gauc": 0.70,
                                         "eval_gauc_known": 0.70},
           "curve": [{"eval_auc": 0.79, "eval_gauc": 0.71, "eval_gauc_known": 0.71,
                      "eval_gauc_new": float("nan")}]}
  gaps = choose.eval_gaps(stage)
  assert gaps["eval_auc"] == pytest.approx(-0.01) and gaps["eval_gauc"] == pytest.approx(0.01)
  assert gaps["eval_gauc_new"] != gaps["eval_gauc_new"]
  row = choose.summarize({"only": [gaps, gaps]})[2].split(" | ")
  assert row[2] == "-0.0100 +- 0.0000" and row[5] == "+nan +- nan"
