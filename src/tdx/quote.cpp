#include "tdx/quote.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/byte_reader.hpp"
#include "core/hex.hpp"

namespace vp::tdx {
namespace {

error malformed(std::string what) { return make_error(errc::malformed_quote, std::move(what)); }
error unsupported(std::string what) { return make_error(errc::unsupported_quote, std::move(what)); }

// §1.1: the 48-byte header.
bool read_header(byte_reader& r, quote_header& h) {
  return r.u16(h.version) && r.u16(h.attestation_key_type) && r.u32(h.tee_type) && r.u16(h.qe_svn) &&
         r.u16(h.pce_svn) && r.take(h.qe_vendor_id) && r.take(h.user_data);
}

// §1.3: TD report body; offsets are relative to the body start.
bool read_td_report(byte_reader& r, bool td15, td_report& td) {
  bool ok = r.take(td.tee_tcb_svn) && r.take(td.mr_seam) && r.take(td.mr_signer_seam) &&
            r.take(td.seam_attributes) && r.take(td.td_attributes) && r.take(td.xfam) && r.take(td.mr_td) &&
            r.take(td.mr_config_id) && r.take(td.mr_owner) && r.take(td.mr_owner_config);
  for (auto& reg : td.rtmr) ok = ok && r.take(reg);
  ok = ok && r.take(td.report_data);
  if (ok && td15) {
    std::array<std::uint8_t, 16> svn2{};
    measurement service_td{};
    ok = r.take(svn2) && r.take(service_td);
    td.tee_tcb_svn_2 = svn2;
    td.mr_service_td = service_td;
  }
  return ok;
}

// §1.4: SGX enclave report body (the QE report), 384 bytes.
enclave_report decode_enclave_report(byte_view raw) {
  byte_reader r(raw);
  enclave_report rep;
  byte_view skip;
  // The reads cannot fail: `raw` is exactly enclave_report_size bytes.
  r.take(rep.cpu_svn);
  r.u32(rep.misc_select);
  r.take(28, skip);
  r.take(rep.attributes);
  r.take(rep.mr_enclave);
  r.take(32, skip);
  r.take(rep.mr_signer);
  r.take(96, skip);
  r.u16(rep.isv_prod_id);
  r.u16(rep.isv_svn);
  r.take(60, skip);
  r.take(rep.report_data);
  return rep;
}

}  // namespace

result<quote> parse_quote(byte_view data) {
  quote q;
  byte_reader r(data);
  if (!read_header(r, q.header)) {
    return malformed("quote is " + std::to_string(data.size()) + " bytes, shorter than its 48-byte header");
  }
  const quote_header& h = q.header;
  // Header checks before anything else is read: a non-TDX quote must not be
  // interpreted with TDX offsets.
  // TEE type first: an SGX quote (v3, TEE type 0) is named as such rather than as an
  // unknown version.
  if (h.tee_type != tee_type_tdx) {
    char tee[16];
    std::snprintf(tee, sizeof tee, "0x%08x", h.tee_type);
    return unsupported(std::string("TEE type ") + tee + (h.tee_type == 0 ? " (SGX)" : "") +
                       " is not TDX (0x00000081); only TDX quotes are verified");
  }
  if (h.version != 4 && h.version != 5) {
    return unsupported("quote version " + std::to_string(h.version) + " (only TDX quote v4 and v5 are supported)");
  }
  if (h.attestation_key_type != attestation_key_type_ecdsa_p256) {
    return unsupported("attestation key type " + std::to_string(h.attestation_key_type) +
                       " (only 2 = ECDSA-256-with-P-256 is defined for TDX)");
  }
  if (h.qe_vendor_id != intel_qe_vendor_id) {
    return unsupported("QE vendor id " + to_hex_upper(h.qe_vendor_id) + " is not Intel's");
  }

  bool td15 = false;
  if (h.version == 5) {
    // §1.2: v5 body descriptor. Intel rejects a size that does not match the type;
    // dcap-qvl reads but never checks it.
    std::uint32_t body_size = 0;
    if (!r.u16(q.body_type) || !r.u32(body_size)) return malformed("truncated v5 body descriptor");
    if (q.body_type != body_type_td10 && q.body_type != body_type_td15) {
      return unsupported("v5 body type " + std::to_string(q.body_type) + " is not a TD report (2 or 3)");
    }
    td15 = q.body_type == body_type_td15;
    const std::size_t expected = td15 ? td_report15_size : td_report10_size;
    if (body_size != expected) {
      return malformed("v5 body type " + std::to_string(q.body_type) + " declares " + std::to_string(body_size) +
                       " bytes, expected " + std::to_string(expected));
    }
  }
  if (!read_td_report(r, td15, q.td)) return malformed("truncated TD report body");
  q.signed_region = data.first(r.offset());

  std::uint32_t sig_data_len = 0;
  if (!r.u32(sig_data_len)) return malformed("truncated before the signature data length");
  byte_view sig_data;
  if (!r.take(sig_data_len, sig_data)) {
    return malformed("signature data declares " + std::to_string(sig_data_len) + " bytes, only " +
                     std::to_string(r.remaining()) + " remain");
  }
  // §1.4: bytes past the declared signature data are covered by no signature; Intel
  // and dcap-qvl ignore them (real quotes carry zero padding), and so do we.
  q.trailing_bytes = r.remaining();

  byte_reader s(sig_data);
  std::uint16_t cert_type = 0;
  std::uint32_t cert_size = 0;
  if (!s.take(64, q.signature) || !s.take(64, q.attestation_key) || !s.u16(cert_type) || !s.u32(cert_size)) {
    return malformed("truncated signature data header");
  }
  if (cert_type != certification_data_qe_report) {
    return unsupported("outer certification data type " + std::to_string(cert_type) +
                       " (only 6 = QE report certification data is valid for v4/v5)");
  }
  byte_view qe_cert_data;
  if (!s.take(cert_size, qe_cert_data) || s.remaining() != 0) {
    return malformed("QE report certification data declares " + std::to_string(cert_size) +
                     " bytes but the signature data holds " + std::to_string(sig_data.size() - 134));
  }

  byte_reader c(qe_cert_data);
  std::uint16_t auth_size = 0;
  if (!c.take(enclave_report_size, q.qe_report_bytes) || !c.take(64, q.qe_report_signature) || !c.u16(auth_size) ||
      !c.take(auth_size, q.qe_auth_data)) {
    return malformed("truncated QE report certification data");
  }
  std::uint16_t inner_type = 0;
  std::uint32_t inner_size = 0;
  byte_view chain;
  if (!c.u16(inner_type) || !c.u32(inner_size)) return malformed("truncated PCK certification data header");
  if (inner_type != certification_data_pck_chain) {
    // Types 1-4 need a PCK certificate fetched from PCS by encrypted PPID; this verifier
    // only accepts quotes that carry their PCK chain.
    return unsupported("PCK certification data type " + std::to_string(inner_type) +
                       " (only 5 = PCK certificate chain is supported)");
  }
  // Intel: the declared size must equal the bytes that follow, exactly.
  if (!c.take(inner_size, chain) || c.remaining() != 0) {
    return malformed("PCK certificate chain declares " + std::to_string(inner_size) + " bytes, " +
                     std::to_string(qe_cert_data.size() - 456 - auth_size) + " present");
  }
  q.pck_chain_pem = as_chars(chain);
  q.qe_report = decode_enclave_report(q.qe_report_bytes);
  return q;
}

}  // namespace vp::tdx
