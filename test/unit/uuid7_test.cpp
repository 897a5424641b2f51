// Unit tests for the PG-free UUIDv7 generator (src_ext/uuid7.hpp).
#include "uuid7.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace coditect {
namespace {

using RandomBytes = std::uint8_t[Uuid7Generator::kRandomBytes];

// Deterministic source of "random" bytes so failures are reproducible.
class Rng {
 public:
  explicit Rng(std::uint32_t seed) : engine_(seed) {}
  void fill(RandomBytes& out) {
    for (auto& b : out) b = static_cast<std::uint8_t>(engine_() & 0xFF);
  }

 private:
  std::mt19937 engine_;
};

// The 12-bit rand_a field (the counter) of a UUIDv7.
unsigned rand_a(const UuidBytes& u) { return ((u[6] & 0x0Fu) << 8) | u[7]; }

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

TEST(Uuid7Test, VersionNibbleIsSeven) {
  Uuid7Generator gen;
  Rng rng(1);
  RandomBytes r;
  for (int i = 0; i < 1000; ++i) {
    rng.fill(r);
    UuidBytes u = gen.next(1700000000000ULL + i / 10, r);
    EXPECT_EQ(uuid_version(u), 7) << "i=" << i;
    EXPECT_EQ(u[6] >> 4, 7) << "i=" << i;
  }
}

TEST(Uuid7Test, VariantBitsAreOneZero) {
  // All-ones and all-zeros random input must not disturb the variant bits.
  for (std::uint8_t fill : {std::uint8_t{0x00}, std::uint8_t{0xFF}, std::uint8_t{0x40}}) {
    Uuid7Generator gen;
    RandomBytes r;
    for (auto& b : r) b = fill;
    UuidBytes u = gen.next(42, r);
    EXPECT_EQ(u[8] & 0xC0, 0x80) << "fill=" << int(fill);
    EXPECT_EQ(uuid_version(u), 7) << "fill=" << int(fill);
  }
  Uuid7Generator gen;
  Rng rng(2);
  RandomBytes r;
  for (int i = 0; i < 1000; ++i) {
    rng.fill(r);
    UuidBytes u = gen.next(1700000000000ULL, r);
    EXPECT_EQ(u[8] & 0xC0, 0x80) << "i=" << i;
  }
}

TEST(Uuid7Test, UuidToStringKnownBytes) {
  UuidBytes u{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,
              0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};
  EXPECT_EQ(uuid_to_string(u), "01234567-89ab-cdef-0123-456789abcdef");
  UuidBytes zero{};
  EXPECT_EQ(uuid_to_string(zero), "00000000-0000-0000-0000-000000000000");
  UuidBytes ones;
  ones.fill(0xFF);
  EXPECT_EQ(uuid_to_string(ones), "ffffffff-ffff-ffff-ffff-ffffffffffff");
}

TEST(Uuid7Test, CanonicalStringFormat) {
  Uuid7Generator gen;
  Rng rng(3);
  RandomBytes r;
  for (int i = 0; i < 200; ++i) {
    rng.fill(r);
    UuidBytes u = gen.next(1700000000000ULL + i, r);
    std::string s = uuid_to_string(u);
    ASSERT_EQ(s.size(), 36u) << s;
    for (std::size_t k = 0; k < s.size(); ++k) {
      if (k == 8 || k == 13 || k == 18 || k == 23) {
        EXPECT_EQ(s[k], '-') << s;
      } else {
        EXPECT_TRUE(is_lower_hex(s[k])) << s << " at " << k;
      }
    }
    // Version digit is the first of the third group; variant digit is 8, 9, a or b.
    EXPECT_EQ(s[14], '7') << s;
    EXPECT_TRUE(s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b') << s;
    // The string encodes exactly the bytes.
    std::string hex;
    for (char c : s)
      if (c != '-') hex.push_back(c);
    for (int b = 0; b < 16; ++b) {
      EXPECT_EQ(std::stoul(hex.substr(2 * b, 2), nullptr, 16), u[b]) << s << " byte " << b;
    }
  }
}

TEST(Uuid7Test, TimestampRoundTrips) {
  const std::uint64_t cases[] = {0ULL,
                                 1ULL,
                                 255ULL,
                                 256ULL,
                                 1700000000000ULL,
                                 0x0123456789ABULL,
                                 (std::uint64_t{1} << 48) - 1};
  RandomBytes r;
  Rng rng(4);
  for (std::uint64_t ms : cases) {
    Uuid7Generator gen;
    rng.fill(r);
    UuidBytes u = gen.next(ms, r);
    EXPECT_EQ(uuid7_unix_ms(u), ms);
    // Big-endian in the first 48 bits.
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(u[i], static_cast<std::uint8_t>(ms >> (8 * (5 - i)))) << "ms=" << ms;
    }
  }
  UuidBytes known{0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00, 0x70, 0x00,
                  0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(uuid7_unix_ms(known), 1700000000000ULL);
}

TEST(Uuid7Test, StrictlyIncreasingWithinOneMillisecond) {
  Uuid7Generator gen;
  Rng rng(5);
  RandomBytes r;
  const std::uint64_t ms = 1700000000123ULL;
  rng.fill(r);
  UuidBytes prev = gen.next(ms, r);
  // The counter is seeded below 0x800, so at least 2048 ids fit in the same millisecond.
  for (int i = 1; i < 2048; ++i) {
    rng.fill(r);
    UuidBytes u = gen.next(ms, r);
    ASSERT_LT(prev, u) << "i=" << i << " prev=" << uuid_to_string(prev)
                       << " cur=" << uuid_to_string(u);
    EXPECT_EQ(uuid7_unix_ms(u), ms) << "i=" << i;
    EXPECT_EQ(rand_a(u), rand_a(prev) + 1) << "i=" << i;
    // String order agrees with byte order.
    EXPECT_LT(uuid_to_string(prev), uuid_to_string(u));
    prev = u;
  }
}

TEST(Uuid7Test, CounterSeedLeavesRoomInTheMillisecond) {
  RandomBytes r{};
  r[0] = 0xFF;
  r[1] = 0xFF;
  Uuid7Generator gen;
  UuidBytes u = gen.next(1000, r);
  EXPECT_EQ(rand_a(u), 0x07FFu);
  r[0] = 0x0A;
  r[1] = 0xBC;
  u = gen.next(1001, r);  // new millisecond: reseeded
  EXPECT_EQ(rand_a(u), 0x02BCu);
}

TEST(Uuid7Test, StrictlyIncreasingAcrossIncreasingMilliseconds) {
  Uuid7Generator gen;
  Rng rng(6);
  RandomBytes r;
  std::uint64_t ms = 1700000000000ULL;
  rng.fill(r);
  UuidBytes prev = gen.next(ms, r);
  for (int i = 1; i < 1000; ++i) {
    ms += 1 + (i % 3);
    rng.fill(r);
    UuidBytes u = gen.next(ms, r);
    ASSERT_LT(prev, u) << "i=" << i;
    EXPECT_EQ(uuid7_unix_ms(u), ms) << "i=" << i;
    // A new millisecond reseeds the counter from the first two random bytes.
    EXPECT_EQ(rand_a(u), ((unsigned(r[0]) << 8) | r[1]) & 0x07FFu) << "i=" << i;
    prev = u;
  }
}

TEST(Uuid7Test, StrictlyIncreasingWhenClockGoesBackwards) {
  Uuid7Generator gen;
  Rng rng(7);
  RandomBytes r;
  const std::uint64_t start = 1700000005000ULL;
  rng.fill(r);
  UuidBytes prev = gen.next(start, r);
  const std::uint64_t backwards[] = {start - 1, start - 1000, start - 1, 0, start - 2, start};
  for (std::uint64_t ms : backwards) {
    rng.fill(r);
    UuidBytes u = gen.next(ms, r);
    ASSERT_LT(prev, u) << "ms=" << ms;
    EXPECT_EQ(uuid7_unix_ms(u), start) << "ms=" << ms;
    EXPECT_EQ(uuid_version(u), 7);
    EXPECT_EQ(u[8] & 0xC0, 0x80);
    prev = u;
  }
  // Once the clock catches up and passes, the real timestamp is used again.
  rng.fill(r);
  UuidBytes u = gen.next(start + 1, r);
  ASSERT_LT(prev, u);
  EXPECT_EQ(uuid7_unix_ms(u), start + 1);
}

TEST(Uuid7Test, CounterOverflowAdvancesTimestamp) {
  // Seed 0 (random[0..1] == 0): exactly 4096 ids fit in the millisecond, the 4097th must move
  // the embedded timestamp forward.
  Uuid7Generator gen;
  RandomBytes r{};
  Rng rng(8);
  const std::uint64_t ms = 1700000000000ULL;
  UuidBytes prev{};
  for (int i = 0; i < 4096; ++i) {
    rng.fill(r);
    r[0] = 0;
    r[1] = 0;
    UuidBytes u = gen.next(ms, r);
    if (i > 0) {
      ASSERT_LT(prev, u) << "i=" << i;
    }
    ASSERT_EQ(uuid7_unix_ms(u), ms) << "i=" << i;
    ASSERT_EQ(rand_a(u), static_cast<unsigned>(i));
    prev = u;
  }
  rng.fill(r);
  r[0] = 0;
  r[1] = 0;
  UuidBytes u = gen.next(ms, r);
  ASSERT_LT(prev, u);
  EXPECT_EQ(uuid7_unix_ms(u), ms + 1);
  EXPECT_EQ(uuid_version(u), 7);
  EXPECT_EQ(u[8] & 0xC0, 0x80);
  prev = u;
  // The real clock reaching ms + 1 must not go back below what was already handed out.
  rng.fill(r);
  u = gen.next(ms + 1, r);
  ASSERT_LT(prev, u);
  EXPECT_EQ(uuid7_unix_ms(u), ms + 1);
}

TEST(Uuid7Test, ManyIdsInOneMillisecondStayStrictlyIncreasing) {
  // Worst-case seeds and random seeds, far more than 4096 ids for one stalled clock value.
  for (int mode = 0; mode < 2; ++mode) {
    Uuid7Generator gen;
    Rng rng(9 + mode);
    RandomBytes r;
    const std::uint64_t ms = 1700000000000ULL;
    const int kCount = 10000;
    std::vector<UuidBytes> ids;
    ids.reserve(kCount);
    for (int i = 0; i < kCount; ++i) {
      rng.fill(r);
      if (mode == 0) {  // highest possible seed: 0x7FF
        r[0] = 0xFF;
        r[1] = 0xFF;
      }
      ids.push_back(gen.next(ms, r));
    }
    for (int i = 1; i < kCount; ++i) {
      ASSERT_LT(ids[i - 1], ids[i]) << "mode=" << mode << " i=" << i;
      ASSERT_GE(uuid7_unix_ms(ids[i]), uuid7_unix_ms(ids[i - 1]));
      ASSERT_EQ(uuid_version(ids[i]), 7);
      ASSERT_EQ(ids[i][8] & 0xC0, 0x80);
    }
    EXPECT_EQ(uuid7_unix_ms(ids.front()), ms);
    EXPECT_GT(uuid7_unix_ms(ids.back()), ms) << "mode=" << mode;
    if (mode == 0) {
      // Seed 0x7FF leaves 0x7FF..0xFFF = 2049 ids per millisecond.
      EXPECT_EQ(uuid7_unix_ms(ids[2048]), ms);
      EXPECT_EQ(uuid7_unix_ms(ids[2049]), ms + 1);
      EXPECT_EQ(uuid7_unix_ms(ids[4097]), ms + 1);
      EXPECT_EQ(uuid7_unix_ms(ids[4098]), ms + 2);
      EXPECT_EQ(uuid7_unix_ms(ids.back()), ms + (kCount - 1) / 2049);
    }
  }
}

TEST(Uuid7Test, RandomBytesLandInRandB) {
  Uuid7Generator gen;
  RandomBytes r = {0x12, 0x34, 0xFE, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
  UuidBytes u = gen.next(1700000000000ULL, r);
  // rand_b = low 6 bits of byte 8 plus bytes 9..15 (62 bits).
  EXPECT_EQ(u[8], 0x80 | (0xFE & 0x3F));
  for (int i = 9; i < 16; ++i) {
    EXPECT_EQ(u[i], r[i - 6]) << "byte " << i;
  }
  EXPECT_EQ(uuid_to_string(u).substr(19), "be11-223344556677");

  // Also while the counter is incrementing within the same millisecond.
  Rng rng(11);
  for (int i = 0; i < 100; ++i) {
    rng.fill(r);
    u = gen.next(1700000000000ULL, r);
    EXPECT_EQ(u[8] & 0x3F, r[2] & 0x3F) << "i=" << i;
    for (int k = 9; k < 16; ++k) EXPECT_EQ(u[k], r[k - 6]) << "i=" << i << " byte " << k;
  }
}

}  // namespace
}  // namespace coditect
