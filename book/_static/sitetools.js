// Small repairs to the book theme and to Sphinx's search page, on every page.
"use strict";

// Search excerpts offline. Sphinx's search page fetches each page it found to
// cut an excerpt around the word, which a page opened from disk (file://) may
// not do: the console fills with errors and no excerpt shows. The search page
// loads the text of every page (searchtexts.js, written by book/sitetools.py)
// and those fetches are answered from it, online and offline alike.
{
  const fetchFromNetwork = window.fetch.bind(window);
  window.fetch = (resource, options) => {
    const texts = window.SITE_SEARCH_TEXTS;
    if (texts && typeof resource === "string") {
      const url = new URL(resource, document.baseURI);
      const root = new URL(document.documentElement.dataset.content_root || "./", document.baseURI);
      const path = decodeURIComponent(url.pathname);
      const rootPath = decodeURIComponent(root.pathname);
      if (path.startsWith(rootPath) && path.endsWith(".html")) {
        const docname = path.slice(rootPath.length, -".html".length);
        if (Object.prototype.hasOwnProperty.call(texts, docname))
          return Promise.resolve(new Response(texts[docname],
            { headers: { "Content-Type": "text/html; charset=utf-8" } }));
      }
    }
    return fetchFromNetwork(resource, options);
  };
}

// The search page's messages where Sphinx's catalog for the language lacks
// them (its status line, "Search finished, found 3 pages ...", came out in
// English on the Japanese, Turkish and Vietnamese sites). A message with
// singular and plural is a list indexed by the catalog's plural rule.
const SEARCH_MESSAGES = {
  ja: {
    "Search finished, found one page matching the search query.":
      ["検索が完了しました。検索条件に一致するページが ${resultCount} 件見つかりました。"],
  },
  tr: {
    "Search finished, found one page matching the search query.":
      ["Arama tamamlandı, arama sorgusuyla eşleşen bir sayfa bulundu.",
       "Arama tamamlandı, arama sorgusuyla eşleşen ${resultCount} sayfa bulundu."],
  },
  vi: {
    "Search finished, found one page matching the search query.":
      ["Tìm kiếm hoàn tất, có ${resultCount} trang khớp với truy vấn."],
    "Search Results": "Kết quả tìm kiếm",
    "Searching": "Đang tìm kiếm",
    "Preparing search...": "Đang chuẩn bị tìm kiếm...",
    "Hide Search Matches": "Ẩn kết quả tìm kiếm",
    "Your search did not match any documents. Please make sure that all words are spelled correctly and that you've selected enough categories.":
      "Không tìm thấy trang nào khớp với truy vấn. Hãy kiểm tra lại chính tả của các từ.",
  },
};

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

  // Figures shrink to the page's width (sitetools.css); a tap or click opens
  // the drawing at full size in a tab of its own, where it can be zoomed.
  for (const img of document.querySelectorAll("figure.chapter-figure img")) {
    if (img.closest("a")) continue;
    const link = document.createElement("a");
    link.className = "figure-full";
    link.href = img.getAttribute("src");
    link.target = "_blank";
    link.rel = "noopener";
    img.replaceWith(link);
    link.append(img);
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
  // Fill in the search messages above, drop the other empty ones (so that
  // English shows), and index with a number. This runs before the search
  // page's own start-up, which is registered later. (doctools.js declares
  // Documentation with const: it is not a property of window.)
  if (typeof Documentation !== "undefined" && Documentation.TRANSLATIONS) {
    const language = document.documentElement.lang.split("-")[0];
    for (const [message, ours] of Object.entries(SEARCH_MESSAGES[language] || {})) {
      const theirs = Documentation.TRANSLATIONS[message];
      const forms = Array.isArray(theirs) ? theirs : [theirs];
      if (forms.some((form) => !form)) Documentation.TRANSLATIONS[message] = ours;
    }
    for (const [message, translation] of Object.entries(Documentation.TRANSLATIONS)) {
      const forms = Array.isArray(translation) ? translation : [translation];
      if (forms.some((form) => !form)) delete Documentation.TRANSLATIONS[message];
    }
    const plural = Documentation.PLURAL_EXPR;
    if (typeof plural === "function") Documentation.PLURAL_EXPR = (n) => Number(plural(n));
  }
});
