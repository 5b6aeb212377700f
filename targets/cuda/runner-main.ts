/**
 * The fixed host half of every runner.cu (targets/cuda/runner.ts emits the tables and `step` it reads): start-up,
 * the request loop and timing. The wire format is documented in runtime/cuda-process.ts; op numbers come from there.
 * Only CUDA runtime calls the emulation shim (test/targets/cuda/emulate/cuda-host.h) also provides appear here.
 */
import { RUNNER_OPS } from '../../runtime/cuda-process.ts';

export const RUNNER_MAIN = String.raw`
namespace vdit_runner {

static void write_all(const void* p, size_t n) {
  if (n && std::fwrite(p, 1, n, stdout) != n) std::exit(3);  // the parent closed the pipe
}

static void put_u32(uint32_t v) {
  const unsigned char b[4] = {(unsigned char)(v & 255u), (unsigned char)((v >> 8) & 255u),
                              (unsigned char)((v >> 16) & 255u), (unsigned char)(v >> 24)};
  write_all(b, 4);
}

using Part = std::pair<const void*, size_t>;

static void respond(uint32_t status, const std::vector<Part>& parts) {
  put_u32(status);
  put_u32(uint32_t(parts.size()));
  for (const Part& p : parts) {
    put_u32(uint32_t(p.second));
    write_all(p.first, p.second);
  }
  std::fflush(stdout);
}

static void respond_error(const std::string& m) { respond(1, {{m.data(), m.size()}}); }

// CUDA errors leave the context unusable: answer, then exit
[[noreturn]] static void fatal(const std::string& m) {
  std::fprintf(stderr, "vdit runner: %s\n", m.c_str());
  respond_error(m);
  std::exit(2);
}

static void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) fatal(what + ": " + cudaGetErrorString(e));
}

static std::string mib(size_t b) {
  char s[32];
  std::snprintf(s, sizeof s, "%.1f MiB", double(b) / 1048576.0);
  return s;
}

static bool read_exact(void* p, size_t n) { return n == 0 || std::fread(p, 1, n, stdin) == n; }

static bool get_u32(uint32_t& v) {
  unsigned char b[4];
  if (!read_exact(b, 4)) return false;
  v = uint32_t(b[0]) | (uint32_t(b[1]) << 8) | (uint32_t(b[2]) << 16) | (uint32_t(b[3]) << 24);
  return true;
}

static void start() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    const char* why = e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found none";
    fatal(std::string("no CUDA device: ") + why);
  }
  check(cudaSetDevice(0), "cudaSetDevice(0)");
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  size_t total = 0;
  for (int i = 0; i < kBuffers; ++i) {
    const cudaError_t m = cudaMalloc(&buf[i], kAlloc[i]);
    if (m != cudaSuccess) {
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      fatal("cudaMalloc of " + mib(kAlloc[i]) + " for " + kLabels[i] + " failed: " + cudaGetErrorString(m) + " (" +
            mib(total) + " allocated before it; the device has " + mib(free_b) + " free of " + mib(total_b) + ")");
    }
    check(cudaMemset(buf[i], 0, kAlloc[i]), "cudaMemset");
    total += kAlloc[i];
  }
  const std::string hello = std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
                            ", " + mib(total) + " of buffers)";
  respond(0, {{hello.data(), hello.size()}});
}

// false: stdin ended (the parent is gone)
static bool read_request(uint32_t& op, std::vector<std::vector<unsigned char>>& parts) {
  uint32_t count = 0;
  if (!get_u32(op) || !get_u32(count)) return false;
  if (op < 1 || op > ${Math.max(...Object.values(RUNNER_OPS))} || count > (1u << 20)) {
    fatal("malformed request (op " + std::to_string(op) + "): pipe out of step");
  }
  parts.assign(count, {});
  for (auto& p : parts) {
    uint32_t len = 0;
    if (!get_u32(len)) return false;
    p.resize(len);
    if (!read_exact(p.data(), len)) return false;
  }
  return true;
}

static bool upload(const char* what, const int* bufs, int n, const std::vector<std::vector<unsigned char>>& parts) {
  if (int(parts.size()) != n) {
    respond_error(std::to_string(parts.size()) + " " + what + "s sent, the graph takes " + std::to_string(n));
    return false;
  }
  for (int i = 0; i < n; ++i) {
    if (parts[i].size() != kSize[bufs[i]]) {
      respond_error(std::string(what) + " " + kLabels[bufs[i]] + ": " + std::to_string(parts[i].size()) +
                    " bytes sent, its storage is " + std::to_string(kSize[bufs[i]]));
      return false;
    }
  }
  for (int i = 0; i < n; ++i) {
    check(cudaMemcpy(buf[bufs[i]], parts[i].data(), parts[i].size(), cudaMemcpyHostToDevice),
          std::string("upload of ") + kLabels[bufs[i]]);
  }
  return true;
}

// the schedule ranges of the last forward's timesteps, one bit each (all bits without a schedule)
static unsigned long long sched_rows = ~0ull;

// after an upload: which ranges the timestep input names, so that launches no one reads there are skipped
static void note_rows() {
  if (kSchedT < 0) return;
  std::vector<float> t(kSchedBatch);
  check(cudaMemcpy(t.data(), buf[kSchedT], kSchedBatch * sizeof(float), cudaMemcpyDeviceToHost), "readback of t");
  sched_rows = 0ull;
  for (const float tb : t) sched_rows |= 1ull << sched_row(tb);
}

static void launch(int s) {
  // nothing of this forward reads the value in any of its ranges (runtime/schedule-liveness.ts)
  if ((kStepSkip[s] & sched_rows) == sched_rows) return;
  step(s);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    fatal("launch of step " + std::to_string(s) + " (" + kStepNames[s] + ") failed: " + cudaGetErrorString(e));
  }
}

static void run_steps() {
  for (int s = 0; s < kSteps; ++s) launch(s);
}

static void sync(const char* what) {
  check(cudaDeviceSynchronize(), std::string(what) + " (CUDA_LAUNCH_BLOCKING=1 names the failing kernel)");
}

// reads back the first 'outputs' outputs; a step request (carry) then makes each carry's next value its input:
// the two buffers trade places (kCarrySwap: the next value has a buffer of its own), else a device copy
static void forward(int outputs = kOutputs, bool carry = false) {
  run_steps();
  sync("forward");
  std::vector<std::vector<unsigned char>> out(outputs);
  std::vector<Part> parts;
  for (int i = 0; i < outputs; ++i) {
    const int b = kOutputBuf[i];
    out[i].resize(kSize[b]);
    check(cudaMemcpy(out[i].data(), buf[b], kSize[b], cudaMemcpyDeviceToHost),
          std::string("readback of ") + kLabels[b]);
    parts.push_back({out[i].data(), out[i].size()});
  }
  for (int c = 0; carry && c < kCarries; ++c) {
    if (kCarryOutBuf[c] == kCarryInBuf[c]) continue;
    if (kCarrySwap[c]) {
      std::swap(buf[kCarryInBuf[c]], buf[kCarryOutBuf[c]]);
      continue;
    }
    check(cudaMemcpy(buf[kCarryInBuf[c]], buf[kCarryOutBuf[c]], kSize[kCarryInBuf[c]], cudaMemcpyDeviceToDevice),
          std::string("carry into ") + kLabels[kCarryInBuf[c]]);
  }
  respond(0, parts);
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// whole forwards with two events, then forwards with an event between every launch: the per-step events do not
// inflate the whole-forward median
static void time_steps(uint32_t warmup, uint32_t repeats) {
  for (uint32_t w = 0; w < warmup; ++w) run_steps();
  sync("warm-up");
  std::vector<cudaEvent_t> ev(kSteps + 1);
  for (auto& e : ev) check(cudaEventCreate(&e), "cudaEventCreate");
  std::vector<double> whole;
  std::vector<std::vector<double>> per(kSteps);
  float ms = 0.0f;
  for (uint32_t r = 0; r < repeats; ++r) {
    check(cudaEventRecord(ev[0]), "cudaEventRecord");
    run_steps();
    check(cudaEventRecord(ev[kSteps]), "cudaEventRecord");
    sync("timed forward");
    check(cudaEventElapsedTime(&ms, ev[0], ev[kSteps]), "cudaEventElapsedTime");
    whole.push_back(ms);
  }
  for (uint32_t r = 0; r < repeats; ++r) {
    check(cudaEventRecord(ev[0]), "cudaEventRecord");
    for (int s = 0; s < kSteps; ++s) {
      launch(s);
      check(cudaEventRecord(ev[s + 1]), "cudaEventRecord");
    }
    sync("timed forward");
    for (int s = 0; s < kSteps; ++s) {
      check(cudaEventElapsedTime(&ms, ev[s], ev[s + 1]), "cudaEventElapsedTime");
      per[s].push_back(ms);
    }
  }
  for (auto& e : ev) cudaEventDestroy(e);
  std::vector<double> out;
  for (int s = 0; s < kSteps; ++s) out.push_back(median(per[s]));
  out.push_back(median(whole));
  respond(0, {{out.data(), out.size() * sizeof(double)}});
}

}  // namespace vdit_runner

int main() {
  using namespace vdit_runner;
  static_assert(sizeof(double) == 8, "time answers are f64");
  std::setvbuf(stdout, nullptr, _IOFBF, 1 << 20);
  start();
  bool have_params = kParams == 0, have_inputs = false;
  uint32_t op = 0;
  std::vector<std::vector<unsigned char>> parts;
  while (read_request(op, parts)) {
    if (op == ${RUNNER_OPS.params}) {
      if (upload("param", kParamBuf, kParams, parts)) {
        have_params = true;
        respond(0, {});
      }
    } else if (op == ${RUNNER_OPS.forward}) {
      if (!have_params) respond_error("forward before the params were sent");
      else if (upload("input", kInputBuf, kInputs, parts)) {
        have_inputs = true;
        note_rows();
        forward();
      }
    } else if (op == ${RUNNER_OPS.step}) {
      if (!have_params) respond_error("step before the params were sent");
      else if (upload("input", kFreshInputBuf, kFreshInputs, parts)) {
        have_inputs = true;
        note_rows();
        forward(kOutputs - kCarries, true);
      }
    } else if (op == ${RUNNER_OPS.time}) {
      uint32_t arg[2] = {0, 0};
      if (parts.size() == 1 && parts[0].size() == 8) std::memcpy(arg, parts[0].data(), 8);
      if (!have_inputs) respond_error("time before a forward: it reruns the last forward's inputs");
      else if (parts.size() != 1 || parts[0].size() != 8 || arg[1] == 0) {
        respond_error("time takes u32 warm-ups, u32 repeats >= 1");
      }
      else time_steps(arg[0], arg[1]);
    } else {
      return 0;  // quit: no answer
    }
  }
  return 0;  // stdin ended: the parent is gone
}
`;
