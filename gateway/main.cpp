// coditect-gateway: the Pistache HTTP server around App (see app.hpp), configuration, logging,
// key reload on SIGHUP and a clean shutdown on SIGTERM / SIGINT.
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <signal.h>

#include <strings.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <thread>

#include "app.hpp"
#include "jwt_auth.hpp"
#include "problem.hpp"

using namespace Pistache;
using coditect::gateway::App;
using coditect::gateway::HttpRequest;
using coditect::gateway::HttpResponse;

namespace {

// A response header with any name (Pistache 0.0.5 writes typed headers only).
class OutHeader : public Http::Header::Header {
 public:
  OutHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& os) const override { os << value_; }
  uint64_t hash() const override { return Http::Header::detail::hash(name_.c_str()); }

 private:
  std::string name_;
  std::string value_;
};

std::string raw_header(const Http::Request& req, const char* name) {
  const auto& raw = req.headers().rawList();
  auto it = raw.find(name);
  return it == raw.end() ? std::string() : it->second.value();
}

std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

void log_line(const nlohmann::json& j) {
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

class Handler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Handler)
  explicit Handler(std::shared_ptr<App> app) : app_(std::move(app)) {}

  void onRequest(const Http::Request& req, Http::ResponseWriter response) override {
    auto t0 = std::chrono::steady_clock::now();
    app_->request_started();
    struct Finished {
      App& app;
      ~Finished() { app.request_finished(); }
    } finished{*app_};
    HttpRequest r;
    r.method = Http::methodString(req.method());
    r.path = req.resource();
    for (auto it = req.query().parameters_begin(); it != req.query().parameters_end(); ++it) {
      auto k = coditect::gateway::percent_decode(it->first);
      auto v = coditect::gateway::percent_decode(it->second);
      if (!k || !v || !coditect::gateway::is_utf8(*k) || !coditect::gateway::is_utf8(*v)) {
        r.query_ok = false;
        break;
      }
      r.query.emplace_back(*k, *v);
    }
    r.body = req.body();
    r.peer_ip = req.address().host();
    r.authorization = raw_header(req, "Authorization");
    r.user_agent = raw_header(req, "User-Agent");
    r.host = raw_header(req, "Host");
    r.forwarded_proto = raw_header(req, "X-Forwarded-Proto");
    std::string request_id = coditect::gateway::request_id_for(raw_header(req, "X-Request-Id"));

    HttpResponse out;
    bool close = false;
    try {
      if (app_->draining()) {
        out.status = 503;
        out.content_type = "application/problem+json";
        out.body = coditect::gateway::problem_json(
            coditect::gateway::gateway_problem(503, "the gateway is shutting down"), r.path);
        out.headers.emplace_back("Retry-After", "1");
        close = true;
      } else {
        out = app_->handle(r);
      }
    } catch (const std::exception& e) {
      out = HttpResponse{};
      out.status = 500;
      out.content_type = "application/problem+json";
      out.body = coditect::gateway::problem_json(
          coditect::gateway::gateway_problem(500, "internal error"), r.path);
      out.note = e.what();
    } catch (...) {
      out = HttpResponse{};
      out.status = 500;
      out.content_type = "application/problem+json";
      out.body = coditect::gateway::problem_json(
          coditect::gateway::gateway_problem(500, "internal error"), r.path);
      out.note = "unknown exception";
    }
    send(req, response, out, request_id, close);

    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j = {
        {"ts", now_iso()},
        {"request_id", request_id},
        {"method", r.method},
        {"path", r.path},
        {"status", out.status},
        {"duration_ms", std::round(ms * 1000) / 1000},
        {"tenant", out.tenant.empty() ? nlohmann::json() : nlohmann::json(out.tenant)}};
    if (!out.note.empty()) j["error"] = out.note;
    log_line(j);
  }

 private:
  static void send(const Http::Request& req, Http::ResponseWriter& response,
                   const HttpResponse& out, const std::string& request_id, bool close = false) {
    auto& h = response.headers();
    h.add(std::make_shared<OutHeader>("X-Request-Id", request_id));
    if (!out.content_type.empty())
      h.add(std::make_shared<OutHeader>("Content-Type", out.content_type));
    for (const auto& [name, value] : out.headers) h.add(std::make_shared<OutHeader>(name, value));
    // HTTP/1.1 keeps the connection unless the client says close (Pistache 0.0.5 closes it
    // whenever the request has no Connection header).
    std::string conn = raw_header(req, "Connection");
    bool keep = !close && (req.version() == Http::Version::Http11
                               ? strcasecmp(conn.c_str(), "close") != 0
                               : strcasecmp(conn.c_str(), "keep-alive") == 0);
    h.remove<Http::Header::Connection>();
    h.add<Http::Header::Connection>(keep ? Http::ConnectionControl::KeepAlive
                                         : Http::ConnectionControl::Close);
    response.send(static_cast<Http::Code>(out.status), out.body);
  }

  std::shared_ptr<App> app_;
};

}  // namespace

int main(int argc, char** argv) {
  coditect::gateway::Config config;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (auto err = coditect::gateway::parse_config(args, config)) {
    std::cerr << "coditect-gateway: " << *err << "\n";
    return 2;
  }
  if (config.help) {
    std::cout << coditect::gateway::usage();
    return 0;
  }
  if (config.mint_dev_token) {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    nlohmann::json claims = {
        {"sub", config.mint_sub}, {"iat", now}, {"exp", now + config.mint_ttl}};
    if (!config.mint_tenant.empty()) claims["tenant_id"] = config.mint_tenant;
    if (!config.mint_role.empty()) claims["role"] = config.mint_role;
    if (!config.mint_email.empty()) claims["email"] = config.mint_email;
    if (!config.jwt_issuer.empty()) claims["iss"] = config.jwt_issuer;
    if (!config.jwt_audience.empty()) claims["aud"] = config.jwt_audience;
    std::cout << coditect::gateway::mint_token("HS256", config.jwt_secret, claims) << "\n";
    return 0;
  }

  // Block the stop and reload signals in every thread; main waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::shared_ptr<App> app;
  try {
    auto db = std::make_unique<coditect::gateway::Database>(
        config.database_url, config.pool_size, config.timeout_ms,
        coditect::gateway::gateway_statements());
    std::string why;
    if (!db->warm_up(&why))
      std::cerr << "coditect-gateway: " << why << " (requests get 503 until it is back)\n";
    app = std::make_shared<App>(config, std::move(db));
  } catch (const std::exception& e) {
    std::cerr << "coditect-gateway: " << e.what() << "\n";
    return 2;
  }

  try {
    Address addr(config.listen);
    Http::Endpoint endpoint(addr);
    // Each worker thread serves its connections one request at a time (the handler waits for
    // the database), so a request can queue behind a slow one on the same thread for up to
    // about the statement timeout: twice the timeout, so that such a wait is never cut off as
    // a slow client.
    auto timeout = std::chrono::milliseconds(2 * static_cast<long>(config.timeout_ms));
    endpoint.init(Http::Endpoint::options()
                      .threads(config.threads)
                      .flags(Tcp::Options::ReuseAddr)
                      // Room for the request line and headers on top of the largest body.
                      .maxRequestSize(static_cast<size_t>(config.max_request_bytes) + 65536)
                      .maxResponseSize(64 * 1024 * 1024)
                      .headerTimeout(timeout)
                      .bodyTimeout(timeout)
                      // Idle keep-alive connections are closed after this long.
                      .keepaliveTimeout(std::chrono::seconds(75)));
    endpoint.setHandler(Http::make_handler<Handler>(app));
    endpoint.serveThreaded();
    std::cerr << "coditect-gateway: listening on " << config.listen << " (" << config.threads
              << " threads, " << config.pool_size << " database connections)\n";
    int sig = 0;
    for (;;) {
      sigwait(&signals, &sig);
      if (sig != SIGHUP) break;
      std::string error;
      if (app->reload_keys(&error))
        std::cerr << "coditect-gateway: SIGHUP, token keys reloaded\n";
      else
        std::cerr << "coditect-gateway: SIGHUP, keys not reloaded, the old ones stay: " << error
                  << "\n";
    }
    std::cerr << "coditect-gateway: signal " << sig << ", finishing the requests in flight\n";
    // Drain first: Pistache's shutdown() stops the reactor at once, and an answer written
    // after that is lost although its transaction committed.
    app->start_draining();
    if (!app->wait_idle(std::chrono::milliseconds(config.timeout_ms) + std::chrono::seconds(1)))
      std::cerr << "coditect-gateway: requests still in flight after the timeout\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the last answers go out
    endpoint.shutdown();
  } catch (const std::exception& e) {
    std::cerr << "coditect-gateway: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "coditect-gateway: stopped\n";
  return 0;
}
