// Unit tests for the PG-free workflow definition validator (src_ext/workflow_definition.hpp):
// every kind of problem with its path, and a corpus of valid definitions.
#include "workflow_definition.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace coditect::workflow {
namespace {

using json = nlohmann::json;
using PathCode = std::pair<std::string, std::string>;

constexpr const char* kAlice = "0190f7a4-1b2c-7d3e-8f40-123456789abc";
constexpr const char* kBob = "0190f7a4-1b2c-7d3e-8f40-cba987654321";

// Stands in for PostgreSQL's jsonpath parser: unbalanced parentheses do not parse.
std::optional<std::string> fake_parser(const std::string& condition) {
  int depth = 0;
  for (char c : condition) {
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) break;
  }
  if (depth != 0) return "unbalanced parentheses";
  return std::nullopt;
}

std::vector<PathCode> problems(const json& definition) {
  std::vector<PathCode> out;
  for (const Problem& p : validate(definition.dump(), fake_parser)) {
    EXPECT_FALSE(p.message.empty()) << p.path << " " << p.code;
    out.emplace_back(p.path, p.code);
  }
  return out;
}

json node(const std::string& id, const std::string& type, json settings = nullptr) {
  json n = {{"id", id}, {"type", type}};
  if (!settings.is_null()) n["settings"] = std::move(settings);
  return n;
}

json edge(const std::string& from, const std::string& to) { return {{"from", from}, {"to", to}}; }

json edge_on(const std::string& from, const std::string& to, const std::string& on) {
  return {{"from", from}, {"to", to}, {"on", on}};
}

json edge_if(const std::string& from, const std::string& to, const std::string& condition) {
  return {{"from", from}, {"to", to}, {"condition", condition}};
}

json linear() {
  return {{"nodes",
           {node("start", "start"), node("work", "task", {{"title", "Write it"}}),
            node("tell", "notification", {{"channel", "releases"}}), node("end", "end")}},
          {"edges", {edge("start", "work"), edge("work", "tell"), edge("tell", "end")}}};
}

// --- valid definitions --------------------------------------------------------------------------

TEST(WorkflowDefinitionValid, Linear) { EXPECT_EQ(problems(linear()), std::vector<PathCode>{}); }

TEST(WorkflowDefinitionValid, ConditionBranch) {
  json d = {
      {"nodes",
       {node("start", "start"), node("check", "condition"),
        node("big", "task", {{"queue", "finance"}}), node("small", "task"), node("end", "end")}},
      {"edges",
       {edge("start", "check"), edge_if("check", "big", "$.amount > 1000"), edge("check", "small"),
        edge("big", "end"), edge("small", "end")}}};
  EXPECT_EQ(problems(d), std::vector<PathCode>{});
}

TEST(WorkflowDefinitionValid, ApprovalWithEveryOutcome) {
  json d = {
      {"nodes",
       {node("start", "start"),
        node("review", "approval", {{"approvers", {kAlice, kBob}}, {"expire_after", "7 days"}}),
        node("escalate", "approval", {{"min_role", "admin"}, {"expire_after", "12 hours"}}),
        node("refused", "notification",
             {{"webhook", "https://hooks.example.test/refused"}, {"message", "No"}}),
        node("done", "end"), node("stopped", "end")}},
      {"edges",
       {edge("start", "review"), edge_on("review", "done", "approved"),
        edge_on("review", "refused", "rejected"), edge_on("review", "escalate", "expired"),
        edge_on("escalate", "done", "approved"), edge_on("escalate", "refused", "rejected"),
        edge("refused", "stopped")}}};
  EXPECT_EQ(problems(d), std::vector<PathCode>{});
}

TEST(WorkflowDefinitionValid, LoopWithAnExit) {
  json d = {
      {"nodes",
       {node("start", "start"), node("draft", "task", {{"assignee", kAlice}}),
        node("good", "condition"), node("end", "end")}},
      {"edges",
       {edge("start", "draft"), edge("draft", "good"),
        edge_if("good", "end", "$.score >= 8 && exists($.reviewer)"), edge("good", "draft")}}};
  EXPECT_EQ(problems(d), std::vector<PathCode>{});
}

TEST(WorkflowDefinitionValid, StartStraightToEndWithNamesAndEmptySettings) {
  json d = {{"nodes",
             {{{"id", "a"}, {"type", "start"}, {"name", "Begin"}, {"settings", json::object()}},
              {{"id", "node with spaces"}, {"type", "end"}}}},
            {"edges", {edge("a", "node with spaces")}}};
  EXPECT_EQ(problems(d), std::vector<PathCode>{});
}

TEST(WorkflowDefinitionValid, ConditionsAreCheckedOnlyWhenAParserIsGiven) {
  json d = {{"nodes", {node("s", "start"), node("c", "condition"), node("e", "end")}},
            {"edges", {edge("s", "c"), edge_if("c", "e", "(("), edge("c", "e")}}};
  EXPECT_TRUE(validate(d.dump()).empty());
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.edges[1].condition", "invalid_condition"}}));
}

// --- the document's shape -----------------------------------------------------------------------

TEST(WorkflowDefinitionProblems, NotJsonOrNotAnObject) {
  auto p = validate("{\"nodes\": [", fake_parser);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].path, "$");
  EXPECT_EQ(p[0].code, "invalid_json");
  EXPECT_EQ(problems(json::array()), (std::vector<PathCode>{{"$", "wrong_type"}}));
  EXPECT_EQ(problems("nodes"), (std::vector<PathCode>{{"$", "wrong_type"}}));
}

TEST(WorkflowDefinitionProblems, MissingAndIllTypedTopLevel) {
  EXPECT_EQ(problems(json::object()),
            (std::vector<PathCode>{{"$.nodes", "missing_field"}, {"$.edges", "missing_field"}}));
  EXPECT_EQ(problems({{"nodes", json::object()}, {"edges", "x"}, {"extra key", 1}}),
            (std::vector<PathCode>{{"$.\"extra key\"", "unknown_field"},
                                   {"$.nodes", "wrong_type"},
                                   {"$.edges", "wrong_type"}}));
}

TEST(WorkflowDefinitionProblems, EmptyGraphHasNoStartAndNoEnd) {
  EXPECT_EQ(problems({{"nodes", json::array()}, {"edges", json::array()}}),
            (std::vector<PathCode>{{"$.nodes", "no_start"}, {"$.nodes", "no_end"}}));
}

TEST(WorkflowDefinitionProblems, NodeFields) {
  json d = linear();
  d["nodes"].push_back(42);
  d["nodes"].push_back({{"type", "end"}});
  d["nodes"].push_back({{"id", 7}, {"type", "end"}});
  d["nodes"].push_back({{"id", ""}, {"type", "end"}});
  d["nodes"].push_back({{"id", std::string(101, 'x')}, {"type", "end"}});
  d["nodes"].push_back({{"id", "nameless"}, {"type", "end"}, {"name", 3}, {"color", "red"}});
  d["nodes"].push_back({{"id", "typeless"}});
  d["nodes"].push_back({{"id", "typo"}, {"type", "Task"}});
  d["nodes"].push_back({{"id", "numeric"}, {"type", 1}});
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.nodes[4]", "wrong_type"},
                                                {"$.nodes[5].id", "missing_field"},
                                                {"$.nodes[6].id", "wrong_type"},
                                                {"$.nodes[7].id", "invalid_id"},
                                                {"$.nodes[8].id", "invalid_id"},
                                                {"$.nodes[9].color", "unknown_field"},
                                                {"$.nodes[9].name", "wrong_type"},
                                                {"$.nodes[10].type", "missing_field"},
                                                {"$.nodes[11].type", "unknown_node_type"},
                                                {"$.nodes[12].type", "wrong_type"},
                                                {"$.nodes[9]", "unreachable"},
                                                {"$.nodes[10]", "unreachable"},
                                                {"$.nodes[10]", "no_path_to_end"},
                                                {"$.nodes[11]", "unreachable"},
                                                {"$.nodes[11]", "no_path_to_end"},
                                                {"$.nodes[12]", "unreachable"},
                                                {"$.nodes[12]", "no_path_to_end"}}));
}

TEST(WorkflowDefinitionProblems, DuplicateIds) {
  json d = linear();
  d["nodes"].push_back(node("work", "end"));
  d["nodes"].push_back(node("tell", "task"));
  auto p = validate(d.dump(), fake_parser);
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.nodes[4].id", "duplicate_id"},
                                                {"$.nodes[5].id", "duplicate_id"}}));
  EXPECT_NE(p[0].message.find("$.nodes[1]"), std::string::npos) << p[0].message;
}

TEST(WorkflowDefinitionProblems, EdgeFields) {
  json d = linear();
  d["edges"].push_back("start->end");
  d["edges"].push_back({{"to", "end"}, {"label", "x"}});
  d["edges"].push_back({{"from", "work"}, {"to", 3}});
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.edges[3]", "wrong_type"},
                                                {"$.edges[4].label", "unknown_field"},
                                                {"$.edges[4].from", "missing_field"},
                                                {"$.edges[5].to", "wrong_type"},
                                                {"$.edges[5]", "several_next"}}));
}

TEST(WorkflowDefinitionProblems, DanglingEdges) {
  json d = linear();
  d["edges"][1] = edge("work", "nowhere");
  d["edges"].push_back(edge("ghost", "end"));
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.edges[1].to", "dangling_edge"},
                                                {"$.edges[3].from", "dangling_edge"},
                                                {"$.nodes[0]", "no_path_to_end"},
                                                {"$.nodes[1]", "no_path_to_end"},
                                                {"$.nodes[2]", "unreachable"},
                                                {"$.nodes[3]", "unreachable"}}));
}

// --- starts, ends, reachability -----------------------------------------------------------------

TEST(WorkflowDefinitionProblems, NoStart) {
  json d = linear();
  d["nodes"][0]["type"] = "task";
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.nodes", "no_start"}}));
}

TEST(WorkflowDefinitionProblems, SeveralStarts) {
  json d = linear();
  d["nodes"].push_back(node("again", "start"));
  d["nodes"].push_back(node("third", "start"));
  d["edges"].push_back(edge("again", "end"));
  d["edges"].push_back(edge("third", "work"));
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.nodes[4].type", "several_starts"},
                                                {"$.nodes[5].type", "several_starts"}}));
}

TEST(WorkflowDefinitionProblems, NoEnd) {
  json d = linear();
  d["nodes"][3]["type"] = "task";
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.nodes", "no_end"}}));
}

TEST(WorkflowDefinitionProblems, UnreachableNodes) {
  json d = linear();
  d["nodes"].push_back(node("island", "task"));
  d["nodes"].push_back(node("lost", "notification", {{"channel", "x"}}));
  d["edges"].push_back(edge("island", "lost"));
  d["edges"].push_back(edge("lost", "end"));
  EXPECT_EQ(problems(d),
            (std::vector<PathCode>{{"$.nodes[4]", "unreachable"}, {"$.nodes[5]", "unreachable"}}));
}

TEST(WorkflowDefinitionProblems, LoopWithoutAnExitCannotReachAnEnd) {
  json d = {
      {"nodes", {node("start", "start"), node("a", "task"), node("b", "task"), node("end", "end")}},
      {"edges", {edge("start", "a"), edge("a", "b"), edge("b", "a")}}};
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.nodes[0]", "no_path_to_end"},
                                                {"$.nodes[1]", "no_path_to_end"},
                                                {"$.nodes[2]", "no_path_to_end"},
                                                {"$.nodes[3]", "unreachable"}}));
}

TEST(WorkflowDefinitionProblems, EdgesIntoStartAndOutOfEnd) {
  json d = linear();
  d["edges"].push_back(edge("end", "start"));
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.edges[3].from", "edge_from_end"},
                                                {"$.edges[3].to", "edge_into_start"}}));
}

TEST(WorkflowDefinitionProblems, ParallelBranchesAreNotSupported) {
  json d = linear();
  d["edges"].push_back(edge("work", "end"));
  d["edges"].push_back(edge("start", "end"));
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.edges[3]", "several_next"},
                                                {"$.edges[4]", "several_next"}}));
}

// --- settings -----------------------------------------------------------------------------------

TEST(WorkflowDefinitionProblems, SettingsOfEveryType) {
  json d = {{"nodes",
             {node("start", "start", {{"title", "x"}}),
              node("t", "task", {{"assignee", "alice"}, {"queue", ""}, {"title", 5}}),
              node("a", "approval", {{"approvers", {kAlice, "bob", kAlice}}}),
              node("b", "approval", {{"approvers", json::array()}, {"expire_after", "7"}}),
              node("c", "approval", {{"min_role", "boss"}, {"expire_after", "1 fortnight"}}),
              node("n", "notification",
                   {{"webhook", "ftp://example.test/x"}, {"channel", json::array()}}),
              node("z", "condition", "all"), node("end", "end", {{"status", "failed"}})}},
            {"edges",
             {edge("start", "t"), edge("t", "a"), edge_on("a", "b", "approved"),
              edge_on("b", "c", "approved"), edge_on("c", "n", "approved"), edge("n", "z"),
              edge_if("z", "end", "$.x == 1"), edge("z", "end")}}};
  EXPECT_EQ(problems(d),
            (std::vector<PathCode>{{"$.nodes[0].settings.title", "unknown_setting"},
                                   {"$.nodes[1].settings.assignee", "invalid_setting"},
                                   {"$.nodes[1].settings.queue", "invalid_setting"},
                                   {"$.nodes[1].settings.title", "invalid_setting"},
                                   {"$.nodes[2].settings.approvers[1]", "invalid_setting"},
                                   {"$.nodes[2].settings.approvers[2]", "invalid_setting"},
                                   {"$.nodes[3].settings.approvers", "invalid_setting"},
                                   {"$.nodes[3].settings.expire_after", "invalid_setting"},
                                   {"$.nodes[4].settings.expire_after", "invalid_setting"},
                                   {"$.nodes[4].settings.min_role", "invalid_setting"},
                                   {"$.nodes[5].settings.channel", "invalid_setting"},
                                   {"$.nodes[5].settings.webhook", "invalid_setting"},
                                   {"$.nodes[6].settings", "wrong_type"},
                                   {"$.nodes[7].settings.status", "unknown_setting"}}));
}

// A webhook URL passes here only if the outbox can store it (the coditect.url domain's rule).
TEST(WorkflowDefinitionProblems, WebhookUrlsFollowTheOutboxRule) {
  for (const std::string& bad :
       {std::string("http://.x"), std::string("http://$x"), std::string("https://?q"),
        "https://h.test/" + std::string(1990, 'a')}) {
    json d = {
        {"nodes",
         {node("s", "start"), node("n", "notification", {{"webhook", bad}}), node("e", "end")}},
        {"edges", {edge("s", "n"), edge("n", "e")}}};
    EXPECT_EQ(problems(d),
              (std::vector<PathCode>{{"$.nodes[1].settings.webhook", "invalid_setting"}}))
        << bad.substr(0, 40);
  }
  json ok = {{"nodes",
              {node("s", "start"), node("n", "notification", {{"webhook", "https://h.test/a?b=c"}}),
               node("e", "end")}},
             {"edges", {edge("s", "n"), edge("n", "e")}}};
  EXPECT_TRUE(problems(ok).empty());
}

TEST(WorkflowDefinitionProblems, MissingAndConflictingSettings) {
  json d = {{"nodes",
             {node("start", "start"), node("nobody", "approval"),
              node("both", "approval", {{"approvers", {kAlice}}, {"min_role", "member"}}),
              node("silent", "notification", {{"message", "hi"}}), node("end", "end")}},
            {"edges",
             {edge("start", "nobody"), edge_on("nobody", "both", "approved"),
              edge_on("both", "silent", "approved"), edge("silent", "end")}}};
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.nodes[1].settings", "missing_setting"},
                                                {"$.nodes[2].settings", "conflicting_settings"},
                                                {"$.nodes[3].settings", "missing_setting"}}));
}

// --- conditions and approval outcomes -----------------------------------------------------------

TEST(WorkflowDefinitionProblems, Conditions) {
  json d = {
      {"nodes",
       {node("start", "start"), node("c", "condition"), node("t", "task"), node("end", "end")}},
      {"edges",
       {edge("start", "c"),
        edge_if("c", "t", "$.a == (1"),
        edge_if("c", "end", ""),
        {{"from", "c"}, {"to", "end"}, {"condition", true}},
        edge("c", "t"),
        edge("c", "end"),
        edge_if("t", "end", "$.ok")}}};
  EXPECT_EQ(problems(d),
            (std::vector<PathCode>{{"$.edges[1].condition", "invalid_condition"},
                                   {"$.edges[2].condition", "invalid_condition"},
                                   {"$.edges[3].condition", "wrong_type"},
                                   {"$.edges[5]", "several_defaults"},
                                   {"$.edges[6].condition", "condition_not_allowed"}}));
  auto p = validate(d.dump(), fake_parser);
  EXPECT_NE(p[0].message.find("unbalanced parentheses"), std::string::npos) << p[0].message;
}

TEST(WorkflowDefinitionProblems, ConditionNodeNeedsAConditionAndADefault) {
  json d = {{"nodes",
             {node("start", "start"), node("only_default", "condition"),
              node("only_conditional", "condition"), node("end", "end")}},
            {"edges",
             {edge("start", "only_default"), edge("only_default", "only_conditional"),
              edge_if("only_conditional", "end", "$.x > 1")}}};
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.nodes[1]", "missing_conditional_edge"},
                                                {"$.nodes[2]", "missing_default_edge"}}));
}

TEST(WorkflowDefinitionProblems, ApprovalOutcomes) {
  json d = {{"nodes",
             {node("start", "start"), node("a", "approval", {{"min_role", "admin"}}),
              node("b", "approval", {{"min_role", "owner"}}), node("end", "end")}},
            {"edges",
             {edge("start", "a"),
              edge_on("a", "b", "approved"),
              edge_on("a", "end", "approved"),
              edge_on("a", "end", "vetoed"),
              edge("a", "end"),
              edge_on("b", "end", "rejected"),
              edge_on("start", "end", "approved"),
              {{"from", "b"}, {"to", "end"}, {"on", "expired"}, {"condition", "$.x"}}}}};
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.edges[2].on", "duplicate_outcome"},
                                                {"$.edges[3].on", "unknown_outcome"},
                                                {"$.edges[4].on", "missing_field"},
                                                {"$.edges[6].on", "on_not_allowed"},
                                                {"$.edges[6]", "several_next"},
                                                {"$.edges[7].condition", "condition_not_allowed"},
                                                {"$.nodes[2]", "missing_outcome"}}));
}

TEST(WorkflowDefinitionProblems, AllProblemsAtOnce) {
  json d = {
      {"nodes", {node("s", "start"), node("s", "task"), node("x", "loop"), node("a", "approval")}},
      {"edges", {edge("s", "gone"), edge_on("a", "s", "approved")}}};
  EXPECT_EQ(problems(d), (std::vector<PathCode>{{"$.nodes[1].id", "duplicate_id"},
                                                {"$.nodes[2].type", "unknown_node_type"},
                                                {"$.nodes[3].settings", "missing_setting"},
                                                {"$.edges[0].to", "dangling_edge"},
                                                {"$.edges[1].to", "edge_into_start"},
                                                {"$.nodes", "no_end"},
                                                {"$.nodes[2]", "unreachable"},
                                                {"$.nodes[3]", "unreachable"}}));
}

// --- output -------------------------------------------------------------------------------------

TEST(WorkflowDefinitionOutput, ProblemsJson) {
  EXPECT_EQ(problems_json({}), "[]");
  json out = json::parse(problems_json({{"$.nodes[0].type", "unknown_node_type", "say \"no\""}}));
  EXPECT_EQ(out, json::parse(R"([{"path": "$.nodes[0].type", "code": "unknown_node_type",
                                  "message": "say \"no\""}])"));
}

TEST(WorkflowDefinitionOutput, SchemaShape) {
  json s = json::parse(definition_schema());
  EXPECT_EQ(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
  EXPECT_EQ(s["required"], json({"nodes", "edges"}));
  EXPECT_EQ(s["$defs"]["node"]["properties"]["type"]["enum"],
            json({"start", "task", "approval", "notification", "condition", "end"}));
  EXPECT_EQ(s["$defs"]["approval_settings"]["oneOf"],
            json::parse(R"([{"required": ["approvers"]}, {"required": ["min_role"]}])"));
  EXPECT_EQ(s["$defs"]["notification_settings"]["anyOf"],
            json::parse(R"([{"required": ["webhook"]}, {"required": ["channel"]}])"));
  EXPECT_EQ(s["$defs"]["approval_settings"]["properties"]["min_role"]["enum"],
            json({"owner", "admin", "member", "guest"}));
  EXPECT_EQ(s["$defs"]["edge"]["properties"]["on"]["enum"],
            json({"approved", "rejected", "expired"}));
  EXPECT_EQ(s["$defs"]["start_settings"]["additionalProperties"], false);
  // Every node type's settings are tied to it by an if/then on the type.
  EXPECT_EQ(s["$defs"]["node"]["allOf"].size(), 6u);
  EXPECT_EQ(s["$defs"]["node"]["allOf"][2]["then"]["required"], json({"settings"}));
}

}  // namespace
}  // namespace coditect::workflow
