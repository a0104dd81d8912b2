// The admin navigation scrolls sideways on a phone: bring the current section (and page) into view.
for (const current of document.querySelectorAll(".adminnav [aria-current], .subnav [aria-current]")) {
  const row = current.parentElement;
  if (row.scrollWidth > row.clientWidth) {
    row.scrollLeft = current.offsetLeft - row.offsetLeft - (row.clientWidth - current.offsetWidth) / 2;
  }
}
