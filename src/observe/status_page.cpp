#include "observe/status_page.hpp"

#include "core/base64.hpp"
#include "core/bytes.hpp"
#include "crypto/digest.hpp"

namespace vp::observe {

namespace {

/// "'sha256-…'" of the text between `open` and the next `close` in the page (CSP Level 2
/// hash source); "'none'" when the page has no such element.
std::string hash_source(std::string_view page, std::string_view open, std::string_view close) {
  const auto start = page.find(open);
  if (start == std::string_view::npos) return "'none'";
  const auto body = start + open.size();
  const auto end = page.find(close, body);
  if (end == std::string_view::npos) return "'none'";
  const auto digest = crypto::sha256(as_bytes(page.substr(body, end - body)));
  return "'sha256-" + base64_encode(digest) + "'";
}

}  // namespace

const std::string& status_page_csp() {
  static const std::string csp = [] {
    const auto page = status_page_html();
    return "default-src 'none'; script-src " + hash_source(page, "<script>", "</script>") + "; style-src " +
           hash_source(page, "<style>", "</style>") +
           "; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  }();
  return csp;
}

}  // namespace vp::observe
