// Rewards: the redeem sheet (focus, "Not now", Escape). No inline script (CSP).

// While the sheet is open the page behind it is inert: Tab and a screen reader stay in the sheet.
function setBehindInert(sheet, inert) {
  for (let node = sheet; node && node !== document.body; node = node.parentElement) {
    for (const sibling of node.parentElement.children) {
      if (sibling === node || sibling.tagName === "SCRIPT") continue;
      if (inert) {
        if (!sibling.inert) { sibling.inert = true; sibling.dataset.sheetInert = ""; }
      } else if ("sheetInert" in sibling.dataset) {
        sibling.inert = false;
        delete sibling.dataset.sheetInert;
      }
    }
  }
}

for (const sheet of document.querySelectorAll("details.redeem-sheet")) {
  const summary = sheet.querySelector("summary");
  // The Redeem button hides while the sheet is open, so focus moves into the sheet and back when it closes.
  sheet.addEventListener("toggle", () => {
    setBehindInert(sheet, sheet.open);
    if (sheet.open) sheet.querySelector("#sheet-title")?.focus();
    else summary.focus();
  });
  if (sheet.open) setBehindInert(sheet, true);  // opened by the server (a refused redemption)
  sheet.querySelector("[data-close-sheet]")?.addEventListener("click", (event) => {
    event.preventDefault();  // without this script the link reloads the page, which closes the sheet too
    sheet.open = false;
  });
  sheet.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && sheet.open) sheet.open = false;
    if (event.key !== "Tab" || !sheet.open) return;
    // Past the last control Tab comes back to the first (and Shift+Tab the other way), not to the browser.
    const stops = [...sheet.querySelectorAll("form a[href], form button, form input, form select, form textarea")]
      .filter((el) => !el.disabled && el.type !== "hidden" && el.getClientRects().length);
    const [first, last] = [stops[0], stops[stops.length - 1]];
    if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
    else if (event.shiftKey && (document.activeElement === first || !stops.includes(document.activeElement))) {
      event.preventDefault();
      last.focus();
    }
  });
}
