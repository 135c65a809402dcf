import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadModel } from '../src/graph/load';
import { runNet } from '../src/exec/executor';

// The executor feeds every source layer from its inputs, as the graph declares them (src/layers/ source
// facts), including a *Data type chaiq does not define (VideoData): it is the net input, not a layer to run.

test('an unknown *Data source layer is fed from the inputs, like the graph says', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-src-'));
  const file = path.join(dir, 'video.prototxt');
  fs.writeFileSync(file, `name: "v"
layer { name: "data" type: "VideoData" top: "data" }
layer { name: "relu" type: "ReLU" bottom: "data" top: "out" }
`);
  try {
    const { graph } = loadModel(file, undefined, { inputShape: [1, 1, 1, 3], warn: () => {} });
    expect(graph.inputs.map((x) => x.name)).toEqual(['data']);
    const out = await runNet(graph, { shape: [1, 1, 1, 3], data: Float32Array.from([-1, 0, 2]) }, { warn: () => {} });
    expect(Array.from(out.get('out')!.data)).toEqual([0, 0, 2]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
