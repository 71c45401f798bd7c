"""The admin page in a real browser: headless Chromium driven through chromedriver (Debian's
packages) with Selenium. Signs in as an admin, opens a member's "are you sure?" page, checks
the cascade tree, archives, checks the trash and the archive log, restores, checks the member
is back. A screenshot of each step goes to the directory given as the second argument.

Usage: python admin_page.py http://127.0.0.1:PORT OUT_DIR   (run by .ci/service)
"""

import json
import os
import sys
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BASE, OUT = sys.argv[1], sys.argv[2]


def api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def check(condition, what, page):
    if not condition:
        raise AssertionError(f"{what}\n--- page text ---\n{page}")
    print(f"ok: {what}")


member = api("POST", "/api/members", {
    "name": "Grace", "email": "grace@example.com",
    "orders": [{"code": "G-1", "items": ["compiler", "manual"]}],
    "posts": ["On debugging"], "reviews": ["works"],
})
mid = member["id"]

options = Options()
for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900"]:
    options.add_argument(arg)
options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
driver.set_page_load_timeout(30)
try:
    def detached(error):
        # A node of a page being replaced: Chromium reports it stale, or, racing the new page,
        # as an inspector error that the node "does not belong to the document".
        return isinstance(error, StaleElementReferenceException) or "does not belong to the document" in str(error)

    def text():
        # A read can race the page being replaced; read again from the new page.
        for _ in range(50):
            try:
                return driver.find_element(By.TAG_NAME, "body").text
            except WebDriverException as error:
                if not detached(error):
                    raise
        return driver.find_element(By.TAG_NAME, "body").text

    def gone(old):
        def predicate(_):
            try:
                old.is_enabled()
                return False
            except WebDriverException as error:
                if detached(error):
                    return True
                raise
        return predicate

    def submit(element):
        # The forms post and redirect: a click returns before the next page is there, so wait
        # until the old page is gone and the new one has loaded before reading it.
        old = driver.find_element(By.TAG_NAME, "html")
        element.click()
        WebDriverWait(driver, 30).until(gone(old))
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")

    def shot(name):
        driver.save_screenshot(os.path.join(OUT, f"admin-{name}.png"))

    driver.get(BASE + "/admin")
    check("Signed in as anonymous" in text(), "the page opens, nobody signed in", text())
    driver.find_element(By.NAME, "user").clear()
    driver.find_element(By.NAME, "user").send_keys("ada")
    driver.find_element(By.NAME, "admin").click()
    submit(driver.find_element(By.ID, "sign-in"))
    check("Signed in as ada (admin)" in text(), "signed in as an admin", text())
    check("Grace" in driver.find_element(By.ID, "members").text, "Grace is a live member", text())
    shot("1-members")

    submit(driver.find_element(By.ID, f"archive-{mid}"))
    plan = driver.find_element(By.ID, "plan").text
    check("Are you sure?" in text() and "archive 1 row of `members`" in plan, "the are-you-sure page shows the tree", text())
    check("`order_items`.`order_id` cascade: 2 rows archived" in plan, "the tree counts the order's items", plan)
    check("`reviews`.`author_id` set_null: 1 link cut" in plan, "the tree shows the review losing its author", plan)
    shot("2-are-you-sure")
    driver.find_element(By.ID, "reason").send_keys("left the company")
    submit(driver.find_element(By.ID, "confirm"))

    notice = driver.find_element(By.ID, "notice").text
    check(notice.startswith("Archived: archive #"), "the archive is confirmed", text())
    archive_id = int(notice.split("#")[1].rstrip("."))
    trash = driver.find_element(By.ID, "trash").text
    check("Grace" in trash and f"#{archive_id}" in trash, "Grace is in the trash, with the archive", trash)
    check("Grace" not in driver.find_element(By.ID, "members").text, "Grace is no longer live", text())
    log = driver.find_element(By.ID, "archives").text
    check("left the company" in log and "ada" in log, "the archive log has who and why", log)
    shot("3-archived")

    submit(driver.find_element(By.ID, f"restore-{archive_id}"))
    check(f"Restored archive #{archive_id}." in driver.find_element(By.ID, "notice").text, "the restore is confirmed", text())
    check("Grace" in driver.find_element(By.ID, "members").text, "Grace is live again", text())
    check("Grace" not in driver.find_element(By.ID, "trash").text, "the trash is empty of her", text())
    check("restored" in driver.find_element(By.ID, "archives").text, "the archive log shows it restored", text())
    shot("4-restored")
    back = api("GET", f"/api/members/{mid}")
    check(back["deleted_at"] is None, "the API agrees: Grace is live", back)
finally:
    driver.quit()
print("browser test passed")
