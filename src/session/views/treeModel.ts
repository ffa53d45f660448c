/**
 * The ArchLoop tree as plain data: hosts → runs → cycles → candidates, each node with a stable id, label,
 * description, tooltip, codicon id and context value. The vscode TreeDataProvider in src/ui/ maps these 1:1 to
 * TreeItems; everything that decides what is shown lives here so it is testable under plain Node.
 * Pure; never throws. A filter that hides every candidate of a cycle hides that cycle (not its run or host).
 */
import {
  candidateDescription,
  candidateIcon,
  candidateTooltip,
  formatPercent,
} from './candidatePresentation';
import { costTooltipLines } from '../../protocol/costs';
import { isSelectedNow } from '../../protocol/runFold';
import { countCycle, elapsedMs, formatDuration, phaseText, stageText, type CandidateStatus, type CandidateView, type CycleView, type RunView } from './runView';

export type ConnectionState = 'local' | 'connecting' | 'connected' | 'disconnected';

/** A GPU host (or the local machine) and the runs known on it. */
export interface HostView {
  readonly name: string;
  readonly connection: ConnectionState;
  readonly runs: readonly RunView[];
}

export type NodeKind = 'host' | 'run' | 'cycle' | 'candidate';

export interface TreeNode {
  /** Stable across refreshes so VS Code keeps expansion and selection. */
  readonly id: string;
  readonly kind: NodeKind;
  readonly label: string;
  readonly description: string;
  readonly tooltip: string;
  readonly iconId: string;
  /** For `when` clauses in package.json menus, e.g. "archloop.candidate.trained.selected". */
  readonly contextValue: string;
  readonly collapsible: 'none' | 'collapsed' | 'expanded';
  readonly children: readonly TreeNode[];
  /** Set on candidate nodes: what a command invoked on the node needs. */
  readonly ref?: { readonly host: string; readonly run: string; readonly cycle: number; readonly candidate: string };
  /** Set on run nodes: the run that Pause, Resume, Stop and Run Next Cycles on the node address. */
  readonly runRef?: { readonly host: string; readonly run: string };
}

export interface TreeFilter {
  /** Show only candidates in these statuses; all when undefined or empty. */
  readonly statuses?: ReadonlySet<CandidateStatus>;
  readonly onlySelected?: boolean;
  /** 'none' = no verdict given yet. */
  readonly verdict?: 'accept' | 'reject' | 'none';
  /** Hide candidates below this accuracy (untrained ones have none and are hidden too). */
  readonly minAccuracy?: number;
  /** Case-insensitive substring of the candidate id, an annotation or a tag. */
  readonly text?: string;
}

/** True when the filter keeps every candidate (so cycles with no candidates yet still show). */
export function isEmptyFilter(filter: TreeFilter): boolean {
  return (
    (!filter.statuses || filter.statuses.size === 0) &&
    !filter.onlySelected &&
    filter.verdict === undefined &&
    filter.minAccuracy === undefined &&
    !filter.text
  );
}

export function matchesFilter(candidate: CandidateView, filter: TreeFilter): boolean {
  if (filter.statuses && filter.statuses.size > 0 && !filter.statuses.has(candidate.status)) return false;
  if (filter.onlySelected && !isSelectedNow(candidate)) return false;
  if (filter.verdict === 'none' ? candidate.verdict !== null : filter.verdict !== undefined && candidate.verdict !== filter.verdict) {
    return false;
  }
  if (filter.minAccuracy !== undefined && (candidate.accuracy === null || candidate.accuracy < filter.minAccuracy)) return false;
  if (filter.text) {
    const needle = filter.text.toLowerCase();
    const haystack = [candidate.id, ...candidate.annotations.flatMap((a) => [a.text, ...a.tags])].join('\n').toLowerCase();
    if (!haystack.includes(needle)) return false;
  }
  return true;
}

const CONNECTION_ICON: Readonly<Record<ConnectionState, string>> = {
  local: 'vm',
  connecting: 'loading~spin',
  connected: 'remote',
  disconnected: 'debug-disconnect',
};

export function buildTree(hosts: readonly HostView[], filter: TreeFilter = {}): TreeNode[] {
  return hosts.map((host) => hostNode(host, filter));
}

function hostNode(host: HostView, filter: TreeFilter): TreeNode {
  const children = host.runs.map((run) => runNode(host.name, run, filter));
  return {
    id: `host:${host.name}`,
    kind: 'host',
    label: host.name,
    description: `${host.connection} · ${host.runs.length} run${host.runs.length === 1 ? '' : 's'}`,
    tooltip: `${host.name}: ${host.connection}`,
    iconId: CONNECTION_ICON[host.connection],
    contextValue: `archloop.host.${host.connection}`,
    collapsible: children.length ? 'expanded' : 'none',
    children,
  };
}

const RUN_ICON: Readonly<Record<RunView['phase'], string>> = {
  running: 'play-circle',
  paused: 'debug-pause',
  stopping: 'loading~spin',
  finished: 'check-all',
  stopped: 'debug-stop',
  failed: 'error',
};

function runNode(host: string, run: RunView, filter: TreeFilter): TreeNode {
  const children = [...run.cycleOrder]
    .reverse() // newest cycle first: that is where the action is
    .map((cycle) => run.cycles[cycle])
    .filter((cycle): cycle is CycleView => cycle !== undefined)
    .map((cycle, i) => cycleNode(host, run.run, cycle, filter, i === 0))
    .filter((node): node is TreeNode => node !== undefined);
  const shown = run.cycleOrder.length ? Math.max(...run.cycleOrder) : null;
  const progress = shown === null ? 'no cycles yet' : `cycle ${shown}${run.plannedCycles !== null ? `/${run.plannedCycles}` : ''}`;
  const ended = run.phase === 'finished' || run.phase === 'stopped' || run.phase === 'failed';
  const stage = ended ? null : stageText(run);
  // The running time as of the run's last event (exact once it is paused or ended: the clock stands still then).
  const elapsed = run.lastTs === null ? null : formatDuration(elapsedMs(run, run.lastTs));
  const state = [phaseText(run), progress, stage, elapsed].filter((part): part is string => part !== null);
  const lastError = run.errors[run.errors.length - 1];
  const tooltip = [
    `${run.name ?? run.run} (${run.run})`,
    run.model ? `model: ${run.model}` : undefined,
    `${phaseText(run)}, ${progress}${stage ? `, ${stage}` : ''}`,
    elapsed ? `running time ${elapsed}${run.phase === 'paused' ? ' (paused)' : ''}` : undefined,
    lastError ? `last error${lastError.stage ? ` in ${lastError.stage}` : ''}: ${lastError.message}` : undefined,
    run.finishedDetail ?? undefined, // e.g. the budget that ended it
    ...costTooltipLines(run.cycleOrder.map((cycle) => run.cycles[cycle]?.cost ?? null)),
  ].filter((line): line is string => line !== undefined);
  return {
    id: `run:${host}/${run.run}`,
    kind: 'run',
    label: run.name ?? run.run,
    description: state.join(' · '),
    tooltip: tooltip.join('\n'),
    iconId: RUN_ICON[run.phase],
    contextValue: `archloop.run.${run.phase}`,
    runRef: { host, run: run.run },
    collapsible: children.length ? (ended ? 'collapsed' : 'expanded') : 'none',
    children,
  };
}

function cycleNode(host: string, run: string, cycle: CycleView, filter: TreeFilter, newest: boolean): TreeNode | undefined {
  const candidates = cycle.order
    .map((id) => cycle.candidates[id])
    .filter((candidate): candidate is CandidateView => candidate !== undefined && matchesFilter(candidate, filter));
  if (candidates.length === 0 && !isEmptyFilter(filter)) return undefined;
  const counts = countCycle(cycle);
  const planned = cycle.planned !== null ? `/${cycle.planned}` : '';
  const parts = [`${counts.generated}${planned} generated`, `${counts.valid} valid`];
  if (counts.selected) parts.push(`${counts.selected} selected`);
  if (counts.best !== null) parts.push(`best ${formatPercent(counts.best)}`);
  if (cycle.phase === 'finetuning' && cycle.finetune) {
    parts.push(`fine-tuning ${Math.round((100 * cycle.finetune.step) / Math.max(1, cycle.finetune.total))}%`);
  }
  const tooltip = [`Cycle ${cycle.cycle}: ${cycle.phase}`, ...parts];
  if (cycle.adapter) tooltip.push(`adapter: ${cycle.adapter}`);
  if (cycle.stats) {
    tooltip.push(`valid ${formatPercent(cycle.stats.validPct)} (95% CI ${cycle.stats.validCI.map((v) => v.toFixed(1)).join('–')})`);
    tooltip.push(`mean ${formatPercent(cycle.stats.meanAcc)}, ≥40% ${formatPercent(cycle.stats.atLeast40Pct)}`);
  }
  return {
    id: `cycle:${host}/${run}/${cycle.cycle}`,
    kind: 'cycle',
    label: `Cycle ${cycle.cycle}`,
    description: parts.join(' · '),
    tooltip: tooltip.join('\n'),
    iconId: cycle.phase === 'finished' ? 'check' : cycle.phase === 'finetuning' ? 'mortar-board' : 'sync~spin',
    contextValue: `archloop.cycle.${cycle.phase}`,
    // The cycle being run opens, so its new candidates show as they come; finished and superseded ones fold away.
    collapsible: candidates.length ? (newest && cycle.phase !== 'finished' ? 'expanded' : 'collapsed') : 'none',
    children: candidates.map((candidate) => candidateNode(host, run, candidate)),
  };
}

function candidateNode(host: string, run: string, candidate: CandidateView): TreeNode {
  const flags = [isSelectedNow(candidate) ? 'selected' : undefined, candidate.verdict ?? undefined].filter(Boolean);
  return {
    id: `candidate:${host}/${run}/${candidate.id}`,
    kind: 'candidate',
    label: candidate.id,
    description: candidateDescription(candidate),
    tooltip: candidateTooltip(candidate),
    iconId: candidateIcon(candidate),
    contextValue: ['archloop.candidate', candidate.status, ...flags].join('.'),
    collapsible: 'none',
    children: [],
    ref: { host, run, cycle: candidate.cycle, candidate: candidate.id },
  };
}
