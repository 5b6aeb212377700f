// The tiny model's clips from the CUDA runner against the WGSL executor's: the same build (W4A8 RTN by default,
// `--quant none` FP; `--prune <value>` as `vdit compile --prune`, online selection), f32 storage, the same classes,
// seeds and sampler (carried state fed back by each backend's denoiser); PSNR and the largest difference per clip.
// Run on the GPU:
//   npx tsx bench/cuda-vs-wgsl.ts [--quant w4a8|none] [--prune …] [--clips 8] [--steps 30] [-o result.json]
import { renameSync, writeFileSync } from 'node:fs';
import { psnr } from '../compiler/eval/fidelity.ts';
import { generateClips, type ClipRequest } from '../compiler/generate/generate-clips.ts';
import { openDenoiser, type Backend } from '../compiler/generate/session.ts';
import { loadModel } from '../compiler/models.ts';
import { parsePrune, pruneFromStore } from '../compiler/commands/compile-calibration.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const quant = opt('--quant', 'w4a8');
const clips = Number(opt('--clips', '8'));
const steps = Number(opt('--steps', '30'));
const out = opt('-o', '');
const pruneText = opt('--prune', '');
const model = loadModel('tiny');
const prune = pruneText ? pruneFromStore(parsePrune(pruneText), undefined, model) : undefined;
// classes spread over the 48, one seed each: never all the same clip
const requests: ClipRequest[] = Array.from({ length: clips }, (_, i) => ({ cls: (i * 7) % 48, seed: 100 + i }));

async function sample(backend: Backend) {
  const session = await openDenoiser(model, {
    backend, dtype: 'f32', clips, ...(quant === 'none' ? {} : { quant: { setting: quant, keepFp: [] } }),
    ...(prune ? { prune } : {}),
  });
  try {
    const r = await generateClips(session, requests, { steps, cfg: 2 });
    return { ...r, device: session.device ?? backend };
  } finally {
    session.close();
  }
}

const cuda = await sample('cuda');
const wgsl = await sample('wgsl');
const rows = requests.map((r, i) => {
  const [a, b] = [cuda.clips[i]!, wgsl.clips[i]!];
  let maxAbs = 0;
  for (let j = 0; j < a.length; j++) maxAbs = Math.max(maxAbs, Math.abs(a[j]! - b[j]!));
  return { cls: r.cls, seed: r.seed, psnr: psnr(a, b), maxAbs };
});
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
const result = {
  quant, ...(pruneText ? { prune: pruneText } : {}), clips, steps, cfg: 2, cudaDevice: cuda.device, wgslDevice: wgsl.device,
  cudaStepMs: median(cuda.stepMs), wgslStepMs: median(wgsl.stepMs),
  minPsnr: Math.min(...rows.map((r) => r.psnr)), maxAbs: Math.max(...rows.map((r) => r.maxAbs)), rows,
};
console.log(JSON.stringify(result, null, 1));
if (out) {
  writeFileSync(`${out}.tmp`, JSON.stringify(result, null, 1));
  renameSync(`${out}.tmp`, out);
}
