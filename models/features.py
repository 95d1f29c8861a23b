"""Feature names and keys: the one place every other module reads them from.

Raw features are what InteractionsExampleGen writes into tf.Examples; the
transformed names are what `models.preprocessing.preprocessing_fn` returns and
what the models consume.
"""

# --- Raw example features (written by InteractionsExampleGen) ---------------
USER_ID = "user_id"
ITEM_ID = "item_id"
TIMESTAMP = "timestamp"
# Label: 1 when the user liked the item (rating >= like_threshold, or the given
# implicit label). The rating itself is never written into examples: it
# determines the label, so it would be a leak.
LABEL = "like"

# Point-in-time features, computed only from strictly earlier events of the user.
HISTORY_ITEM_IDS = "history_item_ids"  # last N item ids, most recent first, padded
USER_PRIOR_COUNT = "user_prior_count"  # number of earlier events of this user
USER_PRIOR_LIKE_RATE = "user_prior_like_rate"  # share of earlier events liked; 0 if none

# Joined attributes.
USER_AGE = "user_age"  # years or MovieLens age-bucket lower bound; 0 = unknown
USER_GENDER = "user_gender"
USER_OCCUPATION = "user_occupation"
ITEM_GENRES = "item_genres"  # multi-valued
ITEM_YEAR = "item_year"  # release year; 0 = unknown

# Evaluation-only features: where the row stands relative to the training period, so
# metrics can be sliced by them (TFMA slices on example features). Never model inputs:
# preprocessing_fn does not read them and serving requests do not carry them.
USER_IN_TRAIN = "user_in_train"  # KNOWN if the user has an event in the train split
ITEM_IN_TRAIN = "item_in_train"  # KNOWN if the item has an event in the train split
USER_ACTIVITY = "user_activity"  # bucket of user_prior_count, e.g. "5-19"
KNOWN = "known"
NEW = "new"
# Lower bounds of the activity buckets (earlier events of the user): "0", "1-4", ...
USER_ACTIVITY_BOUNDARIES = (1, 5, 20, 100)
EVALUATION_FEATURES = (USER_IN_TRAIN, ITEM_IN_TRAIN, USER_ACTIVITY)


def activity_bucket(prior_count: int) -> str:
  """The USER_ACTIVITY value of a row whose user had `prior_count` earlier events."""
  bounds = (0,) + USER_ACTIVITY_BOUNDARIES
  for low, high in zip(bounds, bounds[1:]):
    if prior_count < high:
      return str(low) if high - low == 1 else f"{low}-{high - 1}"
  return f"{bounds[-1]}+"


def activity_buckets():
  """Every USER_ACTIVITY value, lowest first (the schema's domain)."""
  bounds = (0,) + USER_ACTIVITY_BOUNDARIES
  return [activity_bucket(low) for low in bounds]


# Value written for a missing categorical attribute and for an item with no genre.
MISSING = "<missing>"
# Value that pads the history to its fixed length.
HISTORY_PAD = ""

CATEGORICAL_SCALAR_FEATURES = (USER_GENDER, USER_OCCUPATION)
INT_SCALAR_FEATURES = (TIMESTAMP, LABEL, USER_PRIOR_COUNT, USER_AGE, ITEM_YEAR)
FLOAT_SCALAR_FEATURES = (USER_PRIOR_LIKE_RATE,)
STRING_SCALAR_FEATURES = (USER_ID, ITEM_ID) + CATEGORICAL_SCALAR_FEATURES + EVALUATION_FEATURES
STRING_LIST_FEATURES = (HISTORY_ITEM_IDS, ITEM_GENRES)
RAW_FEATURES = (STRING_SCALAR_FEATURES + INT_SCALAR_FEATURES + FLOAT_SCALAR_FEATURES
                + STRING_LIST_FEATURES)

# A ranking request's two parts (the serving features, split): the user context, sent
# once per request, and what each candidate item carries.
CONTEXT_FEATURES = (USER_ID, HISTORY_ITEM_IDS, USER_PRIOR_COUNT, USER_PRIOR_LIKE_RATE, USER_AGE,
                    USER_GENDER, USER_OCCUPATION)
CANDIDATE_FEATURES = (ITEM_ID, ITEM_GENRES, ITEM_YEAR)

# Lower bounds of the MovieLens 1M age buckets; ages are bucketized on these.
AGE_BUCKET_BOUNDARIES = (1, 18, 25, 35, 45, 50, 56)

# --- Vocabularies (file names inside the transform graph) -------------------
USER_VOCABULARY = "user_id"
ITEM_VOCABULARY = "item_id"  # shared by ITEM_ID and HISTORY_ITEM_IDS
GENRE_VOCABULARY = "item_genres"
OCCUPATION_VOCABULARY = "user_occupation"
GENDER_VOCABULARY = "user_gender"


def transformed_name(key: str) -> str:
  """Name of the transformed counterpart of raw feature `key`."""
  return key + "_xf"


# --- Transformed features (preprocessing_fn output) -------------------------
# Index conventions: scalar ids are vocabulary indices followed by OOV buckets.
# Padded lists (item ids, history, genres) reserve 0 for padding, so their
# indices are shifted by one: 1..V are vocabulary entries, V+1.. are OOV buckets.
USER_INDEX = transformed_name(USER_ID)
ITEM_INDEX = transformed_name(ITEM_ID)
HISTORY_INDEX = transformed_name(HISTORY_ITEM_IDS)
HISTORY_LENGTH = transformed_name("history_length")  # non-pad entries, 0..N
GENRE_INDEX = transformed_name(ITEM_GENRES)
GENDER_INDEX = transformed_name(USER_GENDER)
OCCUPATION_INDEX = transformed_name(USER_OCCUPATION)
AGE_BUCKET = transformed_name(USER_AGE)
YEAR_BUCKET = transformed_name(ITEM_YEAR)
PRIOR_COUNT_BUCKET = transformed_name(USER_PRIOR_COUNT)
PRIOR_COUNT_LOG = transformed_name("user_prior_count_log")
PRIOR_LIKE_RATE = transformed_name(USER_PRIOR_LIKE_RATE)
TRANSFORMED_LABEL = LABEL  # passed through unchanged
