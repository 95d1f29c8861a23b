"""Writes a synthetic data set in the MovieLens 100K, 1M and latest file formats.

MovieLens itself may not be redistributed; these converters produce folders
with the same file names, separators, encodings and columns, so the real
adapters and the whole pipeline run on them.
"""

import csv
import os


def _read(folder, name):
  with open(os.path.join(folder, name), newline="") as f:
    return list(csv.DictReader(f))


def _num(identifier: str) -> int:
  return int(identifier.lstrip("ui")) + 1


def write_ml100k(source: str, target: str, genres) -> None:
  os.makedirs(target, exist_ok=True)
  all_genres = ["unknown"] + list(genres)
  with open(os.path.join(target, "u.data"), "w") as f:
    for r in _read(source, "interactions.csv"):
      f.write(f"{_num(r['user_id'])}\t{_num(r['item_id'])}\t{r['rating']}\t{r['timestamp']}\n")
  with open(os.path.join(target, "u.user"), "w") as f:
    for r in _read(source, "users.csv"):
      f.write(f"{_num(r['user_id'])}|{r['age']}|{r['gender']}|{r['occupation']}|00000\n")
  with open(os.path.join(target, "u.genre"), "w") as f:
    for index, genre in enumerate(all_genres):
      f.write(f"{genre}|{index}\n")
  with open(os.path.join(target, "u.item"), "w", encoding="latin-1") as f:
    for r in _read(source, "items.csv"):
      own = set(r["genres"].split("|"))
      flags = "|".join("1" if g in own else "0" for g in all_genres)
      f.write(f"{_num(r['item_id'])}|Movie {r['item_id']} ({r['year']})|01-Jan-{r['year']}||"
              f"http://example.invalid/|{flags}\n")


def write_ml1m(source: str, target: str) -> None:
  os.makedirs(target, exist_ok=True)
  with open(os.path.join(target, "ratings.dat"), "w") as f:
    for r in _read(source, "interactions.csv"):
      f.write(f"{_num(r['user_id'])}::{_num(r['item_id'])}::{r['rating']}::{r['timestamp']}\n")
  with open(os.path.join(target, "users.dat"), "w") as f:
    for r in _read(source, "users.csv"):
      occupation = int(r["occupation"].rsplit("_", 1)[-1])
      f.write(f"{_num(r['user_id'])}::{r['gender']}::{r['age']}::{occupation}::00000\n")
  with open(os.path.join(target, "movies.dat"), "w", encoding="latin-1") as f:
    for r in _read(source, "items.csv"):
      f.write(f"{_num(r['item_id'])}::Movie {r['item_id']} ({r['year']})::{r['genres']}\n")


def write_ml_latest(source: str, target: str) -> None:
  os.makedirs(target, exist_ok=True)
  with open(os.path.join(target, "ratings.csv"), "w") as f:
    f.write("userId,movieId,rating,timestamp\n")
    for r in _read(source, "interactions.csv"):
      f.write(f"{_num(r['user_id'])},{_num(r['item_id'])},{float(r['rating'])},{r['timestamp']}\n")
  with open(os.path.join(target, "movies.csv"), "w") as f:
    f.write("movieId,title,genres\n")
    for r in _read(source, "items.csv"):
      f.write(f'{_num(r["item_id"])},"Movie, {r["item_id"]} ({r["year"]})",{r["genres"]}\n')
