// pcs_source and cached_source against a fake PCCS replaying the real Intel responses
// captured with the NEAR AI reports: every capture end to end over HTTP and HTTPS, the
// fault matrix (each failure a typed error whose message names the URL, status or
// header), and the cache in front of the network.

#include "collateral/pcs_source.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "collateral/bundle.hpp"
#include "collateral/cache.hpp"
#include "collateral/pcs_client.hpp"
#include "core/file.hpp"
#include "core/hex.hpp"
#include "support/fake_pccs.hpp"
#include "support/testdata.hpp"

namespace vp::collateral {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::crl_encoding;
using test::fake_pccs;
using test::http_fault;
using test::pcs_route;
using test::route_fault;

// The capture most fault cases use: FMSPC 90C06F000000, tcbEvaluationDataNumber 19.
constexpr const char* fault_capture = "direct-2026-06-29-ed25519";
constexpr const char* model_fmspc = "90C06F000000";
constexpr const char* gateway_fmspc = "B0C06F000000";

/// Upper bound for any one event loop: a hang fails the test instead of the suite.
constexpr auto loop_limit = 5s;

std::shared_ptr<const tdx::trust_anchor> intel_anchor() {
  // Intel's anchor is a static; share it without owning it.
  return std::shared_ptr<const tdx::trust_anchor>(std::shared_ptr<void>{}, &tdx::intel_sgx_root_ca());
}

platform_key key_of(std::string_view fmspc_hex) {
  platform_key key;
  const auto bytes = from_hex(fmspc_hex);
  if (bytes && bytes->size() == key.fmspc.size()) std::copy(bytes->begin(), bytes->end(), key.fmspc.begin());
  return key;
}

net::http_client_options fast_http(std::string ca_file = {}) {
  net::http_client_options o;
  o.connect_timeout = 2s;
  o.response_timeout = 2s;
  o.ca_file = std::move(ca_file);
  return o;
}

/// Runs `work` on `io` until it completes (not until `io` runs out of work: background
/// refreshes stay queued for the caller to drain).
template <class T>
std::optional<T> run_until_done(asio::io_context& io, asio::awaitable<T> work) {
  auto out = std::make_shared<std::optional<T>>();
  asio::co_spawn(io, std::move(work), [out](std::exception_ptr e, T value) {
    if (e) std::rethrow_exception(e);
    *out = std::move(value);
  });
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + loop_limit;
  while (!*out && std::chrono::steady_clock::now() < deadline) {
    if (io.run_one_for(deadline - std::chrono::steady_clock::now()) == 0) break;
  }
  if (!*out) ADD_FAILURE() << "the coroutine did not complete within the loop limit";
  return std::move(*out);
}

void drain(asio::io_context& io) {
  io.restart();
  io.run_for(loop_limit);
}

template <class T>
result<T> or_unfinished(std::optional<result<T>> r) {
  if (r) return std::move(*r);
  return error{errc::unavailable, "did not complete"};
}

/// One pcs_source get on a fresh io_context.
result<verified_collateral> fetch(std::vector<std::string> urls, const platform_key& key, unix_time now,
                                  net::http_client_options http = fast_http(), std::uint32_t min_eval = 0) {
  asio::io_context io;
  const fixed_clock clock(now);
  pcs_source source(std::make_shared<net::http_client>(io.get_executor(), std::move(http)),
                    pcs_source_options{std::move(urls), min_eval}, intel_anchor(), clock);
  return or_unfinished(run_until_done(io, source.get(key)));
}

/// The four targets one platform's fetch requests, in request order.
std::vector<std::string> expected_targets(std::string_view fmspc_hex) {
  return {fake_pccs::target(pcs_route::tcb_info, fmspc_hex), fake_pccs::target(pcs_route::qe_identity),
          fake_pccs::target(pcs_route::pck_crl), fake_pccs::target(pcs_route::root_ca_crl)};
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

/// Asserts a failed result of kind `kind` whose message holds every one of `needles`.
void expect_error(const result<verified_collateral>& r, errc kind, std::initializer_list<std::string> needles) {
  ASSERT_FALSE(r) << "expected " << to_string(kind) << ", got collateral";
  EXPECT_EQ(r.error().kind, kind) << to_string(r.error().kind) << ": " << r.error().message;
  for (const auto& needle : needles) {
    EXPECT_TRUE(contains(r.error().message, needle)) << "message lacks '" << needle << "': " << r.error().message;
  }
}

// ---------------------------------------------------------------------------------------
// The fake itself: bytes and headers exactly as Intel sends them.

TEST(FakePccs, ServesTheBundleBytesAndUrlEncodedChainsAnd404sTheUnknown) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto capture = test::load_nearai_capture("gateway-2026-06-29");
  fake_pccs pccs(capture.pcs_dirs(), {.root_ca_crl = crl_encoding::der});
  asio::io_context io;
  net::http_client client(io.get_executor(), fast_http());
  const auto get = [&](std::string_view target) {
    auto r = run_until_done(io, client.get(pccs.base_url() + std::string(target)));
    EXPECT_TRUE(r && *r) << target;
    return r && *r ? **r : net::http_response{};
  };
  const auto pcs = capture.dir / "pcs";
  const auto file = [](const std::filesystem::path& p) { return read_file(p).value_or("<unreadable>"); };

  for (const auto& [fmspc, dir] : {std::pair{model_fmspc, pcs}, std::pair{gateway_fmspc, pcs / "gateway"}}) {
    const auto tcb = get(fake_pccs::target(pcs_route::tcb_info, fmspc));
    EXPECT_EQ(tcb.status, 200u);
    EXPECT_EQ(tcb.body, file(dir / "tcb_info.json"));
    const auto chain = tcb.header("TCB-Info-Issuer-Chain");
    ASSERT_TRUE(chain);
    EXPECT_FALSE(contains(std::string(*chain), "\n")) << "the header must be percent-encoded";
    EXPECT_EQ(decode_issuer_chain_header(*chain).value(), file(dir / "tcb_info_issuer_chain.pem"));
  }
  // FMSPC is matched as bytes: lower-case hex selects the same platform.
  EXPECT_EQ(get("/tdx/certification/v4/tcb?fmspc=b0c06f000000").body, file(pcs / "gateway" / "tcb_info.json"));

  const auto qe = get(fake_pccs::target(pcs_route::qe_identity));
  EXPECT_EQ(qe.body, file(pcs / "qe_identity.json"));
  EXPECT_EQ(decode_issuer_chain_header(qe.header("SGX-Enclave-Identity-Issuer-Chain").value_or("")).value(),
            file(pcs / "qe_identity_issuer_chain.pem"));
  const auto crl = get(fake_pccs::target(pcs_route::pck_crl));
  EXPECT_EQ(crl.body, file(pcs / "pck_crl.der"));
  EXPECT_EQ(decode_issuer_chain_header(crl.header("SGX-PCK-CRL-Issuer-Chain").value_or("")).value(),
            file(pcs / "pck_crl_issuer_chain.pem"));
  EXPECT_EQ(get(fake_pccs::target(pcs_route::root_ca_crl)).body, file(pcs / "root_ca_crl.der"));

  pccs.set_crl_encoding(pcs_route::root_ca_crl, crl_encoding::hex);
  EXPECT_EQ(get(fake_pccs::target(pcs_route::root_ca_crl)).body, to_hex(as_bytes(file(pcs / "root_ca_crl.der"))));
  pccs.set_crl_encoding(pcs_route::pck_crl, crl_encoding::pem);
  EXPECT_TRUE(get(fake_pccs::target(pcs_route::pck_crl)).body.starts_with("-----BEGIN X509 CRL-----"));

  EXPECT_EQ(get(fake_pccs::target(pcs_route::tcb_info, "00A067110000")).status, 404u);
  EXPECT_EQ(get(fake_pccs::target(pcs_route::pck_crl, "", "processor")).status, 404u);
  EXPECT_EQ(get("/sgx/certification/v4/pckcert").status, 404u);
  EXPECT_EQ(get("/tdx/certification/v4/tcb?fmspc=xyz").status, 400u);
}

// ---------------------------------------------------------------------------------------
// Every NEAR AI capture, end to end: identify_platform → pcs_source::get → verify_quote.

class PcsSourceCapture : public testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(PcsSourceCapture, FetchesAuthenticatesAndVerifiesEveryQuote) {
  VP_REQUIRE_SHARED_TESTDATA();
  const auto& [name, tls] = GetParam();
  const auto capture = test::load_nearai_capture(name);
  ASSERT_FALSE(capture.attestations.empty());
  fake_pccs pccs(capture.pcs_dirs(), {.tls = tls});
  const unix_time at = from_unix_seconds(capture.verify_at);
  const fixed_clock clock(at);
  asio::io_context io;
  auto client = std::make_shared<net::http_client>(io.get_executor(), fast_http(tls ? pccs.ca_file() : ""));

  for (const auto& attestation : capture.attestations) {
    SCOPED_TRACE(attestation.json_pointer);
    const auto platform = tdx::identify_platform(attestation.quote);
    ASSERT_TRUE(platform) << platform.error().message;
    EXPECT_EQ(to_hex_upper(platform->fmspc), attestation.fmspc_hex);
    const platform_key key{platform->fmspc, platform->pck_ca};

    const std::size_t before = pccs.request_count();
    pcs_source source(client, {{pccs.base_url()}, 0}, intel_anchor(), clock);
    const auto got = or_unfinished(run_until_done(io, source.get(key)));
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->summary.fmspc, platform->fmspc);
    EXPECT_LE(got->summary.valid_from, at);
    EXPECT_GE(got->summary.valid_until, at);

    const auto all = pccs.targets();
    ASSERT_GE(all.size(), before);
    EXPECT_EQ(std::vector<std::string>(all.begin() + static_cast<std::ptrdiff_t>(before), all.end()),
              expected_targets(attestation.fmspc_hex));

    const auto verdict = tdx::verify_quote(attestation.quote, *got->collateral, *intel_anchor(), at);
    ASSERT_TRUE(verdict) << verdict.error().message;
    EXPECT_EQ(tdx::to_string(verdict->status), attestation.tcb_status);
  }
}

INSTANTIATE_TEST_SUITE_P(NearCaptures, PcsSourceCapture,
                         testing::Combine(testing::ValuesIn(test::nearai_capture_names()), testing::Bool()),
                         [](const testing::TestParamInfo<PcsSourceCapture::ParamType>& p) {
                           std::string n = std::get<0>(p.param) + (std::get<1>(p.param) ? "_https" : "_http");
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// ---------------------------------------------------------------------------------------
// Encodings a real PCS / PCCS uses

class PcsSourceFaults : public testing::Test {
 protected:
  void SetUp() override {
    if (!test::shared_testdata_dir()) GTEST_SKIP() << "shared test vectors not found";
    capture_ = test::load_nearai_capture(fault_capture);
    at_ = from_unix_seconds(capture_.verify_at);
    pccs_ = std::make_unique<fake_pccs>(capture_.pcs_dirs());
  }

  result<verified_collateral> get(std::string_view fmspc = model_fmspc) {
    return fetch({pccs_->base_url()}, key_of(fmspc), at_);
  }
  std::string url(pcs_route route, std::string_view fmspc = model_fmspc) const {
    return pccs_->base_url() + fake_pccs::target(route, fmspc);
  }

  test::nearai_capture capture_;
  unix_time at_{};
  std::unique_ptr<fake_pccs> pccs_;
};

TEST_F(PcsSourceFaults, AcceptsEveryCrlEncodingAServiceUses) {
  for (const auto pck : {crl_encoding::der, crl_encoding::pem}) {
    for (const auto root : {crl_encoding::der, crl_encoding::hex, crl_encoding::pem}) {
      pccs_->set_crl_encoding(pcs_route::pck_crl, pck);
      pccs_->set_crl_encoding(pcs_route::root_ca_crl, root);
      const auto r = get();
      EXPECT_TRUE(r) << static_cast<int>(pck) << "/" << static_cast<int>(root) << ": " << r.error().message;
    }
  }
}

TEST_F(PcsSourceFaults, BaseUrlWithTrailingSlashRequestsTheSameTargets) {
  const auto r = fetch({pccs_->base_url() + "/"}, key_of(model_fmspc), at_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(pccs_->targets(), expected_targets(model_fmspc));
}

// ---------------------------------------------------------------------------------------
// The fault matrix

TEST_F(PcsSourceFaults, UnknownFmspcIs404NamingTheUrl) {
  expect_error(get("00A067110000"), errc::unavailable,
               {url(pcs_route::tcb_info, "00A067110000"), "HTTP 404", "00A067110000/platform"});
  EXPECT_EQ(pccs_->request_count(), 1u);  // nothing else is asked once the first route fails
}

TEST_F(PcsSourceFaults, Http404OnAnyRouteNamesThatRoute) {
  pccs_->set_fault(pcs_route::qe_identity, {.status = 404});
  expect_error(get(), errc::unavailable, {url(pcs_route::qe_identity), "HTTP 404"});
  pccs_->clear_faults();
  pccs_->set_fault(pcs_route::root_ca_crl, {.status = 404});
  expect_error(get(), errc::unavailable, {url(pcs_route::root_ca_crl), "HTTP 404"});
}

TEST_F(PcsSourceFaults, Http500NamesUrlAndStatus) {
  pccs_->set_fault(pcs_route::pck_crl, {.status = 500});
  expect_error(get(), errc::unavailable, {url(pcs_route::pck_crl), "HTTP 500"});
}

TEST_F(PcsSourceFaults, ConnectionRefusedNamesTheUrl) {
  const std::string refused = test::refused_url();
  const auto r = fetch({refused}, key_of(model_fmspc), at_);
  expect_error(r, errc::unavailable, {refused + fake_pccs::target(pcs_route::tcb_info, model_fmspc), "connect"});
}

TEST_F(PcsSourceFaults, ServerThatNeverAnswersTimesOutWithinTheBound) {
  pccs_->set_fault(pcs_route::tcb_info, {.fault = http_fault::hang});
  auto http = fast_http();
  http.connect_timeout = 300ms;
  http.response_timeout = 300ms;
  const auto started = std::chrono::steady_clock::now();
  const auto r = fetch({pccs_->base_url()}, key_of(model_fmspc), at_, http);
  const auto took = std::chrono::steady_clock::now() - started;
  expect_error(r, errc::unavailable, {url(pcs_route::tcb_info), "timeout"});
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
}

TEST_F(PcsSourceFaults, SlowButTimelyAnswerIsAccepted) {
  pccs_->set_fault(pcs_route::qe_identity, {.delay = 100ms});
  auto http = fast_http();
  http.response_timeout = 1s;
  EXPECT_TRUE(fetch({pccs_->base_url()}, key_of(model_fmspc), at_, http));
}

TEST_F(PcsSourceFaults, TruncatedBodyIsAProtocolFailure) {
  pccs_->set_fault(pcs_route::tcb_info, {.fault = http_fault::truncated_body});
  expect_error(get(), errc::unavailable, {url(pcs_route::tcb_info), "truncated"});
  pccs_->set_fault(pcs_route::tcb_info, {.fault = http_fault::close_without_response});
  expect_error(get(), errc::unavailable, {url(pcs_route::tcb_info)});
}

TEST_F(PcsSourceFaults, HugeTrailerIsAProtocolFailureNotACrash) {
  // A trailer field over 64 KiB used to throw out of Beast's parser and end the process.
  pccs_->set_fault(pcs_route::tcb_info, {.trailers = {{"X-Huge", std::string(70'000, 'x')}}});
  expect_error(get(), errc::unavailable, {url(pcs_route::tcb_info), "trailer"});
  pccs_->clear_faults();
  pccs_->set_fault(pcs_route::qe_identity, {.trailers = {{std::string(70'000, 'n'), "v"}}});
  expect_error(get(), errc::unavailable, {url(pcs_route::qe_identity), "trailer"});
  pccs_->clear_faults();
  EXPECT_TRUE(get());
}

TEST_F(PcsSourceFaults, EmptyBodyIsInvalid) {
  pccs_->set_fault(pcs_route::qe_identity, {.body = ""});
  expect_error(get(), errc::invalid, {url(pcs_route::qe_identity), "empty body"});
}

TEST_F(PcsSourceFaults, MissingIssuerChainHeaderNamesTheHeader) {
  pccs_->set_fault(pcs_route::tcb_info, {.drop_chain_header = true});
  expect_error(get(), errc::invalid, {url(pcs_route::tcb_info), "TCB-Info-Issuer-Chain"});
  pccs_->clear_faults();
  pccs_->set_fault(pcs_route::qe_identity, {.drop_chain_header = true});
  expect_error(get(), errc::invalid, {url(pcs_route::qe_identity), "SGX-Enclave-Identity-Issuer-Chain"});
  pccs_->clear_faults();
  pccs_->set_fault(pcs_route::pck_crl, {.drop_chain_header = true});
  expect_error(get(), errc::invalid, {url(pcs_route::pck_crl), "SGX-PCK-CRL-Issuer-Chain"});
}

TEST_F(PcsSourceFaults, GarbledIssuerChainHeaderIsInvalid) {
  // Not percent-encoding at all: a '%' not followed by two hex digits.
  pccs_->set_fault(pcs_route::tcb_info, {.chain_header = "-----BEGIN%ZZCERTIFICATE-----"});
  expect_error(get(), errc::invalid, {url(pcs_route::tcb_info), "percent-encoding"});
  // Valid encoding of something that is not PEM.
  pccs_->set_fault(pcs_route::tcb_info, {.chain_header = fake_pccs::encode_header("not a certificate\n")});
  expect_error(get(), errc::invalid, {url(pcs_route::tcb_info), "no PEM certificate"});
  // A PEM header around garbage: decodes, but no certificate parses.
  pccs_->set_fault(pcs_route::tcb_info, {});
  pccs_->set_fault(pcs_route::pck_crl,
                   {.chain_header = fake_pccs::encode_header(
                        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")});
  expect_error(get(), errc::invalid, {pccs_->base_url(), "pck_crl_issuer_chain"});
}

TEST_F(PcsSourceFaults, GarbledCrlBodyIsInvalid) {
  pccs_->set_fault(pcs_route::root_ca_crl, {.body = "this is not a CRL"});
  expect_error(get(), errc::invalid, {pccs_->base_url(), "root_ca_crl"});
}

TEST_F(PcsSourceFaults, TcbInfoChangedInsideTheSignedObjectIsRejected) {
  std::string body = read_file(capture_.dir / "pcs" / "tcb_info.json").value();
  // One byte of the signed tcbInfo object: the TCB evaluation number 19 → 18.
  const auto at = body.find("\"tcbEvaluationDataNumber\":19");
  ASSERT_NE(at, std::string::npos);
  ASSERT_LT(at, body.find("\"signature\""));
  body[at + std::string_view("\"tcbEvaluationDataNumber\":1").size()] = '8';
  pccs_->set_fault(pcs_route::tcb_info, {.body = body});
  expect_error(get(), errc::rejected, {pccs_->base_url(), "invalid_signature"});
}

TEST_F(PcsSourceFaults, AnotherPlatformsTcbInfoIsAMismatch) {
  // A PCCS answering the model platform's FMSPC with the gateway platform's (genuine,
  // Intel-signed) TCB info.
  const auto gateway = test::load_nearai_capture("gateway-2026-06-29");
  pccs_->set_fault(pcs_route::tcb_info, {.body = read_file(gateway.dir / "pcs" / "gateway" / "tcb_info.json").value()});
  expect_error(get(), errc::mismatch,
               {pccs_->base_url(), std::string(gateway_fmspc) + "/platform", std::string(model_fmspc) + "/platform"});
}

TEST_F(PcsSourceFaults, ExpiredCollateralIsNeverHandedOut) {
  const auto fresh = get();
  ASSERT_TRUE(fresh) << fresh.error().message;
  const unix_time after = fresh->summary.valid_until + 1s;
  expect_error(fetch({pccs_->base_url()}, key_of(model_fmspc), after), errc::expired,
               {pccs_->base_url(), "expired at"});
  const unix_time before = fresh->summary.valid_from - 1s;
  expect_error(fetch({pccs_->base_url()}, key_of(model_fmspc), before), errc::expired,
               {pccs_->base_url(), "not valid before"});
}

TEST_F(PcsSourceFaults, TcbEvaluationDataNumberBelowTheMinimumIsTooOld) {
  EXPECT_TRUE(fetch({pccs_->base_url()}, key_of(model_fmspc), at_, fast_http(), 19));
  expect_error(fetch({pccs_->base_url()}, key_of(model_fmspc), at_, fast_http(), 20), errc::too_old,
               {pccs_->base_url(), "tcbEvaluationDataNumber 19", "minimum 20"});
}

TEST_F(PcsSourceFaults, SecondUrlIsUsedWhenTheFirstIsRefused) {
  const std::string refused = test::refused_url();
  const auto r = fetch({refused, pccs_->base_url()}, key_of(model_fmspc), at_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(pccs_->targets(), expected_targets(model_fmspc));
}

TEST_F(PcsSourceFaults, SecondUrlIsUsedWhenTheFirstAnswers500) {
  fake_pccs broken(capture_.pcs_dirs());
  broken.set_fault(pcs_route::tcb_info, {.status = 500});
  const auto r = fetch({broken.base_url(), pccs_->base_url()}, key_of(model_fmspc), at_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(broken.targets(), std::vector<std::string>{fake_pccs::target(pcs_route::tcb_info, model_fmspc)});
  EXPECT_EQ(pccs_->targets(), expected_targets(model_fmspc));
  for (const auto route : {pcs_route::tcb_info, pcs_route::qe_identity, pcs_route::pck_crl, pcs_route::root_ca_crl}) {
    EXPECT_EQ(pccs_->request_count(route, model_fmspc), 1u);
  }
}

TEST_F(PcsSourceFaults, SecondUrlIsUsedWhenTheFirstServesUnauthenticCollateral) {
  fake_pccs forged(capture_.pcs_dirs());
  std::string body = read_file(capture_.dir / "pcs" / "qe_identity.json").value();
  const auto issue = body.find("\"issueDate\":\"2026");
  ASSERT_NE(issue, std::string::npos);
  body[issue + std::string_view("\"issueDate\":\"20").size()] = '1';  // 2026 → 2016, inside the signed object
  forged.set_fault(pcs_route::qe_identity, {.body = body});
  const auto r = fetch({forged.base_url(), pccs_->base_url()}, key_of(model_fmspc), at_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(forged.request_count(), 4u);  // all four answered, then the collateral was refused
  EXPECT_EQ(pccs_->request_count(), 4u);
}

TEST_F(PcsSourceFaults, AllUrlsFailingListsEach) {
  const std::string refused = test::refused_url();
  fake_pccs empty;  // no bundles: 404 for everything
  const auto r = fetch({refused, empty.base_url(), pccs_->base_url()}, key_of("00A067110000"), at_);
  expect_error(r, errc::unavailable,
               {refused + "/tdx/", empty.base_url() + "/tdx/", pccs_->base_url() + "/tdx/", "HTTP 404",
                "00A067110000/platform"});
}

TEST_F(PcsSourceFaults, FetchRawReturnsTheServedBytes) {
  pccs_->set_crl_encoding(pcs_route::root_ca_crl, crl_encoding::der);
  asio::io_context io;
  const fixed_clock clock(at_);
  pcs_source source(std::make_shared<net::http_client>(io.get_executor(), fast_http()), {{pccs_->base_url()}, 0},
                    intel_anchor(), clock);
  const auto raw = or_unfinished(run_until_done(io, source.fetch_raw(key_of(model_fmspc))));
  ASSERT_TRUE(raw) << raw.error().message;
  const auto dir = capture_.dir / "pcs";
  const auto bundle = read_bundle_directory(dir);
  ASSERT_TRUE(bundle) << bundle.error().message;
  EXPECT_EQ(raw->tcb_info, bundle->tcb_info);
  EXPECT_EQ(raw->tcb_info_issuer_chain, bundle->tcb_info_issuer_chain);
  EXPECT_EQ(raw->qe_identity, bundle->qe_identity);
  EXPECT_EQ(raw->qe_identity_issuer_chain, bundle->qe_identity_issuer_chain);
  EXPECT_EQ(raw->pck_crl, bundle->pck_crl);
  EXPECT_EQ(raw->pck_crl_issuer_chain, bundle->pck_crl_issuer_chain);
  EXPECT_EQ(raw->root_ca_crl, bundle->root_ca_crl);
}

// ---------------------------------------------------------------------------------------
// cached_source over pcs_source over the fake PCCS

class PcsCache : public PcsSourceFaults {
 protected:
  void SetUp() override {
    PcsSourceFaults::SetUp();
    if (IsSkipped()) return;
    dir_ = std::filesystem::temp_directory_path() /
           ("vp-pcs-cache-test-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    clock_.set(at_);
    client_ = std::make_shared<net::http_client>(io_.get_executor(), fast_http());
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::shared_ptr<cached_source> make_cache() {
    auto upstream = std::make_shared<pcs_source>(client_, pcs_source_options{{pccs_->base_url()}, 0}, intel_anchor(),
                                                 clock_);
    return std::make_shared<cached_source>(io_.get_executor(), upstream, cache_options{.directory = dir_},
                                           intel_anchor(), clock_);
  }
  result<verified_collateral> get(cached_source& cache) {
    return or_unfinished(run_until_done(io_, cache.get(key_of(model_fmspc))));
  }

  asio::io_context io_;
  fixed_clock clock_{unix_time{}};
  std::shared_ptr<net::http_client> client_;
  std::filesystem::path dir_;
};

TEST_F(PcsCache, FiftyConcurrentGetsShareOneFetch) {
  auto cache = make_cache();
  std::vector<std::optional<result<verified_collateral>>> results(50);
  for (auto& slot : results) {
    asio::co_spawn(io_, [&cache, &slot]() -> asio::awaitable<void> { slot = co_await cache->get(key_of(model_fmspc)); },
                   asio::detached);
  }
  drain(io_);
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(*r) << (*r).error().message;
  }
  EXPECT_EQ(cache->upstream_fetches(), 1u);
  EXPECT_EQ(pccs_->targets(), expected_targets(model_fmspc));
}

TEST_F(PcsCache, DiskCacheServesASecondInstanceWithoutRequests) {
  {
    auto cache = make_cache();
    ASSERT_TRUE(get(*cache));
    EXPECT_TRUE(std::filesystem::is_regular_file(cache->file_for(key_of(model_fmspc))));
  }
  EXPECT_EQ(pccs_->request_count(), 4u);
  pccs_->stop();  // nothing can be fetched now
  auto second = make_cache();
  const auto r = get(*second);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(second->upstream_fetches(), 0u);
  EXPECT_EQ(pccs_->request_count(), 4u);
}

TEST_F(PcsCache, RefreshesAheadInTheBackgroundWithoutDelayingTheCaller) {
  auto cache = make_cache();
  const auto first = get(*cache);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(pccs_->request_count(), 4u);
  // Past 75 % of the window; the refresh's first answer takes 800 ms.
  const auto& s = first->summary;
  clock_.set(s.valid_from + std::chrono::duration_cast<std::chrono::seconds>((s.valid_until - s.valid_from) * 0.8));
  pccs_->set_fault(pcs_route::tcb_info, {.delay = 800ms});
  const auto started = std::chrono::steady_clock::now();
  const auto second = get(*cache);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_LT(took, 400ms);
  EXPECT_EQ(second->collateral, first->collateral);  // the cached copy, not a new fetch
  EXPECT_EQ(pccs_->request_count(), 4u);
  drain(io_);
  EXPECT_EQ(pccs_->request_count(), 8u);
  EXPECT_EQ(cache->upstream_fetches(), 2u);
  const auto all = pccs_->targets();
  EXPECT_EQ(std::vector<std::string>(all.begin() + 4, all.end()), expected_targets(model_fmspc));
}

TEST_F(PcsCache, CollateralServedPastItsRefreshPointIsNotRefetchedOnEveryRequest) {
  // A PCCS that has not updated yet keeps serving the same collateral, already past 75 %
  // of its window: refreshing it at once again would turn every request into a refetch.
  const auto fetched = fetch({pccs_->base_url()}, key_of(model_fmspc), at_);
  ASSERT_TRUE(fetched) << fetched.error().message;
  const auto& s = fetched->summary;
  clock_.set(s.valid_from + std::chrono::duration_cast<std::chrono::seconds>((s.valid_until - s.valid_from) * 0.8));
  const std::size_t before = pccs_->request_count();

  auto cache = make_cache();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(get(*cache));
    drain(io_);
  }
  EXPECT_EQ(pccs_->request_count(), before + 4);
  EXPECT_EQ(cache->upstream_fetches(), 1u);
  // After the back-off (cache_options::retry_after, 300 s) it is tried again, once.
  clock_.advance(301s);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(get(*cache));
    drain(io_);
  }
  EXPECT_EQ(pccs_->request_count(), before + 8);
  EXPECT_EQ(cache->upstream_fetches(), 2u);
}

TEST_F(PcsCache, CorruptCacheFileIsRefetched) {
  {
    auto cache = make_cache();
    ASSERT_TRUE(get(*cache));
  }
  auto second = make_cache();
  const auto file = second->file_for(key_of(model_fmspc));
  std::ofstream(file, std::ios::binary | std::ios::trunc) << "{\"tcb_info\": truncated";
  const auto r = get(*second);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(second->upstream_fetches(), 1u);
  EXPECT_EQ(pccs_->request_count(), 8u);
  EXPECT_TRUE(read_collateral_file(file)) << "the refetched collateral replaces the corrupt file";
}

TEST_F(PcsCache, ExpiredAndUnrefreshableIsAnExpiryError) {
  auto cache = make_cache();
  const auto first = get(*cache);
  ASSERT_TRUE(first) << first.error().message;
  pccs_->stop();
  clock_.set(first->summary.valid_until + 1s);
  const auto r = get(*cache);
  expect_error(r, errc::expired, {"could not be refreshed", pccs_->base_url()});
  // With the service back (serving the same, now expired, collateral) it is still never handed out.
  fake_pccs again(capture_.pcs_dirs());
  auto fresh_cache = std::make_shared<cached_source>(
      io_.get_executor(),
      std::make_shared<pcs_source>(client_, pcs_source_options{{again.base_url()}, 0}, intel_anchor(), clock_),
      cache_options{.directory = dir_}, intel_anchor(), clock_);
  expect_error(get(*fresh_cache), errc::expired, {again.base_url(), "expired at"});
  EXPECT_EQ(again.request_count(), 4u);
}

}  // namespace
}  // namespace vp::collateral
