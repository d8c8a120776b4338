// Photos from the camera: each is drawn onto a canvas no larger than 1600 px on its long side and kept as a JPEG
// Blob (a phone's 12-48 MP photo is 3-10 MB; this is 200-500 KB, which a weak connection can still send).
import { h, icon, ICONS, t } from "./common.js";

const MAX_SIDE = 1600;
const QUALITY = 0.85;

async function decode(file) {
  if (typeof createImageBitmap === "function") {
    try {
      return await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (_) { /* fall back to an <img> below */ }
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** The photo as a JPEG Blob of at most MAX_SIDE px on its long side (the original if it cannot be decoded). */
export async function downscale(file, maxSide = MAX_SIDE) {
  let image;
  try {
    image = await decode(file);
  } catch (_) {
    return file; // the server checks what it is
  }
  const width = image.width || image.naturalWidth;
  const height = image.height || image.naturalHeight;
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h2 = Math.max(1, Math.round(height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h2;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff"; // a transparent PNG turns white, not black, as a JPEG
  context.fillRect(0, 0, w, h2);
  context.drawImage(image, 0, 0, w, h2);
  if (typeof image.close === "function") image.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", QUALITY));
  return blob || file;
}

/**
 * A photo field: a big "Take photo" button (the camera on a phone; several photos allowed), thumbnails with a
 * remove button each. Returns {node, blobs(), set(blobs)}; onChange() after every change.
 */
export function photoField({ name, label, blobs = [], onChange = () => {}, required = false }) {
  let current = [...blobs];
  const urls = new Map();
  const list = h("ul.thumbs", { "aria-live": "polite" });
  const error = h("p.field-error", { hidden: true });
  const input = h("input.sr-only", {
    type: "file",
    accept: "image/*",
    capture: "environment",
    multiple: true,
    name,
    id: `photos-${name}`,
  });
  const busy = h("span.muted.small", { hidden: true }, t("loading"));

  function urlOf(blob) {
    if (!urls.has(blob)) urls.set(blob, URL.createObjectURL(blob));
    return urls.get(blob);
  }

  function draw() {
    list.replaceChildren(
      ...current.map((blob, i) =>
        h(
          "li",
          {},
          h("img", { src: urlOf(blob), alt: `${label} ${i + 1}` }),
          h("button.thumb-remove", {
            type: "button",
            "aria-label": `${t("removePhoto")} ${i + 1}`,
            onclick: () => {
              const [gone] = current.splice(i, 1);
              if (urls.has(gone)) URL.revokeObjectURL(urls.get(gone));
              urls.delete(gone);
              draw();
              onChange();
            },
          }, "×"),
        ),
      ),
    );
    node.dataset.count = String(current.length);
  }

  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    if (!files.length) return;
    busy.hidden = false;
    for (const file of files) current.push(await downscale(file));
    busy.hidden = true;
    error.hidden = true;
    draw();
    onChange();
  });

  const node = h(
    "fieldset.field.photos",
    { dataset: { name } },
    h("legend", {}, label, required ? h("span.req", { "aria-hidden": "true" }, " *") : null),
    list,
    h("label.button.camera", { for: input.id }, icon(ICONS.camera), t("takePhoto")),
    input,
    busy,
    error,
  );
  draw();
  return {
    node,
    blobs: () => [...current],
    set(next) { current = [...next]; draw(); },
    invalid(message) { error.textContent = message; error.hidden = !message; },
  };
}
