"""Adapters on tiny fixtures in each format, and the bad-input cases; the same folders read
through TensorFlow's in-memory filesystem (ram://, a stand-in for gs://) read the same."""

import dataclasses
import os
import random
import shutil
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from interactions import sources, synthetic
from interactions.sources import BadRow, DataError
from interactions.config import DataConfig
from models import features
from models.dataclass_json import merge

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")

# The same 12 events in every fixture: (user, item, timestamp, like).
EXPECTED = [("1", "10", 100, 1), ("1", "20", 100, 0), ("1", "30", 200, 1), ("2", "10", 150, 0),
            ("2", "40", 300, 1), ("3", "20", 250, 1), ("3", "50", 400, 0), ("4", "30", 500, 1),
            ("4", "10", 600, 0), ("1", "40", 700, 0), ("2", "50", 800, 1), ("3", "10", 900, 1)]
TOY_STORY_GENRES = ("Animation", "Children's", "Comedy")


def _read_all(source):
  rows = []
  for index in range(len(source.files)):
    rows.extend(source.read_rows(index))
  return rows


def _canonical(rows):
  return [r[:4] for r in rows]


@pytest.mark.parametrize("folder,fmt", [("ml-100k", "ml-100k"), ("ml-1m", "ml-1m"),
                                        ("ml-latest", "ml-latest"), ("generic", "csv")])
def test_adapter_reads_fixture(folder, fmt):
  source = sources.detect_source(os.path.join(TESTDATA, folder), DataConfig())
  assert source.format == fmt
  rows = _read_all(source)
  assert not [r for r in rows if isinstance(r, BadRow)]
  assert _canonical(rows) == EXPECTED
  assert source.count_rows() == len(EXPECTED)
  assert source.items["10"].genres == TOY_STORY_GENRES
  assert source.items["50"].year == 1995


@pytest.mark.parametrize("folder,age,occupation", [("ml-100k", 24, "technician"),
                                                   ("ml-1m", 18, "7"),
                                                   ("generic", 24, "technician")])
def test_user_table(folder, age, occupation):
  source = sources.detect_source(os.path.join(TESTDATA, folder), DataConfig())
  assert source.users["1"] == sources.UserAttributes(age, "M", occupation)
  assert source.users["2"].gender == "F"


def test_ml_latest_has_no_users_and_quoted_titles():
  source = sources.detect_source(os.path.join(TESTDATA, "ml-latest"), DataConfig())
  assert source.users == {}
  assert source.items["50"] == sources.ItemAttributes(("Crime", "Drama", "Thriller"), 1995)
  # Half-star ratings: 4.5 is a like, 1.5 is not.
  assert source.rating_min == 0.5


def test_parquet(tmp_path):
  source_dir = os.path.join(TESTDATA, "generic")
  table = pa.table({"user_id": [r[0] for r in EXPECTED], "item_id": [r[1] for r in EXPECTED],
                    "timestamp": [r[2] for r in EXPECTED],
                    "label": [r[3] for r in EXPECTED]})
  pq.write_table(table, tmp_path / "interactions.parquet")
  shutil.copy(os.path.join(source_dir, "items.csv"), tmp_path / "items.csv")
  source = sources.detect_source(str(tmp_path), DataConfig())
  assert source.format == "parquet" and not source.value_is_rating
  assert _canonical(_read_all(source)) == EXPECTED
  assert source.items["30"].genres == ("Thriller",)


def test_generic_custom_column_names(tmp_path):
  (tmp_path / "clicks.csv").write_text("uid,iid,ts,clicked\na,x,10,1\nb,y,20,0\n")
  config = merge(DataConfig(), {"interactions_file": "clicks.csv", "columns": {
      "user_id": "uid", "item_id": "iid", "timestamp": "ts", "label": "clicked"}}, "data")
  source = sources.detect_source(str(tmp_path), config)
  assert _canonical(_read_all(source)) == [("a", "x", 10, 1), ("b", "y", 20, 0)]
  assert source.items == {} and source.users == {}


def _generic(tmp_path, text):
  (tmp_path / "interactions.csv").write_text(text)
  return sources.detect_source(str(tmp_path), DataConfig())


def test_missing_required_column_names_file_and_columns(tmp_path):
  with pytest.raises(DataError) as error:
    _generic(tmp_path, "user_id,item,rating,timestamp\n1,2,3,4\n")
  message = str(error.value)
  assert "interactions.csv, line 1" in message
  assert "missing required column(s) item_id" in message
  assert "found columns: user_id, item, rating, timestamp" in message


def test_neither_rating_nor_label(tmp_path):
  with pytest.raises(DataError, match=r"missing required column\(s\) label \(or a rating column\)"):
    _generic(tmp_path, "user_id,item_id,timestamp\n1,2,4\n")


def test_empty_file(tmp_path):
  with pytest.raises(DataError, match=r"interactions.csv is empty: no interaction rows"):
    _generic(tmp_path, "")
  with pytest.raises(DataError, match=r"no interaction rows \(only a header"):
    _generic(tmp_path, "user_id,item_id,rating,timestamp\n")


@pytest.mark.parametrize("text,has_rows", [
    ("user_id,item_id,rating,timestamp", False),
    ("user_id,item_id,rating,timestamp\r\n", False),
    ("user_id,item_id,rating,timestamp\n\n", True),  # a blank row is a row, as count_rows says
    ("user_id,item_id,rating,timestamp\n1,2,3,4", True)])
def test_header_only_check_agrees_with_count_rows(tmp_path, text, has_rows):
  # detect_source no longer counts every line for this check; the answer must not change.
  if has_rows:
    assert _generic(tmp_path, text).count_rows() > 0
  else:
    with pytest.raises(DataError, match=r"no interaction rows \(only a header"):
      _generic(tmp_path, text)


def test_no_data_in_folder(tmp_path):
  with pytest.raises(DataError, match="no interactions found in .*u.data"):
    sources.detect_source(str(tmp_path), DataConfig())


def test_bad_rows_name_line_and_column(tmp_path):
  source = _generic(tmp_path, "user_id,item_id,rating,timestamp\n"
                    "1,2,4,100\n"      # line 2: fine
                    "1,3,4,yesterday\n"  # line 3: timestamp not a number
                    "1,4,9,100\n"       # line 4: rating out of range
                    "1,5,abc,100\n"     # line 5: rating not a number
                    "1,6\n"             # line 6: too few fields
                    ",7,4,100\n")       # line 7: empty user
  rows = _read_all(source)
  bad = [r for r in rows if isinstance(r, BadRow)]
  assert [(b.line, b.column) for b in bad] == [(3, "timestamp"), (4, "rating"), (5, "rating"),
                                               (6, "timestamp"), (7, "user_id")]
  assert "timestamp 'yesterday' is not a number" in bad[0].reason
  assert "rating '9' outside [1, 5]" in bad[1].reason
  assert bad[0].describe() == ("interactions.csv, line 3, column 'timestamp': timestamp "
                               "'yesterday' is not a number (expected Unix seconds)")
  assert _canonical([r for r in rows if not isinstance(r, BadRow)]) == [("1", "2", 100, 1)]


def test_headerless_short_line_names_missing_field(tmp_path):
  (tmp_path / "u.data").write_text("1\t2\t5\t100\n1\t3\n")
  source = sources.detect_source(str(tmp_path), DataConfig())
  bad = [r for r in _read_all(source) if isinstance(r, BadRow)]
  assert len(bad) == 1 and bad[0].line == 2 and "missing timestamp" in bad[0].reason


def test_bad_side_table_row_raises_with_location(tmp_path):
  (tmp_path / "interactions.csv").write_text("user_id,item_id,rating,timestamp\n1,2,3,4\n")
  (tmp_path / "items.csv").write_text("item_id,genres,year\n2,Drama,nineteen\n")
  with pytest.raises(DataError, match=r"items.csv, line 2, column 'year': 'nineteen' is not a number"):
    sources.detect_source(str(tmp_path), DataConfig())


def test_missing_attributes_become_missing_token(tmp_path):
  (tmp_path / "interactions.csv").write_text("user_id,item_id,rating,timestamp\n1,2,3,4\n")
  (tmp_path / "users.csv").write_text("user_id,age,gender,occupation\n1,,,\n")
  (tmp_path / "items.csv").write_text("item_id,genres,year\n2,,\n")
  source = sources.detect_source(str(tmp_path), DataConfig())
  assert source.users["1"] == sources.UserAttributes(0, features.MISSING, features.MISSING)
  assert source.items["2"] == sources.ItemAttributes((features.MISSING,), 0)


# --- Folders behind a TensorFlow filesystem URI ------------------------------------


def _copy_to_ram(local_dir):
  """A copy of the files of `local_dir` in TensorFlow's in-memory filesystem.

  ram:// goes through the same tf.io.gfile calls as gs:// on Kubeflow, without a bucket.
  """
  target = f"ram://sources_test/{uuid.uuid4().hex}"
  tf.io.gfile.makedirs(target)
  for name in os.listdir(local_dir):
    tf.io.gfile.copy(os.path.join(local_dir, name), f"{target}/{name}")
  return target


def _everything(data_dir, config):
  """What a run gets from a folder: the source (file names only), every row, the row count.

  Rows read in small byte ranges (row groups for Parquet) must be the same rows.
  """
  source = sources.detect_source(data_dir, config)
  described = dataclasses.replace(source, files=[os.path.basename(f) for f in source.files])
  rows = _read_all(source)
  assert list(sources.read_in_ranges(source, 7)) == rows
  return described, rows, source.count_rows()


def _assert_reads_the_same(local_dir, config=None):
  config = config or DataConfig()
  remote_dir = _copy_to_ram(local_dir)
  local = _everything(local_dir, config)
  remote = _everything(remote_dir, config)
  assert all(f.startswith(remote_dir + "/") for f in sources.detect_source(remote_dir, config).files)
  assert remote == local
  return local


@pytest.mark.parametrize("folder", ["ml-100k", "ml-1m", "ml-latest", "generic"])
def test_fixture_reads_the_same_from_a_uri(folder):
  source, rows, count = _assert_reads_the_same(os.path.join(TESTDATA, folder))
  assert _canonical(rows) == EXPECTED and count == len(EXPECTED)
  assert source.items["10"].genres == TOY_STORY_GENRES


def test_synthetic_data_reads_the_same_from_a_uri(tmp_path):
  synthetic.write_dataset(synthetic.make_spec(300, seed=3), str(tmp_path))
  source, rows, count = _assert_reads_the_same(str(tmp_path))
  assert source.format == "csv" and source.users and source.items
  assert len(rows) == count > 0 and not [r for r in rows if isinstance(r, BadRow)]


def test_awkward_csv_reads_the_same_from_a_uri(tmp_path):
  # CRLF line ends, a quoted field across two physical lines, blank lines, UTF-8 beyond
  # ASCII and no newline at the end: line numbers of bad rows must not move.
  (tmp_path / "interactions.csv").write_bytes(
      "user_id,item_id,rating,timestamp\r\n"
      "1,2,4,100\r\n"
      "\"ü\r\nser\",3,4,yesterday\r\n"   # lines 3-4: timestamp not a number
      "\r\n"
      "1,4,9,100\r\n"                   # line 6: rating out of range
      "2,5,1,300".encode("utf-8"))       # line 7, no newline
  (tmp_path / "users.csv").write_bytes("user_id,age,gender,occupation\r\n"
                                       "1,30,f,ingénieur\r\n".encode("utf-8"))
  (tmp_path / "items.csv").write_text("item_id,genres,year\n2,Drama|Comedy,1999\n")
  source, rows, count = _assert_reads_the_same(str(tmp_path))
  bad = [r for r in rows if isinstance(r, BadRow)]
  assert [(b.line, b.column) for b in bad] == [(4, "timestamp"), (6, "rating")]
  assert [(r.user, r.line) for r in rows if not isinstance(r, BadRow)] == [("1", 2), ("2", 7)]
  assert count == 6  # data lines, the quoted field's second line and the blank one included
  assert source.users["1"] == sources.UserAttributes(30, "F", "ingénieur")
  assert source.items["2"] == sources.ItemAttributes(("Drama", "Comedy"), 1999)


def test_latin1_headerless_reads_the_same_from_a_uri(tmp_path):
  (tmp_path / "u.data").write_bytes(b"1\t10\t5\t100\r\n1\t20\r\n\r\n2\t10\t2\t200")
  (tmp_path / "u.user").write_bytes("1|24|M|technicien de caf\xe9|85711\n".encode("latin-1"))
  source, rows, count = _assert_reads_the_same(str(tmp_path))
  bad = [r for r in rows if isinstance(r, BadRow)]
  assert [(b.line, b.reason) for b in bad] == [(2, "missing timestamp (expected at least 4 fields)")]
  assert _canonical([r for r in rows if not isinstance(r, BadRow)]) == [("1", "10", 100, 1),
                                                                         ("2", "10", 200, 0)]
  assert count == 4
  assert source.users["1"].occupation == "technicien de caf\xe9"


def test_parquet_reads_the_same_from_a_uri(tmp_path):
  pq.write_table(pa.table({"user_id": ["1", "2", None], "item_id": ["10", "20", "30"],
                           "timestamp": [100, 200, 300], "rating": [5.0, 1.0, 4.0]}),
                 tmp_path / "interactions.parquet")
  pq.write_table(pa.table({"item_id": ["10", "20"], "genres": ["Drama", None],
                           "year": [1999, None]}), tmp_path / "items.parquet")
  config = merge(DataConfig(), {"items_file": "items.parquet"}, "data")
  source, rows, count = _assert_reads_the_same(str(tmp_path), config)
  assert source.format == "parquet" and source.value_is_rating and count == 3
  assert [r.line for r in rows if isinstance(r, BadRow)] == [3]
  assert _canonical(rows[:2]) == [("1", "10", 100, 1), ("2", "20", 200, 0)]
  assert source.items == {"10": sources.ItemAttributes(("Drama",), 1999),
                          "20": sources.ItemAttributes((features.MISSING,), 0)}


def test_uri_errors_name_the_uri(tmp_path):
  missing = f"ram://sources_test/{uuid.uuid4().hex}"
  with pytest.raises(DataError, match=f"data folder {missing} does not exist"):
    sources.detect_source(missing, DataConfig())
  (tmp_path / "interactions.csv").write_text("")
  remote_dir = _copy_to_ram(str(tmp_path))
  with pytest.raises(DataError, match=f"{remote_dir}/interactions.csv is empty"):
    sources.detect_source(remote_dir, DataConfig())


# --- Reading in parts: byte ranges and row groups ------------------------------------


def _write(folder, name, data: bytes):
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, name), "wb") as f:
    f.write(data)
  return str(folder)


def _assert_every_chunk_size_reads_the_same(source):
  """Each chunk size from 1 byte to the whole file: ranges that start and end on every
  byte, a line end included, give what the whole-file reader gives."""
  whole = _read_all(source)
  size = os.path.getsize(source.files[0])
  for chunk_bytes in range(1, size + 2):
    assert list(sources.read_in_ranges(source, chunk_bytes)) == whole, chunk_bytes
  return whole


@pytest.mark.parametrize("folder", ["ml-100k", "ml-1m", "ml-latest", "generic"])
def test_fixture_reads_the_same_in_byte_ranges(folder):
  source = sources.detect_source(os.path.join(TESTDATA, folder), DataConfig())
  assert _canonical(_assert_every_chunk_size_reads_the_same(source)) == EXPECTED


def test_awkward_tsv_keeps_physical_line_numbers_in_byte_ranges(tmp_path):
  # CRLF, a lone CR (a line end to Python's text layer, as to the whole-file reader),
  # blank lines, a byte beyond ASCII, bad rows and no newline at the end.
  data_dir = _write(tmp_path, "u.data",
                    b"1\t10\t5\t100\r\n"       # line 1
                    b"\r\n"                       # line 2: blank
                    b"1\t20\r"                     # line 3: too few fields
                    b"\xe9\t30\t4\t200\n"         # line 4: user 'é' (latin-1)
                    b"\n\n"                        # lines 5-6: blank
                    b"2\t10\t9\t300\r\n"          # line 7: rating out of range
                    b"2\t40\t1\t400")              # line 8, no newline
  source = sources.detect_source(data_dir, DataConfig())
  rows = _assert_every_chunk_size_reads_the_same(source)
  assert [(r.line, r.column) for r in rows if isinstance(r, BadRow)] == [(3, "3"), (7, "2")]
  assert [(r.user, r.line) for r in rows if not isinstance(r, BadRow)] == [
      ("1", 1), ("\xe9", 4), ("2", 8)]


def test_double_colon_file_keeps_physical_line_numbers_in_byte_ranges(tmp_path):
  data_dir = _write(tmp_path, "ratings.dat",
                    b"1::10::5::100\n\n1::20::x::150\n2::30::4::200\n\n")
  source = sources.detect_source(data_dir, DataConfig())
  rows = _assert_every_chunk_size_reads_the_same(source)
  assert [r.line for r in rows] == [1, 3, 4]
  assert isinstance(rows[1], BadRow) and rows[1].column == "2"


def _csv_source(tmp_path, data: bytes):
  return sources.detect_source(_write(tmp_path, "interactions.csv", data), DataConfig())


def _whole_files(source, chunk_bytes):
  ranges = source.plan_ranges(0, chunk_bytes)
  return sources.line_offsets(scan for r in ranges for scan in source.scan_range(r)).whole_files


def test_csv_header_and_quoted_fields_on_one_line_read_in_byte_ranges(tmp_path):
  source = _csv_source(tmp_path, b"user_id,item_id,rating,timestamp\r\n"
                       b"\"1\",10,4,100\r\n"           # line 2: quoted, on one line
                       b"\"a,b\",20,3,yesterday\r\n"   # line 3: bad timestamp
                       b"\r\n"                          # line 4: blank
                       b"2,30,5,300")                    # line 5, no newline
  rows = _assert_every_chunk_size_reads_the_same(source)
  assert [(r.line, r.column) for r in rows if isinstance(r, BadRow)] == [(3, "timestamp")]
  assert [(r.user, r.line) for r in rows if not isinstance(r, BadRow)] == [("1", 2), ("2", 5)]
  assert _whole_files(source, 8) == frozenset()  # every line is a record: read in ranges


def test_csv_record_across_lines_is_read_whole(tmp_path):
  # A quoted field with a line break: a range starting inside it would misread the rest of
  # the field as a record, so the file is read by one worker, with the same line numbers.
  source = _csv_source(tmp_path, b"user_id,item_id,rating,timestamp\n"
                       b"1,10,4,100\n"
                       b"\"u\nser\",20,4,yesterday\n"  # lines 3-4: bad timestamp
                       b"1,30,9,200\n"                   # line 5: rating out of range
                       b"2,40,1,300\n")
  rows = _assert_every_chunk_size_reads_the_same(source)
  assert [(r.line, r.column) for r in rows if isinstance(r, BadRow)] == [(4, "timestamp"),
                                                                         (5, "rating")]
  assert _whole_files(source, 8) == frozenset({0})


def test_random_delimited_files_read_the_same_in_byte_ranges(tmp_path):
  """Seeded random files: line ends of every kind, blank lines, short and bad rows."""
  rng = random.Random(5)
  formats = [("interactions.csv", ",", "utf-8", "user_id,item_id,rating,timestamp"),
             ("u.data", "\t", "latin-1", None), ("ratings.dat", "::", "latin-1", None)]
  for trial in range(24):
    name, delimiter, encoding, header = formats[trial % 3]
    lines = [header] if header else []
    for _ in range(rng.randint(1, 12)):
      kind = rng.random()
      if kind < 0.15:
        lines.append("")
      elif kind < 0.3:
        lines.append(f"u{rng.randint(0, 3)}{delimiter}\xe9")
      else:
        lines.append(delimiter.join([f"u{rng.randint(0, 3)}", f"i{rng.randint(0, 9)}",
                                     str(rng.randint(0, 6)), str(rng.randint(0, 999))]))
    text = "".join(line + rng.choice(["\n", "\r\n", "\r", "\n\r"]) for line in lines)
    if rng.random() < 0.5:
      text = text.rstrip("\r\n")
    folder = tmp_path / str(trial)
    _write(folder, name, text.encode(encoding))
    try:
      source = sources.detect_source(str(folder), DataConfig())
    except DataError:
      continue  # only a header or blank lines
    _assert_every_chunk_size_reads_the_same(source)


def test_parquet_reads_by_row_group_with_file_row_numbers(tmp_path):
  users = [r[0] for r in EXPECTED] + [None]
  pq.write_table(pa.table({"user_id": users, "item_id": [r[1] for r in EXPECTED] + ["60"],
                           "timestamp": [r[2] for r in EXPECTED] + [1000],
                           "label": [r[3] for r in EXPECTED] + [1]}),
                 tmp_path / "interactions.parquet", row_group_size=5)
  source = sources.detect_source(str(tmp_path), DataConfig())
  ranges = source.plan_ranges(0, chunk_bytes=1)
  assert [(r.start, r.end) for r in ranges] == [(0, 1), (1, 2), (2, 3)]
  rows = list(sources.read_in_ranges(source, 1))
  assert rows == _read_all(source)
  assert _canonical(rows[:12]) == EXPECTED
  assert [r.line for r in rows[:12]] == list(range(1, 13))
  assert isinstance(rows[12], BadRow) and rows[12].line == 13  # row 3 of the third group
