// The outbox (what waits on the phone, what the server refused, what was sent lately), my reports, one case, and
// the map of my grid.
import {
  config, errorBox, formatDateTime, getData, h, icon, ICONS, lastPosition, photoUrl, staleNote, store, t, watchPosition,
} from "./common.js";
import * as outbox from "./outbox.js";

const KIND_LABELS = () => ({ report: t("kindReport"), "self-handle": t("kindSelfHandle"), verify: t("kindVerify"), check: t("kindCheck") });

function photoCount(item) {
  return Object.values(item.files || {}).reduce((n, blobs) => n + (blobs ? blobs.length : 0), 0);
}

function thumbOf(item) {
  const first = Object.values(item.files || {}).find((blobs) => blobs && blobs.length);
  if (!first) return h("span.thumb-none", { "aria-hidden": "true" });
  const url = URL.createObjectURL(first[0]);
  const img = h("img.outbox-thumb", { src: url, alt: "" });
  img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
  return img;
}

// The server names the fields it refused by their API names; the inspector knows them by the form's labels.
const FIELD_LABELS = {
  description: "description", photos: "photos", before_photos: "beforePhotos", after_photos: "afterPhotos",
  minor_class: "class", kind: "class", lon: "position", lat: "position", location: "position", urgency: "urgency",
  address: "address", reason: "note", confirmed: "verifyTitle", passed: "checkTitle",
};

function refusalText(item) {
  const body = item.errorBody;
  if (!body || typeof body !== "object" || Array.isArray(body)) return item.error;
  if (body.detail) return String(body.detail);
  return Object.entries(body).map(([field, messages]) => {
    const text = Array.isArray(messages) ? messages.join(" ") : String(messages);
    const label = FIELD_LABELS[field] ? t(FIELD_LABELS[field]) : field === "non_field_errors" ? "" : field;
    return label ? `${label}: ${text}` : text;
  }).join("; ") || item.error;
}

function itemState(item) {
  if (item.user !== config.user.id) return { cls: "refused", text: t("otherAccount") };
  if (item.state === "refused") return { cls: "refused", text: t("refused") };
  if (store.sendingNow() === item.id) return { cls: "sending", text: t("sending") };
  return { cls: "waiting", text: t("waiting") };
}

/** The outbox. Returns the view's cleanup. */
export function renderOutbox(view, { navigate }) {
  const list = h("ul.list", { id: "outbox-list" });
  const sent = h("ul.list.sent", { id: "sent-list" });
  const sendNow = h("button.button.primary", { type: "button", id: "send-now" }, icon(ICONS.send), t("sendNow"));
  const count = h("span.count", { id: "outbox-count" });
  const head = h("div.view-head", {}, count, sendNow);
  const sentHead = h("h3.sub", { hidden: true }, t("recentlySent"));
  view.append(head, list, sentHead, sent);
  let closed = false;

  sendNow.addEventListener("click", () => outbox.flush(true));

  async function draw() {
    const [items, recent] = await Promise.all([outbox.items(), store.sentList()]);
    if (closed) return;
    const labels = KIND_LABELS();
    const waiting = items.filter((item) => item.state === "waiting" && item.user === config.user.id).length;
    sendNow.hidden = !waiting;
    count.textContent = waiting ? t("waitingCount", { count: waiting }) : "";
    list.dataset.count = String(items.length);
    if (!items.length) list.replaceChildren(h("li.empty", {}, t("outboxEmpty")));
    else {
      list.replaceChildren(...items.map((item) => {
        const s = itemState(item);
        const actions = [];
        if (item.state === "refused" && item.user === config.user.id) {
          actions.push(h("a.button", { href: `#/outbox/${item.id}` }, t("edit")));
        }
        actions.push(h("button.button.danger", {
          type: "button",
          onclick: async () => { if (window.confirm(t("confirmDiscard"))) await store.outboxDelete(item.id); },
        }, t("discard")));
        const retry = item.state === "waiting" && item.nextAt > Date.now() && s.cls === "waiting"
          ? h("span.small.muted", {}, ` · ${t("nextTry", { time: formatDateTime(item.nextAt) })}`) : null;
        const why = item.state === "waiting" && item.attempts
          ? h("span.small.muted", {}, ` · ${item.status ? t("serverError", { status: item.status }) : t("networkError")}`) : null;
        return h("li.outbox-item", { dataset: { id: item.id, state: s.cls, kind: item.kind } },
          thumbOf(item),
          h("div.outbox-main", {},
            h("div.outbox-top", {}, h("b", {}, labels[item.kind] || item.kind), h(`span.chip.chip-${s.cls}`, {}, s.text)),
            h("div.outbox-label", {}, item.label || ""),
            h("div.small.muted", {}, formatDateTime(item.createdAt), ` · ${photoCount(item)} ${t("photos")}`, retry, why),
            item.state === "refused" ? h("p.refusal", { role: "alert" }, refusalText(item)) : null,
            h("div.outbox-actions", {}, actions)));
      }));
    }
    sentHead.hidden = !recent.length;
    sent.replaceChildren(...recent.map((entry) => h("li.sent-item", { dataset: { number: entry.number || "" } },
      h("b", {}, labels[entry.kind] || entry.kind), " ", entry.label || "",
      h("div.small.muted", {}, formatDateTime(entry.at), entry.number ? ` · ${t("sentAs", { number: entry.number })}` : "",
        entry.caseId ? [" · ", h("a", { href: `#/case/${entry.caseId}` }, t("open"))] : null))));
  }

  const stop = store.onChange((what) => { if (what === "outbox") draw(); });
  const ticker = setInterval(draw, 15_000);
  draw();
  return () => { closed = true; stop(); clearInterval(ticker); };
}

/** My reports, with what still waits on the phone on top. */
export function renderReports(view) {
  const list = h("ul.list", { id: "report-list" });
  const note = h("div");
  view.append(note, list);
  list.append(h("li.empty", {}, t("loading")));
  let closed = false;

  async function load() {
    const waiting = (await outbox.items()).filter((item) => item.user === config.user.id && (item.kind === "report" || item.kind === "self-handle"));
    const rows = waiting.map((item) => h("li", {}, h("a.row", { href: "#/outbox" },
      h("div.row-top", {}, h("b", {}, item.label || ""), h(`span.chip.chip-${item.state === "refused" ? "refused" : "waiting"}`, {}, item.state === "refused" ? t("refused") : t("waitingToSend"))),
      h("div.small.muted", {}, formatDateTime(item.createdAt)))));
    try {
      const result = await getData("/api/v1/field/my-reports/", "my-reports");
      if (closed) return;
      note.replaceChildren(staleNote(result) || "");
      const reports = Array.isArray(result.body) ? result.body : result.body.results || [];
      rows.push(...reports.map((c) => h("li", {}, h("a.row", { href: `#/case/${c.id}`, dataset: { number: c.number } },
        h("div.row-top", {}, h("b", {}, c.number), h(`span.chip.chip-status.st-${c.status}`, {}, c.status_display || c.status)),
        h("div", {}, c.class_name || c.minor_class_name || ""),
        h("div.small.muted", {}, formatDateTime(c.reported_at), c.address ? ` · ${c.address}` : "")))));
      list.replaceChildren(...(rows.length ? rows : [h("li.empty", {}, t("noReports"))]));
    } catch (error) {
      if (closed) return;
      list.replaceChildren(...rows, h("li", {}, errorBox(t("loadFailed"), load)));
    }
    list.dataset.loaded = "true";
  }
  load();
  return () => { closed = true; };
}

/** One case (a duplicate found while reporting, one of my reports): what it is, where it stands, its photos. */
export function renderCase(view, id, { navigate }) {
  const body = h("div.stack", { id: "case-view" }, h("p.empty", {}, t("loading")));
  view.append(body);
  let closed = false;
  (async () => {
    try {
      const result = await getData(`/api/v1/cases/${id}/`, `case:${id}`);
      if (closed) return;
      const c = result.body;
      const tasks = await store.cacheGet("tasks").catch(() => null);
      const task = tasks && (tasks.body.results || []).find((x) => String(x.id) === String(id));
      const facts = [
        [t("status"), c.status_display],
        [t("class"), `${c.minor_class_code} ${c.minor_class_name}`],
        [t("address"), c.address],
        [t("gridCell", { code: "" }).trim(), c.grid_cell_code],
        [t("reported"), formatDateTime(c.reported_at)],
        [t("deadline"), c.deadline ? formatDateTime(c.deadline) : ""],
      ].filter(([, v]) => v);
      body.replaceChildren(
        staleNote(result) || "",
        h("section.card", { dataset: { number: c.number, status: c.status } },
          h("div.task-top", {}, h("b.case-number", {}, c.number), h(`span.chip.chip-status.st-${c.status}`, {}, c.status_display)),
          h("p", {}, c.description),
          h("dl.facts", {}, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
          c.photos && c.photos.length
            ? h("ul.thumbs.thumbs-case", {}, c.photos.map((p) => h("li", {}, h("a", { href: photoUrl(c.number, p.id), target: "_blank", rel: "noopener" },
              h("img", { src: photoUrl(c.number, p.id), alt: p.phase || "", loading: "lazy" })))))
            : null,
          task ? h("a.button.primary.block.big", { href: `#/task/${id}` }, task.task === "check" ? t("checkTitle") : t("verifyTitle")) : null,
        ),
      );
    } catch (error) {
      if (!closed) body.replaceChildren(errorBox(error.status === 404 ? t("taskGone") : t("loadFailed")));
    }
  })();
  return () => { closed = true; };
}

/** The map of my grid. */
export function renderMap(view, { navigate }) {
  const box = h("div.full-map", { id: "grid-map" });
  const recentre = h("button.map-button", { type: "button", "aria-label": t("locateMe"), title: t("locateMe") }, icon(ICONS.locate));
  const card = h("div.map-card", { hidden: true });
  view.append(h("div.map-wrap", {}, box, recentre, card));
  view.classList.add("view-map");
  let closed = false;
  let map = null;
  let stop = () => {};
  import(config.modules.map)
    .then((maps) => maps.gridMap(box, {
      position: lastPosition(),
      onCase: (point) => {
        card.hidden = false;
        card.replaceChildren(
          h("div", {}, h("b", {}, point.number), " ", h("span.small.muted", {}, point.status || "")),
          h("a.button.primary", { href: `#/case/${point.id}` }, t("open")),
          h("button.button", { type: "button", onclick: () => { card.hidden = true; } }, "×"),
        );
      },
    }))
    .then((made) => {
      if (closed) { made.remove(); return; }
      map = made;
      stop = watchPosition((fix) => map.setMe(fix));
      recentre.addEventListener("click", () => map.recentre());
    })
    .catch((error) => { console.error(error); box.replaceChildren(errorBox(t("loadFailed"))); });
  return () => {
    closed = true;
    stop();
    view.classList.remove("view-map");
    if (map) map.remove();
  };
}
