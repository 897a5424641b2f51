#include "idempotency.hpp"

#include <openssl/sha.h>

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace coditect::gateway {

namespace {

using json = nlohmann::json;

DbCall fixed(const std::string& name, std::vector<std::optional<std::string>> params) {
  for (const auto& [n, sql] : fixed_statements())
    if (n == name) return DbCall{n, sql, std::move(params), {}};
  throw std::logic_error("no statement " + name);
}

void field(std::string& out, const std::string& s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

}  // namespace

bool takes_idempotency_key(const Operation& op) {
  return op.method == "POST" && op.auth == Auth::Bearer && op.protocol == Protocol::Json &&
         !op.takes(Source::BodyOctets);
}

Step<std::optional<IdempotentRequest>> idempotency_key(const Operation& op,
                                                       const HttpRequest& req) {
  if (req.method != "POST") return std::optional<IdempotentRequest>{};
  auto v = req.header(kIdempotencyKeyHeader);
  if (!v) return std::optional<IdempotentRequest>{};
  if (!takes_idempotency_key(op))
    return fail(400, std::string("this endpoint does not take an Idempotency-Key (") +
                         (op.auth != Auth::Bearer ? "a public or registration POST" : "an upload") +
                         "): send the request without it");
  bool ok = !v->empty() && v->size() <= 255;
  for (char c : *v) ok = ok && c >= 0x20 && c <= 0x7e;
  if (!ok)
    return fail(400, "the Idempotency-Key header must be 1 to 255 printable ASCII characters");
  return std::optional<IdempotentRequest>{IdempotentRequest{*v, request_sha256(req)}};
}

std::string request_sha256(const HttpRequest& req) {
  std::string canonical;
  field(canonical, req.method);
  field(canonical, req.path);
  canonical += std::to_string(req.query.size()) + "#";
  for (const auto& [name, value] : req.query) {
    field(canonical, name);
    field(canonical, value);
  }
  field(canonical, req.body);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

DbCall lookup_call(const IdempotentRequest& k) {
  return fixed("gw:idempotency_lookup", {k.key, k.request_sha256});
}

DbCall claim_call(const IdempotentRequest& k) {
  return fixed("gw:idempotency_claim", {k.key, k.request_sha256});
}

DbCall finish_call(const IdempotentRequest& k, const HttpResponse& answer, bool secret) {
  if (secret)
    return fixed("gw:idempotency_finish", {k.key, std::to_string(answer.status), std::nullopt,
                                           std::nullopt, std::nullopt, "true"});
  json headers = json::array();
  for (const auto& [name, value] : answer.headers) headers.push_back(json::array({name, value}));
  return fixed(
      "gw:idempotency_finish",
      {k.key, std::to_string(answer.status), answer.content_type,
       headers.dump(-1, ' ', false, json::error_handler_t::replace), answer.body, "false"});
}

bool key_taken(const DbOutcome& o) {
  return o.kind == DbOutcome::Kind::Error && o.error.sqlstate == "CD409" &&
         o.error.constraint == "idempotency_key_taken";
}

Step<HttpResponse> replayed(const std::string& stored) {
  json j = json::parse(stored, nullptr, false);
  auto broken = [] {
    Failure f = fail(500, "internal error");
    f.note = "a stored idempotent answer is unreadable";
    return f;
  };
  if (!j.is_object() || !j["status"].is_number_integer() || !j["content_type"].is_string() ||
      !j["headers"].is_array() || !j["body"].is_string())
    return broken();
  HttpResponse r;
  r.status = j["status"].get<int>();
  r.content_type = j["content_type"].get<std::string>();
  r.body = j["body"].get<std::string>();
  for (const auto& h : j["headers"]) {
    if (!h.is_array() || h.size() != 2 || !h[0].is_string() || !h[1].is_string()) return broken();
    r.headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
  }
  r.headers.emplace_back(kReplayedHeader, "true");
  return r;
}

}  // namespace coditect::gateway
