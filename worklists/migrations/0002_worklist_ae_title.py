"""Each worklist gets a DICOM AE title (issue 13): added empty, filled one by one with a unique
value, then made unique and required."""

from django.db import migrations, models

import worklists.models


def fill(apps, schema_editor):
    Worklist = apps.get_model("worklists", "Worklist")
    taken = set()
    for worklist in Worklist.objects.only("pk").iterator():
        title = worklists.models.default_ae_title()
        while title in taken:
            title = worklists.models.default_ae_title()
        taken.add(title)
        Worklist.objects.filter(pk=worklist.pk).update(ae_title=title)


class Migration(migrations.Migration):
    dependencies = [("worklists", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="worklist",
            name="ae_title",
            field=models.CharField(max_length=16, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="worklist",
            name="ae_title",
            field=models.CharField(
                default=worklists.models.default_ae_title,
                help_text="The called AE title a PACS or modality sends to, to store studies here.",
                max_length=16,
                unique=True,
                validators=[worklists.models.validate_ae_title],
                verbose_name="DICOM AE title",
            ),
        ),
    ]
