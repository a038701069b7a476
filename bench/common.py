"""What every benchmark shares: the database, a fresh provider, the machine, figures.

Benchmarks run against a dedicated database (default `tally_bench`, created and
migrated on first use), never the dev stack's: `--database NAME` picks another.
Each run creates its own provider schema with `accounts.onboarding.provider_onboard`
(the real path) and drops it at the end unless `--keep`.
"""

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432"


def parser(description: str,
           scales: tuple[str, ...] = ("small", "full")) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--scale", choices=scales, default=scales[0])
    p.add_argument("--database", default="tally_bench")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/6")
    p.add_argument("--keep", action="store_true", help="keep the provider schema afterwards")
    return p


def setup(args, migrate: bool = True) -> None:
    """Point Django at the bench database (creating and migrating it if needed)."""
    os.environ["DATABASE_URL"] = f"{PG}/{args.database}"
    os.environ["REDIS_URL"] = args.redis
    os.environ["DJANGO_SETTINGS_MODULE"] = "billing.settings.local"
    os.environ.setdefault("TALLY_CELERY_QUEUE", "tally-bench")  # never the dev stack's queue
    sys.path.insert(0, str(ROOT))
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              [args.database]).fetchone()
        if not exists:
            say(f"creating database {args.database}")
            conn.execute(f'CREATE DATABASE "{args.database}"')
    import django

    django.setup()
    if not migrate:
        return
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.tenancy_provider') IS NOT NULL")
        ready = cursor.fetchone()[0]
    if not ready or unapplied():
        say("migrating (manage.py tally_migrate; the first time takes about two minutes)")
        subprocess.run([sys.executable, "manage.py", "tally_migrate"], cwd=ROOT, check=True,
                       env=os.environ.copy(), stdout=subprocess.DEVNULL)


def unapplied() -> bool:
    """A provider schema lacks a migration the code has (tally_migrate would apply it)."""
    from tenancy.models import Provider
    from tenancy.schemas import schemas_behind

    return bool(schemas_behind(list(Provider.objects.values_list("schema_name", flat=True))))


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def progress(done: int, total: int, what: str, started: float) -> None:
    elapsed = time.perf_counter() - started
    rate = done / elapsed if elapsed else 0
    print(f"\r  {what}: {done:,}/{total:,} ({rate:,.0f}/s)", end="", flush=True)
    if done >= total:
        print(flush=True)


def provider_new(prefix: str, **options):
    """A fresh provider (real provider_onboard: a migrated schema and its first admin)."""
    from accounts.onboarding import provider_onboard

    slug = f"{prefix}-{int(time.time() * 1000) % 10**9}"
    created = provider_onboard(name=f"Bench {slug}", slug=slug, admin_username="bench",
                              admin_password="bench-password", **options)
    return created.provider


def provider_drop(provider) -> None:
    from django.db import connection

    from tenancy.models import Domain

    connection.set_schema_to_public()
    schema = provider.schema_name
    Domain.objects.filter(tenant=provider).delete()
    provider.delete(force_drop=True)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def inside(provider):
    from django_tenants.utils import tenant_context

    with tenant_context(provider):
        yield


def machine() -> dict:
    info = {"nproc": os.cpu_count(), "python": platform.python_version()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        info["postgresql"] = cursor.fetchone()[0]
    info["load"] = load()
    return info


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_machine(info: dict) -> None:
    say(f"machine: {info.get('nproc')} cpu ({info.get('cpu', '?')}), {info.get('ram_gb')} GB, "
        f"PostgreSQL {info['postgresql']}, Python {info['python']}, load {info['load']}")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def table(rows: list[tuple], headers: tuple[str, ...]) -> None:
    cells = [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """The real web server, as deployed (billing.wsgi), on a free loopback port."""

    def __init__(self, workers: int | None = None, threads: int | None = None,
                 env: dict[str, str] | None = None):
        """The deployed configuration (billing/gunicorn_conf.py) unless told otherwise;
        `env`: settings' environment variables to add (e.g. TALLY_QUOTA_CACHE=0)."""
        # TALLY_BENCH_PORT: a port of the caller's range on a machine shared with others.
        self.port = int(os.environ.get("TALLY_BENCH_PORT") or 0) or free_port()
        env = {**os.environ, **(env or {})}
        self.log = open(f"/tmp/tally-bench-gunicorn-{self.port}.log", "w")  # noqa: SIM115
        overrides = [*(["--workers", str(workers)] if workers else []),
                     *(["--threads", str(threads)] if threads else [])]
        self.popen = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "billing.wsgi",
             "-c", "billing/gunicorn_conf.py", "--bind", f"127.0.0.1:{self.port}",
             *overrides, "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.popen.poll() is not None:
                    raise RuntimeError(Path(self.log.name).read_text()) from None
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the workers have used so far, from /proc."""
        ticks = os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children")
        total = 0
        for pid in children.read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(20)
        self.log.close()


def have(program: str) -> bool:
    return shutil.which(program) is not None
