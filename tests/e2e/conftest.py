"""Browser end-to-end tests: run with `make e2e`; `make test` leaves this folder out."""


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives a real browser against a real server")
