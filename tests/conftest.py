"""Shared fixtures for the unit tests, and the markers that sort them by what they need.

A test that needs the fra-eng data set is marked `data`, one that builds the HTML book, the
student edition or an nbgrader course `build`, one that starts another Python `subprocess`; the
rest are the fast unit tests (`python tools/book.py test --quick`). `make test` runs them all.
"""

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from chapters import ROOT

FRA_TXT = Path("fra-eng") / "fra.txt"
FRA_ZIP = "fra-eng.zip"
FRA_TXT_SHA1 = "c43f99dce27311d3afd4d3e0716848194cfcc103"  # d2l's fra.txt (2019-04-07 release)


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


@pytest.fixture(scope="session")
def fra_raw_bytes(fra_data_dir):
    """The bytes of the real `fra.txt`, read without the library (from the folder or the zip)."""
    txt = fra_data_dir / FRA_TXT
    if txt.is_file():
        raw = txt.read_bytes()
    else:
        with zipfile.ZipFile(fra_data_dir / FRA_ZIP) as zf:
            raw = zf.read(FRA_TXT.as_posix())
    assert hashlib.sha1(raw).hexdigest() == FRA_TXT_SHA1, "D2L_DATA_DIR does not hold d2l's fra.txt"
    return raw


@pytest.fixture(autouse=True)
def one_thread():
    """Every test runs with one torch thread: for tiny tensors one intra-op thread is faster,
    and it does not stall on a busy machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def book_build(tmp_path_factory):
    """A function that runs `tools/book.py SUBCOMMAND --out DIR` into a new temporary folder.

    Returns the folder; a failing build fails the test with the tool's own output.
    """
    def build(subcommand, timeout=300):
        out = tmp_path_factory.mktemp(subcommand)
        proc = subprocess.run([sys.executable, str(ROOT / "tools" / "book.py"), subcommand,
                               "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode:
            pytest.fail(f"book.py {subcommand} exited with {proc.returncode}:\n"
                        f"{proc.stdout}{proc.stderr}")
        return out
    return build


# Fixtures that make a test need the data set, or a build of the book or the course.
NEEDS = {"data": {"fra_data_dir", "fra_raw_bytes", "nmt_data"},
         "build": {"book_build", "site", "student_dir", "checked"}}


def pytest_collection_modifyitems(items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in NEEDS.items():
            if used & fixtures:
                item.add_marker(marker)
