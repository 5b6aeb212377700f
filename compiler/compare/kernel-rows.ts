import type { Node } from '../../ir/node.ts';
import { formatType } from '../../ir/types.ts';
import type { WgslProgram } from '../../runtime/wgsl-program.ts';
import type { KernelSpec } from '../../targets/wgsl/kernel.ts';

/** One distinct kernel of a compiled graph: what `vdit compare` checks and times once. */
export interface KernelRow {
  /** 1-based position in first-dispatch order; `--show 3` names this row */
  readonly index: number;
  readonly name: string;
  readonly op: string;
  /** `f32[2,512,256] ← i8[2,512,256], f32[2,512,1], …`: result, then operand types */
  readonly shape: string;
  /** dispatches of this kernel in one forward */
  readonly count: number;
  /** the first node it computes (operand types and attrs are the same for every dispatch of the row) */
  readonly node: Node;
  readonly spec: KernelSpec;
}

/**
 * Steps grouped by what makes two dispatches the same computation: the pipeline-cache key, the uniform contents
 * (slice offsets live there), and the operand and result types. A kernel reused at two shapes is two rows.
 */
export function kernelRows(program: WgslProgram): KernelRow[] {
  const rows = new Map<string, { node: Node; spec: KernelSpec; count: number }>();
  for (const s of program.steps) {
    const uniforms = s.kernel.uniforms ? Buffer.from(s.kernel.uniforms).toString('base64') : '';
    const id = `${s.kernel.key}|${uniforms}|${signature(s.node)}`;
    const r = rows.get(id);
    if (r) r.count++;
    else rows.set(id, { node: s.node, spec: s.kernel, count: 1 });
  }
  return [...rows.values()].map((r, i) => ({
    index: i + 1, name: r.spec.name, op: r.node.op, shape: signature(r.node), count: r.count,
    node: r.node, spec: r.spec,
  }));
}

function signature(n: Node): string {
  return `${formatType(n.type)} ← ${n.src.map((s) => formatType(s.type)).join(', ')}`;
}

/** The row `--show` names: its index, or the first row of that kernel name or op. */
export function findRow(rows: readonly KernelRow[], which: string): KernelRow {
  const byIndex = /^#?\d+$/.test(which) ? rows[Number(which.replace('#', '')) - 1] : undefined;
  const hit = byIndex ?? rows.find((r) => r.name === which) ?? rows.find((r) => r.op === which);
  if (!hit) {
    const names = [...new Set(rows.map((r) => r.name))].join(', ');
    throw new Error(`--show: no kernel '${which}' (give a row number 1..${rows.length} or a name: ${names})`);
  }
  return hit;
}
