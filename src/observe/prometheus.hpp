#pragma once
// GET /_proxy/metrics: the status board in Prometheus's text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): one HELP and one TYPE
// line per family, label values escaped (backslash, double quote, line feed), histograms
// as cumulative _bucket{le=…} series with _sum and _count. Label sets are bounded: routes
// are a fixed set, codes the proxy's own stable spellings (status_board::bounded_code).

#include <string>
#include <string_view>

#include "observe/status_board.hpp"

namespace vp::observe {

/// The Content-Type of the exposition.
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

std::string render_prometheus(const status_snapshot& s);

/// `value` escaped for a label value between double quotes: `\` → `\\`, `"` → `\"`,
/// line feed → `\n`.
std::string escape_label_value(std::string_view value);

}  // namespace vp::observe
