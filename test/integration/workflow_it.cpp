// Integration tests of workflows over real HTTP (issue 11): a workflow defined, refused while its
// definition is wrong, published, started, its task completed and its approval decided; a
// published version refused an edit; a start by a signed webhook, and bad, replayed and unknown
// ones refused. Against the gateway and database that scripts/test.sh starts; without the
// CODITECT_IT_* variables every test is skipped.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "it_support.hpp"
#include "webhook_signature.hpp"

using coditect::it::Headers;
using coditect::it::HttpResult;
using nlohmann::json;

namespace {

struct WorkflowWorld : coditect::it::Target {
  bool ready = false;
  std::string tenant, owner, member;

  void setup() {
    if (!connect()) return;
    auto ids = new_tenant("Workflows A");
    tenant = ids.tenant;
    owner = ids.owner;
    member = add_member(tenant, "member");
    ready = true;
  }

  HttpResult call(const std::string& method, const std::string& target, const std::string& token,
                  const json& body = nullptr, Headers headers = {}) {
    return Target::call(method, target, token, body.is_null() ? "" : body.dump(), headers);
  }
};

WorkflowWorld& W() {
  static WorkflowWorld* w = [] {
    auto* x = new WorkflowWorld();
    try {
      x->setup();
    } catch (const std::exception& e) {
      std::cerr << "workflow fixtures failed: " << e.what() << "\n";
      x->ready = false;
    }
    return x;
  }();
  return *w;
}

class WorkflowIT : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!W().ready) GTEST_SKIP() << "set the CODITECT_IT_* variables (scripts/test.sh)";
    owner_ = W().token(W().owner, W().tenant, "owner");
    member_ = W().token(W().member, W().tenant, "member");
  }
  std::string owner_, member_;
};

TEST_F(WorkflowIT, DefinePublishStartCompleteAndDecide) {
  json bad = {{"name", "Broken"},
              {"definition",
               {{"nodes", {{{"id", "s"}, {"type", "start"}}, {{"id", "x"}, {"type", "wait"}}}},
                {"edges", {{{"from", "s"}, {"to", "nowhere"}}}}}}};
  HttpResult refused = W().call("POST", "/api/v1/workflows/", owner_, bad);
  ASSERT_EQ(refused.status, 422) << refused.body;
  const std::string detail = json::parse(refused.body)["detail"];
  EXPECT_NE(detail.find("$.nodes[1].type: unknown node type 'wait'"), std::string::npos) << detail;
  EXPECT_NE(detail.find("$.edges[0].to: no node has the id 'nowhere'"), std::string::npos)
      << detail;

  json def = {
      {"nodes",
       {{{"id", "start"}, {"type", "start"}},
        {{"id", "fill"}, {"type", "task"}, {"settings", {{"title", "Fill in the form"}}}},
        {{"id", "review"}, {"type", "approval"}, {"settings", {{"approvers", {W().member}}}}},
        {{"id", "done"}, {"type", "end"}}}},
      {"edges",
       {{{"from", "start"}, {"to", "fill"}},
        {{"from", "fill"}, {"to", "review"}},
        {{"from", "review"}, {"to", "done"}, {"on", "approved"}}}}};
  HttpResult made =
      W().call("POST", "/api/v1/workflows/", owner_,
               {{"name", "Onboarding"}, {"workflow_type", "review"}, {"definition", def}});
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string id = json::parse(made.body)["id"];
  EXPECT_EQ(json::parse(made.body)["status"], "draft");
  EXPECT_EQ(W().call("POST", "/api/v1/workflows/" + id + "/start/", member_, json::object()).status,
            409);  // a draft does not run

  HttpResult pub = W().call("POST", "/api/v1/workflows/" + id + "/publish/", owner_);
  ASSERT_EQ(pub.status, 200) << pub.body;
  EXPECT_EQ(json::parse(pub.body)["status"], "active");
  EXPECT_FALSE(json::parse(pub.body)["published_at"].is_null());
  HttpResult edit =
      W().call("PATCH", "/api/v1/workflows/" + id + "/", owner_, {{"name", "Renamed"}});
  EXPECT_EQ(edit.status, 422) << edit.body;

  HttpResult start = W().call("POST", "/api/v1/workflows/" + id + "/start/", member_,
                              {{"context", {{"employee", "Ada"}}}});
  ASSERT_EQ(start.status, 201) << start.body;
  json ex = json::parse(start.body);
  const std::string eid = ex["id"];
  EXPECT_EQ(ex["status"], "running");
  EXPECT_EQ(ex["current_step"], "fill");
  EXPECT_EQ(ex["trigger_type"], "manual");

  HttpResult wrong = W().call("POST", "/api/v1/workflow-executions/" + eid + "/complete/", member_,
                              {{"step", "review"}});
  EXPECT_EQ(wrong.status, 409) << wrong.body;
  HttpResult done = W().call("POST", "/api/v1/workflow-executions/" + eid + "/complete/", member_,
                             {{"step", "fill"}, {"output", {{"laptop", true}}}});
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(json::parse(done.body)["current_step"], "review");

  HttpResult approvals =
      W().call("GET", "/api/v1/workflow-approvals/?execution_id=" + eid, member_);
  ASSERT_EQ(approvals.status, 200) << approvals.body;
  json list = json::parse(approvals.body);
  ASSERT_EQ(list["count"], 1);
  const std::string aid = list["results"][0]["id"];
  EXPECT_EQ(list["results"][0]["status"], "pending");
  EXPECT_EQ(list["results"][0]["approver_id"], W().member);

  EXPECT_EQ(W().call("POST", "/api/v1/workflow-approvals/" + aid + "/decide/", owner_,
                     {{"decision", "approved"}})
                .status,
            403);  // the owner is not the listed approver
  HttpResult decided = W().call("POST", "/api/v1/workflow-approvals/" + aid + "/decide/", member_,
                                {{"decision", "approved"}, {"comment", "welcome"}});
  ASSERT_EQ(decided.status, 200) << decided.body;
  EXPECT_EQ(json::parse(decided.body)["status"], "approved");
  EXPECT_EQ(W().call("POST", "/api/v1/workflow-approvals/" + aid + "/decide/", member_,
                     {{"decision", "rejected"}})
                .status,
            409);

  HttpResult after = W().call("GET", "/api/v1/workflow-executions/" + eid + "/", member_);
  ASSERT_EQ(after.status, 200) << after.body;
  json fin = json::parse(after.body);
  EXPECT_EQ(fin["status"], "completed");
  EXPECT_EQ(fin["context_data"]["fill"]["laptop"], true);
  HttpResult steps = W().call("GET", "/api/v1/workflow-executions/" + eid + "/steps/", member_);
  ASSERT_EQ(steps.status, 200) << steps.body;
  json s = json::parse(steps.body)["results"];
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0]["step_id"], "start");
  EXPECT_EQ(s[3]["step_id"], "done");
}

TEST_F(WorkflowIT, SignedWebhookStartsAndBadSignaturesAreRefused) {
  json def = {{"nodes", {{{"id", "s"}, {"type", "start"}}, {{"id", "e"}, {"type", "end"}}}},
              {"edges", {{{"from", "s"}, {"to", "e"}}}}};
  HttpResult made =
      W().call("POST", "/api/v1/workflows/", owner_,
               {{"name", "Hooked"}, {"definition", def}, {"triggers", {{{"type", "webhook"}}}}});
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string id = json::parse(made.body)["id"];
  ASSERT_EQ(W().call("POST", "/api/v1/workflows/" + id + "/publish/", owner_).status, 200);
  EXPECT_EQ(W().call("POST", "/api/v1/workflows/" + id + "/webhook-secret/", member_).status, 403);
  HttpResult sec = W().call("POST", "/api/v1/workflows/" + id + "/webhook-secret/", owner_);
  ASSERT_EQ(sec.status, 200) << sec.body;
  const std::string secret = json::parse(sec.body)["secret"];
  const std::string path = json::parse(sec.body)["webhook_path"];

  const std::string body = R"({"deploy": "v1.2.3"})";
  const std::string sig = coditect::webhook::sign(secret, std::time(nullptr), body);
  auto post = [&](const std::string& target, const std::string& signature) {
    Headers h = {{"Content-Type", "application/json"}};
    if (!signature.empty()) h.push_back({"Coditect-Signature", signature});
    return coditect::it::http_request(W().host, W().port, "POST", target, body, h);
  };
  HttpResult ok = post(path, sig);
  ASSERT_EQ(ok.status, 201) << ok.body;
  json started = json::parse(ok.body);
  EXPECT_EQ(started["status"], "completed");
  const std::string eid = started["execution_id"];
  EXPECT_EQ(W().sql("SELECT trigger_type || ' ' || (context_data -> 'webhook' ->> 'deploy') FROM "
                    "coditect.workflow_executions WHERE id = $1",
                    {eid}),
            "webhook v1.2.3");

  EXPECT_EQ(post(path, sig).status, 409);  // the same signed request again
  HttpResult forged = post(path, coditect::webhook::sign("whsec_guess", std::time(nullptr), body));
  EXPECT_EQ(forged.status, 401) << forged.body;
  EXPECT_EQ(post(path, coditect::webhook::sign(secret, std::time(nullptr) - 600, body)).status,
            401);
  EXPECT_EQ(post(path, "").status, 401);
  EXPECT_EQ(post("/api/v1/workflows/" + W().owner + "/webhook/", sig).status, 404);
  EXPECT_EQ(
      W().sql("SELECT count(*) FROM coditect.workflow_executions WHERE workflow_id = $1", {id}),
      "1");
}

}  // namespace
