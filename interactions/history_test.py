"""Point-in-time features of one user, checked against values worked out by hand."""

from interactions import history
from interactions.sources import Interaction

# (user, item, timestamp, label, file index, line)
EVENTS = [Interaction(*event) for event in [
    ("u", "c", 300, 1, 0, 7),
    ("u", "a", 100, 1, 0, 2),
    ("u", "b", 100, 0, 0, 3),  # same second as "a"
    ("u", "d", 400, 0, 0, 9),
]]


def test_same_second_events_do_not_see_each_other():
  rows, duplicates = history.user_rows(EVENTS, history_length=3)
  assert duplicates == []
  assert [r.item for r in rows] == ["a", "b", "c", "d"]
  # a and b (t=100) see nothing; c sees b then a (most recent first; ties in line order);
  # d sees c, b, a.
  assert [r.history for r in rows] == [("", "", ""), ("", "", ""), ("b", "a", ""),
                                       ("c", "b", "a")]
  assert [r.prior_count for r in rows] == [0, 0, 2, 3]
  assert [r.prior_like_rate for r in rows] == [0.0, 0.0, 0.5, 2 / 3]


def test_same_second_visible_in_input_order_when_configured():
  rows, _ = history.user_rows(EVENTS, history_length=3, same_timestamp_visible=True)
  assert [r.history for r in rows] == [("", "", ""), ("a", "", ""), ("b", "a", ""),
                                       ("c", "b", "a")]
  assert rows[1].prior_like_rate == 1.0


def test_history_keeps_the_last_n():
  events = [Interaction("u", f"i{k}", 10 * k, k % 2, 0, k) for k in range(6)]
  rows, _ = history.user_rows(events, history_length=2)
  assert rows[-1].history == ("i4", "i3")
  assert rows[-1].prior_count == 5
  assert rows[-1].prior_like_rate == 2 / 5


def test_duplicates_are_reported_not_featurized():
  events = EVENTS + [Interaction("u", "c", 300, 0, 0, 12)]
  rows, duplicates = history.user_rows(events, history_length=3)
  assert len(rows) == 4
  assert duplicates == [(("u", "c", 300, 0, 0, 12), ("u", "c", 300, 1, 0, 7))]
