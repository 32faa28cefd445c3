// The one tree JSON editor every module uses (vanilla-jsoneditor, vendored).
// mountJsonEditor(target, {value, onChange(value, error), readOnly, mode}) ->
//   {get() -> value (throws on invalid JSON text), set(value), setReadOnly(bool), destroy()}
import { createJSONEditor } from "/static/vendor/vanilla-jsoneditor/standalone.js";

export function mountJsonEditor(target, { value = {}, onChange, readOnly = false, mode = "tree" } = {}) {
  target.classList.add("json-editor");
  const editor = createJSONEditor({
    target,
    props: {
      content: { json: value },
      mode,
      readOnly,
      mainMenuBar: true,
      navigationBar: false,
      onChange: (content, _previous, status) => {
        if (!onChange) return;
        const error = status && status.contentErrors ? "Invalid JSON" : null;
        let parsed;
        if (!error) {
          try { parsed = read(content); } catch (e) { onChange(undefined, e.message); return; }
        }
        onChange(parsed, error);
      },
    },
  });
  function read(content) {
    if (content.json !== undefined) return content.json;
    return JSON.parse(content.text);
  }
  return {
    get: () => read(editor.get()),
    set: (v) => editor.set({ json: v }),
    setReadOnly: (flag) => editor.updateProps({ readOnly: flag }),
    destroy: () => editor.destroy(),
    raw: editor,
  };
}
