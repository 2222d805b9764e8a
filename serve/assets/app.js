// canh gác web UI: vanilla JS, no external resources. The token lives in sessionStorage and
// goes out as `Authorization: Bearer`; `#token=…` in the address logs in directly.
"use strict";

const I18N = {
  vi: {
    "nav.search": "Tra cứu", "nav.inbox": "Cảnh báo", "nav.dashboard": "Thống kê", "nav.report": "Báo cáo",
    "logout": "Đăng xuất", "back": "← Quay lại kết quả",
    "login.title": "Đăng nhập", "login.token": "Mã truy cập (API token)", "login.submit": "Đăng nhập",
    "login.bad": "Mã truy cập không hợp lệ",
    "search.placeholder": "Tìm sự cố: tấn công, agency:byt, ip:203.113.0.0/16 …", "search.from": "Từ", "search.to": "Đến",
    "search.submit": "Tìm", "search.more": "Xem thêm", "search.found": "sự cố", "search.none": "Không có kết quả",
    "status.any": "Mọi trạng thái", "status.new": "Mới", "status.acknowledged": "Đã tiếp nhận", "status.resolved": "Đã xử lý",
    "facet.category": "Loại", "facet.agency": "Cơ quan", "facet.priority": "Mức ưu tiên", "facet.rule": "Quy tắc",
    "d.agency": "Cơ quan", "d.system": "Hệ thống", "d.category": "Loại", "d.priority": "Mức ưu tiên",
    "d.first": "Phát hiện đầu tiên", "d.last": "Lần cuối", "d.count": "Số phát hiện", "d.status": "Trạng thái",
    "d.rules": "Quy tắc", "d.entities": "Đối tượng liên quan", "d.events": "Các sự kiện", "d.campaign": "Cùng chiến dịch tại cơ quan khác", "d.author": "Tác giả quy tắc",
    "d.guidance": "Hướng dẫn xử lý", "d.history": "Lịch sử", "d.change": "Cập nhật trạng thái", "d.note": "Ghi chú",
    "d.save": "Lưu", "d.saved": "Đã lưu", "d.readonly": "Máy chủ chỉ đọc: không thể đổi trạng thái",
    "inbox.title": "Hộp cảnh báo", "inbox.help": "Các sự cố mới của đơn vị, mới nhất trước",
    "assignee.any": "Mọi người xử lý", "assignee.me": "Giao cho tôi",
    "inbox.new": "Mới", "inbox.assigned": "Giao cho tôi", "inbox.empty": "Không có sự cố nào",
    "pivot.detections": "Các phát hiện nêu đối tượng này", "pivot.chip": "Đối tượng",
    "ent.ips": "IP", "ent.hosts": "Máy", "ent.users": "Người dùng", "ent.domains": "Tên miền", "ent.urls": "URL",
    "ent.hashes": "Mã băm", "ent.emails": "Thư điện tử",
    "dash.title": "Thống kê sự cố theo tháng", "dash.bars": "Số sự cố theo tháng và loại", "dash.trend": "Xu hướng 12 tháng",
    "dash.agencies": "Theo cơ quan", "dash.month": "Tháng", "dash.total": "Tổng số", "dash.mom": "So với tháng trước",
    "dash.national": "Ba loại chính", "dash.agency": "Cơ quan", "dash.change": "Thay đổi",
    "report.month": "Tháng", "report.print": "In báo cáo", "report.csv": "Tải CSV",
    "report.title": "Báo cáo sự cố an toàn thông tin tháng", "report.scope": "Phạm vi", "report.total": "Tổng số sự cố",
    "report.category": "Loại", "report.incidents": "Số sự cố", "report.rules": "Quy tắc phát hiện nhiều nhất",
    "report.systems": "Hệ thống bị ảnh hưởng nhiều nhất", "report.rule": "Quy tắc đếm",
  },
  en: {
    "nav.search": "Search", "nav.inbox": "Alerts", "nav.dashboard": "Dashboard", "nav.report": "Report",
    "logout": "Log out", "back": "← Back to results",
    "login.title": "Log in", "login.token": "API token", "login.submit": "Log in", "login.bad": "Invalid token",
    "search.placeholder": "Search incidents: tấn công, agency:byt, ip:203.113.0.0/16 …", "search.from": "From", "search.to": "To",
    "search.submit": "Search", "search.more": "More", "search.found": "incidents", "search.none": "No results",
    "status.any": "Any status", "status.new": "New", "status.acknowledged": "Acknowledged", "status.resolved": "Resolved",
    "facet.category": "Category", "facet.agency": "Agency", "facet.priority": "Priority", "facet.rule": "Rule",
    "d.agency": "Agency", "d.system": "System", "d.category": "Category", "d.priority": "Priority",
    "d.first": "First seen", "d.last": "Last seen", "d.count": "Detections", "d.status": "Status",
    "d.rules": "Rules", "d.entities": "Entities", "d.events": "Events", "d.campaign": "Same campaign in other agencies", "d.author": "Rule author",
    "d.guidance": "Handling guidance", "d.history": "History", "d.change": "Change status", "d.note": "Note",
    "d.save": "Save", "d.saved": "Saved", "d.readonly": "Read-only server: status cannot be changed",
    "inbox.title": "Alert inbox", "inbox.help": "New incidents of your agency, newest first",
    "assignee.any": "Any assignee", "assignee.me": "Assigned to me",
    "inbox.new": "New", "inbox.assigned": "Assigned to me", "inbox.empty": "No incidents",
    "pivot.detections": "Detections naming it", "pivot.chip": "Entity",
    "ent.ips": "IP", "ent.hosts": "Host", "ent.users": "User", "ent.domains": "Domain", "ent.urls": "URL",
    "ent.hashes": "Hash", "ent.emails": "E-mail",
    "dash.title": "Monthly incident statistics", "dash.bars": "Incidents by month and category", "dash.trend": "Twelve-month trend",
    "dash.agencies": "By agency", "dash.month": "Month", "dash.total": "Total", "dash.mom": "vs previous month",
    "dash.national": "National three", "dash.agency": "Agency", "dash.change": "Change",
    "report.month": "Month", "report.print": "Print", "report.csv": "Download CSV",
    "report.title": "Monthly cyber-incident report", "report.scope": "Scope", "report.total": "Total incidents",
    "report.category": "Category", "report.incidents": "Incidents", "report.rules": "Top rules",
    "report.systems": "Most affected systems", "report.rule": "Counting rule",
  },
};

const CATEGORIES = ["phishing", "deface", "malware", "intrusion", "bruteforce", "ddos", "recon", "data-leak", "other"];
const NATIONAL = ["phishing", "deface", "malware"];
const CAT_NAMES = {
  vi: { phishing: "Lừa đảo", deface: "Thay đổi giao diện", malware: "Cài mã độc", intrusion: "Xâm nhập", bruteforce: "Dò quét mật khẩu", ddos: "Từ chối dịch vụ", recon: "Thăm dò, rà quét", "data-leak": "Lộ lọt dữ liệu", other: "Khác" },
  en: { phishing: "Phishing", deface: "Defacement", malware: "Malware", intrusion: "Intrusion", bruteforce: "Brute force", ddos: "Denial of service", recon: "Reconnaissance", "data-leak": "Data leak", other: "Other" },
};
const COLORS = { phishing: "#b42318", deface: "#f79009", malware: "#6941c6", intrusion: "#98a2b3", bruteforce: "#a4b0be", ddos: "#b9c1cc", recon: "#c7cdd5", "data-leak": "#d0d5dd", other: "#e4e7ec" };

const S = {
  lang: localStorage.getItem("cg.lang") || "vi",
  token: sessionStorage.getItem("cg.token") || "",
  me: null,
  filters: {},
  // The entity a search pivots on ({kind, value}, kind as in `Entities`: ips, hosts, …).
  entity: null,
  // Names learnt from the API (agency, rule, system id → name), for facets and chips.
  names: { agency: {}, rule: {}, system: {} },
  cursor: null,
  lastHash: "#search",
};

const $ = (sel) => document.querySelector(sel);
const t = (k) => (I18N[S.lang] && I18N[S.lang][k]) || I18N.en[k] || k;
const catName = (c) => CAT_NAMES[S.lang][c] || c;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children.flat()) if (c) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function fmtTime(s) {
  if (!s) return "";
  const d = new Date(s);
  return d.toLocaleString(S.lang === "vi" ? "vi-VN" : "en-GB", { timeZone: "Asia/Ho_Chi_Minh" });
}

function fmtChange(v) {
  if (v === null || v === undefined) return "n/a";
  return (v > 0 ? "+" : "") + v.toFixed(2) + "%";
}

// ---- names and entities ----

// A name with its id in the tooltip; the id itself only when no name is known.
function named(kind, id, name) {
  if (name && id) S.names[kind][id] = name;
  const label = name || S.names[kind][id] || id || "—";
  return el("span", { class: "name " + kind, title: id || undefined, "data-id": id || undefined }, label);
}

function systemLabel(sys) {
  if (!sys) return null;
  return S.lang === "vi" ? sys.name_vi || sys.name_en : sys.name_en || sys.name_vi;
}

// Learns the names an incident (hit or detail) carries.
function learnNames(i) {
  if (i.agency_name) S.names.agency[i.agency] = i.agency_name;
  (i.rule_ids || []).forEach((r, k) => { if (i.rule_titles && i.rule_titles[k]) S.names.rule[r] = i.rule_titles[k]; });
  if (i.system) S.names.system[i.system.id] = systemLabel(i.system) || i.system_name;
}

const ENTITY_KINDS = ["ips", "hosts", "users", "domains", "urls", "hashes", "emails"];
// The index's keyword field per entity kind (IPs go through `cidr`, URLs through the text).
const ENTITY_FIELD = { hosts: "host", users: "user", domains: "domain", hashes: "hash", emails: "email" };

function quoted(v) {
  return "\"" + String(v).replace(/\\/g, "\\\\").replace(/"/g, "\\\"") + "\"";
}

// The query clause that finds an entity (none for IPs: they are a `cidr` filter).
function entityClause(e) {
  if (e.kind === "ips") return "";
  if (ENTITY_FIELD[e.kind]) return ENTITY_FIELD[e.kind] + ":" + quoted(e.value);
  return quoted(e.value);
}

function entityHref(kind, value) {
  return "#entity/" + kind + "/" + encodeURIComponent(value);
}

// An entity as a link that searches it across incidents and detections.
// `short`: long values (URLs) cut to their first 48 characters, whole in the tooltip.
function entityLink(kind, value, short) {
  const text = short && value.length > 48 ? value.slice(0, 47) + "…" : value;
  return el("a", { href: entityHref(kind, value), class: "entity " + kind, "data-kind": kind, "data-value": value, title: t("ent." + kind) + ": " + value }, text);
}

// The entities of an incident or a detection as links, by kind; with `max`, that many per
// kind, long values shortened (a list's line).
function entityLinks(ent, max) {
  const out = [];
  for (const k of ENTITY_KINDS) {
    const vals = (ent && ent[k]) || [];
    if (!vals.length) continue;
    out.push(el("span", { class: "entities" }, el("span", { class: "muted" }, t("ent." + k) + ": "),
      vals.slice(0, max || 50).flatMap((v, n) => (n ? [", ", entityLink(k, v, !!max)] : [entityLink(k, v, !!max)])),
      vals.length > (max || 50) ? " …" : ""));
  }
  return out;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : "HTTP " + status);
    this.status = status;
    this.body = body;
  }
}

async function api(path, opts) {
  const o = Object.assign({ headers: {} }, opts || {});
  o.headers = Object.assign({ Authorization: "Bearer " + S.token }, o.headers);
  const r = await fetch(path, o);
  if (r.status === 401) {
    logout();
    throw new ApiError(401, await r.json().catch(() => null));
  }
  const ct = r.headers.get("content-type") || "";
  const body = ct.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

function applyI18n() {
  document.documentElement.lang = S.lang;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of document.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = t(e.dataset.i18nPlaceholder);
  $("#lang-toggle").textContent = S.lang === "vi" ? "EN" : "VI";
}

function show(view) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + view;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.id === "nav-" + view);
}

function logout() {
  S.token = "";
  S.me = null;
  sessionStorage.removeItem("cg.token");
  $("#nav").hidden = true;
  $("#logout").hidden = true;
  $("#who").textContent = "";
  show("login");
}

async function login(token) {
  S.token = token.trim();
  try {
    S.me = await api("/api/v1/whoami");
  } catch (e) {
    $("#login-error").textContent = t("login.bad") + (e.body && e.body.message ? ": " + e.body.message : "");
    $("#login-error").hidden = false;
    sessionStorage.removeItem("cg.token");
    S.token = "";
    return false;
  }
  sessionStorage.setItem("cg.token", S.token);
  $("#login-error").hidden = true;
  $("#nav").hidden = false;
  $("#logout").hidden = false;
  $("#nav-search").hidden = !S.me.can_read_incidents;
  $("#nav-inbox").hidden = !S.me.can_read_incidents;
  $("#nav-suppressions").hidden = !S.me.can_read_incidents;
  $("#who").textContent = S.me.name + " · " + S.me.role;
  // Before the lifecycle API, whoami said only whether the status could change.
  if (!Array.isArray(S.me.permissions)) S.me.permissions = S.me.can_change_status ? ["acknowledge", "resolve"] : [];
  return true;
}

// ---- search ----

function searchParams(extra) {
  const p = new URLSearchParams();
  const q = $("#q").value.trim();
  if (q) p.set("q", q);
  if ($("#from").value) p.set("from", $("#from").value);
  if ($("#to").value) p.set("to", $("#to").value);
  if ($("#status-filter").value) p.set("status", $("#status-filter").value);
  if ($("#assignee-filter").value) p.set("assignee", $("#assignee-filter").value);
  if (S.entity) {
    if (S.entity.kind === "ips") p.set("cidr", S.entity.value);
    const c = entityClause(S.entity);
    if (c) p.set("q", q ? "(" + c + ") AND (" + q + ")" : c);
  }
  for (const [k, v] of Object.entries(S.filters)) if (v.length) p.set(k, v.join(","));
  p.set("limit", "25");
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return p;
}

function incidentItem(inc) {
  const i = inc;
  learnNames(i);
  const titles = i.rule_titles && i.rule_titles.length ? i.rule_titles : [i.group_key];
  return el("li", { class: "result", "data-id": i.id },
    el("a", { href: "#incident/" + i.id, class: "result-link", title: (i.rule_ids || []).join(", ") }, titles.join(" · ")),
    el("div", { class: "meta" },
      el("span", { class: "badge " + i.priority }, i.priority.toUpperCase()),
      el("span", { class: "badge" + (NATIONAL.includes(i.category) ? " national" : "") }, catName(i.category)),
      el("span", { class: "badge " + i.status }, t("status." + i.status)),
      i.close_reason ? el("span", { class: "badge reason " + i.close_reason }, t("reason." + i.close_reason)) : null,
      i.assignee ? el("span", { class: "badge assignee" }, "→ " + i.assignee) : null,
      " ", named("agency", i.agency, i.agency_name),
      i.system ? [" · ", named("system", i.system.id, systemLabel(i.system) || i.system_name)] : null,
      " · ", fmtTime(i.first_seen), " · ×", i.count),
    el("div", { class: "meta ents" }, entityLinks(i.entities, 3)));
}

// A detection as a line (the pivot's second list): time, rule, agency, its incident.
function detectionItem(d) {
  S.names.rule[d.rule.id] = d.rule.title;
  return el("li", { class: "result detection" },
    el("a", { href: "#incident/" + d.incident_id, class: "result-link", title: d.rule.id }, d.rule.title),
    el("div", { class: "meta" }, fmtTime(d["@timestamp"] || d.timestamp), " · ", named("agency", d.agency, d.agency_name),
      d.system ? [" · ", named("system", d.system.id, systemLabel(d.system))] : null),
    el("div", { class: "meta ents" }, entityLinks(d.entities, 3)));
}

// A facet value: `[value, count]` or `{value, label, count}`.
function facetValue(key, f) {
  const [v, n, label] = Array.isArray(f) ? [f[0], f[1], null] : [f.value, f.count, f.label];
  if (label && (key === "agency" || key === "rule")) S.names[key][v] = label;
  return { v, n, label: key === "category" ? catName(v) : label || (S.names[key] && S.names[key][v]) || v };
}

function renderFacets(f) {
  const box = $("#facets");
  box.replaceChildren();
  if (!f) return;
  for (const key of ["category", "agency", "priority", "rule"]) {
    const vals = f[key] || [];
    if (!vals.length) continue;
    box.append(el("h3", { text: t("facet." + key) }));
    for (const f of vals.slice(0, 12)) {
      const { v, n, label } = facetValue(key, f);
      box.append(el("button", {
        type: "button", class: "facet", "data-facet": key, "data-value": v, title: v,
        onclick: () => { addFilter(key, v); },
      }, el("span", { class: "facet-label" }, label), el("span", { class: "muted" }, n)));
    }
  }
}

function renderChips() {
  const box = $("#filters");
  box.replaceChildren();
  for (const [k, vals] of Object.entries(S.filters)) {
    for (const v of vals) {
      const label = k === "category" ? catName(v) : (S.names[k] && S.names[k][v]) || v;
      box.append(el("button", { type: "button", title: v, onclick: () => { S.filters[k] = vals.filter((x) => x !== v); runSearch(); } },
        t("facet." + k) + ": " + label + " ✕"));
    }
  }
  if (S.entity) {
    box.append(el("button", { type: "button", id: "entity-chip", onclick: () => { S.entity = null; location.hash = "#search"; runSearch(); } },
      t("pivot.chip") + " (" + t("ent." + S.entity.kind) + "): " + S.entity.value + " ✕"));
  }
}

function addFilter(k, v) {
  S.filters[k] = S.filters[k] || [];
  if (!S.filters[k].includes(v)) S.filters[k].push(v);
  runSearch();
}

async function runSearch(more) {
  $("#search-error").hidden = true;
  const extra = { facets: "true" };
  if (more && S.cursor) extra.cursor = S.cursor;
  renderChips();
  let r;
  try {
    r = await api("/api/v1/incidents?" + searchParams(extra).toString());
  } catch (e) {
    const pos = e.body && e.body.position !== undefined ? " (" + e.body.position + ")" : "";
    $("#search-error").textContent = e.message + pos;
    $("#search-error").hidden = false;
    return;
  }
  const list = $("#results");
  if (!more) list.replaceChildren();
  for (const h of r.hits) list.append(incidentItem(h));
  if (!more) renderFacets(r.facets);
  S.cursor = r.next_cursor;
  $("#more").hidden = !r.next_cursor;
  $("#search-summary").textContent = r.total ? r.total + " " + t("search.found") : t("search.none");
  list.dataset.loaded = "true";
  if (!more) pivotDetections();
}

// With an entity pivot, the detections that name it (newest first).
async function pivotDetections() {
  const box = $("#entity-detections");
  const list = $("#entity-detection-list");
  list.replaceChildren();
  box.hidden = !S.entity;
  if (!S.entity) return;
  try {
    const r = await api("/api/v1/incidents?" + searchParams({ kind: "detections" }).toString());
    for (const h of r.hits) list.append(detectionItem(h));
    if (!r.hits.length) list.append(el("li", { text: t("search.none") }));
  } catch (e) {
    list.append(el("li", { class: "error" }, e.message));
  }
}

function pivot(kind, value) {
  S.entity = { kind, value };
  S.filters = {};
  S.cursor = null;
  $("#q").value = "";
  runSearch();
}

// ---- inbox ----

async function showInbox() {
  const news = $("#inbox"), mine = $("#inbox-assigned");
  news.replaceChildren();
  mine.replaceChildren();
  delete news.dataset.loaded;
  $("#inbox-error").hidden = true;
  const fill = (list, hits) => {
    for (const h of hits) list.append(incidentItem(h));
    if (!hits.length) list.append(el("li", { class: "empty", text: t("inbox.empty") }));
  };
  try {
    let r;
    try {
      r = await api("/api/v1/inbox");
    } catch (e) {
      // A server without the lifecycle API: its new incidents only.
      if (e.status !== 404) throw e;
      r = { new: (await api("/api/v1/incidents?status=new&limit=50")).hits, assigned: [] };
    }
    fill(mine, r.assigned || []);
    fill(news, r.new || []);
  } catch (e) {
    $("#inbox-error").textContent = e.message;
    $("#inbox-error").hidden = false;
  }
  news.dataset.loaded = "true";
}

// ---- dashboard ----

function barChart(months) {
  const W = 720, H = 260, pad = 30, n = months.length;
  const max = Math.max(1, ...months.map((m) => m.incidents));
  const bw = (W - pad * 2) / n;
  const g = svg("svg", { id: "chart-monthly", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("dash.bars") });
  for (let k = 0; k <= 4; k++) {
    const y = H - pad - (H - pad * 2) * k / 4;
    g.append(svg("line", { x1: pad, x2: W - pad / 2, y1: y, y2: y, stroke: "#e4e7ec" }));
    g.append(svg("text", { x: 2, y: y + 3 }, Math.round(max * k / 4)));
  }
  months.forEach((m, i) => {
    let y = H - pad;
    const x = pad + i * bw + 3;
    // National classes at the bottom, strongest colours.
    for (const c of CATEGORIES) {
      const v = m.by_category[c] || 0;
      if (!v) continue;
      const h = (H - pad * 2) * v / max;
      y -= h;
      g.append(svg("rect", { x, y, width: bw - 6, height: h, fill: COLORS[c], class: "bar " + c + (NATIONAL.includes(c) ? " national" : "") },
        svg("title", {}, `${m.month} · ${catName(c)}: ${v}`)));
    }
    g.append(svg("text", { x: x + (bw - 6) / 2, y: H - pad + 14, "text-anchor": "middle" }, m.month.slice(2)));
  });
  return g;
}

function trendChart(months) {
  const W = 720, H = 160, pad = 30, n = months.length;
  const max = Math.max(1, ...months.map((m) => m.incidents));
  const x = (i) => pad + (W - pad * 2) * (n === 1 ? 0.5 : i / (n - 1));
  const y = (v) => H - pad - (H - pad * 2) * v / max;
  const line = (key, color, width) => svg("polyline", {
    fill: "none", stroke: color, "stroke-width": width,
    points: months.map((m, i) => x(i) + "," + y(key(m))).join(" "),
  });
  const g = svg("svg", { id: "chart-trend", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" });
  g.append(line((m) => m.incidents, "#1f2328", 2), line((m) => m.national, "#b42318", 2.5));
  months.forEach((m, i) => {
    g.append(svg("circle", { cx: x(i), cy: y(m.incidents), r: 3, fill: "#1f2328" }, svg("title", {}, m.month + ": " + m.incidents)));
    g.append(svg("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, m.month.slice(2)));
  });
  g.append(svg("text", { x: W - pad, y: 12, "text-anchor": "end", fill: "#b42318" }, t("dash.national")));
  return g;
}

function changeSpan(v) {
  return el("span", { class: v > 0 ? "up" : v < 0 ? "down" : "" }, fmtChange(v));
}

async function showDashboard() {
  let r;
  try {
    r = await api("/api/v1/stats/monthly?months=12");
  } catch (e) {
    $("#dash-cards").replaceChildren(el("p", { class: "error" }, e.message));
    return;
  }
  const months = r.months;
  const cur = months[months.length - 1];
  const prev = months.length > 1 ? months[months.length - 2] : null;
  const card = (label, value, change, national) => el("div", { class: "card" + (national ? " national" : "") },
    el("div", { class: "muted", text: label }), el("div", { class: "big" }, value), change);
  $("#dash-cards").replaceChildren(
    card(t("dash.total") + " " + cur.month, cur.incidents, el("div", {}, t("dash.mom") + ": ", changeSpan(cur.change_mom_pct))),
    card(t("dash.national"), cur.national, null, true),
    ...NATIONAL.map((c) => card(catName(c), cur.by_category[c],
      prev ? el("div", {}, t("dash.mom") + ": ", changeSpan(prev.by_category[c] ? (cur.by_category[c] - prev.by_category[c]) * 100 / prev.by_category[c] : null)) : null, true)));
  $("#dash-bars").replaceChildren(barChart(months));
  $("#dash-legend").replaceChildren(...CATEGORIES.map((c) => el("span", {}, Object.assign(el("i"), {}), catName(c))));
  document.querySelectorAll("#dash-legend i").forEach((i, k) => { i.style.background = COLORS[CATEGORIES[k]]; });
  $("#dash-trend").replaceChildren(trendChart(months));
  const agencies = Object.keys(cur.by_agency);
  const tbl = $("#dash-agencies");
  tbl.replaceChildren(el("tr", {}, el("th", { text: t("dash.agency") }),
    prev ? el("th", { text: prev.month }) : null, el("th", { text: cur.month }), el("th", { text: t("dash.change") })));
  for (const a of agencies) {
    const p = prev ? prev.by_agency[a] || 0 : 0, c = cur.by_agency[a] || 0;
    tbl.append(el("tr", {}, el("td", {}, named("agency", a, cur.agency_names && cur.agency_names[a])), prev ? el("td", { text: p }) : null, el("td", { text: c }),
      el("td", {}, changeSpan(p ? (c - p) * 100 / p : null))));
  }
  S.latestMonth = cur.month;
}

// ---- printable report ----

async function showReport(month) {
  if (!month) {
    if (!S.latestMonth) {
      try { const r = await api("/api/v1/stats/monthly?months=1"); S.latestMonth = r.months[0].month; } catch (e) { return; }
    }
    month = S.latestMonth;
  }
  $("#report-month").value = month;
  const box = $("#report");
  let r;
  try {
    r = await api("/api/v1/reports/" + encodeURIComponent(month) + "?format=article&lang=" + S.lang);
  } catch (e) {
    box.replaceChildren(el("p", { class: "error" }, e.message));
    return;
  }
  // The server renders the report (the same model and templates as `canhgac report` and the
  // API's HTML); the page shows its <article>, parsed inertly and adopted node by node.
  const doc = new DOMParser().parseFromString(r, "text/html");
  const art = doc.querySelector("article.report");
  box.replaceChildren(...(art ? [document.adoptNode(art)] : []));
}

async function downloadCsv() {
  const month = $("#report-month").value;
  const r = await fetch("/api/v1/reports/" + month + "?format=csv", { headers: { Authorization: "Bearer " + S.token } });
  if (!r.ok) return;
  const a = el("a", { href: URL.createObjectURL(await r.blob()), download: "canhgac-" + month + ".csv" });
  document.body.append(a);
  a.click();
  a.remove();
}

// ---- routing ----

async function route() {
  const h = location.hash || "";
  if (h.startsWith("#token=")) {
    const tok = decodeURIComponent(h.slice(7)).trim();
    // Kept for the session before the address drops it: a reload while logging in keeps it.
    sessionStorage.setItem("cg.token", tok);
    history.replaceState(null, "", location.pathname + "#search");
    if (await login(tok)) return route();
    return show("login");
  }
  if (!S.token || !S.me) {
    if (S.token && (await login(S.token))) return route();
    return show("login");
  }
  const [name, ...rest] = h.slice(1).split("/");
  const arg = rest[0];
  // An analyst lands on the inbox: what is new, and what is theirs.
  const def = S.me.can_read_incidents ? "inbox" : "dashboard";
  switch (name || def) {
    case "search":
      if (!S.me.can_read_incidents) { location.hash = "#dashboard"; return; }
      show("search");
      if (!$("#results").dataset.loaded) runSearch();
      break;
    case "entity":
      if (!S.me.can_read_incidents || !ENTITY_KINDS.includes(arg)) { location.hash = "#" + def; return; }
      show("search");
      pivot(arg, decodeURIComponent(rest.slice(1).join("/")));
      break;
    case "incident": show("incident"); showIncident(arg); break;
    case "inbox": show("inbox"); showInbox(); break;
    case "suppressions": show("suppressions"); showSuppressions(); break;
    case "dashboard": show("dashboard"); showDashboard(); break;
    case "report": show("report"); showReport(arg); break;
    default: location.hash = "#" + def;
  }
}

function init() {
  applyI18n();
  $("#lang-toggle").addEventListener("click", () => {
    S.lang = S.lang === "vi" ? "en" : "vi";
    localStorage.setItem("cg.lang", S.lang);
    applyI18n();
    if (S.me) route();
  });
  $("#logout").addEventListener("click", () => { logout(); location.hash = ""; });
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (await login($("#token").value)) {
      $("#token").value = "";
      route();
    }
  });
  $("#search-form").addEventListener("submit", (ev) => { ev.preventDefault(); S.cursor = null; runSearch(); });
  // Back to the results after an entity pivot keeps the pivot; the search tab drops it.
  $("#nav-search").addEventListener("click", () => { if (S.entity) { S.entity = null; $("#results").dataset.loaded = ""; } });
  $("#more").addEventListener("click", () => runSearch(true));
  $("#report-month").addEventListener("change", () => { location.hash = "#report/" + $("#report-month").value; });
  $("#report-print").addEventListener("click", () => window.print());
  $("#sup-active").addEventListener("change", () => showSuppressions());
  $("#report-csv").addEventListener("click", downloadCsv);
  window.addEventListener("hashchange", route);
  route();
}

document.addEventListener("DOMContentLoaded", init);
