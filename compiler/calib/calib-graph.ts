import { graph, toposort, type Graph } from '../../ir/graph.ts';
import { node, type Node } from '../../ir/node.ts';
import { buildDiT } from '../model/dit.ts';
import { modelDims, type VDiTConfig } from '../model/config.ts';

/**
 * The calibration graph: the FP denoiser whose outputs are [velocity, block 0 input, …, block D−1 input] and,
 * with `importance`, then [S of block 0, …, S of block D−1] where S = attention_colsum of the block's
 * self-attention ([B, attention tokens]). Extra outputs are nodes the forward already computes, so the
 * velocity is bit-identical to the plain model's.
 */
export interface CalibGraph {
  readonly graph: Graph;
  readonly blocks: number;
  /** tokens × channels of one block input row */
  readonly tokens: number;
  readonly channels: number;
  readonly textTokens: number;
  /** keys of each S row, when importance is recorded */
  readonly keys?: number;
}

export function buildCalibGraph(cfg: VDiTConfig, opts: { readonly importance?: boolean } = {}): CalibGraph {
  const full = buildDiT(cfg);
  const d = modelDims(cfg);
  const tokens = cfg.block === 'joint' ? d.textTokens + d.videoTokens : d.videoTokens;
  const inputs = blockInputs(cfg);
  for (const [i, h] of inputs.entries()) {
    if (h.type.shape.join() !== [cfg.batch, tokens, cfg.hidden].join()) {
      throw new Error(`calib: block ${i} input is [${h.type.shape.join(',')}], want [${cfg.batch},${tokens},${cfg.hidden}]`);
    }
  }
  const base = { blocks: cfg.depth, tokens, channels: cfg.hidden, textTokens: cfg.block === 'joint' ? d.textTokens : 0 };
  if (!opts.importance) return { graph: graph(full.name, full.inputs, [...full.outputs, ...inputs]), ...base };
  if (cfg.block === 'factorized') {
    throw new Error('calib: attention importance needs full self-attention blocks (joint or cross), not factorized');
  }
  const colsums = selfAttentions(full, cfg.depth).map((a) =>
    node('attention_colsum', [a.src[0]!, a.src[1]!], { scale: a.attrs['scale']! }));
  return { graph: graph(full.name, full.inputs, [...full.outputs, ...inputs, ...colsums]), ...base, keys: tokens };
}

/**
 * Block i's input is the output of buildDiT(cfg, {stopAfterBlock: i − 1}): hash-consing makes it the very node
 * of the full graph. Block 0's is found by walking back over block 0's residual adds (their second operand reads
 * blocks.0 params), which stops at the embedded tokens.
 */
function blockInputs(cfg: VDiTConfig): Node[] {
  return Array.from({ length: cfg.depth }, (_, i) => blockInput(cfg, i));
}

/** Block i's input node in buildDiT(cfg)'s graph (see blockInputs). */
export function blockInput(cfg: VDiTConfig, i: number): Node {
  if (!(Number.isInteger(i) && i >= 0 && i < cfg.depth)) throw new Error(`block ${i} is not in [0, ${cfg.depth})`);
  if (i > 0) return buildDiT(cfg, { stopAfterBlock: i - 1 }).outputs[0]!;
  let h = buildDiT(cfg, { stopAfterBlock: 0 }).outputs[0]!;
  const reads0 = readsPrefix('blocks.0.');
  while (h.op === 'add' && reads0(h.src[1]!)) h = h.src[0]!;
  return h;
}

function readsPrefix(prefix: string): (n: Node) => boolean {
  const memo = new Map<Node, boolean>();
  const visit = (n: Node): boolean => {
    let r = memo.get(n);
    if (r !== undefined) return r;
    r = n.op === 'param' ? String(n.attrs['name']).startsWith(prefix) : n.src.some(visit);
    memo.set(n, r);
    return r;
  };
  return visit;
}

/** Each block's self-attention node, found by the q projection its q operand comes from. */
function selfAttentions(g: Graph, depth: number): Node[] {
  const found = new Map<number, Node>();
  for (const n of toposort(g)) {
    if (n.op !== 'attention') continue;
    let q = n.src[0]!;
    while (q.op !== 'linear' && q.src.length > 0) q = q.src[0]!;
    const m = /^blocks\.(\d+)\.attn\.q\.weight$/.exec(String(q.src[1]?.attrs['name']));
    if (m) found.set(Number(m[1]), n);
  }
  return Array.from({ length: depth }, (_, i) => {
    const a = found.get(i);
    if (!a) throw new Error(`calib: found no self-attention in block ${i}`);
    return a;
  });
}
