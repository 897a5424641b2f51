// PG-free: a request as the gateway reads it and the response it answers, independent of the
// HTTP server library.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "query.hpp"

namespace coditect::gateway {

struct HttpRequest {
  std::string method;
  std::string path;      // without the query
  Params query;          // decoded
  bool query_ok = true;  // false: a malformed escape in the query
  std::string body;
  std::string peer_ip;
  // Header values (only the ones the gateway reads). Host and X-Forwarded-* are not read: the
  // client chooses them. request_id is the one the gateway answers with (the client's
  // X-Request-Id when well-formed, else a new one).
  std::string authorization, user_agent, request_id, if_match;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string tenant;  // for the log
  std::string note;    // for the log: why a 5xx / 503
};

}  // namespace coditect::gateway
