// Workflow definitions (issue 11): the graph of nodes and edges a workflow runs, checked before it
// is stored. PG-free (nlohmann/json only) so that every rule is unit-tested; the glue
// (pg_workflow_definition.cpp) parses edge conditions with PostgreSQL's own jsonpath parser and
// passes that in as a ConditionChecker.
//
// The format (README "Workflow definitions"; workflow_definition_schema() gives it as a JSON
// Schema):
//   {"nodes": [{"id": "review", "type": "approval", "name": "...", "settings": {...}}, ...],
//    "edges": [{"from": "review", "to": "done", "on": "approved"},
//              {"from": "check", "to": "big", "condition": "$.amount > 1000"}, ...]}
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coditect::workflow {

// One thing wrong with a definition. `path` is an SQL/JSON path into the definition
// ("$.nodes[3].type", "$.edges[0].condition"), `code` a stable name ("unknown_node_type").
struct Problem {
  std::string path;
  std::string code;
  std::string message;
};

// Parses one edge condition (an SQL/JSON path predicate): nullopt when it parses, else why not.
using ConditionChecker = std::function<std::optional<std::string>(const std::string& condition)>;

// Every problem of the definition given as JSON text, in document order (nodes, then edges, then
// the graph); empty when it is valid. Conditions are checked with `check_condition` when given.
std::vector<Problem> validate(std::string_view definition_json,
                              const ConditionChecker& check_condition = {});

// [{"path": ..., "code": ..., "message": ...}, ...]
std::string problems_json(const std::vector<Problem>& problems);

// The JSON Schema (draft 2020-12) of the format: the shape only; the graph rules (one start,
// reachability, edges per node type, condition syntax) are validate()'s.
std::string definition_schema();

}  // namespace coditect::workflow
