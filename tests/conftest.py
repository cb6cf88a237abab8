"""Shared fixtures for the unit tests."""

import os
from pathlib import Path

import pytest

FRA_TXT = Path("fra-eng") / "fra.txt"
FRA_ZIP = "fra-eng.zip"


@pytest.fixture(scope="session")
def fra_data_dir():
    """The folder named by `$D2L_DATA_DIR` (real fra-eng data); skip the test when it is unset.

    A set variable that names a folder without the data is a setup error, so that fails loudly
    instead of skipping.
    """
    value = os.environ.get("D2L_DATA_DIR")
    if not value:
        pytest.skip("real fra-eng data not available: set D2L_DATA_DIR to a folder holding "
                    "fra-eng/fra.txt or fra-eng.zip to run this test")
    folder = Path(value).expanduser()
    if not ((folder / FRA_TXT).is_file() or (folder / FRA_ZIP).is_file()):
        pytest.fail(f"D2L_DATA_DIR={folder} holds neither {FRA_TXT} nor {FRA_ZIP}")
    return folder
