#include "sha256_state.hpp"

// The low-level SHA256_CTX interface is deprecated in OpenSSL 3 in favour of EVP, whose
// contexts cannot be exported and imported; the struct's fields are public and stable.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstring>

namespace coditect {

namespace {

constexpr std::uint8_t kMagic[4] = {'C', 'D', 'S', '1'};

void put32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint32_t get32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// SHA256_CTX keeps its partial block in SHA_LONG words that md32_common addresses as bytes.
static_assert(sizeof(SHA256_CTX::data) == 64, "SHA256_CTX block buffer");

SHA256_CTX to_ctx(const std::array<std::uint32_t, 8>& h, std::uint32_t lo, std::uint32_t hi,
                  std::uint32_t buffered, const std::array<std::uint8_t, 64>& block) {
  SHA256_CTX c;
  SHA256_Init(&c);
  for (int i = 0; i < 8; ++i) c.h[i] = h[i];
  c.Nl = lo;
  c.Nh = hi;
  c.num = buffered;
  std::memcpy(c.data, block.data(), 64);
  return c;
}

}  // namespace

Sha256State::Sha256State() {
  SHA256_CTX c;
  SHA256_Init(&c);
  for (int i = 0; i < 8; ++i) h_[i] = c.h[i];
}

std::optional<Sha256State> Sha256State::restore(const std::uint8_t* data, std::size_t size) {
  if (data == nullptr || size != kSerializedSize || std::memcmp(data, kMagic, 4) != 0)
    return std::nullopt;
  Sha256State s;
  const std::uint8_t* p = data + 4;
  for (int i = 0; i < 8; ++i, p += 4) s.h_[i] = get32(p);
  s.low_bits_ = get32(p);
  s.high_bits_ = get32(p + 4);
  s.buffered_ = get32(p + 8);
  p += 12;
  // The buffered bytes are the bit count's remainder within a block: anything else is corrupt.
  if (s.buffered_ >= 64 || (s.low_bits_ / 8) % 64 != s.buffered_ || s.low_bits_ % 8 != 0)
    return std::nullopt;
  std::memcpy(s.block_.data(), p, 64);
  return s;
}

void Sha256State::update(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  SHA256_CTX c = to_ctx(h_, low_bits_, high_bits_, buffered_, block_);
  SHA256_Update(&c, data, size);
  for (int i = 0; i < 8; ++i) h_[i] = c.h[i];
  low_bits_ = c.Nl;
  high_bits_ = c.Nh;
  buffered_ = c.num;
  std::memcpy(block_.data(), c.data, 64);
}

std::vector<std::uint8_t> Sha256State::serialize() const {
  std::vector<std::uint8_t> out(kSerializedSize, 0);
  std::uint8_t* p = out.data();
  std::memcpy(p, kMagic, 4);
  p += 4;
  for (int i = 0; i < 8; ++i, p += 4) put32(p, h_[i]);
  put32(p, low_bits_);
  put32(p + 4, high_bits_);
  put32(p + 8, buffered_);
  p += 12;
  // Bytes past the buffered ones are leftovers of earlier blocks: zero them, so that equal
  // states serialise equally.
  std::memcpy(p, block_.data(), buffered_);
  return out;
}

std::array<std::uint8_t, Sha256State::kDigestSize> Sha256State::digest() const {
  SHA256_CTX c = to_ctx(h_, low_bits_, high_bits_, buffered_, block_);
  std::array<std::uint8_t, kDigestSize> out{};
  SHA256_Final(out.data(), &c);
  return out;
}

std::uint64_t Sha256State::bytes() const {
  return ((static_cast<std::uint64_t>(high_bits_) << 32) | low_bits_) / 8;
}

}  // namespace coditect
