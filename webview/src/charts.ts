/**
 * Chart.js, registered piece by piece (tree-shaken: only the controllers, elements and plugins the views use), with
 * colours read from VS Code's theme variables so light, dark and high-contrast themes stay readable.
 */
import {
  BarController,
  BarElement,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
  type Plugin,
} from 'chart.js';

Chart.register(BarController, BarElement, Filler, Legend, LinearScale, LineController, LineElement, PointElement, ScatterController, Tooltip);

/**
 * Tests read chart data through Chart.getChart(canvas); the bundle is an IIFE, so they need a handle on the class.
 * Only the test page sets the flag; a real webview never exposes anything.
 */
export function exposeForTests(): void {
  if (document.documentElement.dataset.testHooks === 'on') {
    (globalThis as unknown as { __archloopChart: typeof Chart }).__archloopChart = Chart;
  }
}

export interface ThemeColours {
  readonly foreground: string;
  readonly muted: string;
  readonly grid: string;
  readonly blue: string;
  readonly green: string;
  readonly red: string;
  readonly yellow: string;
  readonly orange: string;
  readonly purple: string;
  readonly font: string;
}

function cssVar(style: CSSStyleDeclaration, name: string, fallback: string): string {
  const value = style.getPropertyValue(name).trim();
  return value === '' ? fallback : value;
}

/** Reads the theme's chart colours now (call again after a theme change: VS Code swaps the variables in place). */
export function themeColours(): ThemeColours {
  const style = getComputedStyle(document.documentElement);
  const foreground = cssVar(style, '--vscode-charts-foreground', cssVar(style, '--vscode-foreground', '#616161'));
  return {
    foreground,
    muted: cssVar(style, '--vscode-descriptionForeground', foreground),
    grid: cssVar(style, '--vscode-charts-lines', 'rgba(128,128,128,0.35)'),
    blue: cssVar(style, '--vscode-charts-blue', '#3794ff'),
    green: cssVar(style, '--vscode-charts-green', '#89d185'),
    red: cssVar(style, '--vscode-charts-red', '#f14c4c'),
    yellow: cssVar(style, '--vscode-charts-yellow', '#cca700'),
    orange: cssVar(style, '--vscode-charts-orange', '#d18616'),
    purple: cssVar(style, '--vscode-charts-purple', '#b180d7'),
    font: cssVar(style, '--vscode-font-family', 'sans-serif'),
  };
}

/** A theme colour with transparency, for interval bands (theme variables come as #rgb, #rrggbb[aa] or rgb[a]()). */
export function withAlpha(colour: string, alpha: number): string {
  const hex = /^#([0-9a-f]{3,8})$/i.exec(colour.trim());
  if (hex) {
    let digits = hex[1] as string;
    if (digits.length <= 4) digits = [...digits].map((d) => d + d).join('');
    const [r, g, b] = [0, 2, 4].map((i) => parseInt(digits.slice(i, i + 2), 16));
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }
  const rgb = /^rgba?\(([^)]+)\)$/i.exec(colour.trim());
  if (rgb) {
    const [r, g, b] = (rgb[1] as string).split(/[ ,/]+/);
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }
  return colour;
}

/** Applies the theme to Chart.js defaults; charts created afterwards pick it up, existing ones need `restyle`. */
export function applyThemeDefaults(colours: ThemeColours): void {
  Chart.defaults.color = colours.foreground;
  Chart.defaults.borderColor = colours.grid;
  Chart.defaults.font.family = colours.font;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
}

interface ThemableScale {
  ticks?: Record<string, unknown>;
  title?: Record<string, unknown>;
  grid?: Record<string, unknown>;
  border?: Record<string, unknown>;
}
interface ThemableOptions {
  color?: unknown;
  borderColor?: unknown;
  scales?: Record<string, ThemableScale | undefined>;
  plugins?: { legend?: { labels?: Record<string, unknown> } & Record<string, unknown> } & Record<string, unknown>;
}

/**
 * Writes the theme's colours into a chart's own options; call before `update()`. Changing `Chart.defaults` is not
 * enough after a theme switch: an existing chart's scales keep the tick, title and grid colours they resolved when
 * the chart was made (only its legend followed), which left dark-grey axes on a high-contrast black background.
 */
export function themeChart(chart: { config: { options?: unknown } }, colours: ThemeColours): void {
  const options = (chart.config.options ?? {}) as ThemableOptions;
  chart.config.options = options;
  options.color = colours.foreground;
  options.borderColor = colours.grid;
  for (const scale of Object.values(options.scales ?? {})) {
    if (!scale) continue;
    scale.ticks = { ...scale.ticks, color: colours.foreground };
    scale.title = { ...scale.title, color: colours.foreground };
    scale.grid = { ...scale.grid, color: colours.grid };
    scale.border = { ...scale.border, color: colours.grid };
  }
  const plugins = (options.plugins ??= {});
  plugins.legend = { ...plugins.legend, labels: { ...plugins.legend?.labels, color: colours.foreground } };
}

/** Draws a vertical line at `value` on the x axis with a label: the novelty threshold on the histogram. */
export function thresholdLine(getValue: () => number, getColour: () => string): Plugin {
  return {
    id: 'thresholdLine',
    afterDatasetsDraw(chart) {
      const x = chart.scales['x'];
      if (!x) return;
      const value = getValue();
      const pixel = x.getPixelForValue(value);
      const { top, bottom } = chart.chartArea;
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = getColour();
      ctx.fillStyle = getColour();
      ctx.lineWidth = 2;
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(pixel, top);
      ctx.lineTo(pixel, bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.textAlign = 'right';
      ctx.fillText(`threshold ${value.toFixed(2)}`, pixel - 4, top + 12);
      ctx.restore();
    },
  };
}

export { Chart };
