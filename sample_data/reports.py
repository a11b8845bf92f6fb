"""Raw case reports (上报) for the sample history: pure and seeded, no database.

Two months of reports as they arrive: where (denser in the built-up subdistricts, a few
busy communities, about 0.5% just outside the district), when (working hours for grid workers,
evenings too for the public), through which channel (grid workers' phones most, then the hotline,
WeChat and the website), what (categories weighted like a city's real mix) and in which
coordinate system (phones and the hotline's map in WGS-84, web-map pickers in GCJ-02).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import shapely

from dispatch.calendar import TZ
from gis.crs import GCJ02, WGS84, from_wgs84, to_wgs84
from sample_data import names, texts
from sample_data.generate import SampleDistrict

DAYS = 61
OUTSIDE_SHARE = 0.005

CHANNEL_SHARE = {"grid_worker": 0.66, "hotline": 0.15, "wechat": 0.13, "website": 0.06}
GCJ02_SHARE = {"grid_worker": 0.0, "hotline": 0.0, "wechat": 0.85, "website": 0.5}
PHOTO_SHARE = {"grid_worker": 1.0, "hotline": 0.0, "wechat": 0.6, "website": 0.3}

# Relative frequency of each category (codes of db/reference.py), a city's typical mix:
# streetscape and street order dominate, emergencies are rare.
CATEGORY_WEIGHT = {
    "0101": 4, "0102": 14, "0103": 8, "0104": 2, "0105": 1.5, "0201": 9, "0202": 2, "0301": 2,
    "0302": 1.5, "0303": 1.5, "0401": 10, "0402": 9, "0403": 5, "0501": 0.6, "0502": 0.2,
    "0503": 0.2, "1101": 3, "1102": 4, "1103": 1, "1201": 3, "1202": 1, "1301": 2.5, "1302": 1,
    "1401": 1.5, "1402": 0.8, "1501": 0.3, "1601": 1.5, "2101": 3, "2102": 2.5, "2201": 2,
    "2202": 0.8, "2301": 1, "2302": 1.2,
}
# The public calls about disputes, hazards and services more than patrols find them.
_CHANNEL_BOOST = {"hotline": {"21": 3.0, "22": 2.0, "23": 4.0, "03": 2.5},
                  "wechat": {"21": 1.5, "03": 2.0, "04": 1.5},
                  "website": {"21": 1.5, "23": 2.0}}

# Hour-of-day profiles (Asia/Shanghai): patrols in working hours, the public also in evenings.
_HOURS = {
    "grid_worker": [0, 0, 0, 0, 0, 0, 0.2, 1, 5, 9, 9, 7, 1.5, 3, 8, 9, 8, 4, 0.6, 0.2, 0, 0, 0, 0],
    "hotline": [0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 1, 3, 6, 8, 8, 6, 4, 5, 7, 7, 6, 5, 4, 4, 3, 2, 1, 0.4],
    "wechat": [0.5, 0.2, 0.1, 0.1, 0.1, 0.3, 1, 3, 4, 5, 5, 4, 5, 4, 4, 4, 4, 5, 6, 7, 7, 5, 3, 1],
    "website": [0.4, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 2, 4, 5, 5, 4, 4, 4, 5, 5, 4, 3, 3, 3, 3, 2, 1, 0.6],
}
_WEEKEND = {"grid_worker": 0.45, "hotline": 0.9, "wechat": 1.1, "website": 0.8}
# Reports per unit of area: built-up communities, towns of the agricultural subdistricts, villages.
_DENSITY = {"urban": 1.0, "agri_community": 0.3, "village": 0.06}


@dataclass
class Reports:
    """Column arrays of the reports, in the order they arrived."""
    channel: list[str]
    category_code: list[str]
    description: list[str]
    address: list[str | None]
    reporter_name: list[str | None]
    reporter_phone: list[str | None]
    reporter_username: list[str | None]
    photo_ref: list[str | None]
    received_x: np.ndarray
    received_y: np.ndarray
    received_crs: list[str]
    lon: np.ndarray
    lat: np.ndarray
    reported_at: np.ndarray  # datetime64[us], UTC
    outside: np.ndarray  # generated outside the district on purpose

    def __len__(self) -> int:
        return len(self.channel)


def generate_reports(district: SampleDistrict, n: int, *, seed: int, until: datetime) -> Reports:
    """``n`` raw reports spread over the 61 days before ``until`` (an aware datetime)."""
    rng = np.random.default_rng([seed, 4011])
    chans = list(CHANNEL_SHARE)
    channel = rng.choice(len(chans), n, p=np.array(list(CHANNEL_SHARE.values())) / sum(CHANNEL_SHARE.values()))
    n_out = int(round(n * OUTSIDE_SHARE))
    outside = np.zeros(n, bool)
    outside[rng.choice(n, n_out, replace=False)] = True

    cell, lon, lat = _points_inside(district, rng, n)
    olon, olat = _points_outside(district, rng, n_out)
    lon[outside], lat[outside] = olon, olat
    cell[outside] = -1

    when = _times(rng, channel, chans, until)
    order = np.argsort(when, kind="stable")

    # per grid: its place name, address prefix and grid workers
    comm_by_code = {c.code: c for c in district.communities}
    sub_by_code = {s.code: s for s in district.subdistricts}
    workers_by_resp: dict[str, list[str]] = {}
    for w in district.workers:
        workers_by_resp.setdefault(w.responsibility_code, []).append(w.username)
    grid_info = []
    for g in district.grids:
        comm = comm_by_code[g.community_code]
        grid_info.append((comm.name, f"{district.name}{sub_by_code[comm.subdistrict_code].name}",
                          names.RURAL_PLACES if comm.kind == "village" else names.URBAN_PLACES,
                          workers_by_resp[g.responsibility_code]))
    grid_info.append(("辖区边界附近", None, ("",), [w.username for w in district.workers]))  # outside
    citizens = _citizens(rng, 400)

    # every random draw is vectorised, then the strings are built in one pass per column
    cats = np.array(list(CATEGORY_WEIGHT))
    cat = np.empty(n, dtype=object)
    for ci, ch in enumerate(chans):
        idx = np.flatnonzero(channel == ci)
        w = np.array([CATEGORY_WEIGHT[c] * _CHANNEL_BOOST.get(ch, {}).get(c[:2], 1.0) for c in cats])
        cat[idx] = cats[rng.choice(len(cats), len(idx), p=w / w.sum())]
    pick_template, pick_spot, pick_worker = rng.random((3, n))
    number = rng.integers(1, 6, n)
    anonymous = rng.random(n) < 0.3
    citizen = rng.integers(len(citizens), size=n)
    phone_a, phone_b, phone_c = rng.integers(3, 10, n), rng.integers(0, 10, n), rng.integers(0, 10000, n)
    gcj = rng.random(n) < np.array([GCJ02_SHARE[c] for c in chans])[channel]
    photo = rng.random(n) < np.array([PHOTO_SHARE[c] for c in chans])[channel]

    grid_of = np.where(cell >= 0, district.cell_grid[np.maximum(cell, 0)], len(district.grids))[order].tolist()
    chan = np.array(chans, dtype=object)[channel][order].tolist()
    cat_o = cat[order].tolist()
    info = [grid_info[g] for g in grid_of]
    spot = (pick_spot[order] * 1e6).astype(np.int64).tolist()
    places = [i[0] + i[2][sp % len(i[2])] for i, sp in zip(info, spot)]
    tpl = pick_template[order].tolist()
    num = number[order].tolist()
    description = [texts.DESCRIPTIONS[c][int(t * len(texts.DESCRIPTIONS[c]))].format(place=pl, n=k)
                   for c, t, pl, k in zip(cat_o, tpl, places, num)]
    address = [None if i[1] is None else i[1] + pl for i, pl in zip(info, places)]
    pw = pick_worker[order].tolist()
    is_gw = [c == "grid_worker" for c in chan]
    reporter_username = [i[3][int(p * len(i[3]))] if g else None for i, p, g in zip(info, pw, is_gw)]
    anon = anonymous[order].tolist()
    reporter_name = [None if g else ("匿名" if a else citizens[k]) for g, a, k in zip(is_gw, anon, citizen[order].tolist())]
    reporter_phone = [None if g or a else f"1{x}{y}****{z:04d}" for g, a, x, y, z in
                      zip(is_gw, anon, phone_a[order].tolist(), phone_b[order].tolist(), phone_c[order].tolist())]
    photo_o = photo[order]
    photo_ref = [f"sample/photo/{k + 1:07d}.jpg" if ph else None for k, ph in enumerate(photo_o.tolist())]

    lon_o, lat_o = lon[order], lat[order]
    rx, ry = lon_o.copy(), lat_o.copy()
    slon, slat = lon_o.copy(), lat_o.copy()
    gcj_o = gcj[order]
    for k in np.flatnonzero(gcj_o).tolist():
        # what the web map sent (GCJ-02), and what the platform stores: its conversion back
        x, y = from_wgs84(float(lon_o[k]), float(lat_o[k]), GCJ02)
        rx[k], ry[k] = x, y
        slon[k], slat[k] = to_wgs84(x, y, GCJ02)
    received_crs = np.where(gcj_o, GCJ02, WGS84).tolist()
    return Reports(chan, cat_o, description, address, reporter_name, reporter_phone, reporter_username, photo_ref,
                   rx, ry, received_crs, slon, slat, when[order], outside[order])


def _points_inside(district: SampleDistrict, rng: np.random.Generator, n: int):
    """A lattice cell per report, weighted by how built-up and how busy its place is, and a
    uniform point inside that cell (bilinear, kept off the cell's edges)."""
    kind = {}
    for c in district.communities:
        agri = next(s.is_agricultural for s in district.subdistricts if s.code == c.subdistrict_code)
        kind[c.code] = "village" if c.kind == "village" else ("agri_community" if agri else "urban")
    busy_comm = {c.code: rng.lognormal(0, 0.5) for c in district.communities}
    grid_w = np.array([_DENSITY[kind[g.community_code]] * busy_comm[g.community_code] * rng.lognormal(0, 0.6)
                       for g in district.grids])
    w = grid_w[district.cell_grid]
    cell = rng.choice(len(w), n, p=w / w.sum())
    u, v = rng.uniform(0.05, 0.95, (2, n))
    q = district.cell_corners[cell]  # (n, 4, 2): sw, se, ne, nw
    pts = ((1 - u) * (1 - v))[:, None] * q[:, 0] + (u * (1 - v))[:, None] * q[:, 1] \
        + (u * v)[:, None] * q[:, 2] + ((1 - u) * v)[:, None] * q[:, 3]
    return cell, pts[:, 0].copy(), pts[:, 1].copy()


def _points_outside(district: SampleDistrict, rng: np.random.Generator, n: int):
    """Points within about 2 km outside the outline: mis-placed map picks and GPS drift."""
    ring = district.outline.buffer(0.025).difference(district.outline)
    x0, y0, x1, y1 = ring.bounds
    xs, ys = np.empty(0), np.empty(0)
    while len(xs) < n:
        x, y = rng.uniform(x0, x1, 4 * n + 8), rng.uniform(y0, y1, 4 * n + 8)
        keep = shapely.contains_xy(ring, x, y)
        xs, ys = np.concatenate([xs, x[keep]]), np.concatenate([ys, y[keep]])
    return xs[:n], ys[:n]


def _times(rng: np.random.Generator, channel: np.ndarray, chans: list[str], until: datetime) -> np.ndarray:
    """Report times (datetime64[us], UTC) over the 61 calendar days ending at ``until``, none
    after it: a day (weekday/weekend and slow growth weights), an hour by channel, a second."""
    end = np.datetime64(until.astimezone(timezone.utc).replace(tzinfo=None), "us")
    local_end = until.astimezone(TZ)
    first_day = (local_end - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    # local midnight of each day, as UTC instants (Asia/Shanghai has no DST: a fixed +08:00)
    midnights = np.array([np.datetime64((first_day + timedelta(days=d)).astimezone(timezone.utc).replace(tzinfo=None), "us")
                          for d in range(DAYS)])
    weekend = np.array([(first_day + timedelta(days=d)).weekday() >= 5 for d in range(DAYS)])
    out = np.empty(len(channel), dtype="datetime64[us]")
    for ci, ch in enumerate(chans):
        dw = (1 + 0.3 * np.arange(DAYS) / DAYS) * np.where(weekend, _WEEKEND[ch], 1.0)
        hw = np.array(_HOURS[ch], float)
        todo = np.flatnonzero(channel == ci)
        while len(todo):
            day = rng.choice(DAYS, len(todo), p=dw / dw.sum())
            secs = rng.choice(24, len(todo), p=hw / hw.sum()) * 3600 + rng.integers(0, 3600, len(todo))
            t = midnights[day] + secs.astype("timedelta64[s]")
            ok = t <= end
            out[todo[ok]] = t[ok]
            todo = todo[~ok]
    return out


def _citizens(rng: np.random.Generator, n: int) -> list[str]:
    from sample_data.generate import _person_names

    return _person_names(rng, n)
