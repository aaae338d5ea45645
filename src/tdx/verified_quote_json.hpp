#pragma once
// JSON rendering of a verification outcome: what `verify-quote` prints and what the
// proxy will expose. Field names are a stable interface.

#include <boost/json/object.hpp>

#include "tdx/error.hpp"
#include "tdx/verifier.hpp"

namespace vp::tdx {

/// {"ok":true,"tcb_status":…,"advisory_ids":[…],"quote_version":…,"fmspc":…,"td":{…},
///  "collateral_expires_at":…, …}
boost::json::object to_json(const verified_quote& v);

/// {"ok":false,"error":"<kind>","message":"…"}
boost::json::object to_json(const error& e);

}  // namespace vp::tdx
