"""What the planner's page (pages/planner.py) needs beyond the planning services: the choices its
forms offer (districts, communities, grid workers), the editor's texts, tables for display, and
the page's reads and writes (each through the planning services, on the app's engine), so the page
only lays out widgets. No Streamlit state of its own."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.engine import Connection

from db.config import intake_port, tiles_path, tiles_url
from db.models import BoundaryDraft, BoundaryDraftResponsibility, Community, District, Person, Subdistrict
from gis.text import in_lang
from i18n import t
from i18n.planner_ui import EDITOR_TEXTS
from intake.tiles import TilesError, open_tiles
from planning import drafts, history, impact as impact_mod, layers as layers_mod, publish as publish_mod
from planning.drafts import DraftSummary
from planning.layers import ReferenceLayer
from planning.publish import PublishResult
from planning.validate import Problem, validate
from ui import kit


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


# --- the city's own base map ----------------------------------------------------------------------

def tile_url_template(browser_url: str | None) -> str:
    """Where the browser fetches tiles: ``GRIDGOV_TILES_URL`` if set, else the intake service's
    port on the host the browser reached this app by (``st.context.url``), else localhost. The
    intake service speaks plain HTTP: behind a TLS proxy, set ``GRIDGOV_TILES_URL``."""
    configured = tiles_url()
    if configured:
        return configured
    parts = urlsplit(browser_url or "")
    host = parts.hostname or "127.0.0.1"
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{intake_port()}/tiles/{{z}}/{{x}}/{{y}}.png"


@lru_cache(maxsize=4)
def _tile_info(path: str, mtime: float):
    return open_tiles(Path(path)).info


def base_map(browser_url: str | None) -> tuple[dict | None, str | None]:
    """The editor's ``tiles`` argument (None without ``GRIDGOV_TILES``) and, when the configured
    source cannot be served, why (the page shows it; the map stays blank)."""
    path = tiles_path()
    if path is None:
        return None, None
    try:
        info = _tile_info(str(path), path.stat().st_mtime if path.exists() else 0.0)
    except (TilesError, OSError) as e:
        return None, in_lang(e, kit.lang())
    return {"url": tile_url_template(browser_url), "min_zoom": info.min_zoom, "max_zoom": info.max_zoom,
            "attribution": info.attribution}, None


# --- the page's reads and writes ------------------------------------------------------------------
# Each is one connection (a read) or one transaction (a change) on the app's engine; a refused
# change raises the service's own error (EditError, PublishRefused, PublishConflict) with nothing
# written, and the page shows it.

@dataclass(frozen=True)
class EditView:
    """What the edit tab draws for one draft."""
    grids: dict
    context: dict
    problems: list[Problem]
    communities: list[tuple[str, str]]
    responsibilities: list[dict]
    workers: list[tuple[int, str]]
    layers: list[ReferenceLayer]


def open_drafts(lang: str) -> tuple[list[DraftSummary], list[tuple[str, str]]]:
    """The open drafts and the (code, label) of every district, for the sidebar."""
    with kit.engine().connect() as conn:
        return drafts.list_drafts(conn, status="open"), districts(conn, lang)


def district_communities(lang: str, district_code: str | None) -> list[tuple[str, str]]:
    """``communities`` of one district on a connection of its own."""
    with kit.engine().connect() as conn:
        return communities(conn, lang, district_code)


def create_draft(**kw) -> int:
    """``planning.drafts.create_draft`` in its own transaction; the new draft's id."""
    with kit.engine().begin() as conn:
        return drafts.create_draft(conn, **kw)


def abandon(draft_id: int, *, actor_id: int | None) -> None:
    with kit.engine().begin() as conn:
        drafts.abandon(conn, draft_id, actor_id=actor_id)


def edit_view(draft_id: int, lang: str) -> EditView:
    """The draft's grids, the context around them, its problems and the choices its forms offer."""
    with kit.engine().connect() as conn:
        return EditView(
            grids=drafts.draft_geojson(conn, draft_id),
            context=context_in(drafts.context_geojson(conn, draft_id), lang),
            problems=validate(conn, draft_id),
            communities=draft_communities(conn, draft_id, lang),
            responsibilities=draft_responsibilities(conn, draft_id),
            workers=grid_workers(conn),
            layers=layers_mod.list_layers(conn, draft_id))


def apply_edit(draft_id: int, op: dict, *, actor_id: int | None) -> drafts.EditResult:
    """One edit in its own transaction; a refused edit (EditError) leaves nothing written."""
    with kit.engine().begin() as conn:
        return drafts.apply_edit(conn, draft_id, op, actor_id=actor_id)


def undo(draft_id: int, *, actor_id: int | None) -> drafts.EditResult:
    with kit.engine().begin() as conn:
        return drafts.undo(conn, draft_id, actor_id=actor_id)


def reference_geojson(layer_id: int, name: str) -> dict:
    """A reference layer for the map, with its name."""
    with kit.engine().connect() as conn:
        return {**layers_mod.layer_geojson(conn, layer_id), "name": name}


def set_reference_shown(draft_id: int, layer_id: int, shown: bool) -> None:
    with kit.engine().begin() as conn:
        layers_mod.set_shown(conn, draft_id, layer_id, shown)


def remove_reference(draft_id: int, layer_id: int) -> None:
    with kit.engine().begin() as conn:
        layers_mod.remove_layer(conn, draft_id, layer_id)


def load_reference(draft_id: int, path: Path, **kw) -> ReferenceLayer:
    """``planning.layers.load_layer`` in its own transaction."""
    with kit.engine().begin() as conn:
        return layers_mod.load_layer(conn, draft_id, path, **kw)


def impact(draft_id: int) -> impact_mod.Impact:
    with kit.engine().connect() as conn:
        return impact_mod.impact(conn, draft_id)


def publish(draft_id: int, **kw) -> PublishResult:
    """``planning.publish.publish`` in its own transaction (PublishRefused, PublishConflict)."""
    with kit.engine().begin() as conn:
        return publish_mod.publish(conn, draft_id, **kw)


def changes() -> list[history.ChangeSummary]:
    with kit.engine().connect() as conn:
        return history.list_changes(conn)


def compare(change_a: int, change_b: int) -> dict:
    with kit.engine().connect() as conn:
        return history.compare(conn, change_a, change_b)


def export_version(path: Path, change_id: int) -> int:
    """The grids of a version written to a GeoPackage at ``path``; how many."""
    with kit.engine().connect() as conn:
        return history.export_version(conn, path, change_id=change_id)


def rollback(change_id: int, *, actor_id: int | None, reason: str) -> PublishResult:
    with kit.engine().begin() as conn:
        return history.rollback(conn, change_id, actor_id=actor_id, reason=reason)
