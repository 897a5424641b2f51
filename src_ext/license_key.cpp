#include "license_key.hpp"

#include <cctype>

namespace coditect::license_key {

namespace {

constexpr int kBase = static_cast<int>(kAlphabet.size());

int symbol_value(char c) {
  auto pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

// Luhn mod N sum over `symbols`, doubling every second symbol counted from the right, starting
// with the rightmost when `double_rightmost` (generation) or the one left of it (validation).
int luhn_sum(std::string_view symbols, bool double_rightmost) {
  int factor = double_rightmost ? 2 : 1;
  int sum = 0;
  for (auto it = symbols.rbegin(); it != symbols.rend(); ++it) {
    int addend = factor * symbol_value(*it);
    sum += addend / kBase + addend % kBase;
    factor = factor == 2 ? 1 : 2;
  }
  return sum;
}

std::string dashed(std::string_view symbols) {
  std::string key(kPrefix);
  for (std::size_t i = 0; i < symbols.size(); ++i) {
    if (i > 0 && i % 4 == 0) key.push_back('-');
    key.push_back(symbols[i]);
  }
  return key;
}

}  // namespace

char check_symbol(std::string_view symbols) {
  int remainder = luhn_sum(symbols, true) % kBase;
  return kAlphabet[(kBase - remainder) % kBase];
}

std::string generate(const std::uint8_t (&random)[kRandomSymbols]) {
  std::string symbols;
  symbols.reserve(kRandomSymbols + 1);
  for (std::uint8_t b : random) symbols.push_back(kAlphabet[b % kBase]);
  symbols.push_back(check_symbol(symbols));
  return dashed(symbols);
}

Parsed parse(std::string_view input) {
  while (!input.empty() && std::isspace(static_cast<unsigned char>(input.front()))) {
    input.remove_prefix(1);
  }
  while (!input.empty() && std::isspace(static_cast<unsigned char>(input.back()))) {
    input.remove_suffix(1);
  }
  std::string upper;
  upper.reserve(input.size());
  for (char c : input)
    upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));

  // "CODITECT", then the dash after it and between groups is optional.
  const std::string_view word = kPrefix.substr(0, kPrefix.size() - 1);
  if (upper.compare(0, word.size(), word) != 0) return {Status::Malformed, {}};
  std::size_t start = word.size();
  if (start < upper.size() && upper[start] == '-') ++start;
  std::string symbols;
  for (std::size_t i = start; i < upper.size(); ++i) {
    char c = upper[i];
    if (c == '-') {
      // Dashes only between groups of four.
      if (symbols.empty() || symbols.size() % 4 != 0 ||
          (i + 1 < upper.size() && upper[i + 1] == '-')) {
        return {Status::Malformed, {}};
      }
      continue;
    }
    if (symbol_value(c) < 0) return {Status::Malformed, {}};
    symbols.push_back(c);
  }
  if (symbols.size() != kRandomSymbols + 1 || upper.back() == '-') return {Status::Malformed, {}};
  if (luhn_sum(symbols, false) % kBase != 0) return {Status::BadCheck, {}};
  return {Status::Valid, dashed(symbols)};
}

}  // namespace coditect::license_key
