// Unit tests for the PG-free license key generator and parser (src_ext/license_key.hpp).
#include "license_key.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coditect::license_key {
namespace {

using RandomBytes = std::uint8_t[kRandomSymbols];

constexpr std::size_t kSymbols = kRandomSymbols + 1;  // with the check symbol

// Deterministic source of "random" bytes so failures are reproducible.
class Rng {
 public:
  explicit Rng(std::uint32_t seed) : engine_(seed) {}
  void fill(RandomBytes& out) {
    for (auto& b : out) b = static_cast<std::uint8_t>(engine_() & 0xFF);
  }
  std::string key() {
    RandomBytes r;
    fill(r);
    return generate(r);
  }

 private:
  std::mt19937 engine_;
};

// The 12 symbols of a dashed key, without prefix and dashes.
std::string symbols_of(std::string_view key) {
  std::string out;
  for (char c : key.substr(kPrefix.size())) {
    if (c != '-') out.push_back(c);
  }
  return out;
}

// CODITECT-XXXX-XXXX-XXXX from 12 symbols.
std::string dashed(std::string_view s) {
  return std::string(kPrefix) + std::string(s.substr(0, 4)) + "-" + std::string(s.substr(4, 4)) +
         "-" + std::string(s.substr(8, 4));
}

// Independent reference Luhn mod 32: the check symbol making the weighted sum (weights 2,1,2,..
// from the right of the 11 symbols; a doubled value >= 32 counts as its two base-32 "digits")
// divisible by 32.
char reference_check(std::string_view payload) {
  int sum = 0;
  bool twice = true;
  for (std::size_t i = payload.size(); i-- > 0;) {
    int v = static_cast<int>(kAlphabet.find(payload[i]));
    if (twice) {
      v *= 2;
      if (v >= 32) v = 1 + (v - 32);
    }
    sum += v;
    twice = !twice;
  }
  return kAlphabet[(32 - sum % 32) % 32];
}

// A key with the given 11 payload symbols and its correct check symbol.
std::string key_from_payload(std::string_view payload) {
  return dashed(std::string(payload) + check_symbol(payload));
}

Status status_of(std::string_view input) { return parse(input).status; }

const char* name(Status s) {
  switch (s) {
    case Status::Valid:
      return "Valid";
    case Status::Malformed:
      return "Malformed";
    case Status::BadCheck:
      return "BadCheck";
  }
  return "?";
}

TEST(LicenseKeyTest, AlphabetHas32DistinctSymbolsWithoutLookAlikes) {
  EXPECT_EQ(kAlphabet.size(), 32u);
  std::set<char> distinct(kAlphabet.begin(), kAlphabet.end());
  EXPECT_EQ(distinct.size(), 32u);
  for (char c : std::string_view("01OIoi")) {
    EXPECT_EQ(kAlphabet.find(c), std::string_view::npos) << c;
  }
  EXPECT_EQ(kKeyLength, kPrefix.size() + kSymbols + 2);
}

TEST(LicenseKeyTest, GeneratedKeyHasTheDocumentedShape) {
  Rng rng(1);
  for (int i = 0; i < 2000; ++i) {
    std::string key = rng.key();
    ASSERT_EQ(key.size(), 23u) << key;
    EXPECT_EQ(key.substr(0, 9), "CODITECT-") << key;
    for (std::size_t pos = 9; pos < key.size(); ++pos) {
      if (pos == 13 || pos == 18) {
        EXPECT_EQ(key[pos], '-') << key << " pos=" << pos;
      } else {
        EXPECT_NE(kAlphabet.find(key[pos]), std::string_view::npos) << key << " pos=" << pos;
      }
    }
  }
}

TEST(LicenseKeyTest, GenerateMapsBytesModulo32) {
  RandomBytes zeros{};
  EXPECT_EQ(generate(zeros), "CODITECT-2222-2222-2222");

  // 255 % 32 == 31 -> 'Z'; sum = 11 * 31 = 341 = 21 (mod 32); check = alphabet[11] = 'D'.
  RandomBytes ones;
  for (auto& b : ones) b = 0xFF;
  EXPECT_EQ(generate(ones), "CODITECT-ZZZZ-ZZZZ-ZZZD");

  // 0..10 and 32..42 give the same symbols (32 divides 256: no bias, no other information).
  RandomBytes low, high;
  for (std::size_t i = 0; i < kRandomSymbols; ++i) {
    low[i] = static_cast<std::uint8_t>(i);
    high[i] = static_cast<std::uint8_t>(i + 32);
  }
  EXPECT_EQ(generate(low), generate(high));
  EXPECT_EQ(symbols_of(generate(low)).substr(0, 11), "23456789ABC");
}

TEST(LicenseKeyTest, CheckSymbolMatchesReferenceLuhnMod32) {
  Rng rng(2);
  for (int i = 0; i < 5000; ++i) {
    RandomBytes r;
    rng.fill(r);
    std::string payload;
    for (auto b : r) payload.push_back(kAlphabet[b % 32]);
    EXPECT_EQ(check_symbol(payload), reference_check(payload)) << payload;
  }
  EXPECT_EQ(check_symbol("22222222222"), '2');
  EXPECT_EQ(check_symbol("ZZZZZZZZZZZ"), 'D');
  // Single symbol: '3' (value 1) doubled = 2, check = 32 - 2 = 30 -> 'Y'.
  EXPECT_EQ(check_symbol("3"), 'Y');
  EXPECT_EQ(check_symbol(""), '2');
}

TEST(LicenseKeyTest, ParseOfGeneratedKeyIsValidAndCanonical) {
  Rng rng(3);
  for (int i = 0; i < 2000; ++i) {
    std::string key = rng.key();
    Parsed p = parse(key);
    EXPECT_EQ(p.status, Status::Valid) << key;
    EXPECT_EQ(p.canonical, key);
  }
}

TEST(LicenseKeyTest, RandomBytesNeverGiveAnInvalidKey) {
  Rng rng(4);
  std::set<char> seen[kSymbols];
  for (int i = 0; i < 100000; ++i) {
    std::string key = rng.key();
    Parsed p = parse(key);
    ASSERT_EQ(p.status, Status::Valid) << key;
    ASSERT_EQ(p.canonical, key);
    std::string s = symbols_of(key);
    for (std::size_t j = 0; j < kSymbols; ++j) seen[j].insert(s[j]);
  }
  // Every symbol turns up in every position, the check symbol included.
  for (std::size_t j = 0; j < kSymbols; ++j) EXPECT_EQ(seen[j].size(), 32u) << "pos=" << j;
}

TEST(LicenseKeyTest, LenientInputIsCanonicalised) {
  const std::string key = "CODITECT-ZZZZ-ZZZZ-ZZZD";
  ASSERT_EQ(status_of(key), Status::Valid);
  Rng rng(5);
  const std::string random_key = rng.key();
  std::string lower_random;
  for (char c : random_key) lower_random.push_back(static_cast<char>(std::tolower(c)));

  for (const std::string& input : {
           std::string("coditect-zzzz-zzzz-zzzd"),
           std::string("Coditect-zZzZ-ZzZz-zzzD"),
           std::string("  CODITECT-ZZZZ-ZZZZ-ZZZD  "),
           std::string("\t\nCODITECT-ZZZZ-ZZZZ-ZZZD\r\n"),
           std::string("CODITECT-ZZZZZZZZZZZD"),
           std::string(" coditect-zzzzzzzzzzzd\n"),
           // Dashes are optional per group boundary: some present, some not.
           std::string("CODITECT-ZZZZZZZZ-ZZZD"),
           std::string("CODITECT-ZZZZ-ZZZZZZZD"),
           // So is the dash after CODITECT.
           std::string("CODITECTZZZZ-ZZZZ-ZZZD"),
           std::string("CODITECTZZZZZZZZZZZD"),
           std::string(" coditectzzzzzzzzzzzd "),
       }) {
    Parsed p = parse(input);
    EXPECT_EQ(p.status, Status::Valid) << "'" << input << "' -> " << name(p.status);
    EXPECT_EQ(p.canonical, key) << "'" << input << "'";
  }
  Parsed p = parse(lower_random);
  EXPECT_EQ(p.status, Status::Valid) << lower_random;
  EXPECT_EQ(p.canonical, random_key);
}

TEST(LicenseKeyTest, EverySingleSymbolSubstitutionIsDetected) {
  Rng rng(6);
  std::vector<std::string> keys = {"CODITECT-2222-2222-2222", "CODITECT-ZZZZ-ZZZZ-ZZZD"};
  for (int i = 0; i < 20; ++i) keys.push_back(rng.key());
  int checked = 0;
  for (const std::string& key : keys) {
    const std::string s = symbols_of(key);
    ASSERT_EQ(s.size(), kSymbols);
    for (std::size_t pos = 0; pos < kSymbols; ++pos) {
      for (char c : kAlphabet) {
        if (c == s[pos]) continue;
        std::string changed = s;
        changed[pos] = c;
        Parsed p = parse(dashed(changed));
        EXPECT_EQ(p.status, Status::BadCheck) << key << " pos=" << pos << " -> " << c;
        EXPECT_TRUE(p.canonical.empty());
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, static_cast<int>(keys.size() * kSymbols * 31));
}

// Luhn mod N misses a transposition of neighbours a, b exactly when doubling changes both by the
// same amount mod N: 2a' - a == 2b' - b, where x' reduces 2x >= N to 2x - N + 1. For N = 32 the
// only such pair of distinct values is {0, 31} (as 09 <-> 90 in decimal Luhn), i.e. the symbols
// '2' and 'Z'. Every other adjacent transposition, the check symbol included, is detected.
TEST(LicenseKeyTest, AdjacentTranspositionsAreDetectedExceptTwoAndZ) {
  Rng rng(7);
  RandomBytes r;
  rng.fill(r);
  std::string background;
  for (auto b : r) background.push_back(kAlphabet[b % 32]);

  int total = 0;
  int undetected = 0;
  auto try_swap = [&](const std::string& key, std::size_t pos) {
    std::string s = symbols_of(key);
    ASSERT_EQ(parse(key).status, Status::Valid) << key;
    if (s[pos] == s[pos + 1]) return;
    const bool two_and_z =
        (s[pos] == '2' && s[pos + 1] == 'Z') || (s[pos] == 'Z' && s[pos + 1] == '2');
    std::swap(s[pos], s[pos + 1]);
    Status got = status_of(dashed(s));
    ++total;
    if (got == Status::Valid) ++undetected;
    if (two_and_z) {
      EXPECT_EQ(got, Status::Valid) << key << " pos=" << pos;
    } else {
      EXPECT_EQ(got, Status::BadCheck) << key << " pos=" << pos << " -> " << name(got);
    }
  };

  // Positions 0..9: every ordered pair of distinct symbols among the random ones.
  for (std::size_t pos = 0; pos + 1 < kRandomSymbols; ++pos) {
    for (char a : kAlphabet) {
      for (char b : kAlphabet) {
        if (a == b) continue;
        std::string payload = background;
        payload[pos] = a;
        payload[pos + 1] = b;
        try_swap(key_from_payload(payload), pos);
      }
    }
  }
  // Position 10: the last random symbol and the check symbol. Varying symbol 0 (a doubled
  // position, so a permutation of the sum) reaches every check symbol for each last symbol.
  std::set<std::pair<char, char>> pairs;
  for (char a : kAlphabet) {
    for (char x : kAlphabet) {
      std::string payload = background;
      payload[0] = x;
      payload[kRandomSymbols - 1] = a;
      std::string key = key_from_payload(payload);
      pairs.insert({a, symbols_of(key)[kSymbols - 1]});
      try_swap(key, kRandomSymbols - 1);
    }
  }
  EXPECT_EQ(pairs.size(), 32u * 32u);

  // 10 positions x 32 x 31 ordered pairs, plus 32 x 31 for the check position.
  EXPECT_EQ(total, 11 * 32 * 31);
  // '2Z' and 'Z2' at each of the 11 positions.
  EXPECT_EQ(undetected, 22);
}

TEST(LicenseKeyTest, TranspositionOfTwoAndZIsAKnownBlindSpot) {
  // Pinned example of the Luhn mod 32 blind spot documented above.
  std::string payload = "3456789ABC2";
  payload[3] = '2';
  payload[4] = 'Z';
  std::string key = key_from_payload(payload);
  std::string swapped = payload;
  std::swap(swapped[3], swapped[4]);
  EXPECT_EQ(status_of(key), Status::Valid);
  EXPECT_EQ(status_of(dashed(swapped + check_symbol(payload))), Status::Valid);
  EXPECT_EQ(check_symbol(payload), check_symbol(swapped));
}

TEST(LicenseKeyTest, MalformedInputsAreRejected) {
  const std::string key = "CODITECT-ZZZZ-ZZZZ-ZZZD";
  ASSERT_EQ(status_of(key), Status::Valid);
  for (const std::string& input : {
           std::string(""),
           std::string("   "),
           std::string("CODITECT"),
           std::string("CODITECT-"),
           std::string("ZZZZ-ZZZZ-ZZZD"),
           std::string("ZZZZZZZZZZZD"),
           // Wrong prefix.
           std::string("KODITECT-ZZZZ-ZZZZ-ZZZD"),
           std::string("CODITEC-ZZZZ-ZZZZ-ZZZD"),
           std::string("CODITECTS-ZZZZ-ZZZZ-ZZZD"),
           std::string("C0DITECT-ZZZZ-ZZZZ-ZZZD"),
           std::string("CODITECT_ZZZZ-ZZZZ-ZZZD"),
           std::string("CODITECT -ZZZZ-ZZZZ-ZZZD"),
           std::string("CODITECT--ZZZZZZZZZZZD"),
           std::string("-CODITECT-ZZZZ-ZZZZ-ZZZD"),
           std::string("XCODITECT-ZZZZ-ZZZZ-ZZZD"),
           // 11 and 13 symbols.
           std::string("CODITECT-ZZZZ-ZZZZ-ZZD"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZZZD"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZZD-2"),
           std::string("CODITECT-ZZZZZZZZZZD"),
           std::string("CODITECT-ZZZZZZZZZZZZD"),
           // Look-alikes that are not in the alphabet.
           std::string("CODITECT-ZZZZ-ZZZZ-ZZZ0"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZZO"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZZ1"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZZI"),
           std::string("CODITECT-0ZZZ-ZZZZ-ZZZD"),
           std::string("CODITECT-ZZZZ-OZZZ-ZZZD"),
           std::string("CODITECT-ZZZZ-ZZZZ-1ZZD"),
           std::string("CODITECT-ZZIZ-ZZZZ-ZZZD"),
           std::string("coditect-zzzz-zzzz-zzzo"),
           std::string("coditect-zzzz-zzzz-zzzi"),
           // Misplaced dashes.
           std::string("CODITECT-ZZZ-ZZZZZ-ZZZD"),
           std::string("CODITECT-ZZZZZ-ZZZ-ZZZD"),
           std::string("CODITECT-ZZZZ-ZZZZZ-ZZD"),
           std::string("CODITECT-Z-ZZZZZZZZZZD"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZ-ZD"),
           // Double, leading and trailing dashes.
           std::string("CODITECT--ZZZZ-ZZZZ-ZZZD"),
           std::string("CODITECT-ZZZZ--ZZZZ-ZZZD"),
           std::string("CODITECT-ZZZZ-ZZZZ--ZZZD"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZZD-"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZZD--"),
           std::string("CODITECT-ZZZZZZZZZZZD-"),
           // Other characters inside.
           std::string("CODITECT-ZZZZ ZZZZ-ZZZD"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZ D"),
           std::string("CODITECT-ZZZZ.ZZZZ.ZZZD"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZZD\n2"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZZ\xC3\x90"),
           std::string("CODITECT-ZZZZ-ZZZZ-ZZZD\0", 24),
       }) {
    Parsed p = parse(input);
    EXPECT_EQ(p.status, Status::Malformed) << "'" << input << "' -> " << name(p.status);
    EXPECT_TRUE(p.canonical.empty()) << "'" << input << "'";
  }
}

TEST(LicenseKeyTest, WrongCheckSymbolIsBadCheckNotMalformed) {
  // Well-formed but not a key we could have generated.
  Parsed p = parse("CODITECT-ZZZZ-ZZZZ-ZZZZ");
  EXPECT_EQ(p.status, Status::BadCheck);
  EXPECT_TRUE(p.canonical.empty());
  EXPECT_EQ(status_of("coditect-zzzzzzzzzzzz"), Status::BadCheck);
  EXPECT_EQ(status_of("CODITECT-2222-2222-2223"), Status::BadCheck);
}

}  // namespace
}  // namespace coditect::license_key
