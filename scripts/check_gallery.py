#!/usr/bin/python3
"""Opens a `medvision-build gallery` page in a real headless Chromium and checks what a reviewer would see.

Usage: /usr/bin/python3 check_gallery.py <gallery.html>   (Debian python3, where python3-selenium lives)
Needs Debian's `chromium`, `chromium-driver` and `python3-selenium` (apt-get install -y chromium
chromium-driver python3-selenium); not part of `cargo test` or CI.

Asserts: the page loads with no browser console message of level SEVERE or WARNING (a failed resource, a bad
data URI and a CSS/HTML error land there); every <img> finished loading with naturalWidth/naturalHeight > 0
equal to its width/height attributes and to its overlay's viewBox; every card has a visible box drawn (an
<svg> child with a non-empty bounding box); no request left the file (the Performance API lists only the page
itself); and the pure-CSS filters work: picking each config shows exactly that config's cards, `all` shows
them all again.
"""
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def main(page):
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get("file://" + os.path.abspath(page))
        problems = []
        logs = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        problems += [f"console {e['level']}: {e['message']}" for e in logs]
        images = driver.execute_script(
            """return [...document.querySelectorAll('figure')].map(f => {
                 const img = f.querySelector('img'), svg = f.querySelector('svg');
                 const shape = svg.querySelector('rect, line, circle');
                 const b = shape ? shape.getBBox() : {width: 0, height: 0};
                 return {alt: img.alt, complete: img.complete, w: img.naturalWidth, h: img.naturalHeight,
                         aw: +img.getAttribute('width'), ah: +img.getAttribute('height'),
                         vb: svg.getAttribute('viewBox'), shape: b.width + b.height};
               });"""
        )
        if not images:
            problems.append("no cards")
        for i in images:
            if not i["complete"] or i["w"] <= 0 or i["h"] <= 0:
                problems.append(f"{i['alt']}: image did not render ({i['w']}x{i['h']})")
            if (i["w"], i["h"]) != (i["aw"], i["ah"]) or i["vb"] != f"0 0 {i['w']} {i['h']}":
                problems.append(f"{i['alt']}: size {i['w']}x{i['h']}, attributes {i['aw']}x{i['ah']}, viewBox {i['vb']}")
            if i["shape"] <= 0:
                problems.append(f"{i['alt']}: overlay draws nothing")
        requests = driver.execute_script(
            "return performance.getEntriesByType('resource').map(r => r.name).filter(n => !n.startsWith('data:'))"
        )
        problems += [f"request to {r}" for r in requests]
        labels = driver.find_elements(By.CSS_SELECTOR, "nav label[for^='fc']")
        for label in labels[1:]:
            label.click()
            name = label.text
            visible = [f for f in driver.find_elements(By.TAG_NAME, "figure") if f.is_displayed()]
            wrong = [f for f in visible if not f.find_element(By.TAG_NAME, "b").text.startswith(name + " ·")]
            if not visible or wrong:
                problems.append(f"filter config={name}: {len(visible)} visible, {len(wrong)} of another config")
        labels[0].click()
        shown = sum(f.is_displayed() for f in driver.find_elements(By.TAG_NAME, "figure"))
        if shown != len(images):
            problems.append(f"filter all: {shown} of {len(images)} cards visible")
    finally:
        driver.quit()
    for p in problems:
        print(p)
    print(f"{page}: {len(images)} card(s), {len(labels) - 1} config filter(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
