// /admin: users (list, create, edit, deactivate, QR badges) and the audit log.
import { api, el, flash, fmtTime } from "./api.js";
import { ready } from "./shell.js";
import { t } from "./i18n.js";
import { PAGE, download, formQuery, namePicker, pager, rowDelete, sources, tabs } from "./ui.js";

const ROLES = ["operator", "admin", "superuser", "manager", "configurator", "maker"];
let userSkip = 0;
let logSkip = 0;
let editing = null;
let badgeUser = null;
// The roles the signed-in user may grant, and so find on the accounts he may change
// (GET /users/grantable-roles); the form offers only these.
let grantable = [];
let myId = null;

function manageable(user) {
  return user.id === myId || user.roles.every((r) => grantable.includes(r));
}

const showTab = tabs(["users", "logs"], (name) => (name === "logs" ? loadLogs() : loadUsers()));

async function loadUsers(skip = userSkip) {
  userSkip = Math.max(0, skip);
  const query = { ...formQuery(document.getElementById("user-filter")), skip: userSkip, limit: PAGE };
  try {
    const { items, total } = await api.list("/users", query);
    document.querySelector("#users-table tbody").replaceChildren(
      ...items.map((u) =>
        el("tr", { dataset: { username: u.username } },
          el("td", {}, u.username),
          el("td", {}, u.email || ""),
          el("td", {}, u.role),
          el("td", {}, u.roles.join(", ")),
          el("td", {}, u.is_active ? "yes" : "no"),
          el("td", {}, u.has_qr_code ? "yes" : "—"),
          manageable(u)
            ? el("td", { class: "actions" },
              el("button", { class: "btn btn-small", type: "button", onclick: () => openUser(u) }, "Edit"),
              el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => openBadge(u) }, "Badge"),
              u.is_active
                ? rowDelete(t("admin.deactivate", "Deactivate"), () => deactivate(u))
                : el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => reactivate(u) }, "Activate"),
            )
            : el("td", { class: "actions", title: "Holds a role you do not hold" }, "—"),
        ),
      ),
    );
    pager(document.getElementById("users-pager"), userSkip, total, loadUsers);
  } catch (e) {
    flash(e.message, "error");
  }
}

function fillRoleInputs(user) {
  const form = document.getElementById("user-form");
  // Only the roles the signed-in user may grant; one's own account also shows the roles
  // already held (they may be kept or dropped, never added).
  const offered = ROLES.filter((r) => grantable.includes(r) || (user && user.roles.includes(r)));
  form.role.replaceChildren(...offered.map((r) => el("option", { value: r, selected: user && user.role === r }, r)));
  document.getElementById("roles-boxes").replaceChildren(
    ...offered.map((r) =>
      el("label", { class: "check" }, el("input", { type: "checkbox", name: "roles", value: r, checked: !!(user && user.roles.includes(r)) }), ` ${r}`),
    ),
  );
}

function openUser(user) {
  editing = user;
  const form = document.getElementById("user-form");
  form.reset();
  fillRoleInputs(user);
  document.getElementById("user-form-title").textContent = user ? `Edit ${user.username}` : "New user";
  form.username.value = user ? user.username : "";
  form.username.disabled = !!user;
  form.email.value = user ? user.email || "" : "";
  form.password.required = !user;
  form.password.placeholder = user ? "leave empty to keep" : "";
  form.is_active.checked = user ? user.is_active : true;
  document.getElementById("user-form-error").hidden = true;
  document.getElementById("user-dialog").showModal();
}

async function saveUser(ev) {
  ev.preventDefault();
  const form = ev.target;
  const body = {
    email: form.email.value || null,
    role: form.role.value,
    roles: [...form.querySelectorAll("input[name=roles]:checked")].map((i) => i.value),
    is_active: form.is_active.checked,
  };
  if (form.password.value) body.password = form.password.value;
  try {
    if (editing) await api.patch(`/users/${editing.id}`, body);
    else await api.post("/users", { ...body, username: form.username.value });
    document.getElementById("user-dialog").close();
    flash("User saved", "ok");
    loadUsers();
  } catch (e) {
    const box = document.getElementById("user-form-error");
    box.textContent = e.message;
    box.hidden = false;
  }
}

async function deactivate(user) {
  if (!confirm(`Deactivate ${user.username}? Their sessions end at once.`)) return;
  try {
    await api.del(`/users/${user.id}`);
    flash(`${user.username} deactivated`, "ok");
    loadUsers();
  } catch (e) {
    flash(e.message, "error");
  }
}

async function reactivate(user) {
  try {
    await api.patch(`/users/${user.id}`, { is_active: true });
    loadUsers();
  } catch (e) {
    flash(e.message, "error");
  }
}

// The badge as it is shown and saved: the QR code with the user's name and role under it.
async function showBadgeImage() {
  const img = document.getElementById("badge-img");
  const card = document.getElementById("badge-card");
  const none = document.getElementById("badge-none");
  for (const id of ["badge-download", "badge-pdf"]) document.getElementById(id).hidden = true;
  card.hidden = true;
  none.hidden = true;
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.removeAttribute("src");
  try {
    const blob = await api.get(`/users/${badgeUser.id}/badge`, { format: "png" });
    img.src = URL.createObjectURL(blob);
    await img.decode();
    card.hidden = false;
    for (const id of ["badge-download", "badge-pdf"]) document.getElementById(id).hidden = false;
  } catch (e) {
    none.hidden = false;
    if (e.status !== 404) flash(e.message, "error");
  }
}

// The PNG to save: the code image with the name and role drawn under it.
function badgePng() {
  const img = document.getElementById("badge-img");
  const size = img.naturalWidth;
  const canvas = el("canvas", { width: String(size), height: String(size + 96) });
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(img, 0, 0);
  ctx.fillStyle = "#000";
  ctx.textAlign = "center";
  ctx.font = "bold 32px sans-serif";
  ctx.fillText(badgeUser.username, size / 2, size + 40, size - 16);
  ctx.font = "24px sans-serif";
  ctx.fillText(badgeUser.role, size / 2, size + 78, size - 16);
  return new Promise((resolve) => { canvas.toBlob(resolve, "image/png"); });
}

function openBadge(user) {
  badgeUser = user;
  for (const id of ["badge-user", "badge-name"]) document.getElementById(id).textContent = user.username;
  document.getElementById("badge-role").textContent = user.role;
  document.getElementById("badge-dialog").showModal();
  showBadgeImage();
}

async function regenerateBadge() {
  if (!confirm("Issue a new code? The old badge stops working.")) return;
  try {
    await api.post(`/users/${badgeUser.id}/qr-code`);
    await showBadgeImage();
    loadUsers();
  } catch (e) {
    flash(e.message, "error");
  }
}

// An audit row's details as "key: value" lines instead of raw JSON.
function detailsList(details) {
  const entries = Object.entries(details || {});
  if (!entries.length) return "";
  const text = (v) => (v !== null && typeof v === "object" ? Object.entries(v).map(([k, x]) => `${k} ${text(x)}`).join(", ") : String(v));
  return el("dl", { class: "log-details", translate: "no" }, ...entries.flatMap(([k, v]) => [el("dt", {}, k.replaceAll("_", " ")), el("dd", {}, text(v))]));
}

async function loadLogs(skip = logSkip) {
  logSkip = Math.max(0, skip);
  const raw = formQuery(document.getElementById("log-filter"));
  try {
    const { items, total } = await api.list("/logs", { ...raw, skip: logSkip, limit: PAGE });
    document.querySelector("#logs-table tbody").replaceChildren(
      ...items.map((r) =>
        el("tr", { class: `level-${(r.log_level || "").toLowerCase()}` },
          el("td", {}, fmtTime(r.timestamp)),
          el("td", {}, r.log_level || ""),
          el("td", {}, r.username || (r.user_id ?? "")),
          el("td", {}, r.action || ""),
          el("td", {}, detailsList(r.details)),
          el("td", {}, r.ip_address || ""),
        ),
      ),
    );
    pager(document.getElementById("logs-pager"), logSkip, total, loadLogs);
  } catch (e) {
    flash(e.message, "error");
  }
}

ready.then(async (me) => {
  if (!me) return;
  myId = me.id;
  try {
    grantable = (await api.get("/users/grantable-roles")).roles;
  } catch (e) {
    flash(e.message, "error");
  }
  const roleFilter = document.querySelector("#user-filter select[name=role]");
  roleFilter.append(...ROLES.map((r) => el("option", { value: r }, r)));
  document.getElementById("user-filter").addEventListener("submit", (e) => { e.preventDefault(); loadUsers(0); });
  document.getElementById("log-filter").addEventListener("submit", (e) => { e.preventDefault(); loadLogs(0); });
  document.getElementById("log-user").replaceWith(namePicker({ name: "user_id", source: sources.users, label: t("admin.col_user", "User") }));
  document.getElementById("user-new").addEventListener("click", () => openUser(null));
  document.getElementById("user-form").addEventListener("submit", saveUser);
  document.getElementById("user-cancel").addEventListener("click", () => document.getElementById("user-dialog").close());
  document.getElementById("badge-close").addEventListener("click", () => document.getElementById("badge-dialog").close());
  document.getElementById("badge-regenerate").addEventListener("click", regenerateBadge);
  document.getElementById("badge-pdf").addEventListener("click", () => badgeUser && download(`/users/${badgeUser.id}/badge?format=pdf`, `badge-${badgeUser.username}.pdf`));
  document.getElementById("badge-download").addEventListener("click", async () => badgeUser && download(await badgePng(), `badge-${badgeUser.username}.png`));
  showTab();
});
