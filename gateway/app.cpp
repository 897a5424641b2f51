#include "app.hpp"

#include <openssl/rand.h>

#include <thread>

#include "protocol.hpp"
#include "uuid7.hpp"

namespace coditect::gateway {

namespace {

std::shared_ptr<const TokenVerifier> make_verifier(const Config& c) {
  JwtSettings js;
  js.hs256_secret = c.jwt_secret;
  if (!c.jwks_file.empty()) js.public_keys = load_public_keys_file(c.jwks_file);
  js.issuer = c.jwt_issuer;
  js.audience = c.jwt_audience;
  return std::make_shared<const TokenVerifier>(std::move(js));
}

DbCall fixed_call(const std::string& name, std::vector<std::optional<std::string>> params) {
  for (const auto& [n, sql] : fixed_statements())
    if (n == name) return DbCall{n, sql, std::move(params), {}};
  throw std::logic_error("no statement " + name);
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

App::App(Config config, std::unique_ptr<Database> db, std::shared_ptr<const Api> api)
    : config_(std::move(config)),
      verifier_(make_verifier(config_)),
      db_(std::move(db)),
      api_(std::move(api)) {}

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

bool App::reload_catalog(const std::string& text, std::string* error, bool* changed) {
  std::lock_guard<std::mutex> lock(reload_mu_);  // SIGHUP and NOTIFY may come together
  auto current = api();
  *changed = text != current->catalog_text;
  if (!*changed) return true;
  try {
    std::atomic_store(&api_, load_api(text, current->generation + 1, config_.public_url));
    return true;
  } catch (const std::exception& e) {
    *error = e.what();
    *changed = false;
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

HttpResponse App::health(const std::string& instance) {
  DbOutcome o = db_->single(fixed_call("gw:health", {}), api()->generation);
  if (o.kind == DbOutcome::Kind::Ok) {
    HttpResponse r;
    r.body = R"({"status":"ok","database":"ok"})";
    return r;
  }
  Failure f = fail(503, "the database is unavailable");
  f.note = o.why.empty() ? o.error.sqlstate : o.why;
  return failure_response(f, instance);
}

Step<Context> App::request_context(const TokenClaims& claims, const HttpRequest& req,
                                   std::uint64_t generation) {
  std::optional<nlohmann::json> who;
  if (!is_uuid(claims.sub)) {
    DbOutcome o = db_->single(fixed_call("gw:resolve_firebase_user", {claims.sub}), generation);
    if (o.kind == DbOutcome::Kind::Unavailable) {
      Failure f = fail(503, "the database is unavailable; retry later");
      f.note = o.why;
      return f;
    }
    if (o.kind == DbOutcome::Kind::Error) {
      Failure f{problem_from_db_error(o.error.sqlstate, o.error.message, o.error.hint), {}, {}};
      f.note = o.error.sqlstate + " " + o.error.message;
      return f;
    }
    if (o.value) {
      who = nlohmann::json::parse(*o.value, nullptr, false);
      if (!who->is_object()) return fail(500, "internal error");
    }
  }
  return context_call(claims, who, req);
}

void App::record_login(const TokenClaims& claims, const DbCall& context, std::uint64_t generation) {
  auto call = login_call(claims);
  if (!call || seen_tokens_.seen(claims.token_sha256)) return;
  // Remembered once the database has it; a failure (the request then fails too) tries again.
  DbOutcome o = db_->transaction(false, {context, *call}, generation);
  if (o.kind == DbOutcome::Kind::Ok) seen_tokens_.remember(claims.token_sha256);
}

void App::record_outcome(const HttpResponse& r, const DbCall& context, std::uint64_t generation) {
  auto call = outcome_call(r);
  if (call) db_->transaction(false, {context, *call}, generation);
}

std::string App::log_path(const std::string& method, const std::string& path) const {
  RouteMatch m = api()->routes.match(method == "HEAD" ? "GET" : method, path);
  if (m.route)
    for (const auto& p : m.route->op.params)
      if (p.secret) return m.route->op.path;
  return path;
}

long App::body_limit(const std::string& method, const std::string& path) const {
  return coditect::gateway::body_limit(api()->routes, method, path, config_.max_request_bytes,
                                       config_.max_upload_chunk_bytes);
}

HttpResponse App::stream_content(const Route& route, const PlannedCall& planned,
                                 std::vector<DbCall> calls, const HttpRequest& req, bool head_only,
                                 BodySink* sink, const std::string& instance,
                                 std::uint64_t generation) {
  DbCall read = fixed_call("gw:content_read", {});
  read.binary = {false, false, false};
  HttpResponse result;
  DbOutcome o = db_->read_session(
      route.op.read_only(), calls, {read}, generation,
      [&](const DbOutcome& opened, ReadSession& session) {
        if (!opened.value && route.op.null_answer_detail) {
          result = failure_response(fail(404, *route.op.null_answer_detail), instance);
          return;
        }
        auto decision = nlohmann::json::parse(opened.value.value_or("null"), nullptr, false);
        auto h = content_head(decision, req.header("Range"));
        long long piece = decision.is_object() && decision.value("chunk_size", 0LL) > 0
                              ? decision.value("chunk_size", 0LL)
                              : 0;
        if (!h || piece <= 0 || !sink) {
          Failure f = fail(500, "internal error");
          f.note = !sink ? "no sink for a streamed answer" : "the download decision has no file";
          result = failure_response(f, instance);
          return;
        }
        if (h->range.kind == ByteRange::Kind::Unsatisfiable) {
          Failure f = fail(416, "the range is outside the file");
          f.headers = h->response.headers;
          result = failure_response(f, instance);
          return;
        }
        result = h->response;
        result.streamed = true;
        if (!sink->head(h->response, h->length)) {
          result.note = "the client went away";
          return;
        }
        if (head_only) return;
        std::string blob = decision["blob_id"].get<std::string>();
        long long pos = h->range.first, end = h->range.first + h->length;
        while (pos < end) {
          // Pieces end on the storage's chunk boundaries: each read touches one chunk.
          long long n = std::min(end - pos, piece - pos % piece);
          read.params = {blob, std::to_string(pos), std::to_string(n)};
          DbError err;
          auto bytes = session.fetch(read, &err);
          if (!bytes || static_cast<long long>(bytes->size()) != n) {
            result.note =
                "download cut short: " + (bytes ? "short read" : err.sqlstate + " " + err.message);
            sink->abort();
            return;
          }
          if (!sink->write(bytes->data(), bytes->size())) {
            result.note = "the client went away";
            return;
          }
          pos += n;
        }
      });
  if (o.kind != DbOutcome::Kind::Ok)
    return respond(route, planned, o, config_.public_url, req.path);
  return result;
}

HttpResponse App::run_idempotent(const IdempotentRequest& key, bool secret, const DbCall& context,
                                 const DbCall& call,
                                 const std::function<HttpResponse(const DbOutcome&)>& answer,
                                 const std::string& instance, std::uint64_t generation) {
  // Twice at most: a concurrent request with the key that committed first is replayed.
  for (int attempt = 0;; ++attempt) {
    DbOutcome found = db_->transaction(true, {context, lookup_call(key)}, generation);
    if (found.kind != DbOutcome::Kind::Ok) return answer(found);
    if (found.value) {
      auto r = replayed(*found.value);
      if (failed(r)) return failure_response(std::get<Failure>(r), instance);
      return std::get<HttpResponse>(r);
    }
    HttpResponse r;
    DbOutcome o =
        db_->transaction_then({context, claim_call(key), call}, finish_call(key, r, secret),
                              generation, [&](const DbOutcome& ok) {
                                r = answer(ok);
                                return finish_call(key, r, secret);
                              });
    if (o.kind == DbOutcome::Kind::Ok) return r;
    if (!key_taken(o) || attempt > 0) return answer(o);
  }
}

HttpResponse App::handle(const HttpRequest& incoming, BodySink* sink) {
  std::shared_ptr<const Api> api = this->api();  // one generation for the whole request
  std::string instance = printable(incoming.path, 1000);
  // OPTIONS on a tus creation path: the server's capabilities (no token needed, tus clients
  // ask before anything else).
  if (incoming.method == "OPTIONS") {
    RouteMatch m = api->routes.match("POST", incoming.path);
    if (m.route && m.route->op.protocol == Protocol::TusCreate) return tus_options(m.route->op);
  }
  // HEAD is GET without the body (tus asks an upload's offset so; a download's size so).
  bool head_only = incoming.method == "HEAD";
  HttpRequest as_get;
  if (head_only) {
    as_get = incoming;
    as_get.method = "GET";
  }
  const HttpRequest& req = head_only ? as_get : incoming;
  auto matched =
      match_request(api->routes, req, config_.max_request_bytes, config_.max_upload_chunk_bytes);
  if (failed(matched)) return failure_response(std::get<Failure>(matched), instance);
  const RouteMatch& m = std::get<RouteMatch>(matched);
  const Route& route = *m.route;

  // Authentication first: nothing else is looked at for a caller without a valid token.
  auto claims = authenticate(route, req, *std::atomic_load(&verifier_));
  if (failed(claims)) return failure_response(std::get<Failure>(claims), instance);
  const Operation& op = route.op;
  bool tus = op.protocol == Protocol::TusCreate || op.protocol == Protocol::TusStatus ||
             op.protocol == Protocol::TusAppend;
  auto tus_failure = [&](const Failure& f) {
    HttpResponse r = failure_response(f, instance);
    add_tus_headers(r);
    if (head_only) r.body.clear();
    return r;
  };
  if (auto refusal = tus_refusal(op, req)) {
    Failure f = fail(refusal->status, refusal->detail);
    f.headers = refusal->headers;
    return tus_failure(f);
  }
  auto planned = build_call(route, m, req, std::get<TokenClaims>(claims));
  if (failed(planned)) {
    if (tus) return tus_failure(std::get<Failure>(planned));
    return failure_response(std::get<Failure>(planned), instance);
  }

  auto idem = idempotency_key(op, req);
  if (failed(idem)) return failure_response(std::get<Failure>(idem), instance);

  if (route.kind == RouteKind::Schema) {
    HttpResponse r;
    r.body = api->openapi;
    return r;
  }
  if (route.kind == RouteKind::Health) return health(instance);

  std::vector<DbCall> calls;
  std::string tenant;
  std::optional<DbCall> context;  // a request with a tenant context: its refusal is audited
  if (route.op.auth == Auth::Bearer) {
    auto ctx = request_context(std::get<TokenClaims>(claims), req, api->generation);
    if (failed(ctx)) return failure_response(std::get<Failure>(ctx), instance);
    tenant = std::get<Context>(ctx).tenant;
    context = std::get<Context>(ctx).call;
    record_login(std::get<TokenClaims>(claims), *context, api->generation);
    calls.push_back(std::move(std::get<Context>(ctx).call));
  }
  calls.push_back(std::move(std::get<PlannedCall>(planned).call));
  if (op.protocol == Protocol::Content) {
    HttpResponse r = stream_content(route, std::get<PlannedCall>(planned), std::move(calls), req,
                                    head_only, sink, instance, api->generation);
    r.tenant = tenant;
    if (context) record_outcome(r, *context, api->generation);
    return r;
  }
  auto answer = [&](const DbOutcome& o) {
    HttpResponse r =
        respond(route, std::get<PlannedCall>(planned), o, config_.public_url, req.path);
    if (tus && o.kind == DbOutcome::Kind::Ok) {
      auto session = nlohmann::json::parse(o.value.value_or("null"), nullptr, false);
      auto created = tus_response(op, session, config_.public_url);
      if (created) {
        r = std::move(*created);
      } else {
        Failure f = fail(500, "internal error");
        f.note = "a tus operation answered no upload session";
        r = failure_response(f, instance);
      }
    } else if (tus) {
      add_tus_headers(r);
    }
    return r;
  };
  const auto& key = std::get<std::optional<IdempotentRequest>>(idem);
  HttpResponse r = key && context
                       ? run_idempotent(*key, op.secret, *context, calls.back(), answer, instance,
                                        api->generation)
                       : answer(db_->transaction(op.read_only(), calls, api->generation));
  if (context) record_outcome(r, *context, api->generation);
  if (head_only) r.body.clear();
  r.tenant = tenant;
  return r;
}

}  // namespace coditect::gateway
