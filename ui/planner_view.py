"""What the planner's page (pages/planner.py) needs beyond the planning services: the choices its
forms offer (districts, communities, grid workers), the editor's texts, and tables for display.
No Streamlit state of its own."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from db.models import BoundaryDraft, BoundaryDraftResponsibility, Community, District, Person, Subdistrict
from i18n import t
from i18n.planner_ui import EDITOR_TEXTS


def districts(conn: Connection, lang: str) -> list[tuple[str, str]]:
    """(code, label) of every district, in code order."""
    rows = conn.execute(select(District.code, District.name, District.name_en).order_by(District.code)).all()
    return [(r.code, f"{r.code} {r.name_en or r.name if lang == 'en' else r.name}") for r in rows]


def communities(conn: Connection, lang: str, district_code: str | None = None) -> list[tuple[str, str]]:
    """(code, label) of the communities (of one district), in code order."""
    q = (select(Community.code, Community.name, Community.name_en)
         .join(Subdistrict, Subdistrict.id == Community.subdistrict_id)
         .join(District, District.id == Subdistrict.district_id).order_by(Community.code))
    if district_code is not None:
        q = q.where(District.code == district_code)
    return [(r.code, f"{r.code} {r.name_en or r.name if lang == 'en' else r.name}") for r in conn.execute(q).all()]


def grid_workers(conn: Connection) -> list[tuple[int, str]]:
    """(person id, label) of every active grid worker."""
    q = (select(Person.id, Person.full_name, Person.username).where(Person.role == "grid_worker")
         .where(Person.active.is_(True)).order_by(Person.full_name, Person.id))
    return [(r.id, f"{r.full_name} ({r.username})") for r in conn.execute(q).all()]


def draft_communities(conn: Connection, draft_id: int, lang: str) -> list[tuple[str, str]]:
    """(code, label) of the communities of the draft's district (a grid may move to any)."""
    code = conn.execute(select(District.code).join(BoundaryDraft, BoundaryDraft.district_id == District.id)
                        .where(BoundaryDraft.id == draft_id)).scalar_one_or_none()
    return communities(conn, lang, code) if code else []


def draft_responsibilities(conn: Connection, draft_id: int) -> list[dict]:
    """The draft's responsibility grids: code, name, community code, worker ids."""
    q = (select(BoundaryDraftResponsibility.code, BoundaryDraftResponsibility.name,
                BoundaryDraftResponsibility.person_ids, Community.code.label("community_code"))
         .join(Community, Community.id == BoundaryDraftResponsibility.community_id)
         .where(BoundaryDraftResponsibility.draft_id == draft_id).order_by(BoundaryDraftResponsibility.code))
    return [dict(r._mapping) for r in conn.execute(q).all()]


def editor_texts(lang: str) -> dict[str, str]:
    """The editor's own words (its mode label, hints, buttons) in ``lang``."""
    return {k.removeprefix("pl.ed."): t(k, lang) for k in EDITOR_TEXTS}


def context_in(context: dict, lang: str) -> dict:
    """``planning.drafts.context_geojson`` with each area's name in ``lang``."""
    if lang != "en":
        return context
    feats = []
    for f in context.get("features", []):
        p = f.get("properties") or {}
        if p.get("name_en"):
            f = {**f, "properties": {**p, "name": p["name_en"]}}
        feats.append(f)
    return {**context, "features": feats}


def grid_codes(fc: dict, *, live_only: bool = True) -> list[str]:
    return [f["properties"]["code"] for f in fc.get("features", [])
            if not live_only or f["properties"].get("change") != "retired"]


def grid_props(fc: dict, code: str | None) -> dict | None:
    return next((f["properties"] for f in fc.get("features", []) if f["properties"].get("code") == code), None)


def feature_of(fc: dict, code: str) -> dict | None:
    return next((f["geometry"] for f in fc.get("features", []) if f["properties"].get("code") == code), None)
