#include "uuid7.hpp"

namespace coditect {

namespace {
constexpr std::uint64_t kMaxUnixMs = (std::uint64_t{1} << 48) - 1;
constexpr std::uint16_t kCounterMax = 0x0FFF;
}  // namespace

UuidBytes Uuid7Generator::next(std::uint64_t unix_ms, const std::uint8_t (&random)[kRandomBytes]) {
  unix_ms &= kMaxUnixMs;
  if (!started_ || unix_ms > last_ms_) {
    last_ms_ = unix_ms;
    // Seed with the top bit clear so at least 2048 values fit in one millisecond.
    counter_ = static_cast<std::uint16_t>(((random[0] << 8) | random[1]) & 0x07FF);
    started_ = true;
  } else if (counter_ < kCounterMax) {
    ++counter_;
  } else {
    last_ms_ = (last_ms_ + 1) & kMaxUnixMs;
    counter_ = static_cast<std::uint16_t>(((random[0] << 8) | random[1]) & 0x07FF);
  }

  UuidBytes u{};
  for (int i = 0; i < 6; ++i) u[i] = static_cast<std::uint8_t>(last_ms_ >> (8 * (5 - i)));
  u[6] = static_cast<std::uint8_t>(0x70 | ((counter_ >> 8) & 0x0F));
  u[7] = static_cast<std::uint8_t>(counter_ & 0xFF);
  u[8] = static_cast<std::uint8_t>(0x80 | (random[2] & 0x3F));
  for (int i = 9; i < 16; ++i) u[i] = random[i - 6];
  return u;
}

std::string uuid_to_string(const UuidBytes& u) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[u[i] >> 4]);
    s.push_back(kHex[u[i] & 0x0F]);
  }
  return s;
}

int uuid_version(const UuidBytes& u) { return u[6] >> 4; }

std::uint64_t uuid7_unix_ms(const UuidBytes& u) {
  std::uint64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | u[i];
  return ms;
}

}  // namespace coditect
