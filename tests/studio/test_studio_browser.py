"""The studio in a real browser (Debian's chromium, headless, driven by Playwright): log in, break a
card and fix it, dry-run a lorebook entry, chat with a streamed reply, approve and roll back a soul
proposal, and a hostile card whose markup never runs. ANIMA_STUDIO_SCREENSHOTS=docs/img also saves
a picture of each page (how docs/studio.md's were made)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from anima.soul.changes import Change, Source
from tests.studio.harness import TOKEN, RunningStudio

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install .[dev])"
)
SHOTS = os.environ.get("ANIMA_STUDIO_SCREENSHOTS")
STEP_MS = 15_000  # the longest any one browser step may wait
sync_api.expect.set_options(timeout=STEP_MS)


@pytest.fixture(scope="module")
def page(studio: RunningStudio) -> Iterator[sync_api.Page]:
    """One browser for the module, logged in once through the login form."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(viewport={"width": 1100, "height": 760})
        context.set_default_timeout(STEP_MS)
        context.route(  # traffic only to the studio: anything else is refused
            "**/*",
            lambda route: route.continue_() if route.request.url.startswith(studio.url) else route.abort(),
        )
        tab = context.new_page()
        tab.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
        tab.goto(f"{studio.url}/login")
        tab.fill('input[name="token"]', TOKEN)
        tab.click("button")
        tab.wait_for_url(f"{studio.url}/characters")
        yield tab
        browser.close()


def shot(page: sync_api.Page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=False)


def test_the_list_shows_each_card_and_whether_it_validates(page: sync_api.Page) -> None:
    rows = page.locator("table tr")
    sync_api.expect(rows.filter(has_text="mira")).to_contain_text("valid")
    shot(page, "characters")


def test_a_broken_card_shows_its_error_at_its_line_then_the_fix_is_what_the_bot_uses(
    page: sync_api.Page, studio: RunningStudio
) -> None:
    page.goto(f"{studio.url}/characters/mira")
    editor = page.locator('textarea[name="yaml"]')
    text = editor.input_value()
    broken = text.replace("rules:\n  - Speak", "rules:\n  - [Speak", 1)  # an unclosed list on line 4
    editor.fill(broken)
    error = page.locator(".lines .err")
    sync_api.expect(error).to_have_attribute("data-line", "4")
    sync_api.expect(error).to_contain_text("mira.yaml:4")
    shot(page, "editor-error")
    fixed = text.replace("speaks softly", "hums sea shanties to the gulls")
    editor.fill(fixed)
    sync_api.expect(page.locator("#status")).to_have_text("valid")
    page.click("text=Save")
    sync_api.expect(page.locator("p.ok")).to_have_text("saved")
    assert "gulls" in studio.runtime.characters.get("mira").description  # reloaded, no restart

    page.goto(f"{studio.url}/chat/mira")
    page.fill('input[name="message"]', "good evening")
    page.click("text=Send")
    reply = page.locator("p.reply[data-state=done]")
    sync_api.expect(reply).to_have_text("The lamp is lit. The sea is calm tonight, and the ships are home.")
    # streamed: what the safety stage let through came as pieces before the checked reply replaced them
    assert int(reply.get_attribute("data-pieces") or 0) >= 1
    sync_api.expect(page.locator("p.verdicts")).to_contain_text("safety:")
    shot(page, "chat")
    sent = studio.fake.requests[-1]["messages"][0]["content"]
    assert "hums sea shanties to the gulls" in sent  # the model got the saved text


def test_a_dry_run_shows_the_prompt_and_the_key_that_fired_an_entry(
    page: sync_api.Page, studio: RunningStudio
) -> None:
    asked = len(studio.fake.requests)
    page.goto(f"{studio.url}/characters/mira/dry-run")
    page.fill('input[name="message"]', "Is the beacon old?")
    page.click("button:has-text('Dry run')")
    lore = page.locator("h2:has-text('Lorebook') + table tr").nth(1)
    sync_api.expect(lore.locator("td").nth(1)).to_have_text("beacon")
    sync_api.expect(page.locator("main")).to_contain_text("built in 1822")
    sync_api.expect(page.locator("h2").first).to_contain_text("tokens")
    checks = page.locator("h2:has-text('Safety') ~ table")
    sync_api.expect(checks.locator("tr", has_text="injection")).to_contain_text("allow")
    sync_api.expect(checks.locator("tr", has_text="flood")).to_contain_text("not run in a dry run")
    shot(page, "dry-run")
    assert len(studio.fake.requests) == asked  # the model was never called


def test_a_proposal_is_approved_then_rolled_back(page: sync_api.Page, studio: RunningStudio) -> None:
    change = Change("habit", "counts the ships before dawn", (), 0.9)
    studio.call(studio.runtime.soul.propose("mira", change, Source("studio", "studio-tester", "tester")))
    page.goto(f"{studio.url}/soul")
    sync_api.expect(page.locator("main")).to_contain_text("+ counts the ships before dawn")
    shot(page, "soul")
    page.click("text=approve")
    assert [e.text for e in studio.call(studio.runtime.soul.entries("mira"))] == [
        "counts the ships before dawn"
    ]
    page.click("text=roll back to v0")
    sync_api.expect(page.locator("main")).not_to_contain_text("+ counts the ships")
    assert studio.call(studio.runtime.soul.entries("mira")) == []


def test_a_hostile_card_is_shown_as_text_and_never_runs(page: sync_api.Page, studio: RunningStudio) -> None:
    for path in ("/characters", "/characters/hostile", "/characters/hostile/form", "/chat/hostile"):
        page.goto(studio.url + path)
        assert page.evaluate("window.__xss") is None, path
    sync_api.expect(page.locator("text=window.__xss = 3")).to_have_count(0)  # greeting not yet sent
    page.goto(f"{studio.url}/characters/hostile")
    assert "<script>window.__xss = 2</script>" in page.locator('textarea[name="yaml"]').input_value()
    page.goto(f"{studio.url}/characters/hostile/form")
    assert page.locator('input[name="name"]').input_value() == '<img src=x onerror="window.__xss = 1">'
    assert page.evaluate("window.__xss") is None
    page.goto(f"{studio.url}/characters/hostile/dry-run")
    page.fill('input[name="message"]', "hi")
    page.click("button:has-text('Dry run')")
    sync_api.expect(page.locator("main")).to_contain_text("<script>window.__xss = 2</script>")
    assert page.evaluate("window.__xss") is None


def test_a_character_made_with_the_form_only_is_dry_run_and_chatted_with(
    page: sync_api.Page, studio: RunningStudio
) -> None:
    page.goto(f"{studio.url}/characters")
    page.fill('input[name="name"]', "Selka")
    page.click("button:has-text('Create')")
    page.wait_for_url(f"{studio.url}/characters/selka/form")
    form = page.locator("#cardform")
    form.locator('textarea[name="description"]').fill("{{char}} mends nets in the harbour of Vell.")
    form.locator('textarea[name="backstory"]').fill("She came from the islands at nine.")
    greeting = form.locator('textarea[name="greeting"]').first
    greeting.fill("")  # no greeting left: the error shows under the greetings as it is typed
    problem = page.locator('.problems[data-for="greeting"]')
    sync_api.expect(problem).to_contain_text("selka.yaml:")
    sync_api.expect(problem).to_contain_text("greeting: expected text or a list of texts")
    sync_api.expect(page.locator("#status")).to_have_text("1 problem(s)")
    shot(page, "form")
    greeting.fill("Mind the nets, {{user}}.")
    form.locator('input[name="rule"]').first.fill("Speak as {{char}}, briefly.")
    form.locator('input[name="lore_keys"]').first.fill("harbour, quay")
    form.locator('textarea[name="lore_content"]').first.fill("The harbour of Vell freezes every January.")
    form.locator('select[name="rating"]').select_option("teen")
    sync_api.expect(page.locator("#status")).to_have_text("valid")
    page.click("#cardform button:has-text('Save')")
    sync_api.expect(page.locator("p.ok")).to_have_text("saved")
    card = studio.runtime.characters.get("selka")  # written and reloaded, never typed as YAML
    assert card.backstory == "She came from the islands at nine." and card.safety.rating == "teen"

    page.click("a:has-text('dry run')")
    page.fill('input[name="message"]', "Does the quay ever freeze?")
    page.click("button:has-text('Dry run')")
    lore = page.locator("h2:has-text('Lorebook') + table tr").nth(1)
    sync_api.expect(lore.locator("td").nth(1)).to_have_text("quay")
    sync_api.expect(page.locator("main")).to_contain_text("freezes every January")

    page.goto(f"{studio.url}/chat/selka")
    page.fill('input[name="message"]', "good morning")
    page.click("text=Send")
    reply = page.locator("p.reply[data-state=done]")
    sync_api.expect(reply).to_have_text("The lamp is lit. The sea is calm tonight, and the ships are home.")
    assert "mends nets in the harbour" in studio.fake.requests[-1]["messages"][0]["content"]


def test_a_telegram_bot_line_is_added_and_the_bot_is_on_health(
    page: sync_api.Page, studio: RunningStudio, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = studio.telegram.add_bot("selka_bot", "Selka")
    monkeypatch.setenv("SELKA_TELEGRAM_TOKEN", fake.token)  # where `anima run` runs, never in the page
    page.goto(f"{studio.url}/characters/selka/online")
    sync_api.expect(page.locator("#config-lines")).to_contain_text('token: "${TELEGRAM_TOKEN}"')
    page.fill('input[name="variable"]', "SELKA_TELEGRAM_TOKEN")
    page.fill('input[name="api"]', studio.telegram.base_url.removesuffix("/bot"))  # the fake platform
    page.click("button:has-text('Show')")
    lines = page.locator("#config-lines")
    sync_api.expect(lines).to_contain_text('token: "${SELKA_TELEGRAM_TOKEN}"')
    sync_api.expect(lines).to_contain_text("character: selka")
    page.click("button:has-text('Add it to')")
    sync_api.expect(page.locator("main")).to_contain_text("Selka is online as @selka_bot on Telegram")
    shot(page, "online")
    assert (
        "${SELKA_TELEGRAM_TOKEN}" in studio.config.read_text() and fake.token not in studio.config.read_text()
    )
    page.click("a:has-text('Health')")
    row = page.locator("h2:has-text('Bots online') + table tr", has_text="selka")
    sync_api.expect(row).to_contain_text("telegram")
    sync_api.expect(row).to_contain_text("Selka is online as @selka_bot on Telegram")


def test_the_other_pages_render(page: sync_api.Page, studio: RunningStudio) -> None:
    for path, name, expected in (
        ("/safety", "safety", "Counts"),
        ("/people?user=studio-tester", "people", "studio-tester on studio"),
        ("/health", "health", "closed"),
    ):
        page.goto(studio.url + path)
        sync_api.expect(page.locator("main")).to_contain_text(expected)
        shot(page, name)
