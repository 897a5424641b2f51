#include "it_support.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <random>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "jwt_auth.hpp"

namespace coditect::it {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string sql_value(pg_conn* db, const std::string& q, const std::vector<std::string>& params) {
  std::vector<const char*> p;
  for (const auto& s : params) p.push_back(s.c_str());
  PGresult* r = PQexecParams(db, q.c_str(), static_cast<int>(p.size()), nullptr, p.data(), nullptr,
                             nullptr, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string err = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error("SQL failed: " + q + ": " + err);
  }
  std::string out;
  if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) out = PQgetvalue(r, 0, 0);
  PQclear(r);
  return out;
}

bool Target::connect() {
  std::string url = env("CODITECT_IT_URL"), dburl = env("CODITECT_IT_DATABASE_URL");
  secret = env("CODITECT_IT_JWT_SECRET");
  if (url.empty() || dburl.empty() || secret.empty()) return false;
  port = std::atoi(url.c_str() + url.rfind(':') + 1);
  issuer = env("CODITECT_IT_JWT_ISSUER");
  audience = env("CODITECT_IT_JWT_AUDIENCE");
  db = PQconnectdb(dburl.c_str());
  if (PQstatus(db) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(db));
  return true;
}

Target::TenantIds Target::new_tenant(const std::string& label) {
  std::string slug = "it-";
  for (char c : label) slug += std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '-';
  slug += "-" + std::to_string(std::random_device{}() % 1000000000);
  nlohmann::json t =
      nlohmann::json::parse(sql("SELECT coditect.create_tenant($1, $2, $3, $4)",
                                {label, slug, slug + "@it.test", "owner-" + slug + "@it.test"}));
  return {t["tenant_id"], t["user_id"]};
}

std::string Target::add_member(const std::string& tenant, const std::string& role) {
  std::string user =
      sql("INSERT INTO coditect.users (tenant_id, email, role) VALUES ($1, $2 || '-' || "
          "coditect.uuid_generate_v7() || '@it.test', $3::coditect.member_role) RETURNING id",
          {tenant, role, role});
  sql("INSERT INTO coditect.memberships (tenant_id, user_id, role) VALUES ($1, $2, "
      "$3::coditect.member_role) RETURNING id",
      {tenant, user, role});
  return user;
}

HttpResult Target::call(const std::string& method, const std::string& target,
                        const std::string& token, const std::string& body, Headers headers) const {
  if (!token.empty()) headers.push_back({"Authorization", "Bearer " + token});
  if (!body.empty()) headers.push_back({"Content-Type", "application/json"});
  return http_request(host, port, method, target, body, headers);
}

std::string Target::token(const std::string& sub, const std::string& tenant,
                          const std::string& role) const {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  nlohmann::json c = {
      {"sub", sub}, {"tenant_id", tenant}, {"role", role}, {"iat", now}, {"exp", now + 600}};
  if (!issuer.empty()) c["iss"] = issuer;
  if (!audience.empty()) c["aud"] = audience;
  return coditect::gateway::mint_token("HS256", secret, c);
}

WorkerProcess::~WorkerProcess() {
  if (pid_ > 0) stop();
}

bool WorkerProcess::start(const std::vector<std::pair<std::string, std::string>>& settings,
                          const std::string& log_path) {
  std::string dburl = env("CODITECT_IT_WORKER_DATABASE_URL");
  if (dburl.empty()) return false;
  std::vector<std::string> vars = {"CODITECT_WORKER_DATABASE_URL=" + dburl};
  for (const auto& [k, v] : settings) vars.push_back(k + "=" + v);
  int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) throw std::runtime_error("cannot open " + log_path);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // The child: its own environment (PATH and the settings), stderr to the log.
    std::vector<char*> envp;
    for (auto& v : vars) envp.push_back(v.data());
    std::string path = "PATH=" + env("PATH");
    envp.push_back(path.data());
    envp.push_back(nullptr);
    dup2(log, 2);
    char* argv[] = {const_cast<char*>(CODITECT_WORKER_BIN), nullptr};
    execve(CODITECT_WORKER_BIN, argv, envp.data());
    _exit(127);
  }
  close(log);
  pid_ = pid;
  return true;
}

int WorkerProcess::stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 300; ++i) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

}  // namespace coditect::it
