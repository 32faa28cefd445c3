// Item readiness from the Fleet Workshop Manager, shown wherever devices are listed: cells with
// data-readiness-for="<device id>" get a badge, fetched for the whole list in one request.
import { api, el } from "./api.js";
import { t } from "./i18n.js";

export function readinessBadge(state) {
  const text = t(`fwm.readiness_${state.readiness}`, state.readiness.replace("_", " "));
  return el("span", {
    class: `fwm-ready fwm-${state.readiness}`,
    title: state.blocked_reason || state.reason || "",
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
