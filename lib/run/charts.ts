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

/** Rows of SVG charts, each chart at its own width, as one SVG (for the PNG). */
export function chartGrid(rows: Chart[][]): string {
  const inner: string[] = [];
  let [width, y] = [0, 0];
  for (const row of rows.filter((r) => r.length > 0)) {
    let x = 0;
    for (const c of row) {
      inner.push(c.svg.replace('<svg ', `<svg x="${x}" y="${y}" `));
      x += c.width;
    }
    width = Math.max(width, x);
    y += Math.max(...row.map((c) => c.height));
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}"><rect width="100%" height="100%" fill="white"/>${inner.join('\n')}</svg>`;
}

export interface BarPanel {
  title: string;
  /** One value per bar (null: not measured), with how to print it. */
  values: (number | null)[];
  format: (value: number) => string;
}

const BAR_COLORS = ['#7f7f7f', '#1f77b4', '#2ca02c', '#ff7f0e'];

/** Panels side by side, each a bar per label on its own scale from zero: several models compared at a glance. */
export function barPanels(title: string, labels: string[], panels: BarPanel[]): Chart {
  const panelW = 170;
  const barH = 22;
  const top = 64;
  const labelW = 118;
  const width = labelW + panelW * panels.length + 12;
  const height = top + labels.length * (barH + 10) + 12;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  labels.forEach((label, i) => {
    const y = top + i * (barH + 10);
    parts.push(`<text x="${labelW - 8}" y="${y + barH / 2 + 4}" text-anchor="end">${escapeXml(label)}</text>`);
  });
  panels.forEach((panel, p) => {
    const x0 = labelW + p * panelW;
    const inner = panelW - 64; // room for the value printed after the bar
    const max = Math.max(...panel.values.map((v) => v ?? 0), Number.MIN_VALUE);
    parts.push(`<text x="${x0 + inner / 2}" y="${top - 14}" text-anchor="middle">${escapeXml(panel.title)}</text>`);
    parts.push(`<line x1="${x0}" x2="${x0}" y1="${top - 6}" y2="${height - 8}" stroke="#888"/>`);
    panel.values.forEach((value, i) => {
      const y = top + i * (barH + 10);
      if (value === null) {
        parts.push(`<text x="${x0 + 6}" y="${y + barH / 2 + 4}">–</text>`);
        return;
      }
      const w = Math.max(1, (value / max) * inner);
      parts.push(
        `<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${BAR_COLORS[i % BAR_COLORS.length]}"/>`,
        `<text x="${(x0 + w + 4).toFixed(1)}" y="${y + barH / 2 + 4}">${escapeXml(panel.format(value))}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return { svg: parts.join('\n'), width, height };
}
