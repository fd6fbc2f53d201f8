"""Golden test: a small seeded run against committed tables.

A difference means the model, a random stream or the dispatch order changed. If the
change is intended, regenerate with `python scripts/regenerate_golden.py` and review the
diff of tests/golden/*.csv in the commit.
"""

from __future__ import annotations

import importlib.util
import io

import pandas as pd

from tests.conftest import REPO_ROOT

GOLDEN = REPO_ROOT / "tests" / "golden"


def _regenerate_module():
    spec = importlib.util.spec_from_file_location(
        "regenerate_golden", REPO_ROOT / "scripts" / "regenerate_golden.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_golden_small_run_matches_committed_invocations():
    tables = _regenerate_module().golden_tables()
    expected = pd.read_csv(GOLDEN / "small_invocations.csv")
    # Through the same CSV text as the committed file, so float formatting matches.
    text = tables["small_invocations.csv"].to_csv(index=False, float_format="%.9f")
    actual = pd.read_csv(io.StringIO(text))
    pd.testing.assert_frame_equal(actual, expected)
