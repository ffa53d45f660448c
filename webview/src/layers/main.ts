// Layer graph panel entry point (browser bundle): validates the host's messages and draws the graph in #root.
import '../zodConfig';
import { LayerGraphHostMessage, LayerGraphWebviewMessage } from '../../../src/protocol/layerGraph';
import { LayerGraphView } from './view';

interface VsCodeApi {
  postMessage(message: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const api = acquireVsCodeApi();
const post = (message: LayerGraphWebviewMessage): void => {
  const checked = LayerGraphWebviewMessage.safeParse(message);
  if (checked.success) api.postMessage(checked.data);
  else console.error('archloop layer graph: refusing to post an invalid message', checked.error.message);
};
const root = document.getElementById('root');
if (root) {
  const view = new LayerGraphView(root, post);
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    const checked = LayerGraphHostMessage.safeParse(event.data);
    if (!checked.success) {
      console.error('archloop layer graph: dropped an invalid host message', checked.error.message);
      return;
    }
    view.show(checked.data);
    document.documentElement.dataset.layersShown = String(checked.data.layers.length);
  });
  post({ type: 'layers.ready' });
}
