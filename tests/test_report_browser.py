"""The report in a real browser (headless Chromium): not blank, no JavaScript error, fits 1400 px,
no squeezed column, the decision on the first screen. Skipped, with the install line, without Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gbtest import run_cli

pytestmark = pytest.mark.slow  # real runs through the CLI: .ci/run and `pytest --slow` run them

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(BROWSER is None, reason="chromium not installed: apt-get install -y chromium")

WIDTH, HEIGHT = 1400, 1000  # the widest page the report may take, and one screen

# Injected before anything else on the page: records errors, exercises the sortable tables, then
# writes what it measured into the DOM, which Chromium prints with --dump-dom.
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
window.addEventListener("load", function () {
  document.querySelectorAll("table.sortable th").forEach(function (th) { th.click(); th.click(); });
  var squeezed = [];
  document.querySelectorAll("td, th").forEach(function (cell) {
    var text = cell.textContent.trim();
    if (text.length < 7 || cell.offsetParent === null) { return; }
    var range = document.createRange();
    range.selectNodeContents(cell);
    var lines = new Set(Array.from(range.getClientRects()).map(function (r) { return Math.round(r.top); })).size;
    if (text.length / Math.max(1, lines) < 4) { squeezed.push(text.slice(0, 40)); }
  });
  var screen = Array.from(document.querySelectorAll("h1, h2, section")).filter(function (e) {
    return e.getBoundingClientRect().top < window.innerHeight; }).map(function (e) {
    return e.id ? "#" + e.id : e.textContent.trim(); });
  var probe = document.createElement("pre");
  probe.id = "__probe";
  probe.textContent = JSON.stringify({errors: window.__errors, width: document.documentElement.scrollWidth,
    text: document.body.innerText.length, squeezed: squeezed, screen: screen,
    images: document.querySelectorAll("figure svg, figure img").length});
  document.body.appendChild(probe);
});
</script>"""


@dataclass(frozen=True)
class Look:
    errors: list[str]
    width: int
    text: int  # characters of visible text
    squeezed: list[str]  # cells wrapped to fewer than four characters a line
    screen: list[str]  # headings and sections that start on the first screen
    images: int
    ink: float  # share of the first screen's pixels that are not white


def chromium(*args: str, tmp: Path) -> str:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars",
               "--virtual-time-budget=10000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180).stdout


def look_at(page: Path, tmp: Path) -> Look:
    """Open `page` in Chromium (probe injected into a copy) and measure it; screenshot its first screen."""
    text = page.read_text(encoding="utf-8")
    probed = tmp / ("probed-" + page.name)
    probed.write_text(re.sub(r"<head>|(?=<body)", lambda m: m.group(0) + PROBE, text, count=1), encoding="utf-8")
    dom = chromium("--dump-dom", probed.as_uri(), tmp=tmp)
    found = re.search(r'<pre id="__probe">(.*?)</pre>', dom, re.S)
    assert found, f"the page did not finish loading in Chromium: {dom[-300:]!r}"
    measured = json.loads(html.unescape(found.group(1)))
    shot = tmp / (page.stem + ".png")
    chromium(f"--screenshot={shot}", page.as_uri(), tmp=tmp)
    return Look(**measured, ink=ink(shot))


def ink(png: Path) -> float:
    from PIL import Image

    gray = Image.open(png).convert("L")
    histogram = gray.histogram()  # pixels per grey level, 0 (black) to 255 (white)
    return sum(histogram[:245]) / (gray.width * gray.height)


@pytest.fixture(scope="module")
def real_report(tmp_path_factory) -> Path:
    """The report of a real run: the quick suite on numpy, the C kernels (compiled) and the int8 reference."""
    folder = tmp_path_factory.mktemp("browser")
    run = run_cli("run", "quick", "-o", folder, "-q", "--backend", "numpy,csimd,int8-numpy", "--no-progress")
    assert run.returncode == 0, run.stderr
    out = folder / "quick.html"
    report = run_cli("report", run.stdout.strip(), "-o", out)
    assert report.returncode == 0, report.stderr
    return out


@needs_browser
def test_a_real_report_looks_right_in_a_browser(real_report, tmp_path):
    look = look_at(real_report, tmp_path)
    assert look.errors == []
    assert look.text > 2000 and look.ink > 0.02 and look.images >= 3  # not blank
    assert look.width <= WIDTH
    assert look.squeezed == []
    assert "#decision" in look.screen  # the decision table starts on the first screen
    print(f"first screen {WIDTH}x{HEIGHT}: {look.screen}; ink {look.ink:.1%}; screenshot {tmp_path}")


@needs_browser
@pytest.mark.parametrize("body, fault", [
    ("<p>fine</p><script>undefinedFunction();</script>", "error"),
    ("", "blank"),
    ('<table style="table-layout:fixed;width:60px"><tr><td style="width:12px;word-break:break-all">'
     'a_note_the_layout_squeezes</td><td>wide</td></tr></table>', "squeezed"),
])
def test_the_browser_check_catches_what_it_looks_for(body, fault, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}</body></html>")
    look = look_at(page, tmp_path)
    caught = {"error": bool(look.errors), "blank": look.text < 2000 and look.ink < 0.02, "squeezed": bool(look.squeezed)}
    assert caught[fault]
