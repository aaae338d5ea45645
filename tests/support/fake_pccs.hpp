#pragma once
// A fake PCCS for collateral tests: serves the four Intel PCS v4 routes exactly as
// vp::collateral::fetch_pcs_responses requests them, replaying bundle directories
// (laid out like testdata/nearai/*/pcs/) byte for byte, with per-route fault knobs.
//
//   GET /tdx/certification/v4/tcb?fmspc=HEX            tcb_info.json      + TCB-Info-Issuer-Chain
//   GET /tdx/certification/v4/qe/identity              qe_identity.json   + SGX-Enclave-Identity-Issuer-Chain
//   GET /sgx/certification/v4/pckcrl?ca=platform&...   pck_crl.der        + SGX-PCK-CRL-Issuer-Chain
//   GET /sgx/certification/v4/rootcacrl                root_ca_crl.der    (hex text by default, as a PCCS does)
//
// Issuer chains travel URL-encoded in their headers (Boost.URL's encode), as Intel sends
// them. The TCB info is selected by FMSPC (read from each bundle's tcb_info.json), the
// PCK CRL by CA type (from its issuer); the QE identity and root CA CRL come from the
// first registered bundle (they are the same for every platform). Unknown FMSPCs, CA
// types and routes get 404; a malformed FMSPC or CA gets 400.
//
// Built on test_http_server: it runs on its own thread, keeps a request log, and can
// serve HTTPS with a throwaway CA (ca_file()). Test-only code: setup failures throw.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "support/test_http_server.hpp"

namespace vp::test {

/// The four PCS v4 routes of one platform.
enum class pcs_route { tcb_info, qe_identity, pck_crl, root_ca_crl };

/// How a CRL body is sent.
enum class crl_encoding {
  der,  ///< the bundle's bytes as they are
  pem,  ///< -----BEGIN X509 CRL----- (Intel PCS without encoding=der)
  hex,  ///< lower-case hex text of the DER (a PCCS's /rootcacrl)
};

/// How one route misbehaves; the defaults answer normally.
struct route_fault {
  /// Answer with this status instead (non-200: no issuer-chain header, the body is
  /// `body` or a short text).
  std::optional<unsigned> status{};
  /// Replaces the body.
  std::optional<std::string> body{};
  /// Omit the issuer-chain header.
  bool drop_chain_header = false;
  /// Send this exact value as the issuer-chain header (garbling; see encode_header()).
  std::optional<std::string> chain_header{};
  /// Transport-level misbehaviour (hang, close, truncated body).
  http_fault fault = http_fault::none;
  /// Answer (or fault) this long after reading the request.
  std::chrono::milliseconds delay{0};
  /// Send the body chunked, followed by these trailer fields (sent verbatim).
  header_list trailers{};
};

struct fake_pccs_options {
  bool tls = false;
  crl_encoding root_ca_crl = crl_encoding::hex;
  crl_encoding pck_crl = crl_encoding::der;
};

class fake_pccs {
 public:
  /// Starts serving the given bundle directories (more can be added later).
  explicit fake_pccs(const std::vector<std::filesystem::path>& bundle_dirs = {}, fake_pccs_options options = {});
  ~fake_pccs();
  fake_pccs(const fake_pccs&) = delete;
  fake_pccs& operator=(const fake_pccs&) = delete;

  /// Registers the seven files of `dir`; its FMSPC comes from tcb_info.json and its CA
  /// type from the PCK CRL issuer. A later bundle with the same FMSPC replaces the
  /// earlier one's TCB info. Throws std::runtime_error naming the file on bad input.
  void add_bundle(const std::filesystem::path& dir);

  /// Sets (replaces) the misbehaviour of one route; thread-safe, affects later requests.
  void set_fault(pcs_route route, route_fault fault);
  void clear_faults();
  /// Changes how the CRLs are encoded from now on.
  void set_crl_encoding(pcs_route route, crl_encoding encoding);

  /// "http(s)://127.0.0.1:PORT": the base URL to hand to pcs_source / --pccs-url.
  std::string base_url() const;
  /// HTTPS: the PEM file of the server's throwaway CA (http_client_options::ca_file).
  const std::string& ca_file() const;
  test_http_server& server() { return *server_; }
  const test_http_server& server() const { return *server_; }

  /// Request targets received so far, in arrival order.
  std::vector<std::string> targets() const;
  std::size_t request_count() const;
  /// Requests for `route` of `fmspc_hex` (tcb_info only) and `ca` (pck_crl only).
  std::size_t request_count(pcs_route route, std::string_view fmspc_hex = {}, std::string_view ca = "platform") const;

  /// Stops serving (connections are then refused); idempotent.
  void stop();

  /// The request target fetch_pcs_responses uses for `route` (FMSPC in upper-case hex,
  /// as make_pcs_urls writes it).
  static std::string target(pcs_route route, std::string_view fmspc_hex = {}, std::string_view ca = "platform");
  /// Percent-encodes `text` the way Intel encodes issuer-chain headers.
  static std::string encode_header(std::string_view text);

 private:
  struct state;
  std::shared_ptr<state> state_;
  std::unique_ptr<test_http_server> server_;
};

/// One quote of a NEAR AI capture (testdata/nearai/NAME/expected.json `attestations[]`).
struct nearai_attestation {
  std::string json_pointer;  ///< where in report.json (`""` = top level)
  std::string pcs_dir;       ///< its collateral folder, relative to the capture ("pcs", "pcs/gateway")
  std::string fmspc_hex;     ///< upper case
  std::string tcb_status;    ///< the DCAP verdict at verify_at
  std::string quote_hex;     ///< `intel_quote` as it appears in report.json
  bytes quote;
};

/// A NEAR AI capture as the collateral tests use it.
struct nearai_capture {
  std::string name;
  std::filesystem::path dir;
  std::int64_t verify_at = 0;
  std::vector<nearai_attestation> attestations;
  /// pcs/ and, in gateway captures, pcs/gateway/.
  std::vector<std::filesystem::path> pcs_dirs() const;
};

/// The folders under testdata/nearai/.
const std::vector<std::string>& nearai_capture_names();

/// Reads report.json and expected.json of one capture; fails the test (ADD_FAILURE) on
/// anything missing. Requires the shared testdata (VP_REQUIRE_SHARED_TESTDATA first).
nearai_capture load_nearai_capture(std::string_view name);

/// "http://127.0.0.1:PORT" for a port that was bound and closed again: connecting to
/// it is refused (nobody else is likely to grab an ephemeral port within a test).
std::string refused_url();

}  // namespace vp::test
