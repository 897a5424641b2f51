#include "pipeline.hpp"

#include <arpa/inet.h>
#include <strings.h>

#include "audit_events.hpp"

namespace coditect::gateway {

namespace {

using json = nlohmann::json;

constexpr int kMaxJsonDepth = 64;

Failure unauthorized(const std::string& detail, bool token_given) {
  Failure f = fail(401, detail);
  // The detail can quote the token (its alg): no quote may end the quoted string, no control
  // character the header.
  std::string desc;
  for (char c : header_value(detail)) desc.push_back(c == '"' || c == '\\' ? '\'' : c);
  f.headers.emplace_back("WWW-Authenticate",
                         token_given ? "Bearer realm=\"coditect\", error=\"invalid_token\", "
                                       "error_description=\"" +
                                           desc + "\""
                                     : std::string("Bearer realm=\"coditect\""));
  return f;
}

bool valid_ip(const std::string& ip) {
  unsigned char buf[16];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

std::optional<std::string> peer_ip(const HttpRequest& req) {
  return valid_ip(req.peer_ip) ? std::optional<std::string>(req.peer_ip) : std::nullopt;
}

// A JSON body object, nested at most kMaxJsonDepth deep, without NUL characters.
Step<json> parse_body(const std::string& body) {
  bool too_deep = false;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  };
  json j;
  try {
    j = json::parse(body, cb, true, false);
  } catch (const json::out_of_range&) {
    return fail(400, "a number in the JSON body is out of range");
  } catch (const json::exception&) {
    return fail(400, "malformed JSON body");
  }
  if (too_deep) return fail(400, "the JSON body is nested too deeply");
  if (!j.is_object()) return fail(400, "the request body must be a JSON object");
  if (json_has_nul(j))
    return fail(400, "a string in the JSON body contains a NUL character (\\u0000)");
  return j;
}

bool has_type(const json& v, const std::string& t) {
  if (t == "string") return v.is_string();
  if (t == "integer") return v.is_number_integer();
  if (t == "number") return v.is_number();
  if (t == "boolean") return v.is_boolean();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  return true;
}

std::string article(const std::string& t) {
  return (t == "integer" || t == "object" || t == "array") ? "an " + t : "a " + t;
}

// One body field as text: a string as is, any other JSON value as JSON. The query's value
// when also_query (the same in both when both are given).
Step<std::optional<std::string>> field_value(const Param& p, const json& body, const ListQuery& q) {
  std::optional<std::string> value;
  auto it = body.find(p.name);
  if (it != body.end() && !it->is_null()) {
    if (!has_type(*it, p.type.json_type))
      return fail(400, "field \"" + p.name + "\" must be " + article(p.type.json_type));
    value = it->is_string() ? it->get<std::string>() : it->dump();
  } else if (it != body.end() && !p.type.nullable) {
    return fail(400, "field \"" + p.name + "\" must not be null");
  }
  for (const auto& [k, v] : q.fields) {
    if (k != p.name) continue;
    if (value && *value != v)
      return fail(400, "field \"" + p.name + "\" differs between the body and the query");
    value = v;
  }
  if (!value && p.required) return fail(400, "field \"" + p.name + "\" is required");
  if (value && p.type.format == "uuid" && !is_uuid(*value))
    return fail(400, "field \"" + p.name + "\" must be a UUID");
  return value;
}

QuerySpec query_spec(const Route& route) {
  QuerySpec s;
  for (const auto& p : route.op.params) {
    switch (p.from) {
      case Source::Page:
        s.page = true;
        break;
      case Source::PageSize:
        s.page_size = true;
        break;
      case Source::Cursor:
        s.cursor = true;
        break;
      case Source::Ordering:
        s.ordering = true;
        break;
      case Source::Search:
        s.search = true;
        break;
      case Source::Filters:
        s.filters = true;
        break;
      case Source::BodyField:
        if (p.also_query) s.fields.push_back(p.name);
        break;
      default:
        break;
    }
  }
  if (route.resource) {
    s.default_page_size = route.resource->page_size;
    s.max_page_size = route.resource->max_page_size;
    s.keyset_default = route.resource->keyset_default;
  }
  return s;
}

bool reads_body(const Operation& op) {
  for (const auto& p : op.params)
    if (p.from == Source::Body || p.from == Source::BodyField || p.from == Source::TokenEmail)
      return true;
  return false;
}

// A body is needed when the whole body is a param, or a required field has no other source.
bool needs_body(const Operation& op) {
  for (const auto& p : op.params)
    if (p.from == Source::Body || (p.from == Source::BodyField && p.required && !p.also_query))
      return true;
  return false;
}

}  // namespace

std::optional<std::string> HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), name.size()) == 0) return v;
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> head_fields(const std::string& head) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    size_t start = pos + 2, eol = head.find("\r\n", start);
    if (eol == std::string::npos || eol == start) break;
    pos = eol;
    size_t colon = head.find(':', start);
    if (colon == std::string::npos || colon > eol) continue;
    std::string name = head.substr(start, colon - start),
                value = head.substr(colon + 1, eol - colon - 1);
    for (auto& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

Failure fail(int status, std::string detail) {
  return Failure{gateway_problem(status, std::move(detail)), {}, {}};
}

std::string printable(const std::string& s, size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

HttpResponse failure_response(const Failure& f, const std::string& path) {
  HttpResponse r;
  r.status = f.problem.status;
  r.content_type = "application/problem+json";
  r.body = problem_json(f.problem, path);
  r.headers = f.headers;
  if (f.problem.status == 503) r.headers.emplace_back("Retry-After", "1");
  r.note = f.note;
  return r;
}

long body_limit(const RouteTable& table, const std::string& method, const std::string& path,
                long max_body_bytes, long max_octets_bytes) {
  RouteMatch m = table.match(method == "HEAD" ? "GET" : method, path);
  return m.route && m.route->op.takes(Source::BodyOctets) ? max_octets_bytes : max_body_bytes;
}

Step<RouteMatch> match_request(const RouteTable& table, const HttpRequest& req, long max_body_bytes,
                               long max_octets_bytes) {
  // A NUL, raw or escaped, would cut the text short where it reaches libpq as a C string.
  if (req.path.find('\0') != std::string::npos || req.path.find("%00") != std::string::npos)
    return fail(400, "the path contains a NUL character");
  RouteMatch m = table.match(req.method, req.path);
  if (!m.path_known) return fail(404, "no such endpoint: " + printable(req.path, 200));
  if (!m.route) {
    std::string allow;
    for (const auto& a : m.allowed) allow += (allow.empty() ? "" : ", ") + a;
    Failure f = fail(405, "method " + printable(req.method, 16) +
                              " is not allowed here (allowed: " + allow + ")");
    f.headers.emplace_back("Allow", allow);
    return f;
  }
  long limit = m.route->op.takes(Source::BodyOctets) && max_octets_bytes >= 0 ? max_octets_bytes
                                                                              : max_body_bytes;
  if (static_cast<long>(req.body.size()) > limit)
    return fail(413, "the request body is larger than " + std::to_string(limit) + " bytes");
  return m;
}

Step<TokenClaims> authenticate(const Route& route, const HttpRequest& req,
                               const TokenVerifier& verifier) {
  if (route.op.auth == Auth::None) return TokenClaims{};
  const std::string& h = req.authorization;
  if (h.empty()) return unauthorized("a bearer token is required", false);
  if (h.size() < 7 || strncasecmp(h.c_str(), "Bearer ", 7) != 0)
    return unauthorized("the Authorization header must be \"Bearer <token>\"", true);
  std::string token = h.substr(7);
  while (!token.empty() && token.front() == ' ') token.erase(0, 1);
  while (!token.empty() && token.back() == ' ') token.pop_back();
  VerifyResult v = verifier.verify(token);
  if (!v.ok) return unauthorized(v.error, true);
  v.claims.token_sha256 = token_sha256(token);
  // A UUID subject is a user id (see "Tokens" in README.md): that identity is a user already.
  if (route.op.auth == Auth::Register && is_uuid(v.claims.sub))
    return fail(409, "this identity is already registered (its subject is a user id)");
  return std::move(v.claims);
}

Step<PlannedCall> build_call(const Route& route, const RouteMatch& match, const HttpRequest& req,
                             const TokenClaims& claims) {
  for (const auto& [name, value] : match.path_params)
    if (!is_uuid(value))
      return fail(400, "invalid id \"" + printable(value, 64) + "\": expected a UUID");
  if (!req.query_ok) return fail(400, "malformed query string (bad escape, NUL or invalid UTF-8)");
  if (auto k = repeated_key(req.query))
    return fail(400, "query parameter \"" + printable(*k, 64) + "\" is given more than once");
  PlannedCall planned;
  if (auto err = parse_list_query(req.query, query_spec(route), planned.list))
    return fail(400, *err);
  const ListQuery& q = planned.list;

  const Operation& op = route.op;
  json body = json::object();
  if (reads_body(op)) {
    bool blank = req.body.find_first_not_of(" \t\r\n") == std::string::npos;
    if (blank && needs_body(op)) return fail(400, "a JSON object body is required");
    if (!blank) {
      Step<json> parsed = parse_body(req.body);
      if (failed(parsed)) return std::get<Failure>(parsed);
      body = std::move(std::get<json>(parsed));
    }
    if (!op.takes(Source::Body)) {
      // Only the declared fields: anything else would be silently dropped.
      for (auto it = body.begin(); it != body.end(); ++it) {
        bool known = false;
        for (const auto& p : op.params)
          known = known || ((p.from == Source::BodyField || p.from == Source::TokenEmail) &&
                            p.name == it.key());
        if (!known) return fail(400, "unknown field \"" + printable(it.key(), 64) + "\"");
      }
    }
  }

  DbCall& call = planned.call;
  call.statement = op.operation_id;
  call.sql = op.sql;
  using Value = std::optional<std::string>;
  for (const auto& p : op.params) {
    switch (p.from) {
      case Source::Path: {
        Value v;
        for (const auto& [name, value] : match.path_params)
          if (name == p.name) v = value;
        call.params.push_back(v);
        break;
      }
      case Source::Filters:
        call.params.emplace_back(q.filters.dump());
        break;
      case Source::Page:
        call.params.push_back(q.page ? Value(std::to_string(*q.page)) : std::nullopt);
        break;
      case Source::PageSize:
        call.params.emplace_back(std::to_string(q.page_size));
        break;
      case Source::Cursor:
        call.params.push_back(q.cursor);
        break;
      case Source::Ordering:
        call.params.push_back(q.ordering);
        break;
      case Source::Search:
        call.params.push_back(q.search);
        break;
      case Source::Body:
        call.params.emplace_back(req.body);  // checked above: a JSON object
        break;
      case Source::BodyField: {
        auto v = field_value(p, body, q);
        if (failed(v)) return std::get<Failure>(v);
        call.params.push_back(std::move(std::get<Value>(v)));
        break;
      }
      case Source::IfMatch:
        if (req.if_match.find('\0') != std::string::npos)
          return fail(400, "the If-Match header contains a NUL character");
        call.params.push_back(req.if_match.empty() ? std::nullopt : Value(req.if_match));
        break;
      case Source::ClientIp:
        call.params.push_back(peer_ip(req));
        break;
      case Source::UserAgent:
        call.params.emplace_back(printable(req.user_agent, 500));
        break;
      case Source::TokenSub:
        call.params.emplace_back(claims.sub);
        break;
      case Source::Header: {
        auto v = req.header(p.name);
        if (v && v->find('\0') != std::string::npos)
          return fail(400, "the " + printable(p.name, 64) + " header contains a NUL character");
        call.params.push_back(v);
        break;
      }
      case Source::BodyOctets:
        call.binary.resize(op.params.size(), false);
        call.binary[call.params.size()] = true;
        call.params.emplace_back(req.body);
        break;
      case Source::TokenEmail: {
        Value e = claims.email;
        auto it = body.find(p.name);
        if (!e && it != body.end() && !it->is_null()) {
          if (!it->is_string()) return fail(400, "field \"" + p.name + "\" must be a string");
          e = it->get<std::string>();
        }
        call.params.push_back(e);
        break;
      }
    }
  }
  return planned;
}

Step<Context> context_call(const TokenClaims& claims, const std::optional<json>& who,
                           const HttpRequest& req) {
  std::optional<std::string> user, role = claims.role, tenant = claims.tenant_id;
  if (is_uuid(claims.sub)) {
    user = claims.sub;
  } else {
    // A Firebase uid: its user, tenant and membership role.
    if (!who || !who->is_object())
      return unauthorized("this identity is not registered (POST /api/v1/auth/register)", true);
    user = who->value("user_id", std::string());
    if (!tenant && (*who)["tenant_id"].is_string()) tenant = (*who)["tenant_id"].get<std::string>();
    // No active membership: no role. "guest" never raises anything, and the database then
    // refuses the context (CD403) as for any user without an active membership.
    if (!role) role = (*who)["role"].is_string() ? (*who)["role"].get<std::string>() : "guest";
  }
  if (!tenant) return unauthorized("the token has no tenant_id claim", true);
  if (!is_uuid(*tenant)) return unauthorized("the token's tenant_id claim is not a UUID", true);
  if (!role) return unauthorized("the token has no role claim", true);
  Context c;
  c.tenant = *tenant;
  const auto& fixed = fixed_statements();
  for (const auto& [name, sql] : fixed)
    if (name == "gw:set_context") c.call = DbCall{name, sql, {}, {}};
  c.call.params = {
      tenant,
      user,
      role,
      peer_ip(req),
      printable(req.user_agent, 500),
      req.method,
      printable(req.path, 1000),
      req.request_id.empty() ? std::nullopt : std::optional<std::string>(req.request_id)};
  return c;
}

HttpResponse respond(const Route& route, const PlannedCall& planned, const DbOutcome& o,
                     const std::string& public_url, const std::string& path) {
  if (o.kind == DbOutcome::Kind::Unavailable) {
    Failure f = fail(503, "the database is unavailable; retry later");
    f.note = o.why;
    return failure_response(f, path);
  }
  if (o.kind == DbOutcome::Kind::Error) {
    Failure f{problem_from_db_error(o.error.sqlstate, o.error.message, o.error.hint,
                                    o.error.constraint, o.error.column),
              {},
              {}};
    if (f.problem.status >= 500 || f.problem.status == 400)
      f.note = o.error.sqlstate + " " + o.error.message;
    return failure_response(f, path);
  }
  const Operation& op = route.op;
  if (op.null_answer_detail && !o.value)
    return failure_response(fail(404, *op.null_answer_detail), path);
  HttpResponse r;
  r.status = op.status;
  switch (op.result) {
    case ResultKind::Void:
      r.content_type.clear();
      break;
    case ResultKind::List: {
      json dbr = json::parse(o.value.value_or("null"), nullptr, false);
      if (!dbr.is_object()) {
        Failure f = fail(500, "internal error");
        f.note = "list function answered no object";
        return failure_response(f, path);
      }
      r.body = list_envelope(std::move(dbr), planned.list, public_url, path)
                   .dump(-1, ' ', false, json::error_handler_t::replace);
      break;
    }
    default:
      r.body = o.value.value_or("null");
  }
  if (op.etag && o.etag) r.headers.emplace_back("ETag", *o.etag);
  return r;
}

}  // namespace coditect::gateway
