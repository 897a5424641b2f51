// License keys CODITECT-XXXX-XXXX-XXXX: 11 random symbols and one check symbol (Luhn mod 32)
// from an alphabet without look-alikes (no 0/O, 1/I). The check symbol tells a mistyped key
// (one wrong symbol, two neighbours swapped) from an unknown one without a database lookup.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace coditect::license_key {

inline constexpr std::string_view kAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
inline constexpr std::string_view kPrefix = "CODITECT-";
inline constexpr std::size_t kRandomSymbols = 11;
inline constexpr std::size_t kKeyLength = 23;  // CODITECT- + 3 groups of 4 + 2 dashes

// Builds a key from 11 random bytes (each reduced to one symbol: 32 divides 256, no bias).
std::string generate(const std::uint8_t (&random)[kRandomSymbols]);

enum class Status { Valid, Malformed, BadCheck };

struct Parsed {
  Status status;
  std::string canonical;  // upper-case, dashed form when Valid
};

// Accepts surrounding spaces, lower case, and the groups with or without dashes.
Parsed parse(std::string_view input);

// The Luhn mod 32 check symbol for a run of alphabet symbols.
char check_symbol(std::string_view symbols);

}  // namespace coditect::license_key
