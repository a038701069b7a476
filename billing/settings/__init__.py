"""Settings split by concern.

`base` holds what every environment shares and pulls in one module per concern
(database, tenancy, celery, email, payments, api). `local`, `test` and
`production` pick the environment. DJANGO_SETTINGS_MODULE defaults to `local`.
"""
