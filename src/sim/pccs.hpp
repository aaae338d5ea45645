#pragma once
// The simulated PCCS: the four Intel PCS v4 routes the proxy's collateral client requests
// (collateral/pcs_client.hpp, docs/tdx-dcap-verification.md §3.1), answered from a
// deployment's signed collateral:
//
//   GET /tdx/certification/v4/tcb?fmspc=HEX         tcbInfo JSON    + TCB-Info-Issuer-Chain
//   GET /tdx/certification/v4/qe/identity           QE identity     + SGX-Enclave-Identity-Issuer-Chain
//   GET /sgx/certification/v4/pckcrl?ca=platform|processor&encoding=der
//                                                   DER             + SGX-PCK-CRL-Issuer-Chain
//   GET /sgx/certification/v4/rootcacrl             hex of the DER, as a PCCS serves it
//
// Issuer chains travel URL-encoded (Boost.URL), as Intel sends them. Another FMSPC → 404,
// a malformed FMSPC or CA → 400, any other path → 404, another method → 405.

#include "sim/deployment.hpp"
#include "sim/plain_server.hpp"

namespace vp::sim {

/// The answer to one PCCS request.
plain_response pccs_answer(const pccs_content& content, const plain_request& request);

}  // namespace vp::sim
