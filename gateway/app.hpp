// The gateway's request handling, independent of the HTTP server library: route, authenticate,
// turn the request into one stored function call, map the answer or the error.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "db.hpp"
#include "jwt_auth.hpp"
#include "query.hpp"

namespace coditect::gateway {

struct HttpRequest {
  std::string method;
  std::string path;      // without the query
  Params query;          // decoded
  bool query_ok = true;  // false: a malformed escape in the query
  std::string body;
  std::string peer_ip;
  // Header values by lower-case name (only the ones the gateway reads). Host and
  // X-Forwarded-* are not read: the client chooses them. request_id is the one the gateway
  // answers with (the client's X-Request-Id when well-formed, else a new one).
  std::string authorization, user_agent, request_id;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string tenant;  // for the log
  std::string note;    // for the log: why a 5xx / 503
};

class App {
 public:
  App(Config config, std::unique_ptr<Database> db);
  HttpResponse handle(const HttpRequest& req);
  const Config& config() const { return config_; }

  // Reads the key file again (SIGHUP), e.g. after the identity provider rotated its keys. On
  // an error the keys in use stay and the error is returned.
  bool reload_keys(std::string* error);

  // Shutdown: once draining, new requests are refused (503, connection closed) while the ones
  // in flight finish; wait_idle returns when none is left or the deadline passes.
  void start_draining() { draining_ = true; }
  bool draining() const { return draining_; }
  void request_started() { ++in_flight_; }
  void request_finished() { --in_flight_; }
  bool wait_idle(std::chrono::milliseconds deadline);

 private:
  Config config_;
  std::shared_ptr<const TokenVerifier> verifier_;  // swapped by reload_keys
  std::unique_ptr<Database> db_;
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
};

// (name, SQL) of every statement the gateway prepares.
std::vector<std::pair<std::string, std::string>> gateway_statements();

// A request id: the client's when sane ([A-Za-z0-9._:-], 1..128), else a new UUIDv7.
std::string request_id_for(const std::string& incoming);

}  // namespace coditect::gateway
