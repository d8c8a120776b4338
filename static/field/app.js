// The field inspector's app (/m/): the router over its views (#/tasks, #/task/12, #/report, #/self-handle,
// #/outbox, #/outbox/<id>, #/reports, #/case/12, #/map), the top bar (title, on-duty switch), the status strip
// (offline, sign in again, on duty), the outbox badge, the service worker that makes it open offline; and the
// first screen, my tasks. The other views' modules load when first opened: on a slow connection the task list
// waits for nothing else.
import {
  config, countdown, distanceM, errorBox, formatDistance, getData, h, lastPosition, staleNote, store, t, TASKS_KEY,
  tasksUrl, watchPosition,
} from "./common.js";
import * as outbox from "./outbox.js";

// --- my tasks: verification (核实) and check (核查) tasks for my grid, offered-to-me and nearest first, deadlines
// counting down; a task waiting in the outbox is marked.

const REFRESH_MS = 120_000;
const RESORT_AFTER_M = 30;

function taskRow(task, here, pending) {
  const due = countdown(task.deadline);
  const metres = here && task.lon !== null && task.lon !== undefined ? distanceM(here, task) : task.distance_m;
  return h(
    "li",
    {},
    h(
      "a.task",
      {
        href: pending ? "#/outbox" : `#/task/${task.id}`,
        dataset: { id: task.id, number: task.number, task: task.task },
        class: `task${due.overdue ? " overdue" : ""}${pending ? " pending" : ""}`,
      },
      h(
        "div.task-top",
        {},
        h(`span.chip.chip-${task.task}`, {}, task.task === "check" ? t("check") : t("verify")),
        task.assigned_to_me ? h("span.chip.chip-mine", {}, t("assignedToMe")) : null,
        h("span.task-distance", {}, formatDistance(metres)),
      ),
      h("div.task-class", {}, task.class_name || ""),
      task.description ? h("div.task-desc", {}, task.description) : null,
      h(
        "div.task-bottom",
        {},
        h("span.task-address", {}, task.address || task.number),
        pending
          ? h("span.chip.chip-waiting", {}, t("waitingToSend"))
          : h(`span.due${due.overdue ? ".due-over" : due.soon ? ".due-soon" : ""}`, { dataset: { deadline: task.deadline || "" } }, due.text),
      ),
    ),
  );
}

// The first page of my tasks comes inside the page itself (app.html): no round trip before the first screen. It
// is used once, and only if the page came from the server just now, not from the worker's copy of an older one.
const SHELL_TASKS_FRESH_MS = 120_000;

function shellTasks() {
  const node = document.getElementById("field-tasks");
  if (!node) return null;
  node.remove();
  try {
    const data = JSON.parse(node.textContent);
    return Math.abs(Date.now() - new Date(data.at).getTime()) < SHELL_TASKS_FRESH_MS ? data : null;
  } catch (_) {
    return null;
  }
}

/** The task list. Returns the view's cleanup. */
function renderTasks(view) {
  const list = h("ul.list", { id: "task-list", "aria-busy": "true" });
  const note = h("div");
  const count = h("span.count", { id: "task-count" });
  view.append(h("div.view-head", {}, count), note, list);
  list.append(h("li.empty", {}, t("loading")));

  let tasks = [];
  let here = lastPosition();
  let sortedAt = here;
  let pending = new Set();
  let closed = false;

  function draw() {
    // As the server orders them (offered to me first, then the nearest), with the distances from where I am now.
    const away = (task) => (here && task.lon != null ? distanceM(here, task) : task.distance_m ?? Infinity);
    const ordered = [...tasks].sort((a, b) => Number(b.assigned_to_me) - Number(a.assigned_to_me) || away(a) - away(b));
    sortedAt = here;
    count.textContent = tasks.length ? `${tasks.length} · ${t("nearestFirst")}` : "";
    if (!ordered.length) list.replaceChildren(h("li.empty", {}, t("noTasks")));
    else list.replaceChildren(...ordered.map((task) => taskRow(task, here, pending.has(String(task.id)))));
  }

  async function load(first = false) {
    try {
      const embedded = first ? shellTasks() : null;
      if (embedded) store.cachePut(TASKS_KEY, embedded).catch(() => {});
      const result = embedded ? { body: embedded, fresh: true } : await getData(tasksUrl(here), TASKS_KEY);
      if (closed) return;
      tasks = result.body.results || [];
      note.replaceChildren(staleNote(result) || "");
      pending = (await outbox.summary()).caseIds;
      draw();
    } catch (error) {
      if (closed) return;
      list.replaceChildren(h("li", {}, errorBox(t("loadFailed"), load)));
    } finally {
      list.setAttribute("aria-busy", "false");
      list.dataset.loaded = "true";
    }
  }

  const stopWatch = watchPosition((fix, remembered) => {
    here = fix;
    if (!remembered && tasks.length && (!sortedAt || distanceM(sortedAt, fix) > RESORT_AFTER_M)) draw();
  });
  const ticker = setInterval(() => {
    list.querySelectorAll(".due[data-deadline]").forEach((node) => {
      const due = countdown(node.dataset.deadline);
      node.textContent = due.text;
      node.classList.toggle("due-over", due.overdue);
      node.classList.toggle("due-soon", Boolean(due.soon));
      node.closest(".task").classList.toggle("overdue", due.overdue);
    });
  }, 30_000);
  const refresher = setInterval(() => { if (document.visibilityState === "visible") load(); }, REFRESH_MS);
  const stopChanges = store.onChange(async (what) => {
    if (what !== "outbox" || closed) return;
    pending = (await outbox.summary()).caseIds;
    draw();
  });
  load(true);
  return () => {
    closed = true;
    stopWatch();
    stopChanges();
    clearInterval(ticker);
    clearInterval(refresher);
  };
}

// --- the frame

const el = {
  view: document.getElementById("view"),
  title: document.getElementById("view-title"),
  back: document.getElementById("bar-back"),
  badge: document.getElementById("outbox-badge"),
  offline: document.getElementById("strip-offline"),
  auth: document.getElementById("strip-auth"),
  authText: document.getElementById("strip-auth-text"),
  tabs: [...document.querySelectorAll(".tabs a[data-tab]")],
};

let cleanup = null;
let current = 0; // the route being drawn: a slower, older one must not draw over it

function navigate(hash, { reload = false } = {}) {
  if (location.hash === hash && reload) route();
  else location.hash = hash;
}

/** A view's module (the task list's is in the shell; the others load when first opened, or from the worker). */
const load = (name) => import(config.modules[name]);

async function editView(view, id) {
  const item = await store.outboxGet(id);
  if (!item) return navigate("#/outbox");
  if (item.kind === "report" || item.kind === "self-handle") {
    return (await load("report")).renderReport(view, { mode: item.kind, edit: item, navigate });
  }
  return (await load("task")).renderTask(view, item.caseId, { edit: item, navigate });
}

// [pattern, tab, title, draw(match) -> (container) => cleanup, nested (has a back link)]
const ROUTES = [
  [/^#?\/?(tasks)?$/, "tasks", "tasks", () => (view) => renderTasks(view)],
  [/^#\/task\/(\d+)$/, "tasks", "tasks", (m) => async (view) => (await load("task")).renderTask(view, m[1], { navigate }), true],
  [/^#\/report$/, "report", "reportTitle", () => async (view) => (await load("report")).renderReport(view, { mode: "report", navigate })],
  [/^#\/self-handle$/, "report", "selfHandleTitle", () => async (view) => (await load("report")).renderReport(view, { mode: "self-handle", navigate })],
  [/^#\/outbox$/, "outbox", "outbox", () => async (view) => (await load("lists")).renderOutbox(view, { navigate })],
  [/^#\/outbox\/([\w-]+)$/, "outbox", "edit", (m) => (view) => editView(view, m[1]), true],
  [/^#\/reports$/, "reports", "myReports", () => async (view) => (await load("lists")).renderReports(view)],
  [/^#\/case\/(\d+)$/, "reports", "case", (m) => async (view) => (await load("lists")).renderCase(view, m[1], { navigate }), true],
  [/^#\/map$/, "map", "map", () => async (view) => (await load("lists")).renderMap(view, { navigate })],
];

async function route() {
  const hash = location.hash || "#/tasks";
  const found = ROUTES.map(([pattern, ...rest]) => [hash.match(pattern), ...rest]).find(([m]) => m);
  const [match, tab, titleKey, make, nested] = found || [null, "tasks", "tasks", () => (view) => renderTasks(view)];
  const mine = ++current;
  if (typeof cleanup === "function") {
    try { cleanup(); } catch (error) { console.error(error); }
  }
  cleanup = null;
  // Each route draws into a box of its own: one still loading when the next starts draws into a detached box.
  const box = h("div.view-body");
  el.view.replaceChildren(box);
  el.view.dataset.view = tab;
  el.title.textContent = t(titleKey);
  document.title = `${t(titleKey)} · ${t("appName")}`;
  el.back.hidden = !nested;
  el.back.href = tab === "outbox" ? "#/outbox" : tab === "reports" ? "#/reports" : "#/tasks";
  el.tabs.forEach((a) => {
    const on = a.dataset.tab === tab;
    a.classList.toggle("on", on);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  el.view.scrollTop = 0;
  let done;
  try {
    done = await make(match)(box);
  } catch (error) {
    console.error(error);
    if (mine === current) box.replaceChildren(h("p.empty", { role: "alert" }, t("loadFailed")));
  }
  if (mine === current) cleanup = done;
  else if (typeof done === "function") done();
}

async function drawChrome() {
  const [counts, authProblem] = await Promise.all([outbox.summary(), store.kvGet("authProblem", false)]);
  const n = counts.waiting + counts.refused;
  el.badge.hidden = !n;
  el.badge.textContent = String(n);
  el.badge.classList.toggle("badge-refused", counts.refused > 0);
  el.badge.setAttribute("aria-label", t("waitingCount", { count: n }));
  el.offline.hidden = navigator.onLine;
  el.auth.hidden = !authProblem;
  el.authText.textContent = t("signInAgain");
  document.body.classList.toggle("is-offline", !navigator.onLine);
}

function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register(config.serviceWorker, { scope: config.scope }).catch((error) => console.warn("service worker", error));
}

/** Once the first screen has what it needs (a slow connection carries one thing at a time). */
function afterLoad(fn) {
  if (document.readyState === "complete") setTimeout(fn, 0);
  else window.addEventListener("load", () => setTimeout(fn, 0), { once: true });
}

function start() {
  window.addEventListener("hashchange", route);
  window.addEventListener("online", drawChrome);
  window.addEventListener("offline", drawChrome);
  store.onChange(() => drawChrome());
  route();
  drawChrome();
  outbox.start();
  afterLoad(() => load("duty").then((duty) => duty.init()).catch((error) => console.error("duty", error)));
  // The worker precaches the whole app (Leaflet included): not while the first screen is loading.
  afterLoad(() => setTimeout(registerWorker, 1000));
  window.fieldApp = { outbox, store, version: config.version };
}

start();
