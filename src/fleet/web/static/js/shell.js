// The page shell: role-aware navigation, role switcher, logout. Pages wait on `ready`.
import { auth, el, flash } from "./api.js";
import "./i18n.js"; // UI language picker and data-i18n texts

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
    await auth.logout();
    location.assign("/");
  };
  document.getElementById("session").hidden = false;
}

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

export const ready = boot();
export { pagesFor };
