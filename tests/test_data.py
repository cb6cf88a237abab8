"""Tests for d2l_attention.data: where fra.txt comes from, and every way that can fail.

No test reaches the internet: the download URL always points at 127.0.0.1 (a closed port, or a
small HTTP server that the `http_server` fixture runs in a thread for the test).
"""

import collections
import hashlib
import io
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from d2l_attention import data

SAMPLE_TEXT = "Go.\tVa !\nHi.\tSalut !\nRun!\tCours\u202f!\n"
SAMPLE_BYTES = SAMPLE_TEXT.encode("utf-8")


def _sha1(raw):
    return hashlib.sha1(raw).hexdigest()


def _zip_bytes(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)
    return buf.getvalue()


def _closed_port():
    """A loopback port with nothing listening on it (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _files(folder):
    folder = Path(folder)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No D2L_DATA_DIR, a private cache, and a download URL that cannot leave the machine."""
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
    monkeypatch.setenv(data.ENV_CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.setattr(data, "DATA_URL", f"http://127.0.0.1:{_closed_port()}/fra-eng.zip")


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def sample(monkeypatch):
    """A small fra.txt and a zip holding it, with the library's SHA-1s pointed at them."""
    zip_bytes = _zip_bytes({data.TXT_MEMBER: SAMPLE_BYTES})
    monkeypatch.setattr(data, "TXT_SHA1", _sha1(SAMPLE_BYTES))
    monkeypatch.setattr(data, "ZIP_SHA1", _sha1(zip_bytes))
    return SimpleNamespace(text=SAMPLE_TEXT, txt_bytes=SAMPLE_BYTES, zip_bytes=zip_bytes)


@pytest.fixture
def http_server():
    """A loopback HTTP server in a thread. Set `routes[path] = (status, body[, length])`;
    `hits[path]` counts the requests. Unknown paths get a 404."""
    routes, hits = {}, collections.Counter()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits[self.path] += 1
            status, body, *length = routes.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Length", str(length[0] if length else len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}",
                              routes=routes, hits=hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- cache_dir ---------------------------------------------------------------------------------

def test_cache_dir_env_var_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(data.ENV_CACHE_DIR, str(tmp_path / "mine"))
    assert data.cache_dir() == tmp_path / "mine"


def test_cache_dir_honours_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ENV_CACHE_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "d2l-attention"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "d2l-attention"


# --- D2L_DATA_DIR ------------------------------------------------------------------------------

def test_empty_data_dir_names_the_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(data.DataError) as err:
        data.read_data_nmt()
    assert "D2L_DATA_DIR" in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_data_dir_txt_with_wrong_content(monkeypatch, tmp_path):
    bad = b"Go.\tVa !\n"  # a real line, but not the whole file
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_bytes(bad)
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(data.DataError) as err:
        data.read_data_nmt()
    message = str(err.value)
    assert "SHA-1" in message
    assert _sha1(bad) in message and data.TXT_SHA1 in message


@pytest.mark.parametrize("zip_content, fragment", [
    (b"this is not a zip file", "not a fra-eng zip"),
    (_zip_bytes({"other/fra.txt": SAMPLE_BYTES}), "fra-eng/fra.txt"),
    (_zip_bytes({data.TXT_MEMBER: b"wrong text\n"}), "SHA-1"),
], ids=["garbage", "member-missing", "wrong-text"])
def test_data_dir_bad_zip(monkeypatch, tmp_path, zip_content, fragment):
    (tmp_path / "fra-eng.zip").write_bytes(zip_content)
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(data.DataError) as err:
        data.read_data_nmt()
    assert fragment in str(err.value)


def test_data_dir_reads_txt_or_zip(monkeypatch, tmp_path, sample, cache):
    txt_dir, zip_dir = tmp_path / "txt", tmp_path / "zip"
    (txt_dir / "fra-eng").mkdir(parents=True)
    (txt_dir / "fra-eng" / "fra.txt").write_bytes(sample.txt_bytes)
    zip_dir.mkdir()
    (zip_dir / "fra-eng.zip").write_bytes(sample.zip_bytes)
    for folder in (txt_dir, zip_dir):
        monkeypatch.setenv(data.ENV_DATA_DIR, str(folder))
        assert data.read_data_nmt() == sample.text
    assert _files(cache) == []  # the data folder is used as is, nothing is copied


def test_data_dir_prefers_the_txt(monkeypatch, tmp_path, sample):
    (tmp_path / "fra-eng").mkdir()
    (tmp_path / "fra-eng" / "fra.txt").write_bytes(sample.txt_bytes)
    (tmp_path / "fra-eng.zip").write_bytes(b"corrupt, but never opened")
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path))
    assert data.read_data_nmt() == sample.text


def test_main_with_data_dir_downloads_nothing(monkeypatch, tmp_path, sample, capsys, cache):
    (tmp_path / "fra-eng.zip").write_bytes(sample.zip_bytes)
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path))
    data.main()
    out = capsys.readouterr().out
    assert "verified (3 pairs)" in out and "nothing to download" in out
    assert _files(cache) == []


# --- downloads ---------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["DATA_URL", "url-argument"])
def test_unreachable_host(monkeypatch, cache, how):
    url = f"http://127.0.0.1:{_closed_port()}/fra-eng.zip"
    with pytest.raises(data.DataError) as err:
        if how == "DATA_URL":
            monkeypatch.setattr(data, "DATA_URL", url)
            data.read_data_nmt()
        else:
            data.download_fra_eng(url=url)
    assert "D2L_DATA_DIR" in str(err.value)
    assert url in str(err.value)
    assert _files(cache) == []  # no zip, no .part file


def test_download_with_wrong_bytes(monkeypatch, http_server, cache):
    http_server.routes["/fra-eng.zip"] = (200, b"not the zip you are looking for")
    monkeypatch.setattr(data, "DATA_URL", http_server.url + "/fra-eng.zip")
    with pytest.raises(data.DataError) as err:
        data.read_data_nmt()
    assert "SHA-1" in str(err.value)
    assert _sha1(b"not the zip you are looking for") in str(err.value)
    assert "D2L_DATA_DIR" in str(err.value)
    assert http_server.hits["/fra-eng.zip"] == 1
    assert _files(cache) == []


def test_download_404(monkeypatch, http_server, cache):
    monkeypatch.setattr(data, "DATA_URL", http_server.url + "/missing.zip")
    with pytest.raises(data.DataError) as err:
        data.read_data_nmt()
    assert "HTTP 404" in str(err.value)
    assert "D2L_DATA_DIR" in str(err.value)
    assert http_server.hits["/missing.zip"] == 1
    assert _files(cache) == []


def test_download_cut_short(monkeypatch, http_server, cache, sample):
    # The server promises the whole zip but sends 10 bytes and closes the connection.
    http_server.routes["/fra-eng.zip"] = (200, sample.zip_bytes[:10], len(sample.zip_bytes))
    monkeypatch.setattr(data, "DATA_URL", http_server.url + "/fra-eng.zip")
    with pytest.raises(data.DataError) as err:
        data.read_data_nmt()
    assert f"stopped at 10 of {len(sample.zip_bytes)} bytes" in str(err.value)
    assert _files(cache) == []


def test_download_success_then_cache_hit(monkeypatch, http_server, cache, sample, capsys):
    http_server.routes["/fra-eng.zip"] = (200, sample.zip_bytes)
    monkeypatch.setattr(data, "DATA_URL", http_server.url + "/fra-eng.zip")
    assert data.read_data_nmt() == sample.text
    assert _files(cache) == ["fra-eng.zip"]
    assert (cache / "fra-eng.zip").read_bytes() == sample.zip_bytes
    assert "Downloading" in capsys.readouterr().err
    # Second read: served from the cache, no new request.
    assert data.read_data_nmt() == sample.text
    assert data.download_fra_eng() == cache / "fra-eng.zip"
    assert http_server.hits["/fra-eng.zip"] == 1


def test_corrupt_cached_zip_is_downloaded_again(monkeypatch, http_server, cache, sample, capsys):
    cache.mkdir()
    (cache / "fra-eng.zip").write_bytes(sample.zip_bytes[:-5])  # truncated earlier copy
    http_server.routes["/fra-eng.zip"] = (200, sample.zip_bytes)
    monkeypatch.setattr(data, "DATA_URL", http_server.url + "/fra-eng.zip")
    assert data.read_data_nmt() == sample.text
    assert http_server.hits["/fra-eng.zip"] == 1
    assert "corrupt" in capsys.readouterr().err
    assert _files(cache) == ["fra-eng.zip"]
    assert (cache / "fra-eng.zip").read_bytes() == sample.zip_bytes


def test_corrupt_cached_zip_and_no_network(cache, sample):
    cache.mkdir()
    (cache / "fra-eng.zip").write_bytes(b"junk")
    with pytest.raises(data.DataError) as err:
        data.read_data_nmt()  # DATA_URL is a closed port (autouse fixture)
    assert "D2L_DATA_DIR" in str(err.value)
    assert _files(cache) == []  # the corrupt file is gone, nothing half-written is left


# --- the real data set -------------------------------------------------------------------------

def test_real_data_txt_and_zip_agree(monkeypatch, tmp_path, fra_data_dir, fra_raw_bytes):
    txt_dir, zip_dir = tmp_path / "txt", tmp_path / "zip"
    (txt_dir / "fra-eng").mkdir(parents=True)
    if (fra_data_dir / "fra-eng" / "fra.txt").is_file():
        (txt_dir / "fra-eng" / "fra.txt").symlink_to(fra_data_dir / "fra-eng" / "fra.txt")
    else:
        (txt_dir / "fra-eng" / "fra.txt").write_bytes(fra_raw_bytes)
    zip_dir.mkdir()
    if (fra_data_dir / "fra-eng.zip").is_file():
        (zip_dir / "fra-eng.zip").symlink_to(fra_data_dir / "fra-eng.zip")
    else:
        with zipfile.ZipFile(zip_dir / "fra-eng.zip", "w") as zf:
            zf.writestr(data.TXT_MEMBER, fra_raw_bytes)

    texts = []
    for folder in (txt_dir, zip_dir):
        monkeypatch.setenv(data.ENV_DATA_DIR, str(folder))
        texts.append(data.read_data_nmt())
    assert texts[0] == texts[1] == fra_raw_bytes.decode("utf-8")
    text = texts[0]
    assert text.split("\n", 1)[0] == "Go.\tVa !"
    # Lines counted from the bytes: every line ends with "\n" (the last one too).
    assert fra_raw_bytes.endswith(b"\n")
    n_lines = fra_raw_bytes.count(b"\n")
    assert len(text.splitlines()) == n_lines
    assert n_lines == 167_130  # as documented for this file (sha1 c43f99dc...)
