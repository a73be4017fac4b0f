// The "Try it" page: a photo in, the breeds and the species out, computed in this browser with onnxruntime-web.
// The photo is prepared as model.json's `preprocessing` says (the spec lesson 11 writes down and checks):
// centre square, Pillow's BILINEAR resize to item_sz (pil_resize.js, integer arithmetic included), then the
// model itself divides by 255, resizes to sz and normalises. Nothing is sent anywhere. One known difference:
// browsers turn a photo upright by its EXIF orientation tag, which fastai's PILImage.create does not.
import * as ort from './ort/ort.wasm.min.mjs';
import { pilResize } from './pil_resize.js';

const BASE = new URL('./', import.meta.url);
const MAX_BYTES = 50e6;    // larger files are refused before decoding
const MAX_PIXELS = 64e6;   // 8000 × 8000: larger photos are refused before decoding
const MIN_SIDE = 32;       // smaller photos hold too little to classify
const EXACT_SIDE = 2048;   // larger squares are shrunk by the browser first, bounding the work done in JavaScript
const TOP_K = 5;

ort.env.wasm.wasmPaths = new URL('ort/', BASE).href;
ort.env.wasm.numThreads = 1;  // no SharedArrayBuffer needed, so no cross-origin isolation headers
ort.env.wasm.proxy = false;

const $ = id => document.getElementById(id);

function say(text, kind = 'info') {
  const el = $('try-message');
  el.textContent = text;
  el.dataset.kind = kind;
}

// The photo's width and height from its header, without decoding every pixel; an error if it is no image.
function measure(file) {
  return new Promise((resolve, reject) => {
    const img = new Image(), url = URL.createObjectURL(file);
    img.onload = () => { URL.revokeObjectURL(url); resolve([img.naturalWidth, img.naturalHeight]); };
    img.onerror = () => { URL.revokeObjectURL(url); reject(new Error('not an image')); };
    img.src = url;
  });
}

const mp = px => (px / 1e6).toFixed(px < 10e6 ? 1 : 0);

// The spec's first three steps: 8-bit RGB, the centre square, Pillow's BILINEAR resize to item_sz.
// A square of more than EXACT_SIDE pixels is first shrunk to EXACT_SIDE by the browser, so the page never
// resamples more than that many pixels in JavaScript; below that the bytes are Pillow's.
async function photoPixels(file, itemSz) {
  if (file.size > MAX_BYTES)
    throw new RangeError(`${file.name} is ${(file.size / 1e6).toFixed(0)} MB: the page reads files up to ${MAX_BYTES / 1e6} MB. Save a smaller copy and try again.`);
  let w, h;
  try { [w, h] = await measure(file); }
  catch { throw new TypeError(`${file.name} is not an image this browser can read (JPEG, PNG, WebP or GIF): choose a photo file.`); }
  if (w * h > MAX_PIXELS)
    throw new RangeError(`${file.name} is ${w}×${h} pixels (${mp(w * h)} megapixels): the page reads photos up to ${mp(MAX_PIXELS)} megapixels. Save a smaller copy and try again.`);
  if (Math.min(w, h) < MIN_SIDE)
    throw new RangeError(`${file.name} is ${w}×${h} pixels: too small to recognise a pet (the shorter side needs at least ${MIN_SIDE} pixels). Choose a larger photo.`);
  let bmp;
  try { bmp = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }); }
  catch { throw new TypeError(`${file.name} could not be decoded: the file may be damaged. Choose another photo.`); }
  const side = Math.trunc(Math.min(bmp.width, bmp.height) / itemSz * itemSz);
  const left = Math.trunc((bmp.width - side) / 2), top = Math.trunc((bmp.height - side) / 2);
  let n = side, src = bmp, sx = left, sy = top;
  if (side > EXACT_SIDE) {
    n = EXACT_SIDE;
    src = await createImageBitmap(bmp, left, top, side, side, { resizeWidth: n, resizeHeight: n, resizeQuality: 'high' });
    sx = sy = 0;
    bmp.close();
  }
  const ctx = new OffscreenCanvas(n, n).getContext('2d', { willReadFrequently: true });
  ctx.drawImage(src, sx, sy, n, n, 0, 0, n, n);
  src.close();
  return { pixels: pilResize(ctx.getImageData(0, 0, n, n).data, n, itemSz), width: w, height: h, shrunk: side > EXACT_SIDE };
}

function showPreview(pixels, s) {
  const canvas = $('try-preview'), rgba = new Uint8ClampedArray(s * s * 4);
  for (let i = 0; i < s * s; i++) { rgba.set(pixels.subarray(i * 3, i * 3 + 3), i * 4); rgba[i * 4 + 3] = 255; }
  canvas.width = canvas.height = s;
  canvas.getContext('2d').putImageData(new ImageData(rgba, s, s), 0, 0);
  canvas.hidden = false;
}

function showAnswer(probs, info) {
  const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]);
  const pCat = info.species.reduce((s, sp, i) => s + (sp === 'cat' ? probs[i] : 0), 0);
  const sp = pCat >= 0.5 ? 'cat' : 'dog', pSp = Math.max(pCat, 1 - pCat);
  const el = $('try-species');
  el.dataset.species = sp;
  el.dataset.prob = pSp;
  el.textContent = `A ${sp} (${(100 * pSp).toFixed(1)}%: the breeds' probabilities summed by species)`;
  const rows = order.slice(0, TOP_K).map(i => {
    const tr = document.createElement('tr');
    tr.dataset.breed = info.vocab[i];
    tr.dataset.prob = probs[i];
    for (const text of [info.vocab[i].replaceAll('_', ' '), info.species[i], `${(100 * probs[i]).toFixed(1)}%`]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  $('try-breeds').querySelector('tbody').replaceChildren(...rows);
  $('try-result').hidden = false;
}

async function classify(file, session, info) {
  const t0 = performance.now(), s = info.preprocessing.item_sz;
  $('try-result').hidden = true;
  say(`Reading ${file.name}…`);
  try {
    const { pixels, width, height, shrunk } = await photoPixels(file, s);
    showPreview(pixels, s);
    const x = new Float32Array(3 * s * s);
    for (let i = 0; i < s * s; i++) for (let c = 0; c < 3; c++) x[c * s * s + i] = pixels[i * 3 + c];
    const out = await session.run({ [info.input.name]: new ort.Tensor('float32', x, [1, 3, s, s]) });
    const probs = Array.from(out[info.output.name].data);
    showAnswer(probs, info);
    const ms = performance.now() - t0;
    say(`${file.name}: ${width}×${height} pixels${shrunk ? ', shrunk in the browser first' : ''}, answered in ${ms.toFixed(0)} ms.`, 'done');
    window.tryPage.last = { name: file.name, probs, pixels: Array.from(pixels), ms };
  } catch (e) {
    say(e instanceof RangeError || e instanceof TypeError ? e.message : `Could not classify ${file.name}: ${e.message}`, 'error');
    window.tryPage.last = { name: file.name, error: String(e.message) };
  }
}

async function start() {
  const t0 = performance.now();
  const page = await (await fetch(new URL('page.json', BASE))).json();
  const input = $('try-file');
  if (!page.model) {
    const code = text => Object.assign(document.createElement('code'), { textContent: text });  // commands as code, not backticks
    $('try-model').replaceChildren('This build of the site has no model. Train one with ', code('make demo'), ', then rebuild the site with ',
                                   code('make docs'), ': the page uses the latest run under ', code('runs/'), '.');
    $('try-model').dataset.kind = 'error';
    input.disabled = true;
    return { model: null };
  }
  const [info, bytes] = await Promise.all([fetch(new URL(page.model.info, BASE)).then(r => r.json()),
                                           fetch(new URL(page.model.onnx, BASE)).then(r => r.arrayBuffer())]);
  const session = await ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: ['wasm'] });
  const m = page.model, err = m.error_rate == null ? 'not recorded' : `${(100 * m.error_rate).toFixed(1)}% (${m.how})`;
  $('try-model').textContent = `Model: ${m.arch} from run ${m.run} (profile ${m.profile}${m.generated ? ', generated pictures, not photos' : ''}), ` +
    `error rate ${err}, ${(m.onnx_bytes / 1e6).toFixed(1)} MB, loaded in ${(performance.now() - t0).toFixed(0)} ms.`;
  const go = file => file && classify(file, session, info);
  input.disabled = false;
  input.addEventListener('change', () => go(input.files[0]));
  const drop = $('try-drop');
  drop.addEventListener('dragover', e => { e.preventDefault(); drop.dataset.over = '1'; });
  drop.addEventListener('dragleave', () => { delete drop.dataset.over; });
  drop.addEventListener('drop', e => { e.preventDefault(); delete drop.dataset.over; go(e.dataTransfer.files[0]); });
  return { model: m, loadMs: performance.now() - t0 };
}

window.tryPage = { ready: start().catch(e => { say(`The model could not be loaded: ${e.message}`, 'error'); throw e; }) };
