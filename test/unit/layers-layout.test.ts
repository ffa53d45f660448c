// The layer graph's layout (dagre) on residual nets: the main chain stays in one column whichever side the recorder
// put the shortcuts on, no two boxes overlap, and every call is below the calls it reads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LayerNode } from '../../src/protocol/messages';
import { NODE_HEIGHT, NODE_WIDTH, layoutLayers } from '../../webview/src/layers/layout';

/** A stem and `blocks` residual blocks (conv, bn, relu, conv, bn, and a shortcut recorded first or last). */
function residual(blocks: number, shortcutFirst: boolean): { layers: LayerNode[]; conv1: number[] } {
  const layers: LayerNode[] = [];
  const add = (name: string, inputs: number[]): number => {
    layers.push({ name, type: name.split('.').at(-1) ?? name, params: 0, shape: [1, 16, 8, 8], inputs, line: null });
    return layers.length - 1;
  };
  const conv1: number[] = [];
  let input = [add('stem', [])];
  for (let b = 0; b < blocks; b++) {
    const early = shortcutFirst ? add(`b${b}.shortcut`, input) : -1;
    let x = add(`b${b}.conv1`, input);
    conv1.push(x);
    for (const part of ['bn1', 'relu', 'conv2', 'bn2']) x = add(`b${b}.${part}`, [x]);
    input = [x, shortcutFirst ? early : add(`b${b}.shortcut`, input)];
  }
  add('head', input);
  return { layers, conv1 };
}

for (const shortcutFirst of [false, true]) {
  test(`a 20-block residual net keeps its main chain in one column (shortcut recorded ${shortcutFirst ? 'first' : 'last'})`, () => {
    const { layers, conv1 } = residual(20, shortcutFirst);
    const placed = layoutLayers(layers);
    const xs = conv1.map((i) => placed.nodes[i]?.x ?? NaN);
    assert.ok(Math.max(...xs) - Math.min(...xs) <= 1, `conv1 columns drift: ${xs.map((x) => x.toFixed(0)).join(' ')}`);
    assert.ok(placed.width <= 4 * NODE_WIDTH, `the graph is ${placed.width} px wide`);
    for (const [i, node] of layers.entries()) {
      for (const from of node.inputs) assert.ok((placed.nodes[from]?.y ?? Infinity) < (placed.nodes[i]?.y ?? -Infinity), `${from} above ${i}`);
    }
    const boxes = placed.nodes;
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        assert.ok(!(a.x < b.x + NODE_WIDTH && b.x < a.x + NODE_WIDTH && a.y < b.y + NODE_HEIGHT && b.y < a.y + NODE_HEIGHT), `${a.index} overlaps ${b.index}`);
      }
    }
  });
}
