import { buildDiT } from '../../compiler/model/dit.ts';
import { PRESETS } from '../../compiler/model/presets.ts';
import { seededWeights } from '../../compiler/weights/init.ts';
import { seededInputs } from '../../compiler/inputs.ts';
import { runReference } from '../../runtime/reference.ts';
import { stats } from '../../ir/graph.ts';
const g = buildDiT(PRESETS['tiny']!);
console.log(JSON.stringify(stats(g)));
const w = seededWeights(g, 0);
const ins = seededInputs(g, 1);
for (let i = 0; i < 2; i++) {
const t0 = performance.now();
const out = runReference(g, ins, w);
console.log('tiny', (performance.now() - t0).toFixed(0), out.map((o) => o.type.shape.join('x')), Array.from(out[0]!.data.slice(0, 4)));
}
