#include "catalog_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

namespace coditect::gateway {

namespace {

constexpr int kFirstBackoffMs = 200;
constexpr int kMaxBackoffMs = 30000;
constexpr const char* kCatalogSql = "SELECT coditect.api_catalog()::text";

std::string trimmed(std::string s) {
  for (auto& ch : s)
    if (ch == '\n' || ch == '\t') ch = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// The server's goodbye (FATAL: terminating connection ...) is reported by the loop, not
// printed by libpq.
void quiet(void*, const char*) {}

PGconn* connect(const std::string& url, std::string* error) {
  const char* keys[] = {"dbname", "application_name", "connect_timeout", nullptr};
  const char* values[] = {url.c_str(), "coditect-gateway-catalog", "5", nullptr};
  PGconn* c = PQconnectdbParams(keys, values, 1);
  if (c && PQstatus(c) == CONNECTION_OK) {
    PQsetNoticeProcessor(c, quiet, nullptr);
    return c;
  }
  *error = trimmed(c ? PQerrorMessage(c) : "out of memory");
  if (c) PQfinish(c);
  return nullptr;
}

std::optional<std::string> query_catalog(PGconn* c, std::string* error) {
  PGresult* r = PQexec(c, kCatalogSql);
  std::optional<std::string> out;
  if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
    out = std::string(PQgetvalue(r, 0, 0), static_cast<size_t>(PQgetlength(r, 0, 0)));
  else
    *error = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
  if (r) PQclear(r);
  *error = trimmed(*error);
  if (!out && error->empty()) *error = "coditect.api_catalog() answered no catalog";
  return out;
}

}  // namespace

std::optional<std::string> fetch_catalog(const std::string& url, std::string* error) {
  PGconn* c = connect(url, error);
  if (!c) return std::nullopt;
  auto out = query_catalog(c, error);
  PQfinish(c);
  return out;
}

CatalogListener::CatalogListener(std::string url, OnCatalog on_catalog, Log log)
    : url_(std::move(url)), on_catalog_(std::move(on_catalog)), log_(std::move(log)) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { run(); });
}

CatalogListener::~CatalogListener() {
  stop_ = true;
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;
  if (thread_.joinable()) thread_.join();
  close(wake_fd_);
}

bool CatalogListener::wait(int ms) {
  pollfd p{wake_fd_, POLLIN, 0};
  poll(&p, 1, ms);
  return !stop_;
}

void CatalogListener::run() {
  int backoff = kFirstBackoffMs;
  bool reported = false;  // one log line per outage, not one per attempt
  while (!stop_) {
    std::string error;
    PGconn* c = connect(url_, &error);
    if (c) {
      PGresult* r = PQexec(c, "LISTEN coditect_catalog");
      if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        error = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        PQfinish(c);
        c = nullptr;
      }
      if (r) PQclear(r);
    }
    if (!c) {
      if (!reported) log_("catalog listener disconnected", error);
      reported = true;
      if (!wait(backoff)) return;
      backoff = std::min(backoff * 2, kMaxBackoffMs);
      continue;
    }
    if (reported) log_("catalog listener reconnected", "");
    reported = false;
    backoff = kFirstBackoffMs;
    // Whatever changed before LISTEN took effect (at start, or while disconnected).
    bool load = true;
    while (!stop_) {
      if (load) {
        load = false;
        if (auto text = query_catalog(c, &error))
          on_catalog_(*text);
        else if (PQstatus(c) == CONNECTION_OK)
          log_("catalog not loaded", error);
        else
          break;
      }
      pollfd p[2] = {{PQsocket(c), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (poll(p, 2, -1) < 0) continue;
      if (p[1].revents) break;
      if (PQconsumeInput(c) != 1) break;
      // A burst of notifications (several declarations in one migration) loads once.
      while (PGnotify* n = PQnotifies(c)) {
        load = true;
        PQfreemem(n);
      }
    }
    if (!stop_) log_("catalog listener disconnected", trimmed(PQerrorMessage(c)));
    reported = !stop_;
    PQfinish(c);
    if (!stop_ && !wait(backoff)) return;
  }
}

}  // namespace coditect::gateway
