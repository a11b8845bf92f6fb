"""What a person sees at a 1600×1000 desk screen: the sign-in title on whole lines, a typed
address the role may not open refused in words, the wall's tiles readable."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import WALL_MAP, wait_drawn

# The text of each rendered line of an element: characters grouped by the top of their box.
LINES = """(el) => {
  const out = new Map();
  const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1);
      const box = r.getBoundingClientRect();
      if (!box.width) continue;
      const top = Math.round(box.top / 4);
      out.set(top, (out.get(top) || "") + node.data[i]);
    }
  }
  return [...out.entries()].sort((a, b) => a[0] - b[0]).map(e => e[1].trim());
}"""


@pytest.mark.parametrize("lang, most_lines", [("zh", 1), ("en", 2)])
def test_the_sign_in_title_never_leaves_a_character_alone_on_a_line(page, app_url, lang, most_lines):
    page.goto(f"{app_url}/?lang={lang}")
    title = page.locator(".st-key-login-title h1")
    expect(title).to_be_visible(timeout=60_000)
    wait_drawn(page)
    lines = title.evaluate(LINES)
    assert 1 <= len(lines) <= most_lines, lines
    if lang == "en":
        assert all(len(line.split()) >= 2 for line in lines), lines   # no word left alone
    assert all(len(line) >= 2 for line in lines), lines


def test_a_typed_address_the_role_may_not_open_says_so_then_shows_the_own_first_page(page, login):
    # a typed address opens a new session: sign-in first, then the address is answered
    login(page, "uit_dept", path="/wall")              # department staff: no wall
    expect(page.get_by_text("不允许访问「指挥大屏」", exact=False)).to_be_visible()
    expect(page.locator("[data-testid=stDeckGlJsonChart]")).to_have_count(0)
    expect(page.locator(WALL_MAP)).to_have_count(0)
    expect(page.get_by_role("heading", name="部门工单").first).to_be_visible()   # the own first page


def test_the_wall_tiles_show_whole_labels_at_a_desk(page, login):
    login(page, "uit_command")
    tiles = page.locator("[data-testid=stMetricLabel]")
    expect(tiles).to_have_count(9)
    for i in range(9):
        clipped = tiles.nth(i).evaluate("(el) => { const p = el.querySelector('p') || el;"
                                        " return p.scrollWidth > p.clientWidth + 1; }")
        assert not clipped, tiles.nth(i).inner_text()


def test_the_ticker_ends_within_the_maps_height(page, login):
    login(page, "uit_command")
    ticker = page.locator(".wall-ticker")
    expect(ticker).to_be_visible()
    # the map's frame is shown once its script (deck.gl, 2 MB) is ready and it has drawn
    expect(page.locator(WALL_MAP + "[data-drawn]")).to_be_visible(timeout=60_000)
    chart = page.locator(WALL_MAP).first.bounding_box()
    box = ticker.bounding_box()
    rows = page.locator(".wall-ticker li").count()
    assert box["y"] + box["height"] <= chart["y"] + chart["height"] + 2, (rows, box, chart)
    for i in range(rows):   # one line per part: no row wrapped
        li = page.locator(".wall-ticker li").nth(i)
        assert li.bounding_box()["height"] < 60, li.inner_text()
