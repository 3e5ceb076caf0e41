// A minimal MCP Apps host (protocol 2026-01-26) for the browser tests: no SDK, plain JS.
// startHost(config) loads the view into a sandboxed iframe under the CSP its resource declares (built as the
// spec's host example builds it), answers the view's requests and records every message in window.__log.
"use strict";
window.__log = [];   // {dir: "in" | "out", msg}: "in" is view -> host
window.__csp = [];   // securitypolicyviolation events inside the view, reported by a probe the host injects
let frame = null;
let config = null;
const held = [];
let hostIds = 0;

function buildCsp(csp) {
  const list = (values) => (values || []).join(" ");
  return [
    "default-src 'none'",
    `script-src 'self' 'unsafe-inline' ${list(csp.resourceDomains)}`,
    `style-src 'self' 'unsafe-inline' ${list(csp.resourceDomains)}`,
    `connect-src 'self' ${list(csp.connectDomains)}`,
    `img-src 'self' data: ${list(csp.resourceDomains)}`,
    `font-src 'self' ${list(csp.resourceDomains)}`,
    `media-src 'self' data: ${list(csp.resourceDomains)}`,
    `frame-src ${list(csp.frameDomains) || "'none'"}`,
    "object-src 'none'",
    `base-uri ${list(csp.baseUriDomains) || "'self'"}`,
  ].join("; ");
}

const PROBE = "<script>document.addEventListener('securitypolicyviolation', (e) => parent.postMessage("
  + "{probe: 'csp', blockedURI: e.blockedURI, directive: e.violatedDirective}, '*'));<\/script>";
const attr = (text) => text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

function send(msg) {
  window.__log.push({ dir: "out", msg });
  frame.contentWindow.postMessage(msg, "*");
}
const reply = (id, result) => send({ jsonrpc: "2.0", id, result });
window.hostNotify = (method, params) => send({ jsonrpc: "2.0", method, params: params || {} });
window.hostRequest = (method, params) => send({ jsonrpc: "2.0", id: "host-" + ++hostIds, method, params: params || {} });
window.releaseHeld = () => held.splice(0).forEach((answer) => answer());
window.setHostTheme = (theme) => document.documentElement.classList.toggle("dark", theme === "dark");

window.startHost = (cfg) => {
  config = cfg;
  setHostTheme(cfg.hostContext.theme);
  document.getElementById("caption").textContent = "frames-mcp · " + cfg.toolName;
  frame = document.createElement("iframe");
  frame.setAttribute("sandbox", "allow-scripts");
  if (cfg.permissions && cfg.permissions.clipboardWrite) frame.setAttribute("allow", "clipboard-write");
  frame.title = "Frames gallery";
  const head = `<meta http-equiv="Content-Security-Policy" content="${attr(buildCsp(cfg.csp || {}))}">` + PROBE;
  frame.srcdoc = cfg.html.replace(/<head[^>]*>/i, (tag) => tag + head);
  document.getElementById("chat").append(frame);
};

window.addEventListener("message", (event) => {
  if (!frame || event.source !== frame.contentWindow) return;
  const m = event.data;
  if (m && m.probe === "csp") { window.__csp.push(m); return; }
  window.__log.push({ dir: "in", msg: m });
  if (!m || m.jsonrpc !== "2.0") return;
  if (m.method && m.id !== undefined) onRequest(m);
  else if (m.method) onNotification(m);
});

function onRequest(m) {
  if (m.method === "ui/initialize") {
    return reply(m.id, {
      protocolVersion: "2026-01-26",
      hostInfo: { name: "frames-test-host", version: "1.0.0" },
      hostCapabilities: config.hostCapabilities,
      hostContext: config.hostContext,
    });
  }
  if (m.method === "tools/call") {
    const name = m.params && m.params.name;
    const queue = config.tools[name];
    if (!config.appTools.includes(name) || !queue || !queue.length) {
      return send({ jsonrpc: "2.0", id: m.id, error: { code: -32602, message: "Tool not available to the app: " + name } });
    }
    const result = queue.length > 1 ? queue.shift() : queue[0];
    if ((config.hold || []).includes(name)) held.push(() => reply(m.id, result));
    else reply(m.id, result);
    return;
  }
  if (m.method === "ui/request-display-mode") return reply(m.id, { mode: "inline" });
  // ui/open-link, ui/message, ui/download-file, ui/update-model-context, ping: accepted and recorded.
  return reply(m.id, {});
}

function onNotification(m) {
  if (m.method === "ui/notifications/initialized") {
    if (config.toolInput) window.hostNotify("ui/notifications/tool-input", { arguments: config.toolInput });
    if (config.toolResult) window.hostNotify("ui/notifications/tool-result", config.toolResult);
  } else if (m.method === "ui/notifications/size-changed" && m.params && m.params.height) {
    frame.style.height = m.params.height + "px";
  }
}
