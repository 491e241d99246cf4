/* The live page's event stream: /events/stream read with fetch (so the token stays in a
 * header), each event listed once, the page redrawn after it, and the stream reopened after a
 * cut with the last event's id (Last-Event-ID) so that nothing committed meanwhile is missed.
 * Shares the page's ``state``, ``$`` and helpers (app.js, loaded after this file; used only
 * once the page runs).
 */
"use strict";

function setConnection(mode) {
  const labels = { off: "未连接 offline", live: "实时 live", retrying: "重连中 reconnecting" };
  const node = $("connection");
  node.dataset.state = mode;
  node.textContent = labels[mode];
}

// Events remembered as listed: more than a resume sends again. In a partitioned gateway a stream
// resumed after a cut begins at a floor below the last event received (an event another
// process committed just before the cut may sit below it), so some events come again.
const EVENTS_SEEN_KEPT = 1024;

function firstTime(eventId) {
  const seen = state.eventsSeen;
  if (seen.has(eventId)) return false;
  seen.add(eventId);
  if (seen.size > EVENTS_SEEN_KEPT) seen.delete(seen.values().next().value);  // the oldest
  return true;
}

function logEvent(message) {
  const list = $("events");
  // Once each, also beyond the 100 rows shown: a resumed stream may send again what it had.
  if (!firstTime(message.id)) return;
  const title = alertTitle(message.type);
  const data = message.data || {};
  const who = data.guard_name ? `${data.guard_name} (${message.subject})` : message.subject;
  const li = el("li", { "data-type": message.type, "data-event-id": message.id },
                el("time", { text: localTime(message.time) }), `${title} · ${who}`);
  list.prepend(li);
  while (list.children.length > 100) list.lastChild.remove();
}

async function openStream() {
  const controller = new AbortController();
  state.stream = controller;
  while (state.stream === controller) {
    try {
      const headers = { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" };
      // Back after a cut (a lift, a restart of the gateway): the stream begins with the events
      // after this one, so none committed meanwhile is missing from the list.
      if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
      const answer = await fetch("/events/stream", { headers, signal: controller.signal });
      if (answer.status === 401) { logout("令牌无效或已吊销 The token is unknown or revoked"); return; }
      if (!answer.ok || !answer.body) throw new Error(String(answer.status));
      await readStream(answer.body);
    } catch (_e) {
      if (controller.signal.aborted) return;
    }
    setConnection("retrying");
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
}

async function readStream(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = "message";
      let id = null;
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
        else if (line.startsWith("id:")) id = line.slice(3).trim();
      }
      if (data.length) onStreamEvent(type, data.join("\n"));
      if (id) state.lastEventId = id;
    }
  }
}

function onStreamEvent(type, text) {
  if (type === "hello") {
    setConnection("live");
    refreshSoon(); // what happened while we were away
    return;
  }
  if (type === "resync") { refreshSoon(); return; }
  try { logEvent(JSON.parse(text)); } catch (_e) { /* a malformed line: the refresh still tells */ }
  refreshSoon();
}
