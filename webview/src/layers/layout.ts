/**
 * The layer graph's layout: dagre's layered (Sugiyama) placement, top to bottom, one box per leaf-module call and one
 * edge per consumed output. Pure (no DOM), so tests and the view share it.
 */
import { Graph, layout } from '@dagrejs/dagre';
import type { LayerNode } from '../../../src/protocol/messages';

export const NODE_WIDTH = 240;
export const NODE_HEIGHT = 48;
const MARGIN = 16;

export interface PlacedNode {
  readonly index: number;
  /** Top-left corner. */
  readonly x: number;
  readonly y: number;
}

export interface PlacedEdge {
  readonly from: number;
  readonly to: number;
  readonly points: readonly { x: number; y: number }[];
}

export interface GraphLayout {
  readonly nodes: readonly PlacedNode[];
  readonly edges: readonly PlacedEdge[];
  readonly width: number;
  readonly height: number;
}

export function layoutLayers(layers: readonly LayerNode[]): GraphLayout {
  const graph = new Graph({ multigraph: false });
  graph.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 28, edgesep: 12, marginx: MARGIN, marginy: MARGIN });
  graph.setDefaultEdgeLabel(() => ({}));
  layers.forEach((_, index) => graph.setNode(String(index), { width: NODE_WIDTH, height: NODE_HEIGHT }));
  layers.forEach((node, index) => {
    for (const from of node.inputs) if (from < index) graph.setEdge(String(from), String(index));
  });
  layout(graph);
  const nodes = layers.map((_, index) => {
    const placed = graph.node(String(index));
    return { index, x: placed.x - NODE_WIDTH / 2, y: placed.y - NODE_HEIGHT / 2 };
  });
  const edges = graph.edges().map((e) => ({ from: Number(e.v), to: Number(e.w), points: graph.edge(e).points ?? [] }));
  const label = graph.graph();
  return { nodes, edges, width: Math.max(label.width ?? 0, NODE_WIDTH + 2 * MARGIN), height: Math.max(label.height ?? 0, NODE_HEIGHT + 2 * MARGIN) };
}
