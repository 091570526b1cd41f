from django.db import migrations, models


def failures_from_attempts(apps, schema_editor):
    # Until now only wrong passwords kept their attempt, so at rest the two counts are equal.
    GuestLink = apps.get_model("guestlinks", "GuestLink")
    GuestLink.objects.update(password_failures=models.F("password_attempts"))


class Migration(migrations.Migration):
    dependencies = [
        ("guestlinks", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="guestlink",
            name="password_failures",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.RunPython(failures_from_attempts, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="guestlink",
            constraint=models.CheckConstraint(
                condition=models.Q(("password_failures__lte", models.F("max_password_attempts"))),
                name="guestlink_failures_within_max",
            ),
        ),
    ]
