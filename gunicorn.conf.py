"""gunicorn settings, read automatically from the working directory (`gunicorn cimar_share.wsgi`).

Command-line options win (e.g. `-w 2`, `-b 127.0.0.1:8000`); environment variables
GUNICORN_WORKERS / GUNICORN_THREADS / GUNICORN_KEEPALIVE adjust the defaults.

Why threaded workers with keep-alive: the sync worker answers one request per connection and
then closes it, so every image the viewer loads paid for a new TCP connection (accept, a new
socket, gunicorn's per-connection setup) on top of the request itself. The viewer loads many
small images in a row from the same page, so connections are worth keeping. `gthread` keeps
them open (`keepalive` seconds idle) and serves each with a small thread pool; the threads also
let a worker overlap file and database waits. See README "Performance" for the figures.
"""

import multiprocessing
import os

worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "30"))
# Behind a reverse proxy the proxy holds the clients' connections; long uploads of DICOM
# archives need more than the 30 s default.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
