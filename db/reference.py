"""Reference data every installation starts with: departments and case categories.

Categories follow CJ/T 214 / GB/T 30428.2: 2-digit major + 2-digit minor code (docs/domain.md).
``limit`` is the suggested disposal time limit (value, unit); migration 0002 wrote a frozen copy
of these limits into ``time_limit_policy`` at every level, and that editable table is what the
lifecycle reads. A category added here later needs its limits added to the table too.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from db.models import CaseCategory, Department

# (code, name, name_en)
DEPARTMENTS: list[tuple[str, str, str]] = [
    ("CGZF", "城管执法局", "Urban Management Enforcement"),
    ("SCJG", "市场监管局", "Market Regulation"),
    ("HWC", "环卫处", "Sanitation"),
    ("ZJJ", "住建局", "Housing and Construction"),
    ("GAJ", "公安分局", "Public Security"),
    ("MZJ", "民政局", "Civil Affairs"),
    ("YJJ", "应急管理局", "Emergency Management"),
    ("SWJ", "水务局", "Water Affairs"),
    ("YLJ", "园林处", "Parks and Greenery"),
    ("JTJ", "交通运输局", "Transport"),
    ("HBJ", "生态环境分局", "Ecology and Environment"),
    ("GDGS", "供电公司", "Power Supply Company"),
]

# (code, kind, major_name, major_name_en, name, name_en, dept code, default level, emergency, limit)
CATEGORIES: list[tuple] = [
    # events 事件
    ("0101", "event", "市容环境", "Streetscape and sanitation", "私搭乱建", "Illegal construction", "CGZF", "subdistrict", False, (20, "working_days")),
    ("0102", "event", "市容环境", "Streetscape and sanitation", "暴露垃圾", "Exposed garbage", "HWC", "grid", False, (4, "working_hours")),
    ("0103", "event", "市容环境", "Streetscape and sanitation", "道路不洁", "Dirty road", "HWC", "grid", False, (2, "working_hours")),
    ("0104", "event", "市容环境", "Streetscape and sanitation", "道路积水", "Standing water on road", "SWJ", "community", False, (4, "working_hours")),
    ("0105", "event", "市容环境", "Streetscape and sanitation", "焚烧垃圾", "Burning rubbish", "HBJ", "community", False, (4, "working_hours")),
    ("0201", "event", "宣传广告", "Advertising", "非法小广告", "Illegal flyers", "CGZF", "grid", False, (1, "working_days")),
    ("0202", "event", "宣传广告", "Advertising", "违规户外广告", "Illegal billboard", "CGZF", "community", False, (5, "working_days")),
    ("0301", "event", "施工管理", "Construction", "施工扰民", "Construction noise", "ZJJ", "community", False, (1, "working_days")),
    ("0302", "event", "施工管理", "Construction", "工地扬尘", "Construction dust", "ZJJ", "community", False, (1, "working_days")),
    ("0303", "event", "施工管理", "Construction", "渣土遗撒", "Spilled muck", "CGZF", "community", False, (4, "working_hours")),
    ("0401", "event", "街面秩序", "Street order", "占道经营", "Street vending on road", "CGZF", "grid", False, (4, "working_hours")),
    ("0402", "event", "街面秩序", "Street order", "乱停车", "Illegal parking", "GAJ", "grid", False, (4, "working_hours")),
    ("0403", "event", "街面秩序", "Street order", "店外经营", "Business outside shopfront", "SCJG", "grid", False, (1, "working_days")),
    ("0501", "event", "突发事件", "Emergencies", "火灾隐患", "Fire hazard", "YJJ", "district", True, (2, "working_hours")),
    ("0502", "event", "突发事件", "Emergencies", "燃气泄漏", "Gas leak", "YJJ", "district", True, (1, "working_hours")),
    ("0503", "event", "突发事件", "Emergencies", "路面塌陷", "Road collapse", "ZJJ", "district", True, (2, "working_hours")),
    # components 部件
    ("1101", "component", "公用设施", "Utilities", "井盖缺损", "Damaged manhole cover", "SWJ", "community", False, (4, "working_hours")),
    ("1102", "component", "公用设施", "Utilities", "路灯不亮", "Street light out", "GDGS", "community", False, (3, "working_days")),
    ("1103", "component", "公用设施", "Utilities", "供水管道破损", "Burst water pipe", "SWJ", "subdistrict", False, (8, "working_hours")),
    ("1201", "component", "道路交通", "Roads and traffic", "道路破损", "Damaged road surface", "JTJ", "subdistrict", False, (5, "working_days")),
    ("1202", "component", "道路交通", "Roads and traffic", "交通标志损坏", "Damaged traffic sign", "GAJ", "subdistrict", False, (3, "working_days")),
    ("1301", "component", "市容环境", "Streetscape and sanitation", "垃圾箱破损", "Damaged litter bin", "HWC", "grid", False, (2, "working_days")),
    ("1302", "component", "市容环境", "Streetscape and sanitation", "公厕设施损坏", "Damaged public toilet", "HWC", "community", False, (2, "working_days")),
    ("1401", "component", "园林绿化", "Greenery", "绿地破坏", "Damaged green space", "YLJ", "community", False, (3, "working_days")),
    ("1402", "component", "园林绿化", "Greenery", "树木倒伏", "Fallen tree", "YLJ", "community", False, (4, "working_hours")),
    ("1501", "component", "房屋土地", "Buildings and land", "危房", "Dangerous building", "ZJJ", "district", False, (7, "working_days")),
    ("1601", "component", "其他", "Other", "其他设施损坏", "Other damaged facility", "ZJJ", "community", False, (5, "working_days")),
    # social governance 社会治理
    ("2101", "social", "矛盾纠纷", "Disputes", "邻里纠纷", "Neighbour dispute", "MZJ", "community", False, (3, "working_days")),
    ("2102", "social", "矛盾纠纷", "Disputes", "物业纠纷", "Property management dispute", "ZJJ", "community", False, (5, "working_days")),
    ("2201", "social", "安全隐患", "Safety hazards", "消防通道堵塞", "Blocked fire lane", "YJJ", "community", False, (4, "working_hours")),
    ("2202", "social", "安全隐患", "Safety hazards", "食品安全隐患", "Food safety hazard", "SCJG", "subdistrict", False, (1, "working_days")),
    ("2301", "social", "民生服务", "Services for residents", "低保申请", "Subsistence allowance application", "MZJ", "subdistrict", False, (19, "working_days")),
    ("2302", "social", "民生服务", "Services for residents", "证件代办", "Certificate errand", "MZJ", "community", False, (5, "working_days")),
]


def seed_reference(conn: Connection) -> None:
    """Insert departments and categories; existing rows are left as they are (idempotent)."""
    conn.execute(insert(Department).values([{"code": c, "name": n, "name_en": e} for c, n, e in DEPARTMENTS])
                 .on_conflict_do_nothing(index_elements=[Department.code]))
    dept_ids = dict(conn.execute(select(Department.code, Department.id)).all())
    conn.execute(insert(CaseCategory).values([
        {"code": c[0], "kind": c[1], "major_code": c[0][:2], "major_name": c[2], "major_name_en": c[3],
         "name": c[4], "name_en": c[5], "default_department_id": dept_ids[c[6]], "default_level": c[7],
         "is_emergency": c[8]}
        for c in CATEGORIES if c[6] in dept_ids  # no department row, no category
    ]).on_conflict_do_nothing(index_elements=[CaseCategory.code]))
