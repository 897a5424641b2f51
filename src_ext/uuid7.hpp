// UUID version 7 (RFC 9562 section 5.7): 48-bit Unix milliseconds, version, 12-bit counter,
// variant, 62 random bits. PG-free so it can be unit-tested on its own.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace coditect {

using UuidBytes = std::array<std::uint8_t, 16>;

class Uuid7Generator {
 public:
  static constexpr std::size_t kRandomBytes = 10;

  // Returns a UUIDv7 for `unix_ms`, using `random` for the counter seed and rand_b.
  // Values from one generator are strictly increasing (RFC 9562 method 1: a 12-bit counter
  // in rand_a, reseeded each new millisecond); when the clock stalls or steps back, or the
  // counter runs out, the timestamp is advanced past the last one instead.
  UuidBytes next(std::uint64_t unix_ms, const std::uint8_t (&random)[kRandomBytes]);

 private:
  std::uint64_t last_ms_ = 0;
  std::uint16_t counter_ = 0;
  bool started_ = false;
};

// Canonical 8-4-4-4-12 lower-case hex form.
std::string uuid_to_string(const UuidBytes& u);
// Version nibble and the 48-bit timestamp of a UUIDv7.
int uuid_version(const UuidBytes& u);
std::uint64_t uuid7_unix_ms(const UuidBytes& u);

}  // namespace coditect
