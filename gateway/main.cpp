// coditect-gateway: the Pistache HTTP server around App (see app.hpp), configuration, logging,
// key reload on SIGHUP and a clean shutdown on SIGTERM / SIGINT.
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <functional>
#include <atomic>
#include <optional>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <thread>

#include "app.hpp"
#include "catalog_listener.hpp"
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

// Per client connection (kept in the Pistache peer, so it lives exactly as long as the
// connection): the open-connection count, and the head (request line and headers) of the
// request being read. Pistache 0.0.5 keeps the query in a map, so a repeated parameter would
// be lost; and it parses Content-Length itself, answering a bad one with its exception text.
struct Connection {
  explicit Connection(std::shared_ptr<std::atomic<long>> c)
      : count(std::move(c)), number(++*count) {}
  ~Connection() { --*count; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  static constexpr size_t kMaxHead = 65536;
  std::shared_ptr<std::atomic<long>> count;
  long number;  // open connections, this one included, when it was accepted
  std::string head;
  bool head_done = false;
  bool head_checked = false;
  // After an answer that ends the connection: further input is ignored, and the header
  // timeout closes it (Pistache 0.0.5 has no way to close a peer from the handler).
  bool discard = false;

  void add(const char* data, size_t len) {
    if (head_done || head.size() >= kMaxHead) return;
    size_t from = head.size() < 3 ? 0 : head.size() - 3;
    head.append(data, std::min(len, kMaxHead - head.size()));
    size_t end = head.find("\r\n\r\n", from);
    if (end != std::string::npos) {
      head.resize(end + 4);
      head_done = true;
    }
  }
  void reset() {
    head.clear();
    head_done = head_checked = false;
  }
  // The request target as sent ("/path?query"), or "" when the request line is not in.
  std::string target() const {
    size_t eol = head.find("\r\n");
    if (eol == std::string::npos) return {};
    size_t a = head.find(' ');
    if (a == std::string::npos || a > eol) return {};
    size_t b = head.find(' ', a + 1);
    if (b == std::string::npos || b > eol) b = eol;
    return head.substr(a + 1, b - a - 1);
  }
};

constexpr const char* kConnectionData = "coditect.connection";

// A streamed answer (a file download) written straight to the client's socket: Pistache 0.0.5
// queues every write until the handler returns, so a file sent through it would sit whole in
// memory. Each piece is sent before the next is read; a full socket buffer is waited for (up
// to the timeout) on this worker thread, as database waits are.
class SocketSink : public coditect::gateway::BodySink {
 public:
  // flush: sends what Pistache still holds for this connection, so the answer comes after it.
  SocketSink(int fd, std::string request_id, bool keep, int timeout_ms, std::function<void()> flush)
      : fd_(fd),
        request_id_(std::move(request_id)),
        keep_(keep),
        timeout_ms_(timeout_ms),
        flush_(std::move(flush)) {}

  bool head(const HttpResponse& r, long long length) override {
    flush_();
    using coditect::gateway::header_value;
    std::string h = "HTTP/1.1 " + std::to_string(r.status) + " " +
                    coditect::gateway::reason_phrase(r.status) + "\r\n";
    h += "X-Request-Id: " + header_value(request_id_) + "\r\n";
    if (!r.content_type.empty()) h += "Content-Type: " + header_value(r.content_type) + "\r\n";
    for (const auto& [name, value] : r.headers)
      h += header_value(name) + ": " + header_value(value) + "\r\n";
    h += "Content-Length: " + std::to_string(length) + "\r\n";
    h += std::string("Connection: ") + (keep_ ? "keep-alive" : "close") + "\r\n\r\n";
    started_ = true;
    return write(h.data(), h.size());
  }

  bool write(const char* data, size_t size) override {
    while (size > 0) {
      ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
      if (n > 0) {
        data += n;
        size -= static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, timeout_ms_) == 1 && (p.revents & POLLOUT)) continue;
      }
      broken_ = true;
      return false;
    }
    return true;
  }

  void abort() override {
    broken_ = true;
    ::shutdown(fd_, SHUT_RDWR);
  }

  // After the answer: a connection that is not kept is ended for writing (the client sees
  // the end), a broken one both ways (Pistache then sees the end of input and drops it).
  void finish() {
    if (!started_) return;
    if (broken_)
      ::shutdown(fd_, SHUT_RDWR);
    else if (!keep_)
      ::shutdown(fd_, SHUT_WR);
  }

 private:
  int fd_;
  std::string request_id_;
  bool keep_;
  int timeout_ms_;
  std::function<void()> flush_;
  bool started_ = false, broken_ = false;
};

// Content-Length as the head gives it: nullopt when fine (or absent), else the problem to
// answer (400 for anything but one plain decimal number, 413 past the body limit).
std::optional<coditect::gateway::Problem> content_length_problem(const std::string& head,
                                                                 long max_body) {
  using coditect::gateway::gateway_problem;
  int seen = 0;
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    size_t start = pos + 2, eol = head.find("\r\n", start);
    if (eol == std::string::npos) break;
    std::string line = head.substr(start, eol - start);
    pos = eol;
    constexpr const char* kName = "content-length:";
    if (line.size() < 15 || strncasecmp(line.c_str(), kName, 15) != 0) continue;
    if (++seen > 1) return gateway_problem(400, "Content-Length is given more than once");
    std::string v = line.substr(15);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
    bool digits = !v.empty();
    for (char c : v) digits = digits && c >= '0' && c <= '9';
    if (!digits) return gateway_problem(400, "Content-Length must be a non-negative whole number");
    if (v.size() > 15 || std::stol(v) > max_body)
      return gateway_problem(
          413, "the request body is larger than " + std::to_string(max_body) + " bytes");
  }
  return std::nullopt;
}

class Handler : public Http::Handler {
 public:
  HTTP_PROTOTYPE(Handler)
  Handler(std::shared_ptr<App> app, long max_connections)
      : app_(std::move(app)),
        max_connections_(max_connections),
        connections_(std::make_shared<std::atomic<long>>(0)),
        rejected_(std::make_shared<std::atomic<long>>(0)) {}

  // Replaces Http::Handler's (which only attaches the parser) to count the connection and
  // refuse it past the cap, before it costs more than its descriptor.
  void onConnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    peer->putData(ParserData, std::make_shared<Http::RequestParser>(getMaxRequestSize()));
    auto conn = std::make_shared<Connection>(connections_);
    peer->putData(kConnectionData, conn);
    if (conn->number <= max_connections_) return;
    conn->discard = true;
    // Written straight to the fresh socket (its buffer is empty, so it all goes), then both
    // directions shut: Pistache sees the end of input and removes the peer.
    static const std::string answer = [] {
      std::string body = coditect::gateway::problem_json(coditect::gateway::gateway_problem(
          503, "too many connections to the gateway; retry later"));
      return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
             "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
    }();
    ssize_t n = ::send(peer->fd(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    ::shutdown(peer->fd(), SHUT_RDWR);
    // One log line per 1000 refusals, not one each: a flood must not also flood the log.
    if ((*rejected_)++ % 1000 == 0)
      log_line({{"ts", now_iso()},
                {"event", "connection refused"},
                {"error", "connection cap reached"},
                {"max_connections", max_connections_},
                {"refused_so_far", rejected_->load()}});
  }

  // Replaces Http::Handler's (same steps: feed, parse, answer when the request is complete)
  // to keep the raw head and to answer a malformed request with a problem document instead of
  // Pistache's 500 carrying the exception text.
  void onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) override {
    auto parser = Http::Handler::getParser(peer);
    auto conn = std::static_pointer_cast<Connection>(peer->tryGetData(kConnectionData));
    if (!parser || !conn || conn->discard) return;
    auto& request = parser->request;
    try {
      conn->add(buffer, len);
      // A head past the cap would be parsed by Pistache without the checks below (repeated
      // query parameters, Content-Length) that read it from conn->head.
      if (!conn->head_done && conn->head.size() >= Connection::kMaxHead) {
        refuse(peer, *parser, *conn,
               coditect::gateway::gateway_problem(
                   431, "the request line and headers are larger than " +
                            std::to_string(Connection::kMaxHead) + " bytes"));
        return;
      }
      if (conn->head_done && !conn->head_checked) {
        conn->head_checked = true;
        // The limit of the route the request line reaches (uploads have their own).
        std::string line = conn->head.substr(0, conn->head.find("\r\n"));
        std::string method = line.substr(0, line.find(' ')), target = conn->target();
        long limit = app_->body_limit(method, target.substr(0, target.find('?')));
        if (auto p = content_length_problem(conn->head, limit)) {
          refuse(peer, *parser, *conn, *p);
          return;
        }
        // A client that waits for "100 Continue" before sending a body (curl does for bodies
        // over 1 MB, for up to a second) gets it once the size is known to be acceptable.
        for (const auto& [name, value] : coditect::gateway::head_fields(conn->head))
          if (name == "expect" && strcasecmp(value.c_str(), "100-continue") == 0) {
            static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
            ssize_t n =
                ::send(peer->fd(), kContinue, sizeof kContinue - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)n;
          }
      }
      if (!parser->feed(buffer, len)) {
        refuse(peer, *parser, *conn,
               coditect::gateway::gateway_problem(
                   413,
                   "the request is larger than " + std::to_string(getMaxRequestSize()) + " bytes"));
        return;
      }
      if (parser->parse() != Http::Private::State::Done) return;
      Http::ResponseWriter response(request.version(), transport(), this, peer);
      request.copyAddress(peer->address());
      peer->setIdle(false);
      serve(request, response, conn->target(), conn->head, peer);
      parser->reset();
      conn->reset();
    } catch (const Http::HttpError& e) {
      int status = e.code() >= 400 && e.code() < 500 ? e.code() : 400;
      refuse(peer, *parser, *conn,
             coditect::gateway::gateway_problem(
                 status, status == 413 ? "the request is too large" : "malformed HTTP request"));
    } catch (const std::exception&) {
      refuse(peer, *parser, *conn,
             coditect::gateway::gateway_problem(400, "malformed HTTP request"));
    }
  }

  // A request that did not arrive within the header or body timeout (the connection is
  // closed after this answer).
  void onTimeout(const Http::Request&, Http::ResponseWriter response) override {
    HttpResponse out;
    out.status = 408;
    out.content_type = "application/problem+json";
    out.body = coditect::gateway::problem_json(
        coditect::gateway::gateway_problem(408, "the request did not arrive in time"));
    send(response, out, coditect::gateway::request_id_for({}), false);
  }

  // Not called (onInput serves), but Http::Handler requires it.
  void onRequest(const Http::Request& req, Http::ResponseWriter response) override {
    serve(req, response, {}, {}, nullptr);
  }

 private:
  void refuse(const std::shared_ptr<Tcp::Peer>& peer, Http::RequestParser& parser, Connection& conn,
              const coditect::gateway::Problem& p) {
    parser.reset();
    conn.reset();
    conn.discard = true;
    HttpResponse out;
    out.status = p.status;
    out.content_type = "application/problem+json";
    out.body = coditect::gateway::problem_json(p);
    std::string request_id = coditect::gateway::request_id_for({});
    Http::ResponseWriter response(Http::Version::Http11, transport(), this, peer);
    send(response, out, request_id, false);
    log_line({{"ts", now_iso()},
              {"request_id", request_id},
              {"status", out.status},
              {"error", p.detail}});
  }

  void serve(const Http::Request& req, Http::ResponseWriter& response, const std::string& target,
             const std::string& head, const std::shared_ptr<Tcp::Peer>& peer) {
    auto t0 = std::chrono::steady_clock::now();
    app_->request_started();
    struct Finished {
      App& app;
      ~Finished() { app.request_finished(); }
    } finished{*app_};
    HttpRequest r;
    r.method = Http::methodString(req.method());
    r.path = req.resource();
    if (!target.empty()) {
      // The query as sent, every parameter in order (repeats included).
      size_t q = target.find('?');
      std::string query = q == std::string::npos ? std::string() : target.substr(q + 1);
      size_t hash = query.find('#');
      if (hash != std::string::npos) query.resize(hash);
      auto parsed = coditect::gateway::parse_query(query);
      if (parsed)
        r.query = std::move(*parsed);
      else
        r.query_ok = false;
    } else {
      for (auto it = req.query().parameters_begin(); it != req.query().parameters_end(); ++it) {
        auto k = coditect::gateway::percent_decode(it->first);
        auto v = coditect::gateway::percent_decode(it->second);
        if (!k || !v || !coditect::gateway::is_utf8(*k) || !coditect::gateway::is_utf8(*v)) {
          r.query_ok = false;
          break;
        }
        r.query.emplace_back(*k, *v);
      }
    }
    r.body = req.body();
    r.peer_ip = req.address().host();
    r.authorization = raw_header(req, "Authorization");
    r.user_agent = raw_header(req, "User-Agent");
    r.if_match = raw_header(req, "If-Match");
    r.headers = coditect::gateway::head_fields(head);
    std::string request_id = coditect::gateway::request_id_for(raw_header(req, "X-Request-Id"));
    r.request_id = request_id;

    // HTTP/1.1 keeps the connection unless the client says close (Pistache 0.0.5 closes it
    // whenever the request has no Connection header).
    std::string conn = raw_header(req, "Connection");
    bool keep = req.version() == Http::Version::Http11
                    ? strcasecmp(conn.c_str(), "close") != 0
                    : strcasecmp(conn.c_str(), "keep-alive") == 0;
    std::unique_ptr<SocketSink> sink;
    if (peer)
      sink =
          std::make_unique<SocketSink>(peer->fd(), request_id, keep, 2 * app_->config().timeout_ms,
                                       [this] { transport()->flush(); });
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
        out = app_->handle(r, sink.get());
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
    if (out.streamed) {
      sink->finish();
      peer->setIdle(true);
    } else {
      send(response, out, request_id, keep && !close);
    }

    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j = {
        {"ts", now_iso()},
        {"request_id", request_id},
        {"method", r.method},
        {"path", app_->log_path(r.method, r.path)},
        {"status", out.status},
        {"duration_ms", std::round(ms * 1000) / 1000},
        {"tenant", out.tenant.empty() ? nlohmann::json() : nlohmann::json(out.tenant)}};
    if (!out.note.empty()) j["error"] = out.note;
    log_line(j);
  }

  static void send(Http::ResponseWriter& response, const HttpResponse& out,
                   const std::string& request_id, bool keep) {
    using coditect::gateway::header_value;
    auto& h = response.headers();
    h.add(std::make_shared<OutHeader>("X-Request-Id", header_value(request_id)));
    if (!out.content_type.empty())
      h.add(std::make_shared<OutHeader>("Content-Type", header_value(out.content_type)));
    for (const auto& [name, value] : out.headers)
      h.add(std::make_shared<OutHeader>(header_value(name), header_value(value)));
    h.remove<Http::Header::Connection>();
    h.add<Http::Header::Connection>(keep ? Http::ConnectionControl::KeepAlive
                                         : Http::ConnectionControl::Close);
    response.send(static_cast<Http::Code>(out.status), out.body);
  }

  std::shared_ptr<App> app_;
  long max_connections_;
  std::shared_ptr<std::atomic<long>> connections_;  // shared by the per-thread clones
  std::shared_ptr<std::atomic<long>> rejected_;
};

// Raises the soft open-file limit to the hard one (often 1024 soft against a much higher
// hard limit): every client connection costs a descriptor. Returns the soft limit in force.
long raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    // RLIM_INFINITY is refused for RLIMIT_NOFILE: stop at the kernel's usual nr_open.
    want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur == RLIM_INFINITY ? 1048576 : static_cast<long>(rl.rlim_cur);
}

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

  long fd_limit = raise_fd_limit();
  long max_connections = coditect::gateway::connection_cap(config.max_connections, fd_limit,
                                                           config.pool_size, config.threads);
  if (max_connections < config.max_connections)
    std::cerr << "coditect-gateway: open-file limit " << fd_limit << ": at most " << max_connections
              << " client connections (not " << config.max_connections << ")\n";

  // The routes come from the catalog: without it there is nothing to serve.
  std::shared_ptr<App> app;
  try {
    std::string error;
    auto catalog = coditect::gateway::fetch_catalog(config.database_url, &error);
    if (!catalog) {
      std::cerr << "coditect-gateway: cannot load the API catalog (coditect.api_catalog()): "
                << error << "\n";
      return 2;
    }
    auto api = coditect::gateway::load_api(*catalog, 1, config.public_url);
    auto db = std::make_unique<coditect::gateway::Database>(config.database_url, config.pool_size,
                                                            config.timeout_ms);
    std::string why;
    if (!db->warm_up(&why))
      std::cerr << "coditect-gateway: " << why << " (requests get 503 until it is back)\n";
    app = std::make_shared<App>(config, std::move(db), std::move(api));
  } catch (const coditect::gateway::CatalogError& e) {
    std::cerr << "coditect-gateway: the API catalog does not load: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "coditect-gateway: " << e.what() << "\n";
    return 2;
  }
  auto reload_catalog = [app](const std::string& text, const char* why) {
    std::string error;
    bool changed = false;
    if (!app->reload_catalog(text, &error, &changed))
      log_line({{"ts", now_iso()},
                {"event", "catalog not reloaded, the one in use stays"},
                {"trigger", why},
                {"error", error}});
    else if (changed)
      log_line({{"ts", now_iso()},
                {"event", "catalog reloaded"},
                {"trigger", why},
                {"generation", app->api()->generation},
                {"operations", app->api()->routes.routes().size()}});
  };
  coditect::gateway::CatalogListener listener(
      config.database_url, [&](const std::string& text) { reload_catalog(text, "listener"); },
      [](const std::string& event, const std::string& detail) {
        nlohmann::json j = {{"ts", now_iso()}, {"event", event}};
        if (!detail.empty()) j["error"] = detail;
        log_line(j);
      });

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
                      .maxRequestSize(static_cast<size_t>(std::max(config.max_request_bytes,
                                                                   config.max_upload_chunk_bytes)) +
                                      65536)
                      .maxResponseSize(64 * 1024 * 1024)
                      .headerTimeout(timeout)
                      .bodyTimeout(timeout)
                      // Idle keep-alive connections are closed after this long.
                      .keepaliveTimeout(std::chrono::seconds(75)));
    endpoint.setHandler(Http::make_handler<Handler>(app, max_connections));
    endpoint.serveThreaded();
    std::cerr << "coditect-gateway: listening on " << config.listen << " (" << config.threads
              << " threads, " << config.pool_size << " database connections, at most "
              << max_connections << " client connections)\n";
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
      if (auto text = coditect::gateway::fetch_catalog(config.database_url, &error))
        reload_catalog(*text, "SIGHUP");
      else
        std::cerr << "coditect-gateway: SIGHUP, catalog not reloaded, the one in use stays: "
                  << error << "\n";
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
