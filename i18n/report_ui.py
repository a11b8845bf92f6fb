"""Texts of the grid worker's phone page and the public report and status pages: key →
(简体中文, English). Importing this module adds them to ``i18n.messages.MESSAGES`` (never
replacing a key that is already there)."""
from __future__ import annotations

from i18n.messages import MESSAGES

REPORT_UI: dict[str, tuple[str, str]] = {
    # shared by the report forms
    "rp.category": ("问题类别", "Category"),
    "rp.description": ("问题描述", "Description"),
    "rp.photo_camera": ("拍照", "Take a photo"),
    "rp.photo_file": ("或选择照片文件", "or choose a photo file"),
    "rp.where": ("位置", "Location"),
    "rp.where.phone": ("手机定位", "Phone location"),
    "rp.where.map": ("在地图上选网格", "Pick a grid on the map"),
    "rp.where.typed": ("输入经纬度", "Type longitude / latitude"),
    "rp.locate": ("获取手机定位", "Use my phone's location"),
    "rp.locating": ("正在定位…（请允许浏览器使用位置）", "Locating… (allow the browser to use your location)"),
    "rp.geo_denied": ("无法获取定位：{why}。请在地图上选网格或输入经纬度。",
                      "No location from the phone: {why}. Pick a grid on the map or type the coordinates."),
    "rp.fix": ("定位 {lon:.6f}, {lat:.6f}，精度 ±{acc:.0f} 米", "Position {lon:.6f}, {lat:.6f}, accuracy ±{acc:.0f} m"),
    "rp.fix_poor": ("定位精度 ±{acc:.0f} 米，低于要求（±{limit:.0f} 米以内），可能落入相邻网格：请到开阔处重试，或在地图上选网格。",
                    "Accuracy ±{acc:.0f} m is worse than the required ±{limit:.0f} m and may fall into a neighbouring "
                    "grid: retry in the open or pick a grid on the map."),
    "rp.fix_poor_ok": ("仍按此定位上报", "Report with this position anyway"),
    "rp.map_hint": ("点选问题所在的网格（以网格内一点为位置）。", "Tap the grid the problem is in (a point inside it is used)."),
    "rp.picked": ("已选网格 {code} {name}", "Grid {code} {name} picked"),
    "rp.lon": ("经度（WGS-84）", "Longitude (WGS-84)"),
    "rp.lat": ("纬度（WGS-84）", "Latitude (WGS-84)"),
    "rp.no_place": ("请先确定位置。", "Set the location first."),
    "rp.no_category": ("请选择问题类别。", "Choose a category."),
    "rp.submit": ("上报", "Report"),
    "rp.self_handle": ("自行处置（已现场解决）", "Resolve on the spot (already fixed)"),
    "rp.after_photo": ("处置后照片", "Photo after the fix"),
    "rp.after_file": ("或选择处置后照片文件", "or choose the after photo file"),
    "rp.need_after": ("自行处置须上传处置后照片。", "Resolving on the spot needs an after photo."),
    "rp.done": ("已上报，案件编号 {no}。", "Reported as case {no}."),
    "rp.done_self": ("已自行处置并结案，案件编号 {no}。", "Resolved on the spot and closed as case {no}."),
    "rp.outside": ("该位置不在本区网格内，已登记为辖区外案件。", "The location is outside the district's grids: recorded as outside the jurisdiction."),
    "rp.mine": ("我的上报（近 {days} 天）", "My reports (last {days} days)"),
    "rp.mine_empty": ("近期没有上报。", "No reports lately."),
    "rp.col.case_no": ("案件编号", "Case no."),
    "rp.col.category": ("类别", "Category"),
    "rp.col.status": ("状态", "State"),
    "rp.col.reported_at": ("上报时间", "Reported"),
    "rp.col.due_at": ("处置时限", "Deadline"),
    "rp.col.self_handled": ("自行处置", "On the spot"),
    "rp.refused": ("未能上报：{why}", "Not reported: {why}"),
    # public pages
    "pub.heading": ("市民上报", "Report a problem"),
    "pub.intro": ("无需登录。提交后会得到案件编号和一个私人进度链接，请妥善保存。",
                  "No sign-in needed. You get a case number and a private progress link: keep it."),
    "pub.done": ("已受理，案件编号 {no}。", "Received as case {no}."),
    "pub.outside": ("您标注的位置不在本区范围内，案件已登记为辖区外，可能转交其他单位处理。如位置有误，请重新标注后再次上报。",
                    "The place you marked is outside this district: the case is recorded as outside the jurisdiction "
                    "and may be passed to another authority. If the place is wrong, mark it again and report again."),
    "pub.link": ("进度链接（请保存，仅凭此链接查看）：", "Your progress link (keep it; it is the only way in):"),
    "pub.slow_down": ("提交过于频繁，请 {s} 秒后再试。", "Too many submissions; try again in {s} s."),
    "st.heading": ("办理进度", "Case progress"),
    "st.unknown": ("链接无效或已失效。", "This link is not valid."),
    "st.case": ("案件编号 {no} · {cat}", "Case {no} · {cat}"),
    "st.state": ("当前状态", "State"),
    "st.reported": ("上报时间", "Reported"),
    "st.ended": ("办结时间", "Finished"),
    "st.history": ("办理经过", "Steps"),
    "st.col.at": ("时间", "When"),
    "st.col.step": ("环节", "Step"),
    "st.col.status": ("状态", "State"),
    "st.rate": ("您对办理结果是否满意？", "Are you satisfied with the result?"),
    "st.rating.satisfied": ("满意", "Satisfied"),
    "st.rating.basically_satisfied": ("基本满意", "Mostly satisfied"),
    "st.rating.unsatisfied": ("不满意", "Unsatisfied"),
    "st.comment": ("意见（可选）", "Comment (optional)"),
    "st.reopen": ("申请重新核查（仅不满意时）", "Ask for the case to be checked again (unsatisfied only)"),
    "st.send": ("提交评价", "Send"),
    "st.thanks": ("感谢您的评价。", "Thank you for your answer."),
    "st.rated": ("您的评价：{rating}（{at}）", "Your answer: {rating} ({at})"),
    "st.reopen_pending": ("重新核查申请已提交，等待工作人员处理。", "Your request for a second look waits for a dispatcher."),
    "st.reopen_decided": ("重新核查申请已处理。", "Your request for a second look has been decided."),
}

for _k, _v in REPORT_UI.items():
    MESSAGES.setdefault(_k, _v)
