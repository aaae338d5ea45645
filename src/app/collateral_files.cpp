#include "app/collateral_files.hpp"

#include "core/file.hpp"

namespace vp::app {
namespace {

tdx::result<std::string> read(const std::filesystem::path& path) {
  auto data = read_file(path);
  if (!data) return tdx::make_error(tdx::errc::malformed_collateral, "cannot read " + path.string());
  return std::move(*data);
}

bytes to_bytes(const std::string& s) { return bytes(s.begin(), s.end()); }

}  // namespace

tdx::result<tdx::collateral_v3> load_collateral(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    auto text = read(path);
    if (!text) return text.error();
    return tdx::parse_collateral_v3_json(*text);
  }
  tdx::pcs_responses r;
  struct text_file {
    const char* name;
    std::string* out;
  };
  const text_file texts[] = {{"tcb_info.json", &r.tcb_info},
                             {"tcb_info_issuer_chain.pem", &r.tcb_info_issuer_chain},
                             {"qe_identity.json", &r.qe_identity},
                             {"qe_identity_issuer_chain.pem", &r.qe_identity_issuer_chain},
                             {"pck_crl_issuer_chain.pem", &r.pck_crl_issuer_chain}};
  for (const auto& f : texts) {
    auto text = read(path / f.name);
    if (!text) return text.error();
    *f.out = std::move(*text);
  }
  auto pck_crl = read(path / "pck_crl.der");
  if (!pck_crl) return pck_crl.error();
  auto root_crl = read(path / "root_ca_crl.der");
  if (!root_crl) return root_crl.error();
  r.pck_crl = to_bytes(*pck_crl);
  r.root_ca_crl = to_bytes(*root_crl);
  return tdx::collateral_from_pcs_responses(r);
}

}  // namespace vp::app
