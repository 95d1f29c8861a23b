"""Point-in-time features of one user's events: plain Python, no Beam.

`user_rows` gets all events of one user (any order) and returns, per event,
the features a model may see at that moment: the last N item ids, the count of
earlier events and the earlier like-rate, each from strictly earlier events.
By default events in the same second do not see each other (real logs batch
many events into one second; their order inside it is unknown). Exact
(user, item, timestamp) repeats are returned separately as duplicates.
"""

import dataclasses
from typing import List, Sequence, Tuple

from interactions.sources import Interaction
from models import features


@dataclasses.dataclass(frozen=True)
class UserRow:
  user: str
  item: str
  timestamp: int
  label: int
  history: Tuple[str, ...]  # most recent first, padded to the history length
  prior_count: int
  prior_like_rate: float


def sort_key(event: Interaction):
  """Time order; ties broken by input order (file, line) so results are deterministic."""
  return (event.timestamp, event.file_index, event.line, event.item)


def user_rows(events: Sequence[Interaction], history_length: int,
              same_timestamp_visible: bool = False
              ) -> Tuple[List[UserRow], List[Tuple[Interaction, Interaction]]]:
  """Returns (rows in time order, [(duplicate, first occurrence)])."""
  ordered = sorted(events, key=sort_key)
  kept: List[Interaction] = []
  duplicates = []
  seen = {}
  for event in ordered:
    key = (event.item, event.timestamp)
    if key in seen:
      duplicates.append((event, seen[key]))
      continue
    seen[key] = event
    kept.append(event)

  rows = []
  likes_before = [0]
  for event in kept:
    likes_before.append(likes_before[-1] + event.label)
  items = [event.item for event in kept]
  group_start = 0
  for index, event in enumerate(kept):
    if index > 0 and event.timestamp != kept[index - 1].timestamp:
      group_start = index
    visible = index if same_timestamp_visible else group_start
    start = max(visible - history_length, 0)
    recent = items[start:visible][::-1]  # most recent first
    recent += [features.HISTORY_PAD] * (history_length - len(recent))
    rows.append(UserRow(
        user=event.user, item=event.item, timestamp=event.timestamp, label=event.label,
        history=tuple(recent), prior_count=visible,
        prior_like_rate=likes_before[visible] / visible if visible else 0.0))
  return rows, duplicates
