// PG-free: the route table (every endpoint and the one stored function behind it), matching
// of method and path, and the OpenAPI 3.1 document generated from the table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "query.hpp"

namespace coditect::gateway {

enum class Auth {
  None,      // public
  Bearer,    // a verified token; the request context is set from its claims
  Register,  // a verified token whose subject need not be a user yet; no request context
};

// Where each $n of a route's SQL comes from.
enum class Arg {
  PathId,         // first {id} of the path
  PathId2,        // second id ({member_id})
  Filters,        // the filters object built from the query (jsonb)
  Page,           // ?page= (NULL for keyset pages)
  PageSize,       // ?page_size=
  Cursor,         // ?cursor=
  Body,           // the JSON body object (jsonb)
  KeyString,      // body "key_string"
  HardwareId,     // body "hardware_id"
  SessionId,      // body "session_id" (or ?session_id= for DELETE)
  ClientIp,       // the peer's address
  UserAgent,      // User-Agent header
  RegSubject,     // the token's sub
  RegEmail,       // the token's email claim, else body "email"
  RegTenantName,  // body "tenant_name"
  RegTenantSlug,  // body "tenant_slug"
};

enum class ResultKind {
  Json,    // the function's jsonb, as is
  List,    // {count, results, next_cursor} -> {count, next, previous, results}
  Void,    // 204 No Content
  Health,  // GET /health/
  Schema,  // GET /api/schema/
};

struct Route {
  std::string method;        // GET, POST, PUT, PATCH, DELETE
  std::string path;          // "/api/v1/projects/{id}/"
  std::string operation_id;  // also the prepared statement's name
  std::string tag;
  std::string summary;
  Auth auth = Auth::Bearer;
  std::string sql;  // one statement calling one stored function; empty for Schema
  std::vector<Arg> args;
  ResultKind result = ResultKind::Json;
  int success_status = 200;
  ListSpec list;                         // for ResultKind::List
  std::string request_schema;            // components/schemas name, or empty (no body)
  std::string response_schema;           // components/schemas name of the answer (or of one item)
  std::vector<std::string> body_fields;  // for scalar-argument functions: the allowed fields
  bool read_only() const { return method == "GET"; }
};

const std::vector<Route>& routes();

struct RouteMatch {
  const Route* route = nullptr;       // the route, when method and path match
  std::vector<std::string> path_ids;  // values of {id}, {member_id}
  bool path_known = false;            // some route has this path (405 rather than 404)
  std::vector<std::string> allowed;   // the methods of that path
};

// Paths match with or without the trailing slash.
RouteMatch match_route(std::string_view method, std::string_view path);

// OpenAPI 3.1 from the route table. server_url: "http://127.0.0.1:8080" (may be empty).
nlohmann::json openapi_document(const std::string& server_url);

}  // namespace coditect::gateway
