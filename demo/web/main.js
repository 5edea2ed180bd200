// Classifies a chosen or dropped image with the exported student, entirely in the page: onnxruntime-web
// (WebAssembly) runs model.onnx, whose graph takes uint8 NHWC pixels (kdtorch export --input uint8), and
// model.json gives its classes and input size (serve.mjs reads them from the file's metadata_props).
import * as ort from './ort/ort.min.mjs';

ort.env.wasm.numThreads = 1; // threads need a cross-origin-isolated page; one is plenty for this network
ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href; // resolved against this page, not ort.min.mjs

const status = document.getElementById('status');
const canvas = document.getElementById('preview');
const [description, session] = await Promise.all([
  fetch('model.json').then((r) => r.json()),
  ort.InferenceSession.create('model.onnx', { executionProviders: ['wasm'] }),
]);
const { imageSize: size, channels, classes } = description;
status.textContent = `${description.architecture}, ${size}×${size}, classes ${classes.join(', ')}: choose an image.`;

/** The image resized to size × size (the canvas's smoothing), as uint8 NHWC with `channels` channels. */
async function pixelsOf(file) {
  const bitmap = await createImageBitmap(file);
  canvas.width = canvas.height = size;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.imageSmoothingQuality = 'high';
  context.drawImage(bitmap, 0, 0, size, size);
  const rgba = context.getImageData(0, 0, size, size).data;
  const out = new Uint8Array(size * size * channels);
  for (let i = 0; i < size * size; i++) {
    if (channels === 1) out[i] = Math.round(0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]);
    else for (let c = 0; c < 3; c++) out[3 * i + c] = rgba[4 * i + c];
  }
  return out;
}

async function classify(file) {
  const pixels = await pixelsOf(file);
  const feeds = { pixels: new ort.Tensor('uint8', pixels, [1, size, size, channels]) };
  const probabilities = Array.from((await session.run(feeds)).probabilities.data);
  const best = probabilities.indexOf(Math.max(...probabilities));
  document.getElementById('class').textContent = classes[best];
  document.getElementById('bars').replaceChildren(
    ...classes.map((name, k) => {
      const row = document.createElement('div');
      row.className = 'row';
      row.innerHTML = `<span class="name"></span><span class="value"></span><span class="bar"></span>`;
      row.children[0].textContent = name;
      row.children[1].textContent = probabilities[k].toFixed(4);
      row.children[2].style.width = `${(probabilities[k] * 20).toFixed(2)}rem`;
      return row;
    }),
  );
  document.getElementById('result').hidden = false;
  // For tests and the curious: exactly what went in and came out.
  window.kdtorchDemo = { pixels: Array.from(pixels), probabilities, file: file.name };
  status.textContent = `${file.name}: done.`;
}

document.getElementById('file').addEventListener('change', (e) => e.target.files[0] && classify(e.target.files[0]));
const drop = document.getElementById('drop');
drop.addEventListener('dragover', (e) => (e.preventDefault(), drop.classList.add('over')));
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer.files[0]) classify(e.dataTransfer.files[0]);
});
window.kdtorchReady = true;
