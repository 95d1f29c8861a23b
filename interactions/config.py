"""Config sections of the data stages: where interactions come from, the synthetic data set,
and InteractionsExampleGen's time split and point-in-time features.

`pipeline.configs.PipelineConfig` composes these under `data`, `synthetic` and
`example_gen`; YAML and `--set` use the same names.
"""

import dataclasses
from typing import Optional, Tuple

from models.dataclass_json import Section, knob

DATA_FORMATS = ("auto", "ml-100k", "ml-1m", "ml-latest", "csv", "parquet")
SPLIT_QUANTILE_METHODS = ("auto", "exact", "approximate")


@dataclasses.dataclass
class ColumnsConfig(Section):
  """Column names of a generic interactions CSV/Parquet and its side tables."""
  user_id: str = "user_id"
  item_id: str = "item_id"
  timestamp: str = "timestamp"
  # Exactly one of rating / label must exist in the file; rating is tried first.
  rating: str = "rating"
  label: str = "label"
  user_age: str = "age"
  user_gender: str = "gender"
  user_occupation: str = "occupation"
  item_genres: str = "genres"
  item_year: str = "year"


@dataclasses.dataclass
class DataConfig(Section):
  """Where the interactions come from and how they are read."""
  # Folder with the data; None means the embedded synthetic generator.
  data_dir: Optional[str] = None
  # auto | ml-100k | ml-1m | ml-latest | csv | parquet
  format: str = "auto"
  # Generic format only: file names inside data_dir (users/items optional).
  interactions_file: str = "interactions.csv"
  users_file: Optional[str] = "users.csv"
  items_file: Optional[str] = "items.csv"
  columns: ColumnsConfig = dataclasses.field(default_factory=ColumnsConfig)
  genre_separator: str = "|"
  rating_min: float = 1.0
  rating_max: float = 5.0
  # like = rating >= like_threshold (explicit data).
  like_threshold: float = 4.0
  # The run fails when more than this share of interaction rows is unusable.
  max_bad_row_fraction: float = 0.01

  def validate(self, where: str) -> None:
    if not 0 <= self.max_bad_row_fraction < 1:
      raise ValueError(f"{knob(where, 'max_bad_row_fraction')} must be in [0, 1), got "
                       f"{self.max_bad_row_fraction}")
    if self.format not in DATA_FORMATS:
      raise ValueError(f"{knob(where, 'format')} must be one of {', '.join(DATA_FORMATS)}, "
                       f"got {self.format!r}")
    if self.rating_min >= self.rating_max:
      raise ValueError(f"{knob(where, 'rating_min')} ({self.rating_min}) must be below "
                       f"{knob(where, 'rating_max')} ({self.rating_max})")


@dataclasses.dataclass
class SyntheticConfig(Section):
  """The embedded, seeded synthetic data set (used when data.data_dir is None)."""
  num_interactions: int = 100_000
  # None: derived from num_interactions (see interactions.synthetic).
  num_users: Optional[int] = None
  num_items: Optional[int] = None
  seed: int = 42

  def validate(self, where: str) -> None:
    if self.num_interactions < 100:
      raise ValueError(f"{knob(where, 'num_interactions')} must be >= 100, got "
                       f"{self.num_interactions}")


@dataclasses.dataclass
class ExampleGenConfig(Section):
  """InteractionsExampleGen: time split, point-in-time features and how its Beam graph
  reads and splits at scale."""
  # Consecutive time ranges by timestamp quantile: train, eval, test.
  split_fractions: Tuple[float, float, float] = (0.8, 0.1, 0.1)
  # The last N item ids of the user before each event; the schema's history shape
  # and every model's history input follow it.
  history_length: int = 20
  # False: events of a user in the same second do not see each other.
  same_timestamp_visible: bool = False
  # How the split boundaries are found. exact: every timestamp in one worker's memory
  # (8 bytes a row). approximate: Beam's distributed quantile sketch; each boundary is
  # within ceil(quantile_epsilon * rows) sorted positions of the exact one (the
  # ingestion summary states the bound). auto: exact up to exact_quantiles_max_rows rows,
  # approximate above.
  split_quantiles: str = "auto"
  exact_quantiles_max_rows: int = 10_000_000
  quantile_epsilon: float = 0.001
  # Delimited interaction files are read in byte ranges of this size, each by one worker
  # (Parquet files by row group). The 1e6 synthetic CSV is 28.6 MB: at 64 MiB one worker
  # parsed all of it; ExampleGen alone at 1e6 (multi_processing x2, two runs each,
  # alternating) took 43.9 and 42.0 s at 64 MiB, 38.5 and 36.4 s at 8 MiB, 38.9 and 38.3 s
  # at 4 MiB, with the same examples (every split the same multiset; the trainers read
  # rows in canonical order, so the models do not change either).
  read_chunk_bytes: int = 8 * 1024 * 1024

  def validate(self, where: str) -> None:
    fractions = self.split_fractions
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
      raise ValueError(
          f"{knob(where, 'split_fractions')} must be three positive shares summing to 1 "
          f"(train, eval, test), got {list(fractions)}")
    if self.history_length < 1:
      raise ValueError(f"{knob(where, 'history_length')} must be >= 1, got "
                       f"{self.history_length}")
    if self.split_quantiles not in SPLIT_QUANTILE_METHODS:
      raise ValueError(f"{knob(where, 'split_quantiles')} must be one of "
                       f"{', '.join(SPLIT_QUANTILE_METHODS)}, got {self.split_quantiles!r}")
    if self.exact_quantiles_max_rows < 0:
      raise ValueError(f"{knob(where, 'exact_quantiles_max_rows')} must be >= 0, got "
                       f"{self.exact_quantiles_max_rows}")
    # Below 1e-6 the sketch's output list (1 / epsilon values) gets large for nothing.
    if not 1e-6 <= self.quantile_epsilon < 1:
      raise ValueError(f"{knob(where, 'quantile_epsilon')} must be in [1e-06, 1), got "
                       f"{self.quantile_epsilon}")
    if self.read_chunk_bytes < 1:
      raise ValueError(f"{knob(where, 'read_chunk_bytes')} must be >= 1, got "
                       f"{self.read_chunk_bytes}")
