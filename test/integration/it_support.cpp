#include "it_support.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <stdexcept>

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

}  // namespace coditect::it
