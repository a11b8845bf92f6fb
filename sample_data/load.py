"""Load the sample district and its history into the schema of migration 0001.

``load_sample`` writes the generated district (areas whose polygons are the unions of their
grids, unit grids with boundary version 1, responsibility grids, grid workers and duty staff),
the reference data, the sample log-in accounts and raw case reports. Reports go in with COPY:
through the ``cases_assign_grid`` trigger for the default history, or for a benchmark-sized one
through the same rule applied set-wise (``copy_reports``). Then ``sample_data.history.play_history``
(the lifecycle) carries them round the closed loop, when that module is there.
"""
from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import numpy as np
import shapely
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection

from db.models import Community, Department, District, Person, Subdistrict
from db.config import STORAGE_SRID, TIME_ZONE
from db.reference import seed_reference
from dispatch.calendar import TZ
from sample_data import names
from sample_data.bulk import drop_secondary_indexes, make_months, reserve_ids
from sample_data.accounts import ACCOUNTS, RETIRED_PASSWORDS, sample_password
from sample_data.generate import DEFAULT_SEED, SampleDistrict, generate
from sample_data.reports import Reports, generate_reports

DEFAULT_CASES = 4011
_COPY_CHUNK = 100_000
BULK_THRESHOLD = 20_000  # above this many reports, assign set-wise instead of row by row
_LOCK_KEY = 211103  # advisory lock: two loaders never race


class SampleDataPresent(RuntimeError):
    """The sample district is already in the database."""


class RealDataPresent(RuntimeError):
    """The database holds districts, grids or cases that are not the sample's."""


def real_data(conn: Connection, district_code: str = "211103") -> str | None:
    """What in the database is not the sample (a description), or None.

    Any district other than the sample's, any unit grid outside it, or any case when the sample
    is absent: nine sample accounts (``admin`` among them) must never land next to real work.
    """
    other = conn.execute(text("SELECT code || ' ' || name FROM district WHERE code <> :c ORDER BY code LIMIT 3"),
                         {"c": district_code}).scalars().all()
    if other:
        return f"district {', '.join(other)}"
    grids = conn.execute(text("SELECT count(*) FROM unit_grid WHERE left(code, 6) <> :c"), {"c": district_code}).scalar()
    if grids:
        return f"{grids} unit grids outside district {district_code}"
    if not sample_loaded(conn, district_code):
        cases = conn.execute(text("SELECT count(*) FROM cases")).scalar()
        if cases:
            return f"{cases} cases"
    return None


def sample_loaded(conn: Connection, district_code: str = "211103") -> bool:
    """True if the sample district (any district with that code) exists."""
    return conn.execute(select(District.id).where(District.code == district_code)).first() is not None


def load_sample(conn: Connection, *, cases: int = DEFAULT_CASES, seed: int = DEFAULT_SEED,
                until: datetime | None = None, history: bool = True, password: str | None = None,
                beside_other_districts: bool = False) -> dict:
    """Write the sample district, accounts and ``cases`` reports in the caller's transaction.

    Reports are spread over the 61 days before ``until`` (default now). Raises
    SampleDataPresent if the district exists: the sample is never duplicated and never wiped;
    RealDataPresent if anything else is there (``real_data``), unless ``beside_other_districts``
    (the test database, whose other districts are hand-built fixtures). The accounts get
    ``password``, by default this install's generated one (``sample_password``).
    Returns counts of what was written and how long each stage took (``seconds_*``).
    """
    if cases < 0:
        raise ValueError(f"cases must be 0 or more, not {cases}")
    until = _aware(until)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    if sample_loaded(conn, names.DISTRICT[0]):
        raise SampleDataPresent(f"the sample district {names.DISTRICT[0]} {names.DISTRICT[1]} is already loaded; "
                                "nothing was changed")
    found = None if beside_other_districts else real_data(conn, names.DISTRICT[0])
    if found:
        raise RealDataPresent(f"the database holds data that is not the sample's ({found}); the sample and its "
                              "accounts are never loaded next to real data: use an empty database")
    password = password or sample_password()
    # argon2 is deliberately slow (~0.15 s a hash) and releases the GIL: hash while generating
    with ThreadPoolExecutor(max_workers=2) as pool:
        hashes = [pool.submit(PasswordHasher().hash, password) for _ in ACCOUNTS]
        d = generate(seed)
        password_hashes = [h.result() for h in hashes]
    timings["generate"] = time.perf_counter() - t

    t = time.perf_counter()
    seed_reference(conn)
    valid_from = (until - timedelta(days=400)).astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    _write_areas(conn, d, valid_from)
    people = _write_people(conn, d, password_hashes)
    timings["district"] = time.perf_counter() - t

    t = time.perf_counter()
    n_cases = 0
    first_id = conn.execute(text("SELECT COALESCE(max(id), 0) FROM cases")).scalar_one()
    deferred: list[str] = []  # the case table's indexes, built once after the history is played
    pending: list[str] = []  # reports held back for the player to write once, in their final state
    if cases:
        reports = generate_reports(d, cases, seed=seed, until=until)
        timings["reports_generate"] = time.perf_counter() - t
        t = time.perf_counter()
        n_cases = copy_reports(conn, reports, people, defer_indexes=deferred if history else None,
                               pending=pending if history else None)
        timings["reports_copy"] = time.perf_counter() - t

    t = time.perf_counter()
    played = None
    if cases and history:
        from sample_data import history as simulate

        played = simulate.play_history(conn, seed=seed, until=until, deferred_indexes=deferred,
                                       pending=pending[0] if pending else None)
        timings["history"] = time.perf_counter() - t

    counts = dict(conn.execute(text("""
        SELECT (SELECT count(*) FROM subdistrict s WHERE s.district_id = d.id) AS subdistricts,
               (SELECT count(*) FROM community c JOIN subdistrict s ON s.id = c.subdistrict_id
                 WHERE s.district_id = d.id AND c.kind = 'community') AS communities,
               (SELECT count(*) FROM community c JOIN subdistrict s ON s.id = c.subdistrict_id
                 WHERE s.district_id = d.id AND c.kind = 'village') AS villages,
               (SELECT count(*) FROM unit_grid g WHERE g.code LIKE d.code || '%') AS unit_grids,
               (SELECT count(*) FROM responsibility_grid r WHERE r.code LIKE d.code || '%') AS responsibility_grids
        FROM district d WHERE d.code = :c"""), {"c": d.code}).mappings().one())
    counts["grid_workers"] = len(d.workers)
    counts["staff"] = len(d.staff)
    counts["accounts"] = len(ACCOUNTS)
    counts["cases"] = n_cases
    counts["outside_jurisdiction"] = conn.execute(text(
        "SELECT count(*) FROM cases WHERE outside_jurisdiction AND id > :i"), {"i": first_id}).scalar_one()
    counts["history"] = played
    counts.update({f"seconds_{k}": round(v, 2) for k, v in timings.items()})
    return counts


def retire_known_passwords(conn: Connection, password: str) -> list[str]:
    """Give every sample account that still has a published password (``RETIRED_PASSWORDS``,
    from before passwords were generated) this install's ``password``; the usernames moved."""
    ph = PasswordHasher()
    rows = conn.execute(text("SELECT id, username, password_hash FROM person WHERE username = ANY(:u) "
                             "AND password_hash IS NOT NULL ORDER BY username"),
                        {"u": [a.username for a in ACCOUNTS]}).all()
    moved = []
    for r in rows:
        for old in RETIRED_PASSWORDS:
            try:
                ph.verify(r.password_hash, old)
            except (VerificationError, InvalidHashError):
                continue
            conn.execute(text("UPDATE person SET password_hash = :h WHERE id = :i"),
                         {"h": ph.hash(password), "i": r.id})
            moved.append(r.username)
            break
    return moved


def password_works(conn: Connection, password: str) -> bool:
    """Whether the sample's ``admin`` account takes ``password`` (a sample loaded by another
    checkout into a shared database has that checkout's password)."""
    h = conn.execute(text("SELECT password_hash FROM person WHERE username = :u"), {"u": ACCOUNTS[0].username}).scalar()
    try:
        return h is not None and PasswordHasher().verify(h, password)
    except (VerificationError, InvalidHashError):
        return False


def _aware(until: datetime | None) -> datetime:
    if until is None:
        return datetime.now(timezone.utc)
    return until if until.tzinfo else until.replace(tzinfo=TZ)


def _hex(geoms) -> list[str]:
    return shapely.to_wkb(np.asarray(list(geoms), dtype=object), hex=True).tolist()


def _write_areas(conn: Connection, d: SampleDistrict, valid_from: datetime) -> None:
    """District, subdistricts, communities, responsibility grids, unit grids and their v1."""
    district_id = conn.execute(text(
        "INSERT INTO district(code, name, name_en, geom) "
        f"VALUES (:c, :n, :e, ST_Multi(ST_GeomFromWKB(decode(:w, 'hex'), {STORAGE_SRID}))) RETURNING id"),
        {"c": d.code, "n": d.name, "e": d.name_en, "w": _hex([d.outline])[0]}).scalar_one()
    conn.execute(text(
        "INSERT INTO subdistrict(district_id, code, name, name_en, is_agricultural) "
        "SELECT :d, * FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), CAST(:en AS text[]), "
        "CAST(:agri AS boolean[]))"),
        {"d": district_id, "codes": [s.code for s in d.subdistricts], "names": [s.name for s in d.subdistricts],
         "en": [s.name_en for s in d.subdistricts], "agri": [s.is_agricultural for s in d.subdistricts]})
    conn.execute(text(
        "INSERT INTO community(subdistrict_id, code, name, name_en, kind) "
        "SELECT s.id, x.code, x.name, x.en, x.kind FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), "
        "CAST(:en AS text[]), CAST(:kinds AS text[]), CAST(:subs AS text[])) AS x(code, name, en, kind, sub) "
        "JOIN subdistrict s ON s.code = x.sub ORDER BY x.code"),
        {"codes": [c.code for c in d.communities], "names": [c.name for c in d.communities],
         "en": [c.name_en for c in d.communities], "kinds": [c.kind for c in d.communities],
         "subs": [c.subdistrict_code for c in d.communities]})
    conn.execute(text(
        "INSERT INTO responsibility_grid(community_id, code, name) "
        "SELECT c.id, x.code, x.name FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), "
        "CAST(:comms AS text[])) AS x(code, name, comm) JOIN community c ON c.code = x.comm ORDER BY x.code"),
        {"codes": [r.code for r in d.responsibility_grids], "names": [r.name for r in d.responsibility_grids],
         "comms": [r.community_code for r in d.responsibility_grids]})
    change_id = conn.execute(text(
        "INSERT INTO boundary_change(kind, note, created_at) VALUES ('sample', :n, :t) RETURNING id"),
        {"n": f"样例辖区 {d.name}: generated unit grids, version 1", "t": valid_from}).scalar_one()
    conn.execute(text(
        "INSERT INTO unit_grid(community_id, responsibility_grid_id, code, name, created_at) "
        "SELECT c.id, r.id, x.code, x.name, :t FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), "
        "CAST(:comms AS text[]), CAST(:resps AS text[])) AS x(code, name, comm, resp) "
        "JOIN community c ON c.code = x.comm JOIN responsibility_grid r ON r.code = x.resp ORDER BY x.code"),
        {"codes": [g.code for g in d.grids], "names": [g.name for g in d.grids],
         "comms": [g.community_code for g in d.grids], "resps": [g.responsibility_code for g in d.grids],
         "t": valid_from})
    conn.execute(text(
        "INSERT INTO grid_version(grid_id, version_no, geom, valid_from, change_id) "
        f"SELECT g.id, 1, ST_GeomFromWKB(decode(x.w, 'hex'), {STORAGE_SRID}), :t, :chg "
        "FROM unnest(CAST(:codes AS text[]), CAST(:wkbs AS text[])) AS x(code, w) "
        "JOIN unit_grid g ON g.code = x.code ORDER BY x.code"),
        {"codes": [g.code for g in d.grids], "wkbs": _hex(g.geom for g in d.grids), "t": valid_from,
         "chg": change_id})
    from gis.io import refresh_area_geoms

    refresh_area_geoms(conn, district_code=d.code)
    # fresh statistics, or the trigger's lookups plan for empty tables
    conn.execute(text("ANALYZE district, subdistrict, community, unit_grid, grid_version, responsibility_grid"))


def _write_people(conn: Connection, d: SampleDistrict, password_hashes: list[str]) -> dict[str, int]:
    """Grid workers (one person each, role grid_worker), the duty staff of every unit and
    department (no password), and the sample accounts; returns {username: id}."""
    first_of = {}
    for a in ACCOUNTS:
        if a.role == "grid_worker":
            comm = next(c.code for c in d.communities if c.name == a.unit)
            first_of[next(w.username for w in d.workers if w.community_code == comm)] = a.username
    workers = [(first_of.get(w.username, w.username), w) for w in d.workers]
    wanted = [u for u, _ in workers] + [m.username for m in d.staff] + [a.username for a in ACCOUNTS]
    taken = conn.execute(select(Person.username).where(Person.username.in_(wanted)).order_by(Person.username)).scalars().all()
    if taken:
        raise RuntimeError(f"the sample's people need usernames that already exist: {', '.join(taken[:10])}"
                                f"{' …' if len(taken) > 10 else ''}; nothing was changed")
    conn.execute(text(
        "INSERT INTO person(username, full_name, role, unit_level, community_id, phone) "
        "SELECT x.u, x.n, 'grid_worker', 'community', c.id, x.p FROM unnest(CAST(:u AS text[]), "
        "CAST(:n AS text[]), CAST(:p AS text[]), CAST(:c AS text[])) AS x(u, n, p, c) "
        "JOIN community c ON c.code = x.c ORDER BY x.u"),
        {"u": [u for u, _ in workers], "n": [w.full_name for _, w in workers], "p": [w.phone for _, w in workers],
         "c": [w.community_code for _, w in workers]})
    conn.execute(text(
        "INSERT INTO responsibility_grid_worker(responsibility_grid_id, person_id) "
        "SELECT r.id, p.id FROM unnest(CAST(:u AS text[]), CAST(:r AS text[])) AS x(u, r) "
        "JOIN responsibility_grid r ON r.code = x.r JOIN person p ON p.username = x.u"),
        {"u": [u for u, _ in workers], "r": [w.responsibility_code for _, w in workers]})

    st = d.staff
    # bulk inserts with the unit looked up by code in the same statement stay SQL
    conn.execute(text(
        "INSERT INTO person(username, full_name, role, unit_level, community_id, subdistrict_id, department_id) "
        "SELECT x.u, x.n, x.r, x.l, c.id, s.id, dp.id FROM unnest(CAST(:u AS text[]), CAST(:n AS text[]), "
        "CAST(:r AS text[]), CAST(:l AS text[]), CAST(:code AS text[])) AS x(u, n, r, l, code) "
        "LEFT JOIN community c ON x.l = 'community' AND c.code = x.code "
        "LEFT JOIN subdistrict s ON x.l = 'subdistrict' AND s.code = x.code "
        "LEFT JOIN department dp ON x.l = 'department' AND dp.code = x.code ORDER BY x.u"),
        {"u": [m.username for m in st], "n": [m.full_name for m in st], "r": [m.role for m in st],
         "l": [m.unit_level for m in st], "code": [m.unit_code for m in st]})
    for a, pw_hash in zip(ACCOUNTS, password_hashes):
        if a.role == "grid_worker":
            conn.execute(update(Person).where(Person.username == a.username).values(password_hash=pw_hash))
            continue
        unit: dict[str, int | None] = {"community_id": None, "subdistrict_id": None, "department_id": None}
        if a.unit_level == "community":
            code = next(c.code for c in d.communities if c.name == a.unit)
            unit["community_id"] = conn.execute(select(Community.id).where(Community.code == code)).scalar_one()
        elif a.unit_level == "subdistrict":
            code = next(s.code for s in d.subdistricts if s.name == a.unit)
            unit["subdistrict_id"] = conn.execute(select(Subdistrict.id).where(Subdistrict.code == code)).scalar_one()
        elif a.unit_level == "department":
            unit["department_id"] = conn.execute(select(Department.id).where(Department.code == a.unit)).scalar_one()
        conn.execute(insert(Person).values(username=a.username, full_name=a.full_name, role=a.role,
                                           unit_level=a.unit_level, password_hash=pw_hash, **unit))
    rows = conn.execute(select(Person.username, Person.id).where(
        Person.username.in_([u for u, _ in workers] + [a.username for a in ACCOUNTS]))).all()
    people = {r.username: r.id for r in rows}
    for old, new in first_of.items():
        people[old] = people[new]  # reports name workers by their generated username
    return people


def _field(v) -> str:
    if v is None:
        return r"\N"
    s = str(v)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


_COLUMNS = ("channel", "category_code", "description", "address", "reporter_name", "reporter_phone",
            "reporter_id", "photo_ref", "received_x", "received_y", "received_crs", "geom", "reported_at",
            "updated_at", "status")
# Foreign keys of the reports, verified set-wise when per-row checks are off; the grid, community
# and subdistrict ids come from the join with those tables in the same transaction.
_FOREIGN_KEYS = (("category_code", "case_category", "code"), ("reporter_id", "person", "id"))


def copy_reports(conn: Connection, r: Reports, people: dict[str, int], *, bulk: bool | None = None,
                 defer_indexes: list[str] | None = None, pending: list[str] | None = None) -> int:
    """Write the reports into ``cases`` with status 'reported'; returns how many.

    Up to ``BULK_THRESHOLD`` reports (or ``bulk=False``) are COPied straight into ``cases`` and
    the ``cases_assign_grid`` trigger stamps each one. Larger loads take the set-based path: COPY
    into a staging table, one run of ``gis.assign.bulk_assign_sql`` (the same rule, the same
    lowest-code tie-break; tests/sample_data/test_load.py checks it against the trigger), then
    one INSERT with the per-row trigger off (and, into an empty table, the secondary indexes
    rebuilt afterwards instead of maintained row by row). ``defer_indexes``: a list that gets
    those indexes' DDL instead of running it, for a caller that writes the same rows again right
    after (the history player rebuilds them once, at its end). ``pending``: on the superuser's
    bulk path, the reports are not inserted into ``cases`` at all but left, complete with the ids
    and case numbers they would get, in a work table whose name is appended to this list; the
    history player (``play_history(pending=…)``) then writes each case once, in its final state,
    instead of inserting the report and updating it (which would leave a dead version of every
    row for the index builds and ``ANALYZE`` to wade through). The caller plays them in the same
    transaction; until then they are not cases.
    """
    if bulk is None:
        bulk = len(r) > BULK_THRESHOLD
    if len(r):  # their months first: no report lands in the DEFAULT partition (issue 12 §6)
        make_months(conn, datetime.fromtimestamp(int(r.reported_at.min().astype("datetime64[us]").astype(np.int64)) / 1e6,
                                                 tz=timezone.utc))
    if not bulk:
        _copy(conn, r, people, "cases", _COLUMNS)
        return len(r)
    # Unlogged work tables (not temporary ones: temp tables live in the session's small
    # temp_buffers and spill to disk at a million rows); named per backend, dropped at the end,
    # and rolled back with everything else if the load fails.
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    staging, assigned = f"_sample_reports_{pid}", f"_sample_assigned_{pid}"
    conn.execute(text(f"CREATE UNLOGGED TABLE {staging} AS "
                      f"SELECT {', '.join(_COLUMNS)}, 0::bigint AS seq FROM cases WITH NO DATA"))
    _copy(conn, r, people, staging, _COLUMNS + ("seq",))
    conn.execute(text(f"CREATE INDEX ON {staging} USING gist (geom)"))
    conn.execute(text(f"ANALYZE {staging}"))
    from gis.assign import bulk_assign_sql

    conn.execute(text(f"CREATE UNLOGGED TABLE {assigned} AS {bulk_assign_sql(staging, 'seq')}"))
    conn.execute(text(f"CREATE UNIQUE INDEX ON {assigned} (point_id)"))
    conn.execute(text(f"ANALYZE {assigned}"))
    # case numbers exactly as the trigger makes them, in order of arrival
    base = conn.execute(text("SELECT nextval('case_no_seq') - 1")).scalar_one()
    conn.execute(text("SELECT setval('case_no_seq', :n)"), {"n": base + len(r)})
    superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
    if superuser:
        # replica role skips per-row triggers, including the foreign-key checks: those are
        # verified below, set-wise, which is what makes this path fast
        conn.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        conn.execute(text("ALTER TABLE cases DISABLE TRIGGER cases_assign_grid"))
    hold = pending is not None and superuser
    rebuild = drop_secondary_indexes(conn, "cases") if not hold and conn.execute(
        text("SELECT NOT EXISTS (SELECT 1 FROM cases)")).scalar() else []
    cols = ", ".join(_COLUMNS)
    values = f"""
        to_char(s.reported_at AT TIME ZONE '{TIME_ZONE}', 'YYYYMMDD') || lpad((:base + s.seq)::text, 7, '0') AS case_no,
        {", ".join("s." + c for c in _COLUMNS)}, a.grid_version_id AS reported_grid_version_id,
        a.grid_code AS reported_grid_code, a.grid_id, a.grid_code, a.community_id, a.subdistrict_id,
        a.point_id IS NULL AS outside_jurisdiction
        FROM {staging} s LEFT JOIN {assigned} a ON a.point_id = s.seq ORDER BY s.seq"""
    if hold:  # with the ids nextval would give them in order of arrival, taken in one call
        first = reserve_ids(conn, "cases", len(r))
        held = f"_sample_pending_{pid}"
        conn.execute(text(f"CREATE UNLOGGED TABLE {held} AS SELECT :first + s.seq - 1 AS id, {values}"),
                     {"base": base, "first": first})
        # the player reads it a batch (a range of ids) at a time: without a key each batch's
        # insert sorted the whole table (1M rows: 3.3 s a batch, on disk)
        conn.execute(text(f"ALTER TABLE {held} ADD PRIMARY KEY (id)"))
        conn.execute(text(f"ANALYZE {held}"))
        pending.append(held)
    else:
        conn.execute(text(f"""
            INSERT INTO cases (case_no, {cols}, reported_grid_version_id, reported_grid_code, grid_id, grid_code,
                               community_id, subdistrict_id, outside_jurisdiction)
            SELECT {values}"""), {"base": base})
    if defer_indexes is not None:
        defer_indexes.extend(rebuild)
    else:
        for ddl in rebuild:
            conn.execute(text(ddl))
    if superuser:
        conn.execute(text("SET LOCAL session_replication_role = origin"))
        for col, table, key in _FOREIGN_KEYS:
            bad = conn.execute(text(
                f"SELECT count(*) FROM {staging} s WHERE s.{col} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{key} = s.{col})")).scalar_one()
            if bad:
                raise RuntimeError(f"bulk load: {bad} reports have a {col} that is not in {table}.{key}")
        # the statement-level notification the replica role skipped
        conn.execute(text("SELECT pg_notify('case_changed', 'cases')"))
    else:
        conn.execute(text("ALTER TABLE cases ENABLE TRIGGER cases_assign_grid"))
    conn.execute(text(f"DROP TABLE {assigned}, {staging}"))
    if not hold:
        conn.execute(text("ANALYZE cases"))
    return len(r)


def _copy(conn: Connection, r: Reports, people: dict[str, int], table: str, cols: tuple[str, ...]) -> None:
    """COPY the reports (text format, built column by column) into ``table``."""
    n = len(r)
    geoms = shapely.to_wkb(shapely.set_srid(shapely.points(r.lon, r.lat), STORAGE_SRID), hex=True, include_srid=True).tolist()
    stamps = np.datetime_as_string(np.asarray(r.reported_at, "datetime64[s]"), unit="s", timezone="UTC").tolist()
    who = [_field(people[u]) if u else r"\N" for u in r.reporter_username]
    columns = [r.channel, r.category_code, [_field(v) for v in r.description], [_field(v) for v in r.address],
               [_field(v) for v in r.reporter_name], [_field(v) for v in r.reporter_phone], who,
               [_field(v) for v in r.photo_ref], list(map(repr, r.received_x.tolist())),
               list(map(repr, r.received_y.tolist())), r.received_crs, geoms, stamps, stamps, ["reported"] * n]
    if "seq" in cols:
        columns.append([str(i) for i in range(1, n + 1)])
    cur = conn.connection.dbapi_connection.cursor()
    for start in range(0, n, _COPY_CHUNK):
        part = [c[start:start + _COPY_CHUNK] for c in columns]
        buf = io.StringIO("\n".join(map("\t".join, zip(*part))) + "\n")
        cur.copy_expert(f"COPY {table} ({', '.join(cols)}) FROM STDIN", buf)
