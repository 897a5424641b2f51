// Test helper: RSA and P-256 key pairs made with OpenSSL, as PEM and as JWK (what a JWKS
// endpoint publishes), for the token tests. Written independently of the gateway's JWK reader.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace coditect::testkeys {

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
  nlohmann::json jwk;  // public part with kty, kid, alg, use
};

inline std::string b64url(const unsigned char* data, size_t len) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < len; i += 3) {
    unsigned v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (len - i == 1) {
    unsigned v = data[i] << 16;
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
  } else if (len - i == 2) {
    unsigned v = (data[i] << 16) | (data[i + 1] << 8);
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
  }
  return out;
}

inline std::string bn_b64url(const BIGNUM* bn) {
  std::string buf(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(buf.data()));
  return b64url(reinterpret_cast<const unsigned char*>(buf.data()), buf.size());
}

inline std::string pem_of(EVP_PKEY* key, bool priv) {
  BIO* bio = BIO_new(BIO_s_mem());
  int ok = priv ? PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr)
                : PEM_write_bio_PUBKEY(bio, key);
  if (ok != 1) throw std::runtime_error("PEM write failed");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

inline KeyPair make_rsa(const std::string& kid, unsigned bits = 2048) {
  EVP_PKEY* key = EVP_RSA_gen(bits);
  if (!key) throw std::runtime_error("RSA keygen failed");
  KeyPair kp;
  kp.private_pem = pem_of(key, true);
  kp.public_pem = pem_of(key, false);
  BIGNUM *n = nullptr, *e = nullptr;
  EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n);
  EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e);
  kp.jwk = {{"kty", "RSA"}, {"kid", kid},        {"alg", "RS256"},
            {"use", "sig"}, {"n", bn_b64url(n)}, {"e", bn_b64url(e)}};
  BN_free(n);
  BN_free(e);
  EVP_PKEY_free(key);
  return kp;
}

inline KeyPair make_ec(const std::string& kid, const char* curve = "P-256") {
  EVP_PKEY* key = EVP_EC_gen(curve);
  if (!key) throw std::runtime_error("EC keygen failed");
  KeyPair kp;
  kp.private_pem = pem_of(key, true);
  kp.public_pem = pem_of(key, false);
  BIGNUM *x = nullptr, *y = nullptr;
  EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x);
  EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
  // Coordinates are fixed-length (32 bytes on P-256), left-padded with zeros.
  auto fixed = [](const BIGNUM* bn) {
    unsigned char buf[32];
    BN_bn2binpad(bn, buf, 32);
    return b64url(buf, 32);
  };
  kp.jwk = {{"kty", "EC"},    {"kid", kid},    {"alg", "ES256"}, {"use", "sig"},
            {"crv", "P-256"}, {"x", fixed(x)}, {"y", fixed(y)}};
  BN_free(x);
  BN_free(y);
  EVP_PKEY_free(key);
  return kp;
}

}  // namespace coditect::testkeys
