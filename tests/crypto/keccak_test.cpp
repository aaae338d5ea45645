#include "crypto/keccak.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/hex.hpp"
#include "crypto/digest.hpp"

namespace vp::crypto {
namespace {

TEST(Keccak256, EmptyInputKnownAnswer) {
  EXPECT_EQ(to_hex(keccak256({})), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
}

TEST(Keccak256, AbcKnownAnswer) {
  EXPECT_EQ(to_hex(keccak256(as_bytes("abc"))), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
}

TEST(Keccak256, IsNotSha3) {
  // FIPS 202 SHA3-256("") = a7ffc6f8…; Ethereum's Keccak must not be it.
  EXPECT_NE(to_hex(keccak256({})), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
}

TEST(Keccak256, InputLongerThanOneRateBlock) {
  // 136 bytes is Keccak-256's rate: a multi-block input must differ from its prefix and be
  // stable across calls.
  const std::string long_input(300, 'x');
  const auto a = keccak256(as_bytes(long_input));
  EXPECT_EQ(a, keccak256(as_bytes(long_input)));
  EXPECT_NE(a, keccak256(as_bytes(std::string_view(long_input).substr(0, 136))));
}

}  // namespace
}  // namespace vp::crypto
