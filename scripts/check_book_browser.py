"""Open every page of the built book in headless Chromium and report what a reader would see broken.

    python scripts/check_book_browser.py [--html _build/html] [--screenshots _build/screenshots]
    python scripts/check_book_browser.py --find-browser      # print the browser it would use

The pages are the HTML files of the ``_toc.yml`` entries, plus ``index.html`` (the redirect to
the first page). ``make test`` runs this through ``tests_browser/`` after the strict book build;
``make chromium`` installs Debian's ``chromium`` where no Chromium or Chrome is found.

The book is served from a local HTTP server on 127.0.0.1 (as a reader's web server would, so
MathJax and its fonts load as they do online) and driven over the Chrome DevTools Protocol
(``websocket-client``). On each page, after the load event, its images and MathJax:

- every ``img`` must have loaded (``naturalWidth`` > 0), and no same-site request may fail;
- every link (``a``, ``link``, ``script``) into the book must name an existing file, and its
  ``#anchor`` an ``id`` (or ``name``) in that file;
- no raw TeX may be left in the visible text outside code (``$$``, ``\\(``, ``\\[``, ``\\begin{``,
  ``\\frac`` and other commands between dollars), and every ``.math`` element (where the source
  had an equation) must hold MathJax's ``mjx-container``;
- no Python traceback or error output: ``Traceback (most recent call last)`` in the text,
  ``.traceback`` or ``.stderr`` output areas, or an ``error`` output in the notebook;
- a chapter page must show at least as many images in its cell outputs as the notebook's cells
  hold image outputs (cells tagged ``remove-output``/``remove-cell`` excepted).

A full-page screenshot of each page is written to ``<screenshots>/<page>.png`` (the page's path
with ``/`` replaced by ``__``). Exit status 1 when any page has a problem; each problem names the
page.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling book_toc.py
from book_toc import toc_entries  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Looked up in this order on PATH; $CHROMIUM (a name or a path) comes first when set.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MACOS_BROWSERS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
INSTALL_HINT = (
    "run `make chromium` (Debian/Ubuntu: `sudo apt-get install -y --no-install-recommends "
    "chromium`), or set CHROMIUM to a Chromium or Chrome executable"
)
VIEWPORT = (1280, 900)
# A page taller than this (CSS pixels) is captured down to this height only, far above the longest
# chapter so far. Chromium renders a capture beyond the viewport in tiles.
MAX_SCREENSHOT_HEIGHT = 60000
PAGE_TIMEOUT_S = 60.0
IMAGE_MIME = re.compile(r"^image/")
REMOVED_OUTPUT_TAGS = {"remove-output", "remove-cell"}


class BrowserMissing(RuntimeError):
    """No Chromium or Chrome executable was found."""


@dataclass(frozen=True)
class Page:
    """One page to open: its path under the HTML root and what its source promises."""

    name: str  # path under the HTML root, e.g. "notebooks/01_data_exploration.html"
    expected_images: int | None = None  # image outputs the notebook's cells hold; None: not one
    redirect: bool = False  # index.html: a meta refresh to the first page


@dataclass
class PageReport:
    page: str
    problems: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    math_elements: int = 0
    typeset: int = 0
    images: int = 0
    seconds: float = 0.0


# --------------------------------------------------------------------------- the pages of the book
def notebook_image_outputs(notebook: Path) -> int:
    """How many image outputs the notebook's shown cells hold (one per output, whatever its size).

    Cells tagged ``remove-output`` or ``remove-cell`` are not shown by the book; an output whose
    image is glued with ``display=False`` has prefixed mime types and is not counted either.
    """
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    count = 0
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        if REMOVED_OUTPUT_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") in {"display_data", "execute_result"} and any(
                IMAGE_MIME.match(mime) for mime in output.get("data", {})
            ):
                count += 1
    return count


def notebook_errors(notebook: Path) -> list[str]:
    """The ``error`` outputs stored in the notebook, as 'ename: evalue'."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [
        f"{output.get('ename', '?')}: {output.get('evalue', '')}"
        for cell in cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


def book_pages(root: Path = ROOT, html_root: Path | None = None) -> list[Page]:
    """The index redirect and the page of every ``_toc.yml`` entry, in the book's order."""
    pages = [Page("index.html", redirect=True)]
    seen: set[str] = set()
    for entry in toc_entries(root):
        stem = re.sub(r"\.(md|ipynb)$", "", entry)
        if stem in seen:
            continue
        seen.add(stem)
        notebook = root / f"{stem}.ipynb"
        expected = notebook_image_outputs(notebook) if notebook.is_file() else None
        pages.append(Page(f"{stem}.html", expected_images=expected))
    return pages


def screenshot_name(page: str) -> str:
    return re.sub(r"\.html?$", "", page).replace("/", "__") + ".png"


# ------------------------------------------------------------------------------ static link checks
class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: set[str] = set()
        self.refresh: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if values.get(key):
                self.anchors.add(values[key])
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            match = re.search(r"url\s*=\s*['\"]?([^'\";]+)", values.get("content") or "", re.I)
            self.refresh = match.group(1).strip() if match else None


@functools.lru_cache(maxsize=256)
def _parse(path: Path, mtime_ns: int) -> _Anchors:
    parser = _Anchors()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def parsed(path: Path) -> _Anchors:
    return _parse(path, path.stat().st_mtime_ns)


def local_target(html_root: Path, url: str) -> tuple[Path, str] | None:
    """(file, fragment) for a URL of the served book, None for anything else."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or parts.hostname not in {"127.0.0.1", "localhost"}:
        return None
    relative = urllib.parse.unquote(parts.path).lstrip("/")
    target = (html_root / relative).resolve()
    if target.is_dir():
        target = target / "index.html"
    return target, urllib.parse.unquote(parts.fragment)


def broken_links(html_root: Path, page_url: str, urls: list[tuple[str, str]]) -> list[str]:
    """Problems with the page's links into the book: a missing file or a missing anchor."""
    problems = []
    for tag, url in urls:
        resolved = local_target(html_root, url)
        if resolved is None:
            continue
        target, fragment = resolved
        shown = target.relative_to(html_root) if target.is_relative_to(html_root) else target
        if not target.is_file():
            problems.append(f"broken internal link: <{tag}> to {shown} (no such file)")
        elif fragment and target.suffix in {".html", ".htm"}:
            if fragment not in parsed(target).anchors:
                problems.append(
                    f"broken internal link: <{tag}> to {shown}#{fragment} (no such anchor)"
                )
    return sorted(set(problems))


# ------------------------------------------------------------------------------------ the browser
def find_browser() -> str:
    """The Chromium or Chrome executable to drive: $CHROMIUM, else the first on PATH."""
    wanted = os.environ.get("CHROMIUM", "").strip()
    candidates = [wanted] if wanted else [*BROWSER_NAMES, *MACOS_BROWSERS]
    for name in candidates:
        path = shutil.which(name) or (name if os.path.isfile(name) and os.access(name, os.X_OK)
                                      else None)
        if path:
            return path
    where = f"CHROMIUM={wanted!r} is not an executable" if wanted else (
        f"none of {', '.join(BROWSER_NAMES)} is on PATH")
    raise BrowserMissing(f"no Chromium/Chrome for the browser check: {where}; {INSTALL_HINT}")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's name)
        pass


@contextlib.contextmanager
def serve(html_root: Path) -> Iterator[str]:
    """Serve ``html_root`` on 127.0.0.1 (a free port) for the duration; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html_root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class Browser:
    """Headless Chromium driven over the DevTools protocol: one tab, reused for every page."""

    def __init__(self, executable: str | None = None, timeout: float = PAGE_TIMEOUT_S) -> None:
        import websocket  # websocket-client (pyproject's test extra)

        self.timeout = timeout
        self.executable = executable or find_browser()
        self._profile = tempfile.mkdtemp(prefix="drlib-chromium-")
        width, height = VIEWPORT
        args = [
            self.executable, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-sync",
            "--mute-audio", "--hide-scrollbars", "--force-device-scale-factor=1",
            f"--window-size={width},{height}", f"--user-data-dir={self._profile}",
            "--remote-debugging-port=0", "about:blank",
        ]
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        try:
            browser_ws = self._devtools_address()
            page_ws = self._page_target(browser_ws)
            self._ws = websocket.create_connection(
                page_ws, timeout=timeout, suppress_origin=True, enable_multithread=False,
                skip_utf8_validation=True,
            )
        except BaseException:
            self.close()
            raise
        self._next_id = 0
        self.events: list[dict] = []
        self.send("Page.enable")
        self.send("Network.enable")
        self.send("Runtime.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _devtools_address(self) -> str:
        # Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
        deadline = time.monotonic() + self.timeout
        seen = []
        assert self._process.stderr is not None
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if not line:
                if self._process.poll() is not None:
                    break
                continue
            seen.append(line.rstrip())
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                # Keep draining stderr so Chromium never blocks on a full pipe.
                threading.Thread(target=self._drain, daemon=True).start()
                return match.group(1)
        raise RuntimeError(
            f"{self.executable} did not start its DevTools server "
            f"(exit status {self._process.poll()}): " + " | ".join(seen[-5:])
        )

    def _drain(self) -> None:
        with contextlib.suppress(Exception):
            assert self._process.stderr is not None
            for _ in self._process.stderr:
                pass

    def _page_target(self, browser_ws: str) -> str:
        import urllib.request

        port = urllib.parse.urlsplit(browser_ws).port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            targets = json.load(reply)
        for target in targets:
            if target.get("type") == "page" and target.get("webSocketDebuggerUrl"):
                return target["webSocketDebuggerUrl"]
        raise RuntimeError(f"{self.executable} opened no page target: {targets}")

    def send(self, method: str, **params: object) -> dict:
        """Send one DevTools command and return its result; events are kept in ``events``."""
        self._next_id += 1
        ident = self._next_id
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            message = json.loads(self._ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)
        raise TimeoutError(f"DevTools {method}: no answer within {self.timeout:.0f} s")

    def wait_for(self, method: str, count: int = 1) -> None:
        """Read messages until ``count`` events named ``method`` arrived since the last open()."""
        deadline = time.monotonic() + self.timeout
        while sum(event.get("method") == method for event in self.events) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {method} within {self.timeout:.0f} s")
            self._ws.settimeout(remaining)
            message = json.loads(self._ws.recv())
            if "method" in message:
                self.events.append(message)
        self._ws.settimeout(self.timeout)

    def evaluate(self, expression: str) -> object:
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True, timeout=self.timeout * 1000)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise RuntimeError(f"page script failed: {text}")
        return result.get("result", {}).get("value")

    def open(self, url: str, loads: int = 1) -> None:
        """Navigate and wait for the load event (``loads=2``: also that of a redirect's target)."""
        self.events.clear()
        result = self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise RuntimeError(f"{url} could not be opened: {result['errorText']}")
        self.wait_for("Page.loadEventFired", loads)

    def screenshot(self, path: Path) -> Path:
        width, _ = VIEWPORT
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        height = min(int(size["height"]) + 1, MAX_SCREENSHOT_HEIGHT)
        # optimizeForSpeed: a faster PNG compression (less CPU, somewhat larger files).
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         optimizeForSpeed=True,
                         clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))  # for people to look at; nothing reads it
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------ what a page shows
# Runs in the page after its load event: waits for images and MathJax, then reports what it sees.
INSPECT_PAGE = r"""
(async () => {
  const timeout = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  // The theme slides its sidebars in: stop every transition so the screenshot shows the end state.
  const still = document.createElement('style');
  still.textContent = '*, *::before, *::after { transition: none !important; '
    + 'animation: none !important; }';
  document.head.appendChild(still);
  const images = Array.from(document.images);
  for (const img of images) { if (img.loading === 'lazy') img.loading = 'eager'; }
  await Promise.race([
    Promise.all(images.map((img) => img.complete ? null :
      new Promise((resolve) => { img.addEventListener('load', resolve);
                                 img.addEventListener('error', resolve); }))),
    timeout(20000)]);
  let mathjax = 'absent';
  if (window.MathJax) {
    for (let i = 0; i < 200 && !(MathJax.startup && MathJax.startup.promise); i++) {
      await timeout(50);
    }
    if (MathJax.startup && MathJax.startup.promise) {
      const done = await Promise.race([MathJax.startup.promise.then(() => 'done'),
                                       timeout(30000).then(() => 'timed out')]);
      mathjax = done;
    } else { mathjax = 'not started'; }
  }
  await frame(); await frame();
  const hidden = 'pre, code, script, style, noscript, textarea, mjx-container, mjx-assistive-mml,'
    + ' .highlight, .MathJax, [aria-hidden="true"] mjx-assistive-mml';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(hidden)) continue;
    if (node.nodeValue.trim()) texts.push(node.nodeValue);
  }
  const math = Array.from(document.querySelectorAll('.math'));
  const untypeset = math.filter((el) => !el.querySelector('mjx-container'))
    .map((el) => el.textContent.trim().slice(0, 80));
  const links = [];
  for (const [selector, attr] of [['a[href]', 'href'], ['link[href]', 'href'],
                                  ['script[src]', 'src']]) {
    for (const el of document.querySelectorAll(selector)) {
      links.push([el.tagName.toLowerCase(), el[attr]]);
    }
  }
  const outputs = document.querySelectorAll('.cell_output, .output');
  const outputImages = new Set();
  for (const area of outputs) {
    for (const img of area.querySelectorAll('img')) outputImages.add(img);
  }
  return {
    url: location.href,
    mathjax: mathjax,
    text: texts.join('\n'),
    outputText: Array.from(document.querySelectorAll('.cell_output, .output'))
      .filter((el) => !el.parentElement || !el.parentElement.closest('.cell_output, .output'))
      .map((el) => el.textContent).join('\n'),
    mathElements: math.length,
    typeset: document.querySelectorAll('mjx-container').length,
    untypeset: untypeset,
    brokenImages: images.filter((img) => !(img.complete && img.naturalWidth > 0))
      .map((img) => img.getAttribute('src')),
    images: images.length,
    outputImages: outputImages.size,
    errorAreas: Array.from(document.querySelectorAll(
        '.traceback, .output.error, .output.stderr, .stderr, .cell_output .error'))
      .map((el) => (el.className + ': ' + el.textContent.trim()).slice(0, 120)),
    links: links,
  };
})()
"""

RAW_TEX = [
    (re.compile(r"\$\$"), "$$"),
    (re.compile(r"\\\(|\\\)"), "\\( \\)"),
    (re.compile(r"\\\[|\\\]"), "\\[ \\]"),
    (re.compile(r"\\begin\{|\\end\{"), "\\begin{...}"),
    (re.compile(r"\\(?:frac|sum|int|mathrm|mathbf|operatorname|left|right|cdot|hat|sqrt)\b"),
     "a TeX command"),
    (re.compile(r"\$[^$\n]*\\[A-Za-z]+[^$\n]*\$"), "$...\\command...$"),
]
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


def _excerpt(text: str, start: int, end: int) -> str:
    return " ".join(text[max(0, start - 30):end + 30].split())


def problems_in(report: dict, page: Page, html_root: Path, notebook: Path | None) -> list[str]:
    """Everything wrong with one inspected page, one sentence each."""
    problems = []
    for src in report["brokenImages"]:
        problems.append(f"broken image: {src} did not load (naturalWidth 0)")
    problems.extend(broken_links(html_root, report["url"], [tuple(x) for x in report["links"]]))
    text = report["text"]
    for pattern, label in RAW_TEX:
        match = pattern.search(text)
        if match:
            problems.append(f"raw TeX ({label}) in the visible text: "
                            f"'{_excerpt(text, match.start(), match.end())}'")
    if report["untypeset"]:
        problems.append(
            f"{len(report['untypeset'])} of {report['mathElements']} equations not typeset by "
            f"MathJax (MathJax {report['mathjax']}; no mjx-container), first: "
            f"{report['untypeset'][0]!r}")
    elif report["mathElements"] and report["mathjax"] != "done":
        problems.append(f"MathJax {report['mathjax']} on a page with equations")
    # Printed output sits in <pre>, outside the visible-text scan above: searched on its own.
    for shown in (text, report["outputText"]):
        match = TRACEBACK.search(shown)
        if match:
            problems.append(f"Python traceback in the page: "
                            f"'{_excerpt(shown, match.start(), match.end() + 40)}'")
            break
    for area in report["errorAreas"]:
        problems.append(f"error output shown: {area}")
    if notebook is not None:
        for error in notebook_errors(notebook):
            problems.append(f"the notebook stores an error output: {error}")
    if page.expected_images is not None and report["outputImages"] < page.expected_images:
        problems.append(
            f"missing figures: the notebook's cells hold {page.expected_images} image outputs, "
            f"the page shows {report['outputImages']} images in its cell outputs")
    return problems


def failed_requests(events: list[dict], base_url: str) -> list[str]:
    """Same-site requests the page made that failed or answered with an HTTP error."""
    urls: dict[str, str] = {}
    problems = []
    # Chromium asks every site for /favicon.ico on its own; the book does not link one.
    ignored = {base_url + "favicon.ico"}
    for event in events:
        params = event.get("params", {})
        if event.get("method") == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif event.get("method") == "Network.responseReceived":
            response = params["response"]
            if (response["url"].startswith(base_url) and response["url"] not in ignored
                    and response["status"] >= 400):
                problems.append(f"request failed: {response['url'][len(base_url):]} "
                                f"(HTTP {response['status']})")
        elif event.get("method") == "Network.loadingFailed":
            url = urls.get(params["requestId"], "")
            if url.startswith(base_url) and url not in ignored and not params.get("canceled"):
                problems.append(f"request failed: {url[len(base_url):]} "
                                f"({params.get('errorText', 'error')})")
    return sorted(set(problems))


def check_page(browser: Browser, base_url: str, html_root: Path, page: Page,
               screenshots: Path | None, notebook: Path | None = None) -> PageReport:
    """Open one page, inspect it, save its screenshot; the report lists its problems."""
    started = time.monotonic()
    result = PageReport(page.name)
    if not (html_root / page.name).is_file():
        result.problems.append(f"{page.name} was not built (no such file in {html_root})")
        return result
    if page.redirect:
        target = parsed(html_root / page.name).refresh
        if not target:
            result.problems.append("no meta refresh redirect in the page")
        elif not (html_root / page.name).parent.joinpath(target.split("#")[0]).is_file():
            result.problems.append(f"redirects to {target}, which does not exist")
    browser.open(base_url + page.name, loads=2 if page.redirect else 1)
    report = browser.evaluate(INSPECT_PAGE)
    result.problems.extend(problems_in(report, page, html_root, notebook))
    result.problems.extend(failed_requests(browser.events, base_url))
    if page.redirect and report["url"].rstrip("/") == (base_url + page.name).rstrip("/"):
        result.problems.append("the redirect was not followed")
    result.math_elements, result.typeset = report["mathElements"], report["typeset"]
    result.images = report["images"]
    if screenshots is not None:
        result.screenshot = browser.screenshot(screenshots / screenshot_name(page.name))
    result.seconds = time.monotonic() - started
    return result


def check_book(html_root: Path, pages: list[Page], screenshots: Path | None,
               browser: Browser | None = None, root: Path = ROOT) -> list[PageReport]:
    """Check every page (a browser is started, unless one is given); one report per page."""
    own = browser is None
    browser = browser or Browser()
    try:
        with serve(html_root) as base_url:
            reports = []
            for page in pages:
                notebook = root / re.sub(r"\.html$", ".ipynb", page.name)
                reports.append(check_page(browser, base_url, html_root, page, screenshots,
                                          notebook if notebook.is_file() else None))
            return reports
    finally:
        if own:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "screenshots")
    parser.add_argument("--find-browser", action="store_true",
                        help="print the browser that would be used and exit (1: none found)")
    args = parser.parse_args(argv)
    if args.find_browser:
        try:
            print(find_browser())
        except BrowserMissing as error:
            print(error, file=sys.stderr)
            return 1
        return 0
    if not (args.html / "index.html").is_file():
        print(f"{args.html}/index.html does not exist: build the book first (make book)",
              file=sys.stderr)
        return 2
    reports = check_book(args.html, book_pages(ROOT), args.screenshots)
    bad = 0
    for report in reports:
        status = "ok" if not report.problems else f"{len(report.problems)} problem(s)"
        print(f"{report.page}: {status} ({report.images} images, {report.typeset} equations "
              f"typeset, {report.seconds:.1f} s)")
        for problem in report.problems:
            print(f"  {report.page}: {problem}")
        bad += bool(report.problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
