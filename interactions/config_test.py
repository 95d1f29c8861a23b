"""The data-stage config sections: the scale knobs of ExampleGen check their values."""

import pytest

from interactions.config import ExampleGenConfig
from models.dataclass_json import check, merge


def test_scale_knob_defaults():
  config = ExampleGenConfig()
  assert config.split_quantiles == "auto"
  assert config.exact_quantiles_max_rows == 10_000_000
  assert config.quantile_epsilon == 0.001
  assert config.read_chunk_bytes == 8 * 1024 * 1024
  check(config, "example_gen")


@pytest.mark.parametrize("override,message", [
    ({"split_quantiles": "median"},
     "example_gen.split_quantiles must be one of auto, exact, approximate, got 'median'"),
    ({"exact_quantiles_max_rows": -1}, "example_gen.exact_quantiles_max_rows must be >= 0"),
    ({"quantile_epsilon": 0.0}, "example_gen.quantile_epsilon must be in [1e-06, 1), got 0.0"),
    ({"quantile_epsilon": 1.0}, "example_gen.quantile_epsilon must be in [1e-06, 1), got 1.0"),
    ({"read_chunk_bytes": 0}, "example_gen.read_chunk_bytes must be >= 1, got 0"),
])
def test_bad_scale_knobs_name_the_knob(override, message):
  with pytest.raises(ValueError) as error:
    check(merge(ExampleGenConfig(), override, "example_gen"), "example_gen")
  assert message in str(error.value)
