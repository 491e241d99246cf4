/* The live page of guard-gateway. Plain JavaScript, no library, no CDN: it runs on a site LAN.
 *
 * Data comes from the gateway's API with the token the user pasted (Authorization: Bearer),
 * so a leader sees what his token covers and nothing else. The page redraws from
 * /map/whereabouts and /alerts whenever the event stream (/events/stream, read with fetch so the
 * token stays in a header) reports a committed event, and every REFRESH_MS anyway.
 */
"use strict";

const REFRESH_MS = 30000;
const RETRY_MS = 3000;
const STORE_KEY = "guard-gateway.live";
const OPEN_ALERTS_MAX = 1000; // the API's largest page
const RECENT_ALERTS = 50;

const STANDINGS = {
  on_post: "在岗 on post",
  away_reported: "已报备离岗 away, reported",
  away_unreported: "未报备离岗 away, unreported",
  on_leave: "请假 on leave",
  not_arrived: "未到岗 not arrived",
};
// A limit fallen during the outing under way: said beside the standing, and the marker ringed.
const OVER_LIMITS = { overtime: "超时 overtime", leave_overrun: "超假 over leave" };
const STATUSES = { open: "未确认 open", acknowledged: "已确认 acknowledged", resolved: "已解除 resolved" };
const DATUMS = { wgs84: "WGS-84", gcj02: "GCJ-02 (高德 AMap)", bd09: "BD-09 (百度 Baidu)" };

const state = {
  token: null,
  by: "",
  map: null,          // the /map answer
  datum: "wgs84",
  view: null,         // {zoom, x0, y0}: world pixels of the SVG's top-left corner
  timezone: "Asia/Shanghai",
  guards: [],
  alerts: [],
  resolveSupported: true,
  track: null,
  trackDay: null,     // the site's date the page last filled the track date with
  actedOn: null,      // the alert whose button was last pressed: its rebuilt row keeps the focus
  stream: null,       // AbortController of the open stream
  lastEventId: null,  // the id of the last event the stream carried: sent back on reconnecting
  eventsSeen: new Set(),  // ids of the events listed lately (stream.js): a resume may resend some
  refreshTimer: null,
  pending: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function localTime(iso, withDate = false) {
  if (!iso) return "";
  const options = { timeZone: state.timezone, hour: "2-digit", minute: "2-digit", hour12: false };
  if (withDate) Object.assign(options, { month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat("zh-CN", options).format(new Date(iso));
}

function siteToday(iso) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: state.timezone }).format(new Date(iso));
  return parts; // en-CA formats as YYYY-MM-DD
}

// --- the API ---------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; this.detail = detail; }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (answer.status === 401) {
    logout("令牌无效或已吊销 The token is unknown or revoked");
    throw new ApiError(401, "unauthorized");
  }
  let body = null;
  try { body = await answer.json(); } catch (_e) { body = null; }
  if (!answer.ok) {
    const detail = body && typeof body.detail === "string" ? body.detail : answer.statusText;
    throw new ApiError(answer.status, detail);
  }
  return body;
}

// --- log in and out --------------------------------------------------------------------------

function saved() {
  const raw = sessionStorage.getItem(STORE_KEY) || localStorage.getItem(STORE_KEY);
  try { return raw ? JSON.parse(raw) : null; } catch (_e) { return null; }
}

async function login(token, by, remember) {
  state.token = token;
  state.by = by;
  try {
    await loadMap();
  } catch (e) {
    state.token = null;
    if (!(e instanceof ApiError && e.status === 401)) $("login-error").textContent = e.message;
    return;
  }
  if (!state.by) state.by = state.map.me.name;
  const record = JSON.stringify({ token, by: state.by });
  (remember ? localStorage : sessionStorage).setItem(STORE_KEY, record);
  $("login").hidden = true;
  $("main").hidden = false;
  $("logout").hidden = false;
  $("login-error").textContent = "";
  await detectResolve();
  drawMap();
  await refresh();
  openStream();
  state.refreshTimer = setInterval(refresh, REFRESH_MS);
}

// Whoever logs in next on this device (a shared control-room screen, a phone handed over at the
// end of a shift) sees nothing of the one before: not his team's guards, alerts, events or the
// track he opened, nor his token or id in the form.
function logout(message = "") {
  sessionStorage.removeItem(STORE_KEY);
  localStorage.removeItem(STORE_KEY);
  state.token = null;
  if (state.stream) state.stream.abort();
  state.stream = null;
  clearInterval(state.refreshTimer);
  clearTimeout(state.pending);
  Object.assign(state, { by: "", map: null, guards: [], alerts: [], track: null, trackDay: null,
                        actedOn: null, lastEventId: null, eventsSeen: new Set() });
  for (const id of ["guards", "alerts", "events", "map"]) $(id).replaceChildren();
  for (const id of ["track-info", "clock", "site-name", "map-datum", "attribution", "action-error"]) {
    $(id).textContent = "";
  }
  $("guard-count").textContent = "0";
  $("alert-count").textContent = "0";
  $("track-clear").hidden = true;
  $("track-date").value = "";
  $("login-form").reset();
  $("main").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  setConnection("off");
}

// The resolve route may not exist on this gateway: its OpenAPI document says.
async function detectResolve() {
  try {
    const answer = await fetch("/openapi.json");
    const doc = await answer.json();
    state.resolveSupported = Object.keys(doc.paths || {}).some(
      (p) => p.startsWith("/alerts/") && p.endsWith("/resolve"));
  } catch (_e) {
    state.resolveSupported = true; // try it; a 404/405 hides it
  }
}

// --- the map ---------------------------------------------------------------------------------

async function loadMap() {
  let answer = await api("/map?datum=wgs84");
  if (answer.tiles && answer.tiles.datum !== "wgs84") {
    answer = await api(`/map?datum=${encodeURIComponent(answer.tiles.datum)}`);
  }
  state.map = answer;
  state.datum = answer.datum;
  const site = answer.sites[0];
  if (site) state.timezone = site.timezone;
  $("site-name").textContent = answer.sites.map((s) => s.name).join(" · ") || "无现场 no site";
  $("map-datum").textContent = `${DATUMS[state.datum]}${answer.tiles ? "" : " · 离线 offline"}`;
  $("attribution").textContent = answer.tiles ? answer.tiles.attribution : "";
}

// --- guards and alerts -----------------------------------------------------------------------

async function refresh() {
  const token = state.token;
  if (!token) return;
  try {
    // Every open alert (each needs a hand on it, however many a large site has at once), then
    // every acknowledged one (not over yet: the leader sees his acknowledgement and can still
    // resolve it, however old), then the most recent resolved ones for context; each part
    // newest first.
    const [where, open, acknowledged, recent] = await Promise.all([
      api(`/map/whereabouts?datum=${state.datum}`),
      api(`/alerts?status=open&limit=${OPEN_ALERTS_MAX}`),
      api(`/alerts?status=acknowledged&limit=${OPEN_ALERTS_MAX}`),
      api(`/alerts?limit=${RECENT_ALERTS}`),
    ]);
    if (state.token !== token) return; // logged out meanwhile: not the next one's to see
    // Once each: one acknowledged or resolved between the requests may be in two answers.
    const listed = new Set();
    const alerts = [...open, ...acknowledged, ...recent.filter((a) => a.status === "resolved")]
      .filter((a) => !listed.has(a.id) && listed.add(a.id));
    $("clock").textContent = localTime(where.time, true);
    followSiteDay(siteToday(where.time));
    // Redrawn only when changed, so a button is not replaced under the user's finger.
    if (JSON.stringify(where.guards) !== JSON.stringify(state.guards)) {
      state.guards = where.guards;
      drawMap();
      drawGuards();
    }
    if (JSON.stringify(alerts) !== JSON.stringify(state.alerts)) {
      state.alerts = alerts;
      drawAlerts();
    }
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) $("action-error").textContent = e.message;
  }
}

// The track date is the site's today, and turns with it: a page left open overnight opens the
// new day's track in the morning. A date the leader picked himself stays until he changes it.
function followSiteDay(today) {
  const picker = $("track-date");
  if (!picker.value || picker.value === state.trackDay) picker.value = today;
  state.trackDay = today;
}

function refreshSoon() {
  clearTimeout(state.pending);
  state.pending = setTimeout(refresh, 250);
}

// Rows are kept per guard and per alert and changed in place: with hundreds of guards some fix
// has always moved, and a list built anew at each refresh replaced the button under the
// leader's finger (the tap fell on a node no longer in the page) and lost his scroll position.
function guardRow(guard) {
  const trackButton = el("button", { type: "button", class: "track-button", text: "轨迹 track" });
  trackButton.addEventListener("click", () => showTrack(guard.guard_id));
  const over = el("span", { class: "over-badge" });
  const silent = el("span", { class: "silent-badge", text: "失联 silent" });
  const li = el("li", { class: "guard", "data-guard-id": guard.guard_id },
                el("span", { class: "who" }), el("span", { class: "badge" }),
                trackButton, el("span", { class: "meta" }));
  li.parts = { who: li.children[0], badge: li.children[1], over, silent, trackButton,
               meta: li.lastChild };
  return li;
}

function fillGuardRow(li, guard) {
  const signature = JSON.stringify(guard);
  if (li.signature === signature) return;
  li.signature = signature;
  const { who, badge, over, silent, trackButton, meta } = li.parts;
  li.dataset.standing = guard.standing;
  li.dataset.silent = String(guard.silent);
  if (guard.over_limit) li.dataset.overLimit = guard.over_limit; else delete li.dataset.overLimit;
  who.replaceChildren(el("strong", { text: guard.guard_name }), ` ${guard.guard_id} · ${guard.post_name}`);
  badge.dataset.standing = guard.standing;
  badge.textContent = STANDINGS[guard.standing];
  if (guard.over_limit) {
    over.dataset.overLimit = guard.over_limit;
    over.textContent = OVER_LIMITS[guard.over_limit] || guard.over_limit;
  }
  // The badges are in the row only while they hold, before the button, which stays put.
  showBefore(li, silent, guard.silent, trackButton);
  showBefore(li, over, !!guard.over_limit, guard.silent ? silent : trackButton);
  const fix = guard.last_fix;
  meta.textContent = `自 since ${localTime(guard.since)}` +
    (fix ? ` · 定位 fix ${localTime(fix.fix_time)} · ${fix.distance_m} m` : " · 无定位 no fix");
}

function showBefore(li, node, shown, next) {
  if (!shown) node.remove();
  else if (node.nextSibling !== next) li.insertBefore(node, next);
}

// ``rows`` in this order in ``list``: a new row is inserted where it belongs and the rows
// around it stay where they are (a node taken out and put back loses a tap under way).
function placeRows(list, rows) {
  const wanted = new Set(rows);
  for (const li of [...list.children]) if (!wanted.has(li)) li.remove();
  rows.forEach((row, i) => {
    const there = list.children[i];
    if (there !== row) list.insertBefore(row, there || null);
  });
}

function drawGuards() {
  $("guard-count").textContent = String(state.guards.length);
  const list = $("guards");
  const kept = new Map([...list.children].map((li) => [li.dataset.guardId, li]));
  placeRows(list, state.guards.map((guard) => {
    const li = kept.get(guard.guard_id) || guardRow(guard);
    fillGuardRow(li, guard);
    return li;
  }));
}

function alertTitle(type) {
  return (state.map && state.map.titles[type]) || type;
}

function alertRow(alert) {
  const data = alert.data || {};
  const li = el("li", { class: "alert", "data-alert-id": String(alert.id), tabindex: "-1",
                        "data-status": alert.status, "data-type": alert.type });
  li.append(el("span", { class: "what", text: alertTitle(alert.type) }));
  li.append(el("span", { class: "status", text: STATUSES[alert.status] || alert.status }));
  if (alert.status === "open") {
    const ack = el("button", { type: "button", class: "ack primary", text: "确认 acknowledge" });
    ack.addEventListener("click", () => acknowledge(alert, ack));
    li.append(ack);
  }
  if (alert.status !== "resolved" && state.resolveSupported) {
    const resolve = el("button", { type: "button", class: "resolve", text: "解除 resolve" });
    resolve.addEventListener("click", () => resolveAlert(alert, resolve));
    li.append(resolve);
  }
  let meta = `${data.guard_name || alert.guard_id} (${alert.guard_id})` +
    (data.post_name ? ` · ${data.post_name}` : "") + ` · ${localTime(alert.opened_at, true)}`;
  if (alert.acknowledged_by) {
    meta += ` · ${alert.acknowledged_by} 确认于 ${localTime(alert.acknowledged_at)}`;
  }
  li.append(el("span", { class: "meta", text: meta }));
  return li;
}

function drawAlerts() {
  const open = state.alerts.filter((a) => a.status === "open").length;
  $("alert-count").textContent = open >= OPEN_ALERTS_MAX ? `${open}+` : String(open);
  const list = $("alerts");
  const kept = new Map([...list.children].map((li) => [li.dataset.alertId, li]));
  const focused = document.activeElement;
  let refocus = null;
  // An alert's row is built again only when the alert changed (its buttons go with its status).
  placeRows(list, state.alerts.map((alert) => {
    const signature = JSON.stringify([alert, state.resolveSupported]);
    const old = kept.get(String(alert.id));
    if (old && old.signature === signature) return old;
    const li = alertRow(alert);
    li.signature = signature;
    if (old && (old.contains(focused) || state.actedOn === alert.id)) refocus = li;
    return li;
  }));
  // The row acted on from the keyboard was rebuilt: the focus stays in it (on the button left,
  // or the row) rather than falling back to the top of the page.
  if (refocus) {
    state.actedOn = null;
    (refocus.querySelector("button") || refocus).focus();
  }
}

async function acknowledge(alert, button) {
  state.actedOn = alert.id;
  button.disabled = true;
  try {
    await api(`/alerts/${alert.id}/acknowledge`, { method: "POST", body: { by: state.by } });
    $("action-error").textContent = "";
  } catch (e) {
    $("action-error").textContent = `确认失败 acknowledge failed: ${e.message}`;
  }
  await refresh();
  state.actedOn = null; // its row redrawn, or not changed: the focus is the user's again
  // Failed (no network, a process being taken over: 503), the row is unchanged and kept: its
  // button must work again for him to retry. A row redrawn has dropped this one anyway.
  button.disabled = false;
}

async function resolveAlert(alert, button) {
  const note = window.prompt("解除说明 Resolution note", "");
  if (note === null) return;
  state.actedOn = alert.id;
  button.disabled = true;
  try {
    await api(`/alerts/${alert.id}/resolve`, { method: "POST", body: { note } });
    $("action-error").textContent = "";
  } catch (e) {
    // No such route on this gateway (FastAPI's own "Not Found", or a method not allowed).
    if (e.status === 405 || (e.status === 404 && e.detail === "Not Found")) {
      state.resolveSupported = false;
    } else {
      $("action-error").textContent = `解除失败 resolve failed: ${e.message}`;
    }
  }
  await refresh();
  state.actedOn = null; // its row redrawn, or not changed: the focus is the user's again
  // Failed (no network, a process being taken over: 503), the row is unchanged and kept: its
  // button must work again for him to retry. A row redrawn has dropped this one anyway.
  button.disabled = false;
}

async function showTrack(guardId) {
  const day = $("track-date").value;
  const query = `datum=${state.datum}` + (day ? `&date=${day}` : "");
  try {
    state.track = await api(`/guards/${encodeURIComponent(guardId)}/track?${query}`);
    $("track-info").textContent =
      `${state.track.guard_name} ${state.track.date}: ${state.track.points.length} 点 fixes`;
    $("track-clear").hidden = false;
    drawMap();
  } catch (e) {
    $("action-error").textContent = `轨迹 track: ${e.message}`;
  }
}

// --- start -----------------------------------------------------------------------------------

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  login($("token").value.trim(), $("by").value.trim(), $("remember").checked);
});
$("logout").addEventListener("click", () => logout());
$("track-clear").addEventListener("click", () => {
  state.track = null;
  $("track-info").textContent = "";
  $("track-clear").hidden = true;
  drawMap();
});

const remembered = saved();
if (remembered && remembered.token) login(remembered.token, remembered.by || "", !!localStorage.getItem(STORE_KEY));
