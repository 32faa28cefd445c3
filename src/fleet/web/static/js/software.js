// /fleet-software-manager: catalog and versions (artifact upload with progress and SHA-256),
// installations with live status, staged roll-outs, what each device runs, dashboard.
import { api, ApiError, el, flash, fmtTime, request, tokens } from "./api.js";
import { mountJsonEditor } from "./jsoneditor.js";
import { ready } from "./shell.js";
import { t } from "./i18n.js";
import { PAGE, download as saveFile, formQuery, namePicker, pager, rowDelete, showError, sources, tabs } from "./ui.js";

const SW = "/fleet-software";
const LIVE_MS = 3000;
const state = {
  swSkip: 0, instSkip: 0, roSkip: 0,
  editingSoftware: null, software: null, editingVersion: null, uploadVersion: null,
  rollout: null, device: null, compat: null, compatError: null, timer: null,
};

const $ = (id) => document.getElementById(id);

function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function badge(status) {
  return el("span", { class: `fsm-status fsm-${status}` }, status || "");
}

function bar(parts, total) {
  const box = el("span", { class: "fsm-bar", title: parts.map(([k, n]) => `${t(`status.l_${k}`, k)}: ${n}`).join(", ") });
  for (const [key, n] of parts) {
    if (!n || !total) continue;
    box.append(el("span", { class: `fsm-seg fsm-${key}`, style: `width:${(n * 100) / total}%` }));
  }
  return box;
}

// ---------------------------------------------------------------- tabs and live refresh

const showTab = tabs(["catalog", "installations", "rollouts", "devices", "dashboard"], (tab) => {
  clearInterval(state.timer);
  state.timer = null;
  if (tab === "installations") {
    loadInstallations();
    state.timer = setInterval(() => loadInstallations(state.instSkip, true), LIVE_MS);
  } else if (tab === "rollouts") {
    loadRollouts();
    fillSoftwareSelect(document.getElementById("ro-form"));
    state.timer = setInterval(() => { loadRollouts(state.roSkip, true); if (state.rollout) openRollout(state.rollout, true); }, LIVE_MS);
  } else if (tab === "devices") {
    loadDevices();
  } else if (tab === "dashboard") {
    loadDashboard();
  } else {
    loadSoftware();
  }
});

// ---------------------------------------------------------------- catalog

async function loadSoftware(skip = state.swSkip) {
  state.swSkip = Math.max(0, skip);
  try {
    const { items, total } = await api.list(`${SW}/software`, { ...formQuery($("sw-filter")), skip: state.swSkip, limit: PAGE });
    $("sw-table").tBodies[0].replaceChildren(...items.map((s) =>
      el("tr", { dataset: { name: s.name } },
        el("td", {}, s.name),
        el("td", {}, s.category || ""),
        el("td", {}, s.vendor || ""),
        el("td", {}, s.platform || ""),
        el("td", {}, String(s.version_count)),
        el("td", {}, s.latest_stable_version || "—"),
        el("td", {}, String(s.installation_count)),
        el("td", {}, s.is_active ? "yes" : "no"),
        el("td", { class: "actions" },
          el("button", { class: "btn btn-small", type: "button", onclick: () => showVersions(s) }, "Versions"),
          el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => openSoftware(s) }, "Edit"),
          rowDelete(t("ui.delete", "Delete"), () => deleteSoftware(s)),
        ),
      )));
    pager($("sw-pager"), state.swSkip, total, loadSoftware);
  } catch (e) {
    flash(e.message, "error");
  }
}

function openSoftware(s) {
  state.editingSoftware = s;
  const form = $("sw-form");
  form.reset();
  $("sw-form-title").textContent = s ? `Edit ${s.name}` : "New software";
  for (const name of ["name", "category", "vendor", "platform", "license_type", "repository_url", "documentation_url", "description"]) {
    form.elements[name].value = (s && s[name]) || "";
  }
  form.elements.is_active.checked = s ? !!s.is_active : true;
  showError("sw-form-error", "");
  $("sw-dialog").showModal();
}

async function saveSoftware(event) {
  event.preventDefault();
  const form = $("sw-form");
  const body = { is_active: form.elements.is_active.checked };
  for (const name of ["name", "category", "vendor", "platform", "license_type", "repository_url", "documentation_url", "description"]) {
    const v = form.elements[name].value.trim();
    body[name] = v === "" ? null : v;
  }
  try {
    if (state.editingSoftware) await api.patch(`${SW}/software/${state.editingSoftware.id}`, body);
    else await api.post(`${SW}/software`, body);
    $("sw-dialog").close();
    flash("Saved", "ok");
    loadSoftware();
  } catch (e) {
    showError("sw-form-error", e.message);
  }
}

async function deleteSoftware(s) {
  if (!confirm(`Delete ${s.name} and all its versions?`)) return;
  try {
    await api.del(`${SW}/software/${s.id}`);
    flash(`${s.name} deleted`, "ok");
    if (state.software && state.software.id === s.id) $("versions-panel").hidden = true;
    loadSoftware();
  } catch (e) {
    flash(e.message, "error");
  }
}

// ---------------------------------------------------------------- versions

async function showVersions(s = state.software) {
  state.software = s;
  $("versions-panel").hidden = false;
  $("versions-title").textContent = t("fsm.versions_of", "Versions of {name}").replace("{name}", s.name);
  try {
    const versions = await api.get(`${SW}/software/${s.id}/versions`, { limit: 500 });
    $("versions-table").tBodies[0].replaceChildren(...versions.map((v) =>
      el("tr", { dataset: { version: v.version_number } },
        el("td", {}, v.version_number),
        el("td", {}, [v.is_stable ? "stable" : "", v.is_beta ? "beta" : "", v.requires_reboot ? "reboot" : ""].filter(Boolean).join(", ")),
        el("td", {}, v.file_size ? bytes(v.file_size) : "none"),
        el("td", { class: "fsm-checksum" }, v.checksum ? el("code", { title: v.checksum }, v.checksum) : "—"),
        el("td", {}, v.compatibility ? el("code", {}, JSON.stringify(v.compatibility)) : "any"),
        el("td", {}, fmtTime(v.released_at || v.created_at)),
        el("td", { class: "actions" },
          el("button", { class: "btn btn-small", type: "button", onclick: () => openUpload(v) }, v.checksum ? "Replace" : "Upload"),
          v.checksum ? el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => download(v) }, "Download") : null,
          v.checksum ? el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => openInstall(s, v) }, "Install…") : null,
          el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => openVersion(v) }, "Edit"),
          rowDelete(t("ui.delete", "Delete"), () => deleteVersion(v)),
        ),
      )));
  } catch (e) {
    flash(e.message, "error");
  }
}

function openVersion(v) {
  state.editingVersion = v;
  const form = $("version-form");
  form.reset();
  $("version-form-title").textContent = v ? t("fsm.edit_version", "Edit {version}").replace("{version}", v.version_number) : t("fsm.new_version_of", "New version of {name}").replace("{name}", state.software.name);
  form.elements.version_number.value = v ? v.version_number : "";
  form.elements.version_number.disabled = !!v;
  form.elements.is_stable.checked = v ? !!v.is_stable : true;
  form.elements.is_beta.checked = v ? !!v.is_beta : false;
  form.elements.requires_reboot.checked = v ? !!v.requires_reboot : false;
  form.elements.release_notes.value = (v && v.release_notes) || "";
  form.elements.changelog.value = (v && v.changelog) || "";
  const compat = (v && v.compatibility) || { device_types: [], kind_of_device: [] };
  if (!state.compat) {
    state.compat = mountJsonEditor($("compat-editor"), {
      value: compat,
      onChange: (_value, error) => { state.compatError = error; },
    });
  } else {
    state.compat.set(compat);
  }
  state.compatError = null;
  showError("version-form-error", "");
  $("version-dialog").showModal();
}

async function saveVersion(event) {
  event.preventDefault();
  const form = $("version-form");
  if (state.compatError) { showError("version-form-error", `Compatibility: ${state.compatError}`); return; }
  let compatibility;
  try { compatibility = state.compat.get(); } catch (e) { showError("version-form-error", e.message); return; }
  const body = {
    is_stable: form.elements.is_stable.checked,
    is_beta: form.elements.is_beta.checked,
    requires_reboot: form.elements.requires_reboot.checked,
    release_notes: form.elements.release_notes.value || null,
    changelog: form.elements.changelog.value || null,
    compatibility,
  };
  try {
    if (state.editingVersion) await api.patch(`${SW}/versions/${state.editingVersion.id}`, body);
    else await api.post(`${SW}/software/${state.software.id}/versions`, { ...body, version_number: form.elements.version_number.value.trim() });
    $("version-dialog").close();
    flash("Version saved", "ok");
    showVersions();
    loadSoftware();
  } catch (e) {
    showError("version-form-error", e.message);
  }
}

async function deleteVersion(v) {
  if (!confirm(`Delete version ${v.version_number}?`)) return;
  try {
    await api.del(`${SW}/versions/${v.id}`);
    showVersions();
    loadSoftware();
  } catch (e) {
    flash(e.message, "error");
  }
}

function openUpload(v) {
  state.uploadVersion = v;
  const form = $("upload-form");
  form.reset();
  $("upload-version").textContent = `${state.software.name} ${v.version_number}`;
  $("upload-progress").hidden = true;
  $("upload-result").hidden = true;
  showError("upload-error", "");
  $("upload-submit").disabled = false;
  $("upload-dialog").showModal();
}

async function sendArtifact(version, file, sha256, onProgress) {
  await api.get("/auth/me"); // refreshes the access token first when it expired
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1${SW}/versions/${version.id}/artifact`);
    xhr.setRequestHeader("Authorization", `Bearer ${tokens.access}`);
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress((e.loaded * 100) / e.total); });
    xhr.addEventListener("load", () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status === 200) resolve(data);
      else reject(new ApiError(xhr.status, data && data.detail));
    });
    xhr.addEventListener("error", () => reject(new Error("Network error during upload")));
    const form = new FormData();
    if (sha256) form.append("sha256", sha256);
    form.append("file", file);
    xhr.send(form);
  });
}

async function upload(event) {
  event.preventDefault();
  const form = $("upload-form");
  const file = form.elements.file.files[0];
  if (!file) return;
  const progress = $("upload-progress");
  progress.hidden = false;
  progress.value = 0;
  showError("upload-error", "");
  $("upload-submit").disabled = true;
  try {
    const v = await sendArtifact(state.uploadVersion, file, form.elements.sha256.value.trim(), (p) => { progress.value = p; });
    progress.value = 100;
    const result = $("upload-result");
    result.replaceChildren("Stored ", bytes(v.file_size), " — SHA-256 ", el("code", { id: "upload-checksum" }, v.checksum));
    result.hidden = false;
    flash("Artifact uploaded", "ok");
    showVersions();
  } catch (e) {
    showError("upload-error", e.message);
  } finally {
    $("upload-submit").disabled = false;
  }
}

async function download(v) {
  try {
    const response = await request("GET", `${SW}/versions/${v.id}/artifact`, { raw: true });
    const blob = await response.blob();
    const name = (response.headers.get("content-disposition") || "").match(/filename="?([^";]+)"?/);
    await saveFile(blob, name ? name[1] : `${v.version_number}.bin`);
    flash(`Downloaded; SHA-256 ${response.headers.get("X-Checksum-SHA256")}`, "ok");
  } catch (e) {
    flash(e.message, "error");
  }
}

// ---------------------------------------------------------------- installations

async function loadInstallations(skip = state.instSkip, quiet = false) {
  state.instSkip = Math.max(0, skip);
  try {
    const { items, total } = await api.list(`${SW}/installations`, { ...formQuery($("inst-filter")), skip: state.instSkip, limit: PAGE });
    $("inst-table").tBodies[0].replaceChildren(...items.map((i) =>
      el("tr", { dataset: { id: i.id, status: i.status } },
        el("td", {}, String(i.id)),
        el("td", {}, i.device_number || String(i.device_id)),
        el("td", {}, i.software_name || ""),
        el("td", {}, t(`fsm.act_${i.action}`, i.action) + (i.rollout_id ? ` (${t("fsm.roll_out", "roll-out")} ${i.rollout_id})` : "")),
        el("td", {}, `${i.previous_version || "—"} → ${i.new_version || "—"}`),
        el("td", { class: "inst-status" }, badge(i.status), i.error_message ? el("div", { class: "error" }, i.error_message) : null),
        el("td", {}, fmtTime(i.started_at)),
        el("td", {}, fmtTime(i.completed_at)),
        el("td", { class: "actions" }, ...installationActions(i)),
      )));
    pager($("inst-pager"), state.instSkip, total, loadInstallations);
  } catch (e) {
    if (!quiet) flash(e.message, "error");
  }
}

function installationActions(i) {
  const act = (label, status, cls = "btn btn-small") =>
    el("button", { class: cls, type: "button", onclick: () => moveInstallation(i, status) }, label);
  const buttons = [];
  if (i.status === "pending") buttons.push(act("Start", "in_progress"));
  if (i.status === "in_progress") buttons.push(act("Complete", "completed"), act("Fail", "failed", "btn btn-small btn-danger"));
  if (i.status === "pending" || i.status === "in_progress") buttons.push(act("Cancel", "canceled", "btn btn-small btn-ghost"));
  buttons.push(el("button", { class: "btn btn-small btn-ghost", type: "button", onclick: () => showLog(i) }, "Log"));
  return buttons;
}

async function moveInstallation(i, status) {
  const body = { status };
  if (status === "failed") {
    const reason = prompt("Why did it fail?", "");
    if (reason === null) return;
    body.error_message = reason || "failed";
  }
  try {
    await api.patch(`${SW}/installations/${i.id}`, body);
    loadInstallations();
  } catch (e) {
    flash(e.message, "error");
    loadInstallations();
  }
}

async function showLog(i) {
  $("log-title").textContent = t("fsm.log_title", "Installation {id}: {software} on {device}").replace("{id}", i.id).replace("{software}", i.software_name || "").replace("{device}", i.device_number || i.device_id);
  try {
    const detail = await api.get(`${SW}/installations/${i.id}`);
    $("log-text").textContent = detail.installation_log || "";
    $("log-error").textContent = detail.error_message || "";
    $("log-delivery").textContent = describeDelivery(detail.delivery);
    const reports = detail.device_reports || [];
    $("log-reports").querySelector("tbody").replaceChildren(...(reports.length ? reports.map((r) => el("tr", {},
      el("td", {}, fmtTime(r.reported_at)),
      el("td", {}, r.kind),
      el("td", {}, r.execution),
      el("td", {}, r.finished || ""),
      el("td", {}, r.code === null || r.code === undefined ? "" : String(r.code)),
      el("td", {}, (r.details || []).join("; ")),
    )) : [el("tr", {}, el("td", { colspan: 6 }, "No reports from the device yet"))]));
  } catch (e) {
    $("log-text").textContent = e.message;
  }
  $("log-dialog").showModal();
}

function describeDelivery(d) {
  if (!d) return "";
  const parts = [`${t("fsm.update_type", "Update type")}: ${t(`fsm.update_${d.update_type}`, d.update_type)}`];
  const w = d.maintenance_window;
  if (w) parts.push(t("fsm.window_summary", "maintenance window: {schedule} for {duration} ({timezone})").replace("{schedule}", w.schedule).replace("{duration}", w.duration).replace("{timezone}", w.timezone));
  if (d.confirmation_required) parts.push(t("fsm.confirm_first_summary", "the device's user confirms first"));
  return parts.join(" · ");
}

// The delivery options of the installation and roll-out forms, as the API takes them.
function deliveryOptions(f) {
  const out = { update_type: f.update_type.value, confirmation_required: f.confirmation_required.checked };
  const schedule = f.window_schedule.value.trim();
  const duration = f.window_duration.value.trim();
  const timezone = f.window_timezone.value.trim();
  if (schedule || duration || timezone) out.maintenance_window = { schedule, duration, timezone };
  return out;
}

async function fillSoftwareSelect(form, selected) {
  const { items } = await api.list(`${SW}/software`, { is_active: true, limit: 500 });
  form.elements.software_id.replaceChildren(
    el("option", { value: "" }, "— choose —"),
    ...items.map((s) => el("option", { value: s.id, selected: selected && selected.id === s.id }, s.name)),
  );
  await fillVersionSelect(form);
}

async function fillVersionSelect(form, selected) {
  const softwareId = form.elements.software_id.value;
  if (!softwareId) { form.elements.version_id.replaceChildren(); return; }
  const versions = await api.get(`${SW}/software/${softwareId}/versions`, { limit: 500 });
  form.elements.version_id.replaceChildren(...versions.map((v) =>
    el("option", { value: v.id, selected: selected && selected.id === v.id }, v.version_number + (v.checksum ? "" : " (no artifact)"))));
}

const deviceIds = new Map();

async function searchDevices(q) {
  const { items } = await api.list("/fleet-data/devices", { q: q || undefined, limit: 20 });
  deviceIds.clear();
  $("inst-device-options").replaceChildren(...items.map((d) => {
    deviceIds.set(d.device_number, d.id);
    return el("option", { value: d.device_number }, `${d.device_type} ${d.kind_of_device || ""}`);
  }));
}

async function openInstall(software, version) {
  const form = $("inst-form");
  form.reset();
  showError("inst-form-error", "");
  $("inst-dialog").showModal();
  try {
    await fillSoftwareSelect(form, software);
    if (version) await fillVersionSelect(form, version);
    await searchDevices("");
  } catch (e) {
    showError("inst-form-error", e.message);
  }
}

async function createInstallation(event) {
  event.preventDefault();
  const form = $("inst-form");
  const typed = form.elements.device_search.value.trim();
  let deviceId = deviceIds.get(typed);
  if (!deviceId && /^\d+$/.test(typed)) deviceId = Number(typed);
  if (!deviceId) { showError("inst-form-error", "Pick a device from the list"); return; }
  try {
    const inst = await api.post(`${SW}/installations`, {
      device_id: deviceId, version_id: Number(form.elements.version_id.value), action: form.elements.action.value,
      ...deliveryOptions(form.elements),
    });
    $("inst-dialog").close();
    flash(`Installation ${inst.id} created (pending)`, "ok");
    location.hash = "#installations";
    loadInstallations(0);
  } catch (e) {
    showError("inst-form-error", e.message);
  }
}

// ---------------------------------------------------------------- roll-outs

async function loadRollouts(skip = state.roSkip, quiet = false) {
  state.roSkip = Math.max(0, skip);
  try {
    const { items, total } = await api.list(`${SW}/rollouts`, { skip: state.roSkip, limit: PAGE });
    $("ro-table").tBodies[0].replaceChildren(...items.map((r) =>
      el("tr", { dataset: { id: r.id } },
        el("td", {}, String(r.id)),
        el("td", {}, r.name),
        el("td", {}, badge(r.status)),
        el("td", {}, String(r.total_devices)),
        el("td", {}, `${Math.min(r.current_group + 1, r.group_count)} / ${r.group_count}`),
        el("td", {}, bar([["completed", r.completed], ["failed", r.failed], ["canceled", r.canceled]], r.total_devices), ` ${r.progress_percent} %`),
        el("td", {}, fmtTime(r.created_at)),
        el("td", { class: "actions" }, el("button", { class: "btn btn-small", type: "button", onclick: () => openRollout(r) }, "Open")),
      )));
    pager($("ro-pager"), state.roSkip, total, loadRollouts);
  } catch (e) {
    if (!quiet) flash(e.message, "error");
  }
}

async function openRollout(r, quiet = false) {
  state.rollout = r;
  try {
    const detail = await api.get(`${SW}/rollouts/${r.id}`);
    renderRollout(detail);
  } catch (e) {
    if (!quiet) flash(e.message, "error");
  }
}

function renderRollout(d) {
  $("ro-detail").hidden = false;
  $("ro-detail-title").textContent = `Roll-out ${d.id}: ${d.name}`;
  $("ro-detail-status").replaceChildren(badge(d.status));
  $("ro-detail-reason").textContent = d.pause_reason ||
    `${d.total_devices} devices, groups of ${d.group_size}, next group at ${d.success_threshold} % completed, pause above ${d.error_threshold} % failed` +
    (d.excluded && d.excluded.length ? `; ${d.excluded.length} incompatible devices left out` : "");
  const action = (name, label, cls = "btn") =>
    el("button", { class: cls, type: "button", onclick: () => rolloutAction(d, name) }, label);
  const actions = [];
  if (d.status === "draft") actions.push(action("start", "Start"));
  if (d.status === "running") actions.push(action("pause", "Pause", "btn btn-ghost"));
  if (d.status === "paused") actions.push(action("resume", "Resume"));
  if (["draft", "running", "paused"].includes(d.status)) actions.push(action("cancel", "Cancel", "btn btn-danger"));
  $("ro-actions").replaceChildren(...actions);
  $("ro-groups").tBodies[0].replaceChildren(...d.groups.map((g) =>
    el("tr", { class: g.position === d.current_group ? "fsm-current" : "" },
      el("td", {}, String(g.position + 1)),
      el("td", {}, badge(g.status)),
      el("td", {}, String(g.device_count)),
      el("td", {}, bar([["completed", g.completed_count], ["failed", g.failed_count], ["canceled", g.canceled_count]], g.device_count),
        ` ${Math.round(((g.completed_count) * 100) / (g.device_count || 1))} % completed`),
      el("td", {}, Object.entries(g.counts).map(([k, n]) => `${k}: ${n}`).join(", ")),
    )));
}

async function rolloutAction(d, name) {
  if (name === "cancel" && !confirm("Cancel this roll-out and its unfinished installations?")) return;
  try {
    renderRollout(await api.post(`${SW}/rollouts/${d.id}/${name}`));
    loadRollouts();
  } catch (e) {
    flash(e.message, "error");
  }
}

async function createRollout(event) {
  event.preventDefault();
  const form = $("ro-form");
  const f = form.elements;
  const body = {
    name: f.name.value.trim() || null,
    version_id: Number(f.version_id.value),
    group_size: Number(f.group_size.value),
    success_threshold: Number(f.success_threshold.value),
    error_threshold: Number(f.error_threshold.value),
    ...deliveryOptions(f),
  };
  const ids = f.device_ids.value.split(/[\s,;]+/).filter(Boolean);
  if (ids.length) {
    body.device_ids = ids.map(Number);
  } else {
    body.filter = {};
    for (const key of ["device_type", "kind_of_device", "status"]) if (f[key].value.trim()) body.filter[key] = f[key].value.trim();
    if (f.customer_id.value) body.filter.customer_id = Number(f.customer_id.value);
  }
  try {
    const created = await api.post(`${SW}/rollouts`, body);
    showError("ro-form-error", "");
    flash(`Roll-out ${created.id} created as draft: ${created.total_devices} devices in ${created.groups.length} groups`, "ok");
    state.rollout = created;
    renderRollout(created);
    loadRollouts(0);
  } catch (e) {
    showError("ro-form-error", e.message);
  }
}

// ---------------------------------------------------------------- devices

async function loadDevices() {
  try {
    const { items } = await api.list("/fleet-data/devices", { ...formQuery($("dev-filter")), limit: 50 });
    $("dev-table").tBodies[0].replaceChildren(...items.map((d) =>
      el("tr", { class: "fsm-clickable", dataset: { device: d.device_number }, onclick: () => showDevice(d) },
        el("td", {}, d.device_number), el("td", {}, d.device_type), el("td", {}, d.kind_of_device || ""), el("td", {}, d.status || ""))));
  } catch (e) {
    flash(e.message, "error");
  }
}

async function showDevice(d = state.device) {
  state.device = d;
  $("dev-software").hidden = false;
  $("dev-software-title").textContent = `${d.device_number} runs`;
  try {
    const rows = await api.get(`${SW}/devices/${d.id}/software`);
    const body = $("dev-software-table").tBodies[0];
    if (!rows.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 6 }, "No software recorded for this device")));
      return;
    }
    body.replaceChildren(...rows.map((r) =>
      el("tr", { class: r.installation_status === "outdated" ? "fsm-outdated" : "" },
        el("td", {}, r.software_name),
        el("td", {}, r.installed_version || "—"),
        el("td", {}, badge(r.installation_status)),
        el("td", {}, r.latest_stable_version || "—"),
        el("td", {}, fmtTime(r.installation_date)),
        el("td", { class: "actions" }, r.installation_status === "outdated" && r.latest_stable_version
          ? el("button", { class: "btn btn-small", type: "button", onclick: () => updateDevice(d, r) }, `Update to ${r.latest_stable_version}`)
          : null),
      )));
  } catch (e) {
    flash(e.message, "error");
  }
}

async function updateDevice(d, row) {
  try {
    const versions = await api.get(`${SW}/software/${row.software_id}/versions`, { limit: 500 });
    const target = versions.find((v) => v.version_number === row.latest_stable_version);
    if (!target) throw new Error("That version no longer exists");
    const inst = await api.post(`${SW}/installations`, { device_id: d.id, version_id: target.id, action: "update" });
    flash(`Installation ${inst.id} created`, "ok");
    showDevice(d);
  } catch (e) {
    flash(e.message, "error");
  }
}

// ---------------------------------------------------------------- dashboard

function rows(table, entries) {
  $(table).tBodies[0].replaceChildren(...(entries.length ? entries : [["—", ""]]).map(([k, v]) =>
    el("tr", {}, el("td", {}, String(k)), el("td", { class: "fsm-num" }, String(v)))));
}

async function loadDashboard() {
  try {
    const s = await api.get(`${SW}/dashboard/stats`);
    const labels = { software: "Software", active_software: "Active", versions: "Versions", installations: "Installations", running_rollouts: "Running roll-outs" };
    $("dash-totals").replaceChildren(...Object.entries(s.totals).map(([k, v]) =>
      el("div", { class: "card fsm-stat" }, el("span", { class: "fsm-stat-value" }, String(v)), el("span", {}, labels[k] || k))));
    rows("dash-category", Object.entries(s.software_by_category));
    rows("dash-status", Object.entries(s.installations_by_status));
    rows("dash-outdated", s.outdated_by_software.map((o) => [o.software_name, o.devices]));
    rows("dash-recent", s.recent_releases.map((r) => [`${r.software_name} ${r.version_number}${r.is_beta ? " (beta)" : ""}`, fmtTime(r.released_at)]));
  } catch (e) {
    flash(e.message, "error");
  }
}

// ---------------------------------------------------------------- wiring

ready.then((me) => {
  if (!me) return;
  $("sw-filter").addEventListener("submit", (e) => { e.preventDefault(); loadSoftware(0); });
  $("sw-new").addEventListener("click", () => openSoftware(null));
  $("sw-form").addEventListener("submit", saveSoftware);
  $("version-new").addEventListener("click", () => openVersion(null));
  $("version-form").addEventListener("submit", saveVersion);
  $("upload-form").addEventListener("submit", upload);
  $("inst-filter").addEventListener("submit", (e) => { e.preventDefault(); loadInstallations(0); });
  $("inst-new").addEventListener("click", () => openInstall(null, null));
  $("inst-form").addEventListener("submit", createInstallation);
  $("inst-form").elements.software_id.addEventListener("change", () => fillVersionSelect($("inst-form")));
  $("inst-form").elements.device_search.addEventListener("input", (e) => searchDevices(e.target.value.trim()).catch(() => {}));
  // pickers by name where ids were typed: the hidden inputs keep the names the code reads
  $("inst-device").replaceWith(namePicker({ name: "device_id", source: sources.devices, label: t("fsm.col_device", "Device") }));
  $("ro-devices").replaceWith(namePicker({ name: "device_ids", source: sources.devices, multiple: true, label: t("fsm.devices", "Devices") }));
  $("ro-customer").replaceWith(namePicker({ name: "customer_id", source: sources.customers, label: t("fsm.customer", "Customer") }));
  $("ro-form").addEventListener("submit", createRollout);
  $("ro-form").elements.software_id.addEventListener("change", () => fillVersionSelect($("ro-form")));
  $("dev-filter").addEventListener("submit", (e) => { e.preventDefault(); loadDevices(); });
  for (const button of document.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => $(button.dataset.close).close());
  }
  showTab();
});
