// Rewards: the redeem sheet (focus, "Not now", Escape) and copying a gift-card code. No inline script (CSP).

for (const sheet of document.querySelectorAll("details.redeem-sheet")) {
  const summary = sheet.querySelector("summary");
  // The Redeem button hides while the sheet is open, so focus moves into the sheet and back when it closes.
  sheet.addEventListener("toggle", () => {
    if (sheet.open) sheet.querySelector("#sheet-title")?.focus();
    else summary.focus();
  });
  sheet.querySelector("[data-close-sheet]")?.addEventListener("click", (event) => {
    event.preventDefault();  // without this script the link reloads the page, which closes the sheet too
    sheet.open = false;
  });
  sheet.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && sheet.open) sheet.open = false;
  });
}

async function copyText(text, element) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (or no permission): select the text so a long press or Ctrl+C copies it.
    window.getSelection().selectAllChildren(element);
    return document.execCommand("copy");
  }
}

// A Copy button (hidden until this script runs) copies its target's text and says so in a live region.
for (const button of document.querySelectorAll("button[data-copy]")) {
  const target = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.status);
  if (!target || !status) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const copied = await copyText(target.textContent.trim(), target);
    status.textContent = "";
    // A fresh text node each time, so a second copy is announced again.
    setTimeout(() => { status.textContent = copied ? button.dataset.copied : button.dataset.failed; }, 50);
  });
}
