"""Tenancy benchmark: migrating N provider schemas with nothing to apply.

    .venv/bin/python bench/tenancy.py --scale small|full

Providers are created with accounts.onboarding.provider_onboard (the real path: a
schema migrated with the tenant apps' migrations, about 3 s of CPU each), as
`bench-t-NNN`, and kept between runs (creating 200 takes about 10 minutes once);
`--drop` removes them. Small: 20 schemas, medium 50, full 200. Then
`manage.py tally_migrate` (what an operator runs on every deploy) is timed in a
child process, twice. Beside it, the physical limit in the same run: reading
`django_migrations` of every schema in one connection (what deciding "nothing to
apply" needs at least), and the cost of starting `manage.py` at all (`check`).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SCALES = {"small": 20, "medium": 50, "full": 200}
PREFIX = "bench-t-"


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], scales=tuple(SCALES))
    p.add_argument("--drop", action="store_true", help="drop the bench-t-* providers and exit")
    args = p.parse_args()
    common.setup(args)
    from tenancy.models import Provider

    if args.drop:
        for provider in Provider.objects.filter(slug__startswith=PREFIX):
            common.provider_drop(provider)
        return
    count = SCALES[args.scale]
    info = common.machine()
    common.print_machine(info)
    _ensure_providers(count)
    total = Provider.objects.count()
    schemas = list(Provider.objects.values_list("schema_name", flat=True))
    common.say(f"{total} provider schemas in {args.database} (plus public)")

    runs = []
    for attempt in (1, 2):
        common.say(f"manage.py tally_migrate, run {attempt}")
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "manage.py", "tally_migrate"], cwd=common.ROOT,
                             env=os.environ.copy(), capture_output=True, text=True)
        runs.append(time.perf_counter() - started)
        if out.returncode != 0:
            raise SystemExit(out.stdout + out.stderr)
        if "Applying" in out.stdout:
            common.say("(something was applied: the first run is not a no-op)")
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "check"], cwd=common.ROOT,
                   env=os.environ.copy(), capture_output=True, check=True)
    startup = time.perf_counter() - started
    scan = _read_migration_tables(schemas)
    _report(total, runs, startup, scan, info)


def _ensure_providers(count: int) -> None:
    from accounts.onboarding import provider_onboard
    from tenancy.models import Provider

    have = set(Provider.objects.filter(slug__startswith=PREFIX).values_list("slug", flat=True))
    missing = [f"{PREFIX}{n:03d}" for n in range(count) if f"{PREFIX}{n:03d}" not in have]
    if missing:
        common.say(f"creating {len(missing)} providers (provider_onboard: a migrated schema each)")
    started = time.perf_counter()
    took = []
    for done, slug in enumerate(missing, 1):
        before = time.perf_counter()
        provider_onboard(name=slug, slug=slug, admin_username="bench",
                        admin_password="bench-password")
        took.append(time.perf_counter() - before)
        common.progress(done, len(missing), "providers", started)
    if len(took) >= 20:
        # Flat if creation does not depend on how many providers exist already.
        first, last = sum(took[:10]) / 10, sum(took[-10:]) / 10
        print()
        common.say(f"provider_create: {first:.2f} s each for the first 10 created, "
                   f"{last:.2f} s each for the last 10 (of {len(took)})")


def _read_migration_tables(schemas: list[str]) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for schema in schemas:
            cursor.execute(f'SET search_path = "{schema}"')
            cursor.execute("SELECT app, name FROM django_migrations")
            cursor.fetchall()
        cursor.execute("SET search_path = public")
    return time.perf_counter() - started


def _report(total: int, runs: list[float], startup: float, scan: float, info: dict) -> None:
    print()
    common.say(f"tenancy, {total} provider schemas, {info['nproc']} cpu, load {common.load()}")
    common.table(
        [
            ("manage.py tally_migrate (nothing to apply), run 1", f"{runs[0]:.1f}",
             f"{runs[0] / total * 1000:.0f}"),
            ("manage.py tally_migrate (nothing to apply), run 2", f"{runs[1]:.1f}",
             f"{runs[1] / total * 1000:.0f}"),
            ("manage.py check (process start)", f"{startup:.1f}", ""),
            ("read django_migrations of every schema", f"{scan:.2f}",
             f"{scan / total * 1000:.1f}"),
        ],
        ("what", "seconds", "ms per schema"),
    )


if __name__ == "__main__":
    main()
