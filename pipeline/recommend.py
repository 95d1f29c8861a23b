"""`distillrec recommend`: what a pushed model recommends to one user of a run.

Every item of the run's data is scored for the user and the best k are listed:
* `int8` (the default): the newest pushed mobile bundle (`<mobile>/latest`), the way
  an app runs it: raw feature values through the bundle's vocabularies and manifest
  into the TFLite interpreter (models.export.MobileBundle.rank: the user's features
  once, against every item); no Transform graph.
* `serving`: the newest pushed SavedModel version, its `rank` signature (the user's
  features as one tf.Example, the items as lists), as TF Serving runs it.
Both score the same raw rows, so the two lists can be compared.

The user's context is the one a request made just after the run's data ends would
carry: the point-in-time features of a pretend event one second after the data's last
event, built by interactions.history.user_rows from all of the user's events in the
run's data (every split), so the history is the user's most recent one. A user with
no event in the data is unknown: scored from attributes (the user table's, if any) and
an empty history, with an out-of-vocabulary user id; the result says so.

The run's data is what its ExampleGen read: the input folder and data config of the
newest successful InteractionsExampleGen execution in ML Metadata.
"""

import dataclasses
import datetime
import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from interactions import history
from interactions.config import DataConfig, ExampleGenConfig
from interactions.sources import Interaction, ItemAttributes, UserAttributes
from models import features

INT8, SERVING = "int8", "serving"
MODELS = (INT8, SERVING)
EXAMPLE_GEN_NODE = "InteractionsExampleGen"
# Item of the pretend request event; never an item of the data, never in a history (only
# earlier events are).
_REQUEST_ITEM = "\0request"


class RecommendError(ValueError):
  """A problem with the request or the run (no run folder, nothing pushed, bad k): one line."""


@dataclasses.dataclass(frozen=True)
class RankedItem:
  rank: int
  item: str
  genres: Tuple[str, ...]  # (features.MISSING,) when the item table does not know them
  year: int  # 0 = unknown
  score: float  # P(like) from the model
  seen: bool  # the user interacted with it in the run's data


@dataclasses.dataclass
class Recommendations:
  """The ranked rows and what they were ranked with and from."""
  user: str
  model: str  # INT8 or SERVING
  model_dir: str  # the pushed version that scored
  known_user: bool  # the user has events in the run's data
  context: history.UserRow  # the request's point-in-time features
  user_attributes: UserAttributes
  candidates: int  # items scored
  seen_left_out: int  # items the user interacted with, left out of the ranking
  rows: List[RankedItem]
  notes: List[str]  # what the reader must know to read the rows (unknown user, ...)


@dataclasses.dataclass(frozen=True)
class UserData:
  """What ranking for one user needs of the run's data."""
  events: Tuple[Interaction, ...]  # the user's, in file order
  catalogue: Tuple[str, ...]  # every item of the interactions, sorted
  users: Dict[str, UserAttributes]
  items: Dict[str, ItemAttributes]
  now: int  # one second after the data's last event


# --- Pure parts ------------------------------------------------------------------------


def check_k(k) -> int:
  if isinstance(k, bool) or not isinstance(k, int) or k < 1:
    raise RecommendError(f"-k must be a whole number of items, at least 1, got {k!r}")
  return k


def request_context(events: Sequence[Interaction], user: str, now: int, history_length: int,
                    same_timestamp_visible: bool = False) -> history.UserRow:
  """The point-in-time features of a request by `user` at `now` (later than every event).

  The history code itself computes them: the request is one more event of the user, and
  its row's history, prior count and like-rate are what the model gets. With no event,
  the history is empty (all padding) and the count and rate are 0.
  """
  if any(event.timestamp >= now for event in events):
    raise ValueError(f"now ({now}) must be later than every event of user {user!r}")
  request = Interaction(user=user, item=_REQUEST_ITEM, timestamp=now, label=0,
                        file_index=-1, line=0)
  rows, _ = history.user_rows(list(events) + [request], history_length, same_timestamp_visible)
  (row,) = [r for r in rows if r.item == _REQUEST_ITEM]
  return row


def raw_rows(context: history.UserRow, user_attributes: UserAttributes, items: Sequence[str],
             item_attributes: Dict[str, ItemAttributes]) -> List[Dict]:
  """One raw row per candidate item (models.features names, raw values), as an app sends.

  Missing item attributes get ExampleGen's defaults (interactions.beam_transforms).
  """
  # ExampleGen writes the like-rate as a float32; the same value quantizes the same.
  like_rate = float(np.float32(context.prior_like_rate))
  user_part = {
      features.USER_ID: context.user,
      features.HISTORY_ITEM_IDS: list(context.history),
      features.USER_PRIOR_COUNT: context.prior_count,
      features.USER_PRIOR_LIKE_RATE: like_rate,
      features.USER_AGE: user_attributes.age,
      features.USER_GENDER: user_attributes.gender,
      features.USER_OCCUPATION: user_attributes.occupation,
  }
  rows = []
  missing = ItemAttributes()
  for item in items:
    attributes = item_attributes.get(item, missing)
    rows.append(dict(user_part, **{features.ITEM_ID: item,
                                   features.ITEM_GENRES: list(attributes.genres),
                                   features.ITEM_YEAR: attributes.year}))
  return rows


def rank(items: Sequence[str], scores: Sequence[float], seen, k: int, include_seen: bool,
         item_attributes: Dict[str, ItemAttributes]) -> Tuple[List[RankedItem], int]:
  """The k best items by score, and how many seen items were left out.

  Ties (frequent: the int8 output has 256 levels) go to the smaller item id, so the
  list is the same on every run.
  """
  check_k(k)
  if len(items) != len(scores):
    raise ValueError(f"{len(items)} items but {len(scores)} scores")
  left_out = 0 if include_seen else sum(1 for item in items if item in seen)
  order = sorted(((-float(score), item) for item, score in zip(items, scores)
                  if include_seen or item not in seen))
  missing = ItemAttributes()
  rows = []
  for position, (negative_score, item) in enumerate(order[:k], start=1):
    attributes = item_attributes.get(item, missing)
    rows.append(RankedItem(rank=position, item=item, genres=tuple(attributes.genres),
                           year=attributes.year, score=-negative_score, seen=item in seen))
  return rows, left_out


def _when(timestamp: int) -> str:
  return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime(
      "%Y-%m-%d %H:%M UTC")


def _attributes_text(attributes: UserAttributes) -> str:
  parts = [f"age {attributes.age}" if attributes.age else "",
           "" if attributes.gender == features.MISSING else f"gender {attributes.gender}",
           "" if attributes.occupation == features.MISSING else attributes.occupation]
  return ", ".join(p for p in parts if p) or "none"


def describe_user(user: str, events: Sequence[Interaction], context: history.UserRow,
                  attributes: UserAttributes, in_user_table: bool) -> List[str]:
  """What is known of the user, and for an unknown one, what the ranking rests on."""
  if events:
    last = max(event.timestamp for event in events)
    filled = sum(1 for h in context.history if h != features.HISTORY_PAD)
    return [f"Known user {user}: {len(events)} interactions in the run's data (liked "
            f"{context.prior_like_rate:.0%}), the last on {_when(last)}; the history holds "
            f"the last {filled}; attributes: {_attributes_text(attributes)}."]
  source = (f"the user table's attributes ({_attributes_text(attributes)})" if in_user_table
            else "no attributes (not in the user table either)")
  return [f"Unknown user {user}: no interaction in the run's data. Ranked by the model from "
          f"attributes and history alone: an out-of-vocabulary user id, an empty history, "
          f"{source}."]


def table_lines(result: Recommendations, include_seen: bool = False) -> List[str]:
  """The printed answer: who, with what, then rank, item, genres, year and score."""
  version = os.path.basename(result.model_dir.rstrip("/"))
  what = {INT8: "int8 bundle (TFLite)", SERVING: "SavedModel (serving_default)"}[result.model]
  lines = [f"Ranked {result.candidates:,} items of the run's data with the pushed {what}, "
           f"version {version}: {result.model_dir}"]
  lines += result.notes
  if result.seen_left_out:
    lines.append(f"Left out {result.seen_left_out:,} items the user already interacted with "
                 f"(--include-seen keeps them).")
  if not result.rows:
    lines.append("No item left to recommend.")
    return lines
  genre_texts = [_genres_text(row.genres) for row in result.rows]
  width = max([len("genres")] + [len(text) for text in genre_texts])
  item_width = max([len("item")] + [len(row.item) for row in result.rows])
  seen_column = include_seen or any(row.seen for row in result.rows)
  header = f"{'rank':>4}  {'item':<{item_width}}  {'genres':<{width}}  {'year':>4}  {'score':>6}"
  lines.append(header + ("  seen" if seen_column else ""))
  for row, genres in zip(result.rows, genre_texts):
    year = str(row.year) if row.year else "-"
    line = (f"{row.rank:>4}  {row.item:<{item_width}}  {genres:<{width}}  {year:>4}  "
            f"{row.score:>6.4f}")
    lines.append(line + (f"  {'yes' if row.seen else ''}" if seen_column else ""))
  return [line.rstrip() for line in lines]


def _genres_text(genres: Sequence[str]) -> str:
  known = [g for g in genres if g != features.MISSING]
  return "|".join(known) if known else "-"


# --- The run: its data, its pushed models --------------------------------------------


def run_data_inputs(metadata_path: str) -> Tuple[str, DataConfig, ExampleGenConfig]:
  """(input folder, data config, example_gen config) the run's newest ExampleGen read."""
  from pipeline import mlmd  # pylint: disable=g-import-not-at-top
  store = mlmd.open_store(metadata_path)
  for execution in sorted(store.get_executions(), key=lambda e: -e.id):
    if (execution.last_known_state not in mlmd.SUCCEEDED
        or mlmd.node_id(store, execution) != EXAMPLE_GEN_NODE):
      continue
    properties = execution.custom_properties
    if "input_base" not in properties:
      continue
    gen_config = (ExampleGenConfig.from_json(properties["example_gen_config"].string_value)
                  if "example_gen_config" in properties else ExampleGenConfig())
    return (properties["input_base"].string_value,
            DataConfig.from_json(properties["data_config"].string_value), gen_config)
  raise RecommendError(f"{metadata_path}: no finished {EXAMPLE_GEN_NODE} execution (the run "
                       f"never read its data)")


def read_user_data(data_dir: str, data_config: DataConfig, user: str) -> UserData:
  """The user's events, every item and the side tables, from the run's data folder.

  Rows the run quarantined (unparseable) are skipped here too.
  """
  from interactions import sources  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(data_dir):
    raise RecommendError(f"the run's data folder {data_dir} does not exist any more")
  try:
    source = sources.detect_source(data_dir, data_config)
  except sources.DataError as e:
    raise RecommendError(f"the run's data: {e}") from e
  events, items, last = [], set(), None
  for file_index in range(len(source.files)):
    for row in source.read_rows(file_index):
      if isinstance(row, sources.BadRow):
        continue
      items.add(row.item)
      last = row.timestamp if last is None else max(last, row.timestamp)
      if row.user == user:
        events.append(row)
  if last is None:
    raise RecommendError(f"the run's data in {data_dir} has no usable interaction")
  return UserData(events=tuple(events), catalogue=tuple(sorted(items)), users=source.users,
                  items=source.items, now=last + 1)


def newest_mobile_version(mobile_dir: str) -> str:
  """The bundle an app would fetch: the version `latest` names (else the newest folder)."""
  from models import push  # pylint: disable=g-import-not-at-top
  found = push.versions(mobile_dir)
  latest_path = os.path.join(mobile_dir, push.LATEST_FILE)
  if os.path.isfile(latest_path):
    with open(latest_path) as f:
      latest = f.read().strip()
    if latest in found:
      return os.path.join(mobile_dir, latest)
  if not found:
    raise RecommendError(f"nothing pushed: no mobile version in {mobile_dir} (the int8 model "
                         f"was not blessed, or the run stopped before MobilePusher)")
  return os.path.join(mobile_dir, found[-1])


def newest_serving_version(model_base_dir: str) -> str:
  from models import push  # pylint: disable=g-import-not-at-top
  found = push.versions(model_base_dir)
  if not found:
    raise RecommendError(f"nothing pushed: no SavedModel version in {model_base_dir} (the "
                         f"student was not blessed, or the run stopped before ServingPusher)")
  return os.path.join(model_base_dir, found[-1])


def user_vocabulary_file(model: str, model_dir: str) -> str:
  """The user-id vocabulary the pushed model looks ids up in ("" if it cannot be found)."""
  if model == INT8:
    from models import push  # pylint: disable=g-import-not-at-top
    with open(os.path.join(model_dir, push.MANIFEST_FILE)) as f:
      entry = json.load(f)["vocabularies"].get(features.USER_VOCABULARY)
    path = os.path.join(model_dir, entry["file"]) if entry else ""
  else:
    # The SavedModel keeps the Transform graph's vocabularies as assets, under their names.
    path = os.path.join(model_dir, "assets", features.USER_VOCABULARY)
  return path if path and os.path.isfile(path) else ""


def _listed(vocabulary_file: str, value: str) -> bool:
  with open(vocabulary_file, encoding="utf-8") as f:
    return any(line.rstrip("\n") == value for line in f)


def _as_ranking_request(rows: List[Dict]) -> Tuple[Dict, List[Dict]]:
  """Rows of one user (the same context on every row) -> (context, candidates)."""
  context = {name: rows[0][name] for name in features.CONTEXT_FEATURES if name in rows[0]}
  candidates = [{name: row[name] for name in features.CANDIDATE_FEATURES} for row in rows]
  return context, candidates


def score_int8(bundle_dir: str, rows: List[Dict]):
  """Scores through the bundle's vocabularies, manifest and interpreter, as an app does:
  `MobileBundle.rank`, the user's features encoded once and broadcast against every item."""
  from models import export  # pylint: disable=g-import-not-at-top
  return export.MobileBundle(bundle_dir).rank(*_as_ranking_request(rows))


def score_serving(version_dir: str, rows: List[Dict]):
  """Scores through the SavedModel's `rank` signature, as TF Serving runs it: the user's
  features once, the items as lists."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from models import export  # pylint: disable=g-import-not-at-top
  model = tf.saved_model.load(version_dir)
  request = export.rank_request(*_as_ranking_request(rows))
  return model.signatures[export.RANK_SIGNATURE](
      **{name: tf.constant(value) for name, value in request.items()})["score"].numpy()


def _locations(run_dir: str):
  from pipeline import configs  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(run_dir):
    raise RecommendError(f"run folder {run_dir} does not exist")
  config_path = os.path.join(run_dir, "config.yaml")
  metadata_path = os.path.join(run_dir, "metadata.sqlite")
  for path in (config_path, metadata_path):
    if not os.path.isfile(path):
      raise RecommendError(f"{path} does not exist (is {run_dir} a run folder?)")
  try:
    return configs.run_locations(config_path), metadata_path
  except ValueError as e:
    raise RecommendError(f"{config_path}: {e}") from e


def recommend(run_dir: str, user: str, k: int = 10, include_seen: bool = False,
              model: str = INT8) -> Recommendations:
  """Ranks every item of the run's data for `user` with the run's newest pushed model.

  Raises RecommendError (one line) for a missing run folder, nothing pushed, a bad k
  or an unknown model.
  """
  check_k(k)
  if model not in MODELS:
    raise RecommendError(f"model must be {' or '.join(MODELS)}, got {model!r}")
  if not user:
    raise RecommendError("the user id is empty")
  config, metadata_path = _locations(run_dir)
  # Find the model before reading the data: "nothing pushed" should not wait for it.
  model_dir = (newest_mobile_version(config.mobile_push_dir) if model == INT8
               else newest_serving_version(config.serving_model_dir))
  data_dir, data_config, gen_config = run_data_inputs(metadata_path)
  data = read_user_data(data_dir, data_config, user)
  context = request_context(data.events, user, data.now, gen_config.history_length,
                            gen_config.same_timestamp_visible)
  attributes = data.users.get(user, UserAttributes())
  rows = raw_rows(context, attributes, data.catalogue, data.items)
  notes = describe_user(user, data.events, context, attributes, user in data.users)
  scores = (score_int8 if model == INT8 else score_serving)(model_dir, rows)
  vocabulary = user_vocabulary_file(model, model_dir)
  if data.events and vocabulary and not _listed(vocabulary, user):
    notes.append(f"User {user} is not in the model's user vocabulary (first seen after the "
                 f"training period, or too few events in it): its id is out-of-vocabulary, "
                 f"its history and attributes carry the ranking.")
  seen = {event.item for event in data.events}
  ranked, left_out = rank(data.catalogue, scores, seen, k, include_seen, data.items)
  if len(ranked) < k:
    notes.append(f"Only {len(ranked)} items are left to rank (asked for {k}).")
  return Recommendations(user=user, model=model, model_dir=model_dir,
                         known_user=bool(data.events), context=context,
                         user_attributes=attributes, candidates=len(data.catalogue),
                         seen_left_out=left_out, rows=ranked, notes=notes)
