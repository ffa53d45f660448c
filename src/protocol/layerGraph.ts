/**
 * Messages between the layer graph panel (webview/src/layers/) and its host, declared once and validated on both
 * sides. The host sends the candidate's layer graph (from its `candidate.validated` event); the webview asks the host
 * to reveal a node's construction line in the candidate's tab.
 */
import { z } from 'zod';
import { Id, LayerNode, MAX_LAYER_NODES } from './messages';

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
