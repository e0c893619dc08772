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

// Outputs keep their lines (sitetools.css), so an output whose longest line
// is wider than the column scrolls sideways. Such a box, measured again
// whenever its size changes, takes keyboard focus (tabindex: the arrow keys
// scroll it), is a named region for screen readers, and fades on the side
// where more of it lies hidden (classes for sitetools.css). A box that fits
// gets none of this: no extra stop for the Tab key. (pydata-sphinx-theme sets
// the same tab stops once the page has loaded; these come at once, with the
// region's name and the fades.)
const OUTPUT_LABELS = {
  en: "Output, scrolls sideways",
  zh: "输出（可横向滚动）",
  ja: "出力（横にスクロールできます）",
  tr: "Çıktı (yana kaydırılabilir)",
  vi: "Kết quả (cuộn ngang để xem hết)",
};

document.addEventListener("DOMContentLoaded", () => {
  const language = document.documentElement.lang.split("-")[0];
  const label = OUTPUT_LABELS[language] || OUTPUT_LABELS.en;
  const boxes = Array.from(document.querySelectorAll("div.cell_output pre"));
  const measure = (pre) => {
    const hidden = pre.scrollWidth - pre.clientWidth;
    const scrolls = hidden > 1;
    pre.classList.toggle("output-scrolls", scrolls);
    pre.classList.toggle("output-more-left", scrolls && pre.scrollLeft > 1);
    pre.classList.toggle("output-more-right", scrolls && pre.scrollLeft < hidden - 1);
    // The same rule as the theme's own tab stops for scrolling boxes (0 or
    // -1), which it sets on the window's load and after a resize.
    pre.tabIndex = scrolls || pre.scrollHeight > pre.clientHeight + 1 ? 0 : -1;
    if (scrolls) {
      pre.setAttribute("role", "region");
      pre.setAttribute("aria-label", label);
    } else {
      pre.removeAttribute("role");
      pre.removeAttribute("aria-label");
    }
  };
  const measureAll = () => boxes.forEach(measure);
  for (const pre of boxes) pre.addEventListener("scroll", () => measure(pre), { passive: true });
  if (window.ResizeObserver) {
    const observer = new ResizeObserver((entries) => entries.forEach((e) => measure(e.target)));
    boxes.forEach((pre) => observer.observe(pre));
  }
  window.addEventListener("resize", measureAll);
  window.addEventListener("load", measureAll);
  if (document.fonts) document.fonts.ready.then(measureAll);  // wider once the font arrives
  measureAll();
});
