// Ordinary form fields generated from a JSON Schema (an object's properties: text, e-mail,
// number, yes/no, choice), with errors shown at the field; the tree editor stays one click
// away as the "advanced" view, and both views edit the same value.
import { el } from "./api.js";
import { t } from "./i18n.js";
import { mountJsonEditor } from "./jsoneditor.js";

function label(key, prop) {
  return prop.title || t(`form.${key}`, key.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase()));
}

function field(key, prop, value) {
  const common = { name: key, "data-field": key };
  if (Array.isArray(prop.enum)) {
    return el("select", common, el("option", { value: "" }, "—"),
      ...prop.enum.map((v) => el("option", { value: String(v), selected: value === v }, String(v))));
  }
  if (prop.type === "boolean") return el("input", { ...common, type: "checkbox", checked: value === true });
  if (prop.type === "integer" || prop.type === "number") {
    return el("input", { ...common, type: "number", step: prop.type === "integer" ? "1" : "any", min: prop.minimum, max: prop.maximum, value: value ?? "" });
  }
  if (prop.type === "string" && (prop.maxLength || 0) > 500) {
    const area = el("textarea", { ...common, rows: "3", maxlength: prop.maxLength });
    area.value = value ?? "";
    return area;
  }
  if (prop.type === "string") {
    return el("input", { ...common, type: prop.format === "email" ? "email" : "text", maxlength: prop.maxLength, value: value ?? "" });
  }
  return null; // objects, arrays: the advanced view edits them
}

// mountSchemaForm(box, {schema, value}) -> {get(), set(value, schema), showErrors(problems), clear()}
export function mountSchemaForm(box, { schema = null, value = {} } = {}) {
  let current = { ...(value || {}) };
  let props = {};
  let advanced = false;
  let tree = null;
  const fields = el("div", { class: "schema-form" });
  const treeBox = el("div", { class: "schema-tree", hidden: true });
  const toggle = el("button", { type: "button", class: "btn btn-ghost btn-small schema-toggle" }, t("form.advanced", "Advanced (JSON)"));
  box.replaceChildren(fields, el("div", { class: "row" }, toggle), treeBox);

  function readFields() {
    const out = { ...current };
    for (const [key, prop] of Object.entries(props)) {
      const input = fields.querySelector(`[data-field="${key}"]`);
      if (!input) continue;
      if (input.type === "checkbox") out[key] = input.checked;
      else if (input.value === "") delete out[key];
      else if (prop.type === "integer" || prop.type === "number") out[key] = Number(input.value);
      else if (Array.isArray(prop.enum) && typeof prop.enum[0] === "number") out[key] = Number(input.value);
      else out[key] = input.value;
    }
    return out;
  }

  function render() {
    props = (schema && schema.properties) || {};
    const rows = Object.entries(props).map(([key, prop]) => {
      const input = field(key, prop, current[key]);
      if (!input) return null;
      return el("label", { class: input.type === "checkbox" ? "check" : "", dataset: { key } },
        el("span", {}, label(key, prop)), input, el("span", { class: "field-error", role: "alert", hidden: true }));
    }).filter(Boolean);
    fields.replaceChildren(...(rows.length ? rows : [el("p", { class: "hint" }, t("form.no_fields", "No form for this; use the advanced view."))]));
  }

  toggle.addEventListener("click", () => {
    if (!advanced) {
      current = readFields();
      if (!tree) tree = mountJsonEditor(treeBox, { value: current });
      else tree.set(current);
      treeBox.hidden = false;
      fields.hidden = true;
      toggle.textContent = t("form.simple", "Back to the form");
    } else {
      current = tree.get();
      render();
      treeBox.hidden = true;
      fields.hidden = false;
      toggle.textContent = t("form.advanced", "Advanced (JSON)");
    }
    advanced = !advanced;
  });
  render();

  return {
    get() { current = advanced ? tree.get() : readFields(); return current; },
    set(next, nextSchema) {
      current = { ...(next || {}) };
      if (nextSchema !== undefined) schema = nextSchema;
      if (advanced) tree.set(current);
      render();
    },
    // problems: [{field, message}]; answers those with no field on the form
    showErrors(problems) {
      const rest = [];
      for (const p of problems) {
        const slot = p.field && fields.querySelector(`label[data-key="${p.field}"] .field-error`);
        if (slot && !advanced) { slot.textContent = p.message; slot.hidden = false; slot.closest("label").classList.add("invalid"); }
        else rest.push(p);
      }
      const first = fields.querySelector("label.invalid [data-field]");
      if (first) first.focus();
      return rest;
    },
    clear() {
      for (const slot of fields.querySelectorAll(".field-error")) { slot.hidden = true; slot.textContent = ""; }
      for (const row of fields.querySelectorAll("label.invalid")) row.classList.remove("invalid");
    },
  };
}

// Field problems from an API error: JSON pointers (/email), "key: message" texts, FastAPI lists.
export function fieldProblems(e, prefix) {
  const d = e.detail;
  const out = [];
  const fromText = (text) => {
    for (const part of String(text).replace(/^Value error, /, "").split("; ")) {
      const m = /^([A-Za-z0-9_]+): (.*)$/.exec(part);
      out.push(m ? { field: m[1], message: m[2] } : { field: null, message: part });
    }
  };
  if (d && typeof d === "object" && !Array.isArray(d) && Array.isArray(d.errors)) {
    for (const x of d.errors) {
      const path = String(x.path || "").replace(/^\//, "").split("/");
      out.push({ field: path[0] || null, message: x.message });
    }
  } else if (Array.isArray(d)) {
    for (const x of d) {
      const loc = (x.loc || []).filter((p) => p !== "body");
      if (loc[0] === prefix && loc.length > 1) out.push({ field: String(loc[1]), message: x.msg });
      else if (loc[0] === prefix) fromText(x.msg);
      else out.push({ field: null, message: `${loc.join(".")}: ${x.msg}` });
    }
  } else out.push({ field: null, message: e.message });
  return out;
}
