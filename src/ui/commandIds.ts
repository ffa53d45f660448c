/** Command ids contributed in package.json, in one list so the manifest and the code agree. */
export const COMMANDS = {
  connect: 'archloop.connect',
  disconnect: 'archloop.disconnect',
  startRun: 'archloop.startRun',
  attachRun: 'archloop.attachRun',
  runNextCycles: 'archloop.runNextCycles',
  pauseRun: 'archloop.pauseRun',
  resumeRun: 'archloop.resumeRun',
  stopRun: 'archloop.stopRun',
  openDashboard: 'archloop.openDashboard',
  compareRuns: 'archloop.compareRuns',
  openCandidate: 'archloop.openCandidate',
  acceptCandidate: 'archloop.acceptCandidate',
  rejectCandidate: 'archloop.rejectCandidate',
  annotateCandidate: 'archloop.annotateCandidate',
  diffNearest: 'archloop.diffNearest',
  editAsNewCandidate: 'archloop.editAsNewCandidate',
  submitCandidate: 'archloop.submitCandidate',
  showLayerGraph: 'archloop.showLayerGraph',
  exportCorpus: 'archloop.exportCorpus',
  openGitMirror: 'archloop.openGitMirror',
  showBackendLog: 'archloop.showBackendLog',
  checkHost: 'archloop.checkHost',
  filterCandidates: 'archloop.filterCandidates',
  recheckCandidates: 'archloop.recheckCandidates',
  recheckCandidate: 'archloop.recheckCandidate',
} as const;

/** Context keys the `when` clauses in package.json read. */
export const CONTEXT = {
  connected: 'archloop.connected',
  hasRun: 'archloop.hasRun',
  /** The focused run's phase (runFold.ts RunPhase): which of Pause, Resume, Stop and Run Next Cycles apply. */
  runPhase: 'archloop.runPhase',
} as const;
