// coditect.workflow_definition_problems(jsonb) and coditect.workflow_definition_schema(): the
// validator of workflow_definition.cpp, with edge conditions parsed by PostgreSQL's own jsonpath
// parser (the type jsonb_path_match() takes), so that a condition accepted here is one the
// engine can evaluate.
#include "pg_guard.hpp"
#include "workflow_definition.hpp"

extern "C" {
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
}

#include <optional>
#include <string>

namespace {

// Plain C, run under pg_call: jsonpath's input function.
Datum parse_jsonpath(const char* text) {
  return DirectFunctionCall1(jsonpath_in, CStringGetDatum(text));
}

// The errors jsonpath_in raises for text that is not a path (42601, class 22, 0A000 for XQuery
// flags it does not implement); anything else (cancel, out of memory, stack depth) is re-thrown.
bool is_input_error(int sqlstate) {
  return sqlstate == ERRCODE_SYNTAX_ERROR || sqlstate == ERRCODE_FEATURE_NOT_SUPPORTED ||
         ERRCODE_TO_CATEGORY(sqlstate) == ERRCODE_DATA_EXCEPTION;
}

// PostgreSQL 15 has no soft input errors (pg_input_is_valid is 16's) and an EXCEPTION block in
// SQL would make the check PARALLEL UNSAFE (a subtransaction). jsonpath_in is a pure parser: it
// takes no lock, pin or cache reference and allocates only in the current memory context, so
// its error, copied and flushed by pg_call, is safe to report as a problem and carry on.
std::optional<std::string> check_condition(const std::string& condition) {
  try {
    coditect::pg::pg_call(parse_jsonpath, condition.c_str());
    return std::nullopt;
  } catch (const coditect::pg::PgError& e) {
    if (!is_input_error(e.data->sqlerrcode)) throw;
    std::string message = e.data->message ? e.data->message : "does not parse";
    if (e.data->detail) message += std::string(" (") + e.data->detail + ")";
    coditect::pg::pg_call(FreeErrorData, e.data);
    return message;
  }
}

Datum jsonb_result(const std::string& json) {
  return coditect::pg::pg_call(DirectFunctionCall1Coll, jsonb_in, InvalidOid,
                               CStringGetDatum(json.c_str()));
}

}  // namespace

// coditect.workflow_definition_problems(jsonb): every problem of the definition, [] when valid.
CODITECT_FUNCTION(coditect_workflow_definition_problems) {
  // Before any C++ object exists: no guard needed.
  const char* text = DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(0)));
  auto problems = coditect::workflow::validate(text, check_condition);
  return jsonb_result(coditect::workflow::problems_json(problems));
}

// coditect.workflow_definition_schema(): the format as a JSON Schema (draft 2020-12).
CODITECT_FUNCTION(coditect_workflow_definition_schema) {
  return jsonb_result(coditect::workflow::definition_schema());
}
