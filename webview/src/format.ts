/** Number formatting shared by the views (one place, so the table, tooltips and tests agree). */

export function formatPercent(value: number | null, digits = 2): string {
  return value === null ? '—' : `${value.toFixed(digits)} %`;
}

/** A Wilson interval as "[lo – hi]"; the protocol gives it in percent, like the value it belongs to. */
export function formatInterval(interval: readonly [number, number] | null, digits = 1): string {
  return interval === null ? '' : `[${interval[0].toFixed(digits)} – ${interval[1].toFixed(digits)}]`;
}

// One formatter for all counts: Number#toLocaleString builds a new one per call, which shows up in profiles.
const COUNT = new Intl.NumberFormat('en-US');

export function formatCount(value: number | null): string {
  return value === null ? '—' : COUNT.format(value);
}

export function formatSeconds(value: number | null): string {
  if (value === null) return '—';
  if (value < 60) return `${value.toFixed(1)} s`;
  const minutes = Math.floor(value / 60);
  return `${minutes} min ${Math.round(value - minutes * 60)} s`;
}

export function formatJaccard(value: number | null): string {
  return value === null ? '—' : value.toFixed(3);
}
