"""caseq.py: the case database of a test, whichever backend holds it (imported by case_check.py
and incident_check.py; stdlib only). REF is a store directory (its cases.sqlite, through
Python's sqlite3) or a postgresql:// URI (through Debian's psql, CSV out: every cell is text,
SQL NULL is ""). Both give execute(sql, params) -> list of tuples, "?" parameters."""
import csv
import io
import sqlite3
import subprocess


class Refused(Exception):
    """The database refused a statement (a constraint or trigger)."""


def is_pg(ref):
    return ref.startswith(("postgresql://", "postgres://"))


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


class Pg:
    def __init__(self, url):
        self.url = url

    def execute(self, sql, params=()):
        parts = sql.split("?")
        if len(parts) - 1 != len(params):
            raise ValueError("parameter count")
        text = parts[0] + "".join(lit(p) + s for p, s in zip(params, parts[1:]))
        r = subprocess.run(["psql", "-X", "-q", "--csv", "-t", "-v", "ON_ERROR_STOP=1", self.url,
                            "-c", text], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode:
            raise Refused(r.stderr.strip())
        return [tuple(row) for row in csv.reader(io.StringIO(r.stdout))]


class Lite:
    def __init__(self, path, ro=False):
        self.db = sqlite3.connect(f"file:{path}?mode=ro" if ro else path, uri=ro)

    def execute(self, sql, params=()):
        try:
            rows = self.db.execute(sql, params).fetchall()
            self.db.commit()
            return rows
        except sqlite3.IntegrityError as e:
            raise Refused(str(e))


def connect(ref, ro=False):
    return Pg(ref) if is_pg(ref) else Lite(f"{ref}/cases.sqlite", ro)
