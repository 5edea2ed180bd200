// Charts as self-contained SVG strings (no chart library, no browser): training curves and
// confusion matrices for report.html, and the same drawn into report.png by sharp.

export interface Chart {
  svg: string;
  width: number;
  height: number;
}

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

export const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const CHART_WIDTH = 420;
const CHART_HEIGHT = 276;
const MARGIN = { left: 52, right: 12, top: 44, bottom: 36 };

/** A line chart of `series` against the epoch, with a legend. */
export function lineChart(title: string, yLabel: string, series: Series[]): Chart {
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [xMin, xMax] = [Math.min(1, ...xs), Math.max(2, ...xs)];
  let [yMin, yMax] = [Math.min(...ys), Math.max(...ys)];
  if (!(yMax > yMin)) [yMin, yMax] = [(yMin || 0) - 0.5, (yMax || 0) + 0.5];
  const plotW = CHART_WIDTH - MARGIN.left - MARGIN.right;
  const plotH = CHART_HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number) => MARGIN.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
  const ticks = Array.from({ length: 5 }, (_, i) => yMin + ((yMax - yMin) * i) / 4);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH}" height="${CHART_HEIGHT}" font-family="DejaVu Sans, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${CHART_WIDTH / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
    ...ticks.map(
      (t) =>
        `<line x1="${MARGIN.left}" x2="${CHART_WIDTH - MARGIN.right}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e4e4e4"/>` +
        `<text x="${MARGIN.left - 6}" y="${sy(t) + 4}" text-anchor="end">${t.toPrecision(3)}</text>`,
    ),
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#888"/>`,
    `<line x1="${MARGIN.left}" x2="${CHART_WIDTH - MARGIN.right}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="#888"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${CHART_HEIGHT - 6}" text-anchor="middle">epoch (${xMin}–${xMax})</text>`,
    `<text transform="translate(12 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  ];
  series.forEach((s, i) => {
    const points = s.points.filter(([, y]) => Number.isFinite(y));
    const path = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${path}"/>`);
    for (const [x, y] of points) parts.push(`<circle cx="${sx(x)}" cy="${sy(y)}" r="2.5" fill="${s.color}"/>`);
    const lx = MARGIN.left + 8 + i * 110;
    parts.push(
      `<rect x="${lx}" y="${MARGIN.top - 20}" width="10" height="10" fill="${s.color}"/>`,
      `<text x="${lx + 14}" y="${MARGIN.top - 11}">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return { svg: parts.join('\n'), width: CHART_WIDTH, height: CHART_HEIGHT };
}

/** A confusion matrix: rows true class, columns predicted, shaded by the share of the row. */
export function confusionChart(title: string, classes: string[], confusion: number[][]): Chart {
  const cell = Math.min(90, 200 / Math.max(1, classes.length));
  const left = 110;
  const top = 52;
  const width = Math.max(CHART_WIDTH / 1.5, left + cell * classes.length + 16);
  const height = top + cell * classes.length + 20;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${left + (cell * classes.length) / 2}" y="32" text-anchor="middle">predicted</text>`,
  ];
  classes.forEach((name, j) => {
    parts.push(`<text x="${left + cell * (j + 0.5)}" y="${top - 6}" text-anchor="middle">${escapeXml(name)}</text>`);
  });
  confusion.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    parts.push(
      `<text x="${left - 6}" y="${top + cell * (i + 0.5) + 4}" text-anchor="end">${escapeXml(classes[i] ?? '')}</text>`,
    );
    row.forEach((count, j) => {
      const share = count / total;
      const shade = Math.round(255 - share * 190);
      parts.push(
        `<rect x="${left + cell * j}" y="${top + cell * i}" width="${cell}" height="${cell}" fill="rgb(${shade},${shade},255)" stroke="white"/>`,
        `<text x="${left + cell * (j + 0.5)}" y="${top + cell * (i + 0.5) + 4}" text-anchor="middle" fill="${share > 0.6 ? 'white' : 'black'}">${count}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return { svg: parts.join('\n'), width, height };
}

/** Several SVG charts side by side, `columns` per row, as one SVG (for the PNG). */
export function chartGrid(charts: Chart[], columns: number): string {
  const cellW = Math.max(...charts.map((c) => c.width));
  const cellH = Math.max(...charts.map((c) => c.height));
  const rows = Math.ceil(charts.length / columns);
  const inner = charts.map((c, i) => {
    const x = (i % columns) * cellW;
    const y = Math.floor(i / columns) * cellH;
    return c.svg.replace('<svg ', `<svg x="${x}" y="${y}" `);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${cellW * columns}" height="${cellH * rows}"><rect width="100%" height="100%" fill="white"/>${inner.join('\n')}</svg>`;
}
