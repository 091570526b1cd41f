"""The environment the settings read: yes/no values are understood or refused, `.env.example`
lists every variable read, and the values it shows are the defaults (defined once, in
cimar_share/settings.py and gunicorn.conf.py)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from cimar_share.settings import env_bool

ROOT = Path(settings.BASE_DIR)
READ = re.compile(r"""(?:os\.environ\.get|env_bool|env_list)\(\s*"([A-Z0-9_]+)\"""")


def example() -> dict[str, str]:
    """`.env.example`'s variables and the values it shows (comments stripped)."""
    found = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if match := re.match(r"([A-Z0-9_]+)=(.*)", line):
            found[match[1]] = match[2].split("  #")[0].split(" #")[0].strip()
    return found


@pytest.mark.parametrize(
    "value, expected",
    [("1", True), ("true", True), (" Yes ", True), ("ON", True)]
    + [("0", False), ("false", False), ("No", False), (" off", False)],
)
def test_env_bool_reads_the_usual_words(monkeypatch, value, expected):
    monkeypatch.setenv("CIMAR_TEST_FLAG", value)
    assert env_bool("CIMAR_TEST_FLAG", not expected) is expected


@pytest.mark.parametrize("value", [None, "", "   "])
def test_env_bool_unset_or_empty_is_the_default(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CIMAR_TEST_FLAG", raising=False)
    else:
        monkeypatch.setenv("CIMAR_TEST_FLAG", value)
    assert env_bool("CIMAR_TEST_FLAG", True) is True
    assert env_bool("CIMAR_TEST_FLAG", False) is False


@pytest.mark.parametrize("value", ["ture", "enabled", "2", "y", "-1", "false!"])
def test_env_bool_refuses_what_it_does_not_understand(monkeypatch, value):
    monkeypatch.setenv("CIMAR_TEST_FLAG", value)
    with pytest.raises(ImproperlyConfigured) as refused:
        env_bool("CIMAR_TEST_FLAG", False)
    assert f"CIMAR_TEST_FLAG={value!r} is not understood" in str(refused.value)
    assert "0, false, no or off" in str(refused.value)


def test_a_misspelt_flag_stops_manage_py_with_the_variable_named(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in example()}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "VAR_DIR": str(tmp_path), "BEHIND_PROXY": "ture"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: BEHIND_PROXY='ture' is not understood" in result.stderr


def test_env_example_lists_every_variable_read():
    sources = [ROOT / "cimar_share" / "settings.py", ROOT / "gunicorn.conf.py"]
    read = {name for path in sources for name in READ.findall(path.read_text())}
    assert len(read) > 40
    assert sorted(read - set(example())) == []


DUMP = """
import json, pathlib, django
from django.conf import settings
django.setup()
def plain(value):
    if isinstance(value, pathlib.PurePath):
        return str(pathlib.Path(value).resolve())
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return repr(value)
names = [name for name in dir(settings) if name.isupper()]
print(json.dumps({name: plain(getattr(settings, name)) for name in names}))
"""


def settings_with(env: dict[str, str]) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in example()}
    result = subprocess.run(
        [sys.executable, "-c", DUMP],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "cimar_share.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


def test_the_values_env_example_shows_are_the_defaults():
    """Every variable `.env.example` gives a value, set to that value, changes no setting."""
    shown = {name: value for name, value in example().items() if value}
    shown = {  # "./var" is relative to the project root, where make runs
        name: str(ROOT / value) if value.startswith("./") else value
        for name, value in shown.items()
        if not name.startswith("GUNICORN_")
    }
    assert len(shown) > 30
    defaults, with_example = settings_with({}), settings_with(shown)
    names = defaults.keys() | with_example.keys()
    assert sorted(k for k in names if defaults.get(k) != with_example.get(k)) == []


def test_sms_goes_to_the_outbox_by_default(settings, tmp_path):
    """One default for SMS_BACKEND (the settings'): the outbox, not the console."""
    from notifications.sms import send_sms

    assert settings.SMS_BACKEND == "notifications.sms_backends.OutboxBackend"
    settings.SMS_OUTBOX_DIR = tmp_path
    send_sms("+447700900123", "hello")
    [sent] = tmp_path.iterdir()
    assert sent.read_text() == "To: +447700900123\n\nhello\n"


def test_every_beat_entry_names_a_registered_task():
    from cimar_share.celery import app

    app.loader.import_default_modules()  # the apps' tasks.py, as a worker or beat loads them
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert len(schedule) == 4
    for name, entry in schedule.items():
        assert entry["task"] in app.tasks, f"beat entry {name}: no task {entry['task']}"
