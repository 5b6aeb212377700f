import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Graph } from '../ir/graph.ts';
import { parse } from '../ir/parse.ts';
import { buildDiT } from './model/dit.ts';
import { PRESETS } from './model/presets.ts';
import { hasPositionTable, modelDims, type VDiTConfig } from './model/config.ts';
import { sincosTable3d } from './model/embed.ts';
import { seededWeights } from './weights/init.ts';
import { checkWeights, readSafetensors } from './weights/safetensors.ts';
import type { Weights } from './weights/weights.ts';
import { tensor } from '../runtime/tensor.ts';
import { params } from '../ir/graph.ts';

/** A model as the CLI sees it: a graph and where its weights come from. */
export interface LoadedModel {
  readonly name: string;
  readonly graph: Graph;
  readonly weights: Weights;
  readonly config?: VDiTConfig;
  /** human-readable origin of the weights, for reports */
  readonly weightsFrom: string;
}

/** Trained weights shipped with the package, used when a preset is loaded without --weights. */
const EMBEDDED_WEIGHTS: Readonly<Record<string, string>> = { tiny: 'models/tiny/model.safetensors' };
const PACKAGE_ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface LoadOptions {
  /**
   * safetensors file with the weights, or 'seeded' for seeded initialisation; absent: the preset's embedded
   * weights where it has them (tiny), else seeded
   */
  readonly weights?: string;
  readonly weightsSeed?: number;
}

/** Resolves `<model>`: a preset name or a file holding IR text. */
export function loadModel(spec: string, opts: LoadOptions = {}): LoadedModel {
  const preset = Object.prototype.hasOwnProperty.call(PRESETS, spec) ? PRESETS[spec] : undefined;
  let name: string;
  let graph: Graph;
  let config: VDiTConfig | undefined;
  if (preset) {
    name = spec;
    config = preset;
    graph = buildDiT(preset);
  } else if (existsSync(spec) && statSync(spec).isFile()) {
    name = spec;
    try {
      graph = parse(readFileSync(spec, 'utf8'));
    } catch (e) {
      throw new Error(`${spec}:${(e as Error).message}`);
    }
  } else {
    throw new Error(`unknown model '${spec}': not a preset (${Object.keys(PRESETS).join(', ')}) and no such file`);
  }
  const seed = opts.weightsSeed ?? 0;
  const embedded = preset && Object.prototype.hasOwnProperty.call(EMBEDDED_WEIGHTS, spec) ? EMBEDDED_WEIGHTS[spec] : undefined;
  const file = opts.weights === 'seeded' ? undefined : (opts.weights ?? (embedded && join(PACKAGE_ROOT, embedded)));
  const weights = file ? readSafetensors(file) : seededModelWeights(graph, config, seed);
  if (file) checkWeights(graph, weights);
  const weightsFrom = file ? (opts.weights ? file : embedded!) : `seeded initialisation (seed ${seed})`;
  return config ? { name, graph, weights, config, weightsFrom } : { name, graph, weights, weightsFrom };
}

/** Seeded weights, with the fixed sin-cos table as `pos_embed` where the config adds one (it is not learned). */
function seededModelWeights(graph: Graph, cfg: VDiTConfig | undefined, seed: number): Weights {
  const w = seededWeights(graph, seed);
  const pos = params(graph).find((p) => p.attrs['name'] === 'pos_embed');
  if (!cfg || !pos || !hasPositionTable(cfg)) return w;
  const table = tensor(pos.type, sincosTable3d(modelDims(cfg).grid, cfg.hidden));
  return { get: (name) => (name === 'pos_embed' ? table : w.get(name)), names: () => w.names() };
}
