"""The English-French data set (`fra-eng`): download once, verify, read.

Where the text comes from, in this order:

1. `$D2L_DATA_DIR` (offline use): a folder holding `fra-eng/fra.txt` or `fra-eng.zip`.
2. The cache, `$D2L_CACHE_DIR` or `~/.cache/d2l-attention` (`$XDG_CACHE_HOME` is honoured).
3. A download of `fra-eng.zip` from d2l's data host into the cache.

Every file is checked by SHA-1 before use. A download goes to a temporary file that is renamed
into place only after its status and SHA-1 are right, so the cache never holds a corrupt file.

Run `python -m d2l_attention.data` (or `make data`) to fill the cache ahead of a class.
"""

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

__all__ = [
    "DataError", "DATA_URL", "read_data_nmt", "download_fra_eng", "cache_dir", "check_data",
]

DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip"
ZIP_SHA1 = "94646ad1522d915e7b0f9296181140edcf86a4f5"
TXT_SHA1 = "c43f99dce27311d3afd4d3e0716848194cfcc103"
TXT_MEMBER = "fra-eng/fra.txt"
ENV_DATA_DIR = "D2L_DATA_DIR"
ENV_CACHE_DIR = "D2L_CACHE_DIR"
TIMEOUT_S = 30

_OFFLINE_HINT = (
    f"To work offline, set {ENV_DATA_DIR} to a folder that holds fra-eng.zip or "
    "fra-eng/fra.txt, e.g. `export D2L_DATA_DIR=/path/to/data`."
)


class DataError(RuntimeError):
    """The data set is missing, corrupt or could not be downloaded."""


def cache_dir():
    """The folder where downloads are kept."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "d2l-attention"


def _sha1(data=None, path=None):
    h = hashlib.sha1()
    if path is not None:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    else:
        h.update(data)
    return h.hexdigest()


def _text_from_bytes(raw, origin):
    digest = _sha1(raw)
    if digest != TXT_SHA1:
        raise DataError(
            f"{origin}: SHA-1 is {digest}, expected {TXT_SHA1}; the file is corrupt or another "
            "version. Delete it and try again, or point " + ENV_DATA_DIR + " at a good copy."
        )
    return raw.decode("utf-8")


def _text_from_zip(path):
    try:
        with zipfile.ZipFile(path) as zf:
            raw = zf.read(TXT_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise DataError(f"{path}: not a fra-eng zip with {TXT_MEMBER} ({e})") from e
    return _text_from_bytes(raw, f"{path}!{TXT_MEMBER}")


def _text_from_data_dir(folder):
    folder = Path(folder).expanduser()
    txt, zpath = folder / "fra-eng" / "fra.txt", folder / "fra-eng.zip"
    if txt.is_file():
        return _text_from_bytes(txt.read_bytes(), str(txt))
    if zpath.is_file():
        return _text_from_zip(zpath)
    raise DataError(
        f"{ENV_DATA_DIR}={folder} holds neither fra-eng/fra.txt nor fra-eng.zip. "
        "Copy one of them there, or unset " + ENV_DATA_DIR + " to download into the cache."
    )


def _download(url, dest, sha1, timeout=TIMEOUT_S):
    """Fetch `url` to `dest` atomically, checking HTTP status and SHA-1."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        h = hashlib.sha1()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    if resp.status != 200:
                        raise DataError(f"download of {url} failed: HTTP {resp.status}")
                    total = int(resp.headers.get("Content-Length") or 0)
                    done = 0
                    print(f"Downloading {url} ...", file=sys.stderr, flush=True)
                    for block in iter(lambda: resp.read(1 << 16), b""):
                        out.write(block)
                        h.update(block)
                        done += len(block)
                    if total and done != total:
                        raise DataError(f"download of {url} stopped at {done} of {total} bytes")
            except urllib.error.HTTPError as e:
                raise DataError(f"download of {url} failed: HTTP {e.code} {e.reason}") from e
            except (urllib.error.URLError, OSError) as e:
                raise DataError(f"download of {url} failed: {e}") from e
        digest = h.hexdigest()
        if digest != sha1:
            raise DataError(f"download of {url}: SHA-1 is {digest}, expected {sha1}")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def download_fra_eng(url=None):
    """Make sure the verified `fra-eng.zip` is in the cache; return its path."""
    dest = cache_dir() / "fra-eng.zip"
    if dest.is_file():
        if _sha1(path=dest) == ZIP_SHA1:
            return dest
        print(f"{dest} is corrupt; downloading it again", file=sys.stderr)
        dest.unlink()
    try:
        return _download(url or DATA_URL, dest, ZIP_SHA1)
    except DataError as e:
        raise DataError(f"{e}. {_OFFLINE_HINT}") from e


def read_data_nmt():
    """Return the raw text of `fra.txt`: one `English<TAB>French` pair per line."""
    if os.environ.get(ENV_DATA_DIR):
        return _text_from_data_dir(os.environ[ENV_DATA_DIR])
    return _text_from_zip(download_fra_eng())


CHECK_TIMEOUT_S = 10


def check_data(timeout=CHECK_TIMEOUT_S):
    """Make sure fra.txt can be read: from `$D2L_DATA_DIR`, the cache, or a download.

    Returns a one-line description of where it comes from. Raises DataError with one message
    that says what to do (`make data`, `D2L_DATA_DIR`) when none of them works.
    """
    try:
        if os.environ.get(ENV_DATA_DIR):
            _text_from_data_dir(os.environ[ENV_DATA_DIR])
            return f"{ENV_DATA_DIR}={os.environ[ENV_DATA_DIR]}: fra.txt verified"
        dest = cache_dir() / "fra-eng.zip"
        if dest.is_file() and _sha1(path=dest) == ZIP_SHA1:
            return f"{dest}: verified"
        dest = _download(DATA_URL, dest, ZIP_SHA1, timeout=timeout)
        return f"{dest}: downloaded and verified"
    except DataError as e:
        raise DataError(
            f"the fra-eng data set is not available ({e}). Sections 10.4, 10.7 and 10.8 use it. "
            "Fetch it once while online with `make data` (or `python tools/book.py data`), or "
            f"set {ENV_DATA_DIR} to a folder that holds fra-eng.zip or fra-eng/fra.txt."
        ) from None


def main(argv=()):
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m d2l_attention.data",
        description="Download and verify the fra-eng data set (or check $D2L_DATA_DIR).")
    parser.add_argument("--check", action="store_true",
                        help=f"only make sure the data can be had; give up a download after "
                             f"{CHECK_TIMEOUT_S} s without an answer")
    args = parser.parse_args(argv)
    if args.check:
        print(f"data: {check_data()}")
        return
    if os.environ.get(ENV_DATA_DIR):
        text = _text_from_data_dir(os.environ[ENV_DATA_DIR])
        print(f"{ENV_DATA_DIR}={os.environ[ENV_DATA_DIR]}: fra.txt verified "
              f"({len(text.splitlines())} pairs); nothing to download")
        return
    path = download_fra_eng()
    text = _text_from_zip(path)
    print(f"{path}: verified ({len(text.splitlines())} pairs)")


def cli(argv=None):
    """Command line (`python -m d2l_attention.data`, `make data`): one message, no traceback."""
    try:
        main(sys.argv[1:] if argv is None else argv)
    except DataError as e:
        return f"error: {e}"
    return 0


if __name__ == "__main__":
    sys.exit(cli())
