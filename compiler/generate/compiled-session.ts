import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkManifest, compiledDenoiser, createCompiledExecutor, type CompiledManifest,
} from '../../runtime/compiled-executor.ts';
import { closeDevice, openDevice } from '../../runtime/device.ts';
import { openFolderCuda } from '../../runtime/cuda-folder.ts';
import type { Backend, DenoiserSession } from './session.ts';

/** A folder written by `vdit compile`: it holds manifest.json. */
export function isCompiledFolder(spec: string): boolean {
  return existsSync(spec) && statSync(spec).isDirectory() && existsSync(join(spec, 'manifest.json'));
}

export function readManifest(dir: string): CompiledManifest {
  let m: CompiledManifest;
  try {
    m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CompiledManifest;
  } catch (e) {
    throw new Error(`${join(dir, 'manifest.json')}: ${(e as Error).message}`);
  }
  checkManifest(m);
  return m;
}

/** A compiled folder as a denoiser session: the same executors its run.js uses (WGSL manifest, or cuda/runner.cu). */
export async function openCompiledDenoiser(dir: string, backend: Backend = 'wgsl'): Promise<DenoiserSession> {
  const manifest = readManifest(dir);
  if (backend === 'cuda') {
    const cuda = await openFolderCuda(dir, manifest, new Uint8Array(readFileSync(join(dir, 'weights.bin'))));
    const { model } = manifest;
    return { denoise: cuda.denoise, clipsPerForward: model.batch / 2, clipShape: model.clipShape,
      nullClass: model.nullClass, device: cuda.device, close: () => cuda.close() };
  }
  const gpu = await openDevice();
  try {
    const a = gpu.info.adapter;
    if (a.description !== manifest.device.description || a.vendor !== manifest.device.vendor) {
      process.stderr.write(`warning: ${dir} was compiled for '${manifest.device.description}', ` +
        `running on '${a.description}'\n`);
    }
    const weights = new Uint8Array(readFileSync(join(dir, 'weights.bin')));
    const exec = await createCompiledExecutor(gpu.device, manifest, weights, (f) => readFileSync(join(dir, f), 'utf8'));
    const { model } = manifest;
    return {
      denoise: compiledDenoiser(exec), clipsPerForward: model.batch / 2, clipShape: model.clipShape,
      nullClass: model.nullClass, device: a.description || a.device || a.vendor,
      close: () => {
        exec.dispose();
        closeDevice(gpu);
      },
    };
  } catch (e) {
    closeDevice(gpu);
    throw e;
  }
}
