// Signed license tokens: base64url(payload) "." base64url(Ed25519 signature over the payload),
// the payload being compact JSON. PG-free (OpenSSL libcrypto and nlohmann/json only), shared by
// the extension and the offline verifier tools/coditect-verify-token.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coditect::license_token {

struct Claims {
  std::string license_id;
  std::string tenant_id;
  std::string tier;
  std::vector<std::string> features;
  std::string session_id;
  std::string hardware_id;
  std::int64_t issued_at = 0;   // Unix seconds
  std::int64_t expires_at = 0;  // Unix seconds
  std::string key_id;
};

// {"lic":..,"ten":..,"tier":..,"feat":[..],"ses":..,"hw":..,"iat":..,"exp":..,"kid":..}
std::string encode_payload(const Claims& claims);
// Throws std::invalid_argument when the JSON is not a payload of ours.
Claims decode_payload(std::string_view json);

// A JSON array of strings (the licenses.features column); throws std::invalid_argument.
std::vector<std::string> parse_features(std::string_view json);

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// An Ed25519 private key. Throws std::runtime_error on a key that is not Ed25519.
class Signer {
 public:
  static Signer from_pem(std::string_view pem);
  std::string sign(std::string_view message) const;  // 64-byte signature
  std::string public_key() const;                    // 32 raw bytes
  std::string public_key_pem() const;

 private:
  struct Key;
  explicit Signer(std::shared_ptr<Key> key) : key_(std::move(key)) {}
  std::shared_ptr<Key> key_;
};

std::string make_token(const Claims& claims, const Signer& signer);

enum class Verdict { Valid, Malformed, BadSignature, Expired };

struct Verification {
  Verdict verdict = Verdict::Malformed;
  Claims claims;  // filled when the payload could be decoded
};

// The key id a token names, so the verifier can pick the public key; nullopt if malformed.
std::optional<std::string> key_id_of(std::string_view token);
// Checks the signature with a 32-byte raw Ed25519 public key, then expiry against `now`.
Verification verify(std::string_view token, std::string_view raw_public_key, std::int64_t now);
// The 32 raw bytes of a PEM public (or private) Ed25519 key; throws std::runtime_error.
std::string raw_public_key_from_pem(std::string_view pem);

const char* verdict_name(Verdict v);

}  // namespace coditect::license_token
