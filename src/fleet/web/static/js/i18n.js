// UI texts from the translations table. Every element with data-i18n="key" (and
// data-i18n-placeholder / -title / -aria-label) shows the chosen language; a key the language
// lacks falls back to English (the server merges the bundle), and without the server to the
// shipped static bundles, and last to the element's own English markup — never to a blank.
// The markup is the English source: an English text equal to the shipped default yields to the
// page's own (possibly newer) wording; one edited in the translations table wins.
const STORE = "fleet.lang";
const NAMES = { en: "English", pl: "Polski", de: "Deutsch", fr: "Français", cs: "Čeština", uk: "Українська" };
const ATTRS = [
  ["i18n", null],
  ["i18nPlaceholder", "placeholder"],
  ["i18nTitle", "title"],
  ["i18nAriaLabel", "aria-label"],
];
const SELECTOR = "[data-i18n],[data-i18n-placeholder],[data-i18n-title],[data-i18n-aria-label]";

let messages = {};
let shipped = {};
let language = localStorage.getItem(STORE) || "en";

async function getJson(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.json();
}

function usable(bundle) {
  return Object.fromEntries(Object.entries(bundle || {}).filter(([, v]) => typeof v === "string" && v.trim()));
}

async function loadBundle(lang) {
  try {
    return usable(await getJson(`/api/v1/i18n/${encodeURIComponent(lang)}`));
  } catch {
    const en = usable(await getJson("/static/i18n/en.json").catch(() => ({})));
    if (lang === "en") return en;
    const own = usable(await getJson(`/static/i18n/${encodeURIComponent(lang)}.json`).catch(() => ({})));
    return { ...en, ...own };
  }
}

// The text node an element shows: its only text, or the first non-blank text beside children.
function textTarget(node) {
  if (!node.children.length) return null;
  for (const child of node.childNodes) {
    if (child.nodeType === Node.TEXT_NODE && child.data.trim()) return child;
  }
  return null;
}

// The text to show for a key, given the element's own English text.
function pick(key, own) {
  const found = messages[key];
  if (found && found !== shipped[key]) return found;
  return own || found || "";
}

function translateOne(node) {
  for (const [prop, attr] of ATTRS) {
    const key = node.dataset[prop];
    if (!key) continue;
    const keep = `${prop}Default`;
    if (attr) {
      if (node.dataset[keep] === undefined) node.dataset[keep] = node.getAttribute(attr) || "";
      const value = pick(key, node.dataset[keep]);
      if (value) node.setAttribute(attr, value);
      continue;
    }
    const target = textTarget(node);
    if (node.dataset[keep] === undefined) node.dataset[keep] = target ? target.data.trim() : node.textContent;
    const value = pick(key, node.dataset[keep]);
    if (!value) continue;
    if (target) {
      if (target.data.trim() !== value) target.data = ` ${value} `;
    }
    else if (node.children.length === 0 && node.textContent !== value) node.textContent = value;
  }
}

// Texts a page script writes in English without a key (a button label, a table header) are
// found by their English wording in the bundle and shown in the chosen language; their English
// is kept so switching back restores it. Data never matches: [translate=no] and code are skipped.
const SOURCE = new WeakMap();
const SOURCE_ATTR = new WeakMap();
const SKIP_TEXT = "script,style,code,pre,textarea,[translate=no],.json-editor";
let byEnglish = new Map();

function englishIndex() {
  byEnglish = new Map();
  for (const [key, text] of Object.entries(shipped)) if (!byEnglish.has(text.trim())) byEnglish.set(text.trim(), key);
}

function swapText(node) {
  const parent = node.parentElement;
  if (!parent || parent.hasAttribute("data-i18n") || parent.closest(SKIP_TEXT)) return;
  const english = SOURCE.has(node) ? SOURCE.get(node) : node.data.trim();
  if (!english) return;
  const key = byEnglish.get(english);
  if (!key) return;
  const value = language === "en" ? english : pick(key, english);
  if (node.data.trim() === value) return;
  // an option without a value attribute is worth its text: keep the English as its value
  if (parent.tagName === "OPTION" && !parent.hasAttribute("value")) parent.setAttribute("value", english);
  SOURCE.set(node, english);
  const lead = node.data.match(/^\s*/)[0];
  const tail = node.data.match(/\s*$/)[0];
  node.data = `${lead}${value}${tail}`;
}

function swapAttrs(node) {
  if (node.closest(SKIP_TEXT)) return;
  for (const attr of ["placeholder", "title", "aria-label"]) {
    if (!node.hasAttribute(attr)) continue;
    const keep = SOURCE_ATTR.get(node) || {};
    const english = keep[attr] ?? node.getAttribute(attr).trim();
    const key = byEnglish.get(english);
    if (!key) continue;
    keep[attr] = english;
    SOURCE_ATTR.set(node, keep);
    const value = language === "en" ? english : pick(key, english);
    if (node.getAttribute(attr) !== value) node.setAttribute(attr, value);
  }
}

function translateLoose(root) {
  if (!byEnglish.size) return;
  if (root.nodeType === Node.TEXT_NODE) { swapText(root); return; }
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) swapText(n);
  if (root.nodeType === Node.ELEMENT_NODE && root.matches("[placeholder],[title],[aria-label]")) swapAttrs(root);
  for (const node of root.querySelectorAll("[placeholder],[title],[aria-label]")) swapAttrs(node);
}

export function translate(root = document) {
  if (root.nodeType === Node.TEXT_NODE) { translateLoose(root); return; }
  if (root.nodeType === Node.ELEMENT_NODE && root.matches(SELECTOR)) translateOne(root);
  for (const node of root.querySelectorAll(SELECTOR)) translateOne(node);
  translateLoose(root === document ? document.body : root);
}

// t("key", "English text"): for texts built in JavaScript.
export function t(key, fallback = key) {
  return pick(key, fallback);
}

export function currentLanguage() {
  return language;
}

export async function setLanguage(lang) {
  if (!Object.keys(shipped).length) {
    shipped = usable(await getJson("/static/i18n/en.json").catch(() => ({})));
    englishIndex();
  }
  messages = await loadBundle(lang);
  language = lang;
  localStorage.setItem(STORE, lang);
  document.documentElement.lang = lang;
  translate(document);
  window.dispatchEvent(new CustomEvent("fleet:language", { detail: lang }));
}

async function fillPicker() {
  const select = document.getElementById("lang-switch");
  if (!select) return;
  let langs = ["en", "pl"];
  try {
    langs = await getJson("/api/v1/i18n");
  } catch { /* the shipped languages */ }
  if (!langs.includes(language)) langs.push(language);
  select.replaceChildren(
    ...langs.map((code) => {
      const opt = document.createElement("option");
      opt.value = code;
      opt.textContent = NAMES[code] || code;
      opt.selected = code === language;
      return opt;
    }),
  );
  select.addEventListener("change", () => setLanguage(select.value));
}

new MutationObserver((records) => {
  if (!Object.keys(messages).length) return;
  for (const record of records) {
    for (const node of record.addedNodes) {
      if (node.nodeType === Node.ELEMENT_NODE || node.nodeType === Node.TEXT_NODE) translate(node);
    }
  }
}).observe(document.documentElement, { childList: true, subtree: true });

export const i18nReady = Promise.all([fillPicker(), setLanguage(language).catch(() => setLanguage("en"))]);
