// What the integration suites share: their settings, the superuser's SQL, fixtures and calls.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "http_client.hpp"

struct pg_conn;

namespace coditect::it {

// The environment variable's value, or "" when unset.
std::string env(const char* name);

// Runs q with text params on db; the first value of the first row ("" for none or NULL).
// Throws std::runtime_error naming the statement when it fails.
std::string sql_value(pg_conn* db, const std::string& q,
                      const std::vector<std::string>& params = {});

// The gateway and database the suites run against, from the CODITECT_IT_* variables that
// scripts/test.sh sets, and HS256 tokens for it.
struct Target {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string secret, issuer, audience;
  pg_conn* db = nullptr;  // as superuser, for fixtures

  // False without the variables; throws std::runtime_error when the database refuses.
  bool connect();
  std::string sql(const std::string& q, const std::vector<std::string>& params = {}) {
    return sql_value(db, q, params);
  }
  // A fresh tenant (create_tenant, its slug made unique with a random suffix) and its owner.
  struct TenantIds {
    std::string tenant, owner;
  };
  TenantIds new_tenant(const std::string& label);
  // A user of the tenant with an active membership in that role; its id.
  std::string add_member(const std::string& tenant, const std::string& role);
  // A request to the gateway with a bearer token (none when empty) and, when body is not empty,
  // a JSON body.
  HttpResult call(const std::string& method, const std::string& target, const std::string& token,
                  const std::string& body = {}, Headers headers = {}) const;
  // A token of user sub in tenant acting as role, valid for ten minutes (no "Bearer ").
  std::string token(const std::string& sub, const std::string& tenant,
                    const std::string& role) const;
};

// coditect-worker (the outbox's delivery process) as a child process, for the outbox's HTTP
// tests: started with CODITECT_IT_WORKER_DATABASE_URL (a login in coditect_worker, which
// scripts/test.sh makes) and the given CODITECT_WORKER_* settings, its log in log_path.
class WorkerProcess {
 public:
  ~WorkerProcess();
  // False without CODITECT_IT_WORKER_DATABASE_URL; throws when it cannot be started.
  bool start(const std::vector<std::pair<std::string, std::string>>& settings,
             const std::string& log_path);
  // SIGTERM, then its exit status (-1 when it did not exit normally within 30 s).
  int stop();
  bool running() const { return pid_ > 0; }

 private:
  int pid_ = -1;
};

}  // namespace coditect::it
