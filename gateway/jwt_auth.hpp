// PG-free: bearer token verification (HS256 secret; RS256 / ES256 public keys from a JWKS or
// PEM file, chosen by kid). Signatures are checked by cpp-jwt (libcpp-jwt-dev) with OpenSSL;
// the algorithm a key accepts follows from the key's type, never from the token's header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace coditect::gateway {

struct VerificationKey {
  std::string kid;       // empty: a key without kid (a PEM file)
  std::string alg;       // HS256, RS256 or ES256: the only algorithm this key verifies
  std::string material;  // the HS256 secret, or the public key as SubjectPublicKeyInfo PEM
};

// Public keys: a JWKS document ({"keys": [{kty, kid, n, e | crv, x, y, ...}]}), a JSON object
// {kid: PEM} (certificates or public keys, as Google publishes them), or a PEM public key or
// certificate. RSA keys (2048 bits or more) verify RS256, P-256 keys ES256; other keys are
// skipped (JWKS) or refused (PEM). Throws std::runtime_error with a readable message.
std::vector<VerificationKey> parse_public_keys(std::string_view text);
std::vector<VerificationKey> load_public_keys_file(const std::string& path);

// A PEM public key or certificate -> normalised SubjectPublicKeyInfo PEM and its algorithm.
VerificationKey pem_public_key(std::string_view pem, std::string kid);

struct JwtSettings {
  std::string hs256_secret;  // empty: no HS256
  std::vector<VerificationKey> public_keys;
  std::string issuer;    // empty: not checked
  std::string audience;  // empty: not checked
  int64_t skew_seconds = 60;
};

struct TokenClaims {
  std::string sub;
  std::optional<std::string> tenant_id;
  std::optional<std::string> role;
  std::optional<std::string> email;
  double expires_at = 0;            // exp (required)
  std::optional<double> issued_at;  // iat
  std::string token_sha256;         // of the token, hex (set by authenticate, for the login)
};

struct VerifyResult {
  bool ok = false;
  std::string error;  // why not, safe to show
  TokenClaims claims;
};

class TokenVerifier {
 public:
  explicit TokenVerifier(JwtSettings settings);
  // now: seconds since the epoch (0: the system clock).
  VerifyResult verify(std::string_view token, int64_t now = 0) const;
  bool configured() const {
    return !settings_.hs256_secret.empty() || !settings_.public_keys.empty();
  }

 private:
  const VerificationKey* select_key(const std::string& alg, const std::string* kid) const;
  JwtSettings settings_;
  VerificationKey secret_key_;
};

// Signs claims (a JSON object) with alg HS256 (key: the secret) or RS256 / ES256 (key: a PEM
// private key); kid is put in the header when not empty. For dev tokens and tests.
std::string mint_token(const std::string& alg, const std::string& key, const nlohmann::json& claims,
                       const std::string& kid = {});

// base64url without padding (RFC 7515), both ways; decode returns nullopt on bad input.
std::string base64url_encode(std::string_view data);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace coditect::gateway
