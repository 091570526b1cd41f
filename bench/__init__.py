"""Benchmarks: `make bench` runs `python -m bench.run`."""


def setup_django() -> None:
    """For a benchmark run as a module (`python -m bench.x`): Django set up on the settings."""
    import os
    import sys
    from pathlib import Path

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cimar_share.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    django.setup()
