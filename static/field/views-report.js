// Report a problem (上报) or self-handle one (自行处置): the class (searched by its Chinese name, or one of the
// classes most reported in my area), the position (GPS, corrected on a small map, with the grid cell it falls in),
// photos, a description and the urgency; the nearest open cases of the same class are shown before sending, with a
// way to open one instead. The form is kept as a draft while it is typed; the submission goes to the outbox.
import {
  config, distanceM, formatDistance, formatTime, formDraft, getData, h, HttpError, icon, ICONS, lastPosition, positionError, store, t, toast,
  watchPosition,
} from "./common.js";
import * as outbox from "./outbox.js";
import { photoField } from "./photos.js";

const CLASSES_KEY = "classes";
const CLASSES_MAX_AGE_MS = 24 * 3600 * 1000;
const SHOWN_RESULTS = 30;
const STILL_M = 5;

// --- the catalogue on the phone (a compact copy, refreshed daily), searched locally

// The frequent classes come from the catalogue API (full rows); the phone's copy of the catalogue from
// /m/classes.json (already compact).
const compact = (c) => ({
  kind: c.kind, code: c.full_code, name: c.name, name_en: c.name_en, major: c.major_name, selfHandle: Boolean(c.self_handle_allowed),
});

let classesLoading = null;

async function classes() {
  if (classesLoading) return classesLoading;
  classesLoading = (async () => {
    const kept = await store.cacheGet(CLASSES_KEY).catch(() => null);
    if (kept && Date.now() - kept.at < CLASSES_MAX_AGE_MS) return kept.body;
    try {
      const response = await fetch(config.classesUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new HttpError(response.status, null);
      const list = (await response.json()).results;
      await store.cachePut(CLASSES_KEY, list);
      return list;
    } catch (error) {
      classesLoading = null;
      if (kept) return kept.body;
      throw error;
    }
  })();
  return classesLoading;
}

async function frequentClasses() {
  try {
    const result = await getData("/api/v1/catalogue/classes/frequent/?limit=12", "classes-frequent");
    const body = result.body;
    return (Array.isArray(body) ? body : body.results || []).map(compact);
  } catch (_) {
    return [];
  }
}

function search(list, query) {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  return list
    .map((c) => {
      const name = c.name.toLowerCase();
      let score = -1;
      if (c.code.startsWith(q)) score = 0;
      else if (name.startsWith(q)) score = 1;
      else if (name.includes(q)) score = 2;
      else if ((c.name_en || "").toLowerCase().includes(q)) score = 3;
      else if ((c.major || "").toLowerCase().includes(q)) score = 4;
      return [score, c];
    })
    .filter(([score]) => score >= 0)
    .sort((a, b) => a[0] - b[0] || a[1].kind.localeCompare(b[1].kind) || a[1].code.localeCompare(b[1].code))
    .map(([, c]) => c);
}

const kindName = (kind) => ({ component: t("component"), event: t("event"), service: t("service") })[kind] || kind;
const classLabel = (c) => `${c.code} ${c.name}`;

// --- the view

/**
 * `mode` "report" or "self-handle"; `edit` a refused outbox item being corrected. Returns the view's cleanup.
 */
export function renderReport(view, { mode = "report", edit = null, navigate }) {
  const selfHandle = mode === "self-handle";
  const draftKey = `form:${mode}`;
  const cleanups = [];
  let closed = false;
  const state = {
    cls: null,
    position: null, // {lon, lat, accuracy, manual}
    cell: null,
  };

  // Mode switch.
  const modes = h(
    "div.segmented",
    { role: "tablist" },
    h("a", { href: "#/report", role: "tab", "aria-selected": String(!selfHandle), class: selfHandle ? "" : "on" }, t("reportTitle")),
    h("a", { href: "#/self-handle", role: "tab", "aria-selected": String(selfHandle), class: selfHandle ? "on" : "" }, t("selfHandleTitle")),
  );

  // Class picker.
  const classInput = h("input", { type: "search", id: "class-search", placeholder: t("searchClass"), autocomplete: "off", enterkeyhint: "search" });
  const classResults = h("ul.picks", { id: "class-results" });
  const frequentBox = h("div.frequent", {}, h("p.small.muted", {}, t("frequentClasses")));
  const frequentList = h("ul.chips", { id: "class-frequent" });
  frequentBox.append(frequentList);
  const chosen = h("div.chosen", { id: "class-chosen", hidden: true });
  const classError = h("p.field-error", { hidden: true });
  const classField = h("div.field", {}, h("label", { for: "class-search" }, t("class"), h("span.req", { "aria-hidden": "true" }, " *")),
    chosen, h("div.search", {}, icon(ICONS.search), classInput), classResults, frequentBox, classError);

  // Position.
  const mapBox = h("div.mini-map", { id: "report-map" });
  const where = h("p.where", { id: "report-where" }, t("locating"));
  const locate = h("button.button.small-button", { type: "button", id: "locate-me" }, icon(ICONS.locate), t("locateMe"));
  const positionError2 = h("p.field-error", { hidden: true });
  const positionField = h("div.field", {}, h("span.label", {}, t("position"), h("span.req", { "aria-hidden": "true" }, " *")),
    mapBox, h("div.where-row", {}, where, locate), h("p.small.muted", {}, t("dragPin")), positionError2);

  // Duplicates.
  const duplicates = h("section.duplicates", { id: "duplicates", hidden: true, "aria-live": "polite" });

  // Photos.
  const onChange = () => saveDraft(true);
  const photos = selfHandle ? null : photoField({ name: "photos", label: t("photos"), required: true, onChange });
  const before = selfHandle ? photoField({ name: "before_photos", label: t("beforePhotos"), required: true, onChange }) : null;
  const after = selfHandle ? photoField({ name: "after_photos", label: t("afterPhotos"), required: true, onChange }) : null;

  // Text.
  const description = h("textarea", { id: "report-description", name: "description", rows: 3, placeholder: t("descriptionPlaceholder") });
  const descriptionError = h("p.field-error", { hidden: true });
  const urgency = h(
    "fieldset.field.segmented-field",
    {},
    h("legend", {}, t("urgency")),
    h("div.segmented.radios", {}, config.urgencies.map((u, i) =>
      h("label", {}, h("input", { type: "radio", name: "urgency", value: u.value, checked: i === 0 }), h("span", {}, u.label)))),
  );
  const address = h("input", { type: "text", id: "report-address", name: "address", maxlength: 255, autocomplete: "off" });
  const submit = h("button.button.primary.block.big", { type: "submit" }, icon(ICONS.send), selfHandle ? t("recordAndClose") : t("saveAndSend"));
  const clear = h("button.button.link", { type: "button" }, t("discardDraft"));
  const draftNote = h("p.small.muted.draft-note", { id: "draft-note", hidden: true });

  const form = h(
    "form.form",
    { id: "report-form", novalidate: true, dataset: { mode } },
    selfHandle ? h("p.small.muted", {}, t("selfHandleHint")) : null,
    classField,
    positionField,
    duplicates,
    photos ? photos.node : null,
    before ? before.node : null,
    after ? after.node : null,
    h("div.field", {}, h("label", { for: "report-description" }, t("description"), h("span.req", { "aria-hidden": "true" }, " *")), description, descriptionError),
    urgency,
    h("div.field", {}, h("label", { for: "report-address" }, t("addressOptional")), address),
    submit,
    edit ? null : h("div.form-foot", {}, draftNote, clear),
  );
  view.append(edit ? null : modes, form);

  // --- class choice

  let catalogue = [];
  let frequent = [];
  const allowed = (c) => !selfHandle || c.selfHandle;

  function pickButton(c) {
    return h("button.pick", { type: "button", dataset: { code: c.code, kind: c.kind }, onclick: () => choose(c) },
      h("b", {}, c.code), " ", c.name, h("span.muted.small", {}, ` ${kindName(c.kind)} · ${c.major || ""}`));
  }

  function drawResults() {
    const query = classInput.value;
    if (!query.trim()) {
      classResults.replaceChildren();
      frequentBox.hidden = state.cls !== null || !frequent.filter(allowed).length;
      return;
    }
    frequentBox.hidden = true;
    if (!catalogue.length) {
      classResults.replaceChildren(h("li.muted.small", {}, t("classesOffline")));
      return;
    }
    const found = search(catalogue, query).filter(allowed).slice(0, SHOWN_RESULTS);
    classResults.replaceChildren(...(found.length ? found.map((c) => h("li", {}, pickButton(c))) : [h("li.muted.small", {}, t("noClassFound"))]));
  }

  function drawFrequent() {
    frequentList.replaceChildren(...frequent.filter(allowed).map((c) =>
      h("li", {}, h("button.chip-button", { type: "button", dataset: { code: c.code, kind: c.kind }, onclick: () => choose(c) }, c.name))));
    drawResults();
  }

  function choose(c, { quiet = false } = {}) {
    state.cls = c;
    classInput.value = "";
    classResults.replaceChildren();
    chosen.hidden = !c;
    frequentBox.hidden = Boolean(c);
    classError.hidden = true;
    if (c) {
      chosen.replaceChildren(
        h("span.chosen-name", {}, h("b", {}, c.code), ` ${c.name}`),
        h("span.muted.small", {}, ` ${kindName(c.kind)}`),
        h("button.button.link", { type: "button", onclick: () => { choose(null); classInput.focus(); } }, t("change")),
      );
      if (selfHandle && !c.selfHandle) {
        classError.textContent = t("notForSelfHandle");
        classError.hidden = false;
      }
    }
    if (!quiet) { saveDraft(); lookForDuplicates(); }
  }

  classInput.addEventListener("input", drawResults);
  classInput.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault(); // not a submit of the whole form: the first match, if any
    const first = classResults.querySelector(".pick");
    if (first) first.click();
  });

  classes().then((list) => { catalogue = list; drawResults(); }).catch(() => drawResults());
  frequentClasses().then((list) => { frequent = list; if (!closed) drawFrequent(); });

  // --- position, grid cell and duplicates

  let pin = null;
  let mapLoading = null;
  function ensureMap() {
    if (!mapLoading) {
      mapLoading = import(config.modules.map)
        .then((maps) => maps.pinMap(mapBox, {
          position: state.position,
          onPick: (p) => setPosition({ ...p, accuracy: 0, manual: true }, { follow: false }),
        }))
        .then((made) => { if (closed) { made.remove(); return null; } pin = made; if (state.position) pin.setPosition(state.position, { accuracyM: state.position.accuracy, follow: true }); return made; })
        .catch((error) => { console.error(error); mapBox.replaceChildren(h("p.muted.small", {}, t("loadFailed"))); });
    }
    return mapLoading;
  }

  function describeWhere() {
    const p = state.position;
    if (!p) {
      const e = positionError();
      where.textContent = e && e.code === 1 ? t("positionDenied") : t("noPosition");
      return;
    }
    const parts = [];
    if (state.cell === false) parts.push(t("outsideCity"));
    else if (state.cell) parts.push(t("gridCell", { code: state.cell.code }));
    else if (!navigator.onLine) parts.push(t("gridCellLater"));
    if (p.accuracy && !p.manual) parts.push(t("accuracy", { metres: p.accuracy }));
    parts.push(`${p.lon.toFixed(5)}, ${p.lat.toFixed(5)}`);
    where.textContent = parts.join(" · ");
    where.dataset.cell = state.cell ? state.cell.code : "";
  }

  let locateTimer = null;
  let locateController = null;
  function locateCell() {
    clearTimeout(locateTimer);
    locateTimer = setTimeout(async () => {
      const p = state.position;
      if (!p) return;
      if (locateController) locateController.abort();
      locateController = new AbortController();
      try {
        const response = await fetch(`/api/v1/locate/?lon=${p.lon.toFixed(6)}&lat=${p.lat.toFixed(6)}`, {
          credentials: "same-origin", headers: { Accept: "application/json" }, signal: locateController.signal,
        });
        if (response.status === 404) state.cell = false;
        else if (response.ok) {
          const body = await response.json();
          state.cell = body.grid_cell || null;
          if (body.grid_cell && pin) showCell(body.grid_cell.id);
        }
      } catch (error) {
        if (error.name === "AbortError") return; // a newer position is being located
        state.cell = null;
      }
      if (!closed) describeWhere();
    }, 400);
  }

  async function showCell(id) {
    try {
      const response = await fetch(`/api/v1/grid-cells/${id}/`, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok && pin) pin.showCell(await response.json());
    } catch (_) { /* the outline is a nicety */ }
  }

  function setPosition(p, { follow = true } = {}) {
    const before = state.position;
    state.position = { lon: p.lon, lat: p.lat, accuracy: p.accuracy || 0, manual: Boolean(p.manual) };
    positionError2.hidden = true;
    if (pin && follow) pin.setPosition(state.position, { accuracyM: state.position.manual ? 0 : state.position.accuracy });
    // A GPS fix a few metres from the last one (a phone standing still) asks the server nothing again.
    const moved = !before || distanceM(before, state.position) > STILL_M;
    if (moved) state.cell = null;
    describeWhere();
    if (moved) {
      locateCell();
      lookForDuplicates();
    }
    saveDraft();
  }

  let duplicatesTimer = null;
  function lookForDuplicates() {
    clearTimeout(duplicatesTimer);
    duplicatesTimer = setTimeout(async () => {
      const { cls, position } = state;
      if (!cls || !position || selfHandle) { duplicates.hidden = true; return; }
      const url = `/api/v1/cases/nearby/?minor_class=${cls.code}&kind=${cls.kind}&lon=${position.lon.toFixed(6)}&lat=${position.lat.toFixed(6)}`;
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!response.ok || closed) return;
        const body = await response.json();
        const found = Array.isArray(body) ? body : body.results || [];
        drawDuplicates(found);
      } catch (_) { /* offline: the dispatcher's intake still merges duplicates */ }
    }, 500);
  }

  function drawDuplicates(found) {
    duplicates.hidden = !found.length;
    duplicates.replaceChildren(
      h("h3", {}, t("duplicates"), h("span.count", {}, String(found.length))),
      h("p.small.muted", {}, t("duplicatesHint")),
      h("ul.list.dupes", {}, found.map((c) => h("li", {}, h("a.dupe", { href: `#/case/${c.id}`, dataset: { number: c.number } },
        h("span.dupe-main", {}, h("b", {}, c.number), ` ${c.class_name || ""}`,
          h("span.small.muted", {}, ` · ${c.status_display || ""}`), c.description ? h("span.dupe-desc", {}, c.description) : null),
        h("span.dupe-side", {}, formatDistance(c.distance_m), h("span.button.small-button", {}, t("open"))))))),
    );
  }

  locate.addEventListener("click", () => {
    const known = lastPosition();
    if (known) setPosition({ ...known, manual: false });
    navigator.geolocation && navigator.geolocation.getCurrentPosition(
      (p) => setPosition({ lon: p.coords.longitude, lat: p.coords.latitude, accuracy: Math.round(p.coords.accuracy || 0) }),
      () => describeWhere(),
      { enableHighAccuracy: true, maximumAge: 10_000, timeout: 20_000 },
    );
  });

  // --- draft: every change is kept on the phone until the form is sent or cleared

  let restoring = true;
  const draft = formDraft(draftKey, (at) => {
    draftNote.hidden = false;
    draftNote.textContent = t("draftSaved", { time: formatTime(at) });
    form.dataset.draftSaved = String(at.getTime());
  });
  function values() {
    const checked = form.querySelector("input[name=urgency]:checked");
    return {
      cls: state.cls,
      position: state.position,
      description: description.value,
      urgency: checked ? checked.value : config.urgencies[0].value,
      address: address.value,
      photos: photos ? photos.blobs() : [],
      before: before ? before.blobs() : [],
      after: after ? after.blobs() : [],
    };
  }
  function saveDraft(photosChanged = false) {
    if (restoring || edit || closed) return;
    const { photos: p, before: b, after: a, ...text } = values();
    draft.save(text, photosChanged ? { photos: p, before: b, after: a } : undefined);
  }
  form.addEventListener("input", () => saveDraft());
  form.addEventListener("change", (event) => { if (event.target.type !== "file") saveDraft(); });

  function restore(v) {
    if (v.cls) choose(v.cls, { quiet: true });
    if (v.position) state.position = v.position;
    description.value = v.description || "";
    address.value = v.address || "";
    const radio = form.querySelector(`input[name=urgency][value="${v.urgency}"]`);
    if (radio) radio.checked = true;
    const files = v.files || {};
    if (photos) photos.set(files.photos || []);
    if (before) before.set(files.before || []);
    if (after) after.set(files.after || []);
  }

  function fromOutbox(item) {
    const f = item.fields;
    return {
      cls: item.meta.cls,
      position: { lon: Number(f.lon), lat: Number(f.lat), accuracy: 0, manual: true },
      description: f.description,
      urgency: f.urgency,
      address: f.address,
      files: { photos: item.files.photos || [], before: item.files.before_photos || [], after: item.files.after_photos || [] },
    };
  }

  clear.addEventListener("click", async () => {
    await draft.clear();
    navigate(`#/${mode}`, { reload: true });
  });

  (async () => {
    const kept = edit ? fromOutbox(edit) : await draft.load();
    if (closed) return;
    if (kept) restore(kept);
    restoring = false;
    const anyPhoto = kept && Object.values(kept.files || {}).some((blobs) => blobs && blobs.length);
    if (kept && !edit && (kept.description || kept.cls || anyPhoto)) toast(t("draftRestored"));
    describeWhere();
    ensureMap();
    if (state.position) { locateCell(); lookForDuplicates(); }
    // Follow the GPS until the inspector places the pin by hand.
    cleanups.push(watchPosition((fix) => {
      if (state.position && state.position.manual) return;
      setPosition({ ...fix, manual: false });
    }, () => describeWhere()));
  })();

  // --- send (to the outbox first)

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = values();
    let ok = true;
    const fail = (node, message) => { node.textContent = message; node.hidden = false; ok = false; };
    classError.hidden = true;
    positionError2.hidden = true;
    descriptionError.hidden = true;
    if (!v.cls) fail(classError, t("classRequired"));
    else if (selfHandle && !v.cls.selfHandle) fail(classError, t("notForSelfHandle"));
    if (!v.position) fail(positionError2, t("positionRequired"));
    if (!v.description.trim()) fail(descriptionError, t("required"));
    for (const [field, blobs] of [[photos, v.photos], [before, v.before], [after, v.after]]) {
      if (!field) continue;
      field.invalid(blobs.length ? "" : t("photoRequired"));
      if (!blobs.length) ok = false;
    }
    if (!ok) {
      const first = form.querySelector(".field-error:not([hidden])");
      if (first) first.closest(".field, fieldset").scrollIntoView({ block: "center", behavior: "smooth" });
      return;
    }
    submit.disabled = true;
    const fields = {
      kind: v.cls.kind,
      minor_class: v.cls.code,
      lon: v.position.lon.toFixed(7),
      lat: v.position.lat.toFixed(7),
      srs: "wgs84",
      description: v.description.trim(),
      urgency: v.urgency,
      address: v.address.trim(),
    };
    const submission = selfHandle
      ? { kind: "self-handle", url: "/api/v1/cases/self-handle/", fields, files: { before_photos: v.before, after_photos: v.after } }
      : { kind: "report", url: "/api/v1/cases/", fields: { source: "inspector", ...fields }, files: { photos: v.photos } };
    submission.label = `${classLabel(v.cls)} · ${fields.description.slice(0, 40)}`;
    submission.meta = { cls: v.cls, cell: state.cell || null };
    closed = true; // no draft write may land after the clear below
    if (edit) await outbox.replace(edit.id, submission);
    else await outbox.enqueue(submission);
    await draft.clear();
    toast(t("savedOnPhone"));
    navigate("#/outbox");
  });

  return () => {
    closed = true;
    clearTimeout(duplicatesTimer);
    clearTimeout(locateTimer);
    cleanups.forEach((fn) => fn());
    if (pin) pin.remove();
  };
}
