/** The local git mirror of a run (docs/DESIGN.md, the extension's layout). */
export { GitMirror, type GitMirrorOptions } from './gitMirror';
export { openMirror, readCandidateCode, readMirrorRecords, type MirrorCommit, type MirrorSnapshot } from './mirrorReader';
export { MirrorError, type MirrorErrorCode } from './mirrorError';
export type { CandidateRecord, CycleRecord, RunRecord } from './mirrorRecords';
