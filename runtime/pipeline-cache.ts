import type { KernelSpec } from '../targets/wgsl/kernel.ts';
import { checkDevice, type GpuContext } from './device.ts';

const SHADER_STAGE_COMPUTE = 0x4;

/** A compiled kernel: its pipeline and the explicit bind-group layout (operands, result, uniforms?). */
export interface CachedPipeline {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

/**
 * Pipelines keyed by KernelSpec.key plus the operand count. Layouts are explicit rather than 'auto' so that an
 * operand the shader never reads still binds, and a shader whose declarations disagree with the binding contract
 * fails at compile time with the kernel's name.
 */
export class PipelineCache {
  private readonly cache = new Map<string, Promise<CachedPipeline>>();

  constructor(private readonly ctx: GpuContext) {}

  get size(): number {
    return this.cache.size;
  }

  get(spec: KernelSpec, operands: number): Promise<CachedPipeline> {
    const key = `${spec.key}#${operands}${spec.uniforms ? 'u' : ''}`;
    let hit = this.cache.get(key);
    if (!hit) {
      hit = this.compile(spec, operands);
      // a failed compile is not cached, so a fixed kernel can be retried in the same process
      hit.catch(() => this.cache.delete(key));
      this.cache.set(key, hit);
    }
    return hit;
  }

  private async compile(spec: KernelSpec, operands: number): Promise<CachedPipeline> {
    checkDevice(this.ctx);
    const { device } = this.ctx;
    const missing = spec.features.filter((f) => !device.features.has(f));
    if (missing.length) throw new Error(`kernel ${spec.name} needs device features ${missing.join(', ')}`);
    // scoped, so a bad shader is this kernel's Error rather than an uncaptured error on some later call
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code: spec.source, label: spec.name });
    const entries = layoutEntries(operands, !!spec.uniforms);
    const layout = device.createBindGroupLayout({ label: spec.name, entries });
    const invalid = await device.popErrorScope();
    await throwOnCompileErrors(spec, module);
    if (invalid) throw new Error(`kernel ${spec.name}: ${invalid.message}`);
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    try {
      const pipeline = await device.createComputePipelineAsync({
        label: spec.name, layout: pipelineLayout, compute: { module, entryPoint: spec.entry },
      });
      return { pipeline, layout };
    } catch (e) {
      throw new Error(`kernel ${spec.name}: pipeline creation failed: ${(e as Error).message}`);
    }
  }
}

function layoutEntries(operands: number, uniforms: boolean): GPUBindGroupLayoutEntry[] {
  const entries: GPUBindGroupLayoutEntry[] = [];
  for (let i = 0; i < operands; i++) {
    entries.push({ binding: i, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'read-only-storage' } });
  }
  entries.push({ binding: operands, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'storage' } });
  if (uniforms) entries.push({ binding: operands + 1, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'uniform' } });
  return entries;
}

async function throwOnCompileErrors(spec: KernelSpec, module: GPUShaderModule): Promise<void> {
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (!errors.length) return;
  const lines = spec.source.split('\n');
  const text = errors.map((m) => {
    const src = m.lineNum > 0 ? lines[m.lineNum - 1] ?? '' : '';
    const caret = m.linePos > 0 ? `\n    ${' '.repeat(m.linePos - 1)}^` : '';
    return `  ${m.lineNum}:${m.linePos}: ${m.message}${src ? `\n    ${src}${caret}` : ''}`;
  });
  throw new Error(`kernel ${spec.name}: WGSL compilation failed\n${text.join('\n')}`);
}
