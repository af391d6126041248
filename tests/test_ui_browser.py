"""The web UI in headless Chromium against the live stack (exchange simulator, feed handler,
`velocimex serve` over OUCH): login, a book that moves, a strategy started from the UI that
gets filled, the kill switch behind its confirmation, and a viewer who cannot trade.

With VELOCIMEX_UI_SCREENSHOTS=DIR set, each view is saved as DIR/<view>.png (docs/ui/ is made
this way, see docs/ui.md)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS, chromium_missing_reason
from tests.ui.stack import ADMIN_PASSWORD, USER_PASSWORD, Stack

REPO = Path(__file__).resolve().parent.parent
UI_INDEX = REPO / "ui" / "dist" / "index.html"
SHOTS = os.environ.get("VELOCIMEX_UI_SCREENSHOTS")

pytestmark = [
    pytest.mark.skipif(
        chromium_missing_reason() is not None, reason=str(chromium_missing_reason())
    ),
    pytest.mark.timeout(180),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
expect = sync_api.expect
Page = sync_api.Page


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    assert UI_INDEX.is_file(), f"{UI_INDEX} missing: build the UI with `make install`"
    live = Stack(tmp_path_factory.mktemp("ui-stack"))
    try:
        live.start()
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Refusals the UI meets (rate limit, server errors) are named if a test fails.
    refused: list[str] = []

    def on_response(response) -> None:  # type: ignore[no-untyped-def]
        if response.status == 429 or response.status >= 500:
            refused.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", on_response)
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
    assert not refused, f"requests refused: {refused[:10]} ({len(refused)} in all)"


def login(page: Page, stack: Stack, user: str) -> None:
    page.goto(stack.base + "/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(ADMIN_PASSWORD if user == "admin" else USER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("whoami")).to_contain_text(user)
    expect(page.get_by_test_id("link-state")).to_have_text("live", timeout=15_000)


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        # Generous: on a loaded machine the page may wait long for a quiet frame.
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True, timeout=90_000)


def view(page: Page, key: str) -> None:
    # The keyboard shortcut, as a user switching views would (focus on the page, not a field).
    page.locator("main").focus()
    page.keyboard.press(key)


def test_login_refuses_a_wrong_password_then_signs_in(stack: Stack, page: Page) -> None:
    page.goto(stack.base + "/")
    shot(page, "login")
    page.get_by_label("Username").fill("trader")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("bad username or password")
    login(page, stack, "trader")
    expect(page.get_by_test_id("whoami")).to_contain_text("trader")


def test_live_book_moves_on_the_market_view(stack: Stack, page: Page) -> None:
    login(page, stack, "trader")
    seq = page.get_by_test_id("seq-AAPL")
    expect(seq).to_have_text(re.compile(r"^\d+$"))
    first = int(seq.inner_text())
    # The exchange's participants act 200 times a second: the top moves within seconds.
    expect(seq).not_to_have_text(str(first), timeout=10_000)
    assert int(seq.inner_text()) > first
    expect(page.get_by_test_id("bid-AAPL")).to_have_text(re.compile(r"^\d+\.\d{4}$"))
    expect(page.get_by_test_id("ladder")).to_be_visible()
    expect(
        page.get_by_role("img", name="AAPL bid, ask and mid").locator("path.series")
    ).to_have_count(3, timeout=10_000)
    # The exchange's participants trade: their prints reach the trades panel over the bus.
    trades = page.get_by_test_id("trades").locator("tbody tr")
    expect(trades.first).to_contain_text(re.compile(r"\d+\.\d{4}"), timeout=20_000)
    # Keyboard: a top-of-book row takes focus and Enter opens its ladder and chart.
    page.get_by_test_id("top-NVDA").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="NVDA ladder")).to_be_visible()
    expect(page.get_by_role("img", name="NVDA bid, ask and mid")).to_be_visible()


def test_trader_starts_a_strategy_from_the_ui_and_sees_its_fill(stack: Stack, page: Page) -> None:
    login(page, stack, "trader")
    view(page, "2")
    expect(page.get_by_role("heading", name="Add a strategy")).to_be_visible()
    page.get_by_label("id", exact=True).fill("mm1")
    # Validation before anything is sent: a quote size of zero is refused in the form.
    page.locator("#new-params-quote_size").fill("0")
    page.get_by_role("button", name="Add strategy").click()
    expect(page.get_by_text("quote_size must be ≥ 1")).to_be_visible()
    assert stack.api("/strategies") == []
    page.locator("#new-params-quote_size").fill("100")
    page.locator("#new-params-half_spread").fill("100")
    page.get_by_role("button", name="Add strategy").click()
    row = page.get_by_test_id("strategy-mm1")
    expect(row.get_by_test_id("strategy-status")).to_have_text("stopped")
    row.get_by_role("button", name="Start").click()
    expect(row.get_by_test_id("strategy-status")).to_have_text("running")
    assert stack.api("/strategies/mm1")["running"] is True
    view(page, "3")
    fills = page.get_by_test_id("fills")
    expect(fills.locator("tbody tr").first).to_contain_text("AAPL", timeout=45_000)
    fill = stack.api("/market/fills?limit=1")[0]
    expect(page.get_by_test_id(f"order-{fill['client_order_id']}")).to_be_visible()
    view(page, "1")
    shot(page, "market")
    view(page, "4")
    expect(page.get_by_test_id("positions")).to_contain_text("AAPL")
    page.wait_for_timeout(3_000)  # a few PnL samples after the first fill
    shot(page, "positions")
    view(page, "3")
    shot(page, "orders")
    view(page, "2")
    page.get_by_test_id("strategy-mm1").get_by_role("button", name="Edit").click()
    expect(page.get_by_role("heading", name="Parameters · mm1")).to_be_visible()
    expect(page.locator("#params-mm1-half_spread")).to_have_value("100")
    page.locator("#params-mm1-max_inventory").fill("12.5")
    page.get_by_role("button", name="Save parameters").click()
    expect(page.get_by_text("max_inventory must be a whole number")).to_be_visible()
    page.locator("#params-mm1-max_inventory").fill("800")
    page.get_by_role("button", name="Save parameters").click()
    expect(page.get_by_text("saved")).to_be_visible()
    assert stack.api("/strategies/mm1")["params"]["max_inventory"] == 800
    shot(page, "strategies")
    view(page, "6")
    expect(page.get_by_test_id("engine")).to_contain_text("feed tcp://127.0.0.1", timeout=15_000)
    expect(page.get_by_test_id("seq-gaps")).to_have_text(re.compile(r"^\d+$"))
    expect(page.get_by_test_id("venue")).to_have_text("ouch", timeout=15_000)
    # The bench report is there (histogram) or the view names the command that makes it.
    latency = page.get_by_role("img", name="latency histogram").or_(
        page.get_by_test_id("latency-missing")
    )
    expect(latency).to_be_visible()
    # The feed handler's own live software-path figures, from its status on the bus.
    expect(page.get_by_test_id("live-feed-latency")).to_contain_text("p99", timeout=10_000)
    shot(page, "system")


def test_trader_sends_from_the_ticket_then_filters_and_cancels_in_the_blotter(
    stack: Stack, page: Page
) -> None:
    login(page, stack, "trader")
    page.get_by_test_id("top-MSFT").click()
    bid = float(page.get_by_test_id("bid-MSFT").inner_text())
    ticket = page.get_by_test_id("order-ticket")
    ticket.get_by_label("side").select_option("B")
    ticket.get_by_label("quantity").fill("7")
    ticket.get_by_label("price ($)").fill(f"{bid - 1:.2f}")  # a dollar under: it rests
    ticket.get_by_role("button", name="Buy MSFT").click()
    # Over OUCH the answer is "new"; the venue's acknowledgement follows on the event stream.
    expect(ticket.get_by_role("status")).to_have_text(re.compile(r"^\w+: (new|acknowledged)$"))
    order_id = ticket.get_by_role("status").inner_text().split(":")[0]
    view(page, "3")
    page.get_by_label("symbol").select_option("MSFT")
    page.get_by_label("state").select_option("open")
    row = page.get_by_test_id(f"order-{order_id}")
    expect(row).to_contain_text("acknowledged")
    expect(page.get_by_test_id("blotter").locator("tbody tr")).to_have_count(1)
    row.get_by_role("button", name=f"cancel {order_id}").click()
    expect(row).to_have_count(0)  # no longer open, so filtered out
    page.get_by_label("state").select_option("cancelled")
    expect(page.get_by_test_id(f"order-{order_id}")).to_contain_text("cancelled")
    assert stack.api(f"/orders/{order_id}")["state"] == "cancelled"


def test_kill_switch_asks_for_confirmation_then_trips_and_resets(stack: Stack, page: Page) -> None:
    login(page, stack, "risk")
    view(page, "5")
    state = page.get_by_test_id("kill-state")
    expect(state).to_have_text("off")
    page.get_by_role("button", name="KILL SWITCH").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Engage the kill switch?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert stack.api("/risk")["kill_switch"] is False  # cancelling the dialog did nothing
    page.get_by_label("reason (audit log)").fill("browser drill")
    page.get_by_role("button", name="KILL SWITCH").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Engage kill switch").click()
    expect(state).to_have_text("ENGAGED")
    expect(page.get_by_test_id("kill-badge")).to_be_visible()
    risk = stack.api("/risk")
    assert risk["kill_switch"] is True and risk["state"] == "halted"
    assert not any(s["running"] for s in stack.api("/strategies"))
    # Over OUCH the exchange confirms each cancel (or the order filled) a moment later.
    deadline = time.monotonic() + 10.0
    while still_open := stack.api("/orders?open_only=true"):
        assert time.monotonic() < deadline, (
            still_open,
            [
                r
                for r in stack.api("/risk/audit?limit=5000")
                if r.get("client_order_id") in {o["client_order_id"] for o in still_open}
            ][-10:],
        )
        time.sleep(0.2)
    shot(page, "risk-kill-switch")
    page.get_by_role("button", name="Release kill switch").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Release").click()
    expect(state).to_have_text("off")
    expect(page.get_by_test_id("risk-state")).to_have_text("halted")
    page.get_by_label("set state").select_option("active")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("risk-state")).to_have_text("active")
    assert stack.api("/risk")["state"] == "active"
    page.locator("#limit-max_order_quantity").fill("0")
    page.get_by_role("button", name="Save limits").click()
    expect(page.get_by_text("max_order_quantity must be ≥ 1")).to_be_visible()
    assert stack.api("/risk/limits")["max_order_quantity"] == 10_000  # nothing was sent
    page.locator("#limit-max_order_quantity").fill("5000")
    page.get_by_role("button", name="Save limits").click()
    expect(page.get_by_text("saved")).to_be_visible()
    assert stack.api("/risk/limits")["max_order_quantity"] == 5000
    shot(page, "risk")


def test_viewer_sees_live_data_but_cannot_trade(stack: Stack, page: Page) -> None:
    login(page, stack, "viewer")
    expect(page.get_by_test_id("ticket-disabled")).to_contain_text("may not send orders")
    expect(page.get_by_test_id("order-ticket")).to_have_count(0)
    view(page, "2")
    expect(page.get_by_role("button", name="Start")).to_have_count(0)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    expect(page.get_by_role("heading", name="Add a strategy")).to_have_count(0)
    view(page, "3")
    expect(page.get_by_role("button", name=re.compile("^Cancel"))).to_have_count(0)
    view(page, "5")
    expect(page.get_by_role("button", name="KILL SWITCH")).to_have_count(0)
    expect(page.locator("#limit-max_order_quantity")).to_be_disabled()
    # And the server agrees: the viewer's own token is refused an order.
    status = page.evaluate(
        """async () => {
            const {token} = JSON.parse(sessionStorage.getItem("velocimex.session"));
            const r = await fetch("/orders", {method: "POST", headers: {
                "authorization": `Bearer ${token}`, "content-type": "application/json"},
                body: JSON.stringify({symbol: "AAPL", side: "B", quantity: 1, price: 1000000})});
            return r.status;
        }"""
    )
    assert status == 403


def test_live_link_reconnects_after_the_control_plane_restarts(stack: Stack, page: Page) -> None:
    login(page, stack, "viewer")
    link = page.get_by_test_id("link-state")
    seq = page.get_by_test_id("seq-MSFT")
    stack.restart_serve(down_s=2.0)
    # While it was down the badge said so; the page reconnects by itself with backoff.
    expect(link).to_have_text("live", timeout=20_000)
    before = seq.inner_text()
    expect(seq).not_to_have_text(before, timeout=10_000)  # live data flows again
    view(page, "6")
    expect(page.get_by_text(re.compile(r"[1-9]\d* reconnects"))).to_be_visible()


def test_a_refused_token_returns_to_the_login_page(stack: Stack, page: Page) -> None:
    login(page, stack, "viewer")
    # As after the 8 h expiry: the stored token is no longer accepted by the server.
    page.evaluate(
        """() => {
            const saved = JSON.parse(sessionStorage.getItem("velocimex.session"));
            saved.token = saved.token.slice(0, -4) + "AAAA";
            sessionStorage.setItem("velocimex.session", JSON.stringify(saved));
        }"""
    )
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=10_000)
    assert page.evaluate("sessionStorage.getItem('velocimex.session')") is None
