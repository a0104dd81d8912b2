// File drop zones (templates/macros/forms.html): the real <input type=file> covers the zone, so a
// click, a tap, a drop or the keyboard all reach it; this only shows the chosen file's name.
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "file") return;
  const name = input.closest(".drop")?.querySelector("[data-drop-name]");
  if (name) name.textContent = [...input.files].map((file) => file.name).join(", ");
});

// A file dragged over the zone: mark it, so the drop target is plain before letting go.
for (const type of ["dragenter", "dragleave", "drop"]) {
  document.addEventListener(type, (event) => {
    const zone = event.target instanceof Element ? event.target.closest(".drop") : null;
    if (zone) zone.classList.toggle("over", type === "dragenter");
  });
}
