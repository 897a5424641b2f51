// coditect-worker: delivers the outbox (sql/53_outbox.sql). It LISTENs on coditect_outbox and
// also polls (retries fall due without a NOTIFY), claims due deliveries with a lease, POSTs
// each signed (worker_delivery.hpp), and records the outcome with the next attempt's delay.
// Its login is in coditect_worker, which may call outbox_claim / outbox_record and nothing
// else. SIGTERM / SIGINT: the delivery in flight finishes (its timeouts bound it) and it stops.
// Settings: CODITECT_WORKER_* environment variables (README "Outbox and webhooks").
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "worker_delivery.hpp"
#include "worker_http.hpp"

using namespace coditect::worker;

namespace {

int g_signal_pipe[2] = {-1, -1};
volatile sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
  char c = 1;
  ssize_t ignored = write(g_signal_pipe[1], &c, 1);
  (void)ignored;
}

struct Config {
  std::string database_url;
  int poll_ms = 5000;
  int batch = 10;
  int lease_s = 300;
  int max_attempts = 10;
  double backoff_base_s = 10;
  double backoff_max_s = 3600;
  Timeouts timeouts;
  std::string ca_file;
};

long env_number(const char* name, long def, long lo, long hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end || n < lo || n > hi) {
    std::cerr << "coditect-worker: " << name << " must be an integer from " << lo << " to " << hi
              << "\n";
    std::exit(2);
  }
  return n;
}

Config read_config() {
  Config c;
  const char* url = std::getenv("CODITECT_WORKER_DATABASE_URL");
  if (!url || !*url) {
    std::cerr << "coditect-worker: CODITECT_WORKER_DATABASE_URL is not set (a libpq connection "
                 "string of a login in coditect_worker)\n";
    std::exit(2);
  }
  c.database_url = url;
  c.poll_ms = static_cast<int>(env_number("CODITECT_WORKER_POLL_MS", 5000, 10, 3600000));
  c.batch = static_cast<int>(env_number("CODITECT_WORKER_BATCH", 10, 1, 1000));
  c.lease_s = static_cast<int>(env_number("CODITECT_WORKER_LEASE_S", 300, 1, 3600));
  c.max_attempts = static_cast<int>(env_number("CODITECT_WORKER_MAX_ATTEMPTS", 10, 1, 100));
  c.backoff_base_s = env_number("CODITECT_WORKER_BACKOFF_BASE_MS", 10000, 1, 86400000) / 1000.0;
  c.backoff_max_s = env_number("CODITECT_WORKER_BACKOFF_MAX_MS", 3600000, 1, 86400000) / 1000.0;
  c.timeouts.connect_ms =
      static_cast<int>(env_number("CODITECT_WORKER_CONNECT_TIMEOUT_MS", 5000, 1, 600000));
  c.timeouts.io_ms = static_cast<int>(env_number("CODITECT_WORKER_TIMEOUT_MS", 10000, 1, 600000));
  if (const char* ca = std::getenv("CODITECT_WORKER_CA_FILE")) c.ca_file = ca;
  c.timeouts.allow_private = env_number("CODITECT_WORKER_ALLOW_PRIVATE", 0, 0, 1) == 1;
  // A batch is sent one delivery after the other: its lease must outlast the slowest batch,
  // or another worker would claim (and send again) what this one is still sending.
  long long worst_ms = static_cast<long long>(c.batch) * (c.timeouts.connect_ms + c.timeouts.io_ms);
  if (worst_ms >= c.lease_s * 1000LL) {
    std::cerr << "coditect-worker: CODITECT_WORKER_LEASE_S (" << c.lease_s
              << " s) must exceed a batch's worst time (" << worst_ms / 1000.0
              << " s: batch x (connect timeout + timeout))\n";
    std::exit(2);
  }
  return c;
}

std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void log(nlohmann::json entry) {
  entry["time"] = now_iso();
  std::cerr << entry.dump() << std::endl;
}

// bytea's hex text form ("\x0a1b...") to its bytes.
std::string unhex_bytea(const char* s) {
  std::string out;
  if (s[0] != '\\' || s[1] != 'x') return out;
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (const char* p = s + 2; p[0] && p[1]; p += 2)
    out += static_cast<char>(nib(p[0]) << 4 | nib(p[1]));
  return out;
}

class Worker {
 public:
  explicit Worker(Config c) : cfg_(std::move(c)), rng_(std::random_device{}()) {
    tls_ = make_tls_context(cfg_.ca_file);
  }
  ~Worker() {
    if (db_) PQfinish(db_);
    SSL_CTX_free(tls_);
  }

  void run() {
    int reconnect_ms = 500;
    while (!g_stop) {
      if (!connected()) {
        if (!connect()) {
          sleep_or_wake(reconnect_ms, -1);
          reconnect_ms = std::min(reconnect_ms * 2, 30000);
          continue;
        }
        reconnect_ms = 500;
      }
      int n = deliver_batch();
      if (n < 0) continue;  // the database failed: reconnect
      // A full batch may have more behind it, and a NOTIFY libpq read during the last queries
      // says there is more; otherwise wait for one (or the next poll).
      if (n < cfg_.batch && drain_notifications() == 0) sleep_or_wake(cfg_.poll_ms, PQsocket(db_));
      drain_notifications();
    }
  }

 private:
  bool connected() const { return db_ && PQstatus(db_) == CONNECTION_OK; }

  bool connect() {
    if (db_) PQfinish(db_);
    db_ = PQconnectdb(cfg_.database_url.c_str());
    if (PQstatus(db_) != CONNECTION_OK) {
      log({{"level", "error"}, {"message", std::string("database: ") + PQerrorMessage(db_)}});
      return false;
    }
    PGresult* r = PQexec(db_, "LISTEN coditect_outbox");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (ok) log({{"level", "info"}, {"message", "connected; listening on coditect_outbox"}});
    return ok;
  }

  // Sleeps for ms, or until a signal, or until fd (the database socket) is readable.
  void sleep_or_wake(int ms, int fd) {
    pollfd p[2] = {{g_signal_pipe[0], POLLIN, 0}, {fd, POLLIN, 0}};
    poll(p, fd >= 0 ? 2 : 1, ms);
  }

  // Consumes the notifications received so far; how many there were.
  int drain_notifications() {
    if (!connected()) return 0;
    PQconsumeInput(db_);
    int count = 0;
    while (PGnotify* n = PQnotifies(db_)) {
      PQfreemem(n);
      ++count;
    }
    return count;
  }

  // Claims and sends one batch; the number claimed, or -1 when the database failed.
  int deliver_batch() {
    std::string limit = std::to_string(cfg_.batch), lease = std::to_string(cfg_.lease_s);
    const char* params[2] = {limit.c_str(), lease.c_str()};
    PGresult* r = PQexecParams(db_,
                               "SELECT id, tenant_id, event, url, payload::text, created_at, "
                               "attempts, secret FROM coditect.outbox_claim($1::int, $2::int)",
                               2, nullptr, params, nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      log({{"level", "error"}, {"message", std::string("claim: ") + PQerrorMessage(db_)}});
      PQclear(r);
      return -1;
    }
    std::vector<Delivery> batch;
    for (int i = 0; i < PQntuples(r); ++i) {
      Delivery d;
      d.id = PQgetvalue(r, i, 0);
      d.tenant_id = PQgetvalue(r, i, 1);
      d.event = PQgetvalue(r, i, 2);
      d.url = PQgetvalue(r, i, 3);
      d.payload = PQgetvalue(r, i, 4);
      d.created_at = PQgetvalue(r, i, 5);
      d.attempts = std::atoi(PQgetvalue(r, i, 6));
      d.secret = unhex_bytea(PQgetvalue(r, i, 7));
      batch.push_back(std::move(d));
    }
    PQclear(r);
    // Claimed deliveries are sent even when a signal comes meanwhile: each is bounded by its
    // timeouts, and an unsent one would only wait out its lease.
    for (const Delivery& d : batch)
      if (!deliver(d)) return -1;
    return static_cast<int>(batch.size());
  }

  bool deliver(const Delivery& d) {
    PostResult res;
    auto url = parse_url(d.url);
    std::string body;
    if (!url) {
      res.error = "the URL is not an http(s) URL the worker can send to";
    } else {
      try {
        body = delivery_body(d);
        long long t = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
        res = post(*url, build_request(*url, d, body, t, "coditect-worker/0.3.0"), cfg_.timeouts,
                   tls_);
      } catch (const std::exception& e) {
        res.error = e.what();
      }
    }
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    double retry_s =
        backoff_seconds(d.attempts + 1, cfg_.backoff_base_s, cfg_.backoff_max_s, unit(rng_));
    std::string code = res.status ? std::to_string(*res.status) : "";
    std::string retry = std::to_string(retry_s), max = std::to_string(cfg_.max_attempts);
    const char* params[6] = {d.tenant_id.c_str(),
                             d.id.c_str(),
                             res.status ? code.c_str() : nullptr,
                             res.error.empty() ? nullptr : res.error.c_str(),
                             retry.c_str(),
                             max.c_str()};
    PGresult* r = PQexecParams(db_,
                               "SELECT coditect.outbox_record($1::uuid, $2::uuid, $3::int, $4, "
                               "make_interval(secs => $5::float8), $6::int)",
                               6, nullptr, params, nullptr, nullptr, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    bool sent = res.status && *res.status >= 200 && *res.status < 300;
    nlohmann::json entry = {{"level", !ok    ? "error"
                                      : sent ? "info"
                                             : "warning"},
                            {"delivery", d.id},
                            {"event", d.event},
                            {"attempt", d.attempts + 1}};
    if (res.status) entry["http_status"] = *res.status;
    if (!res.error.empty()) entry["error"] = res.error;
    if (ok)
      entry["outcome"] = PQgetvalue(r, 0, 0);
    else
      entry["message"] = std::string("record: ") + PQerrorMessage(db_);
    log(entry);
    PQclear(r);
    return ok;
  }

  Config cfg_;
  PGconn* db_ = nullptr;
  SSL_CTX* tls_ = nullptr;
  std::mt19937_64 rng_;
};

}  // namespace

int main() {
  Config cfg = read_config();
  if (pipe(g_signal_pipe) != 0) return 1;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  try {
    Worker w(cfg);
    log({{"level", "info"},
         {"message", "coditect-worker: started"},
         {"poll_ms", cfg.poll_ms},
         {"batch", cfg.batch},
         {"lease_s", cfg.lease_s},
         {"max_attempts", cfg.max_attempts},
         {"backoff_base_s", cfg.backoff_base_s},
         {"backoff_max_s", cfg.backoff_max_s},
         {"allow_private", cfg.timeouts.allow_private}});
    w.run();
  } catch (const std::exception& e) {
    log({{"level", "error"}, {"message", std::string("coditect-worker: ") + e.what()}});
    return 1;
  }
  log({{"level", "info"}, {"message", "coditect-worker: stopped"}});
  return 0;
}
