#pragma once
// Why a backend was not admitted, as one value from the bottom of the stack to the HTTP
// answer: the transport (connect, TLS, the attestation exchange), the report, the quote,
// its binding, a policy factor, or our own evidence sources. `code` is the stable
// spelling users and scripts see (the proxy's 502/504 error code, verify-report's
// first_failure code); proxy/error_body maps a failure to its HTTP answer in one table.

#include <boost/assert/source_location.hpp>

#include <string>
#include <string_view>

namespace vp {

enum class failure_phase {
  connect,     ///< DNS + TCP
  tls,         ///< TLS handshake, certificate, ALPN
  exchange,    ///< the attestation request and its HTTP answer
  report,      ///< the report body cannot be read
  collateral,  ///< no collateral for a quote's platform (our source, not the backend)
  quote,       ///< Intel DCAP verification of a quote
  binding,     ///< report_data / TLS fingerprint / nonce
  policy,      ///< a workload policy factor
  gpu,         ///< the GPU evidence or NVIDIA's attestation service (a gpu_* factor)
  internal,    ///< a local failure (random generator, unexpected exception)
};
std::string_view to_string(failure_phase p) noexcept;

struct failure {
  std::string code;
  failure_phase phase = failure_phase::quote;
  std::string message;
  /// The JSON pointer of the attestation that failed ("" for the top level or none).
  std::string json_pointer{};
  /// A verdict about the backend that a negative cache may remember (a rejected report, a
  /// non-200 or oversized answer), as opposed to trouble that a retry may not meet
  /// (timeouts, unreachable backends, our collateral source being down).
  bool about_backend = true;
};

/// The failure's message without the context the layers below prefixed to it and that
/// the code, phase and pointer already say ("attesting HOST: ", "CODE: ", "report: ",
/// "/model_attestations/0: ", "quote rejected: ", "workload policy 'NAME': "), so that a
/// sentence built from the fields says each thing once. The message itself when nothing is
/// left.
std::string failure_detail(const failure& f);

/// For boost::system::result<T, failure>::value() on a failure (tests, startup paths):
/// throws std::runtime_error with the code and message.
[[noreturn]] void throw_exception_from_error(const failure& f, const boost::source_location& where);

}  // namespace vp
