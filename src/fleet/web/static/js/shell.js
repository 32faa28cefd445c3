// The page shell: role-aware navigation, role switcher, logout. Pages wait on `ready`.
import { auth, el, flash, tokens } from "./api.js";
import { i18nReady } from "./i18n.js"; // UI language picker and data-i18n texts

const NAV = JSON.parse(document.getElementById("nav-data").textContent);

function pagesFor(me) {
  return NAV.filter((p) => me.modules.includes(p.module));
}

function renderNav(me) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(
    ...pagesFor(me).map((p) =>
      el("a", { href: p.path, class: location.pathname === p.path ? "active" : "", dataset: { module: p.module, i18n: `nav.${p.path.slice(1).replaceAll("-", "_")}` } }, p.title),
    ),
  );
  nav.hidden = false;
}

function renderSession(me) {
  document.getElementById("whoami").textContent = me.username;
  const select = document.getElementById("role-switch");
  select.replaceChildren(...me.roles.map((r) => el("option", { value: r, selected: r === me.active_role }, r)));
  document.getElementById("role-switch-wrap").hidden = me.roles.length < 2;
  select.onchange = async () => {
    try {
      await auth.switchRole(select.value);
      const page = document.body.dataset.module;
      if (page && !(await auth.me()).modules.includes(page)) location.assign("/");
      else location.reload();
    } catch (e) {
      flash(e.message, "error");
    }
  };
  document.getElementById("logout").onclick = async () => {
    try {
      await auth.logout();
    } catch {
      // the session had already ended: signed out all the same
    }
    showSignedOut();
    location.assign("/");
  };
  document.getElementById("session").hidden = false;
}

// Signed out (Log out, or the session ended): no session controls, no navigation.
function showSignedOut() {
  document.getElementById("session").hidden = true;
  document.getElementById("nav").hidden = true;
}
window.addEventListener("fleet:signed-out", showSignedOut);
// A page the browser restores from its back/forward cache after signing out starts again.
window.addEventListener("pageshow", (ev) => {
  if (ev.persisted && !tokens.access && !tokens.refresh) location.reload();
});

async function boot() {
  const me = await auth.me();
  const module = document.body.dataset.module;
  if (!me) {
    if (module) location.assign("/");
    return null;
  }
  if (module && !me.modules.includes(module)) {
    location.assign("/");
    return null;
  }
  renderNav(me);
  renderSession(me);
  return me;
}

// On a phone the header folds into a menu button.
const toggle = document.getElementById("nav-toggle");
if (toggle) {
  toggle.addEventListener("click", () => {
    const open = document.body.classList.toggle("menu-open");
    toggle.setAttribute("aria-expanded", String(open));
  });
}

// Pages draw once the session is known and the user's language has arrived, so texts built in
// JavaScript (t(...)) are never written in English first and left so.
export const ready = Promise.all([boot(), i18nReady.catch(() => null)]).then(([me]) => me);
export { pagesFor };
