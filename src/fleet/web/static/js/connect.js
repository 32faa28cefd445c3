// /connect-plus-plus and /connect-display: the operator's test flow. One script, two layouts
// (#cpp[data-layout] = "full" | "display"): choose kind of device → device type → kind of
// test → scenario → device, then run the steps with a live pressure chart, then the verdict
// and the PDF. Live samples come from the WebSocket when it answers, else from polling.
import { api, el, flash, tokens } from "./api.js";
import { fillReadiness } from "./readiness.js";
import { ready } from "./shell.js";
import { currentLanguage, t } from "./i18n.js";
import { ask, download, fmtDate, fmtDateTime, fmtNumber, pill, tabs } from "./ui.js";
import { mountReports } from "./reports.js";
import { UNITS, evaluationSentence, limitsText, measuredText, signalName } from "./evaluation.js";

const ROOT = document.getElementById("cpp");
const DISPLAY = ROOT.dataset.layout === "display";
const STORE = "fleet.cpp.test";
const MEASURED_KEY = { max_loss_percent: "loss_percent", max_loss_rate: "loss_per_min", settled: "spread" };
const MEASURED_LABEL = { loss_percent: "Loss", loss_per_min: "Loss per minute", spread: "Spread" };
const tr = t; // t is shadowed where a device type is called t
const $ = (id) => document.getElementById(id);

let catalog = null;
const pick = { kind: undefined, type: undefined, test: undefined, scenario: null };
let test = null; // the test's state as GET /tests/{id} answers it
let chart = null;
let chartStep = null;
let offset = 0;
let polling = null;
let socket = null;
let busy = false;
let me = null;

// ---------------------------------------------------------------- text helpers

function badge(result) {
  return pill(result || "pending");
}

// ---------------------------------------------------------------- choosing

const label = (v) => (v === null || v === undefined || v === "" ? t("cpp.other", "other") : String(v).replaceAll("_", " "));

function choiceButton(text, sub, onclick, data = {}) {
  return el("button", { class: "btn cpp-choice", type: "button", onclick, dataset: data },
    el("span", { class: "cpp-choice-main" }, text), sub ? el("span", { class: "cpp-choice-sub" }, sub) : null);
}

function crumbs() {
  const items = [];
  const back = (fn) => () => { fn(); renderPick(); };
  if (pick.kind !== undefined) items.push(el("button", { class: "btn btn-ghost btn-small", type: "button", onclick: back(() => { pick.kind = pick.type = pick.test = undefined; pick.scenario = null; }) }, label(pick.kind)));
  if (pick.type !== undefined) items.push(el("button", { class: "btn btn-ghost btn-small", type: "button", onclick: back(() => { pick.type = pick.test = undefined; pick.scenario = null; }) }, label(pick.type)));
  if (pick.test !== undefined) items.push(el("button", { class: "btn btn-ghost btn-small", type: "button", onclick: back(() => { pick.test = undefined; pick.scenario = null; }) }, label(pick.test)));
  if (pick.scenario) items.push(el("button", { class: "btn btn-ghost btn-small", type: "button", onclick: back(() => { pick.scenario = null; }) }, pick.scenario.name));
  $("cpp-crumbs").replaceChildren(...items.flatMap((b, i) => (i ? [el("span", {}, " › "), b] : [b])));
}

function scenariosFor() {
  return catalog.scenarios.filter((s) => (!s.device_type || s.device_type === pick.type)
    && (!s.kind_of_device || s.kind_of_device === pick.kind));
}

function unique(values) {
  return [...new Set(values.map((v) => (v === undefined ? null : v)))];
}

function renderPick() {
  crumbs();
  if (pick.kind === undefined) loadRunning();
  else $("cpp-running").hidden = true;
  const box = $("cpp-choices");
  $("cpp-device-search").hidden = true;
  if (pick.kind === undefined) {
    $("cpp-pick-title").textContent = t("cpp.kind_of_device", "Kind of device");
    const kinds = unique(catalog.device_kinds.map((k) => k.kind_of_device));
    box.replaceChildren(...kinds.map((k) => choiceButton(label(k), null, () => { pick.kind = k; renderPick(); }, { kind: k ?? "" })));
  } else if (pick.type === undefined) {
    $("cpp-pick-title").textContent = t("cpp.device_type", "Device type");
    const types = catalog.device_kinds.filter((k) => k.kind_of_device === pick.kind);
    box.replaceChildren(...types.map((t) => choiceButton(label(t.device_type), `${t.devices} ${t.devices === 1 ? tr("cpp.device_one", "device") : tr("cpp.devices", "devices")}`, () => { pick.type = t.device_type; renderPick(); }, { type: t.device_type })));
  } else if (pick.test === undefined) {
    $("cpp-pick-title").textContent = t("cpp.kind_of_test", "Kind of test");
    const kinds = unique(scenariosFor().map((s) => s.kind_of_test));
    box.replaceChildren(...(kinds.length ? kinds.map((k) => choiceButton(label(k), null, () => { pick.test = k; renderPick(); }, { test: k ?? "" }))
      : [el("p", {}, t("cpp.no_scenario", "No active scenario for this device type."))]));
  } else if (!pick.scenario) {
    $("cpp-pick-title").textContent = t("cpp.scenario", "Scenario");
    const list = scenariosFor().filter((s) => (s.kind_of_test ?? null) === pick.test);
    box.replaceChildren(...list.map((s) => choiceButton(s.name, `${s.step_count} ${t("cpp.steps", "steps")}`, () => { pick.scenario = s; renderPick(); }, { scenario: s.name })));
  } else {
    $("cpp-pick-title").textContent = t("cpp.device_search", "Device — search or scan");
    $("cpp-device-search").hidden = false;
    $("cpp-device-q").focus();
    searchDevices();
  }
}

async function searchDevices() {
  const q = $("cpp-device-q").value.trim();
  try {
    const devices = await api.get("/tests/devices", { q, device_type: pick.type, kind_of_device: pick.kind ?? undefined, limit: DISPLAY ? 4 : 30 });
    const exact = devices.find((d) => q && (d.device_number === q || d.serial_number === q));
    if (exact && !exact.running_test_id) { start(exact); return; }
    $("cpp-choices").replaceChildren(...(devices.length ? devices.map((d) => choiceButton(
      d.device_number,
      d.running_test_id ? `${t("cpp.busy_test", "busy: test")} ${d.running_test_id}` : [d.customer_name, d.next_due_at ? `${t("cpp.due", "due")} ${fmtDate(d.next_due_at)}` : null].filter(Boolean).join(" · "),
      () => start(d), { device: d.device_number },
    )) : [el("p", {}, t("cpp.no_device", "No device found."))]));
    // the workshop's readiness of each item (a blocked one is refused at the start)
    for (const [i, d] of devices.entries()) $("cpp-choices").children[i].append(el("span", { class: "cpp-choice-sub", dataset: { readinessFor: d.id } }));
    fillReadiness($("cpp-choices"));
  } catch (e) { flash(e.message, "error"); }
}

// ---------------------------------------------------------------- tests in progress

async function loadRunning() {
  const box = $("cpp-running");
  let running = [];
  try { running = await api.get("/tests/running"); } catch (e) { flash(e.message, "error"); }
  box.hidden = !running.length;
  $("cpp-running-list").replaceChildren(...running.map((r) => el("div", { class: "card cpp-running-item", dataset: { test: String(r.id), device: r.device_number || "" } },
    el("div", { class: "cpp-running-text" },
      el("strong", {}, `${r.device_number || ""} · ${r.scenario_name || ""}`),
      el("span", { class: "hint" }, `${t("cpp.running_by", "by")} ${r.operator || "—"} · ${t("cpp.step", "step")} ${r.current_step ?? "—"} / ${r.steps_total} · ${t("cpp.last_activity", "last activity")} ${fmtDateTime(r.last_activity_at)}`)),
    el("button", { class: "btn cpp-resume", type: "button", onclick: () => resume(r.id) }, r.operator_id === me.id ? t("cpp.resume", "Resume") : t("cpp.take_over", "Take over")),
    el("button", { class: "btn btn-ghost cpp-running-abort", type: "button", onclick: () => abortRunning(r) }, t("cpp.abort", "Abort")),
  )));
}

async function resume(id) {
  if (busy) return;
  busy = true;
  try {
    const state = await api.post(`/tests/${id}/resume`);
    sessionStorage.setItem(STORE, String(state.id));
    show(state);
  } catch (e) { flash(e.message, "error"); loadRunning(); } finally { busy = false; }
}

async function abortRunning(r) {
  const reason = await ask(`${t("cpp.abort_title", "Abort this test?")} ${r.device_number || ""}`, t("cpp.reason", "Reason"), { okText: t("cpp.abort", "Abort"), danger: true });
  if (!reason) return;
  try {
    await api.post(`/tests/${r.id}/abort`, { reason });
    flash(t("cpp.aborted_flash", "Test aborted"));
  } catch (e) { flash(e.message, "error"); }
  loadRunning();
}

// Camera scanning with the vendored jsQR; a USB scanner simply types into the search field.
let stream = null;
async function scan() {
  if (!navigator.mediaDevices || !window.jsQR) { flash(t("cpp.no_camera", "No camera available; type or scan the code into the field"), "error"); return; }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (e) { flash(`${t("cpp.camera", "Camera")}: ${e.message}`, "error"); return; }
  const video = $("cpp-video");
  video.srcObject = stream;
  $("cpp-camera").hidden = false;
  await video.play();
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const tick = () => {
    if (!stream) return;
    if (video.readyState >= 2) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      ctx.drawImage(video, 0, 0);
      const code = window.jsQR(ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height);
      if (code && code.data) {
        stopScan();
        $("cpp-device-q").value = code.data.trim();
        searchDevices();
        return;
      }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

function stopScan() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  $("cpp-camera").hidden = true;
}

async function start(device) {
  if (busy) return;
  busy = true;
  try {
    const state = await api.post("/tests/start", { scenario_id: pick.scenario.id, device_id: device.id });
    sessionStorage.setItem(STORE, String(state.id));
    show(state);
  } catch (e) {
    flash(e.message, "error");
  } finally { busy = false; }
}

// ---------------------------------------------------------------- running

function currentState() {
  const order = test.progress.current_step;
  return (test.results.steps || []).find((s) => s.step_order === order) || null;
}

function show(state) {
  test = state;
  $("cpp-pick").hidden = true;
  if (test.status !== "in_progress") { stopLive(); renderDone(); return; }
  $("cpp-done").hidden = true;
  $("cpp-run").hidden = false;
  $("cpp-title").textContent = `${test.scenario_name} · ${test.device_number}`;
  $("cpp-progress").textContent = `${t("cpp.step", "step")} ${test.progress.current_step ?? "—"} / ${test.progress.steps_total}`;
  $("cpp-speed-wrap").hidden = !test.bench_enabled;
  $("cpp-steps").replaceChildren(...test.results.steps.map((s) => el("li", {
    class: s.step_order === test.progress.current_step ? "current" : "", dataset: { order: String(s.step_order), result: s.result || "" },
  }, el("span", { class: "cpp-step-name" }, `${s.step_order}. ${s.step_name}`), badge(s.result))));
  connectLive();
  const step = currentState();
  if (!step) { renderAllRecorded(); return; }
  $("cpp-step-name").textContent = `${step.step_order}. ${step.step_name}`;
  $("cpp-step-desc").textContent = step.description || "";
  $("cpp-step-limits").textContent = `${t("cpp.pass_if", "Pass")}: ${limitsText(step.criteria)}`;
  renderActions(step);
  if (step.auto_test && step.criteria.type !== "boolean") setupChart(step);
  else { $("cpp-chart-box").hidden = true; $("cpp-gauge").hidden = true; chartStep = null; }
}

function bigButton(text, cls, onclick, id) {
  return el("button", { class: `btn cpp-big ${cls}`, type: "button", onclick, id }, text);
}

function renderActions(step) {
  const box = $("cpp-actions");
  const notes = el("textarea", { id: "cpp-notes", rows: DISPLAY ? 1 : 3, maxlength: 4000, placeholder: t("cpp.notes_placeholder", "Notes (optional)"), "aria-label": t("cpp.notes", "Notes") });
  const parts = [];
  if (!step.auto_test || step.criteria.type === "boolean") {
    parts.push(
      bigButton(`✔ ${t("cpp.btn_passed", "Passed")}`, "cpp-pass", () => submit(step, { result: "passed", notes: notes.value || null }), "cpp-passed"),
      bigButton(`✘ ${t("cpp.btn_failed", "Failed")}`, "btn-danger cpp-fail", () => submit(step, { result: "failed", notes: notes.value || null }), "cpp-failed"),
    );
    if (!DISPLAY) parts.push(bigButton(`⚠ ${t("cpp.btn_warning", "Passed with remark")}`, "btn-ghost", () => submit(step, { result: "warning", notes: notes.value || null }), "cpp-warning"));
  } else {
    if (test.bench_enabled) parts.push(bigButton(`▶ ${t("cpp.btn_bench", "Run on simulated bench")}`, "", () => runBench(step), "cpp-bench"));
    parts.push(bigButton(t("cpp.btn_evaluate", "Evaluate samples"), "btn-ghost", () => submit(step, {}), "cpp-evaluate"));
    const key = MEASURED_KEY[step.criteria.type] || step.criteria.signal;
    const what = `${t(`cpp.measure_${key}`, MEASURED_LABEL[key] || signalName(key))} (${MEASURED_KEY[step.criteria.type] === "loss_percent" ? "%" : UNITS[step.criteria.signal] || ""})`;
    const value = el("input", { type: "number", step: "any", id: "cpp-measure", "aria-label": what, placeholder: what });
    parts.push(el("form", { class: "cpp-measure", onsubmit: (ev) => {
      ev.preventDefault();
      const v = Number(value.value);
      if (value.value === "" || !Number.isFinite(v)) { flash(t("cpp.enter_number", "Enter a number"), "error"); return; }
      submit(step, { measurements: { [key]: v }, notes: notes.value || null });
    } }, value, el("button", { class: "btn btn-ghost", type: "submit" }, t("cpp.enter_value", "Enter value"))));
  }
  if (!step.required) parts.push(bigButton(t("cpp.skip", "Skip"), "btn-ghost", () => submit(step, { result: "skipped", notes: notes.value || null }), "cpp-skip"));
  parts.push(notes);
  if (!step.auto_test) {
    const photo = el("input", { type: "file", accept: "image/jpeg,image/png,image/webp", capture: "environment", "aria-label": t("cpp.photo", "Photo"), class: "cpp-photo" });
    photo.addEventListener("change", () => uploadPhoto(step, photo));
    parts.push(el("label", { class: "cpp-photo-label" }, t("cpp.photo", "Photo"), photo));
  }
  box.replaceChildren(...parts);
  const evaluate = $("cpp-evaluate");
  if (evaluate) evaluate.disabled = !(test.progress.samples[String(step.step_order)] > 0);
}

function renderAllRecorded() {
  $("cpp-step-name").textContent = t("cpp.all_recorded", "All steps recorded");
  $("cpp-step-desc").textContent = "";
  $("cpp-step-limits").textContent = "";
  $("cpp-chart-box").hidden = true;
  $("cpp-gauge").hidden = true;
  $("cpp-actions").replaceChildren(bigButton(t("cpp.finish", "Finish test"), "", complete, "cpp-complete"));
}

async function uploadPhoto(step, input) {
  const file = input.files[0];
  if (!file) return;
  const data = new FormData();
  data.append("photo", file);
  try {
    await api.upload(`/tests/${test.id}/steps/${step.step_order}/photo`, data);
    flash(t("cpp.photo_attached", "Photo attached"));
  } catch (e) { flash(e.message, "error"); }
}

function showEvaluation(step) {
  const ev = step.evaluation;
  $("cpp-eval").replaceChildren(
    el("span", {}, `${step.step_order}. ${step.step_name}: `), badge(step.result),
    ev && ev.type !== "boolean" ? el("span", { class: "cpp-eval-detail" }, ` ${evaluationSentence(step)} ${t("cpp.limits", "Limits")}: ${limitsText(step.criteria)}`) : "",
  );
}

async function submit(step, body) {
  if (busy) return;
  busy = true;
  try {
    const answer = await api.post(`/tests/${test.id}/steps/${step.step_order}`, body);
    showEvaluation(answer.step);
    await refresh();
  } catch (e) {
    flash(e.message, "error");
  } finally { busy = false; }
}

async function refresh() {
  show(await api.get(`/tests/${test.id}`));
}

async function complete() {
  try {
    show(await api.post(`/tests/${test.id}/complete`));
  } catch (e) { flash(e.message, "error"); }
}

// ---------------------------------------------------------------- the live chart

// The limit band drawn behind the curve; a leak test's band starts at its first sample.
function band(c, first) {
  if (c.type === "target_tolerance") return [c.target - c.tolerance, c.target + c.tolerance];
  if (c.type === "range" && c.min !== undefined && c.max !== undefined) return [c.min, c.max];
  if (c.type === "max_loss_percent" && first !== undefined) {
    const end = first * (1 - c.max_percent / 100);
    return [Math.min(first, end), Math.max(first, end)];
  }
  return null;
}

// The level a relative criterion (a loss over a hold) starts from: the target of the last earlier
// step on the same signal, so the axes fit before the first sample arrives.
function expectedLevel(step) {
  const before = (test.results.steps || []).filter((s) => s.step_order < step.step_order && s.criteria && s.criteria.signal === step.criteria.signal && typeof s.criteria.target === "number");
  return before.length ? before[before.length - 1].criteria.target : null;
}

function axesFor(step) {
  const c = step.criteria;
  let lo = null;
  let hi = null;
  const fixed = band(c);
  const level = expectedLevel(step);
  if (fixed) [lo, hi] = fixed;
  else if (level !== null && c.type === "max_loss_percent") [lo, hi] = band(c, level);
  else if (level !== null) [lo, hi] = [level, level];
  const duration = c.hold_s || c.for_s || c.within_s || null;
  if (lo === null) return { x: duration, y: null };
  const pad = Math.max(Math.abs(hi - lo), Math.abs(hi) * 0.25, Math.abs(lo) * 0.25, 1);
  return { x: duration, y: [Math.min(lo - pad, c.type === "target_tolerance" ? Math.min(0, lo) : lo - pad), Math.max(hi + pad, c.type === "target_tolerance" ? Math.max(0, hi) : hi + pad)] };
}

function setupChart(step) {
  $("cpp-chart-box").hidden = false;
  $("cpp-gauge").hidden = false;
  if (chartStep === step.step_order && chart) return;
  chartStep = step.step_order;
  offset = 0;
  const c = step.criteria;
  const limits = band(c) || (c.type === "max_loss_percent" ? [0, 0] : null);
  if (chart) chart.destroy();
  const datasets = [{ label: `${signalName(c.signal)} (${UNITS[c.signal]})`, data: [], borderColor: "#1450aa", borderWidth: 1.5, pointRadius: 0, tension: 0 }];
  if (limits) {
    datasets.push(
      { label: t("gauge.limit", "limit"), data: [], borderColor: "rgba(24,128,56,.6)", borderWidth: 1, pointRadius: 0, fill: false, borderDash: [4, 3] },
      { label: t("gauge.band", "limit band"), data: [], borderColor: "rgba(24,128,56,.6)", borderWidth: 1, pointRadius: 0, fill: "-1", backgroundColor: "rgba(24,160,70,.15)", borderDash: [4, 3] },
    );
  }
  const axes = axesFor(step);
  chart = new window.Chart($("cpp-chart"), {
    type: "line",
    data: { datasets },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      plugins: { legend: { display: !DISPLAY, labels: { filter: (item) => item.datasetIndex !== 1 } } },
      scales: {
        x: { type: "linear", min: 0, suggestedMax: axes.x || 10, title: { display: !DISPLAY, text: "s" } },
        y: { suggestedMin: axes.y ? axes.y[0] : undefined, suggestedMax: axes.y ? axes.y[1] : undefined, title: { display: !DISPLAY, text: UNITS[c.signal] } },
      },
    },
  });
  chart.$limits = limits;
  chart.$criteria = c;
  chart.$signal = c.signal;
  chart.$axes = axes;
  // before the first sample: the target band over the expected duration
  const first = band(c) || (axes.y && c.type === "max_loss_percent" ? band(c, expectedLevel(step)) : null);
  if (first && limits) {
    const xmax = axes.x || 10;
    chart.data.datasets[1].data = [{ x: 0, y: first[0] }, { x: xmax, y: first[0] }];
    chart.data.datasets[2].data = [{ x: 0, y: first[1] }, { x: xmax, y: first[1] }];
    chart.update("none");
  }
  gauge(null);
  fetchSamples();
}

// The big reading: current value with its unit, the target band, the countdown of the hold.
function gauge(points) {
  const c = chart ? chart.$criteria : null;
  if (!c) return;
  const last = points && points.length ? points[points.length - 1] : null;
  $("cpp-gauge-value").textContent = last ? fmtNumber(last.y, 2) : "—";
  $("cpp-gauge-unit").textContent = UNITS[c.signal] || "";
  const limits = points && points.length ? band(c, points[0].y) : band(c);
  const inside = last && limits ? last.y >= limits[0] && last.y <= limits[1] : null;
  $("cpp-gauge").dataset.inside = inside === null ? "" : String(inside);
  $("cpp-gauge-band").textContent = limits
    ? `${t("gauge.target", "Target")}: ${fmtNumber(limits[0], 2)} … ${fmtNumber(limits[1], 2)} ${UNITS[c.signal] || ""}`
    : limitsText(c);
  const duration = c.hold_s || c.for_s || c.within_s || null;
  if (duration) {
    const elapsed = last ? last.x : 0;
    const left = Math.max(0, Math.ceil(duration - elapsed));
    $("cpp-gauge-hold").textContent = left > 0
      ? `${c.within_s && !c.hold_s && !c.for_s ? t("gauge.time_left", "Time left") : t("gauge.hold_left", "Hold")}: ${fmtNumber(left, 0)} s`
      : t("gauge.hold_done", "Time is up");
  } else $("cpp-gauge-hold").textContent = "";
}

async function fetchSamples() {
  if (!test || chartStep === null) return null;
  const step = chartStep;
  const data = await api.get(`/tests/${test.id}/samples`, { step_order: step, offset });
  if (step !== chartStep || !chart) return data;
  const points = chart.data.datasets[0].data;
  const t0 = points.length ? points.$t0 : data.t[0];
  if (!points.length) points.$t0 = t0;
  data.t.forEach((t, i) => { const v = data[chart.$signal][i]; if (v !== null) points.push({ x: t - t0, y: v }); });
  offset = data.next_offset;
  if (chart.$limits && points.length) {
    const [lo, hi] = band(chart.$criteria, points[0].y) || chart.$limits;
    const xmax = Math.max(points[points.length - 1].x, chart.$axes.x || 0);
    chart.data.datasets[1].data = [{ x: 0, y: lo }, { x: xmax, y: lo }];
    chart.data.datasets[2].data = [{ x: 0, y: hi }, { x: xmax, y: hi }];
  }
  chart.update("none");
  gauge(points);
  const evaluate = $("cpp-evaluate");
  if (evaluate && !busy) evaluate.disabled = offset === 0 || Boolean(data.bench && data.bench.running);
  return data;
}

async function runBench(step) {
  if (busy) return;
  busy = true;
  for (const b of document.querySelectorAll("#cpp-actions button")) b.disabled = true;
  $("cpp-eval").replaceChildren(el("span", {}, t("cpp.bench_running", "Bench running…")));
  try {
    await api.post(`/tests/${test.id}/steps/${step.step_order}/bench`, { speed: Number($("cpp-speed").value) || 1 });
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      const data = await fetchSamples();
      if (!data || data.status !== "in_progress") return; // aborted or taken over meanwhile
      if (data.bench && !data.bench.running) {
        if (data.bench.error) throw new Error(data.bench.error);
        break;
      }
    }
    busy = false;
    await submit(step, {});
  } catch (e) {
    flash(e.message, "error");
  } finally { busy = false; }
}

// WebSocket (issue 5's /api/v1/ws) when it answers: new samples and progress arrive at once.
function connectLive() {
  if (socket && socket.$test === test.id) return;
  stopLive();
  if (!window.WebSocket || !tokens.access) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  try {
    // The token travels as a subprotocol (Sec-WebSocket-Protocol), never in the URL, which
    // would put it into access logs; the server answers "fleet.v1" and does not echo it.
    socket = new WebSocket(`${proto}://${location.host}/api/v1/ws?topics=test:${test.id}`, ["fleet.v1", `bearer.${tokens.access}`]);
  } catch { socket = null; return; }
  socket.$test = test.id;
  socket.onmessage = (msg) => {
    let event;
    try { event = JSON.parse(msg.data); } catch { return; }
    if (event.event === "sensor.reading" && !busy) fetchSamples().catch(() => {});
  };
  socket.onerror = () => {};
  polling = setInterval(() => { if (!busy && chartStep !== null) fetchSamples().catch(() => {}); }, 2000);
}

function stopLive() {
  if (socket) { socket.onclose = null; socket.close(); }
  socket = null;
  if (polling) clearInterval(polling);
  polling = null;
}

// ---------------------------------------------------------------- the end

function renderDone() {
  sessionStorage.removeItem(STORE);
  $("cpp-run").hidden = true;
  $("cpp-done").hidden = false;
  const verdict = test.verdict || test.status;
  $("cpp-verdict").replaceChildren(el("span", {}, `${t("cpp.verdict", "Verdict")}: `), badge(verdict));
  const due = test.results.next_due_at ? `${t("cpp.next_due", "Next test due")} ${fmtDate(test.results.next_due_at)}.` : t("cpp.due_unchanged", "Due date unchanged.");
  const abort = test.results.abort ? ` ${t("cpp.aborted", "Aborted")}: ${test.results.abort.reason}.` : "";
  $("cpp-done-info").textContent = `${test.scenario_name} · ${test.device_number} · ${fmtDateTime(test.start_time)} – ${fmtDateTime(test.end_time)}. ${due}${abort}`;
  document.querySelector("#cpp-summary tbody").replaceChildren(...test.results.steps.map((s) => el("tr", { dataset: { order: String(s.step_order) } },
    el("td", {}, String(s.step_order)), el("td", {}, s.step_name), el("td", {}, limitsText(s.criteria)),
    el("td", {}, measuredText(s.evaluation, s.criteria)), el("td", {}, badge(s.result)))));
  $("cpp-sha").textContent = test.sha256 || "";
}

function downloadPdf() {
  return download(`/reports/${test.id}/pdf?lang=${currentLanguage()}`, `report-${test.id}.pdf`);
}

function newTest() {
  test = null;
  chartStep = null;
  if (chart) { chart.destroy(); chart = null; }
  pick.scenario = null;
  $("cpp-done").hidden = true;
  $("cpp-run").hidden = true;
  $("cpp-pick").hidden = false;
  $("cpp-eval").replaceChildren();
  $("cpp-device-q").value = "";
  renderPick();
}

ready.then(async (who) => {
  if (!who) return;
  me = who;
  if (!DISPLAY) {
    const reports = mountReports({ operatorScope: me.active_role === "operator" });
    tabs(["test", "reports"], (name) => { if (name === "reports") reports.load(0); })();
  }
  $("cpp-device-search").addEventListener("submit", (ev) => { ev.preventDefault(); searchDevices(); });
  $("cpp-scan").onclick = scan;
  $("cpp-scan-stop").onclick = stopScan;
  $("cpp-pdf").onclick = downloadPdf;
  $("cpp-again").onclick = newTest;
  $("cpp-abort").onclick = () => $("cpp-abort-dialog").showModal();
  $("cpp-abort-cancel").onclick = () => $("cpp-abort-dialog").close();
  $("cpp-abort-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const reason = ev.target.reason.value.trim();
    if (!reason) return;
    try {
      const state = await api.post(`/tests/${test.id}/abort`, { reason });
      $("cpp-abort-dialog").close();
      show(state);
    } catch (e) { flash(e.message, "error"); }
  });
  try {
    catalog = await api.get("/tests/catalog");
  } catch (e) { flash(e.message, "error"); return; }
  const saved = sessionStorage.getItem(STORE);
  if (saved) {
    try {
      const state = await api.get(`/tests/${saved}`);
      if (state.status === "in_progress" && state.operator_id === me.id) { show(state); return; }
    } catch { /* the test is gone or not ours: start fresh */ }
    sessionStorage.removeItem(STORE);
  }
  renderPick();
});
