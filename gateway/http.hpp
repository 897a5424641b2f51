// PG-free: a request as the gateway reads it and the response it answers, independent of the
// HTTP server library.
#pragma once

#include <optional>
#include <string>
#include <string_view>
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
  // Every header as sent (names lower-cased), for what operations read by name.
  std::vector<std::pair<std::string, std::string>> headers;
  // The value of a header (name in any case), or nullopt when absent.
  std::optional<std::string> header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string tenant;     // for the log
  std::string note;       // for the log: why a 5xx / 503
  bool streamed = false;  // already written through a BodySink: nothing more to send
};

// Where a streamed answer (a file download) is written: the head, then the body in pieces,
// each sent before the next is read, so memory holds one piece at a time.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // The status line and headers (with Content-Length); false when the client is gone.
  virtual bool head(const HttpResponse& r, long long content_length) = 0;
  // False when the client is gone or too slow.
  virtual bool write(const char* data, size_t size) = 0;
  // The body cannot be completed: the connection is closed, so the client sees it cut short.
  virtual void abort() = 0;
};

}  // namespace coditect::gateway
