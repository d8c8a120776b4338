// On duty (在岗): a switch in the top bar; going on duty asks for consent to share the position, then the page sends
// a fix every minute (queued on the phone when offline and sent as one batch later) and says so on screen.
import { csrf, formatTime, getData, postJSON, setAuthProblem, store, t, toast, watchPosition } from "./common.js";

const SHIFT_URL = "/api/v1/field/shift/";
const POSITION_URL = "/api/v1/field/position/";
const EVERY_MS = 60_000;
const STATE_KEY = "field.onDuty";

const el = {
  button: document.getElementById("duty-switch"),
  label: document.getElementById("duty-label"),
  strip: document.getElementById("strip-duty"),
  stripText: document.getElementById("strip-duty-text"),
  consent: document.getElementById("consent"),
  consentText: document.getElementById("consent-text"),
};

const state = { onDuty: false, lastSentAt: null, queued: 0, latest: null, timer: null, stopWatch: null, busy: false };

function draw() {
  el.button.setAttribute("aria-checked", String(state.onDuty));
  el.button.classList.toggle("on", state.onDuty);
  el.label.textContent = state.onDuty ? t("onDuty") : t("offDuty");
  el.strip.hidden = !state.onDuty;
  if (state.onDuty) {
    const parts = [t("sharingPosition")];
    if (state.lastSentAt) {
      parts.push(t("positionSent", { time: formatTime(state.lastSentAt) }));
      el.strip.dataset.sentAt = String(state.lastSentAt.getTime());
    }
    if (state.queued) parts.push(t("positionQueued", { count: state.queued }));
    el.stripText.textContent = parts.join(" · ");
  }
}

function setOnDuty(value) {
  state.onDuty = value;
  localStorage.setItem(STATE_KEY, value ? "1" : "0");
  if (value) start();
  else stop();
  draw();
}

function currentFix() {
  return new Promise((resolve) => {
    if (!("geolocation" in navigator)) return resolve(state.latest);
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({
        lon: p.coords.longitude,
        lat: p.coords.latitude,
        accuracy: Math.round(p.coords.accuracy || 0),
        at: new Date(p.timestamp || Date.now()).toISOString(),
      }),
      () => resolve(state.latest),
      { enableHighAccuracy: true, maximumAge: 30_000, timeout: 20_000 },
    );
  });
}

async function sendPositions() {
  const result = await store.positionsFlush({ csrf: csrf(), url: POSITION_URL });
  if (result === "sent") state.lastSentAt = new Date();
  if (result === "off") {
    toast(t("offDuty"));
    setOnDuty(false);
  }
  if (result === "auth") setAuthProblem(true);
  state.queued = await store.positionCount();
  draw();
}

async function tick() {
  const fix = await currentFix();
  if (fix && state.onDuty) {
    await store.positionAdd({ lon: fix.lon, lat: fix.lat, accuracy_m: fix.accuracy, at: new Date().toISOString() });
  }
  if (state.onDuty) await sendPositions();
}

function start() {
  if (state.timer) return;
  state.stopWatch = watchPosition((fix) => { state.latest = fix; });
  tick();
  state.timer = setInterval(tick, EVERY_MS);
}

function stop() {
  clearInterval(state.timer);
  state.timer = null;
  if (state.stopWatch) state.stopWatch();
  state.stopWatch = null;
}

async function change(onDuty) {
  if (state.busy) return;
  state.busy = true;
  el.button.disabled = true;
  try {
    if (!onDuty) await sendPositions(); // the last fixes first, while still on duty
    const body = await postJSON(SHIFT_URL, { on_duty: onDuty, share_position: onDuty });
    setOnDuty(Boolean(body && "on_duty" in body ? body.on_duty : onDuty));
    if (!onDuty) await store.positionsClear();
  } catch (error) {
    toast(t("dutyFailed"));
  } finally {
    state.busy = false;
    el.button.disabled = false;
  }
}

export function init() {
  el.consentText.textContent = t("consentText");
  el.button.addEventListener("click", () => {
    if (state.onDuty) {
      change(false);
      return;
    }
    if (typeof el.consent.showModal === "function") {
      el.consent.returnValue = "";
      el.consent.showModal();
    } else if (window.confirm(t("consentText"))) {
      change(true);
    }
  });
  el.consent.addEventListener("close", () => { if (el.consent.returnValue === "agree") change(true); });
  window.addEventListener("online", () => { if (state.onDuty) sendPositions(); });
  // What this phone last knew, then what the server says.
  state.onDuty = localStorage.getItem(STATE_KEY) === "1";
  if (state.onDuty) start();
  draw();
  el.button.disabled = false;
  const sync = () => getData(SHIFT_URL, "shift")
    .then((result) => {
      if (result.fresh && result.body && typeof result.body.on_duty === "boolean" && result.body.on_duty !== state.onDuty) {
        setOnDuty(result.body.on_duty);
      }
    })
    .catch(() => { /* offline or not there: keep what this phone knew */ });
  // After the first screen has what it needs (a slow connection carries one thing at a time).
  if (document.readyState === "complete") sync();
  else window.addEventListener("load", sync, { once: true });
  store.positionCount().then((n) => { state.queued = n; draw(); }).catch(() => {});
}
