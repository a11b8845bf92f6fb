"""Publish a draft (发布): one transaction, now or at a scheduled time; the conflict check.

A publish copies the draft's grids and responsibility grids into a ``boundary_change`` (its
``boundary_change_grid`` / ``_responsibility`` rows, migration 0007) and asks the database to
apply it: ``apply_boundary_change`` closes the current version of each redrawn or retired grid
at the change's effective time and adds the new one (a grid whose polygon is ``ST_Equals`` to
its current one gets no version), applies community / responsibility moves and grid workers,
refreshes the areas' outlines, re-assigns the open cases in one set-based statement with a
``regrid`` event each, and notifies the walls. A change scheduled for a later time (e.g. the
first of next month) waits as ``status = 'scheduled'`` and is applied by
``apply_due_boundary_changes()``: pg_cron each minute where the server has it, else the app's
timer (db/schedule.py) or ``manage.py boundary-apply-due`` (docs/planning.md).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch.calendar import TZ

# A scheduled time this far in the past is a mistake, not "now" (clocks and forms are not exact).
PAST_GRACE = timedelta(minutes=5)
# Overlap with a live grid outside the draft below this area is noise of coordinate rounding.
OVERLAP_NOISE_M2 = 0.01


@dataclass(frozen=True)
class Finding:
    """A problem found before publishing (the validator's, or the database checks' below)."""
    kind: str
    severity: str  # 'error' | 'warning'
    codes: tuple[str, ...]
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class PublishResult:
    change_id: int
    status: str            # 'applied' | 'scheduled'
    effective_at: datetime
    versions_added: int = 0
    grids_added: int = 0
    grids_retired: int = 0
    grids_unchanged: int = 0
    cases_moved: int = 0


class PublishRefused(Exception):
    """The draft cannot be published as it is; ``findings`` says why (each in zh and en)."""

    def __init__(self, message_zh: str, message_en: str, findings: tuple[Finding, ...] = ()):
        self.message_zh, self.message_en, self.findings = message_zh, message_en, tuple(findings)
        super().__init__(message_en)

    def message(self, lang: str = "zh") -> str:
        return self.message_en if lang == "en" else self.message_zh


class PublishConflict(Exception):
    """Another planner published (or scheduled) a change over the same communities since the
    draft began: publishing would silently overwrite it."""

    def __init__(self, *, change_id: int, by: str, at: datetime, status: str, community_codes: list[str]):
        self.change_id, self.by, self.at, self.status = change_id, by, at, status
        self.community_codes = community_codes
        when = at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")
        codes = ", ".join(community_codes)
        if status == "scheduled":
            self.message_zh = (f"{by} 已安排边界变更 #{change_id} 于 {when} 生效，涉及相同社区（{codes}）："
                               "请在其生效后基于新边界重新起草，或请其撤销")
            self.message_en = (f"{by} scheduled boundary change #{change_id} over the same communities ({codes}) "
                               f"to take effect at {when}: draft again once it is live, or ask them to cancel it")
        else:
            self.message_zh = (f"{by} 已于 {when} 发布边界变更 #{change_id}，涉及相同社区（{codes}）："
                               "本草稿基于旧边界，请基于新边界重新起草")
            self.message_en = (f"{by} published boundary change #{change_id} over the same communities ({codes}) "
                               f"at {when}, after this draft began: draft again from the new boundaries")
        super().__init__(self.message_en)

    def message(self, lang: str = "zh") -> str:
        return self.message_en if lang == "en" else self.message_zh


def publish(conn: Connection, draft_id: int, *, actor_id: int | None, reason: str,
            effective_at: datetime | None = None, warnings_reason: str | None = None) -> PublishResult:
    """Publish draft ``draft_id``: now (``effective_at`` None or not later than now) or scheduled.

    All or nothing in the caller's transaction (a savepoint). Raises PublishRefused (errors
    left, warnings without ``warnings_reason``, no reason, a draft not open, a time in the past)
    and PublishConflict.
    """
    reason = (reason or "").strip()
    if not reason:
        raise PublishRefused("发布须填写原因", "a publish needs a reason (why the boundaries change)")
    with conn.begin_nested():
        draft = _lock_open_draft(conn, draft_id)
        now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        scheduled = _scheduled_time(effective_at, now)
        # the conflict first: a change published meanwhile is the cause of whatever else now looks
        # wrong (its new grids overlap this draft's copies), and the planner must draft again anyway
        communities = scope_communities(conn, draft_id)
        check_conflict(conn, communities, base_change_id=draft.base_change_id, since=draft.created_at)
        _check_findings(conn, draft_id, warnings_reason)
        change_id = conn.execute(text("""
            INSERT INTO boundary_change(kind, note, reason, warnings_reason, created_by, created_at, effective_at,
                                        status, draft_id, community_ids)
            VALUES ('publish', :note, :reason, :wr, :actor, :now, :eff, 'scheduled', :draft, :comms) RETURNING id"""),
            {"note": draft.name, "reason": reason, "wr": (warnings_reason or "").strip() or None, "actor": actor_id,
             "now": now, "eff": scheduled or now, "draft": draft_id, "comms": communities}).scalar_one()
        conn.execute(text("""
            INSERT INTO boundary_change_grid(change_id, code, name, community_id, responsibility_code, geom, retired)
            SELECT :chg, code, name, community_id, responsibility_code, geom, retired
            FROM boundary_draft_grid WHERE draft_id = :d AND (grid_id IS NOT NULL OR NOT retired)"""),
            {"chg": change_id, "d": draft_id})
        conn.execute(text("""
            INSERT INTO boundary_change_responsibility(change_id, code, name, community_id, person_ids)
            SELECT :chg, code, name, community_id, person_ids FROM boundary_draft_responsibility WHERE draft_id = :d"""),
            {"chg": change_id, "d": draft_id})
        conn.execute(text("UPDATE boundary_draft SET status = 'published', updated_at = :now WHERE id = :d"),
                     {"now": now, "d": draft_id})
        if scheduled is not None:
            return PublishResult(change_id=change_id, status="scheduled", effective_at=scheduled)
        return apply_change(conn, change_id)


def apply_change(conn: Connection, change_id: int, *, now: datetime | None = None) -> PublishResult:
    """Apply a scheduled change at once (the database function; ``now`` for tests)."""
    res = conn.execute(text("SELECT apply_boundary_change(:c, COALESCE(CAST(:now AS timestamptz), clock_timestamp()))"),
                       {"c": change_id, "now": now}).scalar_one()
    eff = conn.execute(text("SELECT effective_at FROM boundary_change WHERE id = :c"), {"c": change_id}).scalar_one()
    return PublishResult(change_id=change_id, status="applied", effective_at=eff, **res)


def apply_due(conn: Connection, *, now: datetime | None = None) -> int:
    """Apply every scheduled change that is due at ``now`` (default: the clock); how many."""
    return conn.execute(text("SELECT apply_due_boundary_changes(COALESCE(CAST(:now AS timestamptz), clock_timestamp()))"),
                        {"now": now}).scalar_one()


def cancel_scheduled(conn: Connection, change_id: int, *, actor_id: int | None) -> None:
    """Cancel a change that is still scheduled (its draft stays published, for the record)."""
    n = conn.execute(text("UPDATE boundary_change SET status = 'cancelled', note = note || :by "
                          "WHERE id = :c AND status = 'scheduled'"),
                     {"c": change_id, "by": f" (cancelled by person {actor_id})"}).rowcount
    if not n:
        raise PublishRefused(f"边界变更 #{change_id} 不是待生效状态，无法撤销",
                             f"boundary change #{change_id} is not scheduled: nothing to cancel")


# --- the steps ----------------------------------------------------------------------------------

def _lock_open_draft(conn: Connection, draft_id: int):
    draft = conn.execute(text("SELECT id, name, status, base_change_id, created_at FROM boundary_draft "
                              "WHERE id = :d FOR UPDATE"), {"d": draft_id}).one_or_none()
    if draft is None:
        raise PublishRefused(f"草稿 {draft_id} 不存在", f"draft {draft_id} does not exist")
    if draft.status != "open":
        zh = {"published": "已发布", "abandoned": "已放弃"}.get(draft.status, draft.status)
        raise PublishRefused(f"草稿“{draft.name}”{zh}，不能再次发布",
                             f"draft {draft.name!r} is {draft.status}: it cannot be published again")
    return draft


def _scheduled_time(effective_at: datetime | None, now: datetime) -> datetime | None:
    """None: apply now; else the future instant to apply at."""
    if effective_at is None:
        return None
    if effective_at.tzinfo is None:
        raise PublishRefused("生效时间须带时区", "the effective time needs a time zone (e.g. 2027-01-01T00:00+08:00)")
    if effective_at < now - PAST_GRACE:
        when = effective_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")
        raise PublishRefused(f"生效时间 {when} 已过去", f"the effective time {when} is in the past")
    return effective_at if effective_at > now else None


def _check_findings(conn: Connection, draft_id: int, warnings_reason: str | None) -> None:
    findings = draft_findings(conn, draft_id)
    errors = tuple(f for f in findings if f.severity == "error")
    if errors:
        raise PublishRefused(f"草稿有 {len(errors)} 个错误，须先修正：" + "；".join(f.message_zh for f in errors[:5]),
                             f"the draft has {len(errors)} error(s) to fix first: "
                             + "; ".join(f.message_en for f in errors[:5]), errors)
    warnings = tuple(f for f in findings if f.severity == "warning")
    if warnings and not (warnings_reason or "").strip():
        raise PublishRefused(f"草稿有 {len(warnings)} 个警告，发布须说明保留的理由：" + "；".join(f.message_zh for f in warnings[:5]),
                             f"the draft has {len(warnings)} warning(s): publishing needs a reason for keeping them: "
                             + "; ".join(f.message_en for f in warnings[:5]), warnings)


def draft_findings(conn: Connection, draft_id: int) -> list[Finding]:
    """The validator's problems (planning.validate, when present) and the database's own checks."""
    out = list(_database_findings(conn, draft_id))
    try:
        validate = importlib.import_module("planning.validate").validate
    except ModuleNotFoundError as e:  # planning/validate.py is written beside this module
        if e.name != "planning.validate":
            raise
        return out
    # one problem once: the database's checks and the validator find the same overlap or invalid
    # polygon (the page counted 51 errors where its edit tab listed 22); the database's words kept
    seen = {(f.kind, tuple(sorted(f.codes))) for f in out}
    out += [Finding(p.kind, p.severity, tuple(p.codes), p.message_zh, p.message_en) for p in validate(conn, draft_id)
            if (p.kind, tuple(sorted(p.codes))) not in seen]
    return out


def _database_findings(conn: Connection, draft_id: int) -> list[Finding]:
    """What would break the database's rules (one polygon per point, codes never reused)."""
    out: list[Finding] = []
    for r in conn.execute(text("SELECT code, ST_IsValidReason(geom) AS why FROM boundary_draft_grid "
                               "WHERE draft_id = :d AND NOT retired AND NOT ST_IsValid(geom) ORDER BY code"),
                          {"d": draft_id}):
        out.append(Finding("invalid", "error", (r.code,), f"网格 {r.code} 图形无效：{r.why}",
                           f"grid {r.code} has an invalid polygon: {r.why}"))
    if out:
        return out  # the overlap tests below need valid polygons
    for r in conn.execute(text("""
        SELECT a.code AS a, b.code AS b, ST_Area(ST_Intersection(a.geom, b.geom)::geography) AS m2
        FROM boundary_draft_grid a JOIN boundary_draft_grid b
          ON b.draft_id = a.draft_id AND a.code < b.code AND ST_Intersects(a.geom, b.geom)
        WHERE a.draft_id = :d AND NOT a.retired AND NOT b.retired AND ST_Relate(a.geom, b.geom, '2********')
        ORDER BY 1, 2"""), {"d": draft_id}):
        if r.m2 > OVERLAP_NOISE_M2:
            out.append(Finding("overlap", "error", (r.a, r.b), f"网格 {r.a} 与 {r.b} 重叠 {r.m2:.2f} 平方米",
                               f"grids {r.a} and {r.b} overlap by {r.m2:.2f} m²"))
    for r in conn.execute(text("""
        SELECT d.code AS a, g.code AS b, ST_Area(ST_Intersection(d.geom, gv.geom)::geography) AS m2
        FROM boundary_draft_grid d
        JOIN grid_version gv ON gv.valid_to IS NULL AND ST_Intersects(gv.geom, d.geom)
        JOIN unit_grid g ON g.id = gv.grid_id
        WHERE d.draft_id = :d AND NOT d.retired AND ST_Relate(d.geom, gv.geom, '2********')
          AND NOT EXISTS (SELECT 1 FROM boundary_draft_grid x WHERE x.draft_id = :d AND x.code = g.code)
        ORDER BY 1, 2"""), {"d": draft_id}):
        if r.m2 > OVERLAP_NOISE_M2:
            out.append(Finding("overlap", "error", (r.a, r.b),
                               f"网格 {r.a} 与草稿范围外的现行网格 {r.b} 重叠 {r.m2:.2f} 平方米",
                               f"grid {r.a} overlaps live grid {r.b} (outside the draft) by {r.m2:.2f} m²"))
    for r in conn.execute(text("""
        SELECT d.code FROM boundary_draft_grid d JOIN unit_grid g ON g.code = d.code
        WHERE d.draft_id = :d AND (d.grid_id IS NULL OR d.grid_id <> g.id) ORDER BY 1"""), {"d": draft_id}):
        out.append(Finding("duplicate_code", "error", (r.code,), f"编码 {r.code} 已被使用（退役编码不得复用）",
                           f"code {r.code} is already used (a retired code is never reused)"))
    # a grid keeps its community (migration 0030): its code carries it, and the roll-ups' past
    # deltas stay under it; moving a grid gives it a new code there (edits.move_grid)
    for r in conn.execute(text("""
        SELECT d.code, c.code AS now_in, x.code AS draft_in FROM boundary_draft_grid d
        JOIN unit_grid g ON g.id = d.grid_id JOIN community c ON c.id = g.community_id
        JOIN community x ON x.id = d.community_id
        WHERE d.draft_id = :d AND d.community_id <> g.community_id ORDER BY 1"""), {"d": draft_id}):
        out.append(Finding("community_changed", "error", (r.code,),
                           f"网格 {r.code} 属于社区 {r.now_in}，不能原编码改属社区 {r.draft_in}（编码含社区；"
                           "改属须在新社区取新编码并退役原编码）",
                           f"grid {r.code} belongs to community {r.now_in} and cannot keep its code in community "
                           f"{r.draft_in} (a code carries its community: a moved grid gets a new code there and "
                           "this one is retired)"))
    for r in conn.execute(text("""
        SELECT d.code, d.responsibility_code FROM boundary_draft_grid d
        WHERE d.draft_id = :d AND NOT d.retired AND d.responsibility_code IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM boundary_draft_responsibility r
                          WHERE r.draft_id = :d AND r.code = d.responsibility_code)
          AND NOT EXISTS (SELECT 1 FROM responsibility_grid r WHERE r.code = d.responsibility_code)
        ORDER BY 1"""), {"d": draft_id}):
        out.append(Finding("unknown_responsibility", "error", (r.code,),
                           f"网格 {r.code} 的责任网格 {r.responsibility_code} 不存在",
                           f"grid {r.code} names responsibility grid {r.responsibility_code}, which does not exist"))
    return out


def scope_communities(conn: Connection, draft_id: int) -> list[int]:
    """The communities a draft touches: its scope (or its district's), and those its grids leave or join."""
    return list(conn.execute(text("""
        SELECT DISTINCT x.id FROM (
            SELECT unnest(b.scope_community_ids) AS id FROM boundary_draft b WHERE b.id = :d
            UNION ALL SELECT c.id FROM boundary_draft b JOIN subdistrict s ON s.district_id = b.district_id
                JOIN community c ON c.subdistrict_id = s.id WHERE b.id = :d AND b.scope_community_ids IS NULL
            UNION ALL SELECT community_id FROM boundary_draft_grid WHERE draft_id = :d
            UNION ALL SELECT g.community_id FROM boundary_draft_grid d JOIN unit_grid g ON g.id = d.grid_id
                WHERE d.draft_id = :d) x
        ORDER BY 1"""), {"d": draft_id}).scalars())


def check_conflict(conn: Connection, community_ids: list[int], *, base_change_id: int | None,
                   since: datetime, except_change: int | None = None) -> None:
    """Raise PublishConflict if a change over any of ``community_ids`` was published after
    ``base_change_id`` (or was scheduled before ``since`` and applied after it), or is scheduled
    and still waiting."""
    row = conn.execute(text("""
        SELECT bc.id, bc.status, COALESCE(bc.applied_at, bc.effective_at) AS at,
               COALESCE(p.full_name, '(' || bc.kind || ')') AS by,
               ARRAY(SELECT c.code FROM community c WHERE c.id = ANY(t.ids) AND c.id = ANY(:comms) ORDER BY c.code)
                 AS codes
        FROM boundary_change bc
        LEFT JOIN person p ON p.id = bc.created_by
        CROSS JOIN LATERAL (SELECT COALESCE(bc.community_ids, ARRAY(
            SELECT DISTINCT g.community_id FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
            WHERE gv.change_id = bc.id)) AS ids) t
        WHERE (bc.status = 'scheduled'
               OR (bc.status = 'applied' AND (bc.id > COALESCE(:base, 0)
                                              -- scheduled before the draft began, applied since
                                              OR (bc.created_at <= :since AND bc.applied_at > :since))))
          AND t.ids && CAST(:comms AS integer[]) AND bc.id IS DISTINCT FROM :self
        ORDER BY bc.id LIMIT 1"""), {"comms": community_ids, "base": base_change_id, "since": since,
                                     "self": except_change}).one_or_none()
    if row is not None:
        raise PublishConflict(change_id=row.id, by=row.by, at=row.at, status=row.status,
                              community_codes=list(row.codes))
