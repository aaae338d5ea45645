#include "tdx/pck_extension.hpp"

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <climits>
#include <memory>
#include <optional>
#include <string>

#include "crypto/ossl.hpp"

namespace vp::tdx {
namespace {

// Intel SGX extension OIDs (Intel SGX PCK Certificate and CRL Profile).
constexpr std::string_view sgx_extension_oid = "1.2.840.113741.1.13.1";

struct asn1_sequence_deleter {
  void operator()(ASN1_SEQUENCE_ANY* s) const noexcept { sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free); }
};
using asn1_sequence_ptr = std::unique_ptr<ASN1_SEQUENCE_ANY, asn1_sequence_deleter>;

error malformed(std::string what) {
  return make_error(errc::malformed_quote, "PCK certificate SGX extension: " + std::move(what));
}

asn1_sequence_ptr decode_sequence(const unsigned char* der, std::size_t len) {
  if (len > static_cast<std::size_t>(LONG_MAX)) return nullptr;
  const unsigned char* p = der;
  asn1_sequence_ptr seq{d2i_ASN1_SEQUENCE_ANY(nullptr, &p, static_cast<long>(len))};
  if (!seq || p != der + len) return nullptr;  // trailing bytes are not part of the structure
  return seq;
}

asn1_sequence_ptr decode_sequence(const ASN1_TYPE* t) {
  if (t == nullptr || t->type != V_ASN1_SEQUENCE || t->value.sequence == nullptr) return nullptr;
  return decode_sequence(t->value.sequence->data, static_cast<std::size_t>(t->value.sequence->length));
}

std::string oid_text(const ASN1_TYPE* t) {
  if (t == nullptr || t->type != V_ASN1_OBJECT) return {};
  char buf[80];
  const int len = OBJ_obj2txt(buf, sizeof buf, t->value.object, 1);
  if (len <= 0 || static_cast<std::size_t>(len) >= sizeof buf) return {};
  return std::string(buf, static_cast<std::size_t>(len));
}

/// One `SEQUENCE { OID, value }` entry; the suffix is the last OID arc below `parent`.
struct entry {
  int suffix = 0;
  const ASN1_TYPE* value = nullptr;
};

std::optional<entry> decode_entry(const ASN1_TYPE* t, std::string_view parent, asn1_sequence_ptr& holder) {
  holder = decode_sequence(t);
  if (!holder || sk_ASN1_TYPE_num(holder.get()) != 2) return std::nullopt;
  const std::string oid = oid_text(sk_ASN1_TYPE_value(holder.get(), 0));
  if (oid.size() <= parent.size() + 1 || !oid.starts_with(parent) || oid[parent.size()] != '.') return std::nullopt;
  const std::string_view rest = std::string_view(oid).substr(parent.size() + 1);
  if (rest.empty() || rest.size() > 3 || rest.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return entry{std::stoi(std::string(rest)), sk_ASN1_TYPE_value(holder.get(), 1)};
}

template <std::size_t N>
bool octets(const ASN1_TYPE* t, std::array<std::uint8_t, N>& out) {
  if (t == nullptr || t->type != V_ASN1_OCTET_STRING || t->value.octet_string == nullptr) return false;
  if (static_cast<std::size_t>(ASN1_STRING_length(t->value.octet_string)) != N) return false;
  const unsigned char* d = ASN1_STRING_get0_data(t->value.octet_string);
  std::copy(d, d + N, out.begin());
  return true;
}

bool integer_in_range(const ASN1_TYPE* t, std::int64_t max, std::int64_t& out) {
  if (t == nullptr || t->type != V_ASN1_INTEGER) return false;
  return ASN1_INTEGER_get_int64(&out, t->value.integer) == 1 && out >= 0 && out <= max;
}

// §2.8: .2 TCB = 16 component SVNs (.2.1-.2.16), PCESVN (.2.17), CPUSVN (.2.18).
result<void> decode_tcb(const ASN1_TYPE* t, pck_extension& ext) {
  asn1_sequence_ptr tcb = decode_sequence(t);
  if (!tcb) return malformed("TCB entry is not a SEQUENCE");
  if (sk_ASN1_TYPE_num(tcb.get()) != 18) {
    return malformed("TCB has " + std::to_string(sk_ASN1_TYPE_num(tcb.get())) + " entries, expected 18");
  }
  const std::string parent = std::string(sgx_extension_oid) + ".2";
  unsigned seen = 0;  // bit i set once arc i+1 has been read: each arc exactly once
  for (int i = 0; i < 18; ++i) {
    asn1_sequence_ptr holder;
    const auto e = decode_entry(sk_ASN1_TYPE_value(tcb.get(), i), parent, holder);
    if (!e || e->suffix < 1 || e->suffix > 18) return malformed("unexpected TCB entry");
    const unsigned bit = 1u << (e->suffix - 1);
    if ((seen & bit) != 0) return malformed("duplicate TCB entry ." + std::to_string(e->suffix));
    seen |= bit;
    std::int64_t v = 0;
    if (e->suffix <= 16) {
      if (!integer_in_range(e->value, 255, v)) return malformed("TCB component " + std::to_string(e->suffix) + " is not an SVN in 0..255");
      ext.sgx_tcb_components[static_cast<std::size_t>(e->suffix - 1)] = static_cast<std::uint8_t>(v);
    } else if (e->suffix == 17) {
      if (!integer_in_range(e->value, 65535, v)) return malformed("PCESVN is not in 0..65535");
      ext.pce_svn = static_cast<std::uint16_t>(v);
    } else if (!octets(e->value, ext.cpu_svn)) {
      return malformed("CPUSVN is not a 16-byte OCTET STRING");
    }
  }
  return {};
}

}  // namespace

std::string_view to_string(pck_ca_type t) noexcept {
  return t == pck_ca_type::platform ? "platform" : "processor";
}

result<pck_extension> parse_pck_extension(const X509* pck_leaf) {
  crypto::asn1_object_ptr oid{OBJ_txt2obj(std::string(sgx_extension_oid).c_str(), 1)};
  if (!oid) return malformed("cannot build the extension OID");
  const int idx = X509_get_ext_by_OBJ(pck_leaf, oid.get(), -1);
  if (idx < 0) return malformed("missing from the PCK certificate");
  if (X509_get_ext_by_OBJ(pck_leaf, oid.get(), idx) >= 0) return malformed("present more than once");
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(X509_get_ext(pck_leaf, idx));
  if (value == nullptr) return malformed("empty");
  asn1_sequence_ptr top =
      decode_sequence(ASN1_STRING_get0_data(value), static_cast<std::size_t>(ASN1_STRING_length(value)));
  if (!top) return malformed("not a DER SEQUENCE");

  // Intel (AttestationParsers.h): 5 entries on Processor-CA certificates, 7 on Platform-CA ones.
  const int count = sk_ASN1_TYPE_num(top.get());
  if (count != 5 && count != 7) {
    return malformed("has " + std::to_string(count) + " entries, expected 5 (Processor CA) or 7 (Platform CA)");
  }
  pck_extension ext;
  ext.ca = count == 7 ? pck_ca_type::platform : pck_ca_type::processor;
  unsigned seen = 0;
  for (int i = 0; i < count; ++i) {
    asn1_sequence_ptr holder;
    const auto e = decode_entry(sk_ASN1_TYPE_value(top.get(), i), sgx_extension_oid, holder);
    if (!e || e->suffix < 1 || e->suffix > count) return malformed("unexpected entry " + std::to_string(i));
    const unsigned bit = 1u << (e->suffix - 1);
    if ((seen & bit) != 0) return malformed("duplicate entry ." + std::to_string(e->suffix));
    seen |= bit;
    std::array<std::uint8_t, 16> instance_id{};
    switch (e->suffix) {
      case 1:
        if (!octets(e->value, ext.ppid)) return malformed("PPID is not a 16-byte OCTET STRING");
        break;
      case 2:
        if (auto r = decode_tcb(e->value, ext); !r) return r.error();
        break;
      case 3:
        if (!octets(e->value, ext.pce_id)) return malformed("PCE-ID is not a 2-byte OCTET STRING");
        break;
      case 4:
        if (!octets(e->value, ext.fmspc)) return malformed("FMSPC is not a 6-byte OCTET STRING");
        break;
      case 5: {
        std::int64_t type = 0;
        if (e->value == nullptr || e->value->type != V_ASN1_ENUMERATED ||
            ASN1_ENUMERATED_get_int64(&type, e->value->value.enumerated) != 1 || type < 0 || type > 2) {
          return malformed("SGX type is not ENUMERATED 0..2");
        }
        ext.sgx_type = static_cast<int>(type);
        break;
      }
      case 6:
        if (!octets(e->value, instance_id)) return malformed("PlatformInstanceID is not a 16-byte OCTET STRING");
        break;
      case 7:
        if (!decode_sequence(e->value)) return malformed("Configuration is not a SEQUENCE");
        break;
      default:
        break;
    }
  }
  return ext;
}

}  // namespace vp::tdx
