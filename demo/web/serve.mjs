#!/usr/bin/env node
// Serves the browser demo on loopback: this folder, onnxruntime-web's files under /ort/, the exported
// model as /model.onnx and its description as /model.json.
// usage: node demo/web/serve.mjs --model student.onnx [--port 8080]   (export it with --input uint8)
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readOnnxExport } from '../../dist/lib/onnx/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ortDist = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

/** Starts the server; resolves with its URL once it listens. */
export function serveDemo(modelFile, port = 0) {
  const model = fs.readFileSync(modelFile);
  const exported = readOnnxExport(modelFile, model);
  if (exported.input !== 'uint8') throw new Error(`${modelFile}: the page feeds pixels; export with --input uint8`);
  const description = JSON.stringify(exported.description);
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost').pathname;
    const send = (type, body) => response.writeHead(200, { 'content-type': type }).end(body);
    if (url === '/model.onnx') return send('application/octet-stream', model);
    if (url === '/model.json') return send('application/json', description);
    const [base, name] = url.startsWith('/ort/') ? [ortDist, url.slice(5)] : [here, url === '/' ? 'index.html' : url.slice(1)];
    const file = path.join(base, path.normalize(name));
    if (!file.startsWith(base + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      return response.writeHead(404).end('not found');
    }
    send(TYPES[path.extname(file)] ?? 'application/octet-stream', fs.readFileSync(file));
  });
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}/`, server })),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { model: { type: 'string' }, port: { type: 'string', default: '8080' } } });
  if (!values.model) {
    console.error('usage: node demo/web/serve.mjs --model student.onnx [--port 8080]');
    process.exit(2);
  }
  const { url } = await serveDemo(values.model, Number(values.port));
  console.log(`open ${url}`);
}
