// PG-free: the secrets of public document shares. A share's token is 128 random bits
// (OpenSSL's CSPRNG) shown to its creator once and stored only as its SHA-256; an optional
// password is stored as a scrypt hash (OpenSSL's EVP_PBE_scrypt, memory-hard) in a
// self-describing string, so the parameters can be raised later without breaking old hashes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace coditect::share_secret {

constexpr std::size_t kTokenBytes = 16;  // 128 bits
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

// scrypt's cost: N = 2^log2_n, block size r, parallelism p. The default (N = 2^15, r = 8,
// p = 3: 32 MiB, OWASP's equivalent of N = 2^17, p = 1) bounds a backend's memory per check.
struct ScryptParams {
  int log2_n = 15;
  int r = 8;
  int p = 3;
};

// Thrown when the CSPRNG or the KDF fails (no entropy, out of memory): never a verdict.
struct SecretError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// 16 bytes from OpenSSL's RAND_bytes.
std::array<std::uint8_t, kTokenBytes> random_token();

// "$scrypt$ln=15,r=8,p=3$<salt base64>$<hash base64>" of the password, with a fresh salt.
std::string password_hash(const std::string& password, const ScryptParams& params = {});

// Whether password matches the encoded hash (constant-time comparison). nullopt: the encoded
// string is not one of ours (or its parameters are out of the accepted range).
std::optional<bool> password_verify(const std::string& password, const std::string& encoded);

}  // namespace coditect::share_secret
