// The Polish page check (test_polish.py): visible texts that are not from the bundle.
([bundle, data]) => {
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const words = (list) => list.filter((s) => s && s.trim().length > 0).map((s) => s.trim())
    .sort((a, b) => b.length - a.length)
    // a word ends where no letter follows, nor a dot and a letter ("test" is no part of test.abort)
    .map((s) => new RegExp(`(^|[^\\p{L}_])${escape(s)}(?=$|[^\\p{L}_.]|\\.(?!\\p{L}))`, "gu"));
  const dataRes = words(data);
  const PLACEHOLDER = /\{\w+\}/;
  const bundleRes = words(bundle.filter((s) => !PLACEHOLDER.test(s)));
  // A text with parameters ("test {report} failed") matches as a whole; its literal words go,
  // what stands for its parameters stays to be checked (data, numbers, or a nested sentence).
  const literal = (s) => s.replace(/\{\w+\}/g, "").replace(/[\s\p{P}]+/gu, "");
  const templateRes = bundle.filter((s) => s && PLACEHOLDER.test(s) && literal(s))
    .map((s) => s.trim().replace(/(\{\w+\})+/g, "{x}")).sort((a, b) => literal(b).length - literal(a).length)
    .map((s) => ({
      // the longest literal piece: a text without it cannot match (spares the regex)
      piece: s.split(/\{x\}/).sort((a, b) => b.length - a.length)[0],
      re: new RegExp(`(^|[^\\p{L}_])${s.split(/(\{x\})/).map((part) => (part === "{x}" ? "(.*?)" : escape(part))).join("")}(?=$|[^\\p{L}_])`, "gu"),
    }));
  const sentences = (s) => {
    for (let pass = 0; pass < 5; pass += 1) {
      const before = s;
      for (const { piece, re } of templateRes) {
        if (s.includes(piece)) s = s.replace(re, (...m) => ` ${m.slice(1, -2).join(" ")} `);
      }
      if (s === before) break;
    }
    return s;
  };
  const SKIP = "script,style,code,pre,textarea,canvas,svg,[translate=no],.json-editor,.jse-main,time";
  const FIRST = [
    /[\w.+-]+@[\w.-]+/g,                         // e-mail addresses
    /\b[0-9a-f]{12,}\b/gi,                       // checksums, tokens
    /(?<=\d\s?)l\/min\b/g,                       // a flow's unit, before "min" alone goes
  ];
  const DATA = [
    /\b[a-z_]+(\.[a-z_]+)+\b/g,                 // dotted codes: audit actions
    /\b\d{1,4}[-./]\d{1,2}[-./]\d{1,4}(,? \d{1,2}:\d{2}(:\d{2})?)?/g, // dates and times
    /\b\d{1,2}:\d{2}(:\d{2})?\b/g,               // times
    /\bv?\d+(\.\d+)+(-[\w.]+)?\b/g,              // versions
    /\b[\w-]*[\d_][\w-]*\b/g,                    // identifiers with digits or underscores
    /\b[A-Z]{2,}(-[A-Z0-9]+)*\b/g,               // codes: SHA-256, PDF, CSV, JSON, QR, ID
    /\b(mbar|bar|l\/min|min|ms|s|MB|kB|KiB|MiB|px|h)\b/g, // units
  ];
  // Data first, then the bundle, then the patterns; or the bundle first: either clean is fine.
  const strip = (raw, first, second) => {
    let s = " " + raw + " ";
    for (const re of FIRST) s = s.replace(re, " ");
    if (first === bundleRes) s = sentences(s);
    for (const re of first) s = s.replace(re, "$1 ");
    if (second === bundleRes) s = sentences(s);
    for (const re of second) s = s.replace(re, "$1 ");
    for (const re of DATA) s = s.replace(re, " ");
    return s.replace(/[\s\d.,:;/()\-–—+±×%·‹›«»#*|<>=≤≥"'’!?…°\[\]−∞✔✘✓✗⚠▶■●◎→]+/g, " ").trim();
  };
  const left = (raw) => {
    const a = strip(raw, dataRes, bundleRes);
    return a ? strip(raw, bundleRes, dataRes) : a;
  };
  const bad = [];
  const visible = (node) => node && node.checkVisibility && node.checkVisibility();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const parent = n.parentElement;
    if (!parent || parent.closest(SKIP) || !visible(parent)) continue;
    if (parent.tagName === "OPTION") continue;
    const rest = left(n.data);
    if (rest) bad.push(`${parent.tagName.toLowerCase()}${parent.id ? "#" + parent.id : ""}: ${n.data.trim()} [${rest}]`);
  }
  for (const node of document.querySelectorAll("[placeholder],select option,[title],[aria-label]")) {
    const host = node.tagName === "OPTION" ? node.closest("select") : node;
    if (!visible(host) || host.closest(SKIP)) continue;
    for (const value of [node.getAttribute("placeholder"), node.getAttribute("title"), node.tagName === "OPTION" ? node.textContent : null]) {
      if (!value) continue;
      const rest = left(value);
      if (rest) bad.push(`${node.tagName.toLowerCase()}@: ${value.trim()} [${rest}]`);
    }
  }
  return [...new Set(bad)];
}
