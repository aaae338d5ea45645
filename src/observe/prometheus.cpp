#include "observe/prometheus.hpp"

#include <charconv>
#include <initializer_list>
#include <utility>

#include "core/text.hpp"

namespace vp::observe {

namespace {

constexpr std::string_view prefix = "verified_proxy_";

using label = std::pair<std::string_view, std::string_view>;

/// The shortest fixed-point spelling that reads back as `v` ("0.0005", not "5e-04": bucket
/// bounds are conventionally written so).
std::string number(double v) {
  char buffer[512];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buffer, end) : std::string("NaN");
}

/// Writes the exposition of one family after the other.
class exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = std::string(prefix) + std::string(name);
    out_ += "# HELP " + name_ + " " + escape_help(help) + "\n";
    out_ += "# TYPE " + name_ + " " + std::string(type) + "\n";
  }

  void sample(std::initializer_list<label> labels, std::uint64_t value, std::string_view suffix = {}) {
    sample_text(labels, std::to_string(value), suffix);
  }
  void sample_double(std::initializer_list<label> labels, double value, std::string_view suffix = {}) {
    sample_text(labels, number(value), suffix);
  }

  void histogram_samples(const histogram& h) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
      const std::string le = i < h.bounds.size() ? number(h.bounds[i]) : std::string("+Inf");
      sample({{"le", le}}, cumulative, "_bucket");
    }
    sample_double({}, h.sum, "_sum");
    sample({}, h.count, "_count");
  }

  std::string take() { return std::move(out_); }

 private:
  static std::string escape_help(std::string_view help) {
    std::string out;
    for (const char c : help) {
      if (c == '\\') {
        out += "\\\\";
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    return out;
  }

  void sample_text(std::initializer_list<label> labels, const std::string& value, std::string_view suffix) {
    out_ += name_;
    out_ += suffix;
    if (labels.size() != 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape_label_value(v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  std::string name_;
  std::string out_;
};

}  // namespace

std::string escape_label_value(std::string_view value) {
  // Label values are UTF-8 (the format says so); what is not becomes U+FFFD first.
  const std::string utf8 = text::valid_utf8(value);
  std::string out;
  out.reserve(utf8.size());
  for (const char c : utf8) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string render_prometheus(const status_snapshot& s) {
  exposition e;

  e.family("build_info", "gauge", "The proxy's version (always 1).");
  e.sample({{"version", s.config.version}}, 1);
  e.family("start_time_seconds", "gauge", "When the proxy started, in seconds since the Unix epoch.");
  e.sample({}, static_cast<std::uint64_t>(s.started_at.time_since_epoch().count()));

  e.family("requests_total", "counter",
           "Client requests answered, by route, HTTP status (none: the client left before an answer) and the "
           "proxy's error code (empty when the answer is not one of the proxy's errors).");
  for (const auto& [series, count] : s.requests) {
    const std::string status = series.status == 0 ? "none" : std::to_string(series.status);
    e.sample({{"route", to_string(series.route)}, {"status", status}, {"code", series.code}}, count);
  }
  e.family("forwarded_requests_total", "counter", "Requests answered by a verified backend.");
  e.sample({}, s.forwarded);

  e.family("attestations_total", "counter",
           "Attestations of backend keys, by outcome: trusted, or the code of the check that refused the key.");
  for (const auto& [outcome, count] : s.attestations) e.sample({{"outcome", outcome}}, count);
  e.family("attestation_duration_seconds", "histogram",
           "Time to attest a backend key: the report request, collateral, NVIDIA's service and the appraisal.");
  e.histogram_samples(s.attestation_seconds);
  e.family("appraisal_duration_seconds", "histogram",
           "CPU time of appraising one attestation report (quotes, bindings, workload policy, GPU evidence).");
  e.histogram_samples(s.appraisal_seconds);

  std::uint64_t trusted_keys = 0, refused_keys = 0;
  for (const auto& r : s.backends) ++(r.trusted ? trusted_keys : refused_keys);
  e.family("backend_keys", "gauge", "Backend keys on the status board, by the verdict of their latest attestation.");
  e.sample({{"verdict", "trusted"}}, trusted_keys);
  e.sample({{"verdict", "refused"}}, refused_keys);

  e.family("signatures_total", "counter", "Signed answers, by the verdict on their signature.");
  e.sample({{"verdict", "valid"}}, s.signatures_valid);
  e.sample({{"verdict", "invalid"}}, s.signatures_invalid);
  e.sample({{"verdict", "unavailable"}}, s.signatures_unavailable);
  e.family("e2ee_sealed_total", "counter", "Requests whose prompt fields the proxy encrypted to the attested key.");
  e.sample({}, s.e2ee_sealed);

  e.family("upstream_connections_open", "gauge", "TLS connections to backends open now (pooled ones included).");
  e.sample({}, s.gauges.upstream_open);
  e.family("upstream_connections_pooled", "gauge", "Verified idle connections to backends in the pool.");
  e.sample({}, s.gauges.upstream_pooled);
  e.family("upstream_connections_created_total", "counter", "TCP + TLS connections to backends opened.");
  e.sample({}, s.upstream_created);

  e.family("collateral_fetches_total", "counter",
           "Intel collateral asked of the collateral source (cache hits included).");
  e.sample({}, s.collateral_fetches);
  e.family("collateral_fetch_failures_total", "counter", "Collateral requests that gave no usable collateral.");
  e.sample({}, s.collateral_failures);
  e.family("nras_fetches_total", "counter",
           "Requests to NVIDIA's attestation service: attest (GPU evidence) and keys (its signing key set).");
  e.sample({{"kind", "attest"}}, s.nras_attest_fetches);
  e.sample({{"kind", "keys"}}, s.nras_key_fetches);
  e.family("nras_fetch_failures_total", "counter",
           "Requests to NVIDIA's attestation service that failed (unreachable, an error status, unreadable keys).");
  e.sample({{"kind", "attest"}}, s.nras_attest_failures);
  e.sample({{"kind", "keys"}}, s.nras_key_failures);

  e.family("relayed_bytes_total", "counter",
           "Body bytes relayed: to_client (answers, after decryption), to_backend (requests, after encryption).");
  e.sample({{"direction", "to_client"}}, s.bytes_to_client);
  e.sample({{"direction", "to_backend"}}, s.bytes_to_backend);
  e.family("active_streams", "gauge", "Answers of unknown length (SSE streams) being relayed now.");
  e.sample({}, s.active_streams);
  e.family("client_connections_open", "gauge", "Client connections open now.");
  e.sample({}, s.gauges.client_connections);
  e.family("discovery_list_usable", "gauge", "1 when a model list (discovery or the gateway's) is in use.");
  e.sample({}, s.discovery.usable ? 1u : 0u);
  return e.take();
}

}  // namespace vp::observe
