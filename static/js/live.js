// The live feed (/ws/live/): what changed, for the command centre and any page that watches cases.
//
//   import { openLiveFeed } from "<this module>";
//   const feed = openLiveFeed({
//     onHello({ groups, last, epoch, resumed }) {},  // after every (re)connect, before any event of it
//     onEvents(group, events, { replay }) {},        // new entries of one group, oldest first, never twice
//     onResync(group) {},                            // entries of `group` were lost: reload from the API
//     onStatus(state, detail) {},                    // "connecting" | "live" | "reconnecting" | "offline"
//     onMessage(frame) {},                           // any other frame (e.g. {type: "groups"} after a scope change)
//   });
//   feed.state          // the current state, as last given to onStatus
//   feed.lastSeq(group) // the last sequence number seen in a group ("ms-n"), or undefined
//   feed.drop()         // cut the socket as a network failure would (tests); the feed reconnects and resumes
//   feed.reconnect()    // reconnect now (e.g. after the user pressed "retry")
//   feed.close()        // stop for good
//
// Events: {seq, kind, ...}. kind "case": {case (id), number, action, status, urgency, lon, lat, district,
// street, community, minor_class, lead_unit, is_overdue, is_key, is_difficult, at}; a sweep sends only the
// fields it knows ({case, action: "overdue" | "overdue_cleared", is_overdue, district, ...}) and, for big
// sweeps, {kind: "cases", count} (reload). kind "mode": the operating mode changed (group "platform").
// The same change can arrive in several groups (a case is in its district's and its unit's): key on
// (case, at) if that matters. A socket is a hint: the database (the API) stays the truth.
//
// After a reconnect (or a page reload in the same tab: sessionStorage) the feed sends the last seq of each
// group, and the server replays what was missed, in order, before anything new; when it cannot (the stream
// was trimmed, Redis lost its data, too much was missed) onResync(group) says to reload that group's data.
// States: "connecting" (first connection), "live", "reconnecting" (retrying with backoff), "offline" (the
// browser is offline, several attempts failed, or detail.reason === "denied": not logged in / no staff role,
// code 4401 / 4403, and no more retries).

const STORAGE_KEY = "qdops.live.v1";
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 30_000;
const OFFLINE_AFTER_FAILURES = 4;
const PING_EVERY_MS = 25_000;
const PONG_WITHIN_MS = 10_000;
const DENIED = new Set([4401, 4403]);

/** "1700000000000-3" -> [1700000000000, 3]; ms fits a double exactly. */
function parseSeq(seq) {
  const dash = typeof seq === "string" ? seq.indexOf("-") : -1;
  if (dash < 1) return null;
  return [Number(seq.slice(0, dash)), Number(seq.slice(dash + 1))];
}

/** a > b for stream ids (undefined counts as "before everything"). */
function after(a, b) {
  const x = parseSeq(a);
  const y = parseSeq(b);
  if (!x) return false;
  if (!y) return true;
  return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
}

function defaultUrl() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}/ws/live/`;
}

function readStored(storage) {
  try {
    const saved = JSON.parse(storage?.getItem(STORAGE_KEY) || "null");
    if (saved && typeof saved === "object" && saved.since && typeof saved.since === "object") return saved;
  } catch {
    // unreadable or disabled storage: start afresh
  }
  return { epoch: null, since: {} };
}

export function openLiveFeed(handlers = {}, options = {}) {
  const url = options.url || defaultUrl();
  const storage = options.storage !== undefined ? options.storage : safeSessionStorage();
  const noop = () => {};
  const on = {
    hello: handlers.onHello || noop,
    events: handlers.onEvents || noop,
    resync: handlers.onResync || noop,
    status: handlers.onStatus || noop,
    message: handlers.onMessage || noop,
  };

  const stored = readStored(storage);
  let epoch = stored.epoch;
  const last = new Map(Object.entries(stored.since)); // group -> last seq seen
  let socket = null;
  let failures = 0;
  let everLive = false;
  let closed = false;
  let retryTimer = null;
  let pingTimer = null;
  let pongTimer = null;
  let saveTimer = null;

  const feed = {
    state: "connecting",
    lastSeq: (group) => last.get(group),
    drop() {
      if (socket) socket.close(4000, "dropped"); // the close handler treats it as a lost connection
    },
    reconnect() {
      if (closed) return;
      clearTimeout(retryTimer);
      if (socket) socket.close(4000, "reconnect");
      else connect();
    },
    close() {
      closed = true;
      clearTimeout(retryTimer);
      stopHeartbeat();
      save();
      if (socket) socket.close(1000, "closed");
      window.removeEventListener("online", onOnline);
      window.removeEventListener("pagehide", save);
    },
  };

  function setState(state, detail = {}) {
    if (feed.state === state && !detail.reason) return;
    feed.state = state;
    on.status(state, detail);
  }

  function save() {
    clearTimeout(saveTimer);
    saveTimer = null;
    try {
      storage?.setItem(STORAGE_KEY, JSON.stringify({ epoch, since: Object.fromEntries(last) }));
    } catch {
      // quota or privacy mode: the in-memory positions still serve reconnects
    }
  }

  function saveSoon() {
    if (!saveTimer) saveTimer = setTimeout(save, 500);
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function startHeartbeat() {
    stopHeartbeat();
    pingTimer = setInterval(() => {
      send({ type: "ping" });
      clearTimeout(pongTimer);
      // No frame at all within the wait: the connection is dead without having said so.
      pongTimer = setTimeout(() => feed.drop(), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  function stopHeartbeat() {
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
  }

  function onHello(frame) {
    const groups = new Set(frame.groups || []);
    const since = {};
    for (const group of groups) {
      if (last.has(group)) since[group] = last.get(group);
    }
    for (const group of [...last.keys()]) {
      if (!groups.has(group)) last.delete(group); // no longer in scope
    }
    const resumed = Object.keys(since).length > 0;
    send({ type: "resume", since, epoch: epoch || frame.epoch });
    epoch = frame.epoch;
    for (const group of groups) {
      if (!last.has(group)) last.set(group, frame.last?.[group] || "0-0");
    }
    save();
    failures = 0;
    everLive = true;
    setState("live");
    on.hello({ groups: [...groups], last: { ...frame.last }, epoch, resumed });
  }

  function onEventsFrame(frame) {
    const group = frame.group;
    const seen = last.get(group);
    const fresh = (frame.events || []).filter((event) => after(event.seq, seen));
    if (!fresh.length) return;
    last.set(group, fresh[fresh.length - 1].seq);
    saveSoon();
    on.events(group, fresh, { replay: Boolean(frame.replay) });
  }

  function onFrame(raw) {
    clearTimeout(pongTimer);
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    switch (frame.type) {
      case "hello":
        onHello(frame);
        break;
      case "events":
        onEventsFrame(frame);
        break;
      case "resync":
        if (frame.epoch) epoch = frame.epoch;
        if (frame.last) last.set(frame.group, frame.last);
        save();
        on.resync(frame.group);
        break;
      case "groups":
        for (const group of [...last.keys()]) {
          if (!frame.groups.includes(group)) last.delete(group);
        }
        for (const [group, seq] of Object.entries(frame.last || {})) last.set(group, seq);
        save();
        on.message(frame);
        break;
      case "pong":
        break;
      default:
        on.message(frame);
    }
  }

  function scheduleRetry() {
    if (closed) return;
    failures += 1;
    const offline = navigator.onLine === false || failures >= OFFLINE_AFTER_FAILURES;
    setState(offline ? "offline" : everLive ? "reconnecting" : "connecting");
    // Full jitter: a restarted server is not met by every dashboard in the same instant.
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(failures - 1, 10));
    retryTimer = setTimeout(connect, Math.random() * ceiling);
  }

  function connect() {
    if (closed) return;
    clearTimeout(retryTimer);
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      scheduleRetry();
      return;
    }
    socket = ws;
    ws.addEventListener("open", startHeartbeat);
    ws.addEventListener("message", (event) => {
      if (ws === socket) onFrame(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== socket) return;
      socket = null;
      stopHeartbeat();
      save();
      if (closed) return;
      if (DENIED.has(event.code)) {
        closed = true;
        setState("offline", { reason: "denied", code: event.code });
        return;
      }
      scheduleRetry();
    });
  }

  function onOnline() {
    if (!socket && !closed) {
      failures = 0;
      connect();
    }
  }

  window.addEventListener("online", onOnline);
  window.addEventListener("pagehide", save);
  on.status("connecting", {});
  connect();
  return feed;
}

function safeSessionStorage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}
