// HR's survey builder: drag questions to reorder them (the ↑ ↓ buttons do the same without a mouse).
const list = document.querySelector(".question-list[data-reorder]");
if (list && list.dataset.reorder) {
  let dragged = null;
  list.addEventListener("dragstart", (event) => {
    dragged = event.target.closest("li[data-id]");
    if (dragged) dragged.classList.add("dragging");
  });
  list.addEventListener("dragover", (event) => {
    event.preventDefault();
    const over = event.target.closest("li[data-id]");
    if (!dragged || !over || over === dragged) return;
    const box = over.getBoundingClientRect();
    list.insertBefore(dragged, event.clientY > box.top + box.height / 2 ? over.nextSibling : over);
  });
  list.addEventListener("dragend", async () => {
    if (!dragged) return;
    dragged.classList.remove("dragging");
    dragged = null;
    const body = new URLSearchParams();
    // A form's token, else the one every page carries for htmx (hx-headers on <body>).
    const field = document.querySelector("input[name=csrf_token]");
    const token = field ? field.value : JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
    if (!token) return;
    body.append("csrf_token", token);
    list.querySelectorAll("li[data-id]").forEach((li) => body.append("order", li.dataset.id));
    const response = await fetch(list.dataset.reorder, { method: "POST", body, credentials: "same-origin",
                                                          headers: { "X-CSRFToken": token } });
    if (response.ok) window.location.reload();
    else window.alert(list.dataset.reorderFailed);
  });
}
