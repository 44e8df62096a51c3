// The demo page: one photo to the Extraction API (POST /) and to the Image API's face fitter
// (landmarks, pose), drawn on a canvas with a card per face, and a facen comparison.
// Vanilla JS, same origin only; every text from the server goes in through textContent.
"use strict";

(() => {
  const API = new URL("../", location.href);
  const FITTER = new URL("../face-detector-face-fitter/v2/process/image", location.href);
  // facen cosine at or above which two faces are the same person: GET /'s facen.same_person_threshold
  // (0.363 for the default sface, 0.746 for sface+dlib, 0.395 for mobilefacenet); sface's until
  // the banner has answered.
  let SAME_PERSON = 0.363;
  const FLAGS = ["need_facen", "need_gender", "need_age", "need_emotions", "need_normalized", "auto_rotate"];
  const PALETTE_SIZE = 6;

  const $ = (id) => document.getElementById(id);
  const photos = { A: null, B: null }; // {label, faces: [...]} per photo that has been extracted
  let runId = 0;
  let rawUrl = null;

  // ------------------------------------------------------------ DOM helpers

  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key in node) node[key] = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child !== null) node.append(child);
    return node;
  }

  const fixed = (x, digits = 3) => Number(x).toFixed(digits);
  const percent = (x) => `${(100 * x).toFixed(1)}%`;
  const faceColor = (i) => getComputedStyle(document.documentElement).getPropertyValue(`--face-${i % PALETTE_SIZE}`).trim();

  function showError(box, error) {
    box.replaceChildren();
    if (!error) {
      box.hidden = true;
      return;
    }
    box.append(el("span", { class: "error-code", text: error.code }));
    if (error.param) box.append(el("span", { class: "error-param", text: `param: ${error.param}` }));
    box.append(el("span", { class: "error-desc", text: error.desc }));
    box.hidden = false;
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  // ------------------------------------------------------------ HTTP

  async function readJson(response) {
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      return { code: `HTTP_${response.status}`, desc: text.slice(0, 500) || response.statusText };
    }
  }

  // The API's error for this answer, if any: an envelope error (HTTP 4xx/5xx {code, desc}) or the
  // first request's {"error": {code, desc, param}}.
  function extractionError(status, body) {
    if (body && typeof body.code === "string") return body;
    const element = body && Array.isArray(body.responses) ? body.responses[0] : null;
    if (element && element.error) return element.error;
    if (status !== 200 || !element) return { code: `HTTP_${status}`, desc: "unexpected answer from the daemon" };
    return null;
  }

  function extractionRequest(flags) {
    return { requests: [{ image: "multipart:photo", ...flags }] };
  }

  async function extract(file, flags) {
    const form = new FormData();
    form.append("request", JSON.stringify(extractionRequest(flags)));
    form.append("photo", file, file.name || "photo");
    try {
      const response = await fetch(API, { method: "POST", body: form });
      const body = await readJson(response);
      return { body, error: extractionError(response.status, body) };
    } catch (e) {
      return { body: null, error: { code: "NETWORK_ERROR", desc: `the daemon did not answer (${e.message})` } };
    }
  }

  // The Image API's 422/501 answers are FastAPI-shaped: {"detail": [{"loc", "msg", "type"}]} or a string.
  function fitterError(status, body) {
    if (status === 200 && body && Array.isArray(body.objects)) return null;
    const detail = body && body.detail;
    if (Array.isArray(detail) && detail[0]) return { code: detail[0].type || `HTTP_${status}`, desc: detail[0].msg };
    return { code: `HTTP_${status}`, desc: typeof detail === "string" ? detail : (body && body.desc) || "" };
  }

  async function fit(file) {
    const form = new FormData();
    form.append("image", file, file.name || "photo");
    try {
      const response = await fetch(FITTER, { method: "POST", body: form });
      const body = await readJson(response);
      return { body, error: fitterError(response.status, body) };
    } catch (e) {
      return { body: null, error: { code: "NETWORK_ERROR", desc: e.message } };
    }
  }

  // The photo as the browser decodes it (EXIF orientation applied, as the API applies it), or
  // null for a format the browser cannot show (TIFF, or not an image).
  function loadImage(file) {
    return new Promise((resolve) => {
      const url = URL.createObjectURL(file);
      const image = new Image();
      const done = (result) => {
        URL.revokeObjectURL(url);
        resolve(result);
      };
      image.onload = () => done(image);
      image.onerror = () => done(null);
      image.src = url;
    });
  }

  async function loadBanner() {
    try {
      const banner = await readJson(await fetch(API));
      const models = banner.models || {};
      if (banner.facen && typeof banner.facen.same_person_threshold === "number") {
        SAME_PERSON = banner.facen.same_person_threshold;
        $("threshold").textContent = `${fixed(SAME_PERSON, 3)} (facen ${banner.facen.model})`;
      }
      $("liveness-option").hidden = !("liveness_v2" in models);
      $("banner").textContent = `${banner.name || "daemon"} ${banner.version || ""} · detectors: ${(banner.detectors || []).join(", ")}`;
      $("version").textContent = `${Object.keys(models).length} models · liveness pack ${"liveness_v2" in models ? "installed" : "not installed"}`;
    } catch (e) {
      $("banner").textContent = `The daemon did not answer GET / (${e.message}).`;
    }
  }

  // ------------------------------------------------------------ options

  function chosenFlags() {
    const form = $("controls");
    const flags = {};
    for (const name of FLAGS) flags[name] = form.elements[name].checked;
    flags.need_liveness = !$("liveness-option").hidden && form.elements.need_liveness.checked;
    return flags;
  }

  const wantLandmarks = () => $("controls").elements.landmarks.checked;

  // ------------------------------------------------------------ landmarks

  function iou(a, b) {
    const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (w <= 0 || h <= 0) return 0;
    const area = (r) => (r.right - r.left) * (r.bottom - r.top);
    return (w * h) / (area(a) + area(b) - w * h);
  }

  // The fitter's object for each face (its box in pixels overlapping the face's by IoU >= 0.5), or
  // null. The fitter does not auto-rotate, so its points for a face found turned are not trusted.
  function matchFitter(faces, objects, width, height) {
    const boxes = objects.map((o) => ({
      left: o.bbox[0] * width, top: o.bbox[1] * height, right: o.bbox[2] * width, bottom: o.bbox[3] * height,
    }));
    return faces.map((face) => {
      if (turned(face)) return null;
      let best = null;
      let bestIou = 0.5;
      boxes.forEach((box, i) => {
        const overlap = iou(face.bbox, box);
        if (overlap >= bestIou) [best, bestIou] = [objects[i], overlap];
      });
      return best;
    });
  }

  function landmarkPoints(object, width, height) {
    const points = (object && object.keypoints && object.keypoints.points) || [];
    return points.map((p) => [p.proj[0] * width, p.proj[1] * height]);
  }

  // ------------------------------------------------------------ canvas

  // Which way the top of the face points in the image: the image was turned `rotation` degrees
  // clockwise to see the face upright.
  const UP = { 0: [0, -1], 90: [-1, 0], 180: [0, 1], 270: [1, 0] };

  function drawBox(ctx, box, color, scale) {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2.5 * scale;
    ctx.strokeRect(box.left, box.top, box.right - box.left, box.bottom - box.top);
  }

  function drawLabel(ctx, text, box, color, scale) {
    ctx.font = `600 ${Math.round(14 * scale)}px system-ui, sans-serif`;
    const pad = 4 * scale;
    const height = 18 * scale;
    const width = ctx.measureText(text).width + 2 * pad;
    const y = box.top - height >= 0 ? box.top - height : box.top;
    ctx.fillStyle = color;
    ctx.fillRect(box.left - 1.25 * scale, y, width, height);
    ctx.fillStyle = "#111";
    ctx.textBaseline = "middle";
    ctx.fillText(text, box.left - 1.25 * scale + pad, y + height / 2);
  }

  function drawUpArrow(ctx, box, rotation, color, scale) {
    const [dx, dy] = UP[rotation] || UP[0];
    const cx = (box.left + box.right) / 2;
    const cy = (box.top + box.bottom) / 2;
    const reach = Math.abs(dx) * (box.right - box.left) / 2 + Math.abs(dy) * (box.bottom - box.top) / 2;
    const tip = [cx + dx * (reach + 14 * scale), cy + dy * (reach + 14 * scale)];
    const base = [cx + dx * (reach + 2 * scale), cy + dy * (reach + 2 * scale)];
    const side = 7 * scale;
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.moveTo(...tip);
    ctx.lineTo(base[0] - dy * side, base[1] + dx * side);
    ctx.lineTo(base[0] + dy * side, base[1] - dx * side);
    ctx.closePath();
    ctx.fill();
  }

  function drawPoints(ctx, points, color, scale) {
    ctx.lineWidth = 1.5 * scale;
    for (const [x, y] of points) {
      ctx.beginPath();
      ctx.arc(x, y, 3 * scale, 0, 2 * Math.PI);
      ctx.fillStyle = "#fff";
      ctx.fill();
      ctx.strokeStyle = color;
      ctx.stroke();
    }
  }

  const turned = (face) => Boolean(face.rotation); // found in the image turned by 90, 180 or 270 degrees

  function faceLabel(face, i) {
    return turned(face) ? `${i + 1} ↻${face.rotation}°` : `${i + 1}`;
  }

  // The canvas holds a small photo enlarged (to about 1200 px across, at most 3x) so that boxes
  // and labels stay crisp when it is shown large; everything is drawn in the photo's pixels.
  function drawPhoto(image, faces, fitted) {
    const canvas = $("canvas");
    const { naturalWidth: width, naturalHeight: height } = image;
    const zoom = Math.min(3, Math.max(1, 1200 / Math.max(width, height)));
    canvas.width = Math.round(width * zoom);
    canvas.height = Math.round(height * zoom);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(zoom, 0, 0, zoom, 0, 0);
    ctx.drawImage(image, 0, 0, width, height);
    const scale = Math.max(0.35, Math.max(width, height) / 700); // line and label size, photo pixels
    let landmarks = 0;
    faces.forEach((face, i) => {
      const color = faceColor(i);
      const points = landmarkPoints(fitted[i], width, height);
      drawBox(ctx, face.bbox, color, scale);
      if (turned(face)) drawUpArrow(ctx, face.bbox, face.rotation, color, scale);
      drawPoints(ctx, points, color, scale);
      drawLabel(ctx, faceLabel(face, i), face.bbox, color, scale);
      landmarks += points.length;
    });
    canvas.dataset.zoom = String(zoom);
    canvas.dataset.boxes = String(faces.length);
    canvas.dataset.landmarks = String(landmarks);
    canvas.setAttribute("aria-label", `The photo, ${width}×${height}, with ${faces.length} face box(es) and ${landmarks} landmarks`);
    $("legend").textContent = `${width}×${height} px · ${faces.length} face(s) boxed · ${landmarks} landmarks`
      + (faces.some(turned) ? " · arrows point to the top of each turned face (landmarks for upright faces only)" : "");
    $("stage").hidden = false;
  }

  function clearPhoto(message) {
    const canvas = $("canvas");
    canvas.width = canvas.height = 0;
    canvas.dataset.boxes = canvas.dataset.landmarks = "0";
    $("stage").hidden = true;
    $("placeholder").hidden = !message;
    $("placeholder").textContent = message || "";
  }

  // ------------------------------------------------------------ face cards

  function fact(term, value, className = "") {
    return [el("dt", { text: term }), el("dd", { class: className, text: value })];
  }

  function emotionList(emotions) {
    return el("ul", { class: "emotions", "aria-label": "Emotions" }, emotions.map((e) => el("li", {}, [
      el("span", { class: "emotion-name", text: e.emotion }),
      el("meter", { min: 0, max: 1, value: e.score, title: percent(e.score), "aria-label": `${e.emotion} ${percent(e.score)}` }),
      el("span", { class: "emotion-score", text: percent(e.score) }),
    ])));
  }

  function poseText(pose) {
    return `yaw ${fixed(pose.yaw, 1)}°, pitch ${fixed(pose.pitch, 1)}°, roll ${fixed(pose.roll, 1)}°`;
  }

  function faceFacts(face, fitted) {
    const { left, top, right, bottom } = face.bbox;
    const facts = [fact("Detection score", fixed(face.detection_score), "face-score")];
    if (face.gender) facts.push(fact("Gender", `${face.gender.gender} (${fixed(face.gender.score)})`, "face-gender"));
    if ("age" in face) facts.push(fact("Age", `${fixed(face.age, 1)} years`, "face-age"));
    if (face.liveness) facts.push(fact("Liveness", `${face.liveness.value} (P(real) ${fixed(face.liveness.score)})`, "face-liveness"));
    if ("rotation" in face) facts.push(fact("Rotation", face.rotation ? `turn ${face.rotation}° clockwise to upright` : "upright", "face-rotation"));
    if (fitted && fitted.pose) facts.push(fact("Head pose (approx.)", poseText(fitted.pose), "face-pose"));
    facts.push(fact("Box", `${left}, ${top} → ${right}, ${bottom} (${right - left}×${bottom - top} px)`));
    if (face.facen) facts.push(fact("facen", `${decodeFacen(face.facen).length} floats`));
    return el("dl", { class: "facts" }, facts.flat());
  }

  function compareButtons(index) {
    const use = (slot) => el("button", {
      type: "button", class: "small", text: `Compare as ${slot}`,
      onclick: () => chooseFace(slot, `A:${index}`),
    });
    return el("div", { class: "card-actions" }, [use("A"), use("B")]);
  }

  function faceCard(face, i, fitted) {
    const crop = face.normalized
      ? el("img", { class: "crop", src: `data:image/png;base64,${face.normalized}`, alt: `Normalized face ${i + 1}`, width: 128, height: 128 })
      : null;
    return el("article", { class: `face-card c${i % PALETTE_SIZE}`, "data-face": i, "aria-labelledby": `face-${i}` }, [
      el("h3", { id: `face-${i}`, text: `Face ${i + 1}` }),
      crop,
      face.emotions ? emotionList(face.emotions) : null,
      faceFacts(face, fitted),
      face.facen ? compareButtons(i) : null,
    ]);
  }

  function renderCards(faces, fitted) {
    $("cards").replaceChildren(...faces.map((face, i) => faceCard(face, i, fitted[i])));
    $("face-count").textContent = `(${faces.length})`;
    if (!faces.length) $("cards").append(el("p", { class: "muted", text: "No face found in this photo." }));
  }

  // ------------------------------------------------------------ raw JSON

  function shortened(key, value) {
    if (typeof value === "string" && value.length > 120) return `${value.slice(0, 40)}… (${value.length} characters)`;
    return value;
  }

  function renderRaw(extraction, fitter) {
    $("raw-extraction").textContent = extraction ? JSON.stringify(extraction, shortened, 2) : "—";
    $("raw-fitter").textContent = fitter ? JSON.stringify(fitter, shortened, 2) : "— (landmarks not requested)";
    if (rawUrl) URL.revokeObjectURL(rawUrl);
    rawUrl = extraction ? URL.createObjectURL(new Blob([JSON.stringify(extraction, null, 2)], { type: "application/json" })) : null;
    $("raw-download").hidden = !rawUrl;
    if (rawUrl) $("raw-download").href = rawUrl;
  }

  // ------------------------------------------------------------ compare

  function decodeFacen(b64) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const view = new DataView(bytes.buffer);
    const out = new Float32Array(bytes.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }

  function cosine(a, b) {
    let dot = 0;
    for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
    return dot;
  }

  // Every face with a facen, from both photos: [{key "A:0", label, face}].
  function comparable() {
    const out = [];
    for (const [slot, photo] of Object.entries(photos)) {
      if (!photo) continue;
      photo.faces.forEach((face, i) => {
        if (!face.facen) return;
        const about = [face.gender && face.gender.gender.toLowerCase(), "age" in face && `${Math.round(face.age)} y`].filter(Boolean);
        out.push({ key: `${slot}:${i}`, label: `${photo.label} · face ${i + 1}${about.length ? ` (${about.join(", ")})` : ""}`, face });
      });
    }
    return out;
  }

  // A: the first face; B: the second photo's first face, else this photo's second, else the same face.
  function defaultPair(keys) {
    const b = keys.find((k) => k.startsWith("B:")) || keys[1] || keys[0];
    return [keys[0], b];
  }

  function fillSelects() {
    const options = comparable();
    const keys = options.map((o) => o.key);
    const [defaultA, defaultB] = defaultPair(keys);
    for (const [id, fallback] of [["compare-a", defaultA], ["compare-b", defaultB]]) {
      const select = $(id);
      const previous = select.value;
      select.replaceChildren(...options.map((o) => el("option", { value: o.key, text: o.label })));
      select.value = keys.includes(previous) ? previous : fallback || "";
      select.disabled = !options.length;
    }
    renderComparison();
  }

  function chooseFace(slot, key) {
    $(`compare-${slot.toLowerCase()}`).value = key;
    renderComparison();
    $("compare-heading").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function findFace(key) {
    const [slot, index] = key.split(":");
    return photos[slot] ? photos[slot].faces[Number(index)] : null;
  }

  function comparisonSide(face, key, name) {
    const children = [el("span", { class: "side-name", text: name })];
    if (face.normalized) children.push(el("img", { class: "crop", src: `data:image/png;base64,${face.normalized}`, alt: `${name}: ${key}`, width: 96, height: 96 }));
    return el("div", { class: "side" }, children);
  }

  function renderComparison() {
    const box = $("compare-result");
    const [keyA, keyB] = [$("compare-a").value, $("compare-b").value];
    const [a, b] = [keyA && findFace(keyA), keyB && findFace(keyB)];
    if (!a || !b) {
      box.dataset.state = "empty";
      box.replaceChildren(el("p", { class: "muted", text: photos.A && !comparable().length
        ? "Tick “Feature vector (facen)” and extract again to compare faces."
        : "Faces with a facen appear here." }));
      return;
    }
    const score = cosine(decodeFacen(a.facen), decodeFacen(b.facen));
    const same = score >= SAME_PERSON;
    box.dataset.state = same ? "same" : "different";
    box.replaceChildren(
      comparisonSide(a, keyA, "A"),
      el("div", { class: "score" }, [
        el("span", { class: "score-label", text: "cosine" }),
        el("output", { id: "compare-score", class: "score-value", text: fixed(score, 4) }),
        el("strong", { id: "compare-verdict", class: `badge ${same ? "same" : "different"}`, text: same ? "SAME" : "DIFFERENT" }),
        el("span", { class: "muted", text: `${same ? "≥" : "<"} ${fixed(SAME_PERSON, 3)}${keyA === keyB ? " · a face with itself" : ""}` }),
      ]),
      comparisonSide(b, keyB, "B"),
    );
  }

  // ------------------------------------------------------------ runs

  function setBusy(busy) {
    if (busy) document.body.dataset.state = "busy";
    $("run").disabled = busy || !$("photo").files.length;
    $("controls").setAttribute("aria-busy", String(busy));
  }

  async function runMain(file) {
    const id = ++runId;
    const flags = chosenFlags();
    setBusy(true);
    showError($("error"), null);
    setStatus(`Extracting from ${file.name || "the photo"}…`);
    const started = performance.now();
    const [result, fitted, image] = await Promise.all([
      extract(file, flags),
      wantLandmarks() ? fit(file) : Promise.resolve({ body: null, error: null }),
      loadImage(file),
    ]);
    if (id !== runId) return; // a newer photo was picked meanwhile
    showResult(result, fitted, image, performance.now() - started);
  }

  function showResult(result, fitted, image, ms) {
    const faces = result.error ? [] : result.body.responses[0].faces;
    const width = image ? image.naturalWidth : 0;
    const height = image ? image.naturalHeight : 0;
    const objects = (!fitted.error && fitted.body && image) ? fitted.body.objects : [];
    const matched = matchFitter(faces, objects, width, height);
    photos.A = result.error ? null : { label: "Photo 1", faces };
    showError($("error"), result.error);
    if (image) {
      drawPhoto(image, faces, matched);
      $("placeholder").hidden = true;
    } else {
      clearPhoto(result.error ? "" : "This browser cannot display the photo's format; the results are below.");
    }
    renderCards(faces, matched);
    renderRaw(result.body, fitted.body);
    fillSelects();
    const landmarksNote = fitted.error ? ` · landmarks unavailable: ${fitted.error.code}` : "";
    setStatus(result.error
      ? `The daemon refused the photo: ${result.error.code}`
      : `${faces.length} face(s) in ${(ms / 1000).toFixed(2)} s${landmarksNote}`);
    document.body.dataset.state = result.error ? "error" : "done";
    setBusy(false);
  }

  async function runSecond(file) {
    showError($("error-b"), null);
    $("photo-b-name").textContent = `${file.name} · extracting…`;
    const flags = { ...chosenFlags(), need_facen: true, need_normalized: true, auto_rotate: false, need_liveness: false };
    const result = await extract(file, flags);
    showError($("error-b"), result.error);
    photos.B = result.error ? null : { label: "Photo 2", faces: result.body.responses[0].faces };
    $("photo-b-name").textContent = result.error ? file.name : `${file.name} · ${photos.B.faces.length} face(s)`;
    fillSelects();
  }

  // ------------------------------------------------------------ picking and dropping

  function pickedFile(input, nameBox, run) {
    const file = input.files[0];
    if (!file) return;
    nameBox.textContent = file.name;
    run(file);
  }

  function makeDropZone(zone, input) {
    const enter = (e) => {
      e.preventDefault();
      zone.classList.add("dragging");
    };
    const leave = () => zone.classList.remove("dragging");
    zone.addEventListener("dragenter", enter);
    zone.addEventListener("dragover", enter);
    zone.addEventListener("dragleave", leave);
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      leave();
      if (!e.dataTransfer.files.length) return;
      input.files = e.dataTransfer.files;
      input.dispatchEvent(new Event("change"));
    });
  }

  function init() {
    // A photo dropped beside a drop zone must not replace the page.
    for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
    makeDropZone($("drop"), $("photo"));
    makeDropZone($("drop-b"), $("photo-b"));
    $("photo").addEventListener("change", () => pickedFile($("photo"), $("photo-name"), runMain));
    $("photo-b").addEventListener("change", () => pickedFile($("photo-b"), $("photo-b-name"), runSecond));
    $("controls").addEventListener("submit", (e) => {
      e.preventDefault();
      if ($("photo").files.length) runMain($("photo").files[0]);
    });
    $("compare-a").addEventListener("change", renderComparison);
    $("compare-b").addEventListener("change", renderComparison);
    $("threshold").textContent = fixed(SAME_PERSON, 3);
    loadBanner();
  }

  init();
})();
