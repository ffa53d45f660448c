/**
 * The JSON of `archloop doctor --json` (remote-python/archloop/doctor.py, DoctorReport) as the extension reads it.
 * parseDoctorReport checks the fields the UI relies on and keeps the rest as sent.
 */

export interface DoctorPackage {
  name: string;
  needed_for: string;
  version: string | null;
  ok: boolean;
  install: string | null;
  error: string | null;
}

export interface DoctorGpu {
  index: number;
  name: string;
  memory_gib: number;
  capability: string;
}

export interface DoctorReport {
  archloop: string;
  protocol: number;
  python: string;
  python_executable: string;
  platform: string;
  cpu_count: number;
  torch: string | null;
  cuda_available: boolean;
  cuda_version: string | null;
  gpus: DoctorGpu[];
  packages: DoctorPackage[];
  optional: DoctorPackage[];
  run_root: string;
  disk_free_gib: number | null;
  cifar10: string | null;
  ok: boolean;
  problems: string[];
  /** With `--preset`: the backend extras that preset needs (`gpu`); absent from older backends. */
  extras?: string[];
}

/** Parses doctor's stdout. Throws an Error that quotes the start of the text if it is not a doctor report. */
export function parseDoctorReport(text: string): DoctorReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`archloop doctor did not print JSON; it printed: ${JSON.stringify(text.slice(0, 200))}`);
  }
  const report = value as Record<string, unknown>;
  const checks: [string, string][] = [
    ['archloop', 'string'],
    ['protocol', 'number'],
    ['python', 'string'],
    ['python_executable', 'string'],
    ['cuda_available', 'boolean'],
    ['ok', 'boolean'],
  ];
  for (const [field, type] of checks) {
    if (typeof report?.[field] !== type) throw new Error(`archloop doctor's report lacks ${field} (${type}); the backend on the host may be from another version.`);
  }
  for (const field of ['gpus', 'packages', 'optional', 'problems']) {
    if (!Array.isArray(report[field])) throw new Error(`archloop doctor's report lacks the list ${field}.`);
  }
  return value as DoctorReport;
}
