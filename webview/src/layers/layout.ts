/**
 * The layer graph's layout: dagre's layered (Sugiyama) placement, top to bottom, one box per leaf-module call and one
 * edge per consumed output. Pure (no DOM), so tests and the view share it.
 */
import { Graph, layout, type Edge } from '@dagrejs/dagre';
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

/**
 * Dagre's ordering recurses once per rank (a 2,000-call chain overflows the stack) and its cost grows faster than
 * linearly, so a long net is laid out in consecutive slices of calls, stacked top to bottom and centred; an edge
 * between slices is drawn straight from its source's bottom to its target's top.
 */
export const SLICE = 150;

export function layoutLayers(layers: readonly LayerNode[]): GraphLayout {
  const slices: { start: number; placed: PlacedNode[]; edges: PlacedEdge[]; width: number; height: number }[] = [];
  for (let start = 0; start < layers.length; start += SLICE) slices.push({ start, ...layoutSlice(layers, start, Math.min(layers.length, start + SLICE)) });
  const width = Math.max(NODE_WIDTH + 2 * MARGIN, ...slices.map((slice) => slice.width));
  const nodes: PlacedNode[] = [];
  const edges: PlacedEdge[] = [];
  let top = 0;
  for (const slice of slices) {
    const dx = (width - slice.width) / 2;
    const shift = (p: { x: number; y: number }): { x: number; y: number } => ({ x: p.x + dx, y: p.y + top });
    nodes.push(...slice.placed.map((n) => ({ index: n.index, ...shift(n) })));
    edges.push(...slice.edges.map((e) => ({ ...e, points: e.points.map(shift) })));
    top += slice.height;
  }
  for (const [index, node] of layers.entries()) {
    for (const from of node.inputs) {
      const source = nodes[from];
      const target = nodes[index];
      if (!source || !target || from >= index || Math.floor(from / SLICE) === Math.floor(index / SLICE)) continue;
      edges.push({ from, to: index, points: [{ x: source.x + NODE_WIDTH / 2, y: source.y + NODE_HEIGHT }, { x: target.x + NODE_WIDTH / 2, y: target.y }] });
    }
  }
  return { nodes, edges, width, height: Math.max(top, NODE_HEIGHT + 2 * MARGIN) };
}

type SliceLayout = { placed: PlacedNode[]; edges: PlacedEdge[]; width: number; height: number };

/**
 * Dagre's default placement balances four alignments, and in a residual net that balance moves the main chain one
 * column sideways per block (20 blocks drifted it 1,200 px right). Aligned to one side, the chain stays in one column
 * when the shortcuts sit on the other side; which side that is depends on the order the calls were recorded in. So
 * each slice is laid out aligned up-left, aligned up-right and balanced, and the narrowest is kept.
 */
const ALIGNMENTS = ['UL', 'UR', undefined] as const;

/** Two columns (a chain and its shortcuts): no alignment does better, so the search stops there. */
const TWO_COLUMNS = 2 * NODE_WIDTH + 24 + 2 * MARGIN;

function layoutSlice(layers: readonly LayerNode[], start: number, end: number): SliceLayout {
  let best: SliceLayout | undefined;
  for (const align of ALIGNMENTS) {
    const candidate = layoutSliceAligned(layers, start, end, align);
    if (!best || candidate.width < best.width) best = candidate;
    if (best.width <= TWO_COLUMNS) break;
  }
  return best as SliceLayout;
}

function layoutSliceAligned(layers: readonly LayerNode[], start: number, end: number, align: 'UL' | 'UR' | undefined): SliceLayout {
  const graph = new Graph({ multigraph: false });
  graph.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 28, edgesep: 12, marginx: MARGIN, marginy: MARGIN, ...(align ? { align } : {}) });
  graph.setDefaultEdgeLabel(() => ({}));
  for (let index = start; index < end; index++) graph.setNode(String(index), { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (let index = start; index < end; index++) {
    for (const from of layers[index]?.inputs ?? []) if (from >= start && from < index) graph.setEdge(String(from), String(index));
  }
  layout(graph);
  const placed: PlacedNode[] = [];
  for (let index = start; index < end; index++) {
    const node = graph.node(String(index));
    placed.push({ index, x: node.x - NODE_WIDTH / 2, y: node.y - NODE_HEIGHT / 2 });
  }
  const edges = graph.edges().map((e: Edge) => ({ from: Number(e.v), to: Number(e.w), points: graph.edge(e).points ?? [] }));
  const label = graph.graph();
  return { placed, edges, width: label.width ?? 0, height: label.height ?? 0 };
}
