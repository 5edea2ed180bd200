// The run's report, rewritten after every phase from the phases' result.json files: report.md
// (the article-style comparison table), report.html (the table, training curves and confusion
// matrices as inline SVG) and report.png (the charts).
import path from 'node:path';
import sharp from 'sharp';
import { writeFileAtomicSync } from '../atomic-write.js';
import { barPanels, type Chart, chartGrid, confusionChart, escapeXml, lineChart } from './charts.js';
import type { PhaseResult } from './phase.js';
import { PHASES, type Phase, type RunFolder } from './run-folder.js';

const TITLES: Record<Phase, string> = {
  teacher: 'Teacher (ResNet-18)',
  student: 'Student alone',
  distill: 'Distilled student',
};

export interface ReportRow {
  model: string;
  parameters: number;
  weightsMB: number;
  accuracy: number | null;
  sensitivity: number | null;
  specificity: number | null;
  f1: number | null;
  rocAuc: number | null;
  /** Batch-1 latency per image. */
  msPerImage: number | null;
  /** The batch-1 timing spread widely (a busy machine): the cell says so. */
  latencyUnstable: boolean;
  /** Teacher's batch-1 latency over this model's. */
  speedup: number | null;
  /** Share of the teacher's parameters this model does without. */
  sizeReduction: number | null;
}

/** The comparison table's rows for the phases that have finished. */
export function reportRows(results: PhaseResult[]): ReportRow[] {
  const teacher = results.find((r) => r.phase === 'teacher');
  const batch1Row = (r: PhaseResult) => r.latency.find((l) => l.batchSize === 1) ?? r.latency[0];
  const batch1 = (r: PhaseResult) => batch1Row(r)?.msPerImage;
  return results.map((r) => {
    const ms = batch1(r) ?? null;
    const teacherMs = teacher ? batch1(teacher) : undefined;
    return {
      model: TITLES[r.phase],
      parameters: r.parameters,
      weightsMB: r.weightsBytes / 1e6,
      accuracy: r.test?.accuracy ?? null,
      sensitivity: r.test?.recall ?? null,
      specificity: r.test?.specificity ?? null,
      f1: r.test?.f1 ?? null,
      rocAuc: r.test?.rocAuc ?? null,
      msPerImage: ms,
      latencyUnstable: batch1Row(r)?.unstable ?? false,
      speedup: teacherMs !== undefined && ms ? teacherMs / ms : null,
      sizeReduction: teacher ? 1 - r.parameters / teacher.parameters : null,
    };
  });
}

const pct = (v: number | null) => (v === null || Number.isNaN(v) ? '–' : `${(100 * v).toFixed(2)}%`);
const num = (v: number | null, digits: number) => (v === null || Number.isNaN(v) ? '–' : v.toFixed(digits));

/** The comparison table's columns: the Markdown and the HTML tables are both drawn from these. */
const COLUMNS: { header: string; cell: (r: ReportRow) => string }[] = [
  { header: 'model', cell: (r) => r.model },
  { header: 'parameters', cell: (r) => r.parameters.toLocaleString('en-US') },
  { header: 'weights MB', cell: (r) => num(r.weightsMB, 2) },
  { header: 'test accuracy', cell: (r) => pct(r.accuracy) },
  { header: 'sensitivity', cell: (r) => pct(r.sensitivity) },
  { header: 'specificity', cell: (r) => pct(r.specificity) },
  { header: 'F1', cell: (r) => num(r.f1, 3) },
  { header: 'ROC AUC', cell: (r) => num(r.rocAuc, 3) },
  {
    header: 'ms/image (batch 1)',
    cell: (r) => `${num(r.msPerImage, 3)}${r.latencyUnstable ? ' (busy machine: wide spread)' : ''}`,
  },
  { header: 'speed-up vs teacher', cell: (r) => (r.speedup === null ? '–' : `${r.speedup.toFixed(1)}×`) },
  { header: 'fewer parameters', cell: (r) => pct(r.sizeReduction) },
];

/** The table as Markdown (also printed by the CLI). */
export function markdownTable(rows: ReportRow[]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    line(COLUMNS.map((c) => c.header)),
    `|${'---|'.repeat(COLUMNS.length)}`,
    ...rows.map((r) => line(COLUMNS.map((c) => c.cell(r)))),
  ].join('\n');
}

function htmlTable(rows: ReportRow[]): string {
  const line = (tag: 'th' | 'td', cells: string[]) =>
    `<tr>${cells.map((cell) => `<${tag}>${escapeXml(cell)}</${tag}>`).join('')}</tr>`;
  return [
    '<table>',
    line(
      'th',
      COLUMNS.map((c) => c.header),
    ),
    ...rows.map((r) =>
      line(
        'td',
        COLUMNS.map((c) => c.cell(r)),
      ),
    ),
    '</table>',
  ].join('\n');
}

/** The models side by side: what distillation bought (accuracy) and what the student saves (time, bytes). */
function modelsChart(rows: ReportRow[]): Chart {
  return barPanels(
    'The models compared',
    rows.map((r) => r.model),
    [
      {
        title: 'test accuracy (%)',
        values: rows.map((r) => (r.accuracy === null ? null : 100 * r.accuracy)),
        format: (v) => v.toFixed(1),
      },
      { title: 'ms/image, batch 1', values: rows.map((r) => r.msPerImage), format: (v) => v.toFixed(v < 1 ? 3 : 2) },
      { title: 'weights (MB)', values: rows.map((r) => r.weightsMB), format: (v) => v.toFixed(v < 1 ? 3 : 1) },
    ],
  );
}

/** Each phase's curves and confusion matrix, a row per phase. */
function phaseCharts(results: PhaseResult[]): Chart[][] {
  return results.map((r) => {
    const at = (key: 'trainLoss' | 'valLoss' | 'trainAccuracy' | 'valAccuracy') =>
      r.history.map((h): [number, number] => [h.epoch, h[key]]);
    const out = [
      lineChart(`${TITLES[r.phase]}: loss`, 'loss', [
        { name: 'train', color: '#1f77b4', points: at('trainLoss') },
        { name: 'validation', color: '#ff7f0e', points: at('valLoss') },
      ]),
      lineChart(`${TITLES[r.phase]}: accuracy`, 'accuracy', [
        { name: 'train', color: '#1f77b4', points: at('trainAccuracy') },
        { name: 'validation', color: '#ff7f0e', points: at('valAccuracy') },
      ]),
    ];
    if (r.test) out.push(confusionChart(`${TITLES[r.phase]}: test confusion`, r.classes, r.test.confusion));
    return out;
  });
}

function comparison(results: PhaseResult[]): string {
  const student = results.find((r) => r.phase === 'student')?.test;
  const distilled = results.find((r) => r.phase === 'distill')?.test;
  if (!student || !distilled) return '';
  const points = 100 * (distilled.accuracy - student.accuracy);
  return `Distillation ${points >= 0 ? 'added' : 'cost'} ${Math.abs(points).toFixed(2)} points of test accuracy over the student trained alone.`;
}

/** The results of the phases of `run` that have finished, in phase order. */
export function finishedPhases(run: RunFolder): PhaseResult[] {
  return PHASES.flatMap((phase) => run.readResult<PhaseResult>(phase) ?? []);
}

/** Writes report.md, report.html and report.png for the phases of `run` that have finished. */
export async function writeReports(run: RunFolder): Promise<{ markdown: string; html: string; png: string }> {
  const results = finishedPhases(run);
  const rows = reportRows(results);
  const { config } = run;
  const title = `kdtorch run ${path.basename(run.dir)}`;
  const setting = `preset ${config.preset}, ${config.data.imageSize}×${config.data.imageSize}, data ${config.data.root}, device ${results[0]?.device ?? config.device}`;
  const note = comparison(results);
  const overview = results.length > 1 ? [modelsChart(rows)] : [];
  const drawn = phaseCharts(results);
  const files = {
    markdown: path.join(run.dir, 'report.md'),
    html: path.join(run.dir, 'report.html'),
    png: path.join(run.dir, 'report.png'),
  };
  writeFileAtomicSync(
    files.markdown,
    `# ${title}\n\n${setting}\n\n${markdownTable(rows)}\n\n${note}\n\nCurves and confusion matrices: report.html, report.png. Config: config.json; per-epoch metrics: metrics.jsonl.\n`,
  );
  writeFileAtomicSync(
    files.html,
    `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:12px}</style></head>
<body><h1>${escapeXml(title)}</h1>
<p>${escapeXml(setting)}</p>
${htmlTable(rows)}
<p>${escapeXml(note)}</p>
<div class="charts">${[...overview, ...drawn.flat()].map((c) => c.svg).join('\n')}</div>
</body></html>
`,
  );
  if (drawn.length > 0) {
    writeFileAtomicSync(
      files.png,
      // The models compared on the first row, then each phase's charts on a row of its own.
      await sharp(Buffer.from(chartGrid([overview, ...drawn])))
        .png()
        .toBuffer(),
    );
  }
  return files;
}
