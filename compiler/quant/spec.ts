import { toposort, type Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import {
  parseQuantSetting, quantSettingName, quantSpec, type ActBits, type ActFormat, type QuantSpec, type WeightBits,
} from '../../ir/quant.ts';

/**
 * Which linears are quantized, and at what precision, chosen by patterns over layer names. A layer name is the
 * linear's weight param name without its `.weight` suffix (`blocks.3.attn.q`).
 *
 * Patterns: a RegExp (or a string `/…/flags`) must match the whole name; anything else is a glob where `*` matches
 * within one dot-separated segment, `**` matches across segments and `{a,b}` is an alternation.
 * Decision: a layer is quantized when it matches `include` and no `exclude` (exclude wins); then every matching
 * override applies in order, so a later override beats an earlier one (mixed precision). An override keeps what it
 * leaves out from the spec so far, the activation format included: under w4a8-fp8 a `{ wBits: 4, aBits: 8 }`
 * override stays FP8, and one whose bits FP8 cannot take (a6, w8) must say `aFormat: 'int'` (a textual override
 * `pattern=w8a8` names its format, so it does).
 */

export type NamePattern = string | RegExp;

export interface LayerOverride {
  readonly pattern: NamePattern;
  readonly wBits?: WeightBits;
  readonly aBits?: ActBits;
  readonly aFormat?: ActFormat;
}

export interface QuantConfig {
  /** base precision, e.g. 'w4a6' */
  readonly setting: string | QuantSpec;
  /** replaces DEFAULT_INCLUDE when given */
  readonly include?: readonly NamePattern[];
  /** replaces DEFAULT_EXCLUDE when given */
  readonly exclude?: readonly NamePattern[];
  readonly overrides?: readonly LayerOverride[];
}

/** The block linears of the lineage (Q-VDiT quant_model.py): attention, cross/temporal attention, MLP. */
export const DEFAULT_INCLUDE: readonly string[] = [
  'blocks.*.attn.{q,k,v,proj}',
  'blocks.*.cross_attn.{q,k,v,proj}',
  'blocks.*.attn_temp.{q,k,v,proj}',
  'blocks.*.mlp.{fc1,fc2}',
];

/**
 * Kept FP (PAPER.md §6, Q-VDiT remain_fp.txt): embedders, adaLN / t_block modulation, the final layer. Attention's
 * score and value matmuls and its softmax are the `attention` op, which this spec never touches.
 */
export const DEFAULT_EXCLUDE: readonly string[] = [
  'x_embedder.**', 't_embedder.**', 'y_embedder.**', 'text_embedder.**', 't_block.**',
  '**.adaLN_modulation.**', 'final_layer.**',
];

/*
 * The deployment profile (`vdit compile`, `vdit eval --quant`): the lineage's selection plus the modulation linears
 * (`**.adaLN_modulation.*`, `t_block.*`), which go W4A8 through qgemm whatever the base setting. Why: on the tiny
 * model the per-block adaLN linears (256→1536) hold 3.1M of its 9.9M weights, a third, so keeping them FP caps
 * W4A6 at 1.9× where the issue asks ≥ 3.5×; quantizing them and final_layer's adaLN gives ~3.5×. Their input
 * silu(c) is one row per sample, so per-token A8 costs one scale per sample and stays close to FP. Embedders,
 * final_layer.linear and params such as pos_embed stay FP: small, and nearest the pixels. `keepFp` globs (CLI
 * `--keep-fp`) are appended to the exclude list: `--keep-fp '**.adaLN_modulation.*'` restores the lineage's choice.
 */

/** The modulation linears of the deployment profile; their input is silu(c), one row per sample. */
export const MODULATION_LAYERS: readonly string[] = ['**.adaLN_modulation.*', 't_block.*'];

/**
 * Modulation linears at W4A8 whatever the base setting (a later override of the user still wins); the activation
 * format is the base's, so a w4a8-fp8 build runs them with e4m3 activations like every other linear.
 */
export const MODULATION_OVERRIDES: readonly LayerOverride[] = MODULATION_LAYERS.map((pattern) => ({
  pattern, wBits: 4, aBits: 8,
}));

export const DEPLOY_INCLUDE: readonly string[] = [...DEFAULT_INCLUDE, ...MODULATION_LAYERS];

export const DEPLOY_EXCLUDE: readonly string[] = [
  'x_embedder.**', 't_embedder.**', 'y_embedder.**', 'text_embedder.**', 'final_layer.linear',
];

export type QuantProfile = 'lineage' | 'deploy';
export const QUANT_PROFILES: readonly QuantProfile[] = ['lineage', 'deploy'];

/** The config of a profile at a base setting, with extra layers kept FP. */
export function profileConfig(profile: QuantProfile, setting: string, keepFp: readonly string[] = []): QuantConfig {
  if (!QUANT_PROFILES.includes(profile)) {
    throw new Error(`quant profile '${String(profile)}' is not one of ${QUANT_PROFILES.join(', ')}`);
  }
  keepFp.forEach(compilePattern);
  if (profile === 'lineage') return { setting, ...(keepFp.length ? { exclude: [...DEFAULT_EXCLUDE, ...keepFp] } : {}) };
  return {
    setting, include: DEPLOY_INCLUDE, exclude: [...DEPLOY_EXCLUDE, ...keepFp], overrides: MODULATION_OVERRIDES,
  };
}

/** `--keep-fp a.*,b.{c,d}` → ['a.*', 'b.{c,d}']: splits at commas outside braces; empty items are dropped. */
export function splitPatternList(text: string): string[] {
  const out: string[] = [];
  let [depth, start] = [0, 0];
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if ((c === ',' && depth === 0) || c === undefined) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  return out.filter(Boolean);
}

function escapeRe(s: string): string {
  return s.replace(/[.+?^$()[\]|\\]/g, '\\$&');
}

function globSource(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^.]*';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) throw new Error(`pattern '${glob}': unclosed '{'`);
      out += `(?:${glob.slice(i + 1, end).split(',').map((a) => globSource(a)).join('|')})`;
      i = end;
    } else if (c === '}') throw new Error(`pattern '${glob}': '}' without '{'`);
    else out += escapeRe(c);
  }
  return out;
}

/** Compiles a glob or regex pattern (see the file comment) into a whole-name predicate. */
export function compilePattern(p: NamePattern): (name: string) => boolean {
  if (p instanceof RegExp) {
    const re = new RegExp(`^(?:${p.source})$`, p.flags.replace(/[gy]/g, ''));
    return (name) => re.test(name);
  }
  const m = /^\/(.*)\/([a-z]*)$/.exec(p);
  if (m) return compilePattern(new RegExp(m[1]!, m[2]));
  const re = new RegExp(`^${globSource(p)}$`);
  return (name) => re.test(name);
}

export interface LayerResolver {
  /** the layer's spec, or undefined when it stays FP */
  (layer: string): QuantSpec | undefined;
}

/** Compiles a config once; the resolver answers per layer name. */
export function createResolver(config: QuantConfig): LayerResolver {
  const base = typeof config.setting === 'string' ? parseQuantSetting(config.setting) : config.setting;
  const include = (config.include ?? DEFAULT_INCLUDE).map(compilePattern);
  const exclude = (config.exclude ?? DEFAULT_EXCLUDE).map(compilePattern);
  const overrides = (config.overrides ?? []).map((o) => {
    // validates the bits up front, so a bad override fails even if it matches nothing
    applyOverride(base, o);
    return { match: compilePattern(o.pattern), o };
  });
  return (layer) => {
    if (!include.some((m) => m(layer)) || exclude.some((m) => m(layer))) return undefined;
    let spec = base;
    for (const { match, o } of overrides) {
      if (match(layer)) spec = applyOverride(spec, o);
    }
    return spec;
  };
}

/** spec with o's fields replaced; the fields o leaves out, the activation format included, are spec's. */
function applyOverride(spec: QuantSpec, o: LayerOverride): QuantSpec {
  const [wBits, aBits, aFormat] = [o.wBits ?? spec.wBits, o.aBits ?? spec.aBits, o.aFormat ?? spec.aFormat];
  try {
    return quantSpec(wBits, aBits, aFormat);
  } catch (e) {
    const hint = o.aFormat === undefined && aFormat !== 'int' ? ` (inherited from ${quantSettingName(spec)}; `
      + `give the override aFormat: 'int' for integer activations)` : '';
    throw new Error(`quant override '${String(o.pattern)}': ${(e as Error).message}${hint}`);
  }
}

/** `blocks.0.attn.q.weight` → `blocks.0.attn.q`; a name without the suffix is its own layer name. */
export function layerName(weightName: string): string {
  return weightName.endsWith('.weight') ? weightName.slice(0, -'.weight'.length) : weightName;
}

export interface PlannedLinear {
  readonly layer: string;
  readonly weight: Node;
  readonly spec: QuantSpec;
}

export interface LinearPlan {
  readonly quantized: readonly PlannedLinear[];
  /** linears left FP, with the reason */
  readonly keptFp: readonly { readonly layer: string; readonly reason: 'spec' | 'not-a-param' | 'not-f32' }[];
}

/** Classifies every linear of g once (a weight shared by several linears is listed once). */
export function planLinears(g: Graph, config: QuantConfig): LinearPlan {
  const resolve = createResolver(config);
  const quantized: PlannedLinear[] = [];
  const keptFp: { layer: string; reason: 'spec' | 'not-a-param' | 'not-f32' }[] = [];
  const seen = new Set<Node>();
  for (const n of toposort(g)) {
    if (n.op !== 'linear') continue;
    const w = n.src[1]!;
    if (seen.has(w)) continue;
    seen.add(w);
    const name = w.attrs['name'];
    if (w.op !== 'param' || typeof name !== 'string') {
      keptFp.push({ layer: `<${w.op} #${w.id}>`, reason: 'not-a-param' });
      continue;
    }
    const layer = layerName(name);
    const spec = resolve(layer);
    if (!spec) keptFp.push({ layer, reason: 'spec' });
    // the integer path produces f32 and dequantize yields the scale's f32: an f16 linear would change type
    else if (n.type.dtype !== 'f32') keptFp.push({ layer, reason: 'not-f32' });
    else quantized.push({ layer, weight: w, spec });
  }
  return { quantized, keptFp };
}

/**
 * A config from pass options (all optional): quant=w4a6, include / exclude = ';'-separated patterns (',' belongs
 * to globs), overrides = 'pattern=w8a8;pattern=w4a8-fp8', or spec = a JSON QuantConfig (patterns as strings);
 * profile = lineage (default) | deploy picks the base lists, keep-fp = ';'-separated patterns appended to exclude.
 */
export function configFromOptions(opts: Readonly<Record<string, string | number | boolean>>): QuantConfig {
  const str = (k: string): string | undefined => {
    const v = opts[k];
    if (v !== undefined && typeof v !== 'string') throw new Error(`quant option ${k} must be a string, got ${v}`);
    return v;
  };
  const json = str('spec');
  const list = (k: string): string[] | undefined => str(k)?.split(';').map((s) => s.trim()).filter(Boolean);
  const profile = str('profile');
  if (json && profile) throw new Error('quant options spec and profile exclude each other');
  const base: QuantConfig = json ? parseConfigJson(json)
    : profile ? profileConfig(profile as QuantProfile, 'w4a6') : { setting: 'w4a6' };
  const include = list('include') ?? base.include;
  const keepFp = list('keep-fp') ?? [];
  const exclude = keepFp.length ? [...(list('exclude') ?? base.exclude ?? DEFAULT_EXCLUDE), ...keepFp]
    : list('exclude') ?? base.exclude;
  const given = list('overrides')?.map(parseOverride);
  // a profile's overrides are its definition: the caller's come after them (and so win)
  const overrides = profile && given ? [...(base.overrides ?? []), ...given] : given ?? base.overrides;
  return {
    setting: str('quant') ?? base.setting,
    ...(include ? { include } : {}), ...(exclude ? { exclude } : {}), ...(overrides ? { overrides } : {}),
  };
}

function parseOverride(text: string): LayerOverride {
  const eq = text.lastIndexOf('=');
  if (eq <= 0) throw new Error(`quant override '${text}' is not 'pattern=wXaY'`);
  // the setting names its activation format (w4a8 is integer, w4a8-fp8 is e4m3), so nothing is inherited
  const s = parseQuantSetting(text.slice(eq + 1));
  return { pattern: text.slice(0, eq).trim(), wBits: s.wBits, aBits: s.aBits, aFormat: s.aFormat };
}

function parseConfigJson(text: string): QuantConfig {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`quant option spec is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || typeof (v as { setting?: unknown }).setting !== 'string') {
    throw new Error(`quant option spec must be an object with a string 'setting', e.g. {"setting":"w4a6"}`);
  }
  return v as QuantConfig;
}
