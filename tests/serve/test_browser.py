"""The web page in headless Chromium: type text, click Synthesize, get a playable WAV and an alignment.

Uses the Debian chromium package through Playwright's `executable_path` (no browser download).
Skipped, with the reason printed, only when no chromium binary exists (`make browser` installs it).
"""

from __future__ import annotations

import shutil

import pytest

from tacotron.serve.app import create_app
from tacotron.serve.server import BackgroundServer
from tacotron.serve.voices import Voice

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio", "--no-first-run"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH; run `make browser`")


@pytest.fixture(scope="module")
def page_url(tiny_synthesizer):
    with BackgroundServer(create_app([Voice("en", tiny_synthesizer)])) as url:
        yield url


@pytest.fixture
def page(page_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(page_url)
            yield page
        finally:
            browser.close()


def test_typing_and_clicking_gives_an_audio_element_with_a_wav(page):
    page.wait_for_function("document.querySelectorAll('#voice option').length > 0")
    assert page.input_value("#voice") == "en"
    page.fill("#text", "Hello from the browser. Second sentence!")
    page.fill("#seed", "7")
    page.click("#synthesize")
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    wav = page.evaluate(
        """async () => {
            const audio = document.querySelector('#audio');
            const bytes = new Uint8Array(await (await fetch(audio.src)).arrayBuffer());
            return {size: bytes.length, head: String.fromCharCode(...bytes.slice(0, 4), ...bytes.slice(8, 12))};
        }"""
    )
    assert wav["head"] == "RIFFWAVE" and wav["size"] > 44 + 1000
    page.wait_for_function("document.querySelector('#audio').readyState >= 1", timeout=10_000)
    assert page.evaluate("document.querySelector('#audio').duration") > 0.1
    assert page.evaluate("document.querySelector('#alignment').naturalWidth") > 0
    assert int(page.inner_text("#t-frames")) > 0
    assert float(page.inner_text("#t-rtf")) > 0
    assert page.inner_text("#error") == ""


def test_bad_input_shows_the_servers_message(page):
    page.wait_for_function("document.querySelectorAll('#voice option').length > 0")
    page.fill("#text", "日本語")
    page.click("#synthesize")
    page.wait_for_function("document.querySelector('#error').textContent.length > 0", timeout=10_000)
    error = page.inner_text("#error")
    assert error.startswith("422") and "日" in error


@pytest.fixture(scope="module")
def fake_page_url(tiny_synthesizer):
    from tests.serve.fakes import FakeSynthesizer

    with BackgroundServer(create_app([Voice("en", FakeSynthesizer(tiny_synthesizer.cfg))])) as url:
        yield url


def test_the_word_being_played_is_highlighted(fake_page_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(fake_page_url)
            page.wait_for_function("document.querySelectorAll('#voice option').length > 0")
            page.fill("#text", "Alpha beta gamma delta.")
            page.click("#synthesize")
            page.wait_for_selector("#result:not([hidden])", timeout=30_000)
            assert page.inner_text("#words").split() == ["alpha", "beta", "gamma", "delta"]
            page.wait_for_function("document.querySelector('#audio').readyState >= 1", timeout=10_000)
            for index in (1, 3):  # seek into the middle of a word: exactly that word lights up
                middle = page.evaluate(
                    f"(() => {{ const s = document.querySelectorAll('#words span')[{index}];"
                    " return (Number(s.dataset.start) + Number(s.dataset.end)) / 2; })()"
                )
                page.evaluate(f"document.querySelector('#audio').currentTime = {middle}")
                page.wait_for_function(
                    f"document.querySelectorAll('#words span')[{index}].classList.contains('spoken')",
                    timeout=5_000,
                )
                assert page.evaluate("document.querySelectorAll('#words span.spoken').length") == 1
        finally:
            browser.close()
