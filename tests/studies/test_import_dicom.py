"""python manage.py import_dicom PATH... --worklist SHARE_CODE"""

from io import StringIO

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from studies.models import Study, WorklistEntry
from tests.studies.ingest_helpers import small_study

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("import_dicom", *map(str, args), stdout=out, verbosity=0)
    return out.getvalue()


def test_imports_and_summarises(tmp_path, worklist):
    small_study(tmp_path / "in")
    code = worklist.share_code
    # Any case, with or without the dash.
    out = run(tmp_path / "in", "--worklist", f"{code[:4].lower()}-{code[4:].lower()}")
    assert "Imported: 6" in out and "Already present: 0" in out and "Rejected: 0" in out
    entry = WorklistEntry.objects.get()
    assert (entry.worklist, entry.source, entry.added_by) == (worklist, "import", None)
    assert Study.objects.get().number_of_instances == 6

    again = run(tmp_path / "in", "--worklist", code)
    assert "Imported: 0" in again and "Already present: 6" in again


def test_exit_status_one_with_the_reasons_when_anything_is_rejected(tmp_path, worklist):
    small_study(tmp_path / "in", series_count=1)
    (tmp_path / "in" / "readme.txt").write_text("hello\n" * 50)
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(
            "import_dicom", str(tmp_path / "in"), "--worklist", worklist.share_code, stdout=out
        )
    assert caught.value.returncode == 1
    assert "1 file(s) were rejected" in str(caught.value)
    assert "Imported: 3" in out.getvalue()
    assert "in/readme.txt: This is not a DICOM file." in out.getvalue()


def test_unknown_share_code(tmp_path, worklist):
    small_study(tmp_path / "in", series_count=1)
    with pytest.raises(CommandError, match="No worklist has the share code 'ZZZZ-ZZZZ'"):
        run(tmp_path / "in", "--worklist", "ZZZZ-ZZZZ")


def test_missing_path(tmp_path, worklist):
    with pytest.raises(CommandError, match="No such file or folder"):
        run(tmp_path / "nothing", "--worklist", worklist.share_code)
    assert not Study.objects.exists()


def test_command_line_exit_status_and_progress_bar(tmp_path, worklist, capsys):
    """Through manage.py's own entry point, as a shell would run it."""
    small_study(tmp_path / "in", series_count=1)
    (tmp_path / "in" / "bad.dcm").write_bytes(b"\0" * 10)
    utility = ManagementUtility(
        ["manage.py", "import_dicom", str(tmp_path / "in"), "--worklist", worklist.share_code]
    )
    with pytest.raises(SystemExit) as caught:
        utility.execute()
    assert caught.value.code == 1
    captured = capsys.readouterr()
    assert "4/4" in captured.err  # tqdm's bar, on stderr
    assert "Imported: 3" in captured.out
