#include "support/fake_pccs.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <openssl/pem.h>

#include <map>
#include <mutex>
#include <stdexcept>

#include "core/file.hpp"
#include "core/hex.hpp"
#include "crypto/x509.hpp"
#include "support/testdata.hpp"

namespace vp::test {
namespace {

struct bundle {
  std::string fmspc_hex;  ///< upper case, as make_pcs_urls requests it
  std::string ca;         ///< "platform" or "processor"
  std::string tcb_info;
  std::string tcb_info_issuer_chain;
  std::string qe_identity;
  std::string qe_identity_issuer_chain;
  std::string pck_crl;  ///< DER
  std::string pck_crl_issuer_chain;
  std::string root_ca_crl;  ///< DER
};

std::string read_or_throw(const std::filesystem::path& path) {
  auto data = vp::read_file(path);
  if (!data) throw std::runtime_error("fake_pccs: cannot read " + path.string());
  return std::move(*data);
}

std::string fmspc_of(const std::string& tcb_info_body, const std::filesystem::path& dir) {
  boost::system::error_code ec;
  const auto doc = boost::json::parse(tcb_info_body, ec);
  const auto* root = doc.if_object();
  const auto* info = root != nullptr ? root->if_contains("tcbInfo") : nullptr;
  const auto* fmspc = info != nullptr && info->is_object() ? info->as_object().if_contains("fmspc") : nullptr;
  const auto* text = fmspc != nullptr ? fmspc->if_string() : nullptr;
  const auto decoded = text != nullptr ? from_hex(*text) : std::nullopt;
  if (ec || !decoded || decoded->size() != 6) {
    throw std::runtime_error("fake_pccs: no 6-byte tcbInfo.fmspc in " + (dir / "tcb_info.json").string());
  }
  return to_hex_upper(*decoded);
}

/// "platform" / "processor" from the PCK CRL issuer's common name, as Intel names its CAs.
std::string ca_of(const std::string& pck_crl_der, const std::filesystem::path& dir) {
  const auto crl = crypto::parse_crl(as_bytes(pck_crl_der));
  if (!crl) throw std::runtime_error("fake_pccs: " + (dir / "pck_crl.der").string() + " is not a CRL");
  const std::string cn = crypto::common_name(::X509_CRL_get_issuer(crl.get()));
  if (cn.find("Processor") != std::string::npos) return "processor";
  if (cn.find("Platform") != std::string::npos) return "platform";
  throw std::runtime_error("fake_pccs: PCK CRL issuer '" + cn + "' names neither the Platform nor the Processor CA");
}

std::string encode_crl(const std::string& der, crl_encoding encoding) {
  switch (encoding) {
    case crl_encoding::der:
      return der;
    case crl_encoding::hex:
      return to_hex(as_bytes(der));
    case crl_encoding::pem: {
      const auto crl = crypto::parse_crl(as_bytes(der));
      crypto::bio_ptr bio(::BIO_new(::BIO_s_mem()));
      if (!crl || !bio || ::PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) {
        throw std::runtime_error("fake_pccs: cannot PEM-encode a CRL");
      }
      char* data = nullptr;
      const long size = BIO_get_mem_data(bio.get(), &data);
      return std::string(data, static_cast<std::size_t>(size));
    }
  }
  return der;
}

const char* crl_content_type(crl_encoding encoding) {
  switch (encoding) {
    case crl_encoding::der: return "application/pkix-crl";
    case crl_encoding::pem: return "application/x-pem-file";
    case crl_encoding::hex: return "text/plain";
  }
  return "application/octet-stream";
}

scripted_response text_response(unsigned status, std::string body) {
  scripted_response r;
  r.status = status;
  r.headers = {{"Content-Type", "text/plain"}};
  r.body = std::move(body);
  return r;
}

}  // namespace

struct fake_pccs::state {
  mutable std::mutex mutex;
  fake_pccs_options options;
  std::vector<bundle> bundles;
  std::map<pcs_route, route_fault> faults;

  /// The answer to one request, before faults: the route it hit (if any) and the response.
  struct routed {
    std::optional<pcs_route> route;
    scripted_response response;
  };

  const bundle* by_fmspc(const std::string& fmspc_hex) const {
    // Later registrations win, so a test can replace one platform's TCB info.
    for (auto it = bundles.rbegin(); it != bundles.rend(); ++it) {
      if (it->fmspc_hex == fmspc_hex) return &*it;
    }
    return nullptr;
  }
  const bundle* by_ca(std::string_view ca) const {
    for (const auto& b : bundles) {
      if (b.ca == ca) return &b;
    }
    return nullptr;
  }

  routed route(const http_request_record& request) const {
    if (request.method != "GET") return {std::nullopt, text_response(405, "method not allowed")};
    const auto parsed = boost::urls::parse_origin_form(request.target);
    if (!parsed) return {std::nullopt, text_response(400, "bad request target")};
    const std::string path = parsed->path();
    const auto param = [&](std::string_view name) -> std::optional<std::string> {
      const auto params = parsed->params();
      const auto it = params.find(name);
      if (it == params.end() || !(*it).has_value) return std::nullopt;
      return std::string((*it).value);
    };
    const auto chain = [](std::string_view name, const std::string& pem) {
      return header_list{{std::string(name), encode_header(pem)}};
    };

    if (path == "/tdx/certification/v4/tcb") {
      const auto fmspc = param("fmspc");
      const auto decoded = fmspc ? from_hex(*fmspc) : std::nullopt;
      if (!decoded || decoded->size() != 6) return {pcs_route::tcb_info, text_response(400, "bad fmspc")};
      const bundle* b = by_fmspc(to_hex_upper(*decoded));
      if (b == nullptr) return {pcs_route::tcb_info, text_response(404, "no TCB info for FMSPC " + *fmspc)};
      scripted_response r;
      r.headers = chain("TCB-Info-Issuer-Chain", b->tcb_info_issuer_chain);
      r.headers.emplace_back("Content-Type", "application/json");
      r.body = b->tcb_info;
      return {pcs_route::tcb_info, std::move(r)};
    }
    if (path == "/tdx/certification/v4/qe/identity") {
      const bundle* b = bundles.empty() ? nullptr : &bundles.front();
      if (b == nullptr) return {pcs_route::qe_identity, text_response(404, "no QE identity")};
      scripted_response r;
      r.headers = chain("SGX-Enclave-Identity-Issuer-Chain", b->qe_identity_issuer_chain);
      r.headers.emplace_back("Content-Type", "application/json");
      r.body = b->qe_identity;
      return {pcs_route::qe_identity, std::move(r)};
    }
    if (path == "/sgx/certification/v4/pckcrl") {
      const auto ca = param("ca");
      if (!ca || (*ca != "platform" && *ca != "processor")) {
        return {pcs_route::pck_crl, text_response(400, "bad ca")};
      }
      const bundle* b = by_ca(*ca);
      if (b == nullptr) return {pcs_route::pck_crl, text_response(404, "no PCK CRL for ca=" + *ca)};
      scripted_response r;
      r.headers = chain("SGX-PCK-CRL-Issuer-Chain", b->pck_crl_issuer_chain);
      r.headers.emplace_back("Content-Type", crl_content_type(options.pck_crl));
      r.body = encode_crl(b->pck_crl, options.pck_crl);
      return {pcs_route::pck_crl, std::move(r)};
    }
    if (path == "/sgx/certification/v4/rootcacrl") {
      if (bundles.empty()) return {pcs_route::root_ca_crl, text_response(404, "no root CA CRL")};
      scripted_response r;
      r.headers = {{"Content-Type", crl_content_type(options.root_ca_crl)}};
      r.body = encode_crl(bundles.front().root_ca_crl, options.root_ca_crl);
      return {pcs_route::root_ca_crl, std::move(r)};
    }
    return {std::nullopt, text_response(404, "no such route: " + path)};
  }

  scripted_response handle(const http_request_record& request) const {
    const std::lock_guard lock(mutex);
    routed out = route(request);
    if (!out.route) return std::move(out.response);
    const auto it = faults.find(*out.route);
    if (it == faults.end()) return std::move(out.response);
    const route_fault& f = it->second;
    scripted_response& r = out.response;
    if (f.status && *f.status != 200) {
      r = text_response(*f.status, f.body.value_or("fault injected: HTTP " + std::to_string(*f.status)));
    } else {
      if (f.body) r.body = *f.body;
      if (f.drop_chain_header || f.chain_header) {
        std::erase_if(r.headers, [](const auto& h) { return h.first.ends_with("Issuer-Chain"); });
      }
      if (f.chain_header && !f.drop_chain_header) {
        const char* name = *out.route == pcs_route::tcb_info      ? "TCB-Info-Issuer-Chain"
                           : *out.route == pcs_route::qe_identity ? "SGX-Enclave-Identity-Issuer-Chain"
                                                                   : "SGX-PCK-CRL-Issuer-Chain";
        r.headers.emplace_back(name, *f.chain_header);
      }
    }
    r.fault = f.fault;
    r.delay = f.delay;
    if (!f.trailers.empty()) {
      r.chunked = true;
      r.chunk_size = 4096;
      r.trailers = f.trailers;
    }
    return std::move(r);
  }
};

fake_pccs::fake_pccs(const std::vector<std::filesystem::path>& bundle_dirs, fake_pccs_options options)
    : state_(std::make_shared<state>()) {
  state_->options = options;
  for (const auto& dir : bundle_dirs) add_bundle(dir);
  // The handler holds the state, not this object: it may run on the server thread
  // while the fake is being torn down.
  server_ = std::make_unique<test_http_server>(
      [s = state_](const http_request_record& request) { return s->handle(request); },
      test_http_server_options{.tls = options.tls});
}

fake_pccs::~fake_pccs() { stop(); }

void fake_pccs::add_bundle(const std::filesystem::path& dir) {
  bundle b;
  b.tcb_info = read_or_throw(dir / "tcb_info.json");
  b.tcb_info_issuer_chain = read_or_throw(dir / "tcb_info_issuer_chain.pem");
  b.qe_identity = read_or_throw(dir / "qe_identity.json");
  b.qe_identity_issuer_chain = read_or_throw(dir / "qe_identity_issuer_chain.pem");
  b.pck_crl = read_or_throw(dir / "pck_crl.der");
  b.pck_crl_issuer_chain = read_or_throw(dir / "pck_crl_issuer_chain.pem");
  b.root_ca_crl = read_or_throw(dir / "root_ca_crl.der");
  b.fmspc_hex = fmspc_of(b.tcb_info, dir);
  b.ca = ca_of(b.pck_crl, dir);
  const std::lock_guard lock(state_->mutex);
  state_->bundles.push_back(std::move(b));
}

void fake_pccs::set_fault(pcs_route route, route_fault fault) {
  const std::lock_guard lock(state_->mutex);
  state_->faults[route] = std::move(fault);
}

void fake_pccs::clear_faults() {
  const std::lock_guard lock(state_->mutex);
  state_->faults.clear();
}

void fake_pccs::set_crl_encoding(pcs_route route, crl_encoding encoding) {
  const std::lock_guard lock(state_->mutex);
  if (route == pcs_route::pck_crl) state_->options.pck_crl = encoding;
  else if (route == pcs_route::root_ca_crl) state_->options.root_ca_crl = encoding;
  else throw std::logic_error("fake_pccs: only the CRL routes have an encoding");
}

std::string fake_pccs::base_url() const { return server_->base_url(); }
const std::string& fake_pccs::ca_file() const { return server_->ca_file(); }

std::vector<std::string> fake_pccs::targets() const {
  std::vector<std::string> out;
  for (const auto& r : server_->requests()) out.push_back(r.target);
  return out;
}

std::size_t fake_pccs::request_count() const { return server_->request_count(); }

std::size_t fake_pccs::request_count(pcs_route route, std::string_view fmspc_hex, std::string_view ca) const {
  return server_->request_count(target(route, fmspc_hex, ca));
}

void fake_pccs::stop() { server_->stop(); }

std::string fake_pccs::target(pcs_route route, std::string_view fmspc_hex, std::string_view ca) {
  switch (route) {
    case pcs_route::tcb_info: {
      const auto decoded = from_hex(fmspc_hex);
      return "/tdx/certification/v4/tcb?fmspc=" + (decoded ? to_hex_upper(*decoded) : std::string(fmspc_hex));
    }
    case pcs_route::qe_identity:
      return "/tdx/certification/v4/qe/identity";
    case pcs_route::pck_crl:
      return "/sgx/certification/v4/pckcrl?ca=" + std::string(ca) + "&encoding=der";
    case pcs_route::root_ca_crl:
      return "/sgx/certification/v4/rootcacrl";
  }
  return {};
}

std::string fake_pccs::encode_header(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

std::string refused_url() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address_v4("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return "http://127.0.0.1:" + std::to_string(port);
}

std::vector<std::filesystem::path> nearai_capture::pcs_dirs() const {
  std::vector<std::filesystem::path> out{dir / "pcs"};
  std::error_code ec;
  if (std::filesystem::is_directory(dir / "pcs" / "gateway", ec)) out.push_back(dir / "pcs" / "gateway");
  return out;
}

const std::vector<std::string>& nearai_capture_names() {
  static const std::vector<std::string> names = {"direct-2026-03-22-ecdsa", "direct-2026-04-24-ed25519",
                                                 "direct-2026-06-29-ed25519", "gateway-2026-04-24",
                                                 "gateway-2026-06-29"};
  return names;
}

nearai_capture load_nearai_capture(std::string_view name) {
  nearai_capture c;
  c.name = std::string(name);
  const auto root = shared_testdata_dir();
  if (!root) {
    ADD_FAILURE() << "shared testdata missing";
    return c;
  }
  c.dir = *root / "nearai" / c.name;
  const auto rel = std::filesystem::path("nearai") / c.name;
  boost::system::error_code ec;
  const boost::json::value expected = boost::json::parse(read_shared(rel / "expected.json"), ec);
  if (ec) {
    ADD_FAILURE() << c.name << "/expected.json: " << ec.message();
    return c;
  }
  const boost::json::value report = boost::json::parse(read_shared(rel / "report.json"), ec);
  if (ec) {
    ADD_FAILURE() << c.name << "/report.json: " << ec.message();
    return c;
  }
  const auto* at = expected.find_pointer("/verify_at_unix", ec);
  if (at == nullptr || !at->is_int64()) {
    ADD_FAILURE() << c.name << ": no verify_at_unix";
    return c;
  }
  c.verify_at = at->as_int64();
  const auto* list = expected.find_pointer("/attestations", ec);
  if (list == nullptr || !list->is_array()) {
    ADD_FAILURE() << c.name << ": no attestations";
    return c;
  }
  for (const auto& entry : list->as_array()) {
    const auto text = [&](std::string_view pointer) -> std::string {
      boost::system::error_code e;
      const auto* v = entry.find_pointer(pointer, e);
      if (v == nullptr || !v->is_string()) {
        ADD_FAILURE() << c.name << ": attestation field " << pointer << " missing";
        return {};
      }
      return std::string(v->as_string());
    };
    nearai_attestation a;
    a.json_pointer = text("/json_pointer");
    a.pcs_dir = text("/pcs_dir");
    a.fmspc_hex = text("/quote/fmspc");
    a.tcb_status = text("/dcap/tcb_status");
    const auto* quote = report.find_pointer(a.json_pointer + "/intel_quote", ec);
    if (quote == nullptr || !quote->is_string()) {
      ADD_FAILURE() << c.name << ": no intel_quote at " << a.json_pointer;
      continue;
    }
    a.quote_hex = std::string(quote->as_string());
    auto decoded = from_hex_lenient(a.quote_hex);
    if (!decoded) {
      ADD_FAILURE() << c.name << ": intel_quote at " << a.json_pointer << " is not hex";
      continue;
    }
    a.quote = std::move(*decoded);
    c.attestations.push_back(std::move(a));
  }
  return c;
}

}  // namespace vp::test
