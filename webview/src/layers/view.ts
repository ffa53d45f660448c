/**
 * The layer graph panel's page: an SVG of the laid-out graph in a scrolling pane, zoomed by scaling the SVG's size
 * (its viewBox stays the layout's), so the browser scrolls a big net natively. Every node shows its type, qualified
 * name, output shape and parameters; a node with a construction line is a button that asks the host to reveal it.
 * Built with DOM calls and SVG attributes only: the page's CSP allows no inline style or script.
 */
import type { LayerNode } from '../../../src/protocol/messages';
import { formatParams, formatShape, type LayerGraphShow, type LayerGraphWebviewMessage } from '../../../src/protocol/layerGraph';
import { layoutLayers, NODE_HEIGHT, NODE_WIDTH, type GraphLayout } from './layout';

const SVG = 'http://www.w3.org/2000/svg';
const ZOOMS = [0.25, 0.4, 0.55, 0.7, 0.85, 1, 1.25, 1.5, 2];

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

function html<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text = ''): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  element.className = className;
  element.textContent = text;
  return element;
}

/** A colour family per module type, so a reader sees the net's rhythm (conv, norm, activation, pool...) at a glance. */
export function typeFamily(type: string): string {
  const t = type.toLowerCase();
  if (t.includes('conv')) return 'conv';
  if (t.includes('norm')) return 'norm';
  if (t.includes('pool')) return 'pool';
  if (t.includes('linear') || t.includes('bilinear')) return 'linear';
  if (t.includes('dropout')) return 'dropout';
  if (/relu|gelu|silu|sigmoid|tanh|swish|mish|hardswish|elu|softmax|prelu/.test(t)) return 'activation';
  return 'other';
}

function clip(text: string, chars: number): string {
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

export class LayerGraphView {
  private zoom = ZOOMS.indexOf(1);
  private svgElement: SVGSVGElement | null = null;
  private graph: GraphLayout | null = null;
  private readonly header = html('div', 'layers-header');
  private readonly pane = html('div', 'layers-pane');

  constructor(
    private readonly root: HTMLElement,
    private readonly post: (message: LayerGraphWebviewMessage) => void,
  ) {
    const toolbar = html('div', 'layers-toolbar');
    const button = (label: string, title: string, action: () => void): void => {
      const b = html('button', 'layers-button', label);
      b.type = 'button';
      b.title = title;
      b.addEventListener('click', action);
      toolbar.append(b);
    };
    button('−', 'Zoom out', () => this.setZoom(this.zoom - 1));
    button('+', 'Zoom in', () => this.setZoom(this.zoom + 1));
    button('Fit width', 'Zoom so the graph fits the panel width', () => this.fitWidth());
    button('100 %', 'Actual size', () => this.setZoom(ZOOMS.indexOf(1)));
    this.pane.addEventListener(
      'wheel',
      (event) => {
        if (!event.ctrlKey) return; // plain wheel scrolls; Ctrl+wheel zooms
        event.preventDefault();
        this.setZoom(this.zoom + (event.deltaY < 0 ? 1 : -1));
      },
      { passive: false },
    );
    this.root.replaceChildren(this.header, toolbar, this.pane);
    this.header.textContent = 'Waiting for the layer graph…';
  }

  show(message: LayerGraphShow): void {
    const { layers } = message;
    const count = `${layers.length} layer call${layers.length === 1 ? '' : 's'}`;
    const params = layers.reduce((sum, n) => sum + n.params, 0);
    this.header.textContent = `${message.candidate} · cycle ${message.cycle} · ${count}${message.truncated ? ' (cut at the cap: the net calls more)' : ''} · ${formatParams(params)} parameters`;
    if (!layers.length) {
      this.pane.replaceChildren(html('p', 'layers-empty', 'This net has no leaf modules to draw (its forward uses functional calls only).'));
      this.svgElement = null;
      return;
    }
    this.graph = layoutLayers(layers);
    this.svgElement = this.draw(message.candidate, layers, this.graph);
    this.pane.replaceChildren(this.svgElement);
    this.applyZoom();
  }

  private draw(candidate: string, layers: readonly LayerNode[], graph: GraphLayout): SVGSVGElement {
    const root = svg('svg', { viewBox: `0 0 ${graph.width} ${graph.height}`, class: 'layers-svg', role: 'list', 'data-testid': 'layer-graph' });
    const defs = svg('defs', {});
    const marker = svg('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' });
    marker.append(svg('path', { d: 'M0,0 L8,4 L0,8 z', class: 'layers-arrow' }));
    defs.append(marker);
    root.append(defs);
    const edges = svg('g', { class: 'layers-edges' });
    for (const edge of graph.edges) {
      if (!edge.points.length) continue;
      const d = edge.points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
      const skip = edge.to - edge.from > 1;
      edges.append(svg('path', { d, class: skip ? 'layers-edge skip' : 'layers-edge', 'marker-end': 'url(#arrow)', 'data-from': edge.from, 'data-to': edge.to }));
    }
    root.append(edges);
    const nodes = svg('g', { class: 'layers-nodes' });
    for (const placed of graph.nodes) {
      const node = layers[placed.index];
      if (!node) continue;
      const clickable = node.line !== null;
      const group = svg('g', {
        class: `layer-node family-${typeFamily(node.type)}${clickable ? ' clickable' : ''}`,
        transform: `translate(${placed.x.toFixed(1)},${placed.y.toFixed(1)})`,
        'data-index': placed.index,
        'data-name': node.name,
        role: clickable ? 'button' : 'listitem',
      });
      if (clickable) group.setAttribute('tabindex', '0');
      const title = svg('title', {});
      title.textContent = `${node.name} (${node.type})\noutput ${formatShape(node.shape)} · ${node.params.toLocaleString('en-US')} parameters${clickable ? `\nline ${node.line}: click to show it` : '\nno construction line found in the source'}`;
      group.append(title, svg('rect', { width: NODE_WIDTH, height: NODE_HEIGHT, rx: 5, ry: 5, class: 'layer-box' }));
      const head = svg('text', { x: 10, y: 19, class: 'layer-type' });
      head.textContent = clip(node.type, 18);
      const name = svg('text', { x: NODE_WIDTH - 10, y: 19, class: 'layer-name', 'text-anchor': 'end' });
      name.textContent = clip(node.name, 18);
      const facts = svg('text', { x: 10, y: 38, class: 'layer-facts' });
      facts.textContent = clip(`${formatShape(node.shape)} · ${formatParams(node.params)} params`, 36);
      group.append(head, name, facts);
      if (clickable) {
        const reveal = (): void => this.post({ type: 'layers.reveal', candidate, node: placed.index, line: node.line ?? 1 });
        group.addEventListener('click', reveal);
        group.addEventListener('keydown', (event) => {
          if (event.key === 'Enter' || event.key === ' ') {
            event.preventDefault();
            reveal();
          }
        });
      }
      nodes.append(group);
    }
    root.append(nodes);
    return root;
  }

  private setZoom(index: number): void {
    this.zoom = Math.min(ZOOMS.length - 1, Math.max(0, index));
    this.applyZoom();
  }

  private fitWidth(): void {
    if (!this.graph) return;
    const wanted = this.pane.clientWidth / this.graph.width;
    const fitting = ZOOMS.filter((z) => z <= wanted);
    this.setZoom(fitting.length ? ZOOMS.indexOf(fitting[fitting.length - 1] ?? 1) : 0);
  }

  private applyZoom(): void {
    if (!this.svgElement || !this.graph) return;
    const scale = ZOOMS[this.zoom] ?? 1;
    // Width and height attributes (not CSS): the CSP admits no inline style, and the pane scrolls the result.
    this.svgElement.setAttribute('width', String(Math.round(this.graph.width * scale)));
    this.svgElement.setAttribute('height', String(Math.round(this.graph.height * scale)));
    this.root.dataset.zoom = String(scale);
  }
}
