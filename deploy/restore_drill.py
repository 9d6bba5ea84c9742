"""Restore drill: prove that a dump of the database restores whole and runs this code.

    DATABASE_URL=postgres://user:password@host:5432/pricelab python deploy/restore_drill.py

1. Opens a read-only REPEATABLE READ transaction on the database named by DATABASE_URL,
   exports its snapshot and counts every table's rows in it.
2. ``pg_dump -Fc --snapshot=...``: the dump sees exactly the rows that were counted, so
   the comparison holds on a live database that keeps taking writes.
3. Creates a scratch database (on the same server, or on ``--target-url``'s) and
   ``pg_restore``s the dump into it.
4. ``manage.py migrate --check`` against the scratch copy: this release's code finds every
   migration applied.
5. Counts the rows again in the copy, prints both side by side and a verdict, and drops
   the scratch database whatever happened.

Exit status: 0 when the copy is complete and migrated, 1 when it is not, 2 when the drill
could not run (a tool missing, a database unreachable, pg_dump or pg_restore failing).
Credentials go to the PostgreSQL tools through PG* environment variables, never on a
command line (where ``ps`` shows them) or in the output. See docs/OPERATIONS.md.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
PASSED, FAILED, BROKEN = 0, 1, 2

# Always printed, so the report shows at a glance that the data a customer would miss
# came back; every other table is compared too and printed only when it differs.
MAIN_TABLES = (
    "tenants_tenant",
    "tenants_user",
    "tenants_membership",
    "tenants_apikey",
    "pricing_product",
    "pricing_pricepoint",
    "pricing_pricechange",
    "pricing_webhookendpoint",
    "pricing_webhookdelivery",
    "experiments_experiment",
    "experiments_variant",
    "experiments_phase",
    "experiments_exposure",
    "experiments_conversion",
    "billing_billingaccount",
    "billing_subscription",
    "billing_invoice",
    "billing_stripeevent",
    "billing_usagedaily",
    "django_migrations",
)
# URL query parameters that libpq also takes from the environment; anything else in the URL
# is refused rather than silently dropped (the drill must connect as the app does).
URL_PARAMETERS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}
# PostgreSQL truncates identifiers longer than this.
MAX_NAME_LENGTH = 63


class DrillError(Exception):
    """The drill could not run; the message says why (and never holds a password)."""


@dataclass(frozen=True)
class Server:
    """Connection parameters parsed from a postgres:// URL."""

    url: str
    params: dict[str, str]

    @classmethod
    def from_url(cls, url: str) -> Server:
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise DrillError("DATABASE_URL must be a postgres:// URL.")
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname:
            raise DrillError("DATABASE_URL names no database.")
        params = {"host": parts.hostname or "", "port": str(parts.port or 5432), "dbname": dbname}
        if parts.username:
            params["user"] = unquote(parts.username)
        if parts.password:
            params["password"] = unquote(parts.password)
        for name, value in parse_qsl(parts.query):
            if name not in URL_PARAMETERS:
                raise DrillError(f"unsupported parameter in the database URL: {name}")
            params[name] = value
        return cls(url=url, params=params)

    @property
    def dbname(self) -> str:
        return self.params["dbname"]

    def database(self, name: str) -> Server:
        """The same server, another database."""
        parts = urlsplit(self.url)
        url = urlunsplit(parts._replace(path="/" + quote(name)))
        return Server(url=url, params={**self.params, "dbname": name})

    def environ(self) -> dict[str, str]:
        """The environment for pg_dump/pg_restore: libpq reads credentials from it."""
        names = {
            "host": "PGHOST",
            "port": "PGPORT",
            "user": "PGUSER",
            "password": "PGPASSWORD",
            "dbname": "PGDATABASE",
            **URL_PARAMETERS,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({names[key]: value for key, value in self.params.items() if value})
        return env

    def connect(self, **kwargs) -> psycopg.Connection:
        try:
            return psycopg.connect(**{k: v for k, v in self.params.items() if v}, **kwargs)
        except psycopg.OperationalError as exc:
            raise DrillError(f"cannot connect to database {self.dbname!r}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DrillError(
            f"{name} is not installed (PostgreSQL's client tools, at least the server's version)"
        )
    return path


def _run(command: list[str], *, env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise DrillError(f"{what} failed (exit {result.returncode}):\n{result.stderr.strip()}")


def _tables(connection: psycopg.Connection) -> list[tuple[str, str]]:
    """Every ordinary and partitioned table outside PostgreSQL's own schemas."""
    rows = connection.execute(
        """
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_%'
        ORDER BY 1, 2
        """
    ).fetchall()
    return [(schema, name) for schema, name in rows]


def _counts(connection: psycopg.Connection, tables: list[tuple[str, str]]) -> dict[str, int]:
    counts = {}
    for schema, name in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        counts[_label(schema, name)] = connection.execute(query).fetchone()[0]
    return counts


def _label(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def _scratch_name(source: str) -> str:
    suffix = f"_drill_{secrets.token_hex(4)}"
    return source[: MAX_NAME_LENGTH - len(suffix)] + suffix


@dataclass
class Report:
    source: dict[str, int]
    restored: dict[str, int]
    migrations_ok: bool
    migrations_output: str

    def mismatches(self) -> list[str]:
        names = sorted(set(self.source) | set(self.restored))
        return [name for name in names if self.source.get(name) != self.restored.get(name)]

    def missing_main_tables(self) -> list[str]:
        return [name for name in MAIN_TABLES if name not in self.source]

    @property
    def passed(self) -> bool:
        return self.migrations_ok and not self.mismatches() and not self.missing_main_tables()


def _print_report(report: Report, out) -> None:
    mismatched = report.mismatches()
    shown = [name for name in MAIN_TABLES if name in report.source] + [
        name for name in mismatched if name not in MAIN_TABLES
    ]
    width = max(len(name) for name in shown) if shown else 10
    print(f"  {'table':<{width}}  {'source':>12}  {'restored':>12}", file=out)
    for name in shown:
        source = report.source.get(name)
        restored = report.restored.get(name)
        mark = "  MISMATCH" if name in mismatched else ""
        print(f"  {name:<{width}}  {_fmt(source):>12}  {_fmt(restored):>12}{mark}", file=out)
    others = len(report.source) - len([n for n in shown if n in report.source])
    if others > 0:
        print(f"  ... and {others} more tables, all equal", file=out)
    if report.migrations_ok:
        print("  migrations: up to date (manage.py migrate --check)", file=out)
    else:
        print("  migrations: NOT up to date against this code (manage.py migrate --check):", file=out)
        for line in report.migrations_output.strip().splitlines()[-20:]:
            print(f"    {line}", file=out)
    rows = sum(report.source.values())
    if report.passed:
        print(f"PASS: {len(report.source)} tables, {rows:,} rows restored; migrations up to date.", file=out)
        return
    reasons = []
    if mismatched:
        reasons.append(f"row counts differ in {', '.join(mismatched)}")
    if report.missing_main_tables():
        reasons.append(f"not in the source database: {', '.join(report.missing_main_tables())}")
    if not report.migrations_ok:
        reasons.append("migrations not up to date")
    print(f"FAIL: {'; '.join(reasons)}.", file=out)


def _fmt(value: int | None) -> str:
    return "missing" if value is None else f"{value:,}"


def _migrations_check(scratch: Server) -> tuple[bool, str]:
    env = {**os.environ, "DATABASE_URL": scratch.url}
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--check", "--noinput"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1):
        raise DrillError(f"manage.py migrate --check could not run:\n{result.stderr.strip()[-2000:]}")
    return result.returncode == 0, result.stdout + result.stderr


def drill(
    *,
    source: Server,
    target: Server,
    keep_dump: Path | None = None,
    jobs: int = 1,
    truncate_in_restore: str | None = None,
    out=sys.stdout,
) -> Report:
    """Dump, restore into a scratch database, check, drop it. Raises DrillError if it cannot run."""
    pg_dump, pg_restore = _tool("pg_dump"), _tool("pg_restore")
    scratch = target.database(_scratch_name(source.dbname))
    workdir = tempfile.mkdtemp(prefix="restore-drill-")
    dump_path = keep_dump or Path(workdir) / f"{source.dbname}.dump"
    admin = None
    created = False
    try:
        print(f"restore drill: {source.dbname} -> {scratch.dbname}", file=out)
        # The counts and the dump read one snapshot, so writes during the drill cannot
        # make them differ.
        with source.connect() as snapshot_holder:
            snapshot_holder.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            snapshot_holder.read_only = True
            snapshot = snapshot_holder.execute("SELECT pg_export_snapshot()").fetchone()[0]
            tables = _tables(snapshot_holder)
            if not tables:
                raise DrillError(f"database {source.dbname!r} has no tables: is DATABASE_URL right?")
            source_counts = _counts(snapshot_holder, tables)
            started = time.monotonic()
            _run(
                [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={dump_path}"],
                env=source.environ(),
                what="pg_dump",
            )
            dumped_in = time.monotonic() - started
        size = dump_path.stat().st_size
        kept = f", kept at {dump_path}" if keep_dump else ""
        print(f"  dump: {size / 1e6:,.1f} MB in {dumped_in:.1f} s (pg_dump -Fc){kept}", file=out)

        admin = target.connect(autocommit=True)
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(scratch.dbname)))
        created = True
        started = time.monotonic()
        _run(
            [
                pg_restore,
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                f"--jobs={jobs}",
                f"--dbname={scratch.dbname}",
                str(dump_path),
            ],
            env=scratch.environ(),
            what="pg_restore",
        )
        print(f"  restore: {time.monotonic() - started:.1f} s (pg_restore --jobs={jobs})", file=out)

        with scratch.connect(autocommit=True) as copy:
            if truncate_in_restore:
                # For testing the drill itself: damage the copy, and the verdict must be FAIL.
                copy.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(truncate_in_restore)))
                print(f"  (tampered: emptied {truncate_in_restore} in the copy)", file=out)
            restored_counts = _counts(copy, _tables(copy))
        migrations_ok, migrations_output = _migrations_check(scratch)
        report = Report(source_counts, restored_counts, migrations_ok, migrations_output)
        _print_report(report, out)
        return report
    finally:
        if created and admin is not None:
            # FORCE: a connection left behind (a crashed check) must not keep the copy alive.
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(scratch.dbname)))
            print(f"  dropped {scratch.dbname}", file=out)
        if admin is not None:
            admin.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--target-url",
        default="",
        help="restore on this server instead: a URL of any database on it, whose role may CREATEDB "
        "(e.g. postgres://drill@restore-host/postgres); default: the source's server",
    )
    parser.add_argument(
        "--keep-dump", type=Path, help="write the dump to this file and keep it (e.g. as the nightly backup)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="parallel pg_restore jobs")
    parser.add_argument(
        "--truncate-in-restore",
        metavar="TABLE",
        help="for testing the drill: empty TABLE in the copy, so the drill must fail",
    )
    args = parser.parse_args(argv)
    try:
        url = os.environ.get("DATABASE_URL", "")
        if not url:
            raise DrillError("set DATABASE_URL to the database to drill.")
        source = Server.from_url(url)
        target = Server.from_url(args.target_url) if args.target_url else source
        report = drill(
            source=source,
            target=target,
            keep_dump=args.keep_dump,
            jobs=args.jobs,
            truncate_in_restore=args.truncate_in_restore,
        )
    except (DrillError, psycopg.Error) as exc:
        message = str(exc) if isinstance(exc, DrillError) else _first_line(exc)
        print(f"ERROR: the restore drill could not run: {message}", file=sys.stderr)
        return BROKEN
    return PASSED if report.passed else FAILED


if __name__ == "__main__":
    sys.exit(main())
