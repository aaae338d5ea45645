#pragma once
// GET /_proxy/status: the status board as one JSON document with stable field names
// (README "Status page and metrics" documents every one). Times are RFC 3339 UTC strings,
// durations numbers of seconds or milliseconds as their names say, absent values null.
// Every string is valid UTF-8 (text a backend chose is quoted in factor details and
// failure messages).

#include <boost/json/value.hpp>

#include <string>

#include "observe/status_board.hpp"

namespace vp::observe {

/// The document's schema version: bumped when a field changes meaning or goes away
/// (fields are only ever added otherwise).
inline constexpr int status_schema_version = 1;

boost::json::value status_json(const status_snapshot& s);
std::string render_status_json(const status_snapshot& s);

}  // namespace vp::observe
