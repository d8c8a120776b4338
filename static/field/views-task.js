// One task: verify (核实) or check (核查) a case on site, passed or failed with a photo and a note; kept on the phone
// first, like every submission, and as a draft while it is being filled in.
import {
  countdown, errorBox, formatDateTime, formatTime, formDraft, getData, h, icon, ICONS, photoUrl, store, t, TASKS_KEY,
  toast,
} from "./common.js";
import * as outbox from "./outbox.js";
import { photoField } from "./photos.js";

async function findTask(id) {
  const kept = await store.cacheGet(TASKS_KEY).catch(() => null);
  const tasks = (kept && kept.body && kept.body.results) || [];
  return tasks.find((task) => String(task.id) === String(id)) || null;
}

function taskKindOfCase(detail) {
  if (detail.status === "verifying") return "verify";
  if (detail.status === "handled") return "check";
  return null;
}

function caseFacts(task, detail) {
  const rows = [
    [t("case"), detail ? detail.number : task.number],
    [t("status"), (detail && detail.status_display) || task.status_display],
    [t("address"), (detail && detail.address) || task.address],
    [t("reported"), formatDateTime(detail ? detail.reported_at : task.reported_at)],
  ].filter(([, value]) => value);
  return h("dl.facts", {}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function casePhotos(detail) {
  if (!detail || !detail.photos || !detail.photos.length) return null;
  return h(
    "ul.thumbs.thumbs-case",
    {},
    detail.photos.map((photo) => h("li", {}, h("a", { href: photoUrl(detail.number, photo.id), target: "_blank", rel: "noopener" },
      h("img", { src: photoUrl(detail.number, photo.id), alt: photo.phase || "", loading: "lazy" })))),
  );
}

/**
 * Verify or check one case. `edit` is a refused outbox item being corrected (its fields and photos come back).
 * Returns the view's cleanup.
 */
export function renderTask(view, id, { edit = null, navigate } = {}) {
  let closed = false;
  const draftKey = `task:${id}`;
  const body = h("div.stack");
  view.append(body);
  body.append(h("p.empty", {}, t("loading")));

  async function build() {
    const task = (edit && edit.meta && edit.meta.task) || (await findTask(id));
    let detail = null;
    try {
      detail = (await getData(`/api/v1/cases/${id}/`, `case:${id}`)).body;
    } catch (error) {
      if (!task) {
        body.replaceChildren(errorBox(t("taskGone")));
        return;
      }
    }
    if (closed) return;
    const kind = (edit && edit.kind) || (task && task.task) || (detail && taskKindOfCase(detail));
    if (!kind) {
      body.replaceChildren(errorBox(t("taskGone")));
      return;
    }
    const info = task || {
      id: detail.id, number: detail.number, task: kind, class_name: detail.minor_class_name,
      description: detail.description, address: detail.address, deadline: detail.deadline, status_display: detail.status_display,
    };
    const due = countdown(info.deadline);
    const draft = formDraft(draftKey, (at) => {
      draftNote.hidden = false;
      draftNote.textContent = t("draftSaved", { time: formatTime(at) });
      form.dataset.draftSaved = String(at.getTime());
    });
    const kept = edit ? null : await draft.load();
    const saved = edit
      ? { outcome: edit.fields[kind === "verify" ? "confirmed" : "passed"], note: edit.fields.reason, photos: edit.files.photos || [] }
      : kept && { ...kept, photos: (kept.files && kept.files.photos) || [] };
    const draftNote = h("p.small.muted.draft-note", { hidden: true });

    const yes = kind === "verify" ? t("confirmed") : t("passed");
    const no = kind === "verify" ? t("notConfirmed") : t("failed");
    const outcomeName = kind === "verify" ? "confirmed" : "passed";
    const outcome = h(
      "fieldset.field.outcome",
      {},
      h("legend", {}, kind === "verify" ? t("verifyTitle") : t("checkTitle"), h("span.req", { "aria-hidden": "true" }, " *")),
      h("label.choice.choice-yes", {}, h("input", { type: "radio", name: "outcome", value: "true", checked: saved && saved.outcome === "true" }), icon(ICONS.check), h("span", {}, yes)),
      h("label.choice.choice-no", {}, h("input", { type: "radio", name: "outcome", value: "false", checked: saved && saved.outcome === "false" }), icon(ICONS.cross), h("span", {}, no)),
    );
    const outcomeError = h("p.field-error", { hidden: true });
    outcome.append(outcomeError);
    const photos = photoField({ name: "photos", label: t("photos"), blobs: (saved && saved.photos) || [], required: true, onChange: () => saveDraft(true) });
    const noteInput = h("textarea", { name: "reason", rows: 3, id: "task-note", value: (saved && saved.note) || "" });
    const noteError = h("p.field-error", { hidden: true });
    const submit = h("button.button.primary.block.big", { type: "submit" }, icon(ICONS.send), t("saveAndSend"));
    const form = h(
      "form.form",
      { id: "task-form", novalidate: true, dataset: { task: kind } },
      outcome,
      photos.node,
      h("div.field", {}, h("label", { for: "task-note" }, t("note")), noteInput, noteError),
      submit,
      draftNote,
    );

    function values() {
      const checked = form.querySelector("input[name=outcome]:checked");
      return { outcome: checked ? checked.value : "", note: noteInput.value.trim(), photos: photos.blobs() };
    }

    function saveDraft(photosChanged = false) {
      if (edit || closed) return;
      const { photos: blobs, ...text } = values();
      draft.save(text, photosChanged ? { photos: blobs } : undefined);
    }
    form.addEventListener("input", () => saveDraft());
    form.addEventListener("change", (event) => { if (event.target.type !== "file") saveDraft(); });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = values();
      let ok = true;
      outcomeError.hidden = Boolean(v.outcome);
      outcomeError.textContent = t("chooseOutcome");
      if (!v.outcome) ok = false;
      if (!v.photos.length) { photos.invalid(t("photoRequired")); ok = false; } else photos.invalid("");
      const needsNote = v.outcome === "false";
      noteError.textContent = t("noteRequired");
      noteError.hidden = !(needsNote && !v.note);
      if (needsNote && !v.note) ok = false;
      if (!ok) return;
      submit.disabled = true;
      const passed = v.outcome === "true";
      const label = `${kind === "verify" ? (passed ? t("verifiedTrue") : t("verifiedFalse")) : passed ? t("checkPassed") : t("checkFailed")} · ${info.number} ${info.class_name || ""}`;
      const submission = {
        kind,
        url: `/api/v1/cases/${id}/${kind}/`,
        fields: { [outcomeName]: v.outcome, reason: v.note },
        files: { photos: v.photos },
        label,
        caseId: id,
        meta: { task: info },
      };
      closed = true; // no draft write may land after the clear below
      if (edit) await outbox.replace(edit.id, submission);
      else await outbox.enqueue(submission);
      await draft.clear();
      toast(t("savedOnPhone"));
      navigate("#/tasks");
    });

    body.replaceChildren(
      h(
        "section.card.task-card",
        {},
        h("div.task-top", {}, h(`span.chip.chip-${kind}`, {}, kind === "check" ? t("check") : t("verify")),
          info.assigned_to_me ? h("span.chip.chip-mine", {}, t("assignedToMe")) : null,
          due.text ? h(`span.due${due.overdue ? ".due-over" : ""}`, {}, due.text) : null),
        h("h3", {}, info.class_name || ""),
        info.description ? h("p", {}, info.description) : null,
        caseFacts(info, detail),
        casePhotos(detail),
      ),
      form,
    );
    if (kept && !edit) toast(t("draftRestored"));
  }
  build();
  return () => { closed = true; };
}
