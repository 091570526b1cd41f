import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cimar_share.settings")

app = Celery("cimar_share")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
