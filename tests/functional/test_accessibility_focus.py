"""WCAG 2.4.7/2.4.13 and 1.4.11 in a real browser: every control reached with Tab shows a
focus ring (outline) of at least 2 px whose colour has a contrast of at least 3:1 against
what is behind it, the selected tab included, at 1280 and 390 px."""
import pytest

from tests.functional.test_accessibility import browser, new_page, people, settle  # noqa: F401
from tests.functional.test_pages_browser import log_in, served  # noqa: F401

pytestmark = pytest.mark.browser

#: the focused element's ring and the colour behind it (the first opaque background among
#: its ancestors: the ring is drawn outside the element, with an offset)
RING = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  let bg = [255, 255, 255, 1];
  for (let node = el.parentElement; node; node = node.parentElement) {
    const c = parse(getComputedStyle(node).backgroundColor);
    if (c.length === 4 ? c[3] > 0.9 : c.length === 3) { bg = c; break; }
  }
  return {what: el.outerHTML.slice(0, 120), style: style.outlineStyle,
          width: parseFloat(style.outlineWidth), ring: parse(style.outlineColor), bg};
}"""


def contrast(a, b):
    def luminance(rgb):
        channels = []
        for c in rgb[:3]:
            c /= 255
            channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def rings_while_tabbing(page, limit=80):
    """Press Tab through the page (at most ``limit`` stops); the problems found."""
    problems, seen = [], set()
    page.stops = getattr(page, "stops", 0)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(limit):
        page.keyboard.press("Tab")
        ring = page.evaluate(RING)
        if ring["what"] in seen:
            break  # round the page once
        seen.add(ring["what"])
        page.stops += 1
        if ring["what"].startswith("<body"):
            continue
        if ring["style"] in ("none", "hidden") or ring["width"] < 2:
            problems.append(f"no ring: {ring['what']}")
        elif contrast(ring["ring"], ring["bg"]) < 3:
            problems.append(f"ring {contrast(ring['ring'], ring['bg']):.2f}:1: {ring['what']}")
    return problems


@pytest.mark.parametrize("width", ["1280", "390"])
def test_every_control_shows_a_focus_ring_of_3_to_1(
        browser, served, people, width):  # noqa: F811
    problems = []
    page = new_page(browser, served, width)
    page.goto(served + "/login")
    settle(page)
    problems += [f"/login {p}" for p in rings_while_tabbing(page)]
    log_in(page, served, people["employee"], "/absen")
    settle(page)
    problems += [f"/absen {p}" for p in rings_while_tabbing(page)]
    page.click("#tab-leave")  # the selected tab keeps its ring
    page.focus("#tab-leave")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowRight")
    ring = page.evaluate(RING)
    assert ring["width"] >= 2 and contrast(ring["ring"], ring["bg"]) >= 3, ring
    page.context.close()

    page = new_page(browser, served, width)
    log_in(page, served, people["admin"], "/admin")
    for path in ("/admin", "/admin/riwayat", "/admin/karyawan", "/admin/cabang"):
        page.goto(served + path)
        settle(page)
        problems += [f"{path} {p}" for p in rings_while_tabbing(page)]
    assert page.stops > 20, "Tab reached almost nothing"
    page.context.close()
    assert not problems, "focus rings missing or too faint:\n" + "\n".join(problems)
