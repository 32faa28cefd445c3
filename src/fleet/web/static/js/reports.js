// The report browser (Connect++ for the operator's own reports, FDM for all): filters by
// device, customer, operator, verdict and date range; the detail with each step's evaluation
// in words and its trace chart; the PDF; checksum verification; sealing a report finished
// before sealing existed (reading one never seals it). Markup: the Jinja macro
// report_browser() in _kit.html.
import { api, el, flash } from "./api.js";
import { currentLanguage, t } from "./i18n.js";
import { UNITS, evaluationSentence, limitsText, signalName } from "./evaluation.js";
import { PAGE, download, fmtDateTime, formQuery, listRows, namePicker, pager, pill } from "./ui.js";

const $ = (id) => document.getElementById(id);
let skip = 0;
let charts = [];
let current = null;

const deviceSource = async (q) => (await api.get("/tests/devices", { q, limit: 20 })).map((d) => ({ id: d.id, label: d.device_number, sub: d.customer_name || "" }));
const nameSource = (kind) => async (q) => (await api.get(`/reports/names/${kind}`, { q })).map((x) => ({ id: x.id, label: x.name }));

function outcome(r) {
  return r.verdict || r.status;
}

function query() {
  const raw = formQuery($("rb-filter"));
  const q = { device_id: raw.device_id, customer_id: raw.customer_id, operator_id: raw.operator_id };
  if (raw.outcome) {
    const [kind, value] = raw.outcome.split(":");
    q[kind === "v" ? "verdict" : "status"] = value;
  }
  if (raw.from) q.from = new Date(`${raw.from}T00:00:00`).toISOString();
  if (raw.to) q.to = new Date(`${raw.to}T23:59:59.999`).toISOString();
  return q;
}

async function load(at = 0) {
  skip = at;
  let total = 0;
  await listRows($("rb-table").querySelector("tbody"), 7, async () => {
    const answer = await api.list("/reports", { ...query(), skip, limit: PAGE });
    total = answer.total;
    return answer.items;
  }, (r) => el("tr", { dataset: { id: String(r.id) } },
    el("td", { "data-label": t("rb.col_date", "Date") }, fmtDateTime(r.start_time)),
    el("td", { "data-label": t("rb.col_device", "Device") }, r.device_number || ""),
    el("td", { "data-label": t("rb.col_scenario", "Scenario") }, r.scenario_name || ""),
    el("td", { "data-label": t("rb.col_customer", "Customer") }, r.customer_name || ""),
    el("td", { "data-label": t("rb.col_operator", "Operator") }, r.operator_name || ""),
    el("td", { "data-label": t("rb.col_outcome", "Result") }, pill(outcome(r))),
    el("td", {}, el("button", { class: "btn btn-ghost btn-small", type: "button", onclick: () => openReport(r.id) }, t("rb.open", "Open"))),
  ), t("rb.none", "No report matches these filters."));
  pager($("rb-pager"), skip, total, load);
}

function drawTrace(canvas, step, block) {
  const c = step.criteria || {};
  const signal = c.signal;
  const points = [];
  (block.t || []).forEach((time, i) => { const v = (block[signal] || [])[i]; if (v !== null && v !== undefined) points.push({ x: time - block.t[0], y: v }); });
  const datasets = [{ label: `${signalName(signal)} (${UNITS[signal] || ""})`, data: points, borderColor: "#1450aa", borderWidth: 1.5, pointRadius: 0 }];
  let band = null;
  if (c.type === "target_tolerance") band = [c.target - c.tolerance, c.target + c.tolerance];
  else if (c.type === "range" && c.min !== undefined && c.max !== undefined) band = [c.min, c.max];
  if (band && points.length) {
    const xmax = points[points.length - 1].x;
    datasets.push(
      { label: t("gauge.limit", "limit"), data: [{ x: 0, y: band[0] }, { x: xmax, y: band[0] }], borderColor: "rgba(24,128,56,.6)", borderWidth: 1, pointRadius: 0, borderDash: [4, 3] },
      { label: t("gauge.band", "limit band"), data: [{ x: 0, y: band[1] }, { x: xmax, y: band[1] }], borderColor: "rgba(24,128,56,.6)", borderWidth: 1, pointRadius: 0, fill: "-1", backgroundColor: "rgba(24,160,70,.15)", borderDash: [4, 3] },
    );
  }
  charts.push(new window.Chart(canvas, {
    type: "line",
    data: { datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      plugins: { legend: { labels: { filter: (item) => item.datasetIndex === 0 } } },
      scales: { x: { type: "linear", title: { display: true, text: "s" } }, y: { title: { display: true, text: UNITS[signal] || "" } } } },
  }));
}

export async function openReport(id) {
  let r;
  try { r = await api.get(`/reports/${id}`); } catch (e) { flash(e.message, "error"); return; }
  current = r;
  for (const chart of charts) chart.destroy();
  charts = [];
  const results = r.results || {};
  $("rb-detail-title").textContent = `${t("rb.report", "Report")} ${r.id} · ${r.device_number || ""}`;
  const abort = results.abort ? `${t("rb.aborted_because", "Aborted")}: ${results.abort.reason}` : "";
  $("rb-detail-info").replaceChildren(
    el("dt", {}, t("rb.col_scenario", "Scenario")), el("dd", {}, r.scenario_name || ""),
    el("dt", {}, t("rb.col_customer", "Customer")), el("dd", {}, r.customer_name || "—"),
    el("dt", {}, t("rb.col_operator", "Operator")), el("dd", {}, r.operator_name || "—"),
    el("dt", {}, t("rb.col_date", "Date")), el("dd", {}, `${fmtDateTime(r.start_time)} – ${fmtDateTime(r.end_time)}`),
    el("dt", {}, t("rb.col_outcome", "Result")), el("dd", {}, pill(outcome(r)), abort ? el("span", {}, ` ${abort}`) : null),
    el("dt", {}, "SHA-256"), el("dd", {}, el("code", { id: "rb-sha" }, r.sha256 || "—")),
  );
  const finished = ["completed", "failed", "aborted"].includes(r.status);
  const unsealed = finished && !r.sha256;
  const blocks = (r.pressure_data && r.pressure_data.steps) || {};
  $("rb-steps").replaceChildren(...(results.steps || []).map((s) => {
    const block = blocks[String(s.step_order)];
    const canvas = block && s.criteria && s.criteria.signal ? el("canvas", { "aria-label": `${t("rb.trace", "Trace")} ${s.step_order}` }) : null;
    const li = el("li", { class: "rb-step", dataset: { order: String(s.step_order), result: s.result || "" } },
      el("div", { class: "rb-step-head" }, el("strong", {}, `${s.step_order}. ${s.step_name}`), pill(s.result || "pending")),
      el("p", { class: "hint" }, limitsText(s.criteria)),
      el("p", { class: "rb-sentence" }, evaluationSentence(s)),
      s.notes ? el("p", { class: "rb-notes" }, `${t("rb.notes", "Notes")}: ${s.notes}`) : null,
      canvas ? el("div", { class: "rb-chart" }, canvas) : null);
    if (canvas) requestAnimationFrame(() => drawTrace(canvas, s, block));
    return li;
  }));
  $("rb-pdf").disabled = !finished || unsealed;
  $("rb-seal").hidden = !unsealed;
  $("rb-verify-this").disabled = !r.sha256;
  $("rb-verify-result").className = "";
  $("rb-verify-result").textContent = unsealed ? t("rb.not_sealed", "Not sealed: this report was finished before reports were sealed. Seal it to print it and to make its checksum verifiable.") : "";
  if (!$("rb-detail").open) $("rb-detail").showModal();
}

async function verify(sha, out) {
  try {
    const v = await api.get("/reports/verify", { sha256: sha });
    out.className = v.valid ? "rb-valid" : "rb-invalid";
    out.textContent = v.valid
      ? `${t("rb.valid", "Genuine: the report in the database matches this checksum")} (${t("rb.report", "Report")} ${v.report_id}, ${v.device_number || ""}, ${fmtDateTime(v.start_time)})`
      : `${t("rb.changed", "Changed after sealing: the report no longer matches this checksum")} (${t("rb.report", "Report")} ${v.report_id})`;
  } catch (e) {
    out.className = "rb-invalid";
    out.textContent = e.status === 404 ? t("rb.unknown_sha", "No report has this checksum.") : e.message;
  }
  return out;
}

async function seal() {
  const id = current && current.id;
  if (!id) return;
  $("rb-seal").disabled = true;
  try {
    await api.post(`/reports/${id}/seal`);
  } catch (e) {
    flash(e.message, "error");
    return;
  } finally {
    $("rb-seal").disabled = false;
  }
  await openReport(id);
  $("rb-verify-result").className = "rb-valid";
  $("rb-verify-result").textContent = t("rb.sealed", "Sealed: this checksum now identifies the report");
}

export function mountReports({ operatorScope = false } = {}) {
  const form = $("rb-filter");
  if (!form || form.dataset.mounted) return { load, openReport };
  form.dataset.mounted = "1";
  $("rb-device").replaceWith(namePicker({ name: "device_id", source: deviceSource, label: t("rb.col_device", "Device") }));
  $("rb-customer").replaceWith(namePicker({ name: "customer_id", source: nameSource("customers"), label: t("rb.col_customer", "Customer") }));
  if (operatorScope) $("rb-operator").parentElement.remove();
  else $("rb-operator").replaceWith(namePicker({ name: "operator_id", source: nameSource("operators"), label: t("rb.col_operator", "Operator") }));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(0); });
  form.addEventListener("reset", () => setTimeout(() => { for (const p of form.querySelectorAll(".picker")) p.clear(); load(0); }));
  $("rb-close").onclick = () => $("rb-detail").close();
  $("rb-seal").onclick = seal;
  $("rb-pdf").onclick = () => current && download(`/reports/${current.id}/pdf?lang=${currentLanguage()}`, `report-${current.id}.pdf`);
  $("rb-verify-this").onclick = () => current && current.sha256 && verify(current.sha256, $("rb-verify-result"));
  $("rb-verify").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const sha = ev.target.sha256.value.trim().toLowerCase();
    await verify(sha, $("rb-verify-any-result"));
  });
  return { load, openReport };
}
