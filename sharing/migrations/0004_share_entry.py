"""The link between a share and the worklist entry it made is held by the share (Share.entry),
no longer by the entry (WorklistEntry.share): studies sits below sharing in the import order,
and the old foreign key made studies' first migration depend on sharing's.

studies' 0001_initial no longer creates WorklistEntry.share. A database made before this change
still has that column: its links are copied to Share.entry, and the column is dropped. A
database made after it has no such column, and this only adds Share.entry.
"""

import django.db.models.deletion
from django.db import migrations, models

ENTRIES = "studies_worklistentry"


def move_links_from_entries(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, ENTRIES)}
    if "share_id" not in columns:
        return
    schema_editor.execute(
        "UPDATE sharing_share SET entry_id = ("
        f"SELECT MIN(e.id) FROM {ENTRIES} e WHERE e.share_id = sharing_share.id)"
    )
    if connection.vendor == "sqlite":
        # SQLite cannot drop a column that is a foreign key: rebuild the table as the model
        # now stands (without it), as Django does for its own column changes there.
        schema_editor._remake_table(apps.get_model("studies", "WorklistEntry"))
    else:
        schema_editor.execute(f"ALTER TABLE {ENTRIES} DROP COLUMN share_id")


class Migration(migrations.Migration):

    dependencies = [
        ('sharing', '0003_invitation'),
        ('studies', '0002_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='share',
            name='entry',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='share', to='studies.worklistentry'),
        ),
        migrations.RunPython(move_links_from_entries, migrations.RunPython.noop),
    ]
