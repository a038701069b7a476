FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
      libharfbuzz-subset0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml .
RUN python -c "import tomllib; p=tomllib.load(open('pyproject.toml','rb'))['project']; \
print('\n'.join(p['dependencies']))" > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt
COPY . .
ENV DJANGO_SETTINGS_MODULE=billing.settings.local PYTHONUNBUFFERED=1 TALLY_DATA_DIR=/data
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput -v 0
EXPOSE 8000
CMD ["gunicorn", "billing.wsgi", "-c", "billing/gunicorn_conf.py", "--bind", "0.0.0.0:8000"]
