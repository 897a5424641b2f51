#include "webhook_signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace coditect::webhook {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool from_hex(std::string_view hex, std::array<std::uint8_t, 32>* out) {
  if (hex.size() != 64) return false;
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

std::string signed_payload(std::int64_t timestamp, std::string_view body) {
  std::string s = std::to_string(timestamp);
  s += '.';
  s.append(body.data(), body.size());
  return s;
}

}  // namespace

std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view message) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(),
            &len) ||
      len != out.size())
    throw std::runtime_error("HMAC-SHA256 failed");
  return out;
}

std::string to_hex(const std::uint8_t* data, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[2 * i] = digits[data[i] >> 4];
    s[2 * i + 1] = digits[data[i] & 15];
  }
  return s;
}

std::array<std::uint8_t, kSecretBytes> random_secret() {
  std::array<std::uint8_t, kSecretBytes> s{};
  if (RAND_bytes(s.data(), static_cast<int>(s.size())) != 1)
    throw std::runtime_error("no random bytes for a webhook secret");
  return s;
}

std::string sign(std::string_view secret, std::int64_t timestamp, std::string_view body) {
  auto mac = hmac_sha256(secret, signed_payload(timestamp, body));
  return "t=" + std::to_string(timestamp) + ",v1=" + to_hex(mac.data(), mac.size());
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Valid:
      return "valid";
    case Verdict::Malformed:
      return "malformed";
    case Verdict::Mismatch:
      return "mismatch";
    case Verdict::Expired:
      return "expired";
  }
  return "unknown";
}

Verdict verify(std::string_view secret, std::string_view header, std::string_view body,
               std::int64_t now, std::int64_t tolerance_seconds) {
  bool have_t = false;
  std::int64_t t = 0;
  std::vector<std::array<std::uint8_t, 32>> candidates;
  std::size_t pos = 0;
  while (pos <= header.size()) {
    std::size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    std::string_view item = header.substr(pos, comma - pos);
    pos = comma + 1;
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Verdict::Malformed;
    std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "t") {
      if (have_t || value.empty() || value.size() > 12) return Verdict::Malformed;
      for (char c : value) {
        if (c < '0' || c > '9') return Verdict::Malformed;
        t = t * 10 + (c - '0');
      }
      have_t = true;
    } else if (key == "v1") {
      std::array<std::uint8_t, 32> mac{};
      if (!from_hex(value, &mac)) return Verdict::Malformed;
      if (candidates.size() == 8) return Verdict::Malformed;  // bounded work per request
      candidates.push_back(mac);
    }  // other schemes (v0, ...) are ignored, as Stripe's receivers do
  }
  if (!have_t || candidates.empty()) return Verdict::Malformed;
  auto expected = hmac_sha256(secret, signed_payload(t, body));
  bool match = false;
  for (const auto& c : candidates)
    match |= CRYPTO_memcmp(c.data(), expected.data(), expected.size()) == 0;
  if (!match) return Verdict::Mismatch;
  std::int64_t skew = now > t ? now - t : t - now;
  return skew > tolerance_seconds ? Verdict::Expired : Verdict::Valid;
}

}  // namespace coditect::webhook
