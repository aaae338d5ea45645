#pragma once
// Offline collateral bundles: plain files a person can inspect, laid out exactly like
// testdata/nearai/*/pcs/ (the raw Intel responses byte for byte plus the URL-decoded
// issuer chains). A tree may hold several platforms; QuoteCollateralV3 JSON files are
// accepted wherever a bundle is. Synchronous file I/O only; no network.

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "collateral/error.hpp"
#include "tdx/collateral.hpp"
#include "tdx/pck_extension.hpp"

namespace vp::collateral {

/// File names of one bundle set.
inline constexpr const char* bundle_files[] = {
    "tcb_info.json", "tcb_info_issuer_chain.pem", "qe_identity.json", "qe_identity_issuer_chain.pem",
    "pck_crl.der",   "pck_crl_issuer_chain.pem",  "root_ca_crl.der"};

/// Reads the seven files of one directory (not recursive). Errors: invalid (missing or
/// unreadable file, naming it).
result<tdx::pcs_responses> read_bundle_directory(const std::filesystem::path& dir);

/// Writes the seven files into `dir` (created if needed), each atomically (temp file +
/// rename) with mode 0600. Errors: unavailable (I/O error naming the path).
result<void> write_bundle_directory(const std::filesystem::path& dir, const tdx::pcs_responses& responses);

/// One set at an exact path: a bundle directory (the seven files) or a QuoteCollateralV3
/// JSON file. Errors: invalid.
result<tdx::collateral_v3> load_collateral(const std::filesystem::path& path);

/// The identity of a candidate set, read without authenticating it: FMSPC from the TCB
/// info, CA type from the PCK CRL issuer's common name ("Platform" / "Processor").
struct bundle_identity {
  std::array<std::uint8_t, 6> fmspc{};
  tdx::pck_ca_type ca = tdx::pck_ca_type::platform;
};
result<bundle_identity> identify(const tdx::collateral_v3& c);

/// Searches `root` recursively (a directory of bundle directories and/or
/// QuoteCollateralV3 *.json files, or one such file) for collateral of (fmspc, ca).
/// Sets that do not parse are skipped (a tree may hold other files). Several matches:
/// the one with the highest tcbEvaluationDataNumber, then the latest TCB info issueDate.
/// Errors: not_found (naming what was searched and the platforms seen).
result<tdx::collateral_v3> find_in_bundle_tree(const std::filesystem::path& root,
                                                const std::array<std::uint8_t, 6>& fmspc, tdx::pck_ca_type ca);

/// Writes `c` as one QuoteCollateralV3 JSON file, atomically, mode 0600 (the disk cache).
result<void> write_collateral_file(const std::filesystem::path& file, const tdx::collateral_v3& c);
/// Reads such a file. Errors: invalid (unreadable, truncated, not QuoteCollateralV3).
result<tdx::collateral_v3> read_collateral_file(const std::filesystem::path& file);

}  // namespace vp::collateral
