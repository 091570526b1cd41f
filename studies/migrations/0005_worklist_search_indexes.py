"""Search indexes for the worklist table on PostgreSQL; nothing on other databases.

`worklist_entries` searches names, descriptions and referring physicians by substring
(`icontains`, which PostgreSQL runs as `UPPER(col::text) LIKE UPPER('%term%')`): trigram GIN
indexes on the same UPPER expression serve it. Patient IDs and accession numbers match by
prefix (`istartswith`): B-tree indexes with text_pattern_ops serve `LIKE 'TERM%'` in any
collation. SQLite scans, which is fine at the sizes it is meant for.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

TRIGRAM = ("patient_name", "study_description", "referring_physician_name")
PREFIX = ("patient_id", "accession_number")


def _statements() -> list[tuple[str, str]]:
    made = [
        (
            f"CREATE INDEX IF NOT EXISTS study_{column}_trgm ON studies_study "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)",
            f"DROP INDEX IF EXISTS study_{column}_trgm",
        )
        for column in TRIGRAM
    ]
    made += [
        (
            f"CREATE INDEX IF NOT EXISTS study_{column}_prefix ON studies_study "
            f"((UPPER({column}::text)) text_pattern_ops)",
            f"DROP INDEX IF EXISTS study_{column}_prefix",
        )
        for column in PREFIX
    ]
    return made


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        for create, _ in _statements():
            schema_editor.execute(create)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        for _, drop in _statements():
            schema_editor.execute(drop)


class Migration(migrations.Migration):
    dependencies = [("studies", "0004_worklist_sort_indexes")]

    operations = [
        TrigramExtension(),  # CREATE EXTENSION pg_trgm on PostgreSQL only
        migrations.RunPython(forwards, backwards),
    ]
