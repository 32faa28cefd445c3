// Item readiness from the Fleet Workshop Manager, shown wherever devices are listed: cells with
// data-readiness-for="<device id>" get a badge, fetched for the whole list in one request.
import { api, el } from "./api.js";
import { t } from "./i18n.js";

// The server answers why an item is due or not ready as a code with parameters (see
// fleet/workshop/reasons.py); the sentence comes from the bundle, in the user's language.
const REASONS = {
  interval: "{what}{kind_of_test} every {months} months from {counted} {anchor} ({source}: {source_text})",
  interval_each_use: "{what}{kind_of_test} after each use from {counted} {anchor} ({source}: {source_text})",
  life_limit: "{what} life limit {months} months from {counted} {anchor} ({source}: {source_text})",
  part_life: "part {part_number} life {months} months from fitting {anchor}",
  decommissioned: "the item is decommissioned",
  blocked: "overdue since {since}: {due}",
  test_due: "due since {since}: {due}",
  in_repair: "repair order {order} is open",
  repair_done: "repair order {order} is done; a passed test after it releases the item",
  test_failed: "test {report} failed",
  text: "{text}",
};
const COUNTED = {
  last_passed: "last passed test", manufacture: "manufacture", registration: "registration",
  use: "use", repair: "repair", fitting: "fitting",
};
const SOURCES = { regulation: "regulation", manufacturer: "manufacturer" };

export function reasonText(code, params) {
  if (!code || !(code in REASONS)) return params && params.text ? String(params.text) : "";
  const p = { ...(params || {}) };
  let key = code;
  if (code === "interval" && (p.months === null || p.months === undefined)) key = "interval_each_use";
  if (code === "interval") p.what = p.component ? `${p.component} ` : "";
  if (code === "life_limit") p.what = p.component || t("fwm.reason_item", "item");
  if (p.counted) p.counted = t(`fwm.counted_${p.counted}`, COUNTED[p.counted] || p.counted);
  if (p.source) p.source = t(`fwm.source_${p.source}`, SOURCES[p.source] || p.source);
  if (p.due) p.due = reasonText(p.due.code, p.due.params);
  return t(`fwm.reason_${key}`, REASONS[key]).replace(/\{(\w+)\}/g, (all, name) => (name in p && p[name] !== null ? String(p[name]) : all));
}

export function readinessBadge(state) {
  const text = t(`fwm.readiness_${state.readiness}`, state.readiness.replace("_", " "));
  return el("span", {
    class: `fwm-ready fwm-${state.readiness}`,
    title: state.reason_code ? reasonText(state.reason_code, state.reason_params) : (state.blocked_reason || state.reason || ""),
    dataset: { readiness: state.readiness },
  }, text);
}

export async function fillReadiness(root = document) {
  const cells = [...root.querySelectorAll("[data-readiness-for]")];
  if (!cells.length) return;
  const ids = [...new Set(cells.map((c) => c.dataset.readinessFor))].slice(0, 500);
  try {
    const states = await api.get("/workshop/readiness", { device_ids: ids.join(",") });
    const byId = new Map(states.map((s) => [String(s.device_id), s]));
    for (const cell of cells) {
      const state = byId.get(cell.dataset.readinessFor);
      cell.replaceChildren(state ? readinessBadge(state) : "");
    }
  } catch {
    for (const cell of cells) cell.replaceChildren("");
  }
}
