#include "app.hpp"

#include <arpa/inet.h>
#include <strings.h>
#include <openssl/rand.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "problem.hpp"
#include "routes.hpp"
#include "uuid7.hpp"

namespace coditect::gateway {

namespace {

using json = nlohmann::json;

constexpr int kMaxJsonDepth = 64;

HttpResponse problem_response(const Problem& p, const std::string& path) {
  HttpResponse r;
  r.status = p.status;
  r.content_type = "application/problem+json";
  r.body = problem_json(p, path);
  if (p.status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

HttpResponse fail(int status, std::string detail, const std::string& path) {
  return problem_response(gateway_problem(status, std::move(detail)), path);
}

HttpResponse unauthorized(const std::string& detail, const std::string& path, bool token_given) {
  HttpResponse r = fail(401, detail, path);
  // The detail can quote the token (its alg): no quote may end the quoted string, no control
  // character the header.
  std::string desc;
  for (char c : header_value(detail)) desc.push_back(c == '"' || c == '\\' ? '\'' : c);
  r.headers.emplace_back("WWW-Authenticate",
                         token_given ? "Bearer realm=\"coditect\", error=\"invalid_token\", "
                                       "error_description=\"" +
                                           desc + "\""
                                     : std::string("Bearer realm=\"coditect\""));
  return r;
}

// Printable ASCII only (a header is not trusted to be UTF-8).
std::string printable(const std::string& s, size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

bool valid_ip(const std::string& ip) {
  unsigned char buf[16];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

// Parses a JSON body; rejects nesting deeper than kMaxJsonDepth. nullopt + error on failure.
std::optional<json> parse_body(const std::string& body, std::string* error) {
  bool too_deep = false;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) {
      too_deep = true;
      return false;
    }
    return true;
  };
  try {
    json j = json::parse(body, cb, true, false);
    if (too_deep) {
      *error = "the JSON body is nested too deeply";
      return std::nullopt;
    }
    return j;
  } catch (const json::out_of_range&) {
    *error = "a number in the JSON body is out of range";
    return std::nullopt;
  } catch (const json::exception&) {
    *error = "malformed JSON body";
    return std::nullopt;
  }
}

}  // namespace

std::string request_id_for(const std::string& incoming) {
  if (!incoming.empty() && incoming.size() <= 128) {
    bool ok = true;
    for (char c : incoming)
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == ':');
    if (ok) return incoming;
  }
  static std::mutex mu;
  static coditect::Uuid7Generator gen;
  std::uint8_t random[coditect::Uuid7Generator::kRandomBytes];
  RAND_bytes(random, sizeof random);
  auto ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
  std::lock_guard<std::mutex> lock(mu);
  return coditect::uuid_to_string(gen.next(ms, random));
}

std::vector<std::pair<std::string, std::string>> gateway_statements() {
  std::vector<std::pair<std::string, std::string>> s;
  s.emplace_back("set_context",
                 "SELECT coditect.set_request_context($1::uuid, $2::uuid, $3::text, $4::inet, "
                 "$5::text, $6::text, $7::text, $8::text)");
  s.emplace_back("resolve_firebase_user", "SELECT coditect.resolve_firebase_user($1::text)::text");
  for (const auto& r : routes())
    if (!r.sql.empty()) s.emplace_back(r.operation_id, r.sql);
  return s;
}

namespace {

std::shared_ptr<const TokenVerifier> make_verifier(const Config& c) {
  JwtSettings js;
  js.hs256_secret = c.jwt_secret;
  if (!c.jwks_file.empty()) js.public_keys = load_public_keys_file(c.jwks_file);
  js.issuer = c.jwt_issuer;
  js.audience = c.jwt_audience;
  return std::make_shared<const TokenVerifier>(std::move(js));
}

}  // namespace

App::App(Config config, std::unique_ptr<Database> db)
    : config_(std::move(config)), verifier_(make_verifier(config_)), db_(std::move(db)) {}

bool App::reload_keys(std::string* error) {
  try {
    auto v = make_verifier(config_);
    std::atomic_store(&verifier_, v);
    return true;
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
}

bool App::wait_idle(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (in_flight_ > 0) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

HttpResponse App::handle(const HttpRequest& req) {
  const std::string& path = req.path;
  // A NUL, raw or escaped, would cut the text short where it reaches libpq as a C string.
  if (path.find('\0') != std::string::npos || path.find("%00") != std::string::npos)
    return fail(400, "the path contains a NUL character", printable(path, 1000));
  RouteMatch m = match_route(req.method, path);
  if (!m.path_known) return fail(404, "no such endpoint: " + printable(path, 200), path);
  if (!m.route) {
    std::string allow;
    for (const auto& a : m.allowed) allow += (allow.empty() ? "" : ", ") + a;
    HttpResponse r =
        fail(405, "method " + req.method + " is not allowed here (allowed: " + allow + ")", path);
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  const Route& route = *m.route;
  if (static_cast<long>(req.body.size()) > config_.max_request_bytes)
    return fail(
        413,
        "the request body is larger than " + std::to_string(config_.max_request_bytes) + " bytes",
        path);

  // Authentication first: nothing else is looked at for a caller without a valid token.
  TokenClaims claims;
  if (route.auth != Auth::None) {
    const std::string& h = req.authorization;
    if (h.empty()) return unauthorized("a bearer token is required", path, false);
    if (h.size() < 7 || strncasecmp(h.c_str(), "Bearer ", 7) != 0)
      return unauthorized("the Authorization header must be \"Bearer <token>\"", path, true);
    std::string token = h.substr(7);
    while (!token.empty() && token.front() == ' ') token.erase(0, 1);
    while (!token.empty() && token.back() == ' ') token.pop_back();
    VerifyResult v = std::atomic_load(&verifier_)->verify(token);
    if (!v.ok) return unauthorized(v.error, path, true);
    claims = std::move(v.claims);
    // A UUID subject is a user id (see "Tokens" in README.md): that identity is a user already.
    if (route.auth == Auth::Register && is_uuid(claims.sub))
      return fail(409, "this identity is already registered (its subject is a user id)", path);
  }

  for (const auto& id : m.path_ids)
    if (!is_uuid(id))
      return fail(400, "invalid id \"" + printable(id, 64) + "\": expected a UUID", path);
  if (!req.query_ok)
    return fail(400, "malformed query string (bad escape, NUL or invalid UTF-8)", path);
  if (auto k = repeated_key(req.query))
    return fail(400, "query parameter \"" + printable(*k, 64) + "\" is given more than once", path);

  // Query parameters.
  ListQuery lq;
  std::optional<std::string> query_session_id;
  if (route.result == ResultKind::List) {
    if (auto err = parse_list_query(req.query, route.list, lq)) return fail(400, *err, path);
  } else {
    for (const auto& [k, v] : req.query) {
      if (route.operation_id == "licenses_release" && k == "session_id")
        query_session_id = v;
      else
        return fail(400, "unknown query parameter \"" + printable(k, 64) + "\"", path);
    }
  }

  if (route.result == ResultKind::Schema) {
    HttpResponse r;
    r.body = openapi_document(config_.public_url).dump();
    return r;
  }
  if (route.result == ResultKind::Health) {
    DbOutcome o = db_->single(DbCall{"health", {}});
    HttpResponse r;
    if (o.kind == DbOutcome::Kind::Ok) {
      r.body = R"({"status":"ok","database":"ok"})";
    } else {
      r = fail(503, "the database is unavailable", path);
      r.note = o.why.empty() ? o.error.sqlstate : o.why;
    }
    return r;
  }

  // Body.
  bool wants_body = false;
  for (Arg a : route.args)
    if (a == Arg::Body || a == Arg::KeyString || a == Arg::HardwareId || a == Arg::SessionId ||
        a == Arg::RegTenantName || a == Arg::RegTenantSlug || a == Arg::RegEmail)
      wants_body = true;
  json body = json::object();
  if (wants_body) {
    bool blank = req.body.find_first_not_of(" \t\r\n") == std::string::npos;
    bool optional_body = route.operation_id == "licenses_release" && query_session_id;
    if (blank && !optional_body) return fail(400, "a JSON object body is required", path);
    if (!blank) {
      std::string error;
      auto parsed = parse_body(req.body, &error);
      if (!parsed) return fail(400, error, path);
      if (!parsed->is_object()) return fail(400, "the request body must be a JSON object", path);
      if (json_has_nul(*parsed))
        return fail(400, "a string in the JSON body contains a NUL character (\\u0000)", path);
      body = std::move(*parsed);
    }
    if (!route.body_fields.empty()) {
      for (auto it = body.begin(); it != body.end(); ++it) {
        bool known = false;
        for (const auto& f : route.body_fields) known = known || f == it.key();
        if (!known) return fail(400, "unknown field \"" + printable(it.key(), 64) + "\"", path);
        if (!it->is_string()) return fail(400, "field \"" + it.key() + "\" must be a string", path);
      }
    }
  }
  auto body_string = [&](const char* name) -> std::optional<std::string> {
    auto it = body.find(name);
    if (it == body.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };

  // Arguments of the function.
  DbCall call{route.operation_id, {}};
  for (Arg a : route.args) {
    switch (a) {
      case Arg::PathId:
        call.params.emplace_back(m.path_ids.at(0));
        break;
      case Arg::PathId2:
        call.params.emplace_back(m.path_ids.at(1));
        break;
      case Arg::Filters:
        call.params.emplace_back(lq.filters.dump());
        break;
      case Arg::Page:
        call.params.push_back(lq.page ? std::optional<std::string>(std::to_string(*lq.page))
                                      : std::nullopt);
        break;
      case Arg::PageSize:
        call.params.emplace_back(std::to_string(lq.page_size));
        break;
      case Arg::Cursor:
        call.params.push_back(lq.cursor);
        break;
      case Arg::Body:
        call.params.emplace_back(req.body);
        break;
      case Arg::KeyString:
        if (!body_string("key_string")) return fail(400, "field \"key_string\" is required", path);
        call.params.push_back(body_string("key_string"));
        break;
      case Arg::HardwareId:
        if (!body_string("hardware_id"))
          return fail(400, "field \"hardware_id\" is required", path);
        call.params.push_back(body_string("hardware_id"));
        break;
      case Arg::SessionId: {
        auto sid = body_string("session_id");
        if (sid && query_session_id && *sid != *query_session_id)
          return fail(400, "session_id differs between the body and the query", path);
        if (!sid) sid = query_session_id;
        if (!sid) return fail(400, "session_id is required", path);
        if (!is_uuid(*sid)) return fail(400, "session_id must be a UUID", path);
        call.params.push_back(sid);
        break;
      }
      case Arg::ClientIp:
        call.params.push_back(valid_ip(req.peer_ip) ? std::optional<std::string>(req.peer_ip)
                                                    : std::nullopt);
        break;
      case Arg::UserAgent:
        call.params.emplace_back(printable(req.user_agent, 500));
        break;
      case Arg::RegSubject:
        call.params.emplace_back(claims.sub);
        break;
      case Arg::RegEmail: {
        auto e = claims.email ? claims.email : body_string("email");
        call.params.push_back(e);
        break;
      }
      case Arg::RegTenantName:
        call.params.push_back(body_string("tenant_name"));
        break;
      case Arg::RegTenantSlug:
        call.params.push_back(body_string("tenant_slug"));
        break;
    }
  }

  // Who is calling: the request context.
  std::vector<DbCall> calls;
  std::string tenant;
  if (route.auth == Auth::Bearer) {
    std::optional<std::string> user, role = claims.role;
    std::optional<std::string> tenant_claim = claims.tenant_id;
    if (is_uuid(claims.sub)) {
      user = claims.sub;
    } else {
      // A Firebase uid: its user, tenant and membership role.
      DbOutcome o = db_->single(DbCall{"resolve_firebase_user", {claims.sub}});
      if (o.kind == DbOutcome::Kind::Unavailable) {
        HttpResponse r = fail(503, "the database is unavailable; retry later", path);
        r.note = o.why;
        return r;
      }
      if (o.kind == DbOutcome::Kind::Error) {
        HttpResponse r = problem_response(
            problem_from_db_error(o.error.sqlstate, o.error.message, o.error.hint), path);
        r.note = o.error.sqlstate + " " + o.error.message;
        return r;
      }
      if (!o.value)
        return unauthorized("this identity is not registered (POST /api/v1/auth/register)", path,
                            true);
      json who = json::parse(*o.value, nullptr, false);
      if (!who.is_object()) return fail(500, "internal error", path);
      user = who.value("user_id", std::string());
      if (!tenant_claim && who["tenant_id"].is_string())
        tenant_claim = who["tenant_id"].get<std::string>();
      // No active membership: no role. "guest" never raises anything, and the database then
      // refuses the context (CD403) as for any user without an active membership.
      if (!role) role = who["role"].is_string() ? who["role"].get<std::string>() : "guest";
    }
    if (!tenant_claim) return unauthorized("the token has no tenant_id claim", path, true);
    if (!is_uuid(*tenant_claim))
      return unauthorized("the token's tenant_id claim is not a UUID", path, true);
    if (!role) return unauthorized("the token has no role claim", path, true);
    tenant = *tenant_claim;
    calls.push_back(DbCall{
        "set_context",
        {tenant_claim, user, role,
         valid_ip(req.peer_ip) ? std::optional<std::string>(req.peer_ip) : std::nullopt,
         printable(req.user_agent, 500), req.method, printable(path, 1000),
         req.request_id.empty() ? std::nullopt : std::optional<std::string>(req.request_id)}});
  }
  calls.push_back(std::move(call));

  DbOutcome o = db_->transaction(route.read_only(), calls);
  HttpResponse r;
  r.tenant = tenant;
  if (o.kind == DbOutcome::Kind::Unavailable) {
    r = fail(503, "the database is unavailable; retry later", path);
    r.tenant = tenant;
    r.note = o.why;
    return r;
  }
  if (o.kind == DbOutcome::Kind::Error) {
    r = problem_response(problem_from_db_error(o.error.sqlstate, o.error.message, o.error.hint,
                                               o.error.constraint, o.error.column),
                         path);
    r.tenant = tenant;
    if (r.status >= 500 || r.status == 400) r.note = o.error.sqlstate + " " + o.error.message;
    return r;
  }
  r.status = route.success_status;
  switch (route.result) {
    case ResultKind::Void:
      r.body.clear();
      r.content_type.clear();
      break;
    case ResultKind::List: {
      json dbr = json::parse(o.value.value_or("null"), nullptr, false);
      if (!dbr.is_object()) {
        r = fail(500, "internal error", path);
        r.note = "list function answered no object";
        return r;
      }
      r.body = list_envelope(dbr, lq, config_.public_url, path)
                   .dump(-1, ' ', false, json::error_handler_t::replace);
      break;
    }
    default:
      r.body = o.value.value_or("null");
  }
  return r;
}

}  // namespace coditect::gateway
