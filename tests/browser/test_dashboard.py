"""The dashboard in a real browser (Debian's headless Chromium): sign in with the bootstrap
credentials, see the VM, protect it, back up now and watch the job complete, restore a
recovery point and watch that complete; the clock controls; the page on a phone-sized
window; and errors shown in the page. Every page must log no console errors."""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta

from playwright.sync_api import expect

from conftest import GROUP, VAULT, VM, open_page, screenshot

JOB_TIMEOUT_MS = 90_000


def sign_in(page, service, base: str | None = None, creds: dict | None = None) -> None:
    page.goto((base or service.http) + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    creds = creds or service.credentials
    page.get_by_label("Tenant ID").fill(creds["tenantId"])
    page.get_by_label("Client ID").fill(creds["clientId"])
    page.get_by_label("Client secret").fill(creds["clientSecret"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#inventory-body tr[data-vm]").first).to_be_visible()


def test_the_page_and_its_assets_are_served_with_a_strict_policy(service):
    with urllib.request.urlopen(service.https + "/", context=service.https_context()) as response:
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_sign_in_protect_back_up_and_restore(page, service):
    sign_in(page, service)
    vm_row = page.locator(f"#inventory-body tr[data-vm='{VM}']")
    expect(vm_row).to_contain_text(GROUP)
    expect(vm_row).to_contain_text(f"{VM}-os")
    expect(page.locator("#clock-now")).not_to_have_text("—")
    # The token stays out of the URL and out of localStorage.
    assert "token" not in page.url
    assert page.evaluate("() => localStorage.length") == 0
    screenshot(page, "01-signed-in")

    vm_row.get_by_label(f"Policy for {VM}").select_option(label=f"{VAULT} / DefaultPolicy")
    vm_row.get_by_role("button", name="Protect").click()
    item_row = page.locator(f"#vaults-body tr[data-item='{VM}']")
    expect(item_row).to_be_visible()
    expect(vm_row).to_contain_text("DefaultPolicy")

    item_row.get_by_role("button", name="Back up now").click()
    vm_timeline = page.locator(f"#timeline-body article[data-vm='{VM}']")
    backup = vm_timeline.locator("tr[data-operation='Backup']").first
    expect(backup).to_have_attribute("data-status", "Completed", timeout=JOB_TIMEOUT_MS)
    # The scheduled instant (from /_sim) and the consistency of the point it made.
    expect(backup.locator("td").nth(2)).not_to_have_text("—")
    expect(backup.locator("td").nth(5)).to_contain_text("Consistent")
    expect(item_row).to_contain_text("Completed")
    point = page.locator(f"#points-body article[data-item='{VM}'] tr[data-point]").first
    expect(point).to_contain_text("Instant")
    expect(point).to_contain_text("Vault")
    # DefaultPolicy keeps daily points 30 days: the expiry is shown.
    expect(point.locator("td").nth(3)).not_to_have_text("never")
    expect(page.locator("#charts-body svg rect.bar-completed").first).to_be_attached()
    screenshot(page, "02-backed-up")

    point.get_by_role("button", name="Restore disks").click()
    restore = vm_timeline.locator("tr[data-operation='Restore']").first
    expect(restore).to_have_attribute("data-status", "Completed", timeout=JOB_TIMEOUT_MS)
    screenshot(page, "03-restored")


def test_the_dashboard_works_over_https(browser, request, service):
    # Chromium does not know the service's generated CA; the page itself is what is tested.
    page, _ = open_page(browser, request, viewport={"width": 1280, "height": 900}, ignore_https_errors=True)
    sign_in(page, service, base=service.https)
    expect(page.locator(f"#inventory-body tr[data-vm='{VM}']")).to_be_visible()


def test_with_no_auth_there_is_no_sign_in(page, open_service):
    page.goto(open_service.http + "/")
    expect(page.locator("#account-name")).to_have_text("No sign-in (--no-auth)")
    expect(page.locator("#clock-now")).not_to_have_text("—")
    expect(page.locator("#inventory-body")).to_contain_text("No virtual machines yet")
    expect(page.locator("#signin")).to_be_hidden()


def test_the_clock_pins_and_advances(page, service):
    sign_in(page, service)
    page.get_by_role("button", name="Pin").click()
    expect(page.locator("#clock-mode")).to_have_text("pinned")
    shown = page.locator("#clock-now").inner_text()
    before = datetime.fromisoformat(shown)
    page.get_by_label("Advance by").fill("PT2H")
    page.get_by_role("button", name="Advance").click()
    expect(page.locator("#notices")).to_contain_text("Advanced by PT2H", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#clock-now")).not_to_have_text(shown)
    after = datetime.fromisoformat(page.locator("#clock-now").inner_text())
    assert after - before >= timedelta(hours=2), (before, after)
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#clock-mode")).to_have_text("running")
    screenshot(page, "04-clock")


def test_an_api_error_is_shown_in_the_page(problems_and_page, service):
    problems, page = problems_and_page
    sign_in(page, service)
    page.get_by_label("Advance by").fill("one hour")
    # The service answers 400; the browser logs the failed request, the page shows why.
    problems.expect(r"Failed to load resource: the server responded with a status of 400")
    page.get_by_role("button", name="Advance").click()
    expect(page.locator("#errors")).to_contain_text("InvalidRequestContent")


def test_a_principal_that_is_not_an_admin_sees_its_subscription_without_the_clock(problems_and_page, service):
    problems, page = problems_and_page
    created = service.arm("POST", "/_sim/principals",
                          {"displayName": "dashboard reader", "subscriptionIds": [service.subscription]})
    problems.expect(r"Failed to load resource: the server responded with a status of 403")
    sign_in(page, service, creds=created)
    expect(page.locator(f"#inventory-body tr[data-vm='{VM}']")).to_be_visible()
    expect(page.locator("#errors")).to_contain_text("AuthorizationFailed")
    expect(page.get_by_role("button", name="Advance")).to_be_disabled()


def test_a_wrong_secret_is_refused_with_the_reason(problems_and_page, service):
    problems, page = problems_and_page
    page.goto(service.http + "/")
    creds = service.credentials
    page.get_by_label("Tenant ID").fill(creds["tenantId"])
    page.get_by_label("Client ID").fill(creds["clientId"])
    page.get_by_label("Client secret").fill("not-the-secret")
    problems.expect(r"Failed to load resource: the server responded with a status of 401")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-message")).to_contain_text("invalid_client")
    expect(page.locator("#dashboard")).to_be_hidden()


def test_a_phone_sized_window_does_not_scroll_sideways(browser, request, service):
    page, _ = open_page(browser, request, viewport={"width": 390, "height": 844}, is_mobile=True,
                        has_touch=True, device_scale_factor=2)
    page.goto(service.http + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_no_horizontal_overflow(page)
    screenshot(page, "05-phone-sign-in")
    sign_in(page, service)
    expect(page.locator(f"#timeline-body article[data-vm='{VM}']")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    assert_no_horizontal_overflow(page)
    screenshot(page, "06-phone-dashboard")


def assert_no_horizontal_overflow(page) -> None:
    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,"
        " body: document.body.scrollWidth})")
    assert widths["scroll"] <= widths["client"] and widths["body"] <= widths["client"], json.dumps(widths)
