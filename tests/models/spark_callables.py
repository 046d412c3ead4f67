"""Model functions for the Spark engine's failure tests (python loader, by file path)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd


def raises_on_large_income(df: pd.DataFrame) -> np.ndarray:
    """A model with a bug that only some rows reach."""
    if (df["income"] > 1200).any():
        raise ValueError("income out of the range the model was built for")
    return (df["income"] < 900).to_numpy()


def kills_the_worker(df: pd.DataFrame) -> np.ndarray:
    """Ends the Python worker process, as an out-of-memory kill would."""
    os._exit(7)
