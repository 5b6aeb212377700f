// The command line both attention benches read (bench/attention-sparse.ts, bench/attention-sparse-cuda.ts): the
// preset (first positional, default cogvideox-2b), its self-attention shape (heads, tokens: text + video for joint
// blocks, head dim) and `--name value` options.
import { modelDims } from '../compiler/model/config.ts';
import { PRESETS } from '../compiler/model/presets.ts';

export interface AttentionArgs {
  readonly preset: string;
  readonly h: number;
  readonly n: number;
  readonly hd: number;
  /** the value after `name`, or the fallback */
  opt(name: string, fallback: string): string;
}

export function attentionArgs(args: readonly string[]): AttentionArgs {
  const preset = args[0] && !args[0].startsWith('-') ? args[0] : 'cogvideox-2b';
  const cfg = PRESETS[preset];
  if (!cfg) throw new Error(`unknown preset '${preset}'`);
  const d = modelDims(cfg);
  return {
    preset, h: cfg.heads, n: (cfg.block === 'joint' ? d.textTokens : 0) + d.videoTokens, hd: cfg.hidden / cfg.heads,
    opt: (name, fallback) => {
      const i = args.indexOf(name);
      return i >= 0 ? args[i + 1]! : fallback;
    },
  };
}
