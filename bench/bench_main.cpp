// `make bench`: every benchmark, then the proxy-versus-direct ratios from the same run.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace {

/// Prints like the console reporter and keeps each benchmark's real and CPU time per iteration.
class recording_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      if (!r.error_occurred && r.iterations > 0) {
        times[r.benchmark_name()] = r.GetAdjustedRealTime();
        cpu_times[r.benchmark_name()] = r.GetAdjustedCPUTime();
      }
    }
  }
  std::map<std::string, double> times;
  std::map<std::string, double> cpu_times;
};

void cpu_time(const recording_reporter& rep, const char* what, const char* name) {
  const auto it = rep.cpu_times.find(name);
  if (it != rep.cpu_times.end()) std::printf("  %-58s %8.0f us CPU\n", what, it->second);
}

void ratio(const recording_reporter& rep, const char* what, const char* a, const char* b) {
  const auto ia = rep.times.find(a);
  const auto ib = rep.times.find(b);
  if (ia == rep.times.end() || ib == rep.times.end() || ib->second <= 0) return;
  std::printf("  %-58s %8.2fx  (%.0f us vs %.0f us)\n", what, ia->second / ib->second, ia->second, ib->second);
}

void difference(const recording_reporter& rep, const char* what, const char* a, const char* b) {
  const auto ia = rep.times.find(a);
  const auto ib = rep.times.find(b);
  if (ia == rep.times.end() || ib == rep.times.end()) return;
  std::printf("  %-58s %+8.0f us  (%.0f us vs %.0f us)\n", what, ia->second - ib->second, ia->second, ib->second);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  recording_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  std::printf(
      "\nQuote verification: target <= 1000 us per verification on 2 cores (pure-JS dcap-qvl: about 10000 us).\n"
      "BM_VerifyRealQuote is the steady state (collateral prepared, the machine's PCK chain already\n"
      "authenticated); FirstFromMachine adds the PCK chain; IncludingCollateralParsing is a cold start.\n");
  std::printf(
      "\nGPU evidence (labels: real capture or synthetic): target <= 5000 us CPU per 8-GPU verification on 2 cores.\n"
      "Cold is a host seen for the first time (8 chains decoded and path-validated); Warm its next attestations\n"
      "(chains from the cache). Either way the 8 SPDM P-384 signatures over fresh nonces are verified.\n");
  cpu_time(reporter, "8 GPUs, local checks, cold chain cache", "BM_GpuVerify8_Cold");
  cpu_time(reporter, "8 GPUs, local checks, warm chain cache", "BM_GpuVerify8_Warm");
  cpu_time(reporter, "8-GPU NRAS answer (9 ES384 tokens)", "BM_NrasVerify8");
  std::printf(
      "\nE2EE (field-level, §4.6): target < 20 us CPU per streamed event (SSE bytes in, decrypted event out;\n"
      "one X25519 or secp256k1 ECDH per event, since every chunk has its own ephemeral key).\n");
  cpu_time(reporter, "one streamed chat chunk, v2 (ed25519)", "BM_E2eeSseEvent");
  cpu_time(reporter, "one streamed chat chunk, ecies (ecdsa)", "BM_E2eeSseEventEcies");
  cpu_time(reporter, "sealing a typical chat request (4 messages)", "BM_E2eeEncryptRequest");
  std::printf("\nProxy vs direct connection to the same (simulated) backend, same run, lower is better:\n");
  ratio(reporter, "keep-alive chat request, proxy / direct", "BM_Proxy_Chat/real_time", "BM_Direct_Chat/real_time");
  ratio(reporter, "keep-alive streamed chat (16 SSE events), proxy / direct", "BM_Proxy_Stream/real_time",
        "BM_Direct_Stream/real_time");
  ratio(reporter, "attest every request (reference-like) / direct new TLS", "BM_Proxy_AttestEveryRequest/real_time",
        "BM_Direct_NewConnection/real_time");
  ratio(reporter, "attest every request (reference-like) / proxy keep-alive", "BM_Proxy_AttestEveryRequest/real_time",
        "BM_Proxy_Chat/real_time");
  std::printf(
      "\nEnd-to-end integrity (the defaults: E2EE on, signatures checked) against the plain relay, same run:\n");
  ratio(reporter, "chat request, E2EE + signature / relay", "BM_ProxyE2ee_Chat/real_time", "BM_Proxy_Chat/real_time");
  ratio(reporter, "streamed chat, E2EE + signature / relay", "BM_ProxyE2ee_Stream/real_time",
        "BM_Proxy_Stream/real_time");
  ratio(reporter, "streamed chat, E2EE + signature / direct", "BM_ProxyE2ee_Stream/real_time",
        "BM_Direct_Stream/real_time");
  difference(reporter, "signature lookup + check after a stream (added latency)", "BM_ProxySigned_Stream/real_time",
             "BM_Proxy_Stream/real_time");
  return 0;
}
