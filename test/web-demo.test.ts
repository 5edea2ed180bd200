// The browser demo (demo/web): headless Chromium opens the page, which loads the exported student with
// onnxruntime-web (WebAssembly); a bundled X-ray is chosen, and the probabilities it shows are
// onnxruntime-node's for the same pixels.
import fs from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { exportOnnx, studentNet } from '../lib/index.js';
import { maxAbsDiff, reference } from './helpers/reference.js';
import { ROOT, tempDir } from './helpers/run.js';
import { chestStudent, DEMO_DATA } from './helpers/tiny-dataset.js';

const CHROMIUM = '/usr/bin/chromium'; // Debian's, installed by scripts/setup.sh: nothing is downloaded

describe('browser demo', () => {
  it('classifies a chosen X-ray in the page, as onnxruntime-node does for the same pixels', async () => {
    const dir = tempDir('web');
    const weights = path.join(dir, 'w.safetensors');
    reference('make-weights', { arch: 'studentNet', inputSize: 64, safetensors: weights, seed: 11 });
    const model = await studentNet({ inputSize: 64 });
    await model.loadWeights(weights);
    await model.eval();
    const onnx = path.join(dir, 'student.onnx');
    await exportOnnx({ model, description: chestStudent(64) }, onnx, { input: 'uint8' });
    const { serveDemo } = (await import(path.join(ROOT, 'demo', 'web', 'serve.mjs'))) as {
      serveDemo: (file: string) => Promise<{ url: string; server: Server }>;
    };
    const { url, server } = await serveDemo(onnx);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(url);
      await page.waitForFunction(() => (window as { kdtorchReady?: boolean }).kdtorchReady === true, null, {
        timeout: 60_000,
      });
      const folder = path.join(DEMO_DATA, 'test', 'PNEUMONIA');
      const image = path.join(folder, fs.readdirSync(folder).sort()[0] as string);
      await page.setInputFiles('#file', image);
      await page.waitForSelector('#result:not([hidden])');
      const shown = await page.evaluate(() => {
        const demo = (window as { kdtorchDemo?: { pixels: number[]; probabilities: number[] } }).kdtorchDemo;
        const values = [...document.querySelectorAll('#bars .value')].map((v) => Number(v.textContent));
        return { ...demo, values, predicted: document.getElementById('class')?.textContent };
      });
      await page.screenshot({ path: path.join(dir, 'page.png') });
      expect(errors).toEqual([]);

      const session = await ort.InferenceSession.create(onnx);
      const pixels = Uint8Array.from(shown.pixels as number[]);
      const { probabilities } = await session.run({ pixels: new ort.Tensor('uint8', pixels, [1, 64, 64, 3]) });
      const expected = (probabilities as ort.Tensor).data as Float32Array;
      expect(maxAbsDiff(shown.probabilities as number[], expected)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(shown.values, expected)).toBeLessThanOrEqual(5e-5); // shown to 4 decimals
      expect(shown.predicted).toBe((expected[1] as number) > (expected[0] as number) ? 'PNEUMONIA' : 'NORMAL');
      // The page's pixels are an image, not a blank canvas.
      expect(new Set(shown.pixels).size).toBeGreaterThan(50);
    } finally {
      await browser.close();
      server.close();
    }
  }, 120_000);
});
