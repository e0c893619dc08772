// Small repairs to the book theme and to Sphinx's search page, on every page.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // The theme puts a hidden sidebar button first in the page and listens to
  // the first button of each kind only, so the visible ones (the phone menu,
  // the page contents, the desktop collapse button) did nothing. Pass their
  // clicks on to the button the theme listens to.
  for (const kind of ["primary", "secondary"]) {
    const [listened, ...others] = document.querySelectorAll(`.${kind}-toggle`);
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation();
        listened.click();
      });
    }
  }

  // Figures on a phone: the smallest width at which a diagram's labels stay
  // legible, 4/5 of its own width (used by sitetools.css below 600 px).
  for (const img of document.querySelectorAll("figure.chapter-figure img")) {
    const legible = () => img.style.setProperty("--legible-width", `${0.8 * img.naturalWidth}px`);
    if (img.complete) legible(); else img.addEventListener("load", legible);
  }

  // The ".ipynb" entry of the download menu saves the notebook instead of
  // opening its JSON in a new tab.
  for (const link of document.querySelectorAll("a.btn-download-source-button")) {
    link.setAttribute("download", link.getAttribute("href").split("/").pop());
    link.removeAttribute("target");
  }

  // Sphinx's message catalogs hold empty translations for some languages
  // (the search page's status line came out blank) and plural rules that give
  // true/false instead of an index (Turkish: a script error on searching).
  // Drop the empty messages, so that English shows, and index with a number.
  // This runs before the search page's own start-up, which is registered later.
  // (doctools.js declares Documentation with const: it is not a property of window.)
  if (typeof Documentation !== "undefined" && Documentation.TRANSLATIONS) {
    for (const [message, translation] of Object.entries(Documentation.TRANSLATIONS)) {
      const forms = Array.isArray(translation) ? translation : [translation];
      if (forms.some((form) => !form)) delete Documentation.TRANSLATIONS[message];
    }
    const plural = Documentation.PLURAL_EXPR;
    if (typeof plural === "function") Documentation.PLURAL_EXPR = (n) => Number(plural(n));
  }
});
