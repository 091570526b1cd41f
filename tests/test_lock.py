"""requirements.lock against pyproject.toml: every range there has a pin here that satisfies it,
and every pin carries hashes (`make setup` installs with --require-hashes). Fails when a range
was changed without `make lock`."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)")


def lock_pins() -> dict[str, list[Version]]:
    pins: dict[str, list[Version]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if match := PIN.match(line):
            name, version = match.groups()
            pins.setdefault(canonicalize_name(name), []).append(Version(version))
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["dev"]
    return [Requirement(line) for line in lines]


def test_every_declared_range_is_pinned_within_it():
    pins = lock_pins()
    for requirement in declared():
        versions = pins.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is in pyproject.toml but not in the lock: make lock"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{requirement.name}=={version} in the lock is outside {requirement.specifier}: "
                "make lock"
            )


def test_every_pin_has_hashes():
    text = (ROOT / "requirements.lock").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])  # past the two header lines
    assert len(entries) == sum(len(v) for v in lock_pins().values()) > 30
    for entry in entries:
        assert PIN.match(entry) and "--hash=sha256:" in entry, entry.splitlines()[0]
