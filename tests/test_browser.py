"""The demo page (GET /demo/) in a real browser: Debian's chromium and chromium-driver driven by
selenium, headless, against a real daemon on the real model bundle.

`make test-browser` installs the browser and selenium (packaging/install-browser.sh) and runs
`pytest tests/test_browser.py -m browser`; where chromium, chromedriver or selenium are missing
these tests skip and say which, so `make test` stays green anywhere. The browser may reach only
the loopback daemon (every other host name resolves to nothing), and the page is checked to load
nothing from anywhere else and to log no error (a Content-Security-Policy violation is one).
"""

import json
import os
import re
import shutil
import urllib.request

import pytest

from findface_extraction_api import testing
from findface_extraction_api.testing import astronaut, jpeg

pytestmark = pytest.mark.browser

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # skipped below, with the reason
    webdriver = None

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT = os.path.join(testing.ROOT, "build", "demo-screenshot.png")
WIDTH = 1360
TIMEOUT = 90  # seconds for one extraction, from the upload to the drawn result


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    install = "run packaging/install-browser.sh (or `make test-browser`)"
    if webdriver is None:
        return f"selenium is not installed in this venv: {install}"
    if CHROMIUM is None:
        return f"chromium is not installed: {install}"
    if CHROMEDRIVER is None:
        return f"chromedriver (Debian's chromium-driver) is not installed: {install}"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless chromium through chromedriver, with its profile and $HOME in a temporary directory."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("chromium-home")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WIDTH},1000",
        f"--user-data-dir={home / 'profile'}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-features=Translate,OptimizationHints,MediaRouter",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # nothing but the loopback daemon
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    service = Service(executable_path=CHROMEDRIVER, env=env, log_output=str(home / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def demo(browser, daemons):
    """The demo page's URL on a default daemon (loopback, so [demo] enabled = auto serves it)."""
    return f"{daemons('browser').client.base}/demo/"


def open_page(browser, url):
    browser.get(url)
    browser.get_log("browser")  # start each test with an empty console
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "banner").text != "Connecting…")


def upload(browser, input_id, path):
    browser.find_element(By.ID, input_id).send_keys(str(path))


def wait_result(browser):
    """Wait for the page to finish a run; returns its state, "done" or "error"."""
    states = ("done", "error")
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in states
    )
    return browser.find_element(By.TAG_NAME, "body").get_attribute("data-state")


def text(browser, selector, within=None):
    return (within or browser).find_element(By.CSS_SELECTOR, selector).text


def assert_clean(browser, origin):
    """Nothing logged as an error (CSP violations included) and nothing loaded from another origin."""
    errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    foreign = [url for url in resources if not url.startswith(origin)]
    assert foreign == [], foreign


def pixel(browser, x, y):
    """The canvas's RGBA at (x, y), in canvas pixels."""
    script = (
        "return Array.from(document.getElementById('canvas').getContext('2d').getImageData(...arguments, 1, 1).data)"
    )
    return browser.execute_script(script, x, y)


def save_screenshot(browser):
    """The whole page, not just the viewport, into build/demo-screenshot.png."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WIDTH, height + 140)  # the window's frame is not part of the page
    browser.execute_script("window.scrollTo(0, 0)")
    os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
    assert browser.save_screenshot(SCREENSHOT)
    browser.set_window_size(WIDTH, 1000)


def test_astronaut_boxes_attributes_and_comparison(browser, demo, tmp_path):
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(jpeg(astronaut()))
    second = tmp_path / "astronaut-small.jpg"
    second.write_bytes(jpeg(astronaut()[::2, ::2].copy(), quality=80))  # the same person, half the size
    open_page(browser, demo)
    liveness = "liveness_v2" in json.loads(urllib.request.urlopen(demo.replace("/demo/", "/")).read())["models"]
    assert browser.find_element(By.ID, "liveness-option").is_displayed() == liveness

    upload(browser, "photo", photo)
    assert wait_result(browser) == "done", text(browser, "#error")

    cards = browser.find_elements(By.CSS_SELECTOR, ".face-card")
    assert len(cards) == 1
    assert text(browser, ".face-gender", cards[0]).startswith("FEMALE")
    age = re.fullmatch(r"(\d+\.\d) years", text(browser, ".face-age", cards[0]))
    assert age and 20 < float(age.group(1)) < 60, text(browser, ".face-age", cards[0])
    assert len(cards[0].find_elements(By.CSS_SELECTOR, ".emotions li")) == 7
    assert cards[0].find_element(By.CSS_SELECTOR, "img.crop").get_attribute("naturalWidth") == "256"
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None

    canvas = browser.find_element(By.ID, "canvas")
    zoom = float(canvas.get_attribute("data-zoom"))  # a small photo is drawn enlarged
    assert int(canvas.get_attribute("width")) == round(512 * zoom)
    assert canvas.get_attribute("data-boxes") == "1"
    assert canvas.get_attribute("data-landmarks") == "21"  # the fitter's 21 named points, matched to the face
    r, g, b, _ = pixel(browser, round(testing.ASTRONAUT_FACE[0] * zoom), round(120 * zoom))  # the box's left edge
    assert r > 200 and 80 < g < 170 and b < 80, f"not face 1's orange: {(r, g, b)}"

    Select(browser.find_element(By.ID, "compare-a")).select_by_value("A:0")
    Select(browser.find_element(By.ID, "compare-b")).select_by_value("A:0")
    assert abs(float(browser.find_element(By.ID, "compare-score").text) - 1) < 1e-3
    assert browser.find_element(By.ID, "compare-verdict").text == "SAME"

    upload(browser, "photo-b", second)
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#compare-b option[value='B:0']"))
    Select(browser.find_element(By.ID, "compare-b")).select_by_value("B:0")
    score = float(browser.find_element(By.ID, "compare-score").text)
    assert 0.5 < score < 0.9999, score
    assert browser.find_element(By.ID, "compare-verdict").text == "SAME"

    browser.find_element(By.CSS_SELECTOR, "#raw summary").click()
    assert '"gender": "FEMALE"' in browser.find_element(By.ID, "raw-extraction").text
    assert_clean(browser, demo.rsplit("/demo/", 1)[0])
    save_screenshot(browser)


def test_undecodable_file_shows_the_api_error(browser, demo, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not an image\n" * 10)
    open_page(browser, demo)

    upload(browser, "photo", broken)
    assert wait_result(browser) == "error"

    assert text(browser, "#error .error-code") == "IMAGE_DECODING_FAILED"
    assert "decode" in text(browser, "#error .error-desc").lower()
    assert browser.find_elements(By.CSS_SELECTOR, ".face-card") == []
    assert browser.find_element(By.ID, "canvas").get_attribute("data-boxes") == "0"
    assert "IMAGE_DECODING_FAILED" in text(browser, "#status")
