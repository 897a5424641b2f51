#include "share_secret.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <vector>

namespace coditect::share_secret {

namespace {

// Accepted parameter ranges when verifying: a stored hash cannot make a check take more than
// 2^20 x 8 x 128 bytes (1 GiB) of memory or run forever.
constexpr int kMaxLog2N = 20, kMaxR = 32, kMaxP = 16;
constexpr std::uint64_t kMaxMem = 1ULL << 30;

std::string base64(const std::uint8_t* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&out[0]), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

std::optional<std::vector<std::uint8_t>> unbase64(const std::string& s) {
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  std::vector<std::uint8_t> out(s.size() / 4 * 3);
  int len = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()),
                            static_cast<int>(s.size()));
  if (len < 0) return std::nullopt;
  std::size_t pad = 0;
  if (s[s.size() - 1] == '=') ++pad;
  if (s[s.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(len) - pad);
  return out;
}

std::vector<std::uint8_t> scrypt(const std::string& password, const std::uint8_t* salt,
                                 std::size_t salt_len, const ScryptParams& p, std::size_t out_len) {
  std::vector<std::uint8_t> out(out_len);
  std::uint64_t n = 1ULL << p.log2_n;
  // Memory scrypt needs (128 r N, plus 128 r p), with headroom: OpenSSL refuses beyond maxmem.
  std::uint64_t mem = 128ULL * p.r * (n + p.p + 2) + 4096;
  if (EVP_PBE_scrypt(password.data(), password.size(), salt, salt_len, n,
                     static_cast<std::uint64_t>(p.r), static_cast<std::uint64_t>(p.p), mem,
                     out.data(), out.size()) != 1)
    throw SecretError("scrypt failed");
  return out;
}

}  // namespace

std::array<std::uint8_t, kTokenBytes> random_token() {
  std::array<std::uint8_t, kTokenBytes> t{};
  if (RAND_bytes(t.data(), static_cast<int>(t.size())) != 1)
    throw SecretError("could not generate random bytes");
  return t;
}

std::string password_hash(const std::string& password, const ScryptParams& params) {
  if (params.log2_n < 1 || params.log2_n > kMaxLog2N || params.r < 1 || params.r > kMaxR ||
      params.p < 1 || params.p > kMaxP)
    throw SecretError("scrypt parameters out of range");
  std::uint8_t salt[kSaltBytes];
  if (RAND_bytes(salt, sizeof salt) != 1) throw SecretError("could not generate random bytes");
  auto hash = scrypt(password, salt, sizeof salt, params, kHashBytes);
  return "$scrypt$ln=" + std::to_string(params.log2_n) + ",r=" + std::to_string(params.r) +
         ",p=" + std::to_string(params.p) + "$" + base64(salt, sizeof salt) + "$" +
         base64(hash.data(), hash.size());
}

std::optional<bool> password_verify(const std::string& password, const std::string& encoded) {
  ScryptParams p;
  char salt_b64[64] = {0}, hash_b64[128] = {0};
  int consumed = 0;
  if (encoded.size() > 200 ||
      std::sscanf(encoded.c_str(), "$scrypt$ln=%d,r=%d,p=%d$%63[A-Za-z0-9+/=]$%127[A-Za-z0-9+/=]%n",
                  &p.log2_n, &p.r, &p.p, salt_b64, hash_b64, &consumed) != 5 ||
      static_cast<std::size_t>(consumed) != encoded.size())
    return std::nullopt;
  if (p.log2_n < 1 || p.log2_n > kMaxLog2N || p.r < 1 || p.r > kMaxR || p.p < 1 || p.p > kMaxP ||
      128ULL * p.r * ((1ULL << p.log2_n) + p.p) > kMaxMem)
    return std::nullopt;
  auto salt = unbase64(salt_b64);
  auto expected = unbase64(hash_b64);
  if (!salt || !expected || salt->empty() || expected->size() < 16) return std::nullopt;
  auto got = scrypt(password, salt->data(), salt->size(), p, expected->size());
  return CRYPTO_memcmp(got.data(), expected->data(), got.size()) == 0;
}

}  // namespace coditect::share_secret
