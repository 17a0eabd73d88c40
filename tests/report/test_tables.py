import numpy as np
import pandas as pd
import pytest

from radsynth.report.tables import summarise


def _long(rows):
    return pd.DataFrame(rows, columns=["case", "method", "setting", "metric", "value"])



def test_summarise_skips_nan_and_counts():
    frame = _long(
        [("a", "m", "s", "hd95", 1.0), ("b", "m", "s", "hd95", 3.0), ("c", "m", "s", "hd95", np.nan)]
    )
    row = summarise(frame).iloc[0]
    assert row["mean"] == 2.0 and row["std"] == pytest.approx(np.sqrt(2)) and row["n"] == 2
