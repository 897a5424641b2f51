// The gateway's request handling, independent of the HTTP server library: the pipeline's
// stages (pipeline.hpp) around the database, and the current API generation.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "api.hpp"
#include "audit_events.hpp"
#include "config.hpp"
#include "db.hpp"
#include "http.hpp"
#include "idempotency.hpp"
#include "jwt_auth.hpp"
#include "pipeline.hpp"

namespace coditect::gateway {

class App {
 public:
  App(Config config, std::unique_ptr<Database> db, std::shared_ptr<const Api> api);
  // sink: where a streamed answer (a file) is written; without one such routes answer 500.
  HttpResponse handle(const HttpRequest& req, BodySink* sink = nullptr);

  // The body limit of the route a request line reaches (raw-byte uploads have their own).
  // The request path as logged: a route with a secret path parameter (a share's token) is
  // logged as its template, so no secret reaches the log.
  std::string log_path(const std::string& method, const std::string& path) const;
  long body_limit(const std::string& method, const std::string& path) const;
  const Config& config() const { return config_; }

  // Reads the key file again (SIGHUP), e.g. after the identity provider rotated its keys. On
  // an error the keys in use stay and the error is returned.
  bool reload_keys(std::string* error);

  // Swaps in the API of a new catalog (SIGHUP, NOTIFY coditect_catalog). A catalog that does
  // not load leaves the current one (false, error). *changed: false when the text is the same.
  bool reload_catalog(const std::string& catalog_text, std::string* error, bool* changed);
  std::shared_ptr<const Api> api() const { return std::atomic_load(&api_); }

  // Shutdown: once draining, new requests are refused (503, connection closed) while the ones
  // in flight finish; wait_idle returns when none is left or the deadline passes.
  void start_draining() { draining_ = true; }
  bool draining() const { return draining_; }
  void request_started() { ++in_flight_; }
  void request_finished() { --in_flight_; }
  bool wait_idle(std::chrono::milliseconds deadline);

 private:
  Step<Context> request_context(const TokenClaims& claims, const HttpRequest& req,
                                std::uint64_t generation);
  HttpResponse health(const std::string& instance);
  // Audit events (audit_events.hpp), each in a short transaction after the request context:
  // the login of a token not seen yet, and a refused or failed answer.
  void record_login(const TokenClaims& claims, const DbCall& context, std::uint64_t generation);
  void record_outcome(const HttpResponse& r, const DbCall& context, std::uint64_t generation);
  // A POST with an Idempotency-Key (idempotency.hpp): the stored answer replayed, or the call
  // run with the key claimed before it and answer(outcome) recorded after it (its status only
  // when the answer holds a secret).
  HttpResponse run_idempotent(const IdempotentRequest& key, bool secret, const DbCall& context,
                              const DbCall& call,
                              const std::function<HttpResponse(const DbOutcome&)>& answer,
                              const std::string& instance, std::uint64_t generation);
  HttpResponse stream_content(const Route& route, const PlannedCall& planned,
                              std::vector<DbCall> calls, const HttpRequest& req, bool head_only,
                              BodySink* sink, const std::string& instance,
                              std::uint64_t generation);

  Config config_;
  std::shared_ptr<const TokenVerifier> verifier_;  // swapped by reload_keys
  std::unique_ptr<Database> db_;
  std::shared_ptr<const Api> api_;  // swapped by reload_catalog
  std::mutex reload_mu_;
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
  SeenTokens seen_tokens_{100000};  // about 10 MB at most
};

// A request id: the client's when sane ([A-Za-z0-9._:-], 1..128), else a new UUIDv7.
std::string request_id_for(const std::string& incoming);

}  // namespace coditect::gateway
