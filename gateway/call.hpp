// PG-free: one statement call as the pipeline builds it and the database's answer.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace coditect::gateway {

struct DbCall {
  std::string statement;  // prepared statement name
  std::string sql;        // its text: prepared on a connection's first use of it
  std::vector<std::optional<std::string>> params;
  std::vector<bool> binary;  // per param: sent as binary (raw bytes); empty: all text
};

struct DbError {
  std::string sqlstate;
  std::string message;  // primary message (shown only for CD* codes)
  std::string hint;
  std::string constraint;
  std::string column;
};

struct DbOutcome {
  enum class Kind { Ok, Error, Unavailable } kind = Kind::Unavailable;
  std::optional<std::string> value;  // first column of the first row of the main call
  std::optional<std::string> etag;   // its second column, when there is one
  DbError error;                     // Kind::Error
  std::string why;                   // Kind::Unavailable, for the log
};

}  // namespace coditect::gateway
