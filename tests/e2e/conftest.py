"""Browser end-to-end tests: run with `make e2e`; `make test` leaves this folder out."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives a real browser against a real server")


def chromium_path():
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail("Debian's chromium is missing: run `make e2e` as root, or "
                    "`sudo apt-get install -y chromium fonts-wqy-microhei`")
    return path


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (no browser download), closed after the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS,
                                      timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()

