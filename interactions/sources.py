"""Readers that map MovieLens 100K / 1M / latest and generic CSV/Parquet onto one contract.

The contract (DESIGN.md, "Data contract"): interactions `user_id, item_id,
timestamp` plus a rating (explicit) or a 0/1 label (implicit); optional user
attributes (age, gender, occupation) and item attributes (genres, year).

`detect_source` looks at a folder and returns an `InteractionSource`: a small,
picklable description that Beam workers use to stream interaction rows with
their file and line numbers, either a whole file at a time (`read_rows`) or in
parts that many workers read in parallel (`plan_ranges`, `scan_range`,
`read_range`: byte ranges of delimited text, row groups of Parquet). User and
item tables are small and read eagerly; a malformed table row raises at once,
naming file, line and column. Malformed interaction rows are not raised: they
come back as `BadRow`s so the caller can count and quarantine them.

Every file is read through `tf.io.gfile`, so the data folder may be a local path or
any URI TensorFlow has a filesystem for (gs:// on Kubeflow). TensorFlow is imported
only when a folder is read: the CLI imports this module for its types and errors.
"""

import csv
import dataclasses
import io
import logging
import os
import re
from typing import Dict, FrozenSet, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

from models import features

# Genres of MovieLens 100K u.item flags, in column order (used when u.genre is absent).
ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
                 "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",
                 "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")
_NO_GENRES = {"", "(no genres listed)", "unknown"}


class DataError(ValueError):
  """Input data that cannot be used; the message names file, line and column."""


def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


class _GFileStream(io.RawIOBase):
  """A GFile opened for reading as a raw binary stream, optionally only bytes [start, end).

  GFile alone is not enough: pyarrow needs `closed`, and Python's text layer needs a
  buffered stream. Wrapped in io.BufferedReader and io.TextIOWrapper it reads as
  `open` does (same decoding, same newline handling, same line numbers). With `end`,
  reading stops there as if the file ended (one worker's part of a file).
  """

  def __init__(self, path: str, start: int = 0, end: Optional[int] = None):
    super().__init__()
    self._file = _gfile().GFile(path, "rb")
    if start:
      self._file.seek(start)
    self._position = start
    self._end = end

  def readable(self) -> bool:
    return True

  def seekable(self) -> bool:
    return True

  def readinto(self, buffer) -> int:
    size = len(buffer)
    if self._end is not None:
      size = max(0, min(size, self._end - self._position))
    data = self._file.read(size) if size else b""
    buffer[:len(data)] = data
    self._position += len(data)
    return len(data)

  def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
    self._file.seek(offset, whence)
    self._position = self._file.tell()
    return self._position

  def tell(self) -> int:
    return self._position

  def close(self) -> None:
    if not self.closed:
      self._file.close()
    super().close()


def _open_binary(path: str, start: int = 0, end: Optional[int] = None,
                 buffer_size: int = 1 << 20) -> io.BufferedReader:
  return io.BufferedReader(_GFileStream(path, start, end), buffer_size=buffer_size)


def _open_text(path: str, encoding: str, start: int = 0, end: Optional[int] = None,
               buffer_size: int = 1 << 20) -> io.TextIOWrapper:
  """Like open(path, encoding=encoding, newline=""), for local paths and URIs alike.

  With start/end: only those bytes, as if they were the whole file; `start` must be
  where a line starts, so that no character is cut in two.
  """
  return io.TextIOWrapper(_open_binary(path, start, end, buffer_size), encoding=encoding,
                          newline="")


def _is_file(path: str) -> bool:
  gfile = _gfile()
  return gfile.exists(path) and not gfile.isdir(path)


def _size(path: str) -> int:
  return _gfile().stat(path).length


@dataclasses.dataclass(frozen=True)
class UserAttributes:
  age: int = 0
  gender: str = features.MISSING
  occupation: str = features.MISSING


@dataclasses.dataclass(frozen=True)
class ItemAttributes:
  genres: Tuple[str, ...] = (features.MISSING,)
  year: int = 0


class Interaction(NamedTuple):
  """One parsed interaction row, with where it came from (for ordering and error messages)."""
  user: str
  item: str
  timestamp: int  # Unix seconds
  label: int  # 0/1
  file_index: int  # index into InteractionSource.files
  line: int  # physical line (or Parquet row) in that file, 1-based


@dataclasses.dataclass(frozen=True)
class BadRow:
  file: str
  line: int
  column: str
  reason: str
  text: str

  def describe(self) -> str:
    return f"{self.file}, line {self.line}, column {self.column!r}: {self.reason}"


class ReadRange(NamedTuple):
  """A part of one interactions file that one worker reads (see InteractionSource.read_range).

  Delimited text: bytes [start, end); Parquet: row groups [start, end). `total` is the
  file's size in bytes or its number of row groups, so a range knows whether it is the
  whole file.
  """
  file_index: int
  start: int
  end: int
  total: int

  @property
  def whole_file(self) -> bool:
    return self.start == 0 and self.end == self.total


class RangeScan(NamedTuple):
  """What the line-counting pass found in one byte range of a delimited text file."""
  file_index: int
  start: int  # the range's first byte
  lines: int  # line ends among the lines that start in the range
  # A CSV line there ends inside a quoted field (the record goes on in the next line).
  record_spans_lines: bool


@dataclasses.dataclass(frozen=True)
class LineOffsets:
  """The side input of read_range: where each byte range's lines sit in their file."""
  # (file index, range start) -> lines of the file before the range's first line.
  lines_before: Dict[Tuple[int, int], int]
  # Files whose CSV records span lines: read whole, by the range that starts at 0.
  whole_files: FrozenSet[int] = frozenset()


def line_offsets(scans: Iterable[RangeScan]) -> LineOffsets:
  """Cumulative line counts of the ranges of each file, in file order."""
  by_file: Dict[int, List[RangeScan]] = {}
  for scan in scans:
    by_file.setdefault(scan.file_index, []).append(scan)
  lines_before, whole_files = {}, set()
  for file_index, file_scans in by_file.items():
    before = 0
    for scan in sorted(file_scans, key=lambda each: each.start):
      lines_before[(file_index, scan.start)] = before
      before += scan.lines
      if scan.record_spans_lines:
        whole_files.add(file_index)
  return LineOffsets(lines_before, frozenset(whole_files))


def read_in_ranges(source: "InteractionSource",
                   chunk_bytes: int) -> Iterator[Union[Interaction, BadRow]]:
  """Every row of `source`, range by range as ExampleGen's Beam graph reads them, in one
  process and in file order; what `read_rows` gives file by file."""
  ranges = [read_range for index in range(len(source.files))
            for read_range in source.plan_ranges(index, chunk_bytes)]
  offsets = line_offsets(scan for read_range in ranges for scan in source.scan_range(read_range))
  for read_range in ranges:
    yield from source.read_range(read_range, offsets)


@dataclasses.dataclass
class InteractionSource:
  """How to read one data set's interaction rows; picklable for Beam."""
  format: str
  files: List[str]
  delimiter: str  # '\t', '::', ',' or 'parquet'
  header: bool
  encoding: str
  # Position (delimited without header) or name (header / parquet) of each column.
  user_column: Union[int, str]
  item_column: Union[int, str]
  timestamp_column: Union[int, str]
  value_column: Union[int, str]
  value_is_rating: bool
  rating_min: float
  rating_max: float
  like_threshold: float
  users: Dict[str, UserAttributes] = dataclasses.field(default_factory=dict)
  items: Dict[str, ItemAttributes] = dataclasses.field(default_factory=dict)

  @property
  def value_name(self) -> str:
    return "rating" if self.value_is_rating else "label"

  def count_rows(self) -> int:
    """Number of interaction rows (data lines) in all files; cheap, no parsing."""
    total = 0
    for path in self.files:
      if self.delimiter == "parquet":
        import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
        with _open_binary(path) as f:
          total += pq.ParquetFile(f).metadata.num_rows
      else:
        lines, last = 0, b""
        with _open_binary(path) as f:
          for chunk in iter(lambda: f.read(1 << 20), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
        # A last line without a newline is still a line.
        if last and last != b"\n":
          lines += 1
        total += lines - (1 if self.header and lines else 0)
    return total

  def read_rows(self, file_index: int) -> Iterator[Union[Interaction, BadRow]]:
    """Streams one file's rows as Interaction tuples or BadRows, in file order."""
    path = self.files[file_index]
    name = os.path.basename(path)
    for line, fields, text in _iter_fields(self, path):
      yield self._parse(fields, name, file_index, line, text)

  def plan_ranges(self, file_index: int, chunk_bytes: int) -> List[ReadRange]:
    """The parts of one file that workers read in parallel.

    Delimited text: consecutive byte ranges of `chunk_bytes` (the last one shorter).
    Parquet: one range per row group, its natural unit (`chunk_bytes` does not apply).
    """
    path = self.files[file_index]
    if self.delimiter == "parquet":
      import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
      with _open_binary(path) as f:
        groups = pq.ParquetFile(f).metadata.num_row_groups
      return [ReadRange(file_index, group, group + 1, groups) for group in range(groups)]
    size = _size(path)
    return [ReadRange(file_index, start, min(start + chunk_bytes, size), size)
            for start in range(0, size, chunk_bytes)]

  def scan_range(self, read_range: ReadRange) -> Iterator[RangeScan]:
    """The line-counting pass over one byte range; `line_offsets` adds the counts up.

    Counting bytes is far cheaper than parsing, so the ranges of a file are counted in
    parallel before they are read, and each reader then knows the physical line number
    of its first line. Parquet ranges and a file read in one range need no count and
    yield nothing.

    For CSV it also checks that every line is a whole record: a quoted field may hold a
    line break, and a range that starts inside such a field would parse the rest of
    the field as a record of its own. Only lines with a quote character are checked
    (each parsed alone, strictly); if one ends inside a quoted field, the whole file is
    read by one worker, as before splitting. Lines with a stray quote the strict parser
    refuses are treated the same way: that costs parallelism, never correctness.
    """
    if self.delimiter == "parquet" or read_range.whole_file:
      return
    path = self.files[read_range.file_index]
    start, end = self._lines_of(path, read_range)
    with _open_binary(path, start, end) as f:
      lines, quotes = _count_line_ends(f)
    spans = False
    if quotes and self.delimiter == ",":
      spans = _has_record_spanning_lines(path, self.encoding, start, end)
      if spans:
        logging.warning(
            "%s: a quoted CSV field goes on past the end of a line (bytes %d-%d); the file "
            "is read whole by one worker, not in byte ranges", os.path.basename(path),
            start, end)
    yield RangeScan(read_range.file_index, read_range.start, lines, spans)

  def read_range(self, read_range: ReadRange,
                 offsets: LineOffsets) -> Iterator[Union[Interaction, BadRow]]:
    r"""Streams the rows of one ReadRange, with the file's line (or Parquet row) numbers.

    Delimited text: the rows of the lines that START in bytes [start, end), the
    text-split rule of Hadoop and Beam: a range that starts inside a line leaves that line
    to the range before, and the line that crosses `end` is read to its end, so every
    line is read exactly once. Lines end where Python's text layer ends them ('\n',
    '\r\n' or a lone '\r'), as `read_rows` reads them. `offsets` (line_offsets over the
    scan_range of every range) numbers the first line; only the file's first line is a
    header.

    Parquet: the rows of the range's row groups, numbered from 1 at the file's first row.
    """
    path = self.files[read_range.file_index]
    name = os.path.basename(path)
    if self.delimiter == "parquet":
      for line, fields, text in _iter_parquet_fields(path, read_range.start, read_range.end):
        yield self._parse(fields, name, read_range.file_index, line, text)
      return
    if read_range.whole_file or read_range.file_index in offsets.whole_files:
      if read_range.start == 0:
        yield from self.read_rows(read_range.file_index)
      return
    start, end = self._lines_of(path, read_range)
    if start >= end:
      return  # one line covers the range; the range before reads it
    first_line = 1 + offsets.lines_before[(read_range.file_index, read_range.start)]
    header = None
    if self.header and self.delimiter == ",":
      with _open_text(path, self.encoding, buffer_size=1 << 16) as f:
        header = [h.strip() for h in next(csv.reader(f), [])]
    for line, fields, text in _iter_range_fields(self, path, start, end, first_line, header):
      yield self._parse(fields, name, read_range.file_index, line, text)

  @staticmethod
  def _lines_of(path: str, read_range: ReadRange) -> Tuple[int, int]:
    """Bytes [first, last) of the lines that start in a byte range."""
    with _open_binary(path, buffer_size=1 << 16) as f:
      return (_line_start(f, read_range.start, read_range.total),
              _line_start(f, read_range.end, read_range.total))

  def _parse(self, fields, name: str, file_index: int, line: int,
             text: str) -> Union[Interaction, BadRow]:
    values = []
    for canonical, column in ((features.USER_ID, self.user_column),
                              (features.ITEM_ID, self.item_column),
                              (features.TIMESTAMP, self.timestamp_column),
                              (self.value_name, self.value_column)):
      value = fields.get(column) if isinstance(fields, dict) else (
          fields[column] if column < len(fields) else None)
      if value is None or (isinstance(value, str) and not value.strip()):
        expected = ("a value" if isinstance(fields, dict)
                    else f"at least {max(self.user_column, self.item_column, self.timestamp_column, self.value_column) + 1} fields")
        return BadRow(name, line, str(column), f"missing {canonical} (expected {expected})", text)
      values.append(value.strip() if isinstance(value, str) else value)
    user, item, raw_ts, raw_value = values
    try:
      timestamp_float = float(raw_ts)
      if timestamp_float != timestamp_float or timestamp_float in (float("inf"), float("-inf")):
        raise ValueError
    except (TypeError, ValueError):
      return BadRow(name, line, str(self.timestamp_column),
                    f"timestamp {raw_ts!r} is not a number (expected Unix seconds)", text)
    if timestamp_float < 0:
      return BadRow(name, line, str(self.timestamp_column),
                    f"timestamp {raw_ts!r} is negative (expected Unix seconds)", text)
    if self.value_is_rating:
      try:
        rating = float(raw_value)
      except (TypeError, ValueError):
        return BadRow(name, line, str(self.value_column),
                      f"rating {raw_value!r} is not a number", text)
      if not self.rating_min <= rating <= self.rating_max:
        return BadRow(name, line, str(self.value_column),
                      f"rating {raw_value!r} outside [{self.rating_min:g}, {self.rating_max:g}]",
                      text)
      label = int(rating >= self.like_threshold)
    else:
      label = _parse_label(raw_value)
      if label is None:
        return BadRow(name, line, str(self.value_column),
                      f"label {raw_value!r} is not 0/1", text)
    return Interaction(user=str(user), item=str(item), timestamp=int(timestamp_float),
                       label=label, file_index=file_index, line=line)


def _parse_label(raw) -> Optional[int]:
  text = str(raw).strip().lower()
  if text in ("1", "1.0", "true"):
    return 1
  if text in ("0", "0.0", "false"):
    return 0
  return None


def _iter_fields(source: InteractionSource, path: str):
  """Yields (line number, fields, raw text) for each data row of an interactions file."""
  if source.delimiter == "parquet":
    yield from _iter_parquet_fields(path)
    return
  with _open_text(path, source.encoding) as f:
    if source.delimiter == ",":
      reader = csv.reader(f)
      header = None
      for fields in reader:
        if source.header and header is None:
          header = [h.strip() for h in fields]
          continue
        if not fields or fields == [""]:
          continue
        record = dict(zip(header, fields)) if header else fields
        yield reader.line_num, record, ",".join(fields)
      return
    yield from _delimited_lines(source, f, first_line=1)


def _delimited_lines(source: InteractionSource, lines, first_line: int):
  """(line number, fields, text) of the data rows among text `lines` (delimiter not ","),
  numbered from first_line; the file's line 1 is the header if it has one."""
  for line, raw in enumerate(lines, start=first_line):
    text = raw.rstrip("\r\n")
    if source.header and line == 1:
      continue
    if not text.strip():
      continue
    yield line, text.split(source.delimiter), text


def _iter_parquet_fields(path: str, first_group: int = 0, end_group: Optional[int] = None):
  """Like _iter_fields, for row groups [first_group, end_group) of a Parquet file (all of
  them by default)."""
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  with _open_binary(path) as f:
    parquet = pq.ParquetFile(f)
    if end_group is None:
      end_group = parquet.metadata.num_row_groups
    # Row numbers go on across row groups: the rows of the groups before come first.
    row = sum(parquet.metadata.row_group(g).num_rows for g in range(first_group))
    for batch in parquet.iter_batches(batch_size=65536,
                                      row_groups=list(range(first_group, end_group))):
      for record in batch.to_pylist():
        row += 1
        yield row, {k: (None if v is None else str(v)) for k, v in record.items()}, str(record)


def _iter_range_fields(source: InteractionSource, path: str, start: int, end: int,
                       first_line: int, header: Optional[List[str]]):
  """Like _iter_fields, for the lines in bytes [start, end) (whole lines, the first numbered
  `first_line`); `header`: the CSV's column names, read from the file's first line."""
  with _open_text(path, source.encoding, start, end) as f:
    if source.delimiter == ",":
      reader = csv.reader(f)
      for fields in reader:
        # scan_range made sure each line is one record, so line_num counts lines here too.
        line = first_line + reader.line_num - 1
        if source.header and line == 1:
          continue
        if not fields or fields == [""]:
          continue
        record = dict(zip(header, fields)) if header else fields
        yield line, record, ",".join(fields)
      return
    yield from _delimited_lines(source, f, first_line)


_LINE_END = re.compile(rb"[\r\n]")


def _line_start(f: io.BufferedReader, position: int, size: int) -> int:
  r"""The first offset >= position at which a line starts (size if none).

  A line starts at 0 and after each line end: '\n', '\r\n' or a lone '\r', as Python's
  text layer (newline="") splits lines. Reads from position - 1 to the next line end.
  """
  if position <= 0:
    return 0
  if position >= size:
    return size
  f.seek(position - 1)
  offset = position - 1
  while True:
    block = f.read(1 << 16)
    if not block:
      return size
    found = _LINE_END.search(block)
    if found is None:
      offset += len(block)
      continue
    index = found.start()
    if block[index:index + 1] == b"\n":
      return offset + index + 1
    # A '\r': the line end is two bytes if a '\n' follows, possibly in the next block.
    following = block[index + 1:index + 2] or f.read(1)
    return offset + index + (2 if following == b"\n" else 1)


def _count_line_ends(f: io.BufferedReader) -> Tuple[int, int]:
  """(line ends as _line_start sees them, quote characters) in a binary stream."""
  line_ends = quotes = 0
  previous = b""
  for block in iter(lambda: f.read(1 << 20), b""):
    line_ends += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
    if previous == b"\r" and block[:1] == b"\n":
      line_ends -= 1  # a '\r\n' cut by the block boundary is one line end, not two
    previous = block[-1:]
    quotes += block.count(b'"')
  return line_ends, quotes


def _has_record_spanning_lines(path: str, encoding: str, start: int, end: int) -> bool:
  """Whether a line in bytes [start, end) is not a whole CSV record on its own."""
  with _open_text(path, encoding, start, end) as f:
    for line in f:
      if '"' not in line:
        continue
      try:
        list(csv.reader([line], strict=True))  # parsing is the check
      except csv.Error:
        return True
  return False


# --- Side tables ----------------------------------------------------------------


def _read_lines(path: str, encoding: str) -> Iterator[Tuple[int, str]]:
  with _open_text(path, encoding) as f:
    for number, raw in enumerate(f, start=1):
      text = raw.rstrip("\r\n")
      if text.strip():
        yield number, text


def _int_field(value: str, path: str, line: int, column: str, allow_empty: bool = True) -> int:
  value = value.strip()
  if not value and allow_empty:
    return 0
  try:
    return int(float(value))
  except ValueError:
    raise DataError(f"{path}, line {line}, column {column!r}: {value!r} is not a number") from None


def _gender(value: str) -> str:
  value = value.strip().upper()
  return value if value else features.MISSING


def _category(value: str) -> str:
  value = value.strip()
  return value if value else features.MISSING


def _genres(values) -> Tuple[str, ...]:
  kept = tuple(g.strip() for g in values if g.strip() not in _NO_GENRES)
  return kept or (features.MISSING,)


def _year_from_title(title: str) -> int:
  match = _YEAR_IN_TITLE.search(title.strip())
  return int(match.group(1)) if match else 0


def _split(text: str, delimiter: str, path: str, line: int, minimum: int) -> List[str]:
  fields = text.split(delimiter)
  if len(fields) < minimum:
    raise DataError(f"{path}, line {line}: expected at least {minimum} "
                    f"{delimiter!r}-separated fields, found {len(fields)}")
  return fields


def read_ml100k_users(path: str) -> Dict[str, UserAttributes]:
  users = {}
  for line, text in _read_lines(path, "latin-1"):
    f = _split(text, "|", path, line, 4)
    users[f[0].strip()] = UserAttributes(_int_field(f[1], path, line, "age"), _gender(f[2]),
                                         _category(f[3]))
  return users


def read_ml100k_items(path: str, genre_path: Optional[str]) -> Dict[str, ItemAttributes]:
  genre_names = list(ML100K_GENRES)
  if genre_path and _gfile().exists(genre_path):
    pairs = [text.split("|") for _, text in _read_lines(genre_path, "latin-1")]
    genre_names = [name for name, _ in sorted(((p[0], int(p[1])) for p in pairs if len(p) == 2),
                                              key=lambda p: p[1])]
  items = {}
  for line, text in _read_lines(path, "latin-1"):
    f = _split(text, "|", path, line, 5 + len(genre_names))
    flags = f[5:5 + len(genre_names)]
    for column, flag in enumerate(flags, start=6):
      if flag.strip() not in ("0", "1"):
        raise DataError(f"{path}, line {line}, column {column}: genre flag {flag!r} is not 0/1")
    release = f[2].strip()
    year = int(release[-4:]) if len(release) >= 4 and release[-4:].isdigit() else _year_from_title(f[1])
    items[f[0].strip()] = ItemAttributes(
        _genres(g for g, flag in zip(genre_names, flags) if flag.strip() == "1"), year)
  return items


def read_ml1m_users(path: str) -> Dict[str, UserAttributes]:
  users = {}
  for line, text in _read_lines(path, "latin-1"):
    f = _split(text, "::", path, line, 4)
    users[f[0].strip()] = UserAttributes(_int_field(f[2], path, line, "age"), _gender(f[1]),
                                         _category(f[3]))
  return users


def read_ml1m_items(path: str) -> Dict[str, ItemAttributes]:
  items = {}
  for line, text in _read_lines(path, "latin-1"):
    f = _split(text, "::", path, line, 3)
    items[f[0].strip()] = ItemAttributes(_genres(f[2].split("|")), _year_from_title(f[1]))
  return items


def _read_table(path: str) -> Tuple[List[str], Iterator[Tuple[int, Dict[str, str]]]]:
  """Header and rows of a CSV or Parquet side table; rows are (line, {column: text})."""
  if path.endswith(".parquet"):
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    with _open_binary(path) as f:
      table = pq.read_table(f)
    rows = table.to_pylist()
    return table.column_names, ((i + 2, {k: "" if v is None else str(v) for k, v in r.items()})
                                for i, r in enumerate(rows))
  with _open_text(path, "utf-8") as f:
    text = f.read()
  reader = csv.reader(io.StringIO(text))
  header = [h.strip() for h in next(reader, [])]

  def rows():
    for fields in reader:
      if fields and fields != [""]:
        yield reader.line_num, dict(zip(header, fields))
  return header, rows()


def read_ml_latest_items(path: str) -> Dict[str, ItemAttributes]:
  header, rows = _read_table(path)
  _require_columns(path, header, ["movieId", "title", "genres"])
  return {r["movieId"].strip(): ItemAttributes(_genres(r.get("genres", "").split("|")),
                                               _year_from_title(r.get("title", "")))
          for _, r in rows}


def _require_columns(path: str, header: List[str], required: List[str]) -> None:
  missing = [c for c in required if c not in header]
  if missing:
    raise DataError(f"{path}: missing required column(s) {', '.join(missing)}; "
                    f"found columns: {', '.join(header) or '(none)'}")


def read_generic_users(path: str, columns) -> Dict[str, UserAttributes]:
  header, rows = _read_table(path)
  _require_columns(path, header, [columns.user_id])
  users = {}
  for line, r in rows:
    users[r[columns.user_id].strip()] = UserAttributes(
        _int_field(r.get(columns.user_age, ""), path, line, columns.user_age),
        _gender(r.get(columns.user_gender, "")), _category(r.get(columns.user_occupation, "")))
  return users


def read_generic_items(path: str, columns, genre_separator: str) -> Dict[str, ItemAttributes]:
  header, rows = _read_table(path)
  _require_columns(path, header, [columns.item_id])
  items = {}
  for line, r in rows:
    items[r[columns.item_id].strip()] = ItemAttributes(
        _genres(r.get(columns.item_genres, "").split(genre_separator)),
        _int_field(r.get(columns.item_year, ""), path, line, columns.item_year))
  return items


# --- Detection ------------------------------------------------------------------


def detect_format(data_dir: str, data_config) -> str:
  """Which adapter reads `data_dir`; `data_config.format` other than auto wins."""
  if not _gfile().isdir(data_dir):
    raise DataError(f"data folder {data_dir} does not exist")
  if data_config.format != "auto":
    return data_config.format
  has = lambda name: _is_file(os.path.join(data_dir, name))  # pylint: disable=unnecessary-lambda-assignment
  if has("u.data"):
    return "ml-100k"
  if has("ratings.dat"):
    return "ml-1m"
  if has("ratings.csv") and has("movies.csv"):
    return "ml-latest"
  if has(data_config.interactions_file):
    return "parquet" if data_config.interactions_file.endswith(".parquet") else "csv"
  stem = os.path.splitext(data_config.interactions_file)[0]
  if has(stem + ".parquet"):
    return "parquet"
  raise DataError(
      f"no interactions found in {data_dir}: expected u.data (MovieLens 100K), ratings.dat "
      f"(MovieLens 1M), ratings.csv + movies.csv (MovieLens latest) or "
      f"{data_config.interactions_file} / {stem}.parquet (generic)")


def detect_source(data_dir: str, data_config) -> InteractionSource:
  """Reads side tables and describes how to stream the interactions of `data_dir`."""
  fmt = detect_format(data_dir, data_config)
  path = lambda name: os.path.join(data_dir, name)  # pylint: disable=unnecessary-lambda-assignment
  common = dict(rating_min=data_config.rating_min, rating_max=data_config.rating_max,
                like_threshold=data_config.like_threshold)
  if fmt == "ml-100k":
    source = InteractionSource(
        format=fmt, files=[path("u.data")], delimiter="\t", header=False, encoding="latin-1",
        user_column=0, item_column=1, timestamp_column=3, value_column=2, value_is_rating=True,
        **common)
    if _gfile().exists(path("u.user")):
      source.users = read_ml100k_users(path("u.user"))
    if _gfile().exists(path("u.item")):
      source.items = read_ml100k_items(path("u.item"), path("u.genre"))
  elif fmt == "ml-1m":
    source = InteractionSource(
        format=fmt, files=[path("ratings.dat")], delimiter="::", header=False,
        encoding="latin-1", user_column=0, item_column=1, timestamp_column=3, value_column=2,
        value_is_rating=True, **common)
    if _gfile().exists(path("users.dat")):
      source.users = read_ml1m_users(path("users.dat"))
    if _gfile().exists(path("movies.dat")):
      source.items = read_ml1m_items(path("movies.dat"))
  elif fmt == "ml-latest":
    common["rating_min"] = min(common["rating_min"], 0.5)
    source = InteractionSource(
        format=fmt, files=[path("ratings.csv")], delimiter=",", header=True, encoding="utf-8",
        user_column="userId", item_column="movieId", timestamp_column="timestamp",
        value_column="rating", value_is_rating=True, **common)
    _check_header(source)
    source.items = read_ml_latest_items(path("movies.csv"))
  elif fmt in ("csv", "parquet"):
    name = data_config.interactions_file
    if fmt == "parquet" and not name.endswith(".parquet"):
      name = os.path.splitext(name)[0] + ".parquet"
    if not _is_file(path(name)):
      raise DataError(f"{path(name)} does not exist (data.format={fmt})")
    columns = data_config.columns
    header = _header_of(path(name), fmt)
    value_is_rating = columns.rating in header
    source = InteractionSource(
        format=fmt, files=[path(name)], delimiter="parquet" if fmt == "parquet" else ",",
        header=True, encoding="utf-8", user_column=columns.user_id,
        item_column=columns.item_id, timestamp_column=columns.timestamp,
        value_column=columns.rating if value_is_rating else columns.label,
        value_is_rating=value_is_rating, **common)
    _check_header(source, header)
    if data_config.users_file and _is_file(path(data_config.users_file)):
      source.users = read_generic_users(path(data_config.users_file), columns)
    if data_config.items_file and _is_file(path(data_config.items_file)):
      source.items = read_generic_items(path(data_config.items_file), columns,
                                        data_config.genre_separator)
  else:
    raise DataError(f"unknown data format {fmt!r}")
  _check_not_empty(source)
  return source


def _header_of(path: str, fmt: str) -> List[str]:
  if _size(path) == 0:
    raise DataError(f"{path} is empty: no interaction rows")
  if fmt == "parquet":
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    with _open_binary(path) as f:
      return list(pq.ParquetFile(f).schema_arrow.names)
  with _open_text(path, "utf-8") as f:
    return [h.strip() for h in next(csv.reader(f), [])]


def _check_header(source: InteractionSource, header: Optional[List[str]] = None) -> None:
  path = source.files[0]
  header = header if header is not None else _header_of(path, "csv")
  required = [source.user_column, source.item_column, source.timestamp_column]
  missing = [c for c in required if c not in header]
  if source.value_column not in header:
    missing.append(source.value_column if source.format == "ml-latest"
                   else f"{source.value_column} (or a rating column)")
  if missing:
    raise DataError(f"{path}, line 1: missing required column(s) {', '.join(missing)}; "
                    f"found columns: {', '.join(header) or '(none)'}")


def _check_not_empty(source: InteractionSource) -> None:
  for path in source.files:
    if _size(path) == 0:
      raise DataError(f"{path} is empty: no interaction rows")
  if not any(_has_rows(source, path) for path in source.files):
    raise DataError(f"{', '.join(source.files)}: no interaction rows (only a header or blank)")


def _has_rows(source: InteractionSource, path: str) -> bool:
  """count_rows() > 0 for one non-empty file, without reading it all.

  The executor checks this before its Beam pipeline starts: reading the whole file there
  would be a pass over all the data in one process.
  """
  if source.delimiter == "parquet":
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    with _open_binary(path) as f:
      return pq.ParquetFile(f).metadata.num_rows > 0
  if not source.header:
    return True
  # A second line exists when something follows the first '\n'.
  with _open_binary(path, buffer_size=1 << 16) as f:
    offset = 0
    for block in iter(lambda: f.read(1 << 16), b""):
      newline = block.find(b"\n")
      if newline >= 0:
        return offset + newline + 1 < _size(path)
      offset += len(block)
  return False
