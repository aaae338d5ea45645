#pragma once
// GET /_proxy/: the status page. Its source is src/observe/status_page.html, embedded at
// build time (src/CMakeLists.txt): one self-contained document (inline CSS and JS, no
// external asset, works offline) that polls /_proxy/status and re-renders in place.

#include <string>
#include <string_view>

namespace vp::observe {

/// The page, byte for byte as in status_page.html.
std::string_view status_page_html() noexcept;

/// The Content-Security-Policy the page is served with: nothing may load or run but the
/// page's own inline <script> and <style> (allowed by their SHA-256) and fetches to the
/// proxy itself; no framing (clickjacking), no forms, no base URL changes.
const std::string& status_page_csp();

}  // namespace vp::observe
