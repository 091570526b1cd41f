# One image for every process of compose.yaml and the Procfile (web, worker, beat, migrate).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/app/var
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir ".[s3]" \
 && DJANGO_DEBUG=0 ALLOWED_HOSTS=localhost \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput -v 0
USER nobody
EXPOSE 8000
CMD ["gunicorn", "cimar_share.wsgi", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
