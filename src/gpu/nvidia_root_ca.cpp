#include <cstdlib>

#include "crypto/x509.hpp"
#include "gpu/evidence.hpp"

namespace vp::gpu {
namespace {

// NVIDIA Device Identity CA (CN=NVIDIA Device Identity CA, O=NVIDIA), P-384, serial
// 2d3670b1ca100411c1fec0e82a065b54, valid 2021-11-05 to 9999-12-31T23:59:59Z;
// SHA-256(DER) 102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48. The root
// of every GPU identity chain NVIDIA provisions; the same bytes are pinned by NVIDIA's
// local verifier (verifier_device_root.pem) and its C++ SDK (DEVICE_ROOT_CERT)
// (docs/gpu-signatures-e2ee.md §1.3). Compiled in so that no file or evidence can
// substitute another root; --nvidia-root-ca replaces it for tests and the simulator.
constexpr const char* device_identity_ca_pem = R"(-----BEGIN CERTIFICATE-----
MIICCzCCAZCgAwIBAgIQLTZwscoQBBHB/sDoKgZbVDAKBggqhkjOPQQDAzA1MSIw
IAYDVQQDDBlOVklESUEgRGV2aWNlIElkZW50aXR5IENBMQ8wDQYDVQQKDAZOVklE
SUEwIBcNMjExMTA1MDAwMDAwWhgPOTk5OTEyMzEyMzU5NTlaMDUxIjAgBgNVBAMM
GU5WSURJQSBEZXZpY2UgSWRlbnRpdHkgQ0ExDzANBgNVBAoMBk5WSURJQTB2MBAG
ByqGSM49AgEGBSuBBAAiA2IABA5MFKM7+KViZljbQSlgfky/RRnEQScW9NDZF8SX
gAW96r6u/Ve8ZggtcYpPi2BS4VFu6KfEIrhN6FcHG7WP05W+oM+hxj7nyA1r1jkB
2Ry70YfThX3Ba1zOryOP+MJ9vaNjMGEwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8B
Af8EBAMCAQYwHQYDVR0OBBYEFFeF/4PyY8xlfWi3Olv0jUrL+0lfMB8GA1UdIwQY
MBaAFFeF/4PyY8xlfWi3Olv0jUrL+0lfMAoGCCqGSM49BAMDA2kAMGYCMQCPeFM3
TASsKQVaT+8S0sO9u97PVGCpE9d/I42IT7k3UUOLSR/qvJynVOD1vQKVXf0CMQC+
EY55WYoDBvs2wPAH1Gw4LbcwUN8QCff8bFmV4ZxjCRr4WXTLFHBKjbfneGSBWwA=
-----END CERTIFICATE-----
)";

}  // namespace

boost::system::result<trust_anchor, std::string> load_trust_anchor(std::string_view pem) {
  auto certs = crypto::parse_pem_certificates(pem);
  if (!certs || certs->size() != 1) return std::string("expected exactly one PEM certificate");
  trust_anchor out;
  out.root_der = crypto::certificate_der((*certs)[0].get());
  out.root = std::move((*certs)[0]);
  return out;
}

const trust_anchor& nvidia_device_identity_ca() {
  static const trust_anchor anchor = [] {
    auto loaded = load_trust_anchor(device_identity_ca_pem);
    if (!loaded) std::abort();  // the compiled-in certificate is a constant
    return std::move(*loaded);
  }();
  return anchor;
}

}  // namespace vp::gpu
