// canh gác web UI, handling: the incident page (its facts with names, a timeline of its
// detections with the key fields of each event as a small table and the raw event one click
// away, the campaign, its handling: assignee, close reason, comments, history, and the actions
// the role permits) and the suppressions list.
// Loaded after app.js and uses its helpers (el, api, t, S, named, entityLink, …).
"use strict";

Object.assign(I18N.vi, {
  "d.assignee": "Người xử lý", "d.reason": "Lý do đóng", "d.uncounted": "không tính vào thống kê", "d.duplicate_of": "Trùng với", "d.unassigned": "Chưa giao",
  "d.timeline": "Diễn biến", "d.raw": "Sự kiện gốc", "d.discussion": "Trao đổi và ghi chú xử lý",
  "d.actions": "Xử lý sự cố", "d.recorded": "Đã ghi nhận; chỉ mục sẽ cập nhật trong giây lát",
  "f.host": "Máy", "f.user": "Người dùng", "f.process": "Tiến trình", "f.command": "Dòng lệnh", "f.parent": "Tiến trình cha",
  "f.source": "Nguồn", "f.destination": "Đích", "f.network": "Mạng", "f.url": "URL", "f.http": "HTTP", "f.dns": "DNS",
  "f.sni": "TLS SNI", "f.file": "Tệp", "f.hash": "Mã băm", "f.mail_from": "Người gửi", "f.mail_to": "Người nhận",
  "f.subject": "Tiêu đề thư", "f.event": "Sự kiện", "f.message": "Nội dung", "f.agent": "User-Agent", "f.ioc": "Chỉ dấu (IOC)",
  "a.acknowledge": "Tiếp nhận", "a.assign_me": "Nhận xử lý", "a.assign": "Giao cho", "a.assign_to": "Tên người xử lý",
  "a.comment": "Bình luận", "a.note": "Ghi chú xử lý", "a.text": "Nội dung bình luận hoặc ghi chú",
  "a.resolve": "Đóng sự cố", "a.reopen": "Mở lại", "a.merge": "Gộp vào sự cố", "a.merge_into": "Mã sự cố đích",
  "a.split": "Tách các phát hiện đã chọn", "a.note_ph": "Ghi chú", "a.dup_ph": "Mã sự cố trùng",
  "a.suppress": "Tạo quy tắc bỏ qua", "a.rule": "Quy tắc", "a.entity": "Đối tượng", "a.days": "Số ngày", "a.why": "Lý do bỏ qua",
  "reason.handled": "Đã xử lý", "reason.benign": "Lành tính", "reason.false_positive": "Cảnh báo sai", "reason.duplicate": "Trùng lặp",
  "act.acknowledge": "tiếp nhận", "act.assign": "giao cho", "act.unassign": "bỏ giao", "act.comment": "bình luận", "act.note": "ghi chú",
  "act.resolve": "đóng", "act.reopen": "mở lại", "act.merge": "gộp vào", "act.split": "tách", "act.suppress": "bỏ qua",
  "act.unsuppress": "thu hồi bỏ qua",
});
Object.assign(I18N.en, {
  "d.assignee": "Assignee", "d.reason": "Close reason", "d.uncounted": "left out of the statistics", "d.duplicate_of": "Duplicate of", "d.unassigned": "Unassigned",
  "d.timeline": "Timeline", "d.raw": "Raw event", "d.discussion": "Comments and handling notes",
  "d.actions": "Handle the incident", "d.recorded": "Recorded; the index shows it in a moment",
  "f.host": "Host", "f.user": "User", "f.process": "Process", "f.command": "Command line", "f.parent": "Parent process",
  "f.source": "Source", "f.destination": "Destination", "f.network": "Network", "f.url": "URL", "f.http": "HTTP", "f.dns": "DNS",
  "f.sni": "TLS SNI", "f.file": "File", "f.hash": "Hash", "f.mail_from": "Mail from", "f.mail_to": "Mail to",
  "f.subject": "Subject", "f.event": "Event", "f.message": "Message", "f.agent": "User agent", "f.ioc": "Indicator (IOC)",
  "a.acknowledge": "Acknowledge", "a.assign_me": "Assign to me", "a.assign": "Assign to", "a.assign_to": "Name of the assignee",
  "a.comment": "Comment", "a.note": "Handling note", "a.text": "Comment or handling note",
  "a.resolve": "Close", "a.reopen": "Reopen", "a.merge": "Merge into", "a.merge_into": "Target incident id",
  "a.split": "Split the selected detections", "a.note_ph": "Note", "a.dup_ph": "Id of the incident it duplicates",
  "a.suppress": "Suppress", "a.rule": "Rule", "a.entity": "Entity", "a.days": "Days", "a.why": "Why suppress",
  "reason.handled": "Handled", "reason.benign": "Benign", "reason.false_positive": "False positive", "reason.duplicate": "Duplicate",
  "act.acknowledge": "acknowledged", "act.assign": "assigned to", "act.unassign": "unassigned", "act.comment": "commented",
  "act.note": "handling note", "act.resolve": "closed", "act.reopen": "reopened", "act.merge": "merged into", "act.split": "split",
  "act.suppress": "suppressed", "act.unsuppress": "revoked suppression",
});

const REASONS = ["handled", "benign", "false_positive", "duplicate"];
const SUPPRESSIBLE = ["benign", "false_positive"];
// Entity kinds a suppression may name (the `Entities` lists, singular).
const SUPPRESS_KIND = { ips: "ip", hosts: "host", users: "user", domains: "domain", urls: "url", hashes: "hash", emails: "email" };

const may = (kind) => S.me && S.me.permissions.includes(kind);
const asList = (v) => (v === undefined || v === null || v === "" ? [] : Array.isArray(v) ? v : [v]);

async function showIncident(id) {
  const box = $("#detail");
  box.replaceChildren();
  let d;
  try {
    d = await api("/api/v1/incidents/" + encodeURIComponent(id) + "?limit=100");
  } catch (e) {
    box.append(el("p", { class: "error" }, e.message));
    return;
  }
  renderIncident(d);
}

function renderIncident(d) {
  const i = d.incident;
  S.rendering = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  learnNames(Object.assign({ agency_name: d.agency_name }, i));
  const h = d.handling;
  const row = (k, v, id) => [el("dt", { text: t(k) }), el("dd", { id }, v)];
  const rules = i.rule_ids.map((r, k) => named("rule", r, i.rule_titles[k]));
  $("#detail").replaceChildren(el("div", { class: "detail card", id: "incident-detail", "data-id": i.id },
    el("h1", {}, (i.rule_titles && i.rule_titles.length ? i.rule_titles : [i.group_key]).join(" · ")),
    el("dl", {},
      row("d.agency", named("agency", i.agency, d.agency_name || i.agency_name), "incident-agency"),
      row("d.system", i.system ? [named("system", i.system.id, systemLabel(i.system) || i.system_name), " (" + i.system.level + ")"] : "—", "incident-system"),
      row("d.category", catName(i.category)),
      row("d.priority", i.priority.toUpperCase()),
      row("d.first", fmtTime(i.first_seen)),
      row("d.last", fmtTime(i.last_seen)),
      row("d.count", String(i.count)),
      row("d.status", el("span", { id: "incident-status", class: "badge " + h.status }, t("status." + h.status))),
      row("d.assignee", h.assignee || t("d.unassigned"), "incident-assignee"),
      h.close_reason ? row("d.reason", [el("span", { id: "incident-reason" }, t("reason." + h.close_reason)),
        h.counted === false ? el("span", { class: "muted uncounted" }, " (" + t("d.uncounted") + ")") : null]) : null,
      h.duplicate_of ? row("d.duplicate_of", incidentLink(h.duplicate_of)) : null,
      row("d.rules", rules.flatMap((r, k) => (k ? ["; ", r] : [r])), "incident-rules"),
      row("d.entities", el("div", { class: "entity-list" }, entityLinks(i.entities)), "incident-entities")),
    actionsPanel(i, h, d),
    discussion(h),
    historyList(h),
    campaign(d),
    el("h2", { text: t("d.timeline") + " (" + d.detections.length + "/" + d.detections_total + ")" }),
    timeline(d.detections)));
}

function discussion(h) {
  const notes = (h.history || []).filter((e) => e.action === "comment" || e.action === "note");
  if (!notes.length) return null;
  return el("div", { id: "incident-discussion" }, el("h2", { text: t("d.discussion") }),
    el("ul", { class: "discussion" }, notes.map((e) => el("li", { class: e.action },
      el("div", { class: "meta" }, el("strong", {}, e.by.name), " · ", fmtTime(e.at), " · ", t("a." + e.action)),
      el("div", { class: "text" }, e.text)))));
}

const incidentLink = (id) => el("a", { href: "#incident/" + id, class: "incident-ref" }, id);

// What one history line says (nodes: incidents it names are links).
function historyText(e) {
  const what = {
    assign: () => (e.to ? t("act.assign") + " " + e.to : t("act.unassign")),
    resolve: () => [t("act.resolve") + ": " + t("reason." + e.reason), e.duplicate_of ? [" (", incidentLink(e.duplicate_of), ")"] : null],
    merge: () => [t("act.merge") + " ", incidentLink(e.into)],
    split: () => t("act.split") + " " + (e.detections || []).length,
    suppress: () => t("act.suppress") + " " + (e.suppression ? e.suppression.entity.kind + " " + e.suppression.entity.value : ""),
  }[e.action];
  const text = e.note || e.text || "";
  return [what ? what() : t("act." + e.action), text ? " — " + text : null];
}

function historyList(h) {
  const list = h.history || [];
  if (!list.length) return null;
  return el("div", { id: "incident-history" }, el("h2", { text: t("d.history") }),
    el("ul", { class: "history" }, list.map((e) => el("li", { "data-action": e.action },
      fmtTime(e.at), " · ", el("strong", { class: "who", title: e.by.role || undefined }, e.by.name || "—"), " · ", historyText(e)))));
}

function campaign(d) {
  if (!d.campaign || !d.campaign.length) return null;
  return el("div", { id: "incident-campaign" }, el("h2", { text: t("d.campaign") }),
    el("ul", {}, d.campaign.map((c) => el("li", {}, el("a", { href: "#incident/" + c.id },
      named("agency", c.agency, c.agency_name), " · " + catName(c.category) + " · " + fmtTime(c.first_seen))))));
}

// ---- timeline ----

function dayOf(s) {
  return new Date(s).toLocaleDateString(S.lang === "vi" ? "vi-VN" : "en-GB",
    { timeZone: "Asia/Ho_Chi_Minh", weekday: "short", year: "numeric", month: "2-digit", day: "2-digit" });
}

function clockOf(s) {
  return new Date(s).toLocaleTimeString(S.lang === "vi" ? "vi-VN" : "en-GB", { timeZone: "Asia/Ho_Chi_Minh" });
}

// The key fields of an event as [label, value nodes] rows; entity values are pivot links.
function keyFields(det) {
  const x = (det.event && det.event.ecs) || {};
  const rows = [];
  const add = (label, ...parts) => {
    const nodes = parts.flat().filter((p) => p !== null && p !== undefined && p !== "");
    if (nodes.length) rows.push([label, nodes]);
  };
  const link = (kind, v) => asList(v).map((s) => entityLink(kind, String(s)));
  const join = (items, sep) => items.flatMap((n, k) => (k ? [sep, n] : [n]));
  const endpoint = (ip, port) => (ip ? [entityLink("ips", String(ip)), port ? ":" + port : ""] : []);
  add("f.host", link("hosts", x["host.name"]), x["host.ip"] ? [" ", entityLink("ips", String(x["host.ip"]))] : null);
  add("f.user", x["user.domain"] ? x["user.domain"] + "\\" : null, link("users", x["user.name"]));
  add("f.process", x["process.executable"], x["process.pid"] ? " (pid " + x["process.pid"] + ")" : null);
  add("f.command", x["process.command_line"] ? el("code", {}, x["process.command_line"]) : null);
  add("f.parent", x["process.parent.executable"]);
  add("f.source", endpoint(x["source.ip"], x["source.port"]));
  add("f.destination", endpoint(x["destination.ip"], x["destination.port"]));
  add("f.network", [x["network.transport"], x["network.protocol"]].filter(Boolean).join(" / "));
  add("f.url", x["url.full"] ? link("urls", x["url.full"]) : x["url.domain"] ? [entityLink("domains", x["url.domain"]), x["url.path"] || ""] : null);
  add("f.http", [x["http.request.method"], x["http.response.status_code"]].filter((v) => v !== undefined).join(" "));
  add("f.dns", link("domains", x["dns.question.name"]));
  add("f.sni", link("domains", x["tls.server.sni"]));
  add("f.file", x["file.path"] || x["file.name"]);
  add("f.hash", join(["file.hash.sha256", "file.hash.sha1", "file.hash.md5"].flatMap((k) => link("hashes", x[k])), ", "));
  add("f.mail_from", join(link("emails", x["email.from.address"]), ", "));
  add("f.mail_to", join(link("emails", x["email.to.address"]), ", "));
  add("f.subject", x["email.subject"]);
  add("f.event", [x["event.code"], x["event.action"], x["event.outcome"]].filter(Boolean).join(" · "));
  add("f.agent", x["user_agent.original"]);
  add("f.message", x.message);
  if (det.ioc) add("f.ioc", det.ioc.indicator + " (" + det.ioc.indicator_type + ", " + det.ioc.list + ")");
  return rows;
}

// `guided`: the rules whose guidance the timeline already showed (shown once per rule).
function eventCard(det, selectable, guided) {
  const g = det.guidance || {};
  const rows = keyFields(det);
  return el("li", { class: "event", "data-id": det.id },
    el("div", { class: "event-head" },
      selectable ? el("input", { type: "checkbox", class: "split-pick", value: det.id, "aria-label": det.id }) : null,
      el("time", { datetime: det["@timestamp"] || det.timestamp }, clockOf(det["@timestamp"] || det.timestamp)), " ",
      el("strong", { class: "rule-title", title: det.rule.id }, det.rule.title), " ",
      el("span", { class: "badge " + det.priority }, det.priority.toUpperCase()),
      det.suppressed ? el("span", { class: "badge suppressed", title: det.suppressed }, t("act.suppress")) : null),
    el("div", { class: "meta" }, t("d.author") + ": ", el("span", { class: "author" }, det.rule.author || "—"),
      " · " + det.rule.id + (det.rule.techniques && det.rule.techniques.length ? " · " + det.rule.techniques.join(", ") : ""),
      det.event && det.event.dataset ? " · " + det.event.dataset : ""),
    rows.length ? el("table", { class: "fields" }, rows.map(([k, v]) => el("tr", { "data-field": k.slice(2) },
      el("th", { text: t(k) }), el("td", {}, v)))) : null,
    guided.has(det.rule.id) ? null : el("div", { class: "guidance" }, el("strong", { text: t("d.guidance") + ": " }), (S.lang === "vi" ? g.vi : g.en) || g.vi || g.en || "—"),
    el("details", { class: "raw" }, el("summary", { text: t("d.raw") }), el("pre", {}, JSON.stringify(det.event, null, 1))));
}

// Detections oldest first, under a heading per day (Asia/Ho_Chi_Minh).
function timeline(dets) {
  const selectable = may("split");
  const out = el("div", { id: "timeline", class: "timeline" });
  const guided = new Set();
  let day = null, list = null;
  for (const det of dets) {
    const dd = dayOf(det["@timestamp"] || det.timestamp);
    if (dd !== day) {
      day = dd;
      list = el("ol", { class: "day-events" });
      out.append(el("h3", { class: "day" }, dd), list);
    }
    list.append(eventCard(det, selectable, guided));
    guided.add(det.rule.id);
  }
  return out;
}

// ---- actions ----

// FNV-1a of a string, as 8 hex digits.
function fnv(s) {
  let h = 0x811c9dc5;
  for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

// Posts one action; shows the updated incident (200) or says the record waits for the index (202).
// The same action sent twice from one rendering of the page (a double click, a retry) carries
// the same Idempotency-Key, so it is one record.
async function act(id, body, msg) {
  msg.textContent = "…";
  msg.className = "muted";
  const text = JSON.stringify(body);
  try {
    const r = await api("/api/v1/incidents/" + encodeURIComponent(id) + "/events", {
      method: "POST", body: text,
      headers: { "Content-Type": "application/json", "Idempotency-Key": "ui-" + S.rendering + "-" + fnv(text) },
    });
    if (r && r.incident) {
      // A merge answers with the incident it joined.
      if (r.incident.id !== id) history.replaceState(null, "", "#incident/" + r.incident.id);
      renderIncident(r);
      const m = $("#act-msg");
      if (m) m.textContent = t("d.saved");
    } else {
      // 202: published, not yet in the index; show the incident once its history has it.
      msg.textContent = t("d.recorded");
      const rid = r && r.record && r.record.id;
      for (let k = 0; k < 15 && location.hash === "#incident/" + id; k++) {
        await new Promise((res) => setTimeout(res, 1000));
        const d = await api("/api/v1/incidents/" + encodeURIComponent(id) + "?limit=100").catch(() => null);
        if (d && (!rid || (d.handling && (d.handling.history || []).some((e) => e.id === rid)))) {
          if (d.incident.id !== id) history.replaceState(null, "", "#incident/" + d.incident.id);
          renderIncident(d);
          return;
        }
      }
    }
  } catch (e) {
    msg.textContent = e.message;
    msg.className = "error";
  }
}

// Acknowledge goes through PATCH, the route that has always changed a status.
async function acknowledge(id, note, msg) {
  try {
    await api("/api/v1/incidents/" + encodeURIComponent(id), {
      method: "PATCH", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ status: "acknowledged", note }),
    });
    await showIncident(id);
    const m = $("#act-msg");
    if (m) m.textContent = t("d.saved");
  } catch (e) {
    msg.textContent = e.message;
    msg.className = "error";
  }
}

function button(id, label, onclick) {
  return el("button", { type: "button", id, onclick }, t(label));
}

function actionsPanel(i, h, d) {
  if (!S.me || !S.me.can_read_incidents) return null;
  if (S.me.writable === false || !S.me.permissions.length) return el("p", { class: "muted", id: "read-only", text: t("d.readonly") });
  const msg = el("span", { class: "muted", id: "act-msg", role: "status" });
  const go = (body) => act(i.id, body, msg);
  const parts = [];
  const resolved = h.status === "resolved";
  const text = el("textarea", { id: "act-text", placeholder: t("a.text") });
  if (may("acknowledge") && h.status === "new") {
    parts.push(el("div", { class: "act-row" }, button("act-acknowledge", "a.acknowledge", () => acknowledge(i.id, text.value, msg))));
  }
  if (may("assign") && !resolved) {
    const to = el("input", { id: "act-assign-to", placeholder: t("a.assign_to"), value: h.assignee || "" });
    parts.push(el("div", { class: "act-row" },
      button("act-assign-me", "a.assign_me", () => go({ action: "assign", to: "me" })),
      to, button("act-assign", "a.assign", () => go({ action: "assign", to: to.value.trim() || null }))));
  }
  if (may("comment") || may("note")) {
    parts.push(el("div", { class: "act-row" }, text,
      may("comment") ? button("act-comment", "a.comment", () => go({ action: "comment", text: text.value })) : null,
      may("note") ? button("act-note", "a.note", () => go({ action: "note", text: text.value })) : null));
  }
  if (may("resolve") && !resolved) parts.push(resolveForm(i, go, text));
  if (may("reopen") && resolved) {
    parts.push(el("div", { class: "act-row" }, button("act-reopen", "a.reopen", () => go({ action: "reopen", note: text.value }))));
  }
  if (may("merge")) {
    const into = el("input", { id: "act-merge-into", placeholder: t("a.merge_into"), size: 34 });
    parts.push(el("div", { class: "act-row" }, into, button("act-merge", "a.merge", () => go({ action: "merge", into: into.value.trim() }))));
  }
  if (may("split") && !resolved && d.detections.length > 1) {
    parts.push(el("div", { class: "act-row" }, button("act-split", "a.split", () => go({
      action: "split", detections: [...document.querySelectorAll("#timeline input.split-pick:checked")].map((c) => c.value),
    }))));
  }
  return el("section", { class: "actions", id: "actions" }, el("h2", { text: t("d.actions") }), parts, msg);
}

// Close with a reason; benign and false positive may add a suppression (rule × entity × days).
function resolveForm(i, go, text) {
  const reason = el("select", { id: "act-reason" }, REASONS.map((r) => el("option", { value: r }, t("reason." + r))));
  const dup = el("input", { id: "act-duplicate-of", placeholder: t("a.dup_ph"), size: 34, hidden: true });
  const rule = el("select", { id: "act-suppress-rule" }, i.rule_ids.map((r, k) => el("option", { value: r, title: r }, i.rule_titles[k] || r)));
  const ents = ENTITY_KINDS.flatMap((k) => ((i.entities && i.entities[k]) || []).map((v) => [SUPPRESS_KIND[k], v]));
  const entity = el("select", { id: "act-suppress-entity" }, ents.map(([k, v], n) => el("option", { value: n }, k + ": " + v)));
  const days = el("input", { id: "act-suppress-days", type: "number", min: 1, max: 365, value: 30 });
  const why = el("input", { id: "act-suppress-reason", placeholder: t("a.why") });
  const on = el("input", { id: "act-suppress", type: "checkbox" });
  const sup = el("fieldset", { id: "act-suppress-box", hidden: true },
    el("legend", {}, el("label", {}, on, " " + t("a.suppress"))),
    el("label", {}, t("a.rule") + " ", rule), " ", el("label", {}, t("a.entity") + " ", entity), " ",
    el("label", {}, t("a.days") + " ", days), " ", why);
  reason.addEventListener("change", () => {
    dup.hidden = reason.value !== "duplicate";
    sup.hidden = !(SUPPRESSIBLE.includes(reason.value) && may("suppress") && ents.length);
  });
  const submit = () => {
    const body = { action: "resolve", reason: reason.value, note: text.value };
    if (reason.value === "duplicate") body.duplicate_of = dup.value.trim();
    if (!sup.hidden && on.checked) {
      const [kind, value] = ents[Number(entity.value)];
      body.suppress = { rule: rule.value, entity: { kind, value }, days: Number(days.value), reason: why.value || text.value };
    }
    go(body);
  };
  return el("div", { class: "act-row resolve" }, reason, dup, button("act-resolve", "a.resolve", submit), sup);
}

// ---- suppressions ----

Object.assign(I18N.vi, {
  "nav.suppressions": "Bỏ qua", "sup.title": "Các quy tắc bỏ qua", "sup.active": "Chỉ đang hiệu lực",
  "sup.rule": "Quy tắc", "sup.agency": "Cơ quan", "sup.entity": "Đối tượng", "sup.owner": "Người tạo", "sup.reason": "Lý do",
  "sup.expires": "Hết hạn", "sup.state": "Tình trạng", "sup.count": "Đã bỏ qua", "sup.revoke": "Thu hồi",
  "sup.state.active": "Hiệu lực", "sup.state.expired": "Hết hạn", "sup.state.revoked": "Đã thu hồi",
});
Object.assign(I18N.en, {
  "nav.suppressions": "Suppressions", "sup.title": "Suppressions", "sup.active": "Active only",
  "sup.rule": "Rule", "sup.agency": "Agency", "sup.entity": "Entity", "sup.owner": "Owner", "sup.reason": "Reason",
  "sup.expires": "Expires", "sup.state": "State", "sup.count": "Suppressed", "sup.revoke": "Revoke",
  "sup.state.active": "Active", "sup.state.expired": "Expired", "sup.state.revoked": "Revoked",
});

// Suppressions in scope with their state and how many detections each marked; revocable.
async function showSuppressions() {
  const tbl = $("#suppression-list");
  const msg = $("#suppressions-msg");
  msg.hidden = true;
  delete tbl.dataset.loaded;
  let list;
  try {
    list = await api("/api/v1/suppressions" + ($("#sup-active").checked ? "?active=true" : ""));
  } catch (e) {
    msg.textContent = e.message;
    msg.hidden = false;
    return;
  }
  const head = ["sup.rule", "sup.agency", "sup.entity", "sup.owner", "sup.reason", "sup.expires", "sup.state", "sup.count", ""];
  tbl.replaceChildren(el("tr", {}, head.map((k) => el("th", { text: k ? t(k) : "" }))));
  for (const item of list) {
    const s = item.suppression || item;
    const kind = Object.keys(SUPPRESS_KIND).find((k) => SUPPRESS_KIND[k] === s.entity.kind);
    const revoke = item.state === "active" && may("unsuppress") ? button(undefined, "sup.revoke", async (ev) => {
      try {
        await api("/api/v1/suppressions/" + encodeURIComponent(s.id), { method: "DELETE" });
        ev.target.disabled = true;
        // The revocation is a record: the list shows it once the index has applied it.
        for (let k = 0; k < 10; k++) {
          await new Promise((r) => setTimeout(r, 500));
          const now = await api("/api/v1/suppressions");
          const it = now.find((x) => (x.suppression || x).id === s.id);
          if (!it || it.state !== "active") break;
        }
        showSuppressions();
      } catch (e) {
        msg.textContent = e.message;
        msg.hidden = false;
      }
    }) : null;
    tbl.append(el("tr", { "data-id": s.id, class: item.state },
      el("td", {}, named("rule", s.rule)), el("td", {}, named("agency", s.agency, item.agency_name)),
      el("td", {}, s.entity.kind + ": ", kind ? entityLink(kind, s.entity.value, true) : s.entity.value),
      el("td", { text: s.owner }), el("td", { text: s.reason }), el("td", { text: fmtTime(s.expires) }),
      el("td", { text: t("sup.state." + item.state) }), el("td", { text: item.suppressed || 0 }), el("td", {}, revoke)));
  }
  tbl.dataset.loaded = "true";
}
