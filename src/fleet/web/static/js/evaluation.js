// Criteria and their evaluations in words, from translated labels: the live gauge, the verdict
// screen and the report browser all say the same sentences.
import { t } from "./i18n.js";
import { fmtNumber, statusText } from "./ui.js";

export const UNITS = { pressure_low: "mbar", pressure_high: "bar", flow: "l/min" };

export function signalName(signal) {
  return t(`eval.signal_${signal}`, { pressure_low: "Low pressure", pressure_high: "High pressure", flow: "Flow" }[signal] || String(signal || ""));
}

function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (_, k) => (values[k] === undefined || values[k] === null ? "" : String(values[k])));
}

const n = (v) => (v === undefined || v === null ? "—" : fmtNumber(v));

// The pass condition of a step, as a sentence.
export function limitsText(c) {
  if (!c) return "";
  const v = {
    signal: signalName(c.signal), unit: UNITS[c.signal] || "", statistic: t(`eval.stat_${c.statistic || "mean"}`, c.statistic || "mean"),
    min: c.min === undefined ? "−∞" : n(c.min), max: c.max === undefined ? "∞" : n(c.max), target: n(c.target), tolerance: n(c.tolerance),
    within: n(c.within_s), percent: n(c.max_percent), hold: n(c.hold_s), rate: n(c.max_per_min), band: n(c.band), for: n(c.for_s), marginal: n(c.marginal),
  };
  const texts = {
    boolean: t("eval.limit_boolean", "The operator confirms the step."),
    range: t("eval.limit_range", "{signal} ({statistic}) between {min} and {max} {unit}"),
    target_tolerance: c.within_s !== undefined && c.within_s !== null
      ? t("eval.limit_target_within", "{signal} reaches {target} ± {tolerance} {unit} within {within} s")
      : t("eval.limit_target", "{signal} reaches {target} ± {tolerance} {unit}"),
    max_loss_percent: t("eval.limit_loss_percent", "{signal} loses at most {percent} % over {hold} s"),
    max_loss_rate: t("eval.limit_loss_rate", "{signal} falls at most {rate} {unit}/min"),
    settled: t("eval.limit_settled", "{signal} stays within {band} {unit} for {for} s"),
  };
  let text = fill(texts[c.type] || String(c.type), v);
  if (c.marginal) text += fill(t("eval.limit_marginal", " (a warning up to {marginal} beyond)"), v);
  return text;
}

// What was measured, as a sentence.
export function measuredText(ev, criteria) {
  if (!ev) return "—";
  const m = ev.measured || {};
  const unit = UNITS[ev.signal || (criteria && criteria.signal)] || "";
  const parts = [];
  if (m.source === "measurement") parts.push(t("eval.entered", "entered by the operator:"));
  if (m.confirmed) parts.push(fill(t("eval.confirmed", "operator: {result}"), { result: statusText(m.confirmed) }));
  if (m.value !== undefined && m.value !== null) parts.push(fill(t("eval.m_value", "measured {value} {unit}"), { value: n(m.value), unit }));
  if (m.reached_after_s !== undefined && m.reached_after_s !== null) parts.push(fill(t("eval.m_reached", "reached after {s} s"), { s: n(m.reached_after_s) }));
  if (m.start !== undefined && m.end !== undefined) parts.push(fill(t("eval.m_start_end", "from {start} to {end} {unit}"), { start: n(m.start), end: n(m.end), unit }));
  if (m.loss_percent !== undefined && m.loss_percent !== null) parts.push(fill(t("eval.m_loss_percent", "loss {v} %"), { v: n(m.loss_percent) }));
  if (m.loss_per_min !== undefined && m.loss_per_min !== null) parts.push(fill(t("eval.m_loss_rate", "loss {v} {unit}/min"), { v: n(m.loss_per_min), unit }));
  if (m.spread !== undefined && m.spread !== null) parts.push(fill(t("eval.m_spread", "spread {v} {unit}"), { v: n(m.spread), unit }));
  if (m.held_s !== undefined && m.held_s !== null) parts.push(fill(t("eval.m_held", "over {s} s"), { s: n(m.held_s) }));
  if (m.samples !== undefined) parts.push(fill(t("eval.m_samples", "{count} samples"), { count: n(m.samples) }));
  return parts.join(", ") || "—";
}

// The verdict of one step in a sentence: "Passed: measured −14 mbar, reached after 3 s."
export function evaluationSentence(step) {
  const ev = step.evaluation;
  const result = statusText(step.result || "pending");
  if (!ev) return result;
  if (ev.type === "boolean" || ev.type === undefined) return `${result}.`;
  const why = ev.result !== "passed" && ev.result !== "skipped" ? ` ${t(`eval.why_${ev.result}`, ev.result === "warning" ? "Close to the limit." : "Outside the limit.")}` : "";
  return `${result}: ${measuredText(ev, step.criteria)}.${why}`;
}
