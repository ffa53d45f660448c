/**
 * Messages between the layer graph panel (webview/src/layers/) and its host, declared once and validated on both
 * sides. The host sends the candidate's layer graph (from its `candidate.validated` event); the webview asks the host
 * to reveal a node's construction line in the candidate's tab.
 */
import { z } from 'zod';
import { Id, LayerNode, MAX_LAYER_NODES, type Event } from './messages';

export const LayerGraphShow = z.object({
  type: z.literal('layers.show'),
  candidate: Id,
  cycle: z.int().min(0),
  layers: z.array(LayerNode).max(MAX_LAYER_NODES),
  truncated: z.boolean(),
});
export type LayerGraphShow = z.infer<typeof LayerGraphShow>;

export const LayerGraphHostMessage = LayerGraphShow;
export type LayerGraphHostMessage = z.infer<typeof LayerGraphHostMessage>;

export const LayerGraphWebviewMessage = z.discriminatedUnion('type', [
  /** The page is listening; the host answers with `layers.show`. */
  z.object({ type: z.literal('layers.ready') }),
  /** Reveal line `line` of the candidate's code (1-based, in the code, not counting the tab's header). */
  z.object({ type: z.literal('layers.reveal'), candidate: Id, node: z.int().min(0), line: z.int().min(1) }),
]);
export type LayerGraphWebviewMessage = z.infer<typeof LayerGraphWebviewMessage>;

/** Text for a node's shape, e.g. `1×64×16×16`, or `—` when the module returned no tensor. */
export function formatShape(shape: readonly number[] | null): string {
  return shape ? shape.join('×') : '—';
}

/** Compact parameter counts: 0, 950, 12.3k, 1.2M. */
export function formatParams(params: number): string {
  if (params < 1000) return String(params);
  if (params < 1_000_000) return `${(params / 1000).toFixed(params < 10_000 ? 1 : 0)}k`;
  return `${(params / 1_000_000).toFixed(1)}M`;
}

/** The layer graph message for a candidate from the run's events, or why there is none (in words for the user). */
export function layerGraphOf(events: readonly Event[], address: { readonly candidate: string }): LayerGraphShow | string {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i];
    if (event?.kind !== 'candidate.validated' || event.data.candidate !== address.candidate) continue;
    if (!event.data.ok) return `${address.candidate} failed validation (${event.data.outcome}): there is no forward to draw.`;
    if (!event.data.layers) return `${address.candidate} was validated by a backend that did not record layer graphs.`;
    return { type: 'layers.show', candidate: address.candidate, cycle: event.data.cycle, layers: event.data.layers, truncated: event.data.layersTruncated ?? false };
  }
  return `${address.candidate} has not been validated yet: its layer graph comes from the validation forward.`;
}

/** The 0-based document line of code line `line` (1-based) in a candidate tab: the tab puts a header above the code. */
export function documentLine(text: string, code: string | undefined, line: number): number {
  const codeStart = code && text.endsWith(code) ? text.slice(0, text.length - code.length).split('\n').length - 1 : 0;
  return codeStart + line - 1;
}
