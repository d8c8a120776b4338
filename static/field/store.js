// The field app's storage on the phone (IndexedDB) and its outbox sender, shared by the page and the service worker
// (a classic script, so that a worker loads it with importScripts in every browser). It defines self.FieldStore.
//
// Stores: "outbox" (submissions waiting to be sent, with their photos as Blobs), "drafts" (forms being typed),
// "cache" (the last answer of each data GET, for offline lists), "positions" (on-duty fixes waiting to be sent),
// "kv" (small settings: the CSRF token and the signed-in account, for the worker; the sign-in problem flag).
//
// An outbox item: {id (a client UUID, sent as Idempotency-Key), kind, url, fields, files: {name: [Blob]}, label,
// user, createdAt, state: "waiting" | "refused", attempts, nextAt, error, status}. It is removed only when the
// server answers 2xx; a 4xx that will never succeed keeps it as "refused" with the server's message; a network
// error or a 5xx keeps it "waiting" with a later nextAt; 401 (or a CSRF refusal) keeps everything and flags
// "sign in again". Items are sent one at a time in the order they were made.
(function (root) {
  "use strict";

  const DB_NAME = "qingdao-field";
  const DB_VERSION = 1;
  const LOCK = "qingdao-field-outbox";
  const BACKOFF_S = [2, 5, 15, 30, 60, 120, 300];
  const SENT_KEPT = 20;
  const POSITIONS_KEPT = 720; // 12 hours of one a minute; the oldest go first when the phone stays offline
  const POSITIONS_PER_BATCH = 200;
  let opening = null;
  let sendingId = null; // the item this context is sending now

  function request(req) {
    return new Promise((resolve, reject) => {
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  function open() {
    if (opening) return opening;
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains("outbox")) {
          db.createObjectStore("outbox", { keyPath: "id" }).createIndex("createdAt", "createdAt");
        }
        for (const name of ["drafts", "cache", "kv"]) {
          if (!db.objectStoreNames.contains(name)) db.createObjectStore(name, { keyPath: "key" });
        }
        if (!db.objectStoreNames.contains("positions")) db.createObjectStore("positions", { autoIncrement: true });
      };
      req.onsuccess = () => {
        const db = req.result;
        db.onversionchange = () => { db.close(); opening = null; };
        resolve(db);
      };
      req.onerror = () => { opening = null; reject(req.error); };
      req.onblocked = () => reject(new Error("IndexedDB upgrade blocked by another tab"));
    });
    return opening;
  }

  /** Run fn(stores...) in one transaction over `names`; resolves with fn's result once the transaction commits. */
  async function tx(names, mode, fn) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const t = db.transaction(names, mode);
      let result;
      t.oncomplete = () => resolve(result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new Error("transaction aborted"));
      Promise.resolve(fn(...names.map((n) => t.objectStore(n)))).then((value) => { result = value; }, (error) => {
        try { t.abort(); } catch (_) { /* already finished */ }
        reject(error);
      });
    });
  }

  const get = (store, key) => tx([store], "readonly", (s) => request(s.get(key)));
  const put = (store, value) => tx([store], "readwrite", (s) => request(s.put(value)));
  const del = (store, key) => tx([store], "readwrite", (s) => request(s.delete(key)));

  async function kvGet(key, fallback = null) {
    const row = await get("kv", key);
    return row ? row.value : fallback;
  }
  const kvSet = (key, value) => put("kv", { key, value });

  // --- change notices: other tabs and the worker redraw when the outbox changes

  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("qingdao-field") : null;
  const listeners = new Set();
  function changed(what) {
    listeners.forEach((fn) => { try { fn(what); } catch (error) { console.error(error); } });
    if (channel) channel.postMessage({ changed: what });
  }
  if (channel) channel.onmessage = (event) => listeners.forEach((fn) => fn(event.data && event.data.changed));
  function onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); }

  // --- the outbox

  async function outboxList() {
    const items = await tx(["outbox"], "readonly", (s) => request(s.index("createdAt").getAll()));
    return items;
  }

  async function outboxAdd(item) {
    const now = Date.now();
    const full = { state: "waiting", attempts: 0, nextAt: 0, error: "", status: 0, createdAt: now, ...item };
    await put("outbox", full);
    changed("outbox");
    return full;
  }

  async function outboxPut(item) {
    await put("outbox", item);
    changed("outbox");
  }

  async function outboxDelete(id) {
    await del("outbox", id);
    changed("outbox");
  }

  const outboxGet = (id) => get("outbox", id);

  async function sentList() { return kvGet("sent", []); }

  async function remember(item, body) {
    const sent = await sentList();
    sent.unshift({ id: item.id, kind: item.kind, label: item.label, number: body && body.number, caseId: body && body.id, at: Date.now() });
    await kvSet("sent", sent.slice(0, SENT_KEPT));
  }

  function formOf(item) {
    const form = new FormData();
    for (const [name, value] of Object.entries(item.fields || {})) {
      if (value !== null && value !== undefined) form.append(name, String(value));
    }
    for (const [name, blobs] of Object.entries(item.files || {})) {
      (blobs || []).forEach((blob, i) => form.append(name, blob, `${name}-${i + 1}.${/png/.test(blob.type) ? "png" : "jpg"}`));
    }
    return form;
  }

  /** The server's refusal as one line: its `detail`, or each field with its messages. */
  function messageOf(body, status) {
    if (!body) return `HTTP ${status}`;
    if (typeof body === "string") return body.slice(0, 300);
    if (body.detail) return String(body.detail);
    const parts = [];
    for (const [field, messages] of Object.entries(body)) {
      const text = Array.isArray(messages) ? messages.join(" ") : typeof messages === "string" ? messages : JSON.stringify(messages);
      parts.push(field === "non_field_errors" ? text : `${field}: ${text}`);
    }
    return parts.join("; ") || `HTTP ${status}`;
  }

  async function readBody(response) {
    const type = response.headers.get("Content-Type") || "";
    try {
      return type.includes("json") ? await response.json() : await response.text();
    } catch (_) {
      return null;
    }
  }

  /** Send one item; what became of it: "sent" | "refused" | "retry" | "auth", with the answer. */
  async function sendOne(item, csrf) {
    let response;
    try {
      response = await fetch(item.url, {
        method: "POST",
        body: formOf(item),
        credentials: "same-origin",
        redirect: "manual",
        headers: { "Idempotency-Key": item.id, "X-CSRFToken": csrf || "", Accept: "application/json" },
      });
    } catch (error) {
      return { outcome: "retry", status: 0, message: "" };
    }
    const status = response.status;
    if (response.type === "opaqueredirect" || status === 0) return { outcome: "auth", status };
    const body = await readBody(response);
    if (status >= 200 && status < 300) return { outcome: "sent", status, body };
    if (status === 401) return { outcome: "auth", status };
    // A CSRF refusal means the session changed under the page (signed in again elsewhere): not the input's fault.
    if (status === 403 && /csrf/i.test(messageOf(body, status))) return { outcome: "auth", status };
    if (status === 408 || status === 425 || status === 429 || status >= 500) {
      return { outcome: "retry", status, message: "" };
    }
    return { outcome: "refused", status, message: messageOf(body, status), body };
  }

  function backoff(attempts) {
    const base = BACKOFF_S[Math.min(attempts, BACKOFF_S.length) - 1] || BACKOFF_S[BACKOFF_S.length - 1];
    return Math.round(base * 1000 * (0.8 + Math.random() * 0.4));
  }

  async function withLock(fn) {
    if (root.navigator && root.navigator.locks && root.navigator.locks.request) {
      // ifAvailable: if another tab or the worker is sending, it sends everything; this one need not wait.
      return root.navigator.locks.request(LOCK, { ifAvailable: true }, (lock) => (lock ? fn() : { busy: true }));
    }
    return fn();
  }

  /**
   * Send the waiting items of `user`, oldest first, one at a time. `force` ignores the backoff (the connection
   * came back, or the inspector asked). Stops at the first item that must wait (so the order is kept) and at a
   * sign-in problem. Resolves with {sent, refused, auth, nextAt} (nextAt: when the first item left may go), or
   * {busy: true} when another tab or the worker is sending.
   */
  async function flush({ csrf, user, force = false } = {}) {
    return withLock(async () => {
      const summary = { sent: 0, refused: 0, auth: false, nextAt: 0 };
      const items = (await outboxList()).filter((item) => item.user === user && item.state === "waiting");
      for (const item of items) {
        if (!force && item.nextAt > Date.now()) {
          summary.nextAt = item.nextAt;
          return summary;
        }
        sendingId = item.id;
        changed("outbox");
        let result;
        try {
          result = await sendOne(item, csrf);
        } finally {
          sendingId = null;
        }
        if (result.outcome !== "auth" && result.status) await authProblemClear();
        const fresh = await outboxGet(item.id);
        if (!fresh) continue; // discarded while it was being sent
        if (result.outcome === "sent") {
          await remember(fresh, result.body);
          await outboxDelete(fresh.id);
          summary.sent += 1;
          continue;
        }
        if (result.outcome === "refused") {
          await outboxPut({ ...fresh, state: "refused", error: result.message, errorBody: result.body, status: result.status });
          summary.refused += 1;
          continue;
        }
        if (result.outcome === "auth") {
          await kvSet("authProblem", true);
          await outboxPut({ ...fresh, status: result.status });
          changed("auth");
          summary.auth = true;
        } else {
          const attempts = (fresh.attempts || 0) + 1;
          const nextAt = Date.now() + backoff(attempts);
          await outboxPut({ ...fresh, attempts, nextAt, status: result.status, error: "" });
          summary.nextAt = nextAt;
        }
        return summary;
      }
      return summary;
    });
  }

  /** The server answered as the signed-in account again: no more "sign in again". */
  async function authProblemClear() {
    if (await kvGet("authProblem", false)) {
      await kvSet("authProblem", false);
      changed("auth");
    }
  }

  // --- drafts and the data cache

  const draftGet = (key) => get("drafts", key);
  const draftPut = (key, value) => put("drafts", { ...value, key, at: Date.now() });
  const draftDelete = (key) => del("drafts", key);
  const cacheGet = (key) => get("cache", key);
  const cachePut = (key, body) => put("cache", { key, body, at: Date.now() });

  // --- on-duty positions

  async function positionAdd(position) {
    await tx(["positions"], "readwrite", async (s) => {
      await request(s.add(position));
      const count = await request(s.count());
      if (count > POSITIONS_KEPT) {
        const keys = await request(s.getAllKeys(null, count - POSITIONS_KEPT));
        await Promise.all(keys.map((k) => request(s.delete(k))));
      }
    });
    changed("positions");
  }

  const positionCount = () => tx(["positions"], "readonly", (s) => request(s.count()));

  async function positionsClear() {
    await tx(["positions"], "readwrite", (s) => request(s.clear()));
    changed("positions");
  }

  /** Send the queued positions as batches; "sent" | "retry" | "off" (409: not on duty any more) | "auth". */
  async function positionsFlush({ csrf, url }) {
    for (;;) {
      const [keys, values] = await tx(["positions"], "readonly", async (s) => [
        await request(s.getAllKeys(null, POSITIONS_PER_BATCH)),
        await request(s.getAll(null, POSITIONS_PER_BATCH)),
      ]);
      if (!keys.length) return "sent";
      let response;
      try {
        response = await fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf || "", Accept: "application/json" },
          body: JSON.stringify({ positions: values }),
        });
      } catch (_) {
        return "retry";
      }
      if (response.status === 409) { await positionsClear(); return "off"; }
      if (response.status === 401 || response.status === 403) return "auth";
      if (response.status >= 500 || response.status === 429) return "retry";
      let done = keys;
      if (response.status === 400) {
        // A batch is stored whole or not at all: drop the fixes it names (outside the city, a clock far off),
        // send the others again.
        const body = await readBody(response);
        const errors = body && Array.isArray(body.positions) ? body.positions : null;
        if (errors && errors.length === keys.length && errors.some((e) => !e || !Object.keys(e).length)) {
          done = keys.filter((_, i) => errors[i] && Object.keys(errors[i]).length);
        }
      }
      // Sent, or refused as malformed (which no retry would mend): either way these fixes are done with.
      await tx(["positions"], "readwrite", (s) => Promise.all(done.map((k) => request(s.delete(k)))));
      changed("positions");
    }
  }

  root.FieldStore = {
    open, kvGet, kvSet, onChange, changed, authProblemClear,
    outboxList, outboxAdd, outboxPut, outboxDelete, outboxGet, sentList, flush, formOf, messageOf,
    sendingNow: () => sendingId,
    draftGet, draftPut, draftDelete, cacheGet, cachePut,
    positionAdd, positionCount, positionsClear, positionsFlush,
  };
})(self);
