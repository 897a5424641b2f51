#include "it_support.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>

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

}  // namespace coditect::it
