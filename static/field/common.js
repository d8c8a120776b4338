// What every view of the field app shares: its configuration and words (from the page), a small DOM builder, the
// data GETs (network first, the last good answer from IndexedDB when offline), the phone's position, formats.

export const config = JSON.parse(document.getElementById("field-config").textContent);
export const text = JSON.parse(document.getElementById("field-text").textContent);
export const store = self.FieldStore;

/** A translated word with %(name)s filled in. */
export function t(key, params = {}) {
  let value = text[key] ?? key;
  for (const [name, filler] of Object.entries(params)) value = value.replaceAll(`%(${name})s`, String(filler));
  return value;
}

/** h("button.primary", {type: "button", onclick}, "Send"): an element with attributes, properties and children. */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "value") node.value = value;
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A 24x24 stroked icon from an SVG path. */
export function icon(d, className = "icon") {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", className);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  svg.append(path);
  return svg;
}

export const ICONS = {
  camera: "M4 8h3l2-3h6l2 3h3v11H4zM12 16.5a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z",
  pin: "M12 21s-6-5.5-6-10.5a6 6 0 0 1 12 0C18 15.5 12 21 12 21zM12 12.5a2 2 0 1 0 0-4 2 2 0 0 0 0 4z",
  locate: "M12 3v3M12 18v3M3 12h3M18 12h3M12 16a4 4 0 1 0 0-8 4 4 0 0 0 0 8z",
  search: "M10.5 17a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13zM15.5 15.5L20 20",
  send: "M4 12l16-8-6 16-2.5-6.5z",
  check: "M5 12.5l4.5 4.5L19 7.5",
  cross: "M6 6l12 12M18 6L6 18",
};

export function csrf() {
  return decodeURIComponent((document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "");
}

export function setAuthProblem(value) {
  store.kvSet("authProblem", value).then(() => store.changed("auth"));
}

export class HttpError extends Error {
  constructor(status, body) {
    super(store.messageOf(body, status));
    this.status = status;
    this.body = body;
  }
}

async function fetchJSON(url, options = {}) {
  const response = await fetch(url, {
    credentials: "same-origin",
    redirect: "manual",
    ...options,
    headers: { Accept: "application/json", ...(options.headers || {}) },
  });
  if (response.type === "opaqueredirect" || response.status === 401) {
    setAuthProblem(true);
    throw new HttpError(401, null);
  }
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) throw new HttpError(response.status, body);
  store.authProblemClear().catch(() => {});
  return body;
}

/**
 * A data GET, network first: the answer is kept in IndexedDB under `key`; when the network fails (offline, a
 * server error) the kept answer is returned instead. Resolves with {body, fresh, at}; rejects when there is
 * neither. A 4xx other than a sign-in problem is the answer, not a reason to fall back.
 */
export async function getData(url, key = url) {
  try {
    const body = await fetchJSON(url);
    store.cachePut(key, body).catch(() => {});
    return { body, fresh: true, at: Date.now() };
  } catch (error) {
    if (error instanceof HttpError && error.status >= 400 && error.status < 500 && error.status !== 401) throw error;
    const kept = await store.cacheGet(key).catch(() => null);
    if (kept) return { body: kept.body, fresh: false, at: kept.at };
    throw error;
  }
}

export async function postJSON(url, body) {
  return fetchJSON(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
    body: JSON.stringify(body),
  });
}

// --- the task list's data

export const TASKS_KEY = "tasks";

export function tasksUrl(position) {
  return position ? `/api/v1/field/tasks/?lon=${position.lon.toFixed(6)}&lat=${position.lat.toFixed(6)}` : "/api/v1/field/tasks/";
}

// --- drafts: a form being typed is kept on the phone

/**
 * The draft of one form: save(text) keeps its text fields at once (on every change), save(text, files) its photos
 * too (Blobs, written only when they change); writes are chained so that the last one wins. onSaved(at) after
 * each write.
 */
export function formDraft(key, onSaved = () => {}) {
  let chain = Promise.resolve();
  return {
    async load() {
      const [text, photos] = await Promise.all([store.draftGet(key), store.draftGet(`${key}:photos`)]).catch(() => [null, null]);
      if (!text && !photos) return null;
      return { ...((text && text.text) || {}), files: (photos && photos.files) || {} };
    },
    save(text, files) {
      chain = chain
        .then(() => Promise.all([
          store.draftPut(key, { text }),
          files ? store.draftPut(`${key}:photos`, { files }) : null,
        ]))
        .then(() => onSaved(new Date()))
        .catch((error) => console.warn("draft", error));
      return chain;
    },
    clear() {
      chain = chain.then(() => Promise.all([store.draftDelete(key), store.draftDelete(`${key}:photos`)])).catch(() => {});
      return chain;
    },
  };
}

// --- the phone's position: one watch for the whole app; the last fix is remembered across loads

const POSITION_KEY = "field.lastPosition";
const positionListeners = new Set();
let watchId = null;
let lastError = null;

export function lastPosition() {
  try {
    return JSON.parse(localStorage.getItem(POSITION_KEY) || "null");
  } catch (_) {
    return null;
  }
}

export function positionError() {
  return lastError;
}

/** Call fn({lon, lat, accuracy, at}) on every fix (at once with the last one if known); returns the stop function. */
export function watchPosition(fn, onError) {
  positionListeners.add(fn);
  const known = lastPosition();
  if (known) setTimeout(() => positionListeners.has(fn) && fn(known, true), 0);
  if (!("geolocation" in navigator)) {
    lastError = { code: 0 };
    if (onError) onError(lastError);
  } else if (watchId === null) {
    watchId = navigator.geolocation.watchPosition(
      (p) => {
        lastError = null;
        const fix = {
          lon: p.coords.longitude,
          lat: p.coords.latitude,
          accuracy: Math.round(p.coords.accuracy || 0),
          at: new Date(p.timestamp || Date.now()).toISOString(),
        };
        localStorage.setItem(POSITION_KEY, JSON.stringify(fix));
        positionListeners.forEach((listener) => listener(fix, false));
      },
      (error) => {
        lastError = error;
        if (onError) onError(error);
      },
      { enableHighAccuracy: true, maximumAge: 15000, timeout: 30000 },
    );
  } else if (lastError && onError) {
    setTimeout(() => onError(lastError), 0);
  }
  return () => positionListeners.delete(fn);
}

/** Metres between two {lon, lat} (haversine; plenty for a grid's distances). */
export function distanceM(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(s));
}

// --- formats

export function formatDistance(metres) {
  if (metres === null || metres === undefined || Number.isNaN(metres)) return "";
  if (metres < 1000) return `${Math.round(metres)} ${t("metres")}`;
  return `${(metres / 1000).toFixed(metres < 10000 ? 1 : 0)} ${t("kilometres")}`;
}

export function formatSpan(ms) {
  const minutes = Math.max(0, Math.floor(Math.abs(ms) / 60000));
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days) return `${days}${t("days")} ${hours}${t("hours")}`;
  if (hours) return `${hours}${t("hours")} ${mins}${t("minutes")}`;
  return `${mins}${t("minutes")}`;
}

/** "25min left" or "Overdue by 1h 5min", and whether it is overdue. */
export function countdown(deadline, now = Date.now()) {
  if (!deadline) return { text: "", overdue: false };
  const left = new Date(deadline).getTime() - now;
  return left >= 0
    ? { text: t("dueIn", { time: formatSpan(left) }), overdue: false, soon: left < 15 * 60000 }
    : { text: t("overdueBy", { time: formatSpan(left) }), overdue: true };
}

const pad = (n) => String(n).padStart(2, "0");

export function formatTime(value) {
  const d = new Date(value);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function formatDateTime(value) {
  if (!value) return "";
  const d = new Date(value);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? formatTime(d) : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatTime(d)}`;
}

// --- small UI pieces

let toastTimer = null;

export function toast(message, ms = 4000) {
  const node = document.getElementById("toast");
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, ms);
}

/** "Offline: showing what was loaded at 10:42." above a list drawn from the kept copy. */
export function staleNote(result) {
  return result.fresh ? null : h("p.note.note-stale", {}, t("offlineData", { time: formatDateTime(result.at) }));
}

export function errorBox(message, retry) {
  return h("div.empty", { role: "alert" }, h("p", {}, message), retry ? h("button.button", { type: "button", onclick: retry }, t("retry")) : null);
}

/** A case photo (served to those who may see the case). */
export function photoUrl(caseNumber, photoId) {
  return `/cases/${encodeURIComponent(caseNumber)}/photos/${photoId}/`;
}

export function kindLabel(kind) {
  return (config.kinds && config.kinds[kind]) || kind || "";
}
