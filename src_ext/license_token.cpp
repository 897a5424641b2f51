#include "license_token.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdint>
#include <stdexcept>

namespace coditect::license_token {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using Bio = std::unique_ptr<BIO, BioDeleter>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// Refuses to read encrypted keys instead of letting OpenSSL prompt on a terminal.
int no_passphrase(char*, int, int, void*) { return 0; }

std::int64_t unix_time(const nlohmann::json& j, const char* field) {
  const nlohmann::json& v = j.at(field);
  if (!v.is_number_integer() ||
      (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))) {
    throw std::invalid_argument(std::string("payload field ") + field + " must be an integer");
  }
  return v.get<std::int64_t>();
}

// The payload and signature parts of a token with exactly one dot.
bool split_token(std::string_view token, std::string_view* payload, std::string_view* signature) {
  auto dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos) {
    return false;
  }
  *payload = token.substr(0, dot);
  *signature = token.substr(dot + 1);
  return true;
}

Bio memory_bio(std::string_view data) {
  Bio bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) throw std::runtime_error("out of memory");
  return bio;
}

std::string raw_public(EVP_PKEY* key) {
  std::size_t len = 32;
  std::string raw(len, '\0');
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != 32) {
    throw std::runtime_error("not an Ed25519 key");
  }
  return raw;
}

bool ed25519_verify(std::string_view message, std::string_view signature,
                    std::string_view raw_public_key) {
  if (raw_public_key.size() != 32 || signature.size() != 64) return false;
  Pkey key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw_public_key.data()),
      32));
  MdCtx ctx(EVP_MD_CTX_new());
  if (!key || !ctx) return false;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

}  // namespace

struct Signer::Key {
  Pkey pkey;
};

std::string encode_payload(const Claims& c) {
  nlohmann::ordered_json j;
  j["lic"] = c.license_id;
  j["ten"] = c.tenant_id;
  j["tier"] = c.tier;
  j["feat"] = c.features;
  j["ses"] = c.session_id;
  j["hw"] = c.hardware_id;
  j["iat"] = c.issued_at;
  j["exp"] = c.expires_at;
  j["kid"] = c.key_id;
  // Invalid UTF-8 (impossible from a UTF-8 database) is replaced rather than thrown on.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Claims decode_payload(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw std::invalid_argument("payload is not a JSON object");
  try {
    Claims c;
    c.license_id = j.at("lic").get<std::string>();
    c.tenant_id = j.at("ten").get<std::string>();
    c.tier = j.at("tier").get<std::string>();
    c.features = j.at("feat").get<std::vector<std::string>>();
    c.session_id = j.at("ses").get<std::string>();
    c.hardware_id = j.at("hw").get<std::string>();
    c.issued_at = unix_time(j, "iat");
    c.expires_at = unix_time(j, "exp");
    c.key_id = j.at("kid").get<std::string>();
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("payload field missing or of the wrong type: ") +
                                e.what());
  }
}

std::vector<std::string> parse_features(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_array())
    throw std::invalid_argument("features must be a JSON array");
  std::vector<std::string> out;
  for (const auto& item : j) {
    if (!item.is_string()) throw std::invalid_argument("features must be strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    std::uint32_t n = (std::uint8_t(bytes[i]) << 16) | (std::uint8_t(bytes[i + 1]) << 8) |
                      std::uint8_t(bytes[i + 2]);
    out.push_back(kB64[(n >> 18) & 63]);
    out.push_back(kB64[(n >> 12) & 63]);
    out.push_back(kB64[(n >> 6) & 63]);
    out.push_back(kB64[n & 63]);
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = std::uint8_t(bytes[i]) << 16;
    if (rest == 2) n |= std::uint8_t(bytes[i + 1]) << 8;
    out.push_back(kB64[(n >> 18) & 63]);
    out.push_back(kB64[(n >> 12) & 63]);
    if (rest == 2) out.push_back(kB64[(n >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero, so every byte string has exactly one encoding.
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

Signer Signer::from_pem(std::string_view pem) {
  Bio bio = memory_bio(pem);
  Pkey pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!pkey) throw std::runtime_error("the signing key file does not hold a PEM private key");
  if (EVP_PKEY_id(pkey.get()) != EVP_PKEY_ED25519) {
    throw std::runtime_error("the signing key is not an Ed25519 key");
  }
  auto key = std::make_shared<Key>();
  key->pkey = std::move(pkey);
  return Signer(std::move(key));
}

std::string Signer::sign(std::string_view message) const {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) throw std::runtime_error("out of memory");
  std::size_t len = 64;
  std::string sig(len, '\0');
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      len != 64) {
    throw std::runtime_error("Ed25519 signing failed");
  }
  return sig;
}

std::string Signer::public_key() const { return raw_public(key_->pkey.get()); }

std::string Signer::public_key_pem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_->pkey.get()) != 1) {
    throw std::runtime_error("could not write the public key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string make_token(const Claims& claims, const Signer& signer) {
  std::string payload = encode_payload(claims);
  return base64url_encode(payload) + "." + base64url_encode(signer.sign(payload));
}

std::optional<std::string> key_id_of(std::string_view token) {
  std::string_view payload_part, signature_part;
  if (!split_token(token, &payload_part, &signature_part)) return std::nullopt;
  auto payload = base64url_decode(payload_part);
  if (!payload) return std::nullopt;
  try {
    return decode_payload(*payload).key_id;
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

Verification verify(std::string_view token, std::string_view raw_public_key, std::int64_t now) {
  Verification v;
  std::string_view payload_part, signature_part;
  if (!split_token(token, &payload_part, &signature_part)) return v;
  auto payload = base64url_decode(payload_part);
  auto signature = base64url_decode(signature_part);
  if (!payload || !signature) return v;
  try {
    v.claims = decode_payload(*payload);
  } catch (const std::invalid_argument&) {
    return v;
  }
  if (!ed25519_verify(*payload, *signature, raw_public_key)) {
    v.verdict = Verdict::BadSignature;
  } else if (now >= v.claims.expires_at) {
    v.verdict = Verdict::Expired;
  } else {
    v.verdict = Verdict::Valid;
  }
  return v;
}

std::string raw_public_key_from_pem(std::string_view pem) {
  Bio bio = memory_bio(pem);
  Pkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    Bio again = memory_bio(pem);
    key.reset(PEM_read_bio_PrivateKey(again.get(), nullptr, no_passphrase, nullptr));
  }
  if (!key || EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) {
    throw std::runtime_error("not a PEM Ed25519 key");
  }
  return raw_public(key.get());
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Valid:
      return "valid";
    case Verdict::Malformed:
      return "malformed";
    case Verdict::BadSignature:
      return "bad_signature";
    case Verdict::Expired:
      return "expired";
  }
  return "unknown";
}

}  // namespace coditect::license_token
