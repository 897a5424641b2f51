// PG-free: the HMAC-SHA256 signatures of webhooks, in and out. One format for every webhook the
// product signs or checks (Stripe's): a header "t=<unix seconds>,v1=<hex>[,v1=<hex>...]" where
// each v1 is HMAC-SHA256(secret, "<t>.<body>"). Several v1 entries let a sender sign with an old
// and a new secret while it rotates; the timestamp bounds replays to a tolerance window.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace coditect::webhook {

constexpr std::size_t kSecretBytes = 32;  // 256 bits, the SHA-256 block's strength

std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view message);

std::string to_hex(const std::uint8_t* data, std::size_t n);

// kSecretBytes from OpenSSL's CSPRNG; throws std::runtime_error when it has no entropy.
std::array<std::uint8_t, kSecretBytes> random_secret();

// The header value for `body` sent at `timestamp`: "t=<timestamp>,v1=<hex>".
std::string sign(std::string_view secret, std::int64_t timestamp, std::string_view body);

enum class Verdict {
  Valid,
  Malformed,  // not "t=<digits>,v1=<64 hex>..."
  Mismatch,   // no v1 entry matches
  Expired,    // |now - t| > tolerance: too old, or from the future
};

const char* verdict_name(Verdict v);

// Checks `header` against `body` with constant-time comparisons of every v1 entry. The
// timestamp is checked only once a signature matches, so a stale but genuine request says
// Expired and a forged one Mismatch.
Verdict verify(std::string_view secret, std::string_view header, std::string_view body,
               std::int64_t now, std::int64_t tolerance_seconds);

}  // namespace coditect::webhook
