// What both integration suites need besides HTTP: their settings and the superuser's SQL.
#pragma once

#include <string>
#include <vector>

struct pg_conn;

namespace coditect::it {

// The environment variable's value, or "" when unset.
std::string env(const char* name);

// Runs q with text params on db; the first value of the first row ("" for none or NULL).
// Throws std::runtime_error naming the statement when it fails.
std::string sql_value(pg_conn* db, const std::string& q,
                      const std::vector<std::string>& params = {});

}  // namespace coditect::it
