/**
 * Builds a runner.cu (targets/cuda/runner.ts) into an executable once per source hash: nvcc for the GPU, or g++
 * against the tests' emulation shim. Inlined into run.js like runtime/cuda-process.ts (node builtins only, imported
 * as namespaces so their names never clash with the other inlined modules' imports).
 */
import * as childProcess from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface CudaBuildOptions {
  /** nvcc -arch; default $VDIT_CUDA_ARCH, else the visible GPU's sm_XY (nvidia-smi), else sm_90a */
  readonly arch?: string;
  /** default $VDIT_CACHE_DIR/cuda, else ~/.cache/vdit/cuda */
  readonly cacheDir?: string;
  /** the CPU emulation shim (test/targets/cuda/emulate/cuda-host.h): build with g++ instead of nvcc */
  readonly emulate?: string;
  /** extra g++ flags under `emulate`, e.g. -fsanitize=address,undefined to catch a kernel's stray index */
  readonly emulateFlags?: readonly string[];
  /** per-request limit (default 10 minutes; start-up and param upload included) */
  readonly timeoutMs?: number;
}

function findOnPath(exe: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, exe))) return path.join(dir, exe);
  }
  return undefined;
}

function findNvcc(): string {
  const env = process.env['NVCC'];
  const nvcc = env !== undefined ? (fs.existsSync(env) ? env : undefined) : findOnPath('nvcc') ??
    ['/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc'].find((p) => fs.existsSync(p));
  if (!nvcc) {
    throw new Error('nvcc not found (PATH, /usr/local/cuda/bin): --backend cuda needs the CUDA toolkit and an ' +
      'NVIDIA GPU; set NVCC=/path/to/nvcc if it is installed elsewhere');
  }
  return nvcc;
}

/** Why the CUDA runner cannot run here (no nvcc, no NVIDIA GPU visible), or undefined when it may. */
export function cudaUnavailable(): string | undefined {
  try {
    findNvcc();
  } catch {
    return 'nvcc not found';
  }
  const dev = fs.existsSync('/dev') ? fs.readdirSync('/dev').some((d) => /^nvidia\d+$/.test(d)) : false;
  return dev || process.platform === 'win32' ? undefined : 'no NVIDIA GPU visible (/dev/nvidia*)';
}

// the first visible GPU's compute capability as sm_XY, so the cache key names the real target (not "native")
function defaultArch(): string {
  const env = process.env['VDIT_CUDA_ARCH'];
  if (env) return env;
  try {
    const out = childProcess.execFileSync('nvidia-smi', ['--query-gpu=compute_cap', '--format=csv,noheader'],
      { stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 }).toString().trim().split('\n')[0]!;
    const m = /^(\d+)\.(\d+)$/.exec(out.trim());
    if (m) return `sm_${m[1]}${m[2]}${m[1] === '9' && m[2] === '0' ? 'a' : ''}`;
  } catch {
    // no nvidia-smi: fall through
  }
  return fs.existsSync('/dev/nvidia0') ? 'native' : 'sm_90a';
}

function cacheRoot(opts: CudaBuildOptions): string {
  if (opts.cacheDir) return opts.cacheDir;
  const base = process.env['VDIT_CACHE_DIR'] ?? path.join(os.homedir(), '.cache', 'vdit');
  return path.join(base, 'cuda');
}

/**
 * The runner executable for `source`: <cache>/<hash>/runner, built once (to a temp name, then renamed, so a
 * concurrent or interrupted build never leaves a half-written binary under the final name).
 */
export function buildCudaRunner(source: string, opts: CudaBuildOptions = {}): string {
  const compiler = opts.emulate ? 'g++' : findNvcc();
  const flags = opts.emulate
    ? ['-std=c++20', '-O1', '-ffp-contract=off', '-DVDIT_HOST_EMULATION', '-include', path.resolve(opts.emulate), '-w',
      ...(opts.emulateFlags ?? []), '-x', 'c++']
    : ['-O3', '-std=c++17', `-arch=${opts.arch ?? defaultArch()}`];
  const shim = opts.emulate ? fs.readFileSync(opts.emulate, 'utf8') : '';
  const hash = crypto.createHash('sha256').update([compiler, ...flags, shim, source].join('\0')).digest('hex');
  const dir = path.join(cacheRoot(opts), hash.slice(0, 24));
  const exe = path.join(dir, 'runner');
  if (fs.existsSync(exe)) return exe;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'runner.cu'), source);
  const tmp = path.join(dir, `runner.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    const link = opts.emulate ? ['-pthread', ...(opts.emulateFlags ?? []).filter((f) => f.startsWith('-fsanitize'))] : [];
    childProcess.execFileSync(compiler, [...flags, 'runner.cu', '-o', path.basename(tmp), ...link],
      { cwd: dir, stdio: 'pipe', timeout: 900_000 });
    fs.renameSync(tmp, exe);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const err = e as { code?: string; stderr?: Buffer; message: string };
    if (err.code === 'ENOENT') throw new Error(`${compiler} not found: the CUDA runner cannot be built`);
    const diag = err.stderr?.toString().trim().slice(0, 6000) || err.message;
    throw new Error(`building the CUDA runner (${path.join(dir, 'runner.cu')}) with ${compiler} failed:\n${diag}`);
  }
  return exe;
}
