// Small accessibility fixes to markup the theme and docutils generate (checked by tests/test_browser.py
// with axe-core). Each fix is idempotent and only changes an element that still needs it.
function fixAccessibility() {
  // pydata-sphinx-theme labels its search button "Search" while it shows "Search Ctrl+K"; WCAG 2.5.3
  // (label in name) wants the visible text in the accessible name, so the button's text names it.
  for (const button of document.querySelectorAll(".search-button-field[aria-label]")) {
    button.removeAttribute("aria-label");
  }
  // The colour-mode button is named "Color mode", but its icons carry titles ("Light", "Dark", ...)
  // that count as its text: first as <i title>, then, once Font Awesome has swapped each <i> for an
  // <svg> (at a moment that varies from load to load), as <svg><title>. The icons are decoration:
  // drop the titles and hide the icons from assistive technology, whichever form they are in.
  for (const icon of document.querySelectorAll(".theme-switch-button .theme-switch")) {
    if (icon.hasAttribute("title")) icon.removeAttribute("title");
    if (icon.hasAttribute("aria-labelledby")) icon.removeAttribute("aria-labelledby");
    for (const title of icon.querySelectorAll("title")) title.remove();
    if (icon.getAttribute("aria-hidden") !== "true") icon.setAttribute("aria-hidden", "true");
  }
  // docutils marks a bibliography role="list" but puts link targets directly inside it, which a
  // list may not contain; plain containers carry the same content.
  for (const list of document.querySelectorAll(".citation-list[role='list']")) {
    list.removeAttribute("role");
    for (const entry of list.querySelectorAll("[role='doc-biblioentry']")) {
      entry.removeAttribute("role");
    }
  }
}

// The theme's scripts build or touch these buttons after the page has parsed, at times that vary, so
// apply the fixes as soon as the markup exists and again whenever the DOM changes.
document.addEventListener("DOMContentLoaded", () => {
  fixAccessibility();
  new MutationObserver(fixAccessibility).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["title", "aria-label", "aria-labelledby", "role"],
  });
});
