// The resumable SHA-256 of uploads (src_ext/sha256_state): resumed anywhere, it gives what a
// one-shot hash of the same bytes gives; a damaged state is refused rather than trusted.
#include "sha256_state.hpp"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <random>
#include <string>

namespace {

using coditect::Sha256State;

std::string hex(const std::uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(d[p[i] >> 4]);
    s.push_back(d[p[i] & 15]);
  }
  return s;
}

std::string hex(const std::array<std::uint8_t, 32>& a) { return hex(a.data(), a.size()); }

std::string one_shot(const std::vector<std::uint8_t>& data) {
  std::uint8_t out[32];
  SHA256(data.data(), data.size(), out);
  return hex(out, 32);
}

std::vector<std::uint8_t> random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

TEST(Sha256State, KnownVectors) {
  Sha256State empty;
  EXPECT_EQ(hex(empty.digest()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256State abc;
  const std::string s = "abc";
  abc.update(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  EXPECT_EQ(hex(abc.digest()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(abc.bytes(), 3u);
}

// Split at random points, serialised and restored between every piece.
TEST(Sha256State, ResumedAcrossPiecesEqualsOneShot) {
  for (unsigned seed = 1; seed <= 40; ++seed) {
    auto data = random_bytes(1 + seed * 977, seed);
    std::mt19937 rng(seed * 31);
    std::vector<std::uint8_t> state = Sha256State().serialize();
    size_t at = 0;
    while (at < data.size()) {
      size_t piece = std::min<size_t>(data.size() - at, 1 + rng() % 300);
      auto s = Sha256State::restore(state.data(), state.size());
      ASSERT_TRUE(s.has_value());
      s->update(data.data() + at, piece);
      state = s->serialize();
      at += piece;
    }
    auto s = Sha256State::restore(state.data(), state.size());
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(hex(s->digest()), one_shot(data)) << "seed " << seed;
    EXPECT_EQ(s->bytes(), data.size());
  }
}

// Pieces that end exactly on, just before and just after a 64-byte block boundary.
TEST(Sha256State, BlockBoundaries) {
  for (size_t first : {0, 1, 55, 56, 63, 64, 65, 127, 128}) {
    auto data = random_bytes(300, static_cast<unsigned>(first) + 7);
    Sha256State a;
    a.update(data.data(), first);
    auto ser = a.serialize();
    auto b = Sha256State::restore(ser.data(), ser.size());
    ASSERT_TRUE(b.has_value());
    b->update(data.data() + first, data.size() - first);
    EXPECT_EQ(hex(b->digest()), one_shot(data)) << "first piece " << first;
  }
}

TEST(Sha256State, DigestLeavesTheStateAsItWas) {
  auto data = random_bytes(1000, 3);
  Sha256State s;
  s.update(data.data(), 500);
  auto before = s.serialize();
  (void)s.digest();
  EXPECT_EQ(s.serialize(), before);
  s.update(data.data() + 500, 500);
  EXPECT_EQ(hex(s.digest()), one_shot(data));
}

TEST(Sha256State, EqualStatesSerialiseEqually) {
  auto data = random_bytes(200, 9);
  Sha256State a, b;
  a.update(data.data(), 200);
  b.update(data.data(), 100);
  b.update(data.data() + 100, 100);
  EXPECT_EQ(a.serialize(), b.serialize());
}

TEST(Sha256State, RefusesDamagedStates) {
  auto data = random_bytes(100, 5);
  Sha256State s;
  s.update(data.data(), 100);
  auto good = s.serialize();
  ASSERT_EQ(good.size(), Sha256State::kSerializedSize);
  EXPECT_TRUE(Sha256State::restore(good.data(), good.size()).has_value());
  EXPECT_FALSE(Sha256State::restore(good.data(), good.size() - 1).has_value());
  EXPECT_FALSE(Sha256State::restore(nullptr, 0).has_value());
  auto bad_magic = good;
  bad_magic[0] = 'X';
  EXPECT_FALSE(Sha256State::restore(bad_magic.data(), bad_magic.size()).has_value());
  // The buffered count (offset 4 + 32 + 8) must agree with the bit count.
  auto bad_count = good;
  bad_count[44] = 64;
  EXPECT_FALSE(Sha256State::restore(bad_count.data(), bad_count.size()).has_value());
  auto disagree = good;
  disagree[44] = static_cast<std::uint8_t>((disagree[44] + 1) % 64);
  EXPECT_FALSE(Sha256State::restore(disagree.data(), disagree.size()).has_value());
}

}  // namespace
