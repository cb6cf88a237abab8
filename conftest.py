"""nbval settings for the notebooks: compare text outputs, never stderr or image bytes."""


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        # stderr carries warnings and progress that vary; image bytes vary with library builds.
        collector.skip_compare += ("stderr", "image/svg+xml", "image/jpeg", "image/png",
                                   "text/html", "application/javascript")
