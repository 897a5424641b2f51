#include "jwt_auth.hpp"

#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

// cpp-jwt defines some functions without `inline`: include it in this one file only.
#include <jwt/jwt.hpp>

namespace coditect::gateway {

namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free_all)>;

bool is_b64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

std::string pkey_to_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()), BIO_free_all);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1)
    throw std::runtime_error("cannot write the public key as PEM");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// RS256 for RSA keys of 2048 bits or more, ES256 for P-256 keys; empty otherwise.
std::string algorithm_for(EVP_PKEY* key, std::string* why) {
  int type = EVP_PKEY_base_id(key);
  if (type == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key) < 2048) {
      *why = "RSA keys must have 2048 bits or more";
      return {};
    }
    return "RS256";
  }
  if (type == EVP_PKEY_EC) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) == 1 &&
        std::string(group) == "prime256v1")
      return "ES256";
    *why = "EC keys must be on curve P-256";
    return {};
  }
  *why = "only RSA and P-256 EC public keys are supported";
  return {};
}

PkeyPtr rsa_from_jwk(const nlohmann::json& k) {
  auto n = base64url_decode(k.value("n", std::string()));
  auto e = base64url_decode(k.value("e", std::string()));
  if (!n || !e || n->empty() || e->empty()) throw std::runtime_error("RSA key without n or e");
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn_n(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()),
                nullptr),
      BN_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn_e(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()),
                nullptr),
      BN_free);
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                      OSSL_PARAM_BLD_free);
  if (!bn_n || !bn_e || !bld ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
    throw std::runtime_error("cannot build an RSA key");
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()),
                                                                 OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    throw std::runtime_error("cannot build an RSA key");
  return PkeyPtr(key, EVP_PKEY_free);
}

PkeyPtr ec_from_jwk(const nlohmann::json& k) {
  if (k.value("crv", std::string()) != "P-256")
    throw std::runtime_error("EC keys must be on curve P-256");
  auto x = base64url_decode(k.value("x", std::string()));
  auto y = base64url_decode(k.value("y", std::string()));
  if (!x || !y || x->size() != 32 || y->size() != 32)
    throw std::runtime_error("EC key needs 32-byte x and y");
  std::string point = "\x04" + *x + *y;
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                      OSSL_PARAM_BLD_free);
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size()))
    throw std::runtime_error("cannot build an EC key");
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()),
                                                                 OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    throw std::runtime_error("cannot build an EC key (is the point on the curve?)");
  return PkeyPtr(key, EVP_PKEY_free);
}

std::optional<double> numeric_claim(const nlohmann::json& payload, const char* name,
                                    std::string* error) {
  auto it = payload.find(name);
  if (it == payload.end()) return std::nullopt;
  if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0 ||
      it->get<double>() > 1e12) {
    *error = std::string("claim \"") + name + "\" must be a NumericDate";
    return std::nullopt;
  }
  return it->get<double>();
}

std::optional<std::string> string_claim(const nlohmann::json& payload, const char* name) {
  auto it = payload.find(name);
  if (it == payload.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

std::string base64url_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string b64(text);
  for (char& c : b64) {
    if (!is_b64url_char(c)) return std::nullopt;
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  size_t pad = (4 - b64.size() % 4) % 4;
  b64.append(pad, '=');
  std::string out(b64.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0 || static_cast<size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

VerificationKey pem_public_key(std::string_view pem, std::string kid) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free_all);
  if (!bio) throw std::runtime_error("out of memory");
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) {
    BioPtr bio2(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free_all);
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        PEM_read_bio_X509(bio2.get(), nullptr, nullptr, nullptr), X509_free);
    if (cert) key.reset(X509_get_pubkey(cert.get()));
  }
  if (!key) throw std::runtime_error("no PEM public key or certificate found");
  std::string why;
  std::string alg = algorithm_for(key.get(), &why);
  if (alg.empty()) throw std::runtime_error(why);
  return VerificationKey{std::move(kid), alg, pkey_to_pem(key.get())};
}

std::vector<VerificationKey> parse_public_keys(std::string_view text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) throw std::runtime_error("the key file is empty");
  std::vector<VerificationKey> keys;
  if (text[first] != '{') {
    keys.push_back(pem_public_key(text, ""));
    return keys;
  }
  nlohmann::json doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (!doc.is_object()) throw std::runtime_error("the key file is not valid JSON");
  if (doc.contains("keys")) {
    if (!doc["keys"].is_array()) throw std::runtime_error("JWKS \"keys\" must be an array");
    for (const auto& k : doc["keys"]) {
      if (!k.is_object()) continue;
      std::string use = k.value("use", std::string("sig"));
      if (use != "sig") continue;
      std::string kty = k.value("kty", std::string());
      PkeyPtr key(nullptr, EVP_PKEY_free);
      if (kty == "RSA")
        key = rsa_from_jwk(k);
      else if (kty == "EC")
        key = ec_from_jwk(k);
      else
        continue;  // symmetric or unknown key types are not taken from a JWKS
      std::string why;
      std::string alg = algorithm_for(key.get(), &why);
      if (alg.empty()) throw std::runtime_error(why);
      if (k.contains("alg") && k["alg"] != alg)
        throw std::runtime_error("JWKS key \"" + k.value("kid", std::string()) + "\" says alg " +
                                 k["alg"].dump() + " but is a key for " + alg);
      auto kid = k.find("kid");
      keys.push_back(VerificationKey{
          kid != k.end() && kid->is_string() ? kid->get<std::string>() : std::string(), alg,
          pkey_to_pem(key.get())});
    }
  } else {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      if (!it->is_string()) throw std::runtime_error("expected {kid: PEM} or a JWKS");
      keys.push_back(pem_public_key(it->get<std::string>(), it.key()));
    }
  }
  if (keys.empty()) throw std::runtime_error("no usable signing key in the key file");
  return keys;
}

std::vector<VerificationKey> load_public_keys_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return parse_public_keys(ss.str());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

TokenVerifier::TokenVerifier(JwtSettings settings) : settings_(std::move(settings)) {
  secret_key_ = VerificationKey{"", "HS256", settings_.hs256_secret};
}

// 1. A kid naming one of the public keys: that key. 2. HS256 with a configured secret: the
// secret. 3. A public key without kid (a PEM file): that key. The caller then requires the
// token's alg to be the chosen key's algorithm, so an HS256 token can never be checked
// against a public key.
const VerificationKey* TokenVerifier::select_key(const std::string& alg,
                                                 const std::string* kid) const {
  if (kid && !kid->empty())
    for (const auto& k : settings_.public_keys)
      if (k.kid == *kid) return &k;
  if (alg == "HS256" && !settings_.hs256_secret.empty()) return &secret_key_;
  for (const auto& k : settings_.public_keys)
    if (k.kid.empty()) return &k;
  return nullptr;
}

VerifyResult TokenVerifier::verify(std::string_view token, int64_t now) const {
  VerifyResult r;
  if (now == 0)
    now = std::chrono::duration_cast<std::chrono::seconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  if (token.empty() || token.size() > 16384) {
    r.error = "malformed token";
    return r;
  }
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    r.error = "malformed token";
    return r;
  }
  std::string_view parts[3] = {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1),
                               token.substr(d2 + 1)};
  for (auto p : parts) {
    if (p.empty() || p.size() % 4 == 1) {
      r.error = "malformed token";
      return r;
    }
    for (char c : p)
      if (!is_b64url_char(c)) {
        r.error = "malformed token";
        return r;
      }
  }
  auto header_text = base64url_decode(parts[0]);
  auto payload_text = base64url_decode(parts[1]);
  if (!header_text || !payload_text) {
    r.error = "malformed token";
    return r;
  }
  nlohmann::json header = nlohmann::json::parse(*header_text, nullptr, false);
  nlohmann::json payload = nlohmann::json::parse(*payload_text, nullptr, false);
  if (!header.is_object() || !payload.is_object()) {
    r.error = "malformed token";
    return r;
  }
  auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string()) {
    r.error = "token header has no alg";
    return r;
  }
  std::string alg = alg_it->get<std::string>();
  if (alg != "HS256" && alg != "RS256" && alg != "ES256") {
    r.error = "algorithm \"" + alg + "\" is not accepted";
    return r;
  }
  auto typ = header.find("typ");
  if (typ != header.end() && (!typ->is_string() || (*typ != "JWT" && *typ != "jwt"))) {
    r.error = "token type must be JWT";
    return r;
  }
  std::optional<std::string> kid;
  auto kid_it = header.find("kid");
  if (kid_it != header.end()) {
    if (!kid_it->is_string()) {
      r.error = "malformed token";
      return r;
    }
    kid = kid_it->get<std::string>();
  }
  const VerificationKey* key = select_key(alg, kid ? &*kid : nullptr);
  if (!key) {
    r.error = kid ? "unknown key id" : "no key to verify this token";
    return r;
  }
  if (key->alg != alg) {
    r.error = "algorithm " + alg + " is not accepted for this key";
    return r;
  }
  // Claim types first, so that the library only ever sees well-typed times.
  std::string type_error;
  auto exp = numeric_claim(payload, "exp", &type_error);
  auto nbf = numeric_claim(payload, "nbf", &type_error);
  auto iat = numeric_claim(payload, "iat", &type_error);
  if (!type_error.empty()) {
    r.error = type_error;
    return r;
  }
  if (!exp) {
    r.error = "token has no expiry (exp)";
    return r;
  }

  std::error_code ec;
  try {
    std::vector<std::string> algs{key->alg};
    jwt::decode(token, jwt::params::algorithms(algs), ec, jwt::params::secret(key->material),
                jwt::params::verify(true),
                jwt::params::leeway(static_cast<uint32_t>(settings_.skew_seconds)));
  } catch (const std::exception&) {
    r.error = "malformed token";
    return r;
  }
  if (ec) {
    if (ec == jwt::VerificationErrc::TokenExpired)
      r.error = "token expired";
    else if (ec == jwt::VerificationErrc::ImmatureSignature)
      r.error = "token not yet valid (nbf)";
    else if (ec == jwt::VerificationErrc::InvalidAlgorithm)
      r.error = "algorithm " + alg + " is not accepted for this key";
    else if (ec == jwt::VerificationErrc::InvalidSignature ||
             ec == jwt::AlgorithmErrc::VerificationErr)
      r.error = "invalid signature";
    else
      r.error = "invalid token";
    return r;
  }
  // The library checked exp and nbf against the system clock; check again against `now`
  // (the same unless a test passes its own time), and iat, iss, aud.
  const double skew = static_cast<double>(settings_.skew_seconds);
  const double t = static_cast<double>(now);
  if (*exp + skew < t) {
    r.error = "token expired";
    return r;
  }
  if (nbf && *nbf - skew > t) {
    r.error = "token not yet valid (nbf)";
    return r;
  }
  if (iat && *iat - skew > t) {
    r.error = "token issued in the future (iat)";
    return r;
  }
  if (!settings_.issuer.empty() && string_claim(payload, "iss") != settings_.issuer) {
    r.error = "wrong issuer";
    return r;
  }
  if (!settings_.audience.empty()) {
    bool match = false;
    auto aud = payload.find("aud");
    if (aud != payload.end()) {
      if (aud->is_string()) match = *aud == settings_.audience;
      if (aud->is_array())
        for (const auto& a : *aud) match = match || (a.is_string() && a == settings_.audience);
    }
    if (!match) {
      r.error = "wrong audience";
      return r;
    }
  }
  auto sub = string_claim(payload, "sub");
  if (!sub || sub->empty() || sub->size() > 255) {
    r.error = "token has no subject (sub)";
    return r;
  }
  r.claims.sub = *sub;
  r.claims.tenant_id = string_claim(payload, "tenant_id");
  r.claims.role = string_claim(payload, "role");
  r.claims.email = string_claim(payload, "email");
  r.claims.expires_at = *exp;
  r.claims.issued_at = iat;
  r.ok = true;
  return r;
}

std::string mint_token(const std::string& alg, const std::string& key, const nlohmann::json& claims,
                       const std::string& kid) {
  jwt::jwt_object obj{jwt::params::algorithm(alg), jwt::params::secret(key)};
  if (!kid.empty()) obj.header().add_header("kid", kid);
  for (auto it = claims.begin(); it != claims.end(); ++it) obj.add_claim(it.key(), *it);
  return obj.signature();
}

}  // namespace coditect::gateway
