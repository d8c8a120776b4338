// The page's side of the outbox (the storage and the sending itself are in store.js, shared with the worker):
// put a submission on the phone first, then send; retry with backoff, when the connection comes back, when the
// page loads or becomes visible again, when the worker's Background Sync asks; show what is waiting.
import { config, csrf, store, t, toast } from "./common.js";

let timer = null;
let running = false;
let rerun = null; // a flush asked for while one was running: null, or whether it was forced

function uuid() {
  if (self.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function schedule(at) {
  clearTimeout(timer);
  timer = setTimeout(() => flush(false), Math.max(250, at - Date.now()));
}

function requestSync() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.getRegistration(config.scope)
    .then((registration) => registration && registration.sync && registration.sync.register("outbox"))
    .catch(() => { /* no Background Sync here: the page's own retries do the work */ });
}

/** Send what is waiting now (force: also the items still in their backoff). */
export async function flush(force = false) {
  if (running) {
    rerun = Boolean(rerun) || force;
    return;
  }
  running = true;
  try {
    const token = csrf();
    await Promise.all([store.kvSet("csrf", token), store.kvSet("user", config.user.id)]);
    const result = await store.flush({ csrf: token, user: config.user.id, force });
    if (result.busy) schedule(Date.now() + 3000);
    else if (result.nextAt && !result.auth) {
      schedule(result.nextAt);
      // Offline: the browser's Background Sync sends it when the connection returns, even with the app closed.
      // (Online, a sync would fire at once and only ask this page to try again before its backoff is over.)
      if (!navigator.onLine) requestSync();
    }
    if (result.refused) toast(t("refusedToast"));
  } catch (error) {
    console.error("outbox", error);
    schedule(Date.now() + 15000);
  } finally {
    running = false;
    if (rerun !== null) {
      const again = rerun;
      rerun = null;
      flush(again);
    }
  }
}

/**
 * Keep a submission on the phone, then send it. `fields` are the form's text values, `files` {name: [Blob]};
 * `meta` is what the outbox list and an edit need to show it again (class, case number...). Resolves once it
 * is safely stored (not when it is sent).
 */
export async function enqueue({ kind, url, fields, files = {}, label, caseId = null, meta = {} }) {
  const item = await store.outboxAdd({
    id: uuid(),
    kind,
    url,
    fields,
    files,
    label,
    caseId,
    meta,
    user: config.user.id,
  });
  requestSync();
  flush(true);
  return item;
}

/** Replace a refused item by its edited version (a new key: the body differs, and the old key may be spent). */
export async function replace(oldId, submission) {
  const item = await enqueue(submission);
  await store.outboxDelete(oldId);
  return item;
}

export async function items() {
  return store.outboxList();
}

/** {waiting, refused} of the signed-in account, and the case ids that have something waiting or refused. */
export async function summary() {
  const all = (await store.outboxList()).filter((item) => item.user === config.user.id);
  return {
    waiting: all.filter((item) => item.state === "waiting").length,
    refused: all.filter((item) => item.state === "refused").length,
    caseIds: new Set(all.filter((item) => item.caseId).map((item) => String(item.caseId))),
  };
}

export function start() {
  window.addEventListener("online", () => flush(true));
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") flush(false); });
  if ("serviceWorker" in navigator) {
    // The worker's Background Sync: send what is due (within the backoff: a failing server is not hammered).
    navigator.serviceWorker.addEventListener("message", (event) => { if (event.data && event.data.flush) flush(false); });
  }
  flush(true);
}
