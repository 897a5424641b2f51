#include "audit_events.hpp"

#include <openssl/sha.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "routes.hpp"

namespace coditect::gateway {

namespace {

DbCall fixed(const std::string& name, std::vector<std::optional<std::string>> params) {
  for (const auto& [n, sql] : fixed_statements())
    if (n == name) return DbCall{n, sql, std::move(params), {}};
  throw std::logic_error("no statement " + name);
}

// Seconds since the epoch as PostgreSQL's to_timestamp(float8) reads them.
std::string seconds_text(double s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", s);
  return buf;
}

bool problem_code(const std::string& s) {
  if (s.size() != 5) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return false;
  return true;
}

}  // namespace

std::string token_sha256(std::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

bool SeenTokens::seen(const std::string& hash) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(hash);
  if (it == index_.end()) return false;
  order_.splice(order_.begin(), order_, it->second);
  return true;
}

void SeenTokens::remember(const std::string& hash) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(hash);
  if (it != index_.end()) {
    order_.splice(order_.begin(), order_, it->second);
    return;
  }
  order_.push_front(hash);
  index_.emplace(hash, order_.begin());
  while (order_.size() > capacity_) {
    index_.erase(order_.back());
    order_.pop_back();
  }
}

std::size_t SeenTokens::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return order_.size();
}

std::optional<DbCall> login_call(const TokenClaims& claims) {
  if (claims.token_sha256.empty()) return std::nullopt;
  return fixed("gw:record_login",
               {claims.token_sha256,
                claims.issued_at ? std::optional<std::string>(seconds_text(*claims.issued_at))
                                 : std::nullopt,
                seconds_text(claims.expires_at)});
}

std::optional<DbCall> outcome_call(const HttpResponse& response) {
  const int s = response.status;
  if (s != 403 && (s < 500 || s > 599 || s == 503)) return std::nullopt;
  std::optional<std::string> code;
  auto j = nlohmann::json::parse(response.body, nullptr, false);
  if (j.is_object() && j["code"].is_string() && problem_code(j["code"].get<std::string>()))
    code = j["code"].get<std::string>();
  return fixed("gw:audit_outcome", {std::to_string(s), code});
}

}  // namespace coditect::gateway
